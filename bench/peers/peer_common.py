"""peer_common.py: what every peer script shares (SPEC §6, §7, §8, §12).

- The timing protocol of SPEC §7: CUDA events on the current stream, >= 3 warm-up calls (JIT and
  autotune land there), >= 10 samples, stop when stdev/mean < 0.5 % or after 2 s of sampling,
  never sample longer than 15 s; op-level samples are cold: a buffer of 2x the L2 size is zeroed
  before each one (outside the timed region). The SM clock is read once per point from NVML (ctypes).
  The same sample rule as bench/timing.c (sb_sample_done), so peers and seqbench stop alike.
- The CSV of SPEC §8: exactly its columns in its order, header written when the file is new,
  one row appended, flushed and fsynced at a time (an interrupted run loses no finished row).
- The analytic FLOP and byte counts of SPEC §6, one function per layer, mirroring layers/*.c
  (attention.c, mamba.c, ttt_common.c) so that peers' TFLOP/s and GB/s compare with ours.
- run_point(): builds a point, checks its first output for NaN/Inf, times it, and writes one row
  with status ok / oom / nan / skipped / error; one failing point never stops the sweep.

Pure Python (csv, json, subprocess) plus torch; nothing here needs a GPU to be imported, and the
CSV, sample-rule and count functions need no torch at all (bench/peers/test_peer_common.py).
"""
import argparse
import csv
import ctypes
import gc
import io
import json
import math
import os
import platform
import socket
import subprocess
import sys
import time
import traceback

try:  # the CSV, protocol and count functions need no torch (test_peer_common.py runs without it)
    import torch
except ImportError:
    torch = None

COLUMNS = [
    "run_id", "utc", "git_sha", "host", "cpu_model", "threads", "gpu", "gpu_sms", "gpu_clock_mhz",
    "cuda", "driver", "backend", "layer", "impl", "level", "mode", "dtype", "config", "batch", "ctx",
    "d_model", "heads", "head_dim", "d_state", "mini_batch", "n_layers", "samples", "median_ms",
    "min_ms", "max_ms", "noise", "tokens", "us_per_token", "flops", "tflops", "bytes", "gbps",
    "pct_peak_flops", "pct_peak_bw", "state_bytes", "peak_mem_bytes", "status", "note",
    # SPEC §14: later columns, at the end in this order (readers accept files without them)
    "shard", "blas", "joules_per_token", "watts", "setup_s",
]
V1_NCOLS = COLUMNS.index("note") + 1
STATUSES = ("ok", "oom", "nan", "skipped", "error")
REPO_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# Model widths of SPEC §3.4 (attention/TTT: D, H, d; Mamba: D, E, N). `tiny` = the golden cases.
CONFIGS = {
    "1.3b": dict(d_model=2048, heads=32, head_dim=64),
    "125m": dict(d_model=768, heads=12, head_dim=64),
    "tiny": dict(d_model=64, heads=4, head_dim=16),
}
MAMBA_CONFIGS = {
    "1.4b": dict(d_model=2048, d_inner=4096, d_state=16),
    "125m": dict(d_model=768, d_inner=1536, d_state=16),
    "tiny": dict(d_model=64, d_inner=128, d_state=16),
}
# Mamba-2 (spec/mamba2.md §5: the mamba2-130m / mamba2-1.3b widths, every mixer setting at its default).
MAMBA2_CONFIGS = {
    "1.3b": dict(d_model=2048, d_inner=4096, headdim=64, d_state=128, ngroups=1, chunk_size=256),
    "125m": dict(d_model=768, d_inner=1536, headdim=64, d_state=128, ngroups=1, chunk_size=256),
    "tiny": dict(d_model=64, d_inner=128, headdim=16, d_state=16, ngroups=1, chunk_size=16),
}
GDN_CONFIGS = {  # spec/gated_deltanet.md §5 (layers/gated_deltanet.c)
    "1.3b": dict(d_model=2048, heads=6, head_dim=256, head_v_dim=512),
    "125m": dict(d_model=768, heads=9, head_dim=64, head_v_dim=128),
    "tiny": dict(d_model=64, heads=2, head_dim=16, head_v_dim=32),
}
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}


