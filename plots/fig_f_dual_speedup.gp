# (f) token-by-token vs parallel form at the same point: time(primal) / time(dual) (TTT), time(sequential) / time(chunked) (Mamba); > 1: the parallel form is faster.
load plotsdir.'/common.gp'
set logscale y
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc 'gray'
call plotsdir.'/figure.gp' 'fig_f_dual_speedup' 'f' 'f_speedup' f_title
