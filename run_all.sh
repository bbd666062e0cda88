#!/usr/bin/env bash
# run_all.sh: the main job of seqbench, start to end:
#   deps -> build -> bench (paper preset on a GPU, else the cpu preset and its eager-PyTorch peers,
#   bench/peers/run_cpu_peers.sh: skipped without torch) -> figures -> summary -> report page.
# The results CSV lands in results/<machine>/<preset>-<utc>.csv, the figures in
# plots/out/<machine>/<preset>-<utc>/, the page (`seqbench report`: all numbers, figures and the
# command that reproduces the run) next to the CSV as <preset>-<utc>.md. Extra arguments go to
# `seqbench run` (e.g. --preset quick).
#
# --gpus N|all (a multi-GPU box): the sweep in N shards (`seqbench run --shard I/N`, balanced by
# predicted cost), one per GPU (CUDA_VISIBLE_DEVICES=I-1), all at once; their CSVs and logs go to
# results/<machine>/<preset>-<utc>-<N>gpus.shards/, `seqbench merge` joins them into
# results/<machine>/<preset>-<utc>-<N>gpus.csv, which the figures, summary and page then read.
# Exit 1 when a shard failed or points are missing (the figures are still drawn).
set -euo pipefail
cd "$(dirname "$0")"
gpus=
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --gpus) [ $# -ge 2 ] || { echo "run_all: --gpus needs N or all" >&2; exit 2; }; gpus=$2; shift 2 ;;
    --gpus=*) gpus=${1#*=}; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
scripts/deps.sh
make -j"$(nproc)" all
bin=build/seqbench
if $bin info --has-gpu; then echo "run_all: GPU found: paper preset"; else echo "run_all: no GPU: cpu preset (<= 5 min)"; fi

# One shard per GPU, then the merge; prints the merged CSV's path. Returns 1 if a shard failed or
# points are missing, 2 on bad options.
sharded_run() {
  local n=$1 name dir i rc=0 pids=()
  if [ "$n" = all ]; then
    n=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    [ "$n" -ge 1 ] || { echo "run_all: --gpus all: nvidia-smi lists no GPU" >&2; return 2; }
  fi
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "run_all: --gpus wants a count or all, got '$n'" >&2; return 2; }
  $bin info --has-gpu || echo "run_all: warning: no GPU: the $n shards share the CPU (their timings disturb each other)" >&2
  # the unsharded plan: checks the options before anything runs, and is merge's list of points
  local plan
  plan=$($bin run "${args[@]}" --shard 1/1 --dry-run) || return 2
  name=$(sed -n '1s/^preset \([^:,]*\).*/\1/p' <<<"$plan")-$(date -u +%Y%m%dT%H%M%SZ)-${n}gpus
  dir=results/$(CUDA_VISIBLE_DEVICES=0 $bin info --slug)/$name.shards
  mkdir -p "$dir"
  printf '%s\n' "$plan" >"$dir/plan.txt"
  for ((i = 0; i < n; i++)); do
    CUDA_VISIBLE_DEVICES=$i $bin run "${args[@]}" --shard "$((i + 1))/$n" --out "$dir/shard-$i.csv" \
      >/dev/null 2>"$dir/shard-$i.log" &
    pids+=($!)
    echo "run_all: shard $((i + 1))/$n on GPU $i (pid $!), progress in $dir/shard-$i.log" >&2
  done
  for ((i = 0; i < n; i++)); do
    wait "${pids[$i]}" || { echo "run_all: shard $((i + 1))/$n failed (exit $?): see $dir/shard-$i.log" >&2; rc=1; }
  done
  local csv=${dir%.shards}.csv
  $bin merge "$csv" "$dir"/shard-*.csv --plan "$dir/plan.txt" >/dev/null || { [ $? -eq 1 ] && [ -f "$csv" ] || return 2; rc=1; }
  echo "$csv"
  return $rc
}

status=0
if [ -n "$gpus" ]; then
  csv=$(sharded_run "$gpus") || status=$?
  [ -n "$csv" ] && [ -f "$csv" ] || exit "$status"
else
  csv=$($bin run "${args[@]}")   # progress on stderr, the CSV path on stdout
fi
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
exit "$status"
