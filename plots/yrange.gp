# yrange.gp PREFIX: the y range of a panel from <PREFIX>_ymin/_ymax (vars.gp): autoscaled, unless
# the panel holds a single value, where gnuplot would warn about an empty range.
if (value(ARG1.'_ymin') == value(ARG1.'_ymax')) {
    set yrange [value(ARG1.'_ymin') / 2 : value(ARG1.'_ymax') * 2]
} else {
    set autoscale y
}
