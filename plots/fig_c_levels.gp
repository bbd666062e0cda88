# (c) per-token latency at the op and layer levels, prefill and decode: one line per layer/impl.
load plotsdir.'/common.gp'
panels = 'c_op_prefill c_op_decode c_layer_prefill c_layer_decode'
n = 0
do for [p in panels] { n = n + words(series(p.'__*.dat')) }
if (n == 0) { print 'figure (c) op and layer levels: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_c_levels'
    set multiplot layout 2,2 title 'Latency per token, op and layer levels'."\n".subtitle
    set ylabel 'latency per token (us)'
    set logscale y
    set key inside top left font ',8'
    do for [p in panels] {
        files = series(p.'__*.dat')
        set title value(p.'_title')
        if (words(files) == 0) {
            set label 1 'no data' at graph 0.5, 0.5 center
            plot [xmin/1.3:xmax*1.3] [1:10] NaN notitle
            unset label 1
        } else {
            call plotsdir.'/yrange.gp' p
            plot for [f in files] f using 1:2 title columnhead(2)
        }
    }
    unset multiplot
    unset output
}
print 'figure (c): '.outdir.'/fig_c_levels.{png,svg}'
