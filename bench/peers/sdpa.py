"""sdpa.py: peer for attention at op level: PyTorch scaled_dot_product_attention (SPEC §12).

What a PyTorch user would call instead of our attention core:
  prefill: q, k, v [B, H, T, d] bf16, is_causal=True;
  decode:  q [B, H, 1, d] against a KV cache k, v [B, H, T, d], is_causal=False
           (one new token per sequence; the cache is filled before timing, not timed).
The backend is forced with torch.nn.attention.sdpa_kernel: `--impl flash` = SDPBackend.FLASH_ATTENTION
(FlashAttention-2 inside PyTorch), `--impl math` = SDPBackend.MATH (the reference path that
materialises the T x T scores; it runs out of memory early, which is recorded as `oom` rows).
Rows: backend torch-sdpa, layer attention, level op, impl flash|math. A KV cache that does not fit
(B=512 beyond ~16k on 80 GB) is an `oom` row. Counts: layers/attention.c (SPEC §6).

  python3 bench/peers/sdpa.py --out OUT.csv [--ctx 1k:32k] [--batch 16] [--decode-batch 16,512]
  python3 bench/peers/sdpa.py --device cpu --out /tmp/smoke.csv        # tiny smoke run
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import peer_common as pc  # noqa: E402

try:
    from torch.nn.attention import SDPBackend, sdpa_kernel
except ImportError:  # torch < 2.3
    SDPBackend = sdpa_kernel = None

BACKENDS = {"flash": "FLASH_ATTENTION", "math": "MATH", "efficient": "EFFICIENT_ATTENTION", "cudnn": "CUDNN_ATTENTION"}


def build_prefill(device, dtype, B, H, T, d):
    def build():
        q, k, v = (torch.randn(B, H, T, d, device=device, dtype=dtype) for _ in range(3))
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)
    return build


def build_decode(device, dtype, B, H, T, d):
    def build():
        q = torch.randn(B, H, 1, d, device=device, dtype=dtype)
        k = torch.empty(B, H, T, d, device=device, dtype=dtype).normal_()
        v = torch.empty(B, H, T, d, device=device, dtype=dtype).normal_()
        return lambda: F.scaled_dot_product_attention(q, k, v, is_causal=False)
    return build


def main():
    p = pc.common_args(__doc__.splitlines()[0], "1.3b")
    p.add_argument("--impl", default="flash", help="comma list of flash, math (also efficient, cudnn)")
    p.add_argument("--modes", default="prefill,decode")
    p.add_argument("--decode-batch", type=pc.parse_ints, default=None, help="decode batches (default 16,512; 2 on cpu)")
    p.add_argument("--dtype", default="bf16", choices=sorted(pc.DTYPES))
    args = pc.resolve_defaults(p.parse_args(), "1.3b")
    if args.decode_batch is None:
        args.decode_batch = [2] if args.device == "cpu" else [16, 512]
    cfg = pc.CONFIGS[args.config]
    D, H, d = cfg["d_model"], cfg["heads"], cfg["head_dim"]
    dtype = pc.torch_dtype(args.dtype)
    s = torch.tensor([], dtype=dtype).element_size()
    peer = pc.Peer(args)
    pc.seed_all(0)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for impl in [x.strip() for x in args.impl.split(",") if x.strip()]:
        for mode in modes:
            for B in ([args.batch] if mode == "prefill" else args.decode_batch):
                for T in args.ctx:
                    tokens = B * T if mode == "prefill" else B
                    fields = dict(backend="torch-sdpa", layer="attention", impl=impl, level="op", mode=mode,
                                  dtype=args.dtype, config=args.config, batch=B, ctx=T, d_model=D, heads=H,
                                  head_dim=d, n_layers=1, tokens=tokens)
                    counts = pc.attention_counts(mode, B, T, D, H, d, s)
                    if sdpa_kernel is None or impl not in BACKENDS:
                        peer.error(fields, counts, f"no sdpa_kernel backend {impl!r} in torch {torch.__version__}")
                        continue
                    build = (build_prefill if mode == "prefill" else build_decode)(args.device, dtype, B, H, T, d)
                    note = f"torch {torch.__version__} SDPBackend.{BACKENDS[impl]}; layout [B,H,T,d]" + (
                        "; decode: 1 query vs KV cache of T, is_causal=False, eager launch (no CUDA graph)" if mode == "decode" else "; is_causal=True")
                    with sdpa_kernel(getattr(SDPBackend, BACKENDS[impl])):
                        peer.run_point(fields, counts, build, note)
    peer.summary("sdpa")


if __name__ == "__main__":
    main()
