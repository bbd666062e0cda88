#!/usr/bin/env bash
# Installs the Debian packages seqbench needs, only those missing.
# As root with apt: installs them. Otherwise: prints the exact install line and exits 2.
# CUDA (nvcc, cuBLAS) is optional and never installed here: the Makefile uses it when present.
#
#   scripts/deps.sh          the build, test and plot dependencies
#   scripts/deps.sh slurm    only Slurm and munge (Debian's slurm-wlm: slurmctld, slurmd, sbatch) and
#                            iproute2, for tests/slurm/run.sh, the single-node Slurm test that CI runs
set -euo pipefail
group=${1:-build}

# package -> a file whose presence proves it is installed (cheaper and surer than dpkg -s on every run)
if [ "$group" = slurm ]; then
  declare -A PROBE=(
    [munge]=/usr/sbin/munged
    [slurm-wlm]=/usr/sbin/slurmctld
    [slurmd]=/usr/sbin/slurmd
    [slurm-client]=/usr/bin/sbatch
    [iproute2]=/usr/sbin/ip
  )
elif [ "$group" = build ]; then
  declare -A PROBE=(
    [pkg-config]=/usr/bin/pkg-config
    [libcsv-dev]=/usr/include/csv.h
    [libhwloc-dev]=/usr/include/hwloc.h
    [hwloc]=/usr/bin/lstopo-no-graphics
    [gnuplot-nox]=/usr/bin/gnuplot
    [libcriterion-dev]=/usr/include/criterion/criterion.h
    [libopenblas-openmp-dev]=/usr/include/$(gcc -dumpmachine 2>/dev/null || echo x86_64-linux-gnu)/openblas-openmp/cblas.h
    [valgrind]=/usr/bin/valgrind
    # make fuzz: clang with the libFuzzer + sanitizer runtimes, and the OpenMP runtime clang links
    [clang-14]=/usr/bin/clang-14
    [libclang-rt-14-dev]=/usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-x86_64.a
    [libomp-14-dev]=/usr/lib/llvm-14/lib/libomp.so
  )
else
  echo "deps: unknown group '$group' (build, slurm)" >&2
  exit 2
fi

missing=()
for pkg in "${!PROBE[@]}"; do
  if [ ! -e "${PROBE[$pkg]}" ] && ! dpkg -s "$pkg" >/dev/null 2>&1; then missing+=("$pkg"); fi
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all present"
  exit 0
fi
IFS=$'\n' missing=($(sort <<<"${missing[*]}")); unset IFS
line="apt-get install -y --no-install-recommends ${missing[*]}"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null || { echo "deps: apt-get update failed" >&2; exit 2; }
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { echo "deps: install failed: $line" >&2; exit 2; }
  echo "deps: done"
else
  echo "deps: missing ${missing[*]}; run as root:" >&2
  echo "  sudo $line" >&2
  exit 2
fi
