#!/usr/bin/env python3
"""torch_cpu_sdpa.py: the CPU peer of our attention prefill (SPEC §12): PyTorch's
torch.nn.functional.scaled_dot_product_attention(is_causal=True) in fp32 on the CPU, on the shapes
of the `cpu` preset (125m: B 1, H 12, d 64, T 1k..8k) and the same thread count, timed under our
protocol (SPEC §7: >= 3 warm-up calls, >= 10 samples, stop at noise < 0.5% or 2 s, cap 15 s,
median) and printed as CSV rows in our schema (SPEC §8) with backend "torch-cpu", level "op".

Usage:
  python3 bench/peers/torch_cpu_sdpa.py --install      # venv under build/peers-venv + torch from PyPI
  python3 bench/peers/torch_cpu_sdpa.py [--ctx 1024,2048,4096,8192] [--batch 1] [--threads N] [--out FILE]

Not run by the tests. The q, k, v inputs are [B, H, T, d] (RoPE is not part of the op level).
Counts are ours (layers/attention.c): flops = 4*B*H*T^2*d/2 (causal halved, multiply-add = 2),
bytes = q, k, v read + o written + k, v written (6*B*T*D*4), state = the KV cache 2*B*T*D*4.
"""
import argparse
import csv
import datetime
import os
import socket
import sys
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))

sys.path.insert(0, HERE)
from peer_common import COLUMNS, CpuTimer, SampleRule, stats, attention_counts  # noqa: E402
from peer_common import install_torch, import_torch_or_exit  # noqa: E402
from peer_common import _cpu_model as cpu_model, _git_sha as git_sha  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--install", action="store_true", help="create build/peers-venv and pip install torch")
    ap.add_argument("--ctx", default="1024,2048,4096,8192", help="comma-separated context lengths")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--threads", type=int, default=0, help="0: OMP_NUM_THREADS, else all CPUs (as our cpu backend)")
    ap.add_argument("--out", help="append rows to this CSV (header written if new); default stdout")
    a = ap.parse_args()
    if a.install:
        install_torch()
        return
    torch = import_torch_or_exit("torch_cpu_sdpa.py")
    threads = a.threads or int(os.environ.get("OMP_NUM_THREADS", 0) or os.cpu_count())
    torch.set_num_threads(threads)
    sdpa = torch.nn.functional.scaled_dot_product_attention

    new_file = a.out is None or not os.path.exists(a.out) or os.path.getsize(a.out) == 0
    out = open(a.out, "a", newline="") if a.out else sys.stdout
    w = csv.DictWriter(out, fieldnames=COLUMNS)
    if new_file:
        w.writeheader()
    common = {
        "run_id": uuid.uuid4().hex[:12], "git_sha": git_sha(), "host": socket.gethostname(),
        "cpu_model": cpu_model(), "threads": threads, "backend": "torch-cpu", "layer": "attention",
        "impl": f"sdpa-torch{torch.__version__}", "level": "op", "mode": "prefill", "dtype": "fp32",
        "config": "125m", "batch": a.batch, "heads": a.heads, "head_dim": a.head_dim,
        "d_model": a.heads * a.head_dim,
        "note": "torch.nn.functional.scaled_dot_product_attention is_causal=True, fp32, [B,H,T,d] inputs; "
                "flops 4*B*H*T^2*d/2 (causal halved; multiply-add = 2)",
    }
    B, H, d, D = a.batch, a.heads, a.head_dim, a.heads * a.head_dim
    for T in (int(t) for t in a.ctx.split(",")):
        row = dict(common, utc=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"), ctx=T)
        g = torch.Generator().manual_seed(T)
        q, k, v = (torch.randn(B, H, T, d, generator=g, dtype=torch.float32) for _ in range(3))
        with torch.inference_mode():
            o = sdpa(q, k, v, is_causal=True)
            ok = bool(torch.isfinite(o).all())
            st = stats(CpuTimer(SampleRule()).measure(lambda: sdpa(q, k, v, is_causal=True)))
        med = st["median"]
        c = attention_counts("prefill", B, T, D, H, d, 4)
        flops, nbytes, state = c["flops"], c["bytes"], c["state_bytes"]
        row.update(samples=st["n"], median_ms=f"{med:.4f}", min_ms=f"{st['min']:.4f}",
                   max_ms=f"{st['max']:.4f}", noise=f"{st['noise']:.4f}", tokens=B * T,
                   us_per_token=f"{med * 1e3 / (B * T):.4f}", flops=f"{flops:.6g}",
                   tflops=f"{flops / (med * 1e-3) / 1e12:.6g}", bytes=f"{nbytes:.6g}",
                   gbps=f"{nbytes / (med * 1e-3) / 1e9:.6g}", state_bytes=f"{state:.6g}",
                   status="ok" if ok else "nan")
        w.writerow(row)
        out.flush()
    if a.out:
        out.close()


if __name__ == "__main__":
    main()
