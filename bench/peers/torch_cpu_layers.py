#!/usr/bin/env python3
"""torch_cpu_layers.py: the CPU peers of our four layers (issue 14): the official modules' math in
eager PyTorch, fp32, at layer level, prefill and decode, on the `cpu` preset's shapes (125m, B 1,
T 1k..8k), with the same thread count and sample rule as our cpu rows, appended to the same CSV
(backend "torch-cpu", impl "eager"; attention "sdpa" and "eager"), so figure (g) of the cpu preset shows ours vs them.

  attention   Llama attention as transformers' LlamaAttention: q/k/v/o nn.Linear, RoPE (rotate-half,
              theta 1e4), then the core two ways, two peers (impl): "sdpa" (attn_implementation
              "sdpa": F.scaled_dot_product_attention(is_causal=True), PyTorch's fused CPU flash
              kernel, the strongest peer) and "eager" (attn_implementation "eager":
              eager_attention_forward, q k^T * scale + causal mask, softmax in fp32, @ v); decode:
              a static KV cache (preallocated, the new k, v written at position T: no torch.cat).
  mamba       mamba_ssm's Mamba (mamba_simple.py) without its CUDA kernels: forward's slow path
              (in_proj, nn.Conv1d + SiLU, x_proj, dt_proj, selective_scan_ref as in
              selective_scan_interface.py, out_proj) and Mamba.step() for decode.
  ttt_linear  ttt-lm-pytorch's TTTLinear on the Mamba backbone as our benchmarks (share_qk: q_proj
  ttt_mlp     + conv_q/conv_k, v_proj, the lr gate, interleaved RoPE at t mod 16, the dual form per
              mini-batch of 16, post_norm, the gelu gate, o_proj); decode: one token with the
              gradient accumulators of the mini-batch (SPEC §3.3), from a state as after T tokens.

Decode times one step at context T from a state as after T tokens (random, as our fill_state), the
step not committed (as our harness rewinds before each sample). FLOP/byte counts, state bytes and
the CPU ceilings come from our row of the same point in the same CSV (--counts-from; the same
analytic counts and the same run's measured ceilings: gbps*100/pct_peak_bw and
tflops*100/pct_peak_flops of that row), so gbps and pct_peak_* compare directly. The bandwidth
ceiling of a cpu row is a read of that row's bytes (cache-aware), hence per point; where our row
of a point is missing, any row's ceilings stand in.

Usage:
  python3 bench/peers/torch_cpu_layers.py --install     # venv under build/peers-venv + torch from PyPI
  python3 bench/peers/torch_cpu_layers.py --out RUN.csv [--counts-from RUN.csv] [--layers ...]
        [--modes prefill,decode] [--ctx 1k:8k] [--threads N] [--selftest]
--selftest checks each layer's decode step against its prefill of T+1 tokens (tiny shapes).
"""
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import peer_common as pc  # noqa: E402

try:  # the eager TTT op's LayerNorm and its L2 gradient (needs torch; main() re-executes with it)
    from ttt_torch_dual import layer_norm, ln_l2_bwd  # noqa: E402
except ImportError:
    layer_norm = ln_l2_bwd = None

torch = pc.torch  # None without torch: main() then finds build/peers-venv or exits 3
F = torch.nn.functional if torch else None

LAYERS = ("attention", "mamba", "ttt_linear", "ttt_mlp")
# The peers of each layer, by impl name (one row each per point): "eager" unless listed here.
PEER_IMPLS = {"attention": ("sdpa", "eager")}


def peer_impls(layer):
    return PEER_IMPLS.get(layer, ("eager",))
MINI_BATCH, CONV = 16, 4


# ---- weights ---------------------------------------------------------------------------------------
def _rn(gen, *shape, std=0.02, mean=0.0):
    return torch.randn(*shape, generator=gen) * std + mean


def attention_params(gen, D, H):
    return {n: _rn(gen, D, D) for n in ("q_proj", "k_proj", "v_proj", "o_proj")}


