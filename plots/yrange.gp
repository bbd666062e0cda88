# yrange.gp PANEL: the (log) y range of a panel from <PANEL>_ymin/_ymax (vars.gp), widened to at
# least a factor 4, with room at the bottom for the marks of points that did not run.
y_lo = value(ARG1.'_ymin')
y_hi = value(ARG1.'_ymax')
y_r = y_hi / y_lo
if (y_r < 4) { y_m = sqrt(4 / y_r); y_lo = y_lo / y_m; y_hi = y_hi * y_m; y_r = 4 }
y_bottom = value(ARG1.'_marks') > 0 ? 0.3 : 0.08
y_lo = y_lo / y_r**y_bottom
y_hi = y_hi * y_r**0.08
set yrange [y_lo : y_hi]
# Less than three decades: label 1, 2 and 5 of every decade, less than one: 1, 1.5, 2, 3, 5, 7
# (a log axis would label one or two values).
set ytics auto
y_steps = y_hi / y_lo < 10 ? '1 1.5 2 3 5 7' : '1 2 5'
if (y_hi / y_lo < 1000) {
    do for [y_e=floor(log10(y_lo)):ceil(log10(y_hi))] {
        do for [y_m in y_steps] {
            y_v = y_m * 10.0**y_e
            if (y_v >= y_lo && y_v <= y_hi) { set ytics add (gprintf(y_fmt, y_v) y_v) }
        }
    }
}
