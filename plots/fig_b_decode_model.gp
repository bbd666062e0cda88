# (b) Fig. 15 right: decode latency per token vs context, one line per layer (fastest impl),
# model level, B=512 (or the batch measured).
load plotsdir.'/common.gp'
files = series('b_model_decode__*.dat')
if (words(files) == 0) { print 'figure (b) decode, model level: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_b_decode_model'
    set title 'Decode latency per token (Fig. 15 right): '.b_title."\n".subtitle
    set ylabel 'latency per token (us)'
    set logscale y
    call plotsdir.'/yrange.gp' 'b_model_decode'
    plot for [f in files] f using 1:2 title columnhead(2)
    unset output
}
print 'figure (b): '.outdir.'/fig_b_decode_model.{png,svg}'