def mamba_params(gen, D, E, N, R):
    dt = torch.exp(torch.rand(E, generator=gen) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    return dict(in_proj=_rn(gen, 2 * E, D), conv_w=_rn(gen, E, 1, CONV, std=0.5), conv_b=_rn(gen, E),
                x_proj=_rn(gen, R + 2 * N, E), dt_proj=_rn(gen, E, R, std=R ** -0.5),
                dt_bias=dt + torch.log(-torch.expm1(-dt)),  # inverse softplus, as Mamba.__init__
                A_log=torch.log(torch.arange(1, N + 1, dtype=torch.float32)).repeat(E, 1), D=torch.ones(E),
                out_proj=_rn(gen, D, E))


def ttt_params(gen, D, H, d, mlp):
    P = dict(q_proj=_rn(gen, D, D), v_proj=_rn(gen, D, D), o_proj=_rn(gen, D, D), g_proj=_rn(gen, D, D),
             conv_q_w=_rn(gen, D, 1, CONV, std=0.5), conv_q_b=_rn(gen, D), conv_k_w=_rn(gen, D, 1, CONV, std=0.5),
             conv_k_b=_rn(gen, D), lr_w=_rn(gen, H, D), lr_b=_rn(gen, H),
             token_idx=_rn(gen, MINI_BATCH), norm_w=_rn(gen, H, d, std=0.1, mean=1.0), norm_b=_rn(gen, H, d, std=0.1),
             post_w=torch.ones(D), post_b=torch.zeros(D))
    if mlp:
        P.update(W1=_rn(gen, H, d, 4 * d), b1=torch.zeros(H, 1, 4 * d), W2=_rn(gen, H, 4 * d, d), b2=torch.zeros(H, 1, d))
    else:
        P.update(W1=_rn(gen, H, d, d), b1=torch.zeros(H, 1, d))
    P["base_lr"] = 0.1 if mlp else 1.0
    return P


# ---- attention (LlamaAttention, SDPA) --------------------------------------------------------------
def rope_half(x, pos, theta=10000.0):
    """Rotate-half RoPE (transformers' apply_rotary_pos_emb) of x [B, H, T, d] at positions pos [T]."""
    d = x.shape[-1]
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    ang = pos.float()[:, None] * inv[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    x1, x2 = x[..., : d // 2], x[..., d // 2:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


def eager_attention(q, k, v, causal):
    """transformers' eager_attention_forward (Llama): scores, additive causal mask, fp32 softmax, @ v."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if causal:
        T = q.shape[-2]
        mask = torch.full((T, T), torch.finfo(scores.dtype).min).triu(1)
        scores = scores + mask
    return torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype) @ v


def attention_core(q, k, v, causal, impl):
    if impl == "eager":
        return eager_attention(q, k, v, causal)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal)


def attention_prefill(P, x, H, impl="sdpa"):
    B, T, D = x.shape
    d = D // H
    pos = torch.arange(T)
    q, k, v = (F.linear(x, P[n]).view(B, T, H, d).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
    q, k = rope_half(q, pos), rope_half(k, pos)
    o = attention_core(q, k, v, True, impl)
    return F.linear(o.transpose(1, 2).reshape(B, T, D), P["o_proj"]), (k, v)


def attention_decode_state(P, gen, B, T, H, D):
    d = D // H
    kc, vc = torch.zeros(B, H, T + 1, d), torch.zeros(B, H, T + 1, d)
    kc[:, :, :T], vc[:, :, :T] = torch.randn(B, H, T, d, generator=gen), torch.randn(B, H, T, d, generator=gen)
    return dict(k=kc, v=vc, pos=T)


def attention_step(P, S, x, H, impl="sdpa"):
    B, _, D = x.shape
    d, T = D // H, S["pos"]
    pos = torch.tensor([T])
    q, k, v = (F.linear(x, P[n]).view(B, 1, H, d).transpose(1, 2) for n in ("q_proj", "k_proj", "v_proj"))
    q, k = rope_half(q, pos), rope_half(k, pos)
    S["k"][:, :, T:T + 1], S["v"][:, :, T:T + 1] = k, v
    o = attention_core(q, S["k"][:, :, :T + 1], S["v"][:, :, :T + 1], False, impl)
    return F.linear(o.transpose(1, 2).reshape(B, 1, D), P["o_proj"])


# ---- mamba (mamba_simple.Mamba, slow path) ---------------------------------------------------------
def selective_scan_ref(u, delta, A, Bm, Cm, D, z, delta_bias, delta_softplus=True):
    """selective_scan_interface.selective_scan_ref (variable B and C, fp32)."""
    delta = delta + delta_bias[..., None]
    if delta_softplus:
        delta = F.softplus(delta)
    batch, dim, dstate = u.shape[0], A.shape[0], A.shape[1]
    x = A.new_zeros((batch, dim, dstate))
    ys = []
    deltaA = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))
    deltaB_u = torch.einsum("bdl,bnl,bdl->bdln", delta, Bm, u)
    for i in range(u.shape[2]):
        x = deltaA[:, :, i] * x + deltaB_u[:, :, i]
        ys.append(torch.einsum("bdn,bn->bd", x, Cm[:, :, i]))
    y = torch.stack(ys, dim=2)
    out = y + u * D[:, None]
    return out * F.silu(z), x


def mamba_prefill(P, x, N, R):
    B, T, _ = x.shape
    E = P["D"].shape[0]
    xz = F.linear(x, P["in_proj"]).transpose(1, 2)                     # [B, 2E, T]
    xs, z = xz.chunk(2, dim=1)
    conv_state = F.pad(xs, (CONV - xs.shape[-1], 0))[..., -CONV:]  # kept for decode, as Mamba.forward
    xs = F.silu(F.conv1d(xs, P["conv_w"], P["conv_b"], padding=CONV - 1, groups=E)[..., :T])
    x_dbl = F.linear(xs.transpose(1, 2).reshape(B * T, E), P["x_proj"])
    dt, Bm, Cm = torch.split(x_dbl, [R, N, N], dim=-1)
    dt = (P["dt_proj"] @ dt.t()).view(E, B, T).permute(1, 0, 2)
    Bm = Bm.view(B, T, N).transpose(1, 2)
    Cm = Cm.view(B, T, N).transpose(1, 2)
    A = -torch.exp(P["A_log"])
    y, ssm_state = selective_scan_ref(xs, dt, A, Bm, Cm, P["D"], z, P["dt_bias"])
    return F.linear(y.transpose(1, 2), P["out_proj"]), dict(conv=conv_state, ssm=ssm_state)


def mamba_decode_state(P, gen, B, T, N):
    E = P["D"].shape[0]
    return dict(conv=torch.randn(B, E, CONV, generator=gen), ssm=torch.rand(B, E, N, generator=gen) * 0.2 - 0.1)


def mamba_step(P, S, x, N, R):
    """Mamba.step without causal_conv1d_update / selective_state_update (their fallback code)."""
    xz = F.linear(x.squeeze(1), P["in_proj"])
    xs, z = xz.chunk(2, dim=-1)
    conv_state, ssm_state = S["conv"], S["ssm"]
    conv_state.copy_(torch.roll(conv_state, shifts=-1, dims=-1))
    conv_state[:, :, -1] = xs
    xs = torch.sum(conv_state * P["conv_w"][:, 0, :], dim=-1) + P["conv_b"]
    xs = F.silu(xs)
    x_db = F.linear(xs, P["x_proj"])
    dt, Bm, Cm = torch.split(x_db, [R, N, N], dim=-1)
    dt = F.linear(dt, P["dt_proj"])
    A = -torch.exp(P["A_log"])
    dt = F.softplus(dt + P["dt_bias"])
    dA = torch.exp(torch.einsum("bd,dn->bdn", dt, A))
    dB = torch.einsum("bd,bn->bdn", dt, Bm)
    ssm_state.copy_(ssm_state * dA + xs.unsqueeze(-1) * dB)
    y = torch.einsum("bdn,bn->bd", ssm_state, Cm)
    y = y + P["D"] * xs
    y = y * F.silu(z)
    return F.linear(y, P["out_proj"]).unsqueeze(1)


# ---- TTT (ttt-lm-pytorch ttt.py, Mamba backbone) ---------------------------------------------------
def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


def gelu_bwd(x):
    """ttt.py's gelu_bwd (derivative of the tanh approximation)."""
    t = torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x))
    return 0.5 * x * ((1 - t * t) * (0.79788456 + 0.1070322243 * x * x)) + 0.5 * (1 + t)


def rope_interleaved(x, pos, theta=10000.0):
    """x [B, H, T, d]; pairs (2j, 2j+1) rotated by pos * theta^(-2j/d) (pos = t mod b)."""
    d = x.shape[-1]
    ang = pos.float()[:, None] * theta ** (-torch.arange(0, d, 2, dtype=torch.float32) / d)
    cos, sin = torch.cos(ang), torch.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x1 * cos + x0 * sin), dim=-1).flatten(-2)


