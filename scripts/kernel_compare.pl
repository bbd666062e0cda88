#!/usr/bin/perl
# kernel_compare.pl BASE.csv NEW.csv: the comparison of the static CUDA gate (scripts/kernel_gate.sh),
# on two kernel reports as scripts/kernel_report.sh writes them; compiles nothing, so the tests
# feed it fixtures (tests/fixtures/kernels_*.csv). Kernels are matched by file and name.
#   FAIL     a kernel spills (spill stores or loads > 0) where BASE has none (or is new and spills)
#   FAIL     registers > BASE registers + 8 (KERNEL_GATE_REG_MARGIN)
#   FAIL     static shared memory, main loop or outer loop (scripts/sass_loops.pl) more than 2%
#            (KERNEL_GATE_THRESHOLD=0.02) above BASE: SASS sizes only when both reports have them
#            and were made by the same nvcc release (another ptxas schedules differently)
#   smaller  main or outer loop more than 2% below BASE: commit `make kernel-report` to keep it
#            (the outer loop has its own line only where it is not the main loop itself)
#   note     other changes (registers within the margin, SASS total > 2%), kernels new or gone
# Prints one line per finding and a summary; exit 1 on any FAIL, 2 on unreadable input.
use strict;
use warnings;
use Text::ParseWords;

my ($base_path, $new_path) = @ARGV;
die "usage: kernel_compare.pl BASE.csv NEW.csv\n" unless defined $new_path;
my $THR = $ENV{KERNEL_GATE_THRESHOLD} // 0.02;
my $MARGIN = $ENV{KERNEL_GATE_REG_MARGIN} // 8;

# file: kernel -> { column -> value }, by the header's column names
sub load {
    my ($path) = @_;
    open(my $f, "<", $path) or do { print STDERR "kernel-gate: cannot open $path: $!\n"; exit 2 };
    my $head = <$f>;
    defined $head or do { print STDERR "kernel-gate: $path is empty\n"; exit 2 };
    chomp $head;
    my @cols = split /,/, $head;
    for my $need (qw(file kernel registers spill_store_bytes spill_load_bytes smem_bytes)) {
        grep { $_ eq $need } @cols or do { print STDERR "kernel-gate: $path has no column $need\n"; exit 2 };
    }
    my %k;
    while (my $line = <$f>) {
        chomp $line;
        my @c = parse_line(",", 0, $line);
        @c == @cols or do { print STDERR "kernel-gate: $path:$.: " . scalar(@c) . " fields, header has " . scalar(@cols) . "\n"; exit 2 };
        my %row;
        @row{@cols} = @c;
        $row{spill} = $row{spill_store_bytes} + $row{spill_load_bytes};
        $k{"$row{file}: $row{kernel}"} = \%row;
    }
    return %k;
}

my %b = load($base_path);
my %n = load($new_path);
my ($fail, $smaller, $sass_skipped) = (0, 0, 0);
my $has = sub { defined $_[0] && $_[0] ne "" };
for my $k (sort keys %n) {
    my $x = $n{$k};
    if (!exists $b{$k}) {
        print "note     new kernel $k ($x->{registers} regs, $x->{spill} spill bytes): commit make kernel-report\n";
        if ($x->{spill} > 0) { print "FAIL     $k: spills $x->{spill} bytes\n"; $fail++ }
        next;
    }
    my $y = $b{$k};
    if ($x->{spill} > 0 && $y->{spill} == 0) { print "FAIL     $k: new spill ($x->{spill} bytes)\n"; $fail++ }
    if ($x->{registers} > $y->{registers} + $MARGIN) {
        print "FAIL     $k: $x->{registers} registers > committed $y->{registers} + $MARGIN\n"; $fail++;
    } elsif ($x->{registers} != $y->{registers}) {
        print "note     $k: registers $y->{registers} -> $x->{registers}\n";
    }
    if ($x->{smem_bytes} > $y->{smem_bytes} * (1 + $THR)) {
        print "FAIL     $k: shared memory $y->{smem_bytes} -> $x->{smem_bytes} bytes\n"; $fail++;
    }
    my $both = grep { $has->($_) } $x->{loop_instructions}, $y->{loop_instructions};
    if ($both != 2 || ($x->{nvcc} // "") ne ($y->{nvcc} // "")) { $sass_skipped++; next }
    # the outer loop is reported only where it is not the main loop itself (same size in both)
    my $outer_is_main = $x->{outer_loop_instructions} == $x->{loop_instructions}
                     && $y->{outer_loop_instructions} == $y->{loop_instructions};
    for my $col ("loop_instructions", $outer_is_main ? () : "outer_loop_instructions") {
        my ($old, $new) = ($y->{$col}, $x->{$col});
        my $what = $col eq "loop_instructions" ? "main loop" : "outer loop";
        my $ratio = $old > 0 ? $new / $old : ($new > 0 ? 9.99 : 1);
        my $line = sprintf "%s: %s %d -> %d SASS instructions x%.4f", $k, $what, $old, $new, $ratio;
        if ($ratio > 1 + $THR) { print "FAIL     $line\n"; $fail++ }
        elsif ($ratio < 1 - $THR) { print "smaller  $line\n"; $smaller++ }
    }
    my ($ot, $nt) = ($y->{sass_instructions}, $x->{sass_instructions});
    printf "note     %s: %d -> %d SASS instructions in all\n", $k, $ot, $nt if $ot > 0 && abs($nt / $ot - 1) > $THR;
}
for my $k (sort keys %b) { print "note     kernel gone: $k\n" unless exists $n{$k} }
printf "kernel-gate: %d kernels vs %s: %d failures, %d smaller main/outer loops%s\n", scalar(keys %n), $base_path,
    $fail, $smaller, $sass_skipped ? ", SASS not compared for $sass_skipped (no counts, or another nvcc)" : "";
print "kernel-gate: FAILED; if on purpose, make kernel-report and commit results/kernels/ with the reason\n" if $fail;
exit($fail ? 1 : 0);
