#!/usr/bin/env bash
# kernel_gate.sh [ARCH]: the static CUDA gate of CI (SPEC §10, issue 9). Makes a fresh kernel
# report of the current build (scripts/kernel_report.sh: ptxas registers/spills/smem and the SASS
# size of each kernel's main loop) and compares it with the committed results/kernels/ARCH.csv
# (scripts/kernel_compare.pl says what fails: new spills, registers > committed + 8, static smem,
# main loop or outer loop > +2%; it reports loops that shrank).
# Exit 1 on any FAIL; 0 (with a message) when nvcc is absent. Environment: BUILD, NVCC,
# KERNEL_GATE_BASE (default the committed report), KERNEL_GATE_THRESHOLD, KERNEL_GATE_REG_MARGIN.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90a}
BASE=${KERNEL_GATE_BASE:-results/kernels/$ARCH.csv}
BUILD=${BUILD:-build}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "kernel-gate: nvcc not found, CUDA gate skipped"; exit 0; }
[ -f "$BASE" ] || { echo "kernel-gate: no committed $BASE; run make kernel-report and commit it" >&2; exit 1; }
mkdir -p "$BUILD"
NEW=$BUILD/kernel-report-$ARCH.csv
BUILD=$BUILD scripts/kernel_report.sh "$ARCH" "$NEW"
perl scripts/kernel_compare.pl "$BASE" "$NEW"
