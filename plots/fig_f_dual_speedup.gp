# (f) TTT primal vs dual form: time(primal) / time(dual) at the same point (> 1: dual faster).
load plotsdir.'/common.gp'
files = series('f_speedup__*.dat')
if (words(files) == 0) { print 'figure (f) primal vs dual: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_f_dual_speedup'
    set title f_title."\n".subtitle
    set ylabel 'speedup (primal time / dual time)'
    set logscale y
    call plotsdir.'/yrange.gp' 'f_speedup'
    plot for [f in files] f using 1:2 title columnhead(2), 1 with lines dt 2 lc 'gray' notitle
    unset output
}
print 'figure (f): '.outdir.'/fig_f_dual_speedup.{png,svg}'
