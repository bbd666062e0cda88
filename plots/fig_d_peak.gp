# (d) achieved TFLOP/s and GB/s as % of the machine's peak (GPU: sb_cuda_get_info; CPU FLOP/s:
# cores x clock x 32 FLOP/cycle, AVX2; no CPU bandwidth peak).
load plotsdir.'/common.gp'
fl = series('d_flops__*.dat')
bw = series('d_bw__*.dat')
if (words(fl) + words(bw) == 0) { print 'figure (d) % of peak: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_d_peak'
    set multiplot layout 1,2 title d_title."\n".subtitle
    set logscale y
    set key inside top left font ',8'
    set title 'FLOP/s, % of peak'
    set ylabel '% of peak FLOP/s'
    if (words(fl) == 0) { set label 1 'no data' at graph 0.5, 0.5 center; plot [xmin/1.3:xmax*1.3] [1:10] NaN notitle; unset label 1 }
    else { call plotsdir.'/yrange.gp' 'd_flops'; plot for [f in fl] f using 1:2 title columnhead(2) }
    set title 'bandwidth, % of peak'
    set ylabel '% of peak GB/s'
    if (words(bw) == 0) { set label 1 'no data (no peak known)' at graph 0.5, 0.5 center; plot [xmin/1.3:xmax*1.3] [1:10] NaN notitle; unset label 1 }
    else { call plotsdir.'/yrange.gp' 'd_bw'; plot for [f in bw] f using 1:2 title columnhead(2) }
    unset multiplot
    unset output
}
print 'figure (d): '.outdir.'/fig_d_peak.{png,svg}'