def torch_dtype(name):
    return getattr(torch, DTYPES[name])


# ---- torch on the CPU (build/peers-venv) ---------------------------------------------------------
VENV = os.path.join(REPO_ROOT, "build", "peers-venv")


def install_torch():
    """Creates build/peers-venv and installs torch from PyPI into it (the only registry we use; the
    PyPI wheel brings CUDA libraries too, ~3 GB)."""
    if not os.path.exists(os.path.join(VENV, "bin", "python")):
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
    pip = os.path.join(VENV, "bin", "pip")
    subprocess.check_call([pip, "install", "--upgrade", "pip"])
    subprocess.check_call([pip, "install", "torch", "numpy"])  # numpy: torch warns without it
    print(f"torch installed in {VENV}", file=sys.stderr)


def import_torch_or_exit(script):
    """torch from this interpreter, else from build/peers-venv (re-executing the script with its
    python), else exit 3 with one line (the callers' scripts treat 3 as 'torch missing: skipped')."""
    if torch is not None:
        return torch
    vpy = os.path.join(VENV, "bin", "python")
    # a venv's python is a symlink to the system one: tell them apart by sys.prefix
    if os.path.exists(vpy) and os.path.realpath(sys.prefix) != os.path.realpath(VENV):
        os.execv(vpy, [vpy] + sys.argv)
    print(f"{script}: torch is not installed; run it once with --install", file=sys.stderr)
    sys.exit(3)


# ---- shapes from the command line --------------------------------------------------------------
def parse_size(s):
    """'1k' -> 1024, '32k' -> 32768, '100' -> 100."""
    s = s.strip().lower()
    mult = 1
    if s.endswith("k"):
        s, mult = s[:-1], 1024
    v = int(s) * mult
    if v <= 0:
        raise argparse.ArgumentTypeError(f"size must be > 0: {s!r}")
    return v


def parse_ctx(spec):
    """'1k:32k' -> powers of two from 1k to 32k; '1k,4k,16k' -> that list; '512' -> [512]."""
    out = []
    for part in spec.split(","):
        if ":" in part:
            lo, hi = (parse_size(x) for x in part.split(":", 1))
            if lo > hi:
                raise argparse.ArgumentTypeError(f"empty range {part!r}")
            v = lo
            while v <= hi:
                out.append(v)
                v *= 2
        else:
            out.append(parse_size(part))
    return out


def parse_ints(spec):
    return [parse_size(x) for x in spec.split(",") if x.strip()]


def size_label(n):
    return f"{n // 1024}k" if n % 1024 == 0 else str(n)


# ---- sample rule and statistics (bench/timing.c) -----------------------------------------------
class SampleRule:
    def __init__(self, warmup=3, min_samples=10, max_samples=1000, target_noise=0.005, soft_s=2.0, hard_s=15.0):
        self.warmup, self.min_samples, self.max_samples = warmup, min_samples, max_samples
        self.target_noise, self.soft_s, self.hard_s = target_noise, soft_s, hard_s


def stats(ms):
    """median, min, max, mean and noise = sample stdev / mean (0 for fewer than 2 samples)."""
    n = len(ms)
    if n == 0:
        return dict(n=0, median=0.0, min=0.0, max=0.0, mean=0.0, noise=0.0)
    s = sorted(ms)
    median = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    mean = sum(s) / n
    noise = 0.0
    if n > 1 and mean > 0:
        noise = math.sqrt(sum((x - mean) ** 2 for x in s) / (n - 1)) / mean
    return dict(n=n, median=median, min=s[0], max=s[-1], mean=mean, noise=noise)


def sample_done(rule, ms, elapsed_s):
    """The hard cap wins; then at least min_samples; then stop on max_samples, soft_s, or low noise."""
    if elapsed_s >= rule.hard_s:
        return True
    if len(ms) < rule.min_samples:
        return False
    if len(ms) >= rule.max_samples or elapsed_s >= rule.soft_s:
        return True
    return stats(ms)["noise"] < rule.target_noise


