# (e) state bytes per sequence vs context: the KV cache grows with T, recurrent states do not.
load plotsdir.'/common.gp'
set logscale y
y_fmt = '%.0s%cB'
set format y y_fmt
call plotsdir.'/figure.gp' 'fig_e_state' 'e' 'e_state' e_title
