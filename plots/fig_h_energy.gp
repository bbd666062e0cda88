# (h) energy per token vs context: NVML's total-energy counter read around >= 1 s of back-to-back
# repeats of a point (GPU rows, columns joules_per_token and watts); a panel per mode.
load plotsdir.'/common.gp'
set logscale y
y_fmt = '%.0s%cJ'
set format y y_fmt
call plotsdir.'/figure.gp' 'fig_h_energy' 'h' 'h_prefill h_decode' h_title
