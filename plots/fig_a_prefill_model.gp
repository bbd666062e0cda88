# (a) Fig. 15 left: prefill latency per token vs context, one line per layer (fastest impl),
# model level, B=16 (or the batch measured).
load plotsdir.'/common.gp'
files = series('a_model_prefill__*.dat')
if (words(files) == 0) { print 'figure (a) prefill, model level: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_a_prefill_model'
    set title 'Prefill latency per token (Fig. 15 left): '.a_title."\n".subtitle
    set ylabel 'latency per token (us)'
    set logscale y
    call plotsdir.'/yrange.gp' 'a_model_prefill'
    plot for [f in files] f using 1:2 title columnhead(2)
    unset output
}
print 'figure (a): '.outdir.'/fig_a_prefill_model.{png,svg}'
