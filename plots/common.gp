# common.gp: loaded first by every figure script of plots/ (SPEC §13).
# In: datadir (the .dat files and vars.gp written by `seqbench plotdata`), outdir, plotsdir.
# Gives: subtitle and titles (vars.gp), series(pattern) = the .dat files of a panel, the axes.
load datadir.'/vars.gp'
set print '-'   # messages ("no data") on stdout: stderr stays for real problems
series(pattern) = system('ls '.datadir.'/'.pattern.' 2>/dev/null')
set logscale x 2
set xtics ('16' 16, '32' 32, '64' 64, '128' 128, '256' 256, '512' 512, '1k' 1024, '2k' 2048, '4k' 4096, '8k' 8192, '16k' 16384, '32k' 32768)
set xrange [xmin / 1.3 : xmax * 1.3]
set xlabel 'context length T (tokens)'
set grid xtics ytics mytics
set key outside right top
set style data linespoints
set pointsize 0.8
