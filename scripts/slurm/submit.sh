#!/usr/bin/env bash
# scripts/slurm/submit.sh: a seqbench sweep on a Slurm cluster: a job array of N shards (one GPU
# per task, scripts/slurm/sweep.sbatch) and a merge job that starts when every task has ended
# (scripts/slurm/merge.sbatch: merged CSV, figures, report). Run it from a login node, on the
# shared file system where the repository and build/seqbench live:
#
#   scripts/slurm/submit.sh [--shards N] [--gres GRES|none] [--outdir DIR] [SBATCH OPTIONS...] [-- RUN OPTIONS...]
#   scripts/slurm/submit.sh --shards 8 -p gpu -A myproject --time=04:00:00 -- --preset paper
#
# --shards N     array tasks, one shard each (default 4)
# --gres G       the array tasks' resource request (default gpu:1; none = no GPU, a CPU-only cluster)
# --outdir DIR   shard CSVs, plan.txt, <preset>-merged.csv (+ .md page), plots/, logs/ (default results/slurm/<utc>)
# Other options before `--` go to both sbatch calls unchanged; those after it to `seqbench run`
# (not --out, --resume, --shard or --dry-run: each shard sets its own). The run options are
# checked here first (`seqbench run --dry-run`, whose listing merge uses as the plan). Prints
# sweep_job=, merge_job= and outdir= lines; exit 2 on bad options, sbatch's exit on its failure.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SEQBENCH_BIN:-$repo/build/seqbench}
die() { echo "submit: $*" >&2; exit 2; }

shards=4 gres=gpu:1 outdir=
sb_args=() run_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --shards) [ $# -ge 2 ] || die "--shards needs a value"; shards=$2; shift 2 ;;
    --shards=*) shards=${1#*=}; shift ;;
    --gres) [ $# -ge 2 ] || die "--gres needs a value"; gres=$2; shift 2 ;;
    --gres=*) gres=${1#*=}; shift ;;
    --outdir) [ $# -ge 2 ] || die "--outdir needs a value"; outdir=$2; shift 2 ;;
    --outdir=*) outdir=${1#*=}; shift ;;
    --array|--array=*|-a|--dependency|--dependency=*|-d) die "$1: submit.sh sets the array and the dependency itself" ;;
    --) shift; run_args=("$@"); break ;;
    *) sb_args+=("$1"); shift ;;
  esac
done
[[ $shards =~ ^[1-9][0-9]{0,3}$ ]] || die "--shards wants a count from 1 to 4096, got '$shards'"
for a in "${run_args[@]}"; do
  case $a in --out|--out=*|--resume|--shard|--shard=*|--dry-run) die "run option $a: each shard sets its own" ;; esac
done
[ -x "$bin" ] || die "$bin not found: build seqbench first (make)"
command -v sbatch >/dev/null || die "sbatch not found: is this a Slurm login node?"
outdir=${outdir:-$repo/results/slurm/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$outdir/logs"
outdir=$(cd "$outdir" && pwd)
[ -z "$(ls "$outdir"/shard-*.csv "$outdir"/*merged.csv 2>/dev/null)" ] || die "$outdir already holds a sweep: choose another --outdir"

# The plan, unsharded: checks the run options before anything is queued (exit 2 with seqbench's message).
"$bin" run "${run_args[@]}" --shard 1/1 --dry-run >"$outdir/plan.txt" || { rm -f "$outdir/plan.txt"; exit 2; }
echo "submit: $(head -n 1 "$outdir/plan.txt") in $shards shards" >&2

gres_opt=--gres=$gres
export SEQBENCH_BIN=$bin SEQBENCH_OUTDIR=$outdir
sweep=$(sbatch --parsable --array="0-$((shards - 1))" --chdir="$repo" --output="$outdir/logs/sweep-%A_%a.out" \
        "$gres_opt" "${sb_args[@]}" "$repo/scripts/slurm/sweep.sbatch" "${run_args[@]}")
sweep=${sweep%%;*}
merge=$(sbatch --parsable --dependency="afterany:$sweep" --kill-on-invalid-dep=yes --chdir="$repo" \
        --output="$outdir/logs/merge-%j.out" "${sb_args[@]}" "$repo/scripts/slurm/merge.sbatch")
merge=${merge%%;*}
echo "sweep_job=$sweep"
echo "merge_job=$merge"
echo "outdir=$outdir"