def ttt_inputs(P, x, hist, H, t0):
    """XQ, XK, XV [B, H, T, d], lr [B, H, T], the new conv history; positions t0.. (hist: [B, D, K-1])."""
    B, T, D = x.shape
    d = D // H
    u = F.linear(x, P["q_proj"]).transpose(1, 2)                       # [B, D, T]
    uh = torch.cat((hist, u), dim=-1)
    XQ = F.conv1d(uh, P["conv_q_w"], P["conv_q_b"], groups=D)           # causal: history in front
    XK = F.conv1d(uh, P["conv_k_w"], P["conv_k_b"], groups=D)
    XV = F.linear(x, P["v_proj"])
    lr = P["base_lr"] * torch.sigmoid(torch.einsum("btc,hc->bht", x, P["lr_w"]) + P["lr_b"].view(1, H, 1)) / d
    pos = torch.arange(t0, t0 + T) % MINI_BATCH

    def heads(t):  # [B, D, T] -> [B, H, T, d]
        return t.view(B, H, d, T).transpose(-1, -2)

    XQ, XK = rope_interleaved(heads(XQ), pos), rope_interleaved(heads(XK), pos)
    XV = XV.view(B, T, H, d).transpose(1, 2)
    return XQ, XK, XV, lr, uh[..., -(CONV - 1):]


