# (a|b) Fig. 15 in the paper's layout: prefill B=16 | decode B=512, latency per token vs context,
# model level (else layer level, said in the title), our fastest impl per layer and the peers.
load plotsdir.'/common.gp'
set logscale y
call plotsdir.'/figure.gp' 'fig_15' 'a|b' 'f15_prefill f15_decode' f15_title
