# figure.gp NAME LETTER 'PANELS' TITLE: one figure of the panels among PANELS that have data (the
# layout adapts: 1 to 3 side by side, 4 as 2 x 2; an empty panel is left out, and a figure with
# none prints "no data" and writes nothing), PNG and SVG, titled TITLE and the run's subtitle.
f_name = ARG1
f_letter = ARG2
f_title = ARG4
f_panels = ''
f_marks = 0
do for [p in ARG3] {
    if (value(p.'_n') + value(p.'_marks') > 0) { f_panels = f_panels.' '.p; f_marks = f_marks + value(p.'_marks') }
}
f_np = words(f_panels)
if (f_np == 0) {
    print sprintf('figure (%s) %s: no data, skipped', f_letter, f_name)
} else {
    f_cols = f_np == 4 ? 2 : f_np
    f_rows = f_np == 4 ? 2 : 1
    fig_w = 100 + 650 * f_cols
    fig_h = 110 + 560 * f_rows
    do for [fmt in 'png svg'] {
        call plotsdir.'/term.gp' fmt f_name
        set multiplot layout f_rows, f_cols title f_title."\n".subtitle
        do for [p in f_panels] { call plotsdir.'/panel.gp' p }
        unset multiplot
        unset output
    }
    print sprintf('figure (%s): %s/%s.{png,svg}: %d panel%s (%s), %d mark%s', f_letter, outdir, f_name, f_np, \
                  f_np == 1 ? '' : 's', f_panels[2:], f_marks, f_marks == 1 ? '' : 's')
}