def ttt_output(P, x, O, H):
    B, T, D = x.shape
    o = layer_norm(O.transpose(1, 2).reshape(B, T, D), P["post_w"], P["post_b"])[0]
    o = gelu_tanh(F.linear(x, P["g_proj"])) * o
    return F.linear(o, P["o_proj"])


def _tau(P):
    return torch.clamp(1.0 / torch.arange(1, MINI_BATCH + 1) + P["token_idx"], min=0)


def mini_batches(P, XQ, XK, XV, lr):
    """Per mini-batch of 16 tokens (the last one shorter): its rows s..e-1 of q, k, v and
    eta_ij = tau_i * alpha_j [B, H, r, r]."""
    tau_all, T = _tau(P), XQ.shape[2]
    for s in range(0, T, MINI_BATCH):
        e = min(s + MINI_BATCH, T)
        eta = tau_all[:e - s].view(e - s, 1) * lr[:, :, s:e].unsqueeze(-2)
        yield s, e, XQ[:, :, s:e], XK[:, :, s:e], XV[:, :, s:e], eta


def ttt_linear_dual(P, XQ, XK, XV, lr, H):
    B, _, T, d = XQ.shape
    W, b = P["W1"].expand(B, H, d, d), P["b1"].expand(B, H, 1, d)
    g, be = P["norm_w"].view(1, H, 1, d), P["norm_b"].view(1, H, 1, d)
    O = torch.empty_like(XQ)
    for s, e, q, k, v, eta in mini_batches(P, XQ, XK, XV, lr):
        G = ln_l2_bwd(k @ W + b, v - k, g, be)
        A = torch.tril(q @ k.transpose(-1, -2))
        zbar = q @ W - (eta * A) @ G + b - torch.tril(eta) @ G
        eG = eta[..., -1, :].unsqueeze(-1) * G
        W = W - k.transpose(-1, -2) @ eG
        b = b - eG.sum(-2, keepdim=True)
        O[:, :, s:e] = q + layer_norm(zbar, g, be)[0]
    return O, dict(W1=W, b1=b)


