"""ttt_torch_dual.py: peer for TTT-Linear at op level: a plain PyTorch eager implementation (SPEC §12).

The speed a user gets from the paper's math written in eager PyTorch, without kernels: a Python loop
over mini-batches of b = 16 tokens, every step a batched matmul over [B, H]. Written from SPEC §3.3
(the reference semantics, unlike fla): inputs XQ, XK, XV [B, H, T, d] (after RoPE), lr = alpha
[B, H, T], token_eta = tau [b], ttt_norm weight/bias [H, d], W1 [H, d, d], b1 [H, 1, d]; inner
step size eta_ij = tau_i * alpha_j; output XQ + LN(Zbar). Inputs bf16 (as our CUDA op), the inner
math and the state fp32 (each mini-batch is cast once).

  dual   (impl "dual"):   Z = K W + b; G = LN_L2_bwd(Z, V - K); A = tril(Q K^T);
                          Zbar = Q W - (eta * A) G + b - tril(eta) G;
                          W -= K^T (eta_last * G); b -= sum_j eta_last,j G_j.
  primal (impl "primal"): the same G, then the per-token weights W_i = W - tau_i sum_{j<=i} alpha_j k_j^T G_j
                          materialised for the whole mini-batch ([B, H, b, d, d], a cumsum of outer
                          products) and zbar_i = q_i W_i + b_i (matrix-vector work, 8d^2 per token).
A last partial mini-batch of r = T mod b tokens uses tau_0..tau_{r-1}.

--selftest (CPU, float64 and float32) checks: G against autograd of 1/2||LN(Z) - (V-K)||^2, dual ==
primal (full and partial mini-batches), and the layer built on the op (projections, interleaved RoPE
mod b, the lr gate, post_norm, o_proj) against the golden vectors tests/golden/ttt_linear_prefill_T{45,64}
(ttt-lm-pytorch's TTTLinear); exits 1 on any mismatch.

Rows: backend torch-eager, layer ttt_linear, level op, mode prefill, impl dual|primal.
Counts: layers/ttt_common.c (dual 6d^2+6bd, primal 8d^2 per token per head).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import peer_common as pc  # noqa: E402

EPS = 1e-6
MINI_BATCH = 16


# ---- the op --------------------------------------------------------------------------------------
def layer_norm(z, gamma, beta, eps=EPS):
    """(y, xhat, std) of a LayerNorm over the last dim with biased variance."""
    mu = z.mean(-1, keepdim=True)
    std = torch.sqrt(((z - mu) ** 2).mean(-1, keepdim=True) + eps)
    xhat = (z - mu) / std
    return gamma * xhat + beta, xhat, std


def ln_l2_bwd(z, target, gamma, beta, eps=EPS):
    """Gradient of 1/2 ||LN(z) - target||^2 with respect to z (SPEC §3.3, no factor 2)."""
    d = z.shape[-1]
    y, xhat, std = layer_norm(z, gamma, beta, eps)
    gh = gamma * (y - target)
    return (d * gh - gh.sum(-1, keepdim=True) - xhat * (gh * xhat).sum(-1, keepdim=True)) / (d * std)


def _setup(XQ, lr, token_eta, gamma, beta, W1, b1, cd):
    B, H, T, d = XQ.shape
    W = W1.to(cd).unsqueeze(0).expand(B, H, d, d)
    bias = b1.to(cd).unsqueeze(0).expand(B, H, 1, d)
    g, be = gamma.to(cd).view(1, H, 1, d), beta.to(cd).view(1, H, 1, d)
    return W, bias, g, be, token_eta.to(cd)


def _mini_batches(XQ, XK, XV, lr, tau_all, b, cd):
    """Per mini-batch of b tokens (the last one r = T mod b if partial): (s, e, q, k, v, alpha, tau),
    tokens s..e-1 in cd, tau = tau_0..tau_{r-1}."""
    T = XQ.shape[2]
    for s in range(0, T, b):
        e = min(s + b, T)
        q, k, v = XQ[:, :, s:e].to(cd), XK[:, :, s:e].to(cd), XV[:, :, s:e].to(cd)
        yield s, e, q, k, v, lr[:, :, s:e].to(cd), tau_all[:e - s]


def ttt_linear_dual(XQ, XK, XV, lr, token_eta, gamma, beta, W1, b1, b=MINI_BATCH, cd=torch.float32):
    """O [B, H, T, d] (dtype of XQ) and the final state (W [B, H, d, d], b [B, H, 1, d]) in cd."""
    W, bias, g, be, tau_all = _setup(XQ, lr, token_eta, gamma, beta, W1, b1, cd)
    O = torch.empty_like(XQ)
    for s, e, q, k, v, alpha, tau in _mini_batches(XQ, XK, XV, lr, tau_all, b, cd):
        eta = tau.view(e - s, 1) * alpha.unsqueeze(-2)              # [B,H,r,r]: tau_i * alpha_j
        G = ln_l2_bwd(k @ W + bias, v - k, g, be)
        A = torch.tril(q @ k.transpose(-1, -2))
        zbar = q @ W - (eta * A) @ G + bias - torch.tril(eta) @ G
        eG = eta[..., -1, :].unsqueeze(-1) * G                      # eta_{r-1,j} * G_j
        W = W - k.transpose(-1, -2) @ eG
        bias = bias - eG.sum(-2, keepdim=True)
        O[:, :, s:e] = (q + layer_norm(zbar, g, be)[0]).to(O.dtype)
    return O, W, bias


def ttt_linear_primal(XQ, XK, XV, lr, token_eta, gamma, beta, W1, b1, b=MINI_BATCH, cd=torch.float32):
    """Same contract as ttt_linear_dual, through the per-token weights W_i."""
    W, bias, g, be, tau_all = _setup(XQ, lr, token_eta, gamma, beta, W1, b1, cd)
    O = torch.empty_like(XQ)
    for s, e, q, k, v, alpha, tau in _mini_batches(XQ, XK, XV, lr, tau_all, b, cd):
        r = e - s
        G = ln_l2_bwd(k @ W + bias, v - k, g, be)                  # all at the mini-batch start W
        aG = alpha.unsqueeze(-1) * G                                # [B,H,r,d]
        S = (k.unsqueeze(-1) * aG.unsqueeze(-2)).cumsum(2)          # sum_{j<=i} alpha_j k_j^T G_j
        Wi = W.unsqueeze(2) - tau.view(1, 1, r, 1, 1) * S           # [B,H,r,d,d]
        bi = bias - tau.view(1, 1, r, 1) * aG.cumsum(2)             # [B,H,r,d]
        zbar = (q.unsqueeze(-2) @ Wi).squeeze(-2) + bi
        W, bias = Wi[:, :, -1], bi[:, :, -1:]
        O[:, :, s:e] = (q + layer_norm(zbar, g, be)[0]).to(O.dtype)
    return O, W, bias


IMPLS = {"dual": ttt_linear_dual, "primal": ttt_linear_primal}


def op_inputs(device, dtype, B, H, T, d, b=MINI_BATCH, seed=0):
    """Like layers/ttt_common.c: XQ, XK, XV ~ N(0,1); lr = sigmoid(N(0,1)) / d (base lr 1);
    tau_i = max(0, 1/(i+1) + N(0,.02)); ttt_norm weight 1 + N(0,.1), bias N(0,.1); W1, b1 ~ N(0,.02)."""
    gen = torch.Generator(device=device).manual_seed(seed)  # on the device: T=32k inputs are GBs

    def rn(*shape, std=1.0, mean=0.0):
        return torch.randn(*shape, generator=gen, device=device) * std + mean

    XQ, XK, XV = (rn(B, H, T, d).to(dtype) for _ in range(3))
    lr = (torch.sigmoid(rn(B, H, T)) / d).to(dtype)
    tau = torch.clamp(1.0 / torch.arange(1, b + 1, device=device) + rn(b, std=0.02), min=0)
    gamma, beta = rn(H, d, std=0.1, mean=1.0), rn(H, d, std=0.1)
    W1, b1 = rn(H, d, d, std=0.02), rn(H, 1, d, std=0.02)
    return XQ, XK, XV, lr, tau, gamma, beta, W1, b1


# ---- self-test -------------------------------------------------------------------------------------
def _rope_interleaved(x, b, theta):
    """x [B, H, T, d]; position t mod b; pairs (2j, 2j+1) rotated by p * theta^(-2j/d)."""
    T, d = x.shape[2], x.shape[3]
    pos = (torch.arange(T, dtype=x.dtype) % b).view(T, 1)
    ang = pos * theta ** (-torch.arange(0, d, 2, dtype=x.dtype) / d)
    cos, sin = torch.cos(ang), torch.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x1 * cos + x0 * sin
    return out


def _golden_layer(case_dir, impl, cd):
    """TTT-Linear layer (share_qk=0, use_gate=0) on the op, vs y.npy: max|err| / max(1, max|y|)."""
    import numpy as np
    kv = dict(line.strip().split("=", 1) for line in open(os.path.join(case_dir, "case.txt")) if "=" in line)
    P = {f[:-4]: torch.from_numpy(np.load(os.path.join(case_dir, f))).to(cd)
         for f in os.listdir(case_dir) if f.endswith(".npy")}
    H, d, b = int(kv["heads"]), int(kv["head_dim"]), int(kv["mini_batch"])
    base_lr, theta = float(kv["ttt_base_lr"]), float(kv["rope_theta"])
    assert kv["share_qk"] == "0" and kv["use_gate"] == "0"
    x = P["x"]
    B, T, D = x.shape

    def heads(t):
        return t.view(B, T, H, d).transpose(1, 2)

    XQ = _rope_interleaved(heads(x @ P["q_proj.weight"].T), b, theta)
    XK = _rope_interleaved(heads(x @ P["k_proj.weight"].T), b, theta)
    XV = heads(x @ P["v_proj.weight"].T)
    lr = base_lr * torch.sigmoid(torch.einsum("btc,hc->bht", x, P["learnable_ttt_lr_weight"][:, 0, :])
                                 + P["learnable_ttt_lr_bias"].view(1, H, 1)) / d
    tau = torch.clamp(1.0 / torch.arange(1, b + 1, dtype=cd) + P["learnable_token_idx"], min=0)
    O, _, _ = IMPLS[impl](XQ, XK, XV, lr, tau, P["ttt_norm_weight"], P["ttt_norm_bias"], P["W1"], P["b1"], b, cd)
    o = layer_norm(O.transpose(1, 2).reshape(B, T, D), P["post_norm.weight"], P["post_norm.bias"])[0]
    y = o @ P["o_proj.weight"].T
    return ((y - P["y"]).abs().max() / max(1.0, P["y"].abs().max().item())).item()


def selftest():
    fails = []

    def report(name, err, tol):
        ok = err <= tol
        print(f"  {'ok  ' if ok else 'FAIL'} {name}: {err:.3e} (tol {tol:g})")
        if not ok:
            fails.append(name)

    # 1. G against autograd, float64.
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 3, 16, 16, generator=g, dtype=torch.float64)
    gamma = 1 + 0.1 * torch.randn(1, 3, 1, 16, generator=g, dtype=torch.float64)
    beta = 0.1 * torch.randn(1, 3, 1, 16, generator=g, dtype=torch.float64)
    (0.5 * ((layer_norm(z, gamma, beta)[0] - t) ** 2).sum()).backward()
    G = ln_l2_bwd(z.detach(), t, gamma, beta)
    report("LN_L2_bwd vs autograd (fp64)", ((G - z.grad).abs().max() / z.grad.abs().max()).item(), 1e-12)

    # 2. dual == primal: full mini-batches and a partial last one, fp64 and fp32.
    for T in (64, 45, 7):
        for cd, tol in ((torch.float64, 1e-12), (torch.float32, 1e-4)):
            inp = op_inputs("cpu", cd, 2, 3, T, 16, seed=T)
            od, Wd, bd = ttt_linear_dual(*inp, cd=cd)
            op_, Wp, bp = ttt_linear_primal(*inp, cd=cd)
            scale = max(1.0, od.abs().max().item())
            err = max((od - op_).abs().max().item() / scale, (Wd - Wp).abs().max().item(), (bd - bp).abs().max().item())
            report(f"dual == primal T={T} {str(cd)[6:]}", err, tol)

    # 3. The layer on the op vs the golden vectors (ttt-lm-pytorch TTTLinear), fp64 and fp32.
    gold = os.path.join(pc.REPO_ROOT, "tests", "golden")
    for case in ("ttt_linear_prefill_T64", "ttt_linear_prefill_T45"):
        path = os.path.join(gold, case)
        if not os.path.isdir(path):
            print(f"  FAIL {case}: golden case missing at {path}")
            fails.append(case)
            continue
        for impl in ("dual", "primal"):
            for cd, tol in ((torch.float64, 1e-6), (torch.float32, 1e-4)):
                report(f"{case} {impl} {str(cd)[6:]} vs golden y", _golden_layer(path, impl, cd), tol)
    print(f"selftest: {'FAILED: ' + ', '.join(fails) if fails else 'all passed'}")
    return 1 if fails else 0


# ---- benchmark -------------------------------------------------------------------------------------
def main():
    p = pc.common_args(__doc__.splitlines()[0], "1.3b")
    p.add_argument("--impl", default="dual,primal", help="comma list of dual, primal")
    p.add_argument("--selftest", action="store_true", help="CPU checks only (see the module doc); exit 1 on mismatch")
    if "--selftest" in sys.argv[1:]:
        sys.exit(selftest())
    args = pc.resolve_defaults(p.parse_args(), "1.3b")
    cfg = pc.CONFIGS[args.config]
    D, H, d = cfg["d_model"], cfg["heads"], cfg["head_dim"]
    B, b = args.batch, MINI_BATCH
    peer = pc.Peer(args)
    for impl in [x.strip() for x in args.impl.split(",") if x.strip()]:
        for T in args.ctx:
            fields = dict(backend="torch-eager", layer="ttt_linear", impl=impl, level="op", mode="prefill",
                          dtype="bf16", config=args.config, batch=B, ctx=T, d_model=D, heads=H, head_dim=d,
                          mini_batch=b, n_layers=1, tokens=B * T)
            counts = pc.ttt_linear_counts(impl, B, T, D, H, d, b, 2)
            if impl not in IMPLS:
                peer.error(fields, counts, f"unknown impl {impl!r}")
                continue

            def build(T=T, fn=IMPLS[impl]):
                inp = op_inputs(args.device, torch.bfloat16, B, H, T, d)
                return lambda: fn(*inp)

            how = ("dual form, Python loop over mini-batches, batched matmuls" if impl == "dual" else
                   "primal form, per-token W_i materialised per mini-batch (cumsum of outer products)")
            note = (f"torch {torch.__version__} eager, reference semantics (SPEC §3.3), {how}; "
                    "bf16 inputs/outputs, fp32 inner math and state")
            peer.run_point(fields, counts, build, note)
    peer.summary("ttt_torch_dual")


if __name__ == "__main__":
    main()