# ---- timers ------------------------------------------------------------------------------------
class CudaTimer:
    """CUDA events on the current stream; an L2 flush (memset of 2x L2) before each cold sample."""

    def __init__(self, rule, flush=True):
        self.rule = rule
        props = torch.cuda.get_device_properties(torch.cuda.current_device())
        self.l2_bytes = int(getattr(props, "L2_cache_size", 0) or 64 << 20)
        self.flush_buf = torch.empty(2 * self.l2_bytes // 4, dtype=torch.int32, device="cuda") if flush else None

    def sync(self):
        torch.cuda.synchronize()

    def measure(self, fn):
        for _ in range(self.rule.warmup):
            fn()
        torch.cuda.synchronize()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        ms, t0 = [], time.monotonic()
        while True:
            if self.flush_buf is not None:
                self.flush_buf.zero_()
            start.record()
            fn()
            end.record()
            end.synchronize()
            ms.append(start.elapsed_time(end))
            if sample_done(self.rule, ms, time.monotonic() - t0):
                return ms


class CpuTimer:
    """Monotonic wall clock around each call (CPU smoke runs; no cache flush)."""

    def __init__(self, rule):
        self.rule = rule
        self.flush_buf = None

    def sync(self):
        pass

    def measure(self, fn):
        t0 = time.monotonic()
        for _ in range(self.rule.warmup):  # fewer once they took soft_s, as bench/measure.c on the host
            fn()
            if time.monotonic() - t0 >= self.rule.soft_s:
                break
        ms, t0 = [], time.monotonic()
        while True:
            a = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - a) * 1e3)
            if sample_done(self.rule, ms, time.monotonic() - t0):
                return ms


_NVML = []  # [(lib, device handle)] once loaded, [None] when NVML is not there


def _nvml():
    """NVML (libnvidia-ml.so.1) and the handle of GPU 0, loaded once; None without a driver."""
    if not _NVML:
        _NVML.append(None)
        try:
            lib = ctypes.CDLL("libnvidia-ml.so.1")
            dev = ctypes.c_void_p()
            if lib.nvmlInit_v2() == 0 and lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(dev)) == 0:
                _NVML[0] = (lib, dev)
        except (OSError, AttributeError):
            pass
    return _NVML[0]


def sm_clock_mhz():
    """Current SM clock of GPU 0 in MHz from NVML (as bench/ reads it, no process forked per
    point), '' when it cannot be read."""
    nv = _nvml()
    if nv is None:
        return ""
    mhz = ctypes.c_uint(0)
    nvml_clock_sm = 1
    return mhz.value if nv[0].nvmlDeviceGetClockInfo(nv[1], nvml_clock_sm, ctypes.byref(mhz)) == 0 else ""


# ---- metadata (bench/meta.c) --------------------------------------------------------------------
def _version_string(v):
    """13000 -> '13.0', 12040 -> '12.4' (cudaRuntimeGetVersion / cuDriverGetVersion encoding)."""
    return f"{v // 1000}.{(v % 1000) // 10}" if v > 0 else ""


def _cuda_driver_version():
    for name in ("libcuda.so.1", "libcuda.so"):
        try:
            lib = ctypes.CDLL(name)
            v = ctypes.c_int(0)
            if lib.cuDriverGetVersion(ctypes.byref(v)) == 0:
                return _version_string(v.value)
        except OSError:
            continue
    return ""


def _git_sha():
    sha = os.environ.get("SEQBENCH_GIT_SHA", "")
    if sha:
        return sha
    try:
        out = subprocess.run(["git", "-C", REPO_ROOT, "rev-parse", "--short=12", "HEAD"],
                             capture_output=True, text=True, timeout=10)
        sha = out.stdout.strip() if out.returncode == 0 else ""
        if sha:
            st = subprocess.run(["git", "-C", REPO_ROOT, "status", "--porcelain", "--untracked-files=no"],
                                capture_output=True, text=True, timeout=10)
            if st.returncode == 0 and st.stdout.strip():
                sha += "-dirty"
    except Exception:
        sha = ""
    return sha or "unknown"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or ""