def ttt_mlp_dual(P, XQ, XK, XV, lr, H):
    B, _, T, d = XQ.shape
    W1, b1 = P["W1"].expand(B, H, d, 4 * d), P["b1"].expand(B, H, 1, 4 * d)
    W2, b2 = P["W2"].expand(B, H, 4 * d, d), P["b2"].expand(B, H, 1, d)
    g, be = P["norm_w"].view(1, H, 1, d), P["norm_b"].view(1, H, 1, d)
    O = torch.empty_like(XQ)
    for s, e, q, k, v, eta in mini_batches(P, XQ, XK, XV, lr):
        Z1 = k @ W1 + b1
        X2 = gelu_tanh(Z1)
        G2 = ln_l2_bwd(X2 @ W2 + b2, v - k, g, be)
        G1 = (G2 @ W2.transpose(-1, -2)) * gelu_bwd(Z1)
        Zb1 = q @ W1 - (eta * torch.tril(q @ k.transpose(-1, -2))) @ G1 + b1 - torch.tril(eta) @ G1
        Xb2 = gelu_tanh(Zb1)
        Zb2 = Xb2 @ W2 - (eta * torch.tril(Xb2 @ X2.transpose(-1, -2))) @ G2 + b2 - torch.tril(eta) @ G2
        last = eta[..., -1, :].unsqueeze(-1)
        W1, b1 = W1 - k.transpose(-1, -2) @ (last * G1), b1 - (last * G1).sum(-2, keepdim=True)
        W2, b2 = W2 - X2.transpose(-1, -2) @ (last * G2), b2 - (last * G2).sum(-2, keepdim=True)
        O[:, :, s:e] = q + layer_norm(Zb2, g, be)[0]
    return O, dict(W1=W1, b1=b1, W2=W2, b2=b2)


def ttt_prefill(P, x, H, mlp):
    B, T, D = x.shape
    XQ, XK, XV, lr, hist = ttt_inputs(P, x, torch.zeros(B, D, CONV - 1), H, 0)
    O, state = (ttt_mlp_dual if mlp else ttt_linear_dual)(P, XQ, XK, XV, lr, H)
    return ttt_output(P, x, O, H), state


def ttt_decode_state(P, gen, B, T, H, D, mlp):
    """As after T tokens: the mini-batch-start parameters, the accumulators of the T mod 16 tokens of
    the current mini-batch (zero when it starts a new one) and the conv history."""
    d = D // H
    S = dict(pos=T, hist=torch.randn(B, D, CONV - 1, generator=gen))
    names = ("W1", "b1", "W2", "b2") if mlp else ("W1", "b1")
    for n in names:
        S[n] = P[n].expand(B, *P[n].shape).clone()
        S["G" + n] = _rn(gen, *S[n].shape, std=1e-3) * (T % MINI_BATCH)
    return S


def ttt_mlp_grads(S, k, v, g, be):
    """TTT-MLP's inner gradients at the mini-batch-start parameters of S: X2, G1, G2."""
    Z1 = k @ S["W1"] + S["b1"]
    X2 = gelu_tanh(Z1)
    G2 = ln_l2_bwd(X2 @ S["W2"] + S["b2"], v - k, g, be)
    return X2, (G2 @ S["W2"].transpose(-1, -2)) * gelu_bwd(Z1), G2


def ttt_step(P, S, x, H, mlp):
    """One token at position T: gradients at the mini-batch-start parameters accumulated (SPEC §3.3,
    ttt.py's decode cache); returns the output and leaves S as it was (the step is not committed)."""
    B, _, D = x.shape
    d, m = D // H, S["pos"] % MINI_BATCH
    XQ, XK, XV, lr, _ = ttt_inputs(P, x, S["hist"], H, S["pos"])
    q, k, v, alpha = XQ, XK, XV, lr.unsqueeze(-1)                      # [B, H, 1, d], alpha [B, H, 1, 1]
    g, be, tau = P["norm_w"].view(1, H, 1, d), P["norm_b"].view(1, H, 1, d), _tau(P)[m]
    if mlp:
        X2, G1, G2 = ttt_mlp_grads(S, k, v, g, be)
        W1 = S["W1"] - tau * (S["GW1"] + k.transpose(-1, -2) @ (alpha * G1))
        b1 = S["b1"] - tau * (S["Gb1"] + alpha * G1)
        W2 = S["W2"] - tau * (S["GW2"] + X2.transpose(-1, -2) @ (alpha * G2))
        b2 = S["b2"] - tau * (S["Gb2"] + alpha * G2)
        zbar = gelu_tanh(q @ W1 + b1) @ W2 + b2
    else:
        G = ln_l2_bwd(k @ S["W1"] + S["b1"], v - k, g, be)
        W = S["W1"] - tau * (S["GW1"] + k.transpose(-1, -2) @ (alpha * G))
        b = S["b1"] - tau * (S["Gb1"] + alpha * G)
        zbar = q @ W + b
    O = q + layer_norm(zbar, g, be)[0]
    return ttt_output(P, x, O, H)


