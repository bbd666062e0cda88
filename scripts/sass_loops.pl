#!/usr/bin/perl
# sass_loops.pl [cuobjdump -sass output]: per kernel, its SASS instruction count and the size and
# instruction mix of its main loop; one tab-separated line per kernel (mangled name first):
#   name  sass  loop  outer  hmma hgmma ffma mufu ldg lds ldsm
# Used by scripts/kernel_report.sh (the static CUDA gate). Definitions, on the instruction list of
# one function as cuobjdump prints it (one instruction per address, 16 bytes apart on sm_90):
#   sass   all instructions of the function except NOP (alignment padding after EXIT).
#   loop   a backward branch: a BRA (predicated or not) at address a whose target t < a (a branch
#          to itself, the trap after EXIT, is not one); its body is every instruction from t to a.
#          A loop whose body holds an unconditional EXIT or RET is not counted: that is an
#          out-of-line path jumping back into the kernel, not a loop.
#   main loop (column loop): of the innermost loops (bodies holding no other loop's backward
#          branch), the one with the most instructions (the first one on a tie): for most
#          kernels the hot tile loop. Its counts of HMMA, HGMMA, FFMA, MUFU, LDG, LDS and LDSM
#          (by base opcode: LDG.E.128 is an LDG; LDGSTS is none of them) follow.
#   outer  the largest loop at any depth: where the hot loop holds small inner loops (TTT's
#          mini-batch loop around its LayerNorm loops) this is the one that carries the work.
# Instructions called from a loop (CALL to a subroutine placed after EXIT) are not counted in it.
# 0 everywhere when a kernel has no loop. The sizes are static: a loop's trip count is unknown.
use strict;
use warnings;

my @MIX = qw(HMMA HGMMA FFMA MUFU LDG LDS LDSM);

# A backward branch: BRA with a target below its own address.
sub is_back { my ($i) = @_; return $i->{op} eq 'BRA' && defined $i->{tgt} && $i->{tgt} < $i->{addr} }

sub count_real { return scalar grep { $_->{op} ne 'NOP' } @_ }

sub report {
    my ($fn, $ins) = @_;
    my (@inner, $outer);
    $outer = 0;
    for my $b (grep { is_back($_) } @$ins) {
        my @body = grep { $_->{addr} >= $b->{tgt} && $_->{addr} <= $b->{addr} } @$ins;
        next if grep { ($_->{op} eq 'EXIT' || $_->{op} eq 'RET') && !$_->{pred} } @body;
        my $n = count_real(@body);
        $outer = $n if $n > $outer;
        push @inner, [$n, \@body] unless grep { $_ != $b && is_back($_) } @body;
    }
    my ($main) = sort { $b->[0] <=> $a->[0] } @inner; # sort is stable: the first on a tie
    my %mix;
    if ($main) { $mix{$_->{op}}++ for @{$main->[1]} }
    print join("\t", $fn, count_real(@$ins), $main ? $main->[0] : 0, $outer, map { $mix{$_} // 0 } @MIX), "\n";
}

my ($fn, @ins);
while (<>) {
    if (/^\s*Function : (\S+)/) {
        report($fn, \@ins) if defined $fn;
        ($fn, @ins) = ($1);
        next;
    }
    next unless defined $fn;
    # /*0a70*/   @!P0 BRA 0x7f0 ;   /*0x...*/     ->  address, predicate, base opcode, operands
    next unless m{^\s+/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_]*)(\.[A-Z0-9_.]+)?\s*([^;]*);};
    my %i = (addr => hex $1, pred => defined $2 ? 1 : 0, op => $3);
    $i{tgt} = hex $1 if $i{op} eq 'BRA' && $5 =~ /(0x[0-9a-f]+)\s*$/;
    push @ins, \%i;
}
report($fn, \@ins) if defined $fn;
