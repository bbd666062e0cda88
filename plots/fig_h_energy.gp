# (h) energy per token vs context: NVML's total-energy counter read around >= 1 s of repeats of a
# point (GPU rows, columns joules_per_token / watts); prefill and decode of each layer and impl.
load plotsdir.'/common.gp'
files = series('h_energy__*.dat')
if (words(files) == 0) { print 'figure (h) energy per token: no data, skipped'; exit }
do for [fmt in 'png svg'] {
    call plotsdir.'/term.gp' fmt 'fig_h_energy'
    set title h_title."\n".subtitle
    set ylabel 'joules per token'
    set logscale y
    call plotsdir.'/yrange.gp' 'h_energy'
    set format y '%.0s%cJ'
    plot for [f in files] f using 1:2 title columnhead(2)
    unset output
}
print 'figure (h): '.outdir.'/fig_h_energy.{png,svg}'
