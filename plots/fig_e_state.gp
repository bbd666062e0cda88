# (e) state bytes per sequence vs context: the KV cache grows with T, recurrent states do not.
load plotsdir.'/common.gp'
files = series('e_state__*.dat')
if (words(files) == 0) { print 'figure (e) state size: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_e_state'
    set title e_title."\n".subtitle
    set ylabel 'bytes per sequence'
    set logscale y
    call plotsdir.'/yrange.gp' 'e_state'
    set format y '%.0s%cB'
    plot for [f in files] f using 1:2 title columnhead(2)
    unset output
}
print 'figure (e): '.outdir.'/fig_e_state.{png,svg}'
