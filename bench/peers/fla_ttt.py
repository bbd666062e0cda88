"""fla_ttt.py: peer for TTT-Linear at op level: flash-linear-attention's Triton TTT ops (SPEC §12).

fla.ops.ttt.chunk_ttt_linear (impl "chunk": two kernels, states per chunk then outputs) and
fla.ops.ttt.fused_chunk_ttt_linear (impl "fused_chunk": one kernel), chunk_size 16 = the mini-batch,
prefill only (fla has no single-token TTT step). Inputs as fla takes them: q, k, v [B, T, H, d] bf16,
eta [B, T, H, 1], LN weight/bias [H, d], initial state W [B, H, d, d] fp32 and bias [B, H, 1, d] fp32
(W1, b1 broadcast over the batch); output_final_state=True (our prefill also leaves the state).

NOT the reference semantics (SPEC §3.3), and every row says so:
  - eta: one learning rate per token, applied per OUTPUT row (eta_i * tril(QK^T)); the reference
    uses eta_ij = tau_i * alpha_j (token_idx of the output row times the lr of the key column);
  - q is scaled by d^-0.5 (scale=None), the reference does not scale q;
  - output Zbar + GroupNorm(Zbar) (LN per head, fla's norm_residual), the reference adds XQ + LN(Zbar);
  - no RoPE / conv inside (the reference op takes rotated XQ, XK too, so this is the same at op level).
So these rows time the same work shape (d x d state, mini-batch 16, dual form) with different math.
Before timing, each impl is compared once with fla's own pure-PyTorch ref (fla.ops.ttt.naive) on a
small shape; the result goes into the note.

Rows: backend fla, layer ttt_linear, level op, mode prefill, impl chunk|fused_chunk.
Counts: layers/ttt_common.c dual form (6d^2 + 6bd per token per head).
On --device cpu the Triton ops are `skipped` rows; the naive ref check still runs (input plumbing).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import peer_common as pc  # noqa: E402

SEMANTICS = ("fla semantics differ from the reference: eta per output row only (no tau_i*alpha_j), "
             "q scaled by d^-0.5, output Zbar + GroupNorm(Zbar) instead of XQ + LN(Zbar)")
CHUNK = 16


def load_fla():
    """(module fla.ops.ttt, naive ref or None, version, error text)."""
    try:
        import fla
        import fla.ops.ttt as ttt
    except Exception as exc:
        return None, None, "", f"import fla.ops.ttt failed: {type(exc).__name__}: {exc}"
    try:
        from fla.ops.ttt.naive import chunk_ttt_linear_ref as naive
    except Exception:
        naive = None
    return ttt, naive, getattr(fla, "__version__", "?"), ""


def make_inputs(device, dtype, B, T, H, d, seed=0):
    """fla layout [B, T, H, d]; values like our op inputs (layers/ttt_common.c ttt_make_input):
    q, v ~ N(0,1); k L2-normalised per head (as fla's tests; keeps the un-normalised inner loop in
    range); eta = sigmoid(N(0,1)) / d (base lr 1.0); LN weight ~ 1 + N(0,.1), bias ~ N(0,.1);
    W1, b1 ~ N(0, .02)."""
    g = torch.Generator(device=device).manual_seed(seed)  # on the device: T=32k inputs are GBs

    def rn(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=g, device=device) * std + mean

    q = rn(B, T, H, d).to(dtype)
    k = F.normalize(rn(B, T, H, d), p=2, dim=-1).to(dtype)
    v = rn(B, T, H, d).to(dtype)
    eta = (torch.sigmoid(rn(B, T, H, 1)) / d).to(dtype)
    w = rn(H, d, std=0.1, mean=1.0).to(dtype)
    b = rn(H, d, std=0.1).to(dtype)
    h0 = rn(1, H, d, d, std=0.02).expand(B, H, d, d).contiguous().float()
    hb0 = rn(1, H, 1, d, std=0.02).expand(B, H, 1, d).contiguous().float()
    return q, k, v, w, b, eta, h0, hb0


def call(fn, inp):
    q, k, v, w, b, eta, h0, hb0 = inp
    return fn(q, k, v, w, b, eta, scale=None, eps=1e-6, chunk_size=CHUNK, initial_state=h0,
              initial_state_bias=hb0, output_final_state=True)


def call_naive(naive, inp):
    q, k, v, w, b, eta, h0, hb0 = inp
    return naive(q, k, v, w, b, eta, scale=None, eps=1e-6, mini_batch_size=CHUNK, initial_state=h0,
                 initial_state_bias=hb0, output_final_state=True)


def check_vs_naive(fn, naive, device):
    """max|o - ref| / max|ref| on a small shape (bf16 tolerance of SPEC §5: 2e-2)."""
    if naive is None:
        return "no fla naive ref to check against"
    try:
        inp = make_inputs(device, torch.bfloat16, 2, 64, 4, 64, seed=1)
        ref = call_naive(naive, tuple(t.clone() for t in inp))[0].float()
        if fn is None:
            return f"fla naive ref runs on {device} (max|o| {ref.abs().max().item():.3g})"
        out = call(fn, tuple(t.clone() for t in inp))[0].float()
        err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
        return f"check vs fla naive ref (B2 T64 H4 d64): rel err {err:.2e} {'ok' if err <= 2e-2 else 'MISMATCH'}"
    except Exception as exc:
        return f"check vs fla naive ref failed: {type(exc).__name__}: {str(exc)[:120]}"


def autotune_at(fn, B, T, H, d):
    """fla's autotune keys are the block sizes, not B or T: the first call picks the configs for
    every later shape. Make that first call a real point (the first ctx), not the small check."""
    try:
        inp = make_inputs("cuda", torch.bfloat16, B, T, H, d)
        call(fn, inp)
        torch.cuda.synchronize()
    except Exception:
        pass  # the point itself will record what goes wrong
    inp = None
    torch.cuda.empty_cache()


def main():
    p = pc.common_args(__doc__.splitlines()[0], "1.3b")
    p.add_argument("--impl", default="chunk,fused_chunk", help="comma list of chunk, fused_chunk")
    args = pc.resolve_defaults(p.parse_args(), "1.3b")
    cfg = pc.CONFIGS[args.config]
    D, H, d = cfg["d_model"], cfg["heads"], cfg["head_dim"]
    B, s = args.batch, 2
    peer = pc.Peer(args)
    ttt, naive, version, err = load_fla()
    for impl in [x.strip() for x in args.impl.split(",") if x.strip()]:
        fn = getattr(ttt, f"{impl}_ttt_linear", None) if ttt else None
        if ttt and fn is None:
            err_impl = f"fla {version} has no fla.ops.ttt.{impl}_ttt_linear"
        else:
            err_impl = err
        check = ""
        if not err_impl and not peer.fill:
            if args.device == "cuda":
                autotune_at(fn, B, args.ctx[0], H, d)
            check = check_vs_naive(fn if args.device == "cuda" else None, naive, args.device)
        for T in args.ctx:
            fields = dict(backend="fla", layer="ttt_linear", impl=impl, level="op", mode="prefill", dtype="bf16",
                          config=args.config, batch=B, ctx=T, d_model=D, heads=H, head_dim=d,
                          mini_batch=CHUNK, n_layers=1, tokens=B * T)
            counts = pc.ttt_linear_counts("dual", B, T, D, H, d, CHUNK, s)
            counts = dict(counts, note=SEMANTICS + "; " + counts["note"])
            if err_impl:
                peer.error(fields, counts, err_impl)
                continue
            if args.device != "cuda":
                peer.skip(fields, counts, f"fla {version} {impl}_ttt_linear is Triton: needs a GPU; {check}")
                continue

            def build(T=T, fn=fn):
                inp = make_inputs("cuda", torch.bfloat16, B, T, H, d)
                return lambda: call(fn, inp)

            note = f"fla {version} fla.ops.ttt.{impl}_ttt_linear, chunk_size {CHUNK}, layout [B,T,H,d], {check}"
            peer.run_point(fields, counts, build, note)
    peer.summary("fla_ttt")


if __name__ == "__main__":
    main()
