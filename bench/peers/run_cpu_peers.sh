#!/usr/bin/env bash
# run_cpu_peers.sh CSV: the CPU peers of our layers (torch_cpu_layers.py: the official modules' math
# in eager PyTorch) appended to CSV, a results file of a cpu run, under its run_id, on its
# layer-level points, with its thread count and CPU ceilings: figure (g) then shows ours vs them.
# torch is optional (CI never needs it): without it one line says so and the script exits 0.
#   SEQBENCH_CPU_PEERS=install   first install torch from PyPI into build/peers-venv (~3 GB)
#   SEQBENCH_CPU_PEERS=0         skip
#   PYTHON=...                   the python to use (default python3; build/peers-venv is found)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
[ $# -eq 1 ] && [ -f "$1" ] || { echo "usage: bench/peers/run_cpu_peers.sh RESULTS.csv" >&2; exit 2; }
csv=$1
PY=${PYTHON:-python3}
case ${SEQBENCH_CPU_PEERS:-auto} in
  0) echo "cpu peers: skipped (SEQBENCH_CPU_PEERS=0)"; exit 0 ;;
  install) "$PY" "$here/torch_cpu_layers.py" --install || { echo "cpu peers: torch install failed: skipped"; exit 0; } ;;
esac
run_id=$("$PY" -c 'import csv,sys; r=next(csv.DictReader(open(sys.argv[1])), {}); print(r.get("run_id", ""))' "$csv")
"$PY" "$here/torch_cpu_layers.py" --out "$csv" --counts-from "$csv" ${run_id:+--run-id "$run_id"} --quiet
rc=$?
case $rc in
  0) echo "cpu peers: eager PyTorch rows appended to $csv" ;;
  3) echo "cpu peers: torch is not installed: skipped (SEQBENCH_CPU_PEERS=install ./run_all.sh installs it from PyPI)" ;;
  *) echo "cpu peers: torch_cpu_layers.py failed (exit $rc): its rows may be missing" ;;
esac
exit 0
