# term.gp FORMAT NAME: `call` it inside a `do for [fmt in "png svg"]` loop: sets the terminal
# (pngcairo or svg, both noenhanced so that names like ttt_linear print as they are) of size
# fig_w x fig_h and the output file outdir/NAME.FORMAT.
if (ARG1 eq 'png') {
    set terminal pngcairo noenhanced size fig_w, fig_h font ',11'
} else {
    set terminal svg noenhanced size fig_w, fig_h dynamic font 'sans,11'
}
set output outdir.'/'.ARG2.'.'.ARG1
