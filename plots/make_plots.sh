#!/usr/bin/env bash
# make_plots.sh CSV [OUTDIR]: the figures of SPEC §13 from one results CSV.
#   1. `seqbench plotdata` writes one .dat file per series and vars.gp (panels, titles, styles,
#      the marks of points that did not run) into a temp dir and prints the crossover context of
#      TTT vs attention;
#   2. each plots/fig_*.gp draws the panels of its figure that have data (plots/figure.gp,
#      panel.gp) as PNG and SVG into OUTDIR and prints what it drew, or "no data".
# OUTDIR defaults to plots/out/<machine>/<csv name>/ for results/<machine>/<name>.csv.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
bin=${SEQBENCH_BIN:-$root/build/seqbench}
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: plots/make_plots.sh CSV [OUTDIR]" >&2; exit 2; }
csv=$1
[ -f "$csv" ] || { echo "make_plots: $csv: no such file" >&2; exit 2; }
command -v gnuplot >/dev/null || { echo "make_plots: gnuplot not found (make deps)" >&2; exit 2; }
[ -x "$bin" ] || { echo "make_plots: $bin not built (make)" >&2; exit 2; }
name=$(basename "$csv" .csv)
machine=$(basename "$(dirname "$csv")")
out=${2:-$here/out/$machine/$name}
case "$out$here" in *"'"*) echo "make_plots: paths with a quote are not supported" >&2; exit 2;; esac
mkdir -p "$out"
dat=$(mktemp -d)
trap 'rm -rf "$dat"' EXIT
"$bin" plotdata "$csv" "$dat"
for gp in "$here"/fig_*.gp; do
  gnuplot -e "datadir='$dat'; outdir='$out'; plotsdir='$here'" "$gp"
done
