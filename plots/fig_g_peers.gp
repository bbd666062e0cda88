# (g) peers (PyTorch SDPA, fla, mamba_ssm, ... as their own backend, SPEC §12) vs ours.
load plotsdir.'/common.gp'
pf = series('g_prefill__*.dat')
dc = series('g_decode__*.dat')
if (words(pf) + words(dc) == 0) { print 'figure (g) peers: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_g_peers'
    set multiplot layout 1,2 title 'Peers vs seqbench'."\n".subtitle
    set ylabel 'latency per token (us)'
    set logscale y
    set key inside top left font ',8'
    set title g_prefill_title
    if (words(pf) == 0) { set label 1 'no data' at graph 0.5, 0.5 center; plot [xmin/1.3:xmax*1.3] [1:10] NaN notitle; unset label 1 }
    else { call plotsdir.'/yrange.gp' 'g_prefill'; plot for [f in pf] f using 1:2 title columnhead(2) }
    set title g_decode_title
    if (words(dc) == 0) { set label 1 'no data' at graph 0.5, 0.5 center; plot [xmin/1.3:xmax*1.3] [1:10] NaN notitle; unset label 1 }
    else { call plotsdir.'/yrange.gp' 'g_decode'; plot for [f in dc] f using 1:2 title columnhead(2) }
    unset multiplot
    unset output
}
print 'figure (g): '.outdir.'/fig_g_peers.{png,svg}'
