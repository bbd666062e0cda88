#!/usr/bin/env bash
# kernel_gate.sh [ARCH]: the static CUDA gate of CI (SPEC §10). Regenerates the ptxas report of
# every kernel and compares it with the committed results/kernels/ARCH.csv:
#   FAIL  a kernel spills (spill stores or loads > 0) where the committed report has none
#   FAIL  a kernel uses more than committed registers + 8
#   note  kernels new or gone since the committed report (commit `make kernel-report` output)
# Exit 1 on any FAIL; 0 (with a message) when nvcc is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:-sm_90a}
BASE=results/kernels/$ARCH.csv
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
[ -x "$NVCC" ] || { echo "kernel-gate: nvcc not found, CUDA gate skipped"; exit 0; }
[ -f "$BASE" ] || { echo "kernel-gate: no committed $BASE; run make kernel-report and commit it" >&2; exit 1; }
mkdir -p build
NEW=build/kernel-report-$ARCH.csv
scripts/kernel_report.sh "$ARCH" "$NEW" >/dev/null
perl -MText::ParseWords -e '
  my ($base, $new) = @ARGV;
  sub load { my %k; open(my $f, "<", $_[0]) or die "$_[0]: $!"; <$f>;
             while (<$f>) { chomp; my @c = parse_line(",", 0, $_); $k{"$c[0]: $c[1]"} = {regs => $c[3], spill => $c[5] + $c[6]}; } %k }
  my %b = load($base); my %n = load($new); my $fail = 0;
  for my $k (sort keys %n) {
    my $x = $n{$k};
    if (!exists $b{$k}) { print "note  new kernel $k ($x->{regs} regs, $x->{spill} spill bytes)\n";
                          if ($x->{spill} > 0) { print "FAIL  $k spills $x->{spill} bytes\n"; $fail++ } next }
    my $y = $b{$k};
    if ($x->{spill} > 0 && $y->{spill} == 0) { print "FAIL  $k: new spill ($x->{spill} bytes)\n"; $fail++ }
    if ($x->{regs} > $y->{regs} + 8) { print "FAIL  $k: $x->{regs} registers > committed $y->{regs} + 8\n"; $fail++ }
  }
  for my $k (sort keys %b) { print "note  kernel gone: $k\n" unless exists $n{$k} }
  printf "kernel-gate: %d kernels checked against %s, %d failures\n", scalar(keys %n), $base, $fail;
  exit($fail ? 1 : 0);
' "$BASE" "$NEW"
