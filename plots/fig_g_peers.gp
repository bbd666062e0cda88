# (g) peers (PyTorch SDPA, fla, mamba_ssm, ... as their own backend, SPEC §12) vs ours.
load plotsdir.'/common.gp'
set logscale y
call plotsdir.'/figure.gp' 'fig_g_peers' 'g' 'g_prefill g_decode' g_title
