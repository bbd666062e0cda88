#!/usr/bin/env bash
# kernel_report.sh [ARCH] [OUT.csv]: the static facts of every CUDA kernel, one CSV row per kernel
# (sorted by file and demangled name); ARCH defaults to sm_90a, OUT to results/kernels/ARCH.csv.
#   registers, stack_bytes, spill_store_bytes, spill_load_bytes, smem_bytes (static), barriers:
#       ptxas --resource-usage of the Makefile's own build: each $BUILD/{runtime,kernels}/X.cu.o has its
#       ptxas report beside it in X.cu.ptxas (nothing is compiled twice).
#   sass_instructions, loop_instructions, outer_loop_instructions, loop_hmma ... loop_ldsm:
#       from `cuobjdump -sass -arch ARCH` of the same objects (scripts/sass_loops.pl defines the
#       main loop); empty when cuobjdump is unavailable (scripts/cuda_tools.sh says why).
#   nvcc: the compiler release, since all of the above are only comparable for the same one.
# Environment: BUILD (default build), NVCC, KERNEL_REPORT_NO_BUILD=1 (use the objects as they are).
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90a}
OUT=${2:-results/kernels/$ARCH.csv}
BUILD=${BUILD:-build}
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "kernel-report: nvcc not found, nothing to report"; exit 0; }
[ "${KERNEL_REPORT_NO_BUILD:-0}" = 1 ] || make -s BUILD="$BUILD" cuda-objects
nvcc_version=$("$NVCC" --version | sed -n 's/.*release [0-9.]*, V\([0-9.]*\).*/\1/p')
tools=$(BUILD="$BUILD" scripts/cuda_tools.sh) || tools=
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for cu in runtime/*.cu kernels/*.cu; do
  obj=$BUILD/${cu%.cu}.cu.o
  [ -f "$obj" ] && [ -f "${obj%.o}.ptxas" ] \
    || { echo "kernel-report: $obj or its .ptxas is missing (make cuda-objects)" >&2; exit 1; }
  sed "s|^|$cu\t|" "${obj%.o}.ptxas" >>"$tmp/ptxas"
  if [ -n "$tools" ]; then
    PATH=$tools:$PATH "$tools/cuobjdump" -sass -arch "$ARCH" "$obj" | perl scripts/sass_loops.pl >>"$tmp/sass"
  fi
done
touch "$tmp/sass"
CUFILT=$(command -v c++filt || echo cat) # binutils demangles nvcc names too
# perl (always in Debian's base) joins the ptxas lines of ARCH and the SASS lines by mangled name
perl -e '
  my ($arch, $ptxas, $sass) = @ARGV;
  my %s;
  open(my $fs, "<", $sass) or die; while (<$fs>) { chomp; my ($name, @c) = split /\t/; $s{$name} = \@c } close $fs;
  open(my $fp, "<", $ptxas) or die;
  my ($file, $fn, $st, $ss, $sl);
  while (<$fp>) {
    if (/^(\S+)\t.*Compiling entry function .([^\x27]+). for .([^\x27]+)/) { ($file, $fn) = $3 eq $arch ? ($1, $2) : (undef, undef) }
    next unless defined $fn;
    if (/(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads/) { ($st, $ss, $sl) = ($1, $2, $3) }
    if (/Used (\d+) registers/) {
      my $regs = $1;
      my $bars = /used (\d+) barriers/ ? $1 : 0;
      my $smem = /(\d+) bytes smem/ ? $1 : 0;
      my @x = $s{$fn} ? @{$s{$fn}} : ("") x 10;
      print join("\t", $file, $fn, join(",", $regs, $st, $ss, $sl, $smem, $bars, @x)), "\n";
      $fn = undef;
    }
  }' "$ARCH" "$tmp/ptxas" "$tmp/sass" >"$tmp/rows"
[ -s "$tmp/rows" ] || { echo "kernel-report: no $ARCH code in $BUILD/{runtime,kernels}/*.cu.o (CUDA_GENCODE lacks it?)" >&2; exit 1; }
mkdir -p "$(dirname "$OUT")"
{
  echo "file,kernel,arch,registers,stack_bytes,spill_store_bytes,spill_load_bytes,smem_bytes,barriers,sass_instructions,loop_instructions,outer_loop_instructions,loop_hmma,loop_hgmma,loop_ffma,loop_mufu,loop_ldg,loop_lds,loop_ldsm,nvcc"
  # demangle (c++filt rewrites only the _Z... words) and quote the name: it holds commas
  "$CUFILT" <"$tmp/rows" | awk -F'\t' -v arch="$ARCH" -v nvcc="$nvcc_version" \
    '{ gsub(/"/, "\"\"", $2); printf "%s,\"%s\",%s,%s,%s\n", $1, $2, arch, $3, nvcc }' | LC_ALL=C sort
} >"$OUT"
echo "kernel-report: $(($(wc -l <"$OUT") - 1)) kernels -> $OUT ($([ -n "$tools" ] && echo "SASS from $tools/cuobjdump" || echo "no SASS counts"))"
