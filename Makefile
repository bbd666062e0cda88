# seqbench Makefile. `make` builds build/seqbench; `make test` installs what is missing, builds
# and runs the Criterion tests. CUDA parts are built whenever nvcc exists (the binary still runs
# without a GPU or driver); everything optional is announced, never required.
#
#   make [all]        build/seqbench (+ CUDA kernels if nvcc is found)
#   make test         deps + layering check + build + tests (golden cases, cpu vs ref, CLI, compare, ...)
#   make layering     every #include points down runtime -> layers -> kernels -> model -> registry -> bench
#   make bench        GPU paper preset if a GPU is present, else the CPU preset -> results/<machine>/
#   make plots        gnuplot figures from the results CSVs
#   make regress      quick preset on the GPU vs results/baseline/<gpu>.csv
#   make kernel-report  ptxas registers/spills/smem + SASS main loop per kernel -> results/kernels/<arch>.csv
#   make kernel-gate  that report vs the committed one (CI; fails on spills, +8 registers, loop +2%)
#   make speed-gate   callgrind instruction counts of the CPU kernels vs results/speed-gate/<arch>.csv
#   make speed-gate-update  rewrite that baseline on purpose (commit it with the reason)
#   make slurm-test   a sharded ci sweep through a real single-node Slurm (tests/slurm/run.sh; root, CI)
#   make deps         install missing Debian packages (scripts/deps.sh)
#   make asan-test    the tests under AddressSanitizer + UBSan (separate build dir)
#   make fuzz         each libFuzzer target (fuzz/) FUZZ_SECONDS s under ASan + UBSan (clang, build-fuzz/)
#   make emu-test     every CUDA kernel on cuemu, a CPU model of the GPU (g++ only, build-emu/,
#                     ~N min on 2 cores): the cuda rows of the tests run without a GPU (tests/cuemu/)
#   make clean
#
# BUILD=dir puts objects elsewhere (parallel work trees, sanitizer builds).

BUILD ?= build
CC ?= gcc
ifeq ($(origin CC),default)
CC := gcc
endif
# x86-64-v3 (AVX2+FMA), not -march=native: the binary travels to the GPU host, and callgrind
# (the CI speed gate) must see the same instructions on every machine.
ARCH_FLAGS ?= -march=x86-64-v3 -mtune=generic
OPT ?= -O3
SAN ?=
CFLAGS_BASE = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wno-format-truncation -g $(OPT) $(ARCH_FLAGS) -fopenmp $(SAN)
BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null)
ifeq ($(BLAS_LIBS),)
BLAS_LIBS := -lopenblas
endif
BLAS_LIBDIR := $(patsubst -L%,%,$(filter -L%,$(BLAS_LIBS)))
HWLOC_LIBS := $(shell pkg-config --libs hwloc 2>/dev/null || echo -lhwloc)
LIBS = $(BLAS_LIBS) $(addprefix -Wl$(comma)-rpath$(comma),$(BLAS_LIBDIR)) -lcsv $(HWLOC_LIBS) -lm -fopenmp
comma := ,

# ---- CUDA detection -----------------------------------------------------------------------
NVCC ?= $(shell command -v nvcc 2>/dev/null || ls /usr/local/cuda/bin/nvcc 2>/dev/null)
ifneq ($(NVCC),)
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(NVCC))
# Hopper: sm_90a for wgmma/setmaxnreg; sm_80 so that A100-class cards run too. With CI=true we
# never ask a GPU; otherwise a present GPU's own arch is added.
CUDA_GENCODE ?= -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_80,code=sm_80
NVCC_FLAGS = -O3 -std=c++17 $(CUDA_GENCODE) -lineinfo -Xptxas=--warn-on-spills \
             -Xcompiler=-fPIC,-Wall -DSB_HAVE_CUDA --expt-relaxed-constexpr
