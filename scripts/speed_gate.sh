#!/usr/bin/env bash
# speed_gate.sh [--update]: the CPU kernel-speed gate of CI (issue 9). Wall-clock time on a shared
# 2-core CI machine is noisy (20-40%); instruction counts are not: callgrind counts the same number
# for the same binary and input on every run. build/speedgate runs every cpu kernel once on a fixed
# shape, single-threaded, each in its own counted region; we compare with the committed baseline
# results/speed-gate/<arch>.csv:
#   FAIL  a kernel needs more than 2% more instructions than its baseline (names kernel and ratio)
#   FAST  a kernel needs more than 2% fewer (update the baseline on purpose, saying why)
#   note  kernels new or gone since the baseline
# --update rewrites the baseline (commit it with the reason). Counts are only comparable for the
# same compiler and OpenBLAS kernel: both are pinned (OPENBLAS_CORETYPE) or recorded and checked.
set -euo pipefail
cd "$(dirname "$0")/.."
UPDATE=0
[ "${1:-}" = --update ] && UPDATE=1
ARCH=$(uname -m)
BASE=results/speed-gate/$ARCH.csv
BUILD=${BUILD:-build}
THRESHOLD=${SPEED_GATE_THRESHOLD:-0.02}
command -v valgrind >/dev/null || { echo "speed-gate: valgrind missing (scripts/deps.sh installs it)" >&2; exit 2; }
make -s BUILD="$BUILD" "$BUILD/speedgate" >/dev/null
compiler=$(${CC:-gcc} --version | head -n1)
blas=$(dpkg-query -W -f='${Version}' libopenblas0-openmp 2>/dev/null || echo unknown)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One thread, one fixed OpenBLAS kernel family (its runtime CPU dispatch would otherwise pick
# different code on different CI hosts).
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 OPENBLAS_CORETYPE=Haswell \
  valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$tmp/cg.out" \
  "$BUILD/speedgate" >"$tmp/kernels.txt" 2>"$tmp/valgrind.log" || { cat "$tmp/valgrind.log" >&2; exit 2; }
NEW=$tmp/new.csv
{
  echo "kernel,shape,instructions,compiler,openblas"
  for f in "$tmp"/cg.out.*; do
    name=$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
    ir=$(sed -n 's/^summary: \([0-9]*\).*/\1/p' "$f")
    [ -n "$ir" ] || ir=$(sed -n 's/^totals: \([0-9]*\).*/\1/p' "$f")
    shape=$(awk -v k="$name" '$1 == k {print $2 " " $3 " " $4}' "$tmp/kernels.txt")
    printf '%s,%s,%s,"%s",%s\n' "$name" "$shape" "$ir" "$compiler" "$blas"
  done | LC_ALL=C sort
} >"$NEW"
if [ "$UPDATE" = 1 ] || [ ! -f "$BASE" ]; then
  mkdir -p "$(dirname "$BASE")"
  cp "$NEW" "$BASE"
  echo "speed-gate: baseline written to $BASE ($(($(wc -l <"$BASE") - 1)) kernels); commit it and say why"
  [ "$UPDATE" = 1 ] && exit 0
  echo "speed-gate: there was no baseline: nothing to compare" >&2
  exit 1
fi
perl -MText::ParseWords -e '
  my ($base, $new, $thr) = @ARGV;
  sub load { my %k; open(my $f, "<", $_[0]) or die; <$f>;
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
  for my $k (sort keys %b) { print "note  kernel gone: $k\n" unless exists $n{$k} }
  printf "speed-gate: %d kernels, %d slower than +%.0f%%, %d faster, %d not comparable\n", scalar(keys %n), $fail, 100 * $thr, $fast, $skip;
  exit($fail ? 1 : 0);
' "$BASE" "$NEW" "$THRESHOLD"