# ---- one layer, both modes ---------------------------------------------------------------------------
class Layer:
    def __init__(self, name, cfg, seed=0, impl="eager"):
        self.name, self.cfg, self.impl = name, cfg, impl
        gen = torch.Generator().manual_seed(seed)
        D, H = cfg["d_model"], cfg["heads"]
        self.mlp = name == "ttt_mlp"
        if name == "attention":
            self.P = attention_params(gen, D, H)
        elif name == "mamba":
            self.P = mamba_params(gen, D, cfg["d_inner"], cfg["d_state"], cfg["dt_rank"])
        else:
            self.P = ttt_params(gen, D, H, D // H, self.mlp)

    def prefill(self, x):
        c = self.cfg
        if self.name == "attention":
            return attention_prefill(self.P, x, c["heads"], self.impl)
        if self.name == "mamba":
            return mamba_prefill(self.P, x, c["d_state"], c["dt_rank"])
        return ttt_prefill(self.P, x, c["heads"], self.mlp)

    def decode_state(self, gen, B, T):
        c = self.cfg
        if self.name == "attention":
            return attention_decode_state(self.P, gen, B, T, c["heads"], c["d_model"])
        if self.name == "mamba":
            return mamba_decode_state(self.P, gen, B, T, c["d_state"])
        return ttt_decode_state(self.P, gen, B, T, c["heads"], c["d_model"], self.mlp)

    def step(self, S, x):
        c = self.cfg
        if self.name == "attention":
            return attention_step(self.P, S, x, c["heads"], self.impl)
        if self.name == "mamba":
            return mamba_step(self.P, S, x, c["d_state"], c["dt_rank"])
        return ttt_step(self.P, S, x, c["heads"], self.mlp)


def config(name, layer):
    if layer == "mamba":
        c = dict(pc.MAMBA_CONFIGS[name])
        return dict(d_model=c["d_model"], d_inner=c["d_inner"], d_state=c["d_state"],
                    dt_rank=(c["d_model"] + 15) // 16, heads=0)
    return dict(pc.CONFIGS[name])


# ---- self-test: decode == the last row of a longer prefill -------------------------------------------
def _state_after_prefill(layer, x):
    """The decode state after prefilling x (what ttt/attention/mamba keep), for the self-test."""
    B, T, D = x.shape
    y, st = layer.prefill(x)
    if layer.name == "attention":
        k, v = st
        S = attention_decode_state(layer.P, torch.Generator().manual_seed(0), B, T, layer.cfg["heads"], D)
        S["k"][:, :, :T], S["v"][:, :, :T] = k, v
        return S
    if layer.name == "mamba":
        return dict(conv=st["conv"][..., :].clone(), ssm=st["ssm"].clone())
    # TTT: parameters at the start of the last (partial) mini-batch + its accumulators, by a prefill
    # of the full mini-batches and per-token accumulation of the rest (SPEC §3.3 decode rule).
    H, d, n0 = layer.cfg["heads"], D // layer.cfg["heads"], T - T % MINI_BATCH
    S = dict(pos=T)
    if n0:
        _, full = layer.prefill(x[:, :n0])
    else:
        full = {n: layer.P[n].expand(B, *layer.P[n].shape) for n in (("W1", "b1", "W2", "b2") if layer.mlp else ("W1", "b1"))}
    for n, t in full.items():
        S[n], S["G" + n] = t.clone(), torch.zeros_like(t)
    XQ, XK, XV, lr, hist = ttt_inputs(layer.P, x, torch.zeros(B, D, CONV - 1), H, 0)
    S["hist"] = hist
    g, be = layer.P["norm_w"].view(1, H, 1, d), layer.P["norm_b"].view(1, H, 1, d)
    for t in range(n0, T):
        k, v, a = XK[:, :, t:t + 1], XV[:, :, t:t + 1], lr[:, :, t:t + 1].unsqueeze(-1)
        if layer.mlp:
            X2, G1, G2 = ttt_mlp_grads(S, k, v, g, be)
            S["GW1"] += k.transpose(-1, -2) @ (a * G1)
            S["Gb1"] += a * G1
            S["GW2"] += X2.transpose(-1, -2) @ (a * G2)
            S["Gb2"] += a * G2
        else:
            G = ln_l2_bwd(k @ S["W1"] + S["b1"], v - k, g, be)
            S["GW1"] += k.transpose(-1, -2) @ (a * G)
            S["Gb1"] += a * G
    return S


def selftest():
    torch.set_default_dtype(torch.float64)
    cfg_t = dict(d_model=64, heads=4, head_dim=16)
    cfg_m = dict(d_model=64, d_inner=128, d_state=16, dt_rank=4, heads=0)
    fails = 0
    for name, impl in ((n, i) for n in LAYERS for i in peer_impls(n)):
        layer = Layer(name, cfg_m if name == "mamba" else cfg_t, seed=1, impl=impl)
        for T in (37, 48):
            x = torch.randn(2, T + 1, 64, generator=torch.Generator().manual_seed(T))
            want = layer.prefill(x)[0][:, T:]
            S = _state_after_prefill(layer, x[:, :T])
            got = layer.step(S, x[:, T:])
            err = ((got - want).abs().max() / want.abs().max()).item()  # outputs are ~1e-2: relative
            ok = err < 1e-9
            fails += not ok
            print(f"{'ok' if ok else 'FAIL':4s} {name} {impl} decode(T={T}) vs prefill(T+1): {err:.2e}")
    # the two attention peers compute the same function (eager's softmax is fp32, as transformers')
    x = torch.randn(2, 40, 64, generator=torch.Generator().manual_seed(3))
    a, b = (Layer("attention", cfg_t, seed=1, impl=i).prefill(x)[0] for i in ("sdpa", "eager"))
    err = ((a - b).abs().max() / a.abs().max()).item()
    fails += not err < 1e-6
    print(f"{'ok' if err < 1e-6 else 'FAIL':4s} attention eager vs sdpa prefill: {err:.2e}")
    torch.set_default_dtype(torch.float32)
    return 1 if fails else 0


# ---- the sweep -----------------------------------------------------------------------------------------
def our_rows(path):
    """Our cpu rows of the run being joined: counts, state bytes and ceilings per point."""
    import csv
    rows = {}
    if path and os.path.exists(path):
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                if r.get("backend") == "cpu" and r.get("status") == "ok" and r.get("level") == "layer":
                    rows[(r["layer"], r["mode"], int(r["batch"]), int(r["ctx"]))] = r
    return rows


def row_ceilings(r):
    """The CPU ceilings (FLOP/s, bytes/s) one of our rows was measured against: rate * 100 / pct.
    A cpu row's bandwidth ceiling is a read of a buffer of that row's bytes measured in the run (a
    cache-aware roofline: a decode step whose weights sit in L3 is measured against L3), so it
    differs from row to row."""
    out = {}
    for key, rate, pct in (("fp32_tflops", "tflops", "pct_peak_flops"), ("gbps", "gbps", "pct_peak_bw")):
        try:
            out[key] = float(r[rate]) * 100 / float(r[pct])
        except (KeyError, TypeError, ValueError, ZeroDivisionError):
            continue
    return out


def ceilings(rows):
    """A run-wide fallback for points we have no row of: the ceilings of any of our rows with both
    percentages."""
    for r in rows.values():
        c = row_ceilings(r)
        if len(c) == 2:
            return c
    return {}


def point_ceilings(ours, run_wide):
    """The ceilings a peer's point is measured against: those of our row of the same point (same
    working set, so the same bandwidth ceiling), else the run-wide fallback."""
    return row_ceilings(ours) if ours else dict(run_wide)


def blas_name():
    info = torch.__config__.show()
    blas = next((p.split("=", 1)[1] for p in info.replace(",", " ").split() if p.startswith("BLAS_INFO=")), "unknown")
    cap = next((line.split(":", 1)[1].strip() for line in info.splitlines() if "CPU capability usage" in line), "")
    return f"{blas} (torch {torch.__version__.split('+')[0]}{', ' + cap if cap else ''})"


def main():
    p = pc.common_args(__doc__.split("\n")[0], "125m")
    p.set_defaults(device="cpu", min_samples=10, soft_s=1.0, hard_s=3.0)
    p.add_argument("--layers", default=",".join(LAYERS))
    p.add_argument("--modes", default="prefill,decode")
    p.add_argument("--threads", type=int, default=0, help="0: our rows' thread count, else OMP_NUM_THREADS or all CPUs")
    p.add_argument("--counts-from", default=None, help="our results CSV of the same run (counts, ceilings, threads)")
    p.add_argument("--interleave-with", metavar="SEQBENCH", default=None,
                   help="measure ours around each point too: SEQBENCH run of the same point (cpu backend) before "
                        "and after the peer, into OUT.ours1.csv and OUT.ours2.csv (one interleaved run)")
    p.add_argument("--install", action="store_true", help="create build/peers-venv and pip install torch (PyPI)")
    p.add_argument("--selftest", action="store_true")
    a = p.parse_args()
    if a.install:
        pc.install_torch()
        return 0
    global torch, F
    torch = pc.import_torch_or_exit("torch_cpu_layers.py")  # with torch missing, re-executes or exits
    F = torch.nn.functional
    if a.selftest:
        return selftest()
    if a.config is None:
        a.config = "125m"
    ours = our_rows(a.counts_from)
    # joining a run: its layer-level points (context, batch) unless given
    a.ctx = a.ctx or sorted({k[3] for k in ours}) or pc.parse_ctx("1k:8k")
    a.batch = a.batch or next((k[2] for k in ours), 1)
    threads = a.threads or next((int(r["threads"]) for r in ours.values() if r.get("threads")), 0) \
        or int(os.environ.get("OMP_NUM_THREADS", 0) or os.cpu_count())
    torch.set_num_threads(threads)
    peer = pc.Peer(a)
    run_wide = ceilings(ours)
    peer.meta.cols.update(threads=threads, blas=blas_name())
    layers = [x for x in a.layers.split(",") if x]
    for T in a.ctx:  # increasing context across layers, as our sweeps
        for name in layers:
            cfg = config(a.config, name)
            for mode in a.modes.split(","):
                if a.interleave_with:
                    run_ours(a, name, mode, T, 1)
                    ours.update(our_rows(a.out + ".ours1.csv"))
                    run_wide = run_wide or ceilings(ours)
                mine = ours.get((name, mode, a.batch, T))
                peer.peaks = point_ceilings(mine, run_wide)
                for impl in peer_impls(name):
                    run_point(peer, name, impl, cfg, mode, a.batch, T, mine, a.config)
                if a.interleave_with:
                    run_ours(a, name, mode, T, 2)
    peer.summary("torch_cpu_layers")
    return 0


def run_ours(a, name, mode, T, which):
    """Our cpu backend on one point (every impl), appended to OUT.ours<which>.csv."""
    import subprocess
    subprocess.run([a.interleave_with, "run", "--preset", "cpu-full", "--config", a.config, "--layers", name,
                    "--levels", "layer", "--modes", mode, "--ctx", str(T), "--batch", str(a.batch), "--backend", "cpu",
                    "--out", f"{a.out}.ours{which}.csv", "--resume"], stdout=subprocess.DEVNULL, check=False)


def run_point(peer, name, impl, cfg, mode, B, T, ours, config_name):
    D = cfg["d_model"]
    fields = dict(backend="torch-cpu", layer=name, impl=impl, level="layer", mode=mode, dtype="fp32",
                  config=config_name, batch=B, ctx=T, d_model=D, tokens=B * T if mode == "prefill" else B)
    if name == "mamba":
        fields.update(d_state=cfg["d_state"])
    else:
        fields.update(heads=cfg["heads"], head_dim=D // cfg["heads"])
        if name.startswith("ttt"):
            fields.update(mini_batch=MINI_BATCH)
    counts = dict(flops=None, bytes=None, state_bytes=None, note="counts and CPU ceilings: seqbench's row of this point")
    if ours:
        counts.update(flops=float(ours["flops"]), bytes=float(ours["bytes"]), state_bytes=float(ours["state_bytes"]))

    def build():
        layer = Layer(name, cfg, impl=impl)
        gen = torch.Generator().manual_seed(7)
        if mode == "prefill":
            x = torch.randn(B, T, D, generator=gen)
            return lambda: layer.prefill(x)[0]
        S = layer.decode_state(gen, B, T)
        x = torch.randn(B, 1, D, generator=gen)
        return lambda: layer.step(S, x)

    with torch.inference_mode():
        peer.run_point(fields, counts, build,
                       extra_note="the official module's math in eager PyTorch (fp32); " + peer.meta.cols["blas"])


if __name__ == "__main__":
    sys.exit(main())
