"""fla_gdn.py: peer for Gated DeltaNet at op level: flash-linear-attention's Triton gated delta rule (SPEC §12).

fla.ops.gated_delta_rule.chunk_gated_delta_rule (impl "chunk", prefill: the chunked WY/UT form, chunk 64) and
fla.ops.gated_delta_rule.fused_recurrent_gated_delta_rule (impl "fused_recurrent": prefill token by token and
the one-token decode step, as fla's layer runs decode). The op of spec/gated_deltanet.md §4, the same math as
ours: q, k [B, T, H, K] already L2-normalised (use_qk_l2norm_in_kernel off, as our op level), v [B, T, H, V],
g (log decay, <= 0) and beta [B, T, H], scale K^-1/2, initial state fp32, output_final_state=True (our prefill
also leaves the state). Our state is [B, H, V, K] (state_v_first); fla's default [B, H, K, V]: the same numbers
transposed, and no row times a transpose.
Before timing, each impl is compared once with fla's own pure-PyTorch reference
(fla.ops.gated_delta_rule.naive.naive_recurrent_gated_delta_rule) on a small shape; the result goes into the
note.

Rows: backend fla, layer gated_deltanet, level op; mode prefill (impl chunk, fused_recurrent) and decode
(impl fused_recurrent, B = --decode-batch, state of ctx tokens: its size does not depend on ctx).
Counts: layers/gated_deltanet.c (peer_common.gdn_counts).
On --device cpu the Triton ops are `skipped` rows; the naive ref check still runs (input plumbing).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import peer_common as pc  # noqa: E402

CHUNK = 64  # fla's chunk kernels (BT = 64)


def load_fla():
    """(module fla.ops.gated_delta_rule, naive recurrent ref or None, version, error text)."""
    try:
        import fla
        import fla.ops.gated_delta_rule as gdr
    except Exception as exc:
        return None, None, "", f"import fla.ops.gated_delta_rule failed: {type(exc).__name__}: {exc}"
    try:
        from fla.ops.gated_delta_rule.naive import naive_recurrent_gated_delta_rule as naive
    except Exception:
        naive = None
    return gdr, naive, getattr(fla, "__version__", "?"), ""


def make_inputs(device, dtype, B, T, H, K, V, seed=0):
    """fla layout [B, T, H, *]; values as our op inputs (layers/gated_deltanet.c make_input): unit q, k per
    head, v ~ N(0,1), decay e^g ~ U(0.3, 1), beta ~ U(0.05, 0.95); initial state fp32 ~ N(0, 0.1)."""
    g = torch.Generator(device=device).manual_seed(seed)

    def rn(*shape):
        return torch.randn(*shape, generator=g, device=device)

    def ru(*shape):
        return torch.rand(*shape, generator=g, device=device)

    q = F.normalize(rn(B, T, H, K), p=2, dim=-1).to(dtype)
    k = F.normalize(rn(B, T, H, K), p=2, dim=-1).to(dtype)
    v = rn(B, T, H, V).to(dtype)
    gl = torch.log(0.3 + 0.7 * ru(B, T, H)).float()
    beta = (0.05 + 0.9 * ru(B, T, H)).to(dtype)
    h0 = (0.1 * rn(B, H, K, V)).float()
    return dict(q=q, k=k, v=v, g=gl, beta=beta, initial_state=h0)


def call(fn, inp, K):
    return fn(**inp, scale=K ** -0.5, output_final_state=True)


def check_vs_naive(fn, naive, device):
    """max|o - ref| / max|ref| on a small shape (bf16 tolerance of SPEC §5: 2e-2)."""
    if naive is None:
        return "no fla naive ref to check against"
    try:
        inp = make_inputs(device, torch.bfloat16, 2, 100, 2, 64, 128, seed=1)
        ref = call(naive, {k: t.clone() for k, t in inp.items()}, 64)[0].float()
        if fn is None:
            return f"fla naive ref runs on {device} (max|o| {ref.abs().max().item():.3g})"
        out = call(fn, {k: t.clone() for k, t in inp.items()}, 64)[0].float()
        err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
        return f"check vs fla naive ref (B2 T100 H2 K64 V128): rel err {err:.2e} {'ok' if err <= 2e-2 else 'MISMATCH'}"
    except Exception as exc:
        return f"check vs fla naive ref failed: {type(exc).__name__}: {str(exc)[:120]}"


def main():
    p = pc.common_args(__doc__.splitlines()[0], "1.3b")
    p.add_argument("--impl", default="chunk,fused_recurrent", help="comma list of chunk, fused_recurrent")
    p.add_argument("--modes", default="prefill,decode")
    p.add_argument("--decode-batch", type=pc.parse_ints, default=None, help="decode batches (default 16,512; 2 on cpu)")
    args = pc.resolve_defaults(p.parse_args(), "1.3b")
    if args.decode_batch is None:
        args.decode_batch = [2] if args.device == "cpu" else [16, 512]
    cfg = pc.GDN_CONFIGS[args.config]
    D, H, K, V = cfg["d_model"], cfg["heads"], cfg["head_dim"], cfg["head_v_dim"]
    peer = pc.Peer(args)
    gdr, naive, version, err = load_fla()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for impl in [x.strip() for x in args.impl.split(",") if x.strip()]:
        fn = getattr(gdr, f"{impl}_gated_delta_rule", None) if gdr else None
        err_impl = f"fla {version} has no fla.ops.gated_delta_rule.{impl}_gated_delta_rule" if gdr and fn is None else err
        check = ""
        if not err_impl and not peer.fill:
            check = check_vs_naive(fn if args.device == "cuda" else None, naive, args.device)
        points = [("prefill", args.batch, T) for T in args.ctx] if "prefill" in modes else []
        if impl == "fused_recurrent" and "decode" in modes:
            points += [("decode", B, T) for B in args.decode_batch for T in args.ctx]
        for mode, B, T in points:
            fields = dict(backend="fla", layer="gated_deltanet", impl=impl, level="op", mode=mode, dtype="bf16",
                          config=args.config, batch=B, ctx=T, d_model=D, heads=H, head_dim=K, n_layers=1,
                          tokens=B * T if mode == "prefill" else B)
            counts = pc.gdn_counts(mode, impl == "chunk", B, T, H, K, V, CHUNK, 2)
            if err_impl:
                peer.error(fields, counts, err_impl)
                continue
            if args.device != "cuda":
                peer.skip(fields, counts, f"fla {version} {impl}_gated_delta_rule is Triton: needs a GPU; {check}")
                continue

            def build(mode=mode, B=B, T=T, fn=fn):
                inp = make_inputs("cuda", torch.bfloat16, B, T if mode == "prefill" else 1, H, K, V)
                return lambda: call(fn, inp, K)

            extra = ("one token per call from a state of ctx tokens (its size does not depend on ctx); eager "
                     "launch (no CUDA graph: launch overhead is in the time); " if mode == "decode" else "")
            note = (f"fla {version} fla.ops.gated_delta_rule.{impl}_gated_delta_rule, layout [B,T,H,*], q/k "
                    f"pre-normalised, scale K^-1/2, fp32 initial state [B,H,K,V]; {extra}{check}")
            peer.run_point(fields, counts, build, note)
    peer.summary("fla_gdn")


if __name__ == "__main__":
    main()