CUDA_LIBS = -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcublasLt -lcublas -lcudart -lstdc++
CUDA_DEF = -DSB_HAVE_CUDA
CU_SRCS := $(wildcard runtime/*.cu kernels/*.cu model/*.cu)
CUDA_STUB :=
else
CU_SRCS :=
CUDA_LIBS :=
CUDA_DEF :=
CUDA_STUB := runtime/cuda_stub.c
endif

CFLAGS = $(CFLAGS_BASE) $(BLAS_CFLAGS) $(CUDA_DEF)

# The library's floors, bottom to top (docs/DESIGN.md "Layout"; scripts/check_layering.sh keeps
# every #include pointing down): runtime -> layers -> kernels -> model -> registry -> bench.
LIB_SRCS := $(filter-out runtime/cuda_stub.c,$(wildcard runtime/*.c)) $(CUDA_STUB) $(wildcard layers/*.c) \
            $(wildcard kernels/*.c) $(wildcard model/*.c) $(wildcard registry/*.c) \
            $(filter-out bench/main.c,$(wildcard bench/*.c))
CU_OBJS := $(CU_SRCS:%.cu=$(BUILD)/%.cu.o)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(CU_OBJS)
TEST_SRCS := $(wildcard tests/*.c)
TEST_OBJS := $(TEST_SRCS:%.c=$(BUILD)/%.o)
DEPFILES := $(LIB_OBJS:.o=.d) $(TEST_OBJS:.o=.d) $(BUILD)/bench/main.d

.PHONY: all test layering bench plots regress kernel-report kernel-gate deps clean announce asan-test emu-test speed-gate \
        speed-gate-update speedgate-bin cuda-objects fuzz slurm-test

all: announce $(BUILD)/seqbench

announce:
	@printf '%s\n' "$(if $(NVCC),✓ nvcc $(shell $(NVCC) --version | sed -n 's/.*release \([0-9.]*\).*/\1/p') found: CUDA backend built ($(CUDA_GENCODE)),✗ nvcc not found: CUDA backend not built)"
	@printf '%s\n' "$(if $(shell pkg-config --exists openblas && echo y),✓ OpenBLAS ($(BLAS_LIBS)),✗ OpenBLAS not found via pkg-config: run make deps)"
	@printf '%s\n' "$(if $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo y),✓ GPU present,✗ no GPU: CUDA tests will be skipped)"

# Objects built with other flags (NVCC= for a CPU-only build, a sanitizer, another -march) are
# stale: the stamp holds this build's flags and changes, forcing a rebuild, only when they do.
FLAGS_STAMP := $(BUILD)/.build-flags
BUILD_FLAGS := $(CFLAGS) | $(NVCC) | $(CU_SRCS)
$(shell mkdir -p $(BUILD) && (printf '%s\n' '$(BUILD_FLAGS)' | cmp -s - $(FLAGS_STAMP) || printf '%s\n' '$(BUILD_FLAGS)' >$(FLAGS_STAMP)))
$(LIB_OBJS) $(TEST_OBJS) $(BUILD)/bench/main.o: $(FLAGS_STAMP)

$(BUILD)/libseqbench.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	@rm -f $@ # a fresh archive: ar rcs on an old one keeps members of sources since moved or deleted
	ar rcs $@ $^

$(BUILD)/seqbench: $(BUILD)/bench/main.o $(BUILD)/libseqbench.a
	$(CC) $(CFLAGS) -o $@ $^ $(CUDA_LIBS) $(LIBS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# ptxas's report of every kernel (--resource-usage: registers, spills, smem, per arch) is kept
# beside its object for scripts/kernel_report.sh, so the static gate compiles nothing twice; only
# what is not a ptxas info line (warnings: spills; errors) reaches the terminal.
PTXAS_INFO_FILTER = grep -v -e '^ptxas info' -e '^ *[0-9]* bytes stack frame'
$(BUILD)/%.cu.o $(BUILD)/%.cu.ptxas: %.cu
	@mkdir -p $(@D)
	$(NVCC) $(NVCC_FLAGS) -MMD -MP -c $< -o $(BUILD)/$*.cu.o --resource-usage 2>$(BUILD)/$*.cu.ptxas; \
	    rc=$$?; $(PTXAS_INFO_FILTER) $(BUILD)/$*.cu.ptxas >&2; exit $$rc

# ---- tests ----------------------------------------------------------------------------------
$(BUILD)/tests/run_tests: $(TEST_OBJS) $(BUILD)/libseqbench.a
	$(CC) $(CFLAGS) -o $@ $^ -lcriterion $(CUDA_LIBS) $(LIBS)

# Tests run from the repo root (they read tests/golden and tests/fixtures) and find the binary
# through SEQBENCH_BIN. --jobs 2: a CI machine has two cores.
# tests/test_speedgate.c runs scripts/speed_gate.sh on the CPU-only gate binary built here.
test: deps layering all $(BUILD)/tests/run_tests speedgate-bin
	SEQBENCH_BIN=$(BUILD)/seqbench $(BUILD)/tests/run_tests --jobs 2 $(TEST_ARGS)

# Every #include points down the floors runtime -> layers -> kernels -> model -> registry -> bench
# (scripts/check_layering.sh; tests/test_layering.c shows it failing on a planted upward include).
layering:
	@scripts/check_layering.sh

asan-test:
	$(MAKE) BUILD=build-asan OPT=-O1 SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    build-asan/seqbench build-asan/tests/run_tests
	ASAN_OPTIONS=detect_leaks=1 SEQBENCH_BIN=build-asan/seqbench build-asan/tests/run_tests --jobs 1 $(TEST_ARGS)

# libFuzzer targets (fuzz/fuzz_*.c) for the parsers of files and options a user hands over, built
# with clang under ASan + UBSan in build-fuzz/ (CPU only), each run FUZZ_SECONDS seconds from the
# test inputs by scripts/fuzz.sh. A crash found becomes a case of tests/test_fuzz_regress.c.
FUZZ_SECONDS ?= 10
FUZZ_CC ?= $(shell command -v clang-14 2>/dev/null || command -v clang 2>/dev/null)
FUZZ_SAN = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined \
           -Wno-unknown-warning-option -Wno-unknown-pragmas
FUZZ_BINS := $(patsubst fuzz/%.c,build-fuzz/fuzz/%,$(wildcard fuzz/fuzz_*.c))
fuzz:
	@if [ -z "$(FUZZ_CC)" ]; then echo "make fuzz: clang not found (scripts/deps.sh installs clang-14)"; exit 2; fi
	@$(MAKE) -s BUILD=build-fuzz NVCC= CC=$(FUZZ_CC) OPT=-O1 SAN="$(FUZZ_SAN)" $(FUZZ_BINS)
	@scripts/fuzz.sh $(FUZZ_SECONDS) $(FUZZ_BINS)
$(BUILD)/fuzz/%: fuzz/%.c $(BUILD)/libseqbench.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $^ $(LIBS)

# The whole project with kernels/*.cu on the CPU model (tests/cuemu/run.sh; not part of `make test`).
emu-test:
	@tests/cuemu/run.sh $(TEST_ARGS)

deps:
	@scripts/deps.sh

# The sharded sweep through Slurm: munged, slurmctld and slurmd on loopback, a 3-task array + merge.
slurm-test: all
	SEQBENCH_BIN=$(BUILD)/seqbench tests/slurm/run.sh

# ---- benchmarks (bench/, plots/) -------------------------------------------------------------
# The sha goes into the binary as a fallback for machines where `git rev-parse` cannot run.
GIT_SHA := $(shell git rev-parse --short=12 HEAD 2>/dev/null)
$(BUILD)/bench/meta.o: CFLAGS += -DSB_GIT_SHA='"$(GIT_SHA)"'
SEQBENCH = $(BUILD)/seqbench
# The newest results CSV (not baselines, not kernel reports).
NEWEST_CSV = $(shell ls -t results/*/*.csv 2>/dev/null | grep -v -e '^results/baseline/' -e '^results/kernels/' | head -n 1)

bench: all
	$(SEQBENCH) run $(BENCH_ARGS)

plots: all
	@if [ -z "$(NEWEST_CSV)" ]; then echo "make plots: no results CSV under results/ (run make bench first)"; exit 1; fi
	SEQBENCH_BIN=$(SEQBENCH) plots/make_plots.sh $(NEWEST_CSV)

# Quick preset on the GPU vs results/baseline/<gpu>.csv; exit 1 on a regression (seqbench compare).
regress: all
	@if ! $(SEQBENCH) info --has-gpu; then echo "make regress: no GPU on this machine: nothing to measure (ok)"; exit 0; fi; \
	base=results/baseline/$$($(SEQBENCH) info --slug).csv; \
	new=$$($(SEQBENCH) run --preset quick) || exit $$?; \
	if [ ! -f "$$base" ]; then echo "make regress: no baseline $$base yet; to adopt this run: cp $$new $$base"; exit 0; fi; \
	$(SEQBENCH) compare "$$base" "$$new"

# ptxas registers/spills/smem and SASS main-loop size of every kernel -> results/kernels/<arch>.csv
# (commit it); kernel-gate compares a fresh report with the committed one (CI). Both read the
# objects of the normal build (cuda-objects) and fetch cuobjdump if needed (scripts/cuda_tools.sh).
cuda-objects: $(CU_OBJS) $(CU_OBJS:.o=.ptxas)
kernel-report: cuda-objects
	@BUILD=$(BUILD) KERNEL_REPORT_NO_BUILD=1 scripts/kernel_report.sh sm_90a
kernel-gate: cuda-objects
	@BUILD=$(BUILD) KERNEL_REPORT_NO_BUILD=1 scripts/kernel_gate.sh sm_90a

# CPU kernel-speed gate: callgrind instruction counts vs results/speed-gate/<arch>.csv (CI).
# The gate runs a CPU-only build (NVCC= in $(BUILD)/speedgate-cpu): same CPU kernels, counts that
# do not depend on nvcc being present, and no cuBLAS for valgrind to load at every start.
$(BUILD)/speedgate: bench/speedgate/sg_main.c $(BUILD)/libseqbench.a
	$(CC) $(CFLAGS) -o $@ $^ $(CUDA_LIBS) $(LIBS)
speedgate-bin:
	@$(MAKE) -s BUILD=$(BUILD)/speedgate-cpu NVCC= $(BUILD)/speedgate-cpu/speedgate
speed-gate: speedgate-bin
	@BUILD=$(BUILD) SPEED_GATE_NO_BUILD=1 scripts/speed_gate.sh
speed-gate-update: speedgate-bin
	@BUILD=$(BUILD) SPEED_GATE_NO_BUILD=1 scripts/speed_gate.sh --update

clean:
	rm -rf $(BUILD) build-asan build-emu build-fuzz

-include $(DEPFILES)
