#!/usr/bin/env bash
# run_all.sh: the main job of seqbench, start to end:
#   deps -> build -> bench (paper preset on a GPU, else the cpu preset and its eager-PyTorch peers,
#   bench/peers/run_cpu_peers.sh: skipped without torch) -> figures -> summary -> report page.
# The results CSV lands in results/<machine>/<preset>-<utc>.csv, the figures in
# plots/out/<machine>/<preset>-<utc>/, the page (`seqbench report`: all numbers, figures and the
# command that reproduces the run) next to the CSV as <preset>-<utc>.md. Extra arguments go to
# `seqbench run` (e.g. --preset quick).
set -euo pipefail
cd "$(dirname "$0")"
scripts/deps.sh
make -j"$(nproc)" all
bin=build/seqbench
if $bin info --has-gpu; then echo "run_all: GPU found: paper preset"; else echo "run_all: no GPU: cpu preset (<= 5 min)"; fi
csv=$($bin run "$@")   # progress on stderr, the CSV path on stdout
echo
# without a GPU: eager PyTorch peers of the cpu layers in the same CSV, if torch can be imported
$bin info --has-gpu || bench/peers/run_cpu_peers.sh "$csv"
plots/make_plots.sh "$csv"
echo
$bin summary "$csv"
echo
page=$($bin report "$csv")
echo "results: $csv"
echo "figures:"
ls -1 "plots/out/$(basename "$(dirname "$csv")")/$(basename "$csv" .csv)"/*.png 2>/dev/null | sed 's/^/  /' || echo "  (none drawn)"
echo "report page: $page"
