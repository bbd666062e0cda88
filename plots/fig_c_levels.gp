# (c) per-token latency at the op and layer levels, prefill and decode: one line per layer/impl.
load plotsdir.'/common.gp'
set logscale y
call plotsdir.'/figure.gp' 'fig_c_levels' 'c' 'c_op_prefill c_op_decode c_layer_prefill c_layer_decode' c_title