def utc_now(compact=False):
    return time.strftime("%Y%m%dT%H%M%SZ" if compact else "%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class Meta:
    """Columns that are the same for every row of one process."""

    def __init__(self, device, run_id=None):
        self.device = device
        self.cols = dict(
            run_id=run_id or os.environ.get("SEQBENCH_RUN_ID") or f"{utc_now(True)}-{os.getpid() & 0xffff:04x}",
            git_sha=_git_sha(), host=socket.gethostname(), cpu_model=_cpu_model(),
            threads=torch.get_num_threads(), gpu="", gpu_sms="", cuda="", driver="",
        )
        if device == "cuda":
            try:  # may fail only in --fill-missing mode, where the GPU need not work
                p = torch.cuda.get_device_properties(torch.cuda.current_device())
                self.cols.update(threads=1, gpu=p.name, gpu_sms=p.multi_processor_count,
                                 cuda=torch.version.cuda or "", driver=_cuda_driver_version())
            except Exception:
                self.cols.update(threads=1, cuda=torch.version.cuda or "")


# ---- CSV ---------------------------------------------------------------------------------------
def _fmt(v, count=False):
    """Measured numbers with 6 significant digits, counts in full, NaN/Inf/None -> '' (results.c)."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v) or math.isinf(v):
            return ""
        return f"{v:.0f}" if count else f"{v:.6g}"
    return str(v)


COUNT_COLUMNS = {"flops", "bytes", "state_bytes", "peak_mem_bytes", "tokens"}


class CsvOut:
    """Appends rows of exactly COLUMNS; header if the file is new; each row fsynced."""

    def __init__(self, path):
        self.path = path
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        if os.path.exists(path) and os.path.getsize(path) > 0:
            self._trim_partial()
            with open(path, newline="") as f:
                header = next(csv.reader(f), None)
            # this schema or an older one it extends (SPEC §14): rows keep the file's width
            if not header or len(header) < V1_NCOLS or header != COLUMNS[:len(header)]:
                raise SystemExit(f"{path}: existing header differs from SPEC §8 columns; refusing to append")
            self.columns = header
        else:
            self.columns = COLUMNS
            self._append(COLUMNS)

    def _trim_partial(self):
        """A row torn by a kill (no final newline) is cut back to the last newline."""
        with open(self.path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)

    def _append(self, cells):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, buf.getvalue().encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def write(self, row):
        unknown = set(row) - set(COLUMNS)
        if unknown:
            raise KeyError(f"not CSV columns: {sorted(unknown)}")
        if row.get("status") not in STATUSES:
            raise ValueError(f"bad status {row.get('status')!r}")
        self._append([_fmt(row.get(c, ""), c in COUNT_COLUMNS) for c in self.columns])


# ---- analytic counts (SPEC §6; the same formulas as layers/*.c, op level) ---------------------
def attention_counts(mode, B, T, D, H, d, s):
    """layers/attention.c, level op."""
    tokens = B * T if mode == "prefill" else B
    flops = 4.0 * B * H * T * T * d / 2.0 if mode == "prefill" else 4.0 * B * H * T * d
    nbytes = tokens * 4.0 * D * s + tokens * 2.0 * D * s
    if mode == "decode":
        nbytes += 2.0 * B * T * D * s
    note = ("counts: flops 4BHT^2d/2 causal (prefill) or 4BHTd (decode), multiply-add=2; "
            f"bytes q,k,v,o + k,v cache write (+ cache read 2BTDs in decode), s={s}")
    return dict(flops=flops, bytes=nbytes, state_bytes=2.0 * B * T * D * s, note=note)


def mamba_counts(mode, B, T, E, N, s):
    """layers/mamba.c, level op."""
    tokens = B * T if mode == "prefill" else B
    flops = tokens * (9.0 * E * N + 2.0 * E)
    nbytes = tokens * (4.0 * E + 2.0 * N) * s
    if mode == "decode":
        nbytes += 2.0 * B * E * N * 4
    note = ("counts: flops 9BTEN + 2BTE (scan, D-skip, gate), multiply-add=2; bytes u,delta,z,y + B,C "
            f"per token, s={s} (+ fp32 state r+w 2BEN*4 in decode)")
    return dict(flops=flops, bytes=nbytes, state_bytes=B * E * N * 4.0, note=note)


def mamba2_counts(mode, B, T, E, H, N, G, Q, s):
    """layers/mamba2.c, level op (spec/mamba2.md §6): prefill counts the chunked (SSD) algorithm."""
    P = E // H
    if mode == "prefill":
        nc = (T + Q - 1) // Q
        r = T - (nc - 1) * Q
        pairs = (nc - 1) * Q * (Q + 1) / 2 + r * (r + 1) / 2
        flops = B * (2.0 * pairs * (G * N + E) + 4.0 * T * E * N + 2.0 * nc * E * N + 2.0 * T * E)
        nbytes = s * B * T * (2.0 * E + H + 2.0 * G * N)
    else:
        flops = B * (5.0 * E * N + 3.0 * E)
        nbytes = s * B * (2.0 * E + H + 2.0 * G * N) + 2.0 * B * 4 * H * P * N
    note = ("counts: SSD chunked 2*pairs*(GN+E) + 4TEN + 2*nc*EN + 2TE (prefill), 5EN + 3E (decode step), "
            f"multiply-add=2; bytes x,dt,B,C in + y out (s={s}) (+ fp32 state r+w in decode)")
    return dict(flops=flops, bytes=nbytes, state_bytes=B * H * P * N * 4.0, note=note)


def ttt_linear_counts(impl, B, T, D, H, d, b, s):
    """layers/ttt_common.c, TTT-Linear, level op, prefill: dual 6d^2+6bd, primal 8d^2 per token per head."""
    tokens = B * T
    primal = "primal" in impl
    per_head = 8.0 * d * d if primal else 6.0 * d * d + 6.0 * b * d
    P = d * d + d
    nbytes = tokens * (4.0 * D + H) * s + (H * P + B * H * P) * 4.0
    note = ("counts: flops per token per head " + ("8d^2 (primal)" if primal else "6d^2+6bd (dual)")
            + ", LN/O(d) terms not counted, multiply-add=2; bytes XQ,XK,XV,lr in + O out "
            f"(s={s}) + initial W,b read (H(d^2+d)*4) + final state written (BH(d^2+d)*4)")
    return dict(flops=tokens * H * per_head, bytes=nbytes, state_bytes=B * H * 2.0 * P * 4.0, note=note)


def gdn_counts(mode, chunked, B, T, H, K, V, C, s):
    """layers/gated_deltanet.c, level op: chunked prefill 6KV + C(6K+4V) + C^2/3 per token and head (full
    C x C tiles), recurrent (sequential prefill, decode) 7KV; bytes q,k,v,g,beta,o per token (+ per-chunk
    states 2HKV*4 per C tokens when chunked; + fp32 state r+w 2BHKV*4 in decode)."""
    tokens = B * T if mode == "prefill" else B
    chunked = chunked and mode == "prefill"
    per = 6.0 * K * V + C * (6.0 * K + 4.0 * V) + C * C / 3.0 if chunked else 7.0 * K * V
    nbytes = tokens * H * (2.0 * K + 2.0 * V + 2.0) * s
    if chunked:
        nbytes += B * ((T + C - 1) // C) * 2.0 * H * K * V * 4
    if mode == "decode":
        nbytes += 2.0 * B * H * K * V * 4
    note = ("counts: flops per token per head " + ("6KV+C(6K+4V)+C^2/3 (chunked; full CxC tiles, no causal halving)"
            if chunked else "7KV (recurrent)") + f", multiply-add=2; bytes q,k,v,g,beta in + o out (s={s})"
            + (" + chunk states 2HKV*4 per C tokens" if chunked else "")
            + (" + fp32 state r+w 2BHKV*4" if mode == "decode" else ""))
    return dict(flops=tokens * H * per, bytes=nbytes, state_bytes=B * H * K * V * 4.0, note=note)


# ---- peaks -------------------------------------------------------------------------------------
def load_peaks(path):
    """JSON {"bf16_tflops": 989, "fp32_tflops": 67, "gbps": 3350} or CSV lines `key,value`.
    'tflops' is taken for bf16; 'bw_gbps' for gbps. Missing -> pct columns left empty."""
    if not path:
        return {}
    with open(path) as f:
        text = f.read()
    try:
        raw = json.loads(text)
    except ValueError:
        raw = {}
        for rec in csv.reader(io.StringIO(text)):
            if len(rec) >= 2:
                try:
                    raw[rec[0].strip()] = float(rec[1])
                except ValueError:
                    pass  # a header line
    peaks = {}
    for k, v in raw.items():
        k = k.strip().lower()
        if k in ("tflops", "bf16_tflops", "peak_bf16_tflops"):
            peaks["bf16_tflops"] = float(v)
        elif k in ("fp16_tflops", "fp32_tflops"):
            peaks[k] = float(v)
        elif k in ("gbps", "bw_gbps", "peak_gbps"):
            peaks["gbps"] = float(v)
    return peaks


# ---- one point ---------------------------------------------------------------------------------
KEY_COLUMNS = ("backend", "layer", "impl", "level", "mode", "dtype", "config", "batch", "ctx")


def point_key(fields):
    """The key of a point (SPEC §10), as strings."""
    return tuple(_fmt(fields.get(c, "")) for c in KEY_COLUMNS)


def read_keys(path, run_id):
    """Keys of the rows of `run_id` already in the CSV at path."""
    keys = set()
    if os.path.exists(path):
        with open(path, newline="") as f:
            for rec in csv.DictReader(f):
                if rec.get("run_id") == run_id:
                    keys.add(tuple(rec.get(c, "") for c in KEY_COLUMNS))
    return keys


def _tensors(out):
    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (tuple, list)):
        return [t for t in out if isinstance(t, torch.Tensor)]
    return []


def all_finite(out):
    return all(bool(torch.isfinite(t).all()) for t in _tensors(out) if t.is_floating_point())


def is_oom(exc):
    if isinstance(exc, MemoryError):
        return True
    if hasattr(torch.cuda, "OutOfMemoryError") and isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    msg = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in msg or "not enough memory" in msg)


class Peer:
    """One peer script's context: device, timer, metadata, CSV and peaks."""

    def __init__(self, args):
        self.device = args.device
        self.fill = args.fill_missing
        if self.device == "cuda" and not self.fill and not torch.cuda.is_available():
            raise SystemExit("--device cuda but torch sees no GPU (use --device cpu for the smoke mode)")
        rule = SampleRule(min_samples=args.min_samples, soft_s=args.soft_s, hard_s=args.hard_s)
        self.timer = None if self.fill else CudaTimer(rule) if self.device == "cuda" else CpuTimer(rule)
        self.meta = Meta(self.device, args.run_id)
        self.out = CsvOut(args.out)
        self.done = read_keys(args.out, self.meta.cols["run_id"]) if self.fill else set()
        self.peaks = load_peaks(args.peaks)
        self.verbose = not args.quiet
        self.counts = {s: 0 for s in STATUSES}

    def row(self, fields):
        r = dict(self.meta.cols)
        r.update(fields)
        return r

    def _finish_counts(self, row, counts, median_ms):
        row["flops"], row["bytes"], row["state_bytes"] = counts["flops"], counts["bytes"], counts["state_bytes"]
        if median_ms and median_ms > 0 and counts["flops"] is not None and counts["bytes"] is not None:
            s = median_ms * 1e-3
            row["tflops"] = counts["flops"] / s / 1e12
            row["gbps"] = counts["bytes"] / s / 1e9
            pk = self.peaks.get(f"{row.get('dtype', 'bf16')}_tflops") or self.peaks.get("bf16_tflops")
            if pk:
                row["pct_peak_flops"] = 100.0 * row["tflops"] / pk
            if self.peaks.get("gbps"):
                row["pct_peak_bw"] = 100.0 * row["gbps"] / self.peaks["gbps"]

    def _note(self, row, *parts):
        row["note"] = "; ".join(p for p in [row.get("note", "")] + list(parts) if p)

    def emit(self, row):
        row["utc"] = utc_now()
        self.out.write(row)
        self.counts[row["status"]] += 1
        if self.verbose:
            what = " ".join(str(row.get(k, "")) for k in ("backend", "impl", "mode", "batch", "ctx"))
            val = f"{row['median_ms']:.4g} ms" if row["status"] == "ok" else row["note"][:200]
            print(f"[{row['status']:>7}] {what}: {val}", flush=True)

    def _filled(self, fields, counts):
        """--fill-missing: an error row for a point this run has no row for; True if handled."""
        if not self.fill:
            return False
        if point_key(fields) not in self.done:
            row = self.row(fields)
            row["status"] = "error"
            row["flops"], row["bytes"], row["state_bytes"] = counts["flops"], counts["bytes"], counts["state_bytes"]
            self._note(row, f"peer process failed before this point: {self.fill}", counts["note"])
            self.emit(row)
        return True

    def skip(self, fields, counts, reason):
        if self._filled(fields, counts):
            return
        row = self.row(fields)
        row["status"] = "skipped"
        row["flops"], row["bytes"], row["state_bytes"] = counts["flops"], counts["bytes"], counts["state_bytes"]
        self._note(row, reason, counts["note"])
        self.emit(row)

    def error(self, fields, counts, reason):
        if self._filled(fields, counts):
            return
        row = self.row(fields)
        row["status"] = "error"
        self._note(row, reason, counts["note"] if counts else "")
        self.emit(row)

    def run_point(self, fields, counts, build, extra_note=""):
        """build() allocates the inputs and returns fn (no arguments, returns the output).
        fields: the point's columns (backend, layer, impl, level, mode, dtype, config, batch, ctx,
        shapes, tokens). counts: from *_counts(). One row is written whatever happens."""
        if self._filled(fields, counts):
            return "error"
        row = self.row(fields)
        row["status"] = "error"
        fn = out = None
        cuda = self.device == "cuda"
        try:
            if cuda:
                torch.cuda.synchronize()
                base = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            fn = build()
            t_first = time.perf_counter()
            out = fn()
            self.timer.sync()
            first_ms = (time.perf_counter() - t_first) * 1e3
            finite = all_finite(out)
            out = None
            if not finite:
                row["status"] = "nan"
                self._note(row, "NaN/Inf in the output of the first call")
            else:
                # a host call over the hard cap is made once: the first call is the only sample
                # (bench/measure.c does the same)
                once = not cuda and first_ms >= self.timer.rule.hard_s * 1e3
                ms = [first_ms] if once else self.timer.measure(fn)
                if once:
                    self._note(row, f"one sample: the first call took {first_ms / 1e3:.1f} s, over the "
                                    f"{self.timer.rule.hard_s:g} s cap")
                st = stats(ms)
                row.update(samples=st["n"], median_ms=st["median"], min_ms=st["min"], max_ms=st["max"],
                           noise=st["noise"])
                tokens = fields["tokens"]
                row["us_per_token"] = st["median"] * 1e3 / tokens
                self._finish_counts(row, counts, st["median"])
                if cuda:
                    row["gpu_clock_mhz"] = sm_clock_mhz()
                    row["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated() - base)
                if st["n"] < self.timer.rule.min_samples:
                    self._note(row, f"only {st['n']} samples within the {self.timer.rule.hard_s:g} s cap")
                row["status"] = "ok"
        except Exception as exc:  # one point never stops the sweep
            row["status"] = "oom" if is_oom(exc) else "error"
            msg = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
            self._note(row, msg[:300])
            if row["status"] == "error":
                traceback.print_exc(limit=6)  # into the log; the row keeps the first line
            exc = None
        finally:
            fn = out = None
            gc.collect()
            if cuda:
                try:  # after a sticky CUDA error these raise too; the next point will say so
                    torch.cuda.synchronize()
                    torch.cuda.empty_cache()
                except Exception:
                    pass
        if row["status"] != "ok":
            row["flops"], row["bytes"], row["state_bytes"] = counts["flops"], counts["bytes"], counts["state_bytes"]
        self._note(row, extra_note, counts["note"])
        self.emit(row)
        return row["status"]

    def summary(self, name):
        parts = ", ".join(f"{k} {v}" for k, v in self.counts.items() if v)
        print(f"{name}: {sum(self.counts.values())} rows ({parts}) -> {self.out.path}", flush=True)


def common_args(description, default_config):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", choices=["cuda", "cpu"], default="cuda",
                   help="cuda (the GPU box) or cpu (smoke mode: tiny shapes unless given, Triton ops skipped)")
    p.add_argument("--out", default="peers.csv", help="CSV to append to (SPEC §8 columns)")
    p.add_argument("--config", default=None, help=f"model widths (default {default_config}; tiny on cpu)")
    p.add_argument("--ctx", type=parse_ctx, default=None, help="contexts, e.g. 1k:32k or 1k,4k,16k")
    p.add_argument("--batch", type=parse_size, default=None, help="prefill batch (default 16; 2 on cpu)")
    p.add_argument("--peaks", default=None, help="JSON/CSV with bf16_tflops and gbps of the GPU (pct columns)")
    p.add_argument("--run-id", default=None, help="run_id column (default $SEQBENCH_RUN_ID or utc-pid)")
    p.add_argument("--min-samples", type=int, default=10)
    p.add_argument("--soft-s", type=float, default=2.0, help="stop sampling after this once min samples are in")
    p.add_argument("--hard-s", type=float, default=15.0, help="never sample a point longer")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--fill-missing", metavar="REASON", default=None,
                   help="time nothing: write an error row (note REASON) for each point of this run_id that has "
                        "no row yet (run_peers.sh uses it after a peer crashed or timed out)")
    return p


