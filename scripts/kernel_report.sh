#!/usr/bin/env bash
# kernel_report.sh [ARCH] [OUT.csv]: registers, spills, stack and shared memory of every CUDA
# kernel (ptxas --resource-usage), one row per kernel, sorted, as CSV.
# ARCH defaults to sm_90a; OUT defaults to results/kernels/ARCH.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90a}
OUT=${2:-results/kernels/$ARCH.csv}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "kernel-report: nvcc not found, nothing to report"; exit 0; }
compute=${ARCH/sm_/compute_}
mkdir -p "$(dirname "$OUT")"
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.o"' EXIT
for cu in kernels/*.cu; do
  # the Makefile's flags, for one arch
  "$NVCC" -O3 -std=c++17 -gencode=arch=$compute,code=$ARCH -DSB_HAVE_CUDA --expt-relaxed-constexpr \
      --resource-usage -c "$cu" -o "$tmp.o" 2>&1 | sed "s|^|$cu\t|" >>"$tmp"
done
CUFILT=$(command -v c++filt || echo cat) # binutils demangles nvcc names too
# perl (always in Debian's base) turns the ptxas lines into one row per kernel
rows=$(perl -ne '
  if (/^(\S+)\t.*Compiling entry function .([^\x27]+)/) { ($file, $fn) = ($1, $2) }
  if (/(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/) { ($st, $ss, $sl) = ($1, $2, $3) }
  if (/Used (\d+) registers/) {
    $regs = $1; $bars = /used (\d+) barriers/ ? $1 : 0; $smem = /(\d+) bytes smem/ ? $1 : 0;
    print join("\t", $file, $fn, $regs, $st, $ss, $sl, $smem, $bars), "\n";
  }' "$tmp")
{
  echo "file,kernel,arch,registers,stack_bytes,spill_store_bytes,spill_load_bytes,smem_bytes,barriers"
  [ -z "$rows" ] || while IFS=$'\t' read -r file fn regs st ss sl smem bars; do
    name=$(echo "$fn" | "$CUFILT")
    printf '%s,"%s",%s,%s,%s,%s,%s,%s,%s\n' "$file" "${name//\"/\"\"}" "$ARCH" "$regs" "$st" "$ss" "$sl" "$smem" "$bars"
  done <<<"$rows" | LC_ALL=C sort
} >"$OUT"
echo "kernel-report: $(($(wc -l <"$OUT") - 1)) kernels -> $OUT"
