#!/usr/bin/env bash
# speed_gate.sh [--update]: the CPU kernel-speed gate of CI (issue 9). Wall-clock time on a shared
# 2-core CI machine is noisy (20-40%); instruction counts are not: callgrind counts the same number
# for the same binary and input on every run. build/speedgate-cpu/speedgate runs every cpu kernel
# once on a fixed shape, single-threaded, each in its own counted region; we compare with the
# committed baseline results/speed-gate/<arch>.csv:
#   FAIL  a kernel needs more than 2% more instructions than its baseline (names kernel and ratio)
#   FAST  a kernel needs more than 2% fewer (update the baseline on purpose, saying why)
#   note  kernels new or gone since the baseline
# --update rewrites the baseline (commit it with the reason). Counts are only comparable for the
# same compiler and OpenBLAS kernel: both are pinned (OPENBLAS_CORETYPE) or recorded and checked
# (a kernel whose baseline was made with another compiler/OpenBLAS/shape is "skip", not FAIL).
#
# The gate binary is a CPU-only build (NVCC= into $BUILD/speedgate-cpu, `make speedgate-bin`):
# the CPU kernels compile the same with or without nvcc, so the counts do not depend on whether
# the CI machine has CUDA, and valgrind does not have to load cuBLAS (~0.6 GB, ~15 s per start).
#
# Environment:
#   SPEED_GATE_BASE=FILE        baseline to compare with / to --update (default the committed one)
#   SPEED_GATE_KERNELS=GLOBS    only the kernels matching these comma-separated globs, e.g.
#                               'mamba/chunked/op/decode,ttt_linear/*/op/*' (--update then merges)
#   SPEED_GATE_THRESHOLD=0.02   the relative growth that fails
#   SPEED_GATE_NO_BUILD=1       do not run make (the tests: `make test` built the binary)
#   BUILD=build                 the build directory of the Makefile
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
ARCH=$(uname -m)
BASE=${SPEED_GATE_BASE:-results/speed-gate/$ARCH.csv}
BUILD=${BUILD:-build}
THRESHOLD=${SPEED_GATE_THRESHOLD:-0.02}
KERNELS=${SPEED_GATE_KERNELS:-}
BIN=$BUILD/speedgate-cpu/speedgate
command -v valgrind >/dev/null || { echo "speed-gate: valgrind missing (scripts/deps.sh installs it)" >&2; exit 2; }
[ "${SPEED_GATE_NO_BUILD:-0}" = 1 ] || make -s BUILD="$BUILD" speedgate-bin >/dev/null
[ -x "$BIN" ] || { echo "speed-gate: $BIN missing (make speedgate-bin)" >&2; exit 2; }
compiler=$(${CC:-gcc} --version | head -n1)
blas=$(dpkg-query -W -f='${Version}' libopenblas0-openmp 2>/dev/null || echo unknown)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One thread, one fixed OpenBLAS kernel family (its runtime CPU dispatch would otherwise pick
# different code on different CI hosts).
start=$SECONDS
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell \
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/cg.%p.out" \
  "$BIN" "$KERNELS" >"$tmp/kernels.txt" 2>"$tmp/valgrind.log" || { cat "$tmp/valgrind.log" >&2; exit 2; }
seconds=$((SECONDS - start))
ls "$tmp"/cg.*.out.* >/dev/null 2>&1 || { echo "speed-gate: no kernel matches '$KERNELS'" >&2; exit 2; }
NEW=$tmp/new.csv
HEADER="kernel,shape,instructions,compiler,openblas"
{
  echo "$HEADER"
  for f in "$tmp"/cg.*.out.*; do
    name=$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
    [ -n "$name" ] || continue # the empty dump at program termination
    ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f")
    [ -n "$ir" ] || ir=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$f")
    shape=$(awk -v k="$name" '$1 == k {print $2 " " $3 " " $4}' "$tmp/kernels.txt")
    printf '%s,%s,%s,"%s",%s\n' "$name" "$shape" "$ir" "$compiler" "$blas"
  done | LC_ALL=C sort
} >"$NEW"
count=$(($(wc -l <"$NEW") - 1))
if [ "$UPDATE" = 1 ] || [ ! -f "$BASE" ]; then
  mkdir -p "$(dirname "$BASE")"
  if [ -n "$KERNELS" ] && [ -f "$BASE" ]; then
    # a filtered update replaces the rows it measured and keeps the others
    { echo "$HEADER"
      { awk -F, 'NR == FNR { if (FNR > 1) seen[$1] = 1; next } FNR > 1 && !($1 in seen)' "$NEW" "$BASE"
        tail -n +2 "$NEW"; } | LC_ALL=C sort; } >"$tmp/merged.csv"
    cp "$tmp/merged.csv" "$BASE"
  else
    cp "$NEW" "$BASE"
  fi
  echo "speed-gate: $count kernels measured (valgrind ${seconds}s), baseline written to $BASE ($(($(wc -l <"$BASE") - 1)) kernels); commit it and say why"
  [ "$UPDATE" = 1 ] && exit 0
  echo "speed-gate: there was no baseline: nothing to compare" >&2
  exit 1
fi
perl -MText::ParseWords -e '
  my ($base, $new, $thr, $filter, $secs) = @ARGV;
  sub load { my %k; open(my $f, "<", $_[0]) or die "$_[0]: $!"; <$f>;
             while (<$f>) { chomp; my @c = parse_line(",", 0, $_); $k{$c[0]} = {shape => $c[1], ir => $c[2], cc => $c[3], blas => $c[4]}; } %k }
  my %b = load($base); my %n = load($new); my ($fail, $fast, $skip) = (0, 0, 0);
  for my $k (sort keys %n) {
    my $x = $n{$k};
    if (!exists $b{$k}) { print "note  new kernel $k ($x->{ir} instructions): run make speed-gate-update\n"; next }
    my $y = $b{$k};
    if ($y->{cc} ne $x->{cc} || $y->{blas} ne $x->{blas} || $y->{shape} ne $x->{shape}) {
      print "skip  $k: baseline made with \"$y->{cc}\" / OpenBLAS $y->{blas} / $y->{shape}, now \"$x->{cc}\" / $x->{blas} / $x->{shape}\n"; $skip++; next }
    my $r = $x->{ir} / $y->{ir};
    my $v = $r > 1 + $thr ? "FAIL" : $r < 1 - $thr ? "FAST" : "same";
    printf "%-5s %-40s %12d -> %12d instructions  x%.4f\n", $v, $k, $y->{ir}, $x->{ir}, $r;
    $fail++ if $v eq "FAIL"; $fast++ if $v eq "FAST";
  }
  if ($filter eq "") { for my $k (sort keys %b) { print "note  kernel gone: $k\n" unless exists $n{$k} } }
  printf "speed-gate: %d kernels%s vs %s, %d slower than +%.0f%%, %d faster, %d not comparable (valgrind %ds)\n",
         scalar(keys %n), $filter eq "" ? "" : " matching \x27$filter\x27", $base, $fail, 100 * $thr, $fast, $skip, $secs;
  print "speed-gate: FAILED: a kernel got slower; if on purpose, make speed-gate-update and commit the reason\n" if $fail;
  exit($fail ? 1 : 0);
' "$BASE" "$NEW" "$THRESHOLD" "$KERNELS" "$seconds"