def resolve_defaults(args, default_config, gpu_ctx="1k:32k", cpu_ctx="64,128"):
    """Tiny shapes on cpu unless given explicitly."""
    cpu = args.device == "cpu"
    if args.config is None:
        args.config = "tiny" if cpu else default_config
    if args.ctx is None:
        args.ctx = parse_ctx(cpu_ctx if cpu else gpu_ctx)
    if args.batch is None:
        args.batch = 2 if cpu else 16
    if cpu and args.hard_s == 15.0:
        args.soft_s, args.hard_s = min(args.soft_s, 0.5), 5.0
    return args


def ssm_args(description, default_config):
    """The options of the mamba_ssm peers (mamba_peer.py, mamba2_peer.py): common_args plus the modes,
    the decode batches and where mamba_ssm's sources are; parsed and defaulted (tiny shapes on cpu)."""
    p = common_args(description, default_config)
    p.add_argument("--modes", default="prefill,decode")
    p.add_argument("--decode-batch", type=parse_ints, default=None, help="decode batches (default 16,512; 2 on cpu)")
    p.add_argument("--mamba-src", default=None, help="directory holding mamba_ssm/ops/... (see the module doc)")
    args = resolve_defaults(p.parse_args(), default_config)
    if args.decode_batch is None:
        args.decode_batch = [2] if args.device == "cpu" else [16, 512]
    return args


def seed_all(seed=0):
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


if __name__ == "__main__":
    sys.exit("peer_common.py is a library; run sdpa.py, fla_ttt.py, fla_gdn.py, mamba_peer.py or ttt_torch_dual.py")
