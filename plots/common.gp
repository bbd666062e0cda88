# common.gp: loaded first by every figure script of plots/ (SPEC §13).
# In: datadir (the .dat files and vars.gp written by `seqbench plotdata`), outdir, plotsdir.
# Gives: the titles and panels of vars.gp, the context axis (log2, in k tokens), the colours.
load datadir.'/vars.gp'
set print '-'   # messages ("no data") on stdout: stderr stays for real problems
# One colour per layer in every figure (impls and peers differ by dash and mark, bench/plotdata.c);
# an unknown layer is grey until it gets a line here.
layer_color(l) = l eq 'attention' ? '#d62728' : l eq 'mamba' ? '#1f77b4' : l eq 'mamba2' ? '#17becf' : \
                 l eq 'ttt_linear' ? '#2ca02c' : l eq 'ttt_mlp' ? '#9467bd' : l eq 'gated_deltanet' ? '#ff7f0e' : '#7f7f7f'
# Points that did not run, drawn on the x axis: oom x, skipped +, nan/error triangle.
y_fmt = '%g'   # the y tic labels of plots/yrange.gp (fig_e: bytes)
mark_pt(s) = s eq 'oom' ? 2 : s eq 'skipped' ? 1 : 8
set logscale x 2
eval xtics_cmd
set xrange [xmin / 1.3 : xmax * 1.3]
set xlabel 'context length T (k tokens, 1k = 1024)'
set grid xtics ytics mytics
set key outside below center horizontal Left reverse samplen 2.5 font ',9' spacing 1.1 width 1 height 1
set style data linespoints
set pointsize 0.9
