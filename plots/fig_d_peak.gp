# (d) achieved FLOP/s and bandwidth as % of the ceilings of the run (GPU: tensor-core FLOP/s and
# DRAM bandwidth of the device; CPU: cores x measured clock x FLOP/cycle, and per row a read of a
# buffer of the row's bytes measured in the run, so a working set in cache is held to the cache's
# bandwidth; no panel for a ceiling not known).
load plotsdir.'/common.gp'
set logscale y
call plotsdir.'/figure.gp' 'fig_d_peak' 'd' 'd_flops d_bw' d_title
