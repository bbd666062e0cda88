#!/usr/bin/env python3
"""make_cases.py: writes golden cases of other shapes (tests/golden_more/) with the reference PyTorch code.

Same folder format as tests/golden/ (see tests/golden/README.md): case.txt, x.npy, y.npy, for decode cases
x_decode.npy / y_decode.npy, and one .npy per state_dict key of the reference module with its PyTorch shape.

References (fetched by the caller, NOT part of this repository; pass their checkouts):
  --ttt   DIR  checkout of test-time-training/ttt-lm-pytorch at cd831db1 (DIR/ttt.py: TTTLinear, TTTMLP, TTTCache)
  --mamba DIR  checkout of state-spaces/mamba at e9594ce1 (DIR/mamba_ssm/modules/mamba_simple.py: Mamba,
               DIR/mamba_ssm/ops/selective_scan_interface.py: selective_scan_ref)
Attention has no reference module here: a 30-line float64 Llama attention (HF LlamaAttention semantics:
rotate-half RoPE with absolute positions, no biases, causal softmax) is written below, and its decode path is
a separate KV-cache loop checked against it.

What is stubbed, and why (nothing that computes is replaced):
  - transformers (imported by ttt.py for its LM wrapper): PretrainedConfig (stores kwargs as attributes),
    PreTrainedModel (= nn.Module), ModelOutput, the two output classes, ACT2FN (SwiGluMLP only), logging
    (std logging) and is_causal_conv1d_available() -> False, so ttt.py takes its plain-PyTorch conv path.
  - mamba_ssm: the package __init__ (imports Mamba2/Mamba3/Triton models) is not run: empty package modules
    point at the source folders. mamba_ssm.ops.triton is an empty package (so selective_state_update and the
    Triton RMSNorm are absent and mamba_simple falls back to PyTorch), with a layer_norm module holding a
    _layer_norm_fwd that raises (imported by selective_scan_interface, never called here). causal_conv1d and
    selective_scan_cuda are not installed, so their try/except imports give None. mamba_simple's
    selective_scan_fn is bound to selective_scan_ref (the brief: the scan is done by selective_scan_ref).
  - float64: the outputs are computed in float64 from the stored float32 values. The references force some
    tensors to float32 with .float() (selective_scan_ref's inputs, RotaryEmbedding's frequencies); while the
    float64 run is in progress Tensor.float is Tensor.double and the default dtype is float64. The same code is
    also run in plain float32 and must land within 1e-5 (relative to max|y|) of the float64 answer.

Checks done for every case before it is written: float32 run vs float64 run; TTT and Mamba decode (cache path)
vs a float64 prefill of prompt+steps without cache; TTT prefill with cache vs without; attention decode
(KV-cache loop) vs prefill of prompt+steps.

Usage (from the repository root; numpy, torch and einops needed):
  python scripts/golden/make_cases.py --ttt /tmp/ref/ttt --mamba /tmp/ref/mamba --out tests/golden_more
  python scripts/golden/make_cases.py ... --only mamba_decode_B2_D64_N8_R6_T1_S20   (one case)
  python scripts/golden/make_cases.py ... --set probe --out /tmp/probe   (larger shapes, not committed)
  build/seqbench golden tests/golden_more --backend cpu
The output is deterministic (seeded): rerunning it rewrites the same bytes.
"""
import argparse
import contextlib
import hashlib
import importlib.util
import logging
import math
import os
import sys
import types

import numpy as np
import torch
import torch.nn as nn

TTT_COMMIT, MAMBA_COMMIT = "cd831db1", "e9594ce1"

# ---- cases ---------------------------------------------------------------------------------------------------
# Each: name, layer, mode, B, T (prompt/prefill), S (decode steps), D, seed, and the layer's own options.
# TTT: H d b lr gate sqk (conv_kernel K, rope_theta theta, clamp = the learnable_token_idx entry pushed below 0).
CASES = [
    dict(name="ttt_linear_prefill_B1_D96_H2_b8_T29", layer="ttt_linear", mode="prefill", B=1, T=29, D=96, H=2,
         b=8, lr=1.0, gate=0, sqk=0, clamp=6, seed=2001),
    dict(name="ttt_mlp_prefill_B3_D64_H2_b8_T29", layer="ttt_mlp", mode="prefill", B=3, T=29, D=64, H=2,
         b=8, lr=0.1, gate=0, sqk=0, clamp=3, seed=2002),
    dict(name="ttt_linear_shareqk_prefill_B2_D128_H2_b16_T40", layer="ttt_linear", mode="prefill", B=2, T=40,
         D=128, H=2, b=16, lr=0.1, gate=0, sqk=1, clamp=3, seed=2003),
    dict(name="ttt_mlp_shareqk_gate_prefill_B1_D64_H1_b16_T50", layer="ttt_mlp", mode="prefill", B=1, T=50,
         D=64, H=1, b=16, lr=1.0, gate=1, sqk=1, clamp=14, seed=2004),
    dict(name="ttt_linear_gate_decode_B3_D96_H3_b8_T13_S20", layer="ttt_linear", mode="decode", B=3, T=13, S=20,
         D=96, H=3, b=8, lr=0.1, gate=1, sqk=0, clamp=6, seed=2005, theta=500000.0),
    dict(name="ttt_mlp_decode_B1_D96_H6_b8_T5_S22", layer="ttt_mlp", mode="decode", B=1, T=5, S=22, D=96, H=6,
         b=8, lr=1.0, gate=0, sqk=0, clamp=6, seed=2006),
    dict(name="ttt_linear_shareqk_gate_decode_B2_D64_H2_b16_T2_S36", layer="ttt_linear", mode="decode", B=2, T=2,
         S=36, D=64, H=2, b=16, lr=1.0, gate=1, sqk=1, clamp=14, seed=2007),
    dict(name="ttt_mlp_shareqk_gate_K3_decode_B3_D64_H2_b16_T21_S30", layer="ttt_mlp", mode="decode", B=3, T=21,
         S=30, D=64, H=2, b=16, lr=0.1, gate=1, sqk=1, K=3, clamp=14, seed=2008),
    # Mamba: N d_state, R dt_rank, K d_conv (expand E, 2 unless given)
    dict(name="mamba_prefill_B1_D96_N8_R6_T29", layer="mamba", mode="prefill", B=1, T=29, D=96, N=8, R=6, K=4,
         seed=2101),
    dict(name="mamba_decode_B2_D64_N8_R6_T1_S20", layer="mamba", mode="decode", B=2, T=1, S=20, D=64, N=8, R=6,
         K=4, seed=2104),
    dict(name="mamba_K3_decode_B3_D64_N16_R5_T5_S20", layer="mamba", mode="decode", B=3, T=5, S=20, D=64, N=16,
         R=5, K=3, seed=2105),
    # attention
    dict(name="attention_prefill_B1_D96_H2_T70", layer="attention", mode="prefill", B=1, T=70, D=96, H=2,
         seed=2201),
    dict(name="attention_decode_B3_D96_H6_T1_S20", layer="attention", mode="decode", B=3, T=1, S=20, D=96, H=6,
         seed=2203),
    dict(name="attention_decode_B1_D64_H2_T33_S12", layer="attention", mode="decode", B=1, T=33, S=12, D=64,
         H=2, seed=2204, theta=500000.0),
]

# Larger or odder shapes, written only with --set probe (to a scratch folder: too big to commit). They look for
# limits of the fast paths (blocking, chunking, unrolling) that the committed cases are too small to reach.
PROBES = [
    dict(name="attention_prefill_B2_D64_H2_T300", layer="attention", mode="prefill", B=2, T=300, D=64, H=2, seed=3001),
    dict(name="attention_prefill_B1_D64_H8_T600", layer="attention", mode="prefill", B=1, T=600, D=64, H=8, seed=3002),
    dict(name="attention_decode_B2_D128_H1_T520_S8", layer="attention", mode="decode", B=2, T=520, S=8, D=128, H=1,
         seed=3003),
    dict(name="ttt_linear_prefill_B2_D64_H4_b4_T103", layer="ttt_linear", mode="prefill", B=2, T=103, D=64, H=4,
         b=4, lr=1.0, gate=0, sqk=0, clamp=1, seed=3101),
    dict(name="ttt_mlp_prefill_B2_D64_H2_b32_T100", layer="ttt_mlp", mode="prefill", B=2, T=100, D=64, H=2,
         b=32, lr=0.1, gate=1, sqk=1, K=2, clamp=30, seed=3102),
    dict(name="ttt_linear_shareqk_prefill_B5_D64_H2_b64_T200", layer="ttt_linear", mode="prefill", B=5, T=200, D=64,
         H=2, b=64, lr=1.0, gate=0, sqk=1, clamp=0, seed=3103),
    dict(name="ttt_mlp_prefill_B1_D256_H4_b16_T70", layer="ttt_mlp", mode="prefill", B=1, T=70, D=256, H=4,
         b=16, lr=1.0, gate=1, sqk=0, clamp=15, seed=3104),
    dict(name="ttt_linear_prefill_B2_D64_H4_b16_T1", layer="ttt_linear", mode="prefill", B=2, T=1, D=64, H=4,
         b=16, lr=1.0, gate=0, sqk=0, clamp=0, seed=3105),
    dict(name="ttt_mlp_shareqk_decode_B2_D64_H2_b8_T1_S30", layer="ttt_mlp", mode="decode", B=2, T=1, S=30, D=64,
         H=2, b=8, lr=1.0, gate=0, sqk=1, clamp=7, seed=3106),
    dict(name="ttt_linear_decode_B4_D128_H4_b16_T48_S40", layer="ttt_linear", mode="decode", B=4, T=48, S=40,
         D=128, H=4, b=16, lr=1.0, gate=1, sqk=1, K=2, clamp=5, seed=3107),
    dict(name="ttt_mlp_decode_B2_D64_H4_b4_T7_S25", layer="ttt_mlp", mode="decode", B=2, T=7, S=25, D=64, H=4,
         b=4, lr=0.1, gate=0, sqk=0, clamp=2, seed=3108),
    dict(name="mamba_prefill_B2_D64_N16_R4_T300", layer="mamba", mode="prefill", B=2, T=300, D=64, N=16, R=4, K=4,
         seed=3201),
    dict(name="mamba_prefill_B5_D128_N32_R8_T70_K2", layer="mamba", mode="prefill", B=5, T=70, D=128, N=32, R=8,
         K=2, seed=3202),
    dict(name="mamba_prefill_B2_D64_N4_R1_E1_T40", layer="mamba", mode="prefill", B=2, T=40, D=64, N=4, R=1, K=4,
         E=1, seed=3203),
    dict(name="mamba_decode_B3_D128_N16_R8_T2_S30_K2", layer="mamba", mode="decode", B=3, T=2, S=30, D=128, N=16,
         R=8, K=2, seed=3204),
    dict(name="mamba_decode_B1_D64_N16_R4_E3_T130_S10", layer="mamba", mode="decode", B=1, T=130, S=10, D=64, N=16,
         R=4, K=4, E=3, seed=3205),
]


# ---- float64 runs ---------------------------------------------------------------------------------------------
@contextlib.contextmanager
def float64_everywhere():
    """While active, .float() means .double() and new tensors default to float64 (see the header)."""
    saved_float, saved_dtype = torch.Tensor.float, torch.get_default_dtype()
    torch.Tensor.float = torch.Tensor.double
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.Tensor.float = saved_float
        torch.set_default_dtype(saved_dtype)


def precision(f64):
    return float64_everywhere() if f64 else contextlib.nullcontext()


def sha12(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:12]


# ---- importing the references with minimal stubs ---------------------------------------------------------------
def add_module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


def import_ttt(ttt_dir):
    class PretrainedConfig:  # ttt.py's TTTConfig calls super().__init__(**kwargs)
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

    class ModelOutput:
        pass

    def get_logger(name):
        lg = logging.getLogger(name)
        lg.warning_once = lg.warning
        return lg

    add_module("transformers", PretrainedConfig=PretrainedConfig)
    add_module("transformers.activations", ACT2FN={})
    add_module("transformers.modeling_outputs", BaseModelOutputWithPast=ModelOutput,
               CausalLMOutputWithPast=ModelOutput)
    add_module("transformers.modeling_utils", PreTrainedModel=nn.Module)
    add_module("transformers.utils", ModelOutput=ModelOutput, logging=types.SimpleNamespace(get_logger=get_logger))
    add_module("transformers.utils.import_utils", is_causal_conv1d_available=lambda: False)
    path = os.path.join(ttt_dir, "ttt.py")
    spec = importlib.util.spec_from_file_location("ttt_reference", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, path


def import_mamba(mamba_dir):
    root = os.path.join(mamba_dir, "mamba_ssm")
    for pkg, sub in (("mamba_ssm", ""), ("mamba_ssm.ops", "ops"), ("mamba_ssm.modules", "modules"),
                     ("mamba_ssm.utils", "utils")):
        add_module(pkg, __path__=[os.path.join(root, sub)])  # package without running its __init__.py
    add_module("mamba_ssm.ops.triton", __path__=[])  # empty: no Triton kernel can be imported

    def no_triton(*args, **kwargs):
        raise RuntimeError("Triton layer norm is not used by Mamba-1 (stub)")

    add_module("mamba_ssm.ops.triton.layer_norm", _layer_norm_fwd=no_triton)
    import mamba_ssm.modules.mamba_simple as ms
    import mamba_ssm.ops.selective_scan_interface as ssi
    assert ms.causal_conv1d_fn is None and ms.causal_conv1d_update is None and ms.selective_state_update is None
    ms.selective_scan_fn = ssi.selective_scan_ref
    return ms, os.path.join(root, "modules", "mamba_simple.py"), os.path.join(root, "ops",
                                                                               "selective_scan_interface.py")


# ---- parameters -----------------------------------------------------------------------------------------------
def fill_param(key, shape, c, rng):
    """Seeded, non-trivial values for one state_dict entry (no zero biases, no identity norms)."""
    n = lambda std: rng.normal(0.0, std, shape)
    u = lambda lo, hi: rng.uniform(lo, hi, shape)
    if key.endswith("norm_weight") or key == "post_norm.weight":
        return u(0.8, 1.2)
    if key.endswith("norm_bias") or key == "post_norm.bias" or key.endswith(".bias") and "conv" in key:
        return n(0.1)
    if key in ("b1", "b2"):
        return n(0.1)
    if key in ("W1", "W2"):
        return n(1.0 / math.sqrt(shape[1]))  # [H, in, out]
    if key.startswith("conv"):  # conv_q/conv_k/conv1d weight [C, 1, K]
        return n(0.5)
    if key == "learnable_ttt_lr_weight":
        return n(0.05)
    if key == "learnable_ttt_lr_bias":
        return n(0.3)
    if key == "learnable_token_idx":
        v = n(0.02)
        v[c["clamp"]] = -1.0 / (c["clamp"] + 1) - 0.03  # 1/(i+1) + v < 0: clamped to 0
        return v
    if key == "A_log":  # S4D-real init log(1..N) plus noise
        return np.log(np.arange(1, shape[1] + 1))[None, :] + n(0.2)
    if key == "D":
        return u(0.5, 1.5)
    if key == "dt_proj.bias":  # softplus(bias) = dt in [1e-3, 0.3], log-uniform (Mamba's dt init, wider)
        dt = np.exp(rng.uniform(math.log(1e-3), math.log(0.3), shape))
        return dt + np.log(-np.expm1(-dt))
    if key == "dt_proj.weight":
        r = shape[1] ** -0.5
        return u(-r, r)
    if key.endswith(".weight"):  # nn.Linear [out, in]
        return n(1.0 / math.sqrt(shape[1]))
    raise KeyError(f"no fill rule for parameter {key}")


def make_params(module, c, rng):
    return {k: fill_param(k, tuple(v.shape), c, rng).astype(np.float32) for k, v in module.state_dict().items()}


def load(module, params):
    sd = {k: torch.from_numpy(v.astype(np.float64)) for k, v in params.items()}
    missing = module.load_state_dict(sd, strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    return module


def t(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float64)).to(torch.get_default_dtype())


# ---- TTT ------------------------------------------------------------------------------------------------------
def ttt_config(ttt, c):
    return ttt.TTTConfig(hidden_size=c["D"], num_attention_heads=c["H"], num_hidden_layers=1,
                         mini_batch_size=c["b"], ttt_base_lr=c["lr"], use_gate=bool(c["gate"]),
                         share_qk=bool(c["sqk"]), ttt_layer_type=c["layer"][4:], pre_conv=False,
                         conv_kernel=c.get("K", 4), rope_theta=c.get("theta", 10000.0))


def ttt_module(ttt, c, params=None):
    cls = ttt.TTTLinear if c["layer"] == "ttt_linear" else ttt.TTTMLP
    m = cls(ttt_config(ttt, c), layer_idx=0).eval()
    return load(m, params) if params is not None else m


def ttt_run(ttt, c, params, x, xd, f64):
    """Prefill output, and for decode the outputs of the TTTCache path one token per call (as TTTModel does)."""
    with precision(f64), torch.no_grad():
        m = ttt_module(ttt, c, params)
        B, T = x.shape[:2]
        if xd is None:
            return m(t(x), position_ids=torch.arange(T).unsqueeze(0)).numpy(), None
        owner = types.SimpleNamespace(config=m.config, device=torch.device("cpu"),
                                      layers=[types.SimpleNamespace(seq_modeling_block=m)])
        cache = ttt.TTTCache(owner, B)
        y = m(t(x), position_ids=torch.arange(T).unsqueeze(0), cache_params=cache).numpy()
        cache.seqlen_offset += T
        yd = []
        for s in range(xd.shape[1]):
            p = cache.seqlen_offset
            yd.append(m(t(xd[:, s:s + 1]), position_ids=torch.arange(p, p + 1).unsqueeze(0), cache_params=cache))
            cache.seqlen_offset += 1
        return y, torch.cat(yd, dim=1).numpy()


# ---- Mamba ----------------------------------------------------------------------------------------------------
def mamba_module(ms, c, params=None):
    m = ms.Mamba(d_model=c["D"], d_state=c["N"], d_conv=c["K"], expand=c.get("E", 2), dt_rank=c["R"],
                 use_fast_path=False, layer_idx=0).eval()
    return load(m, params) if params is not None else m


def mamba_run(ms, c, params, x, xd, f64):
    """Prefill = forward; decode = forward with inference params (conv_state, ssm_state), then Mamba.step."""
    with precision(f64), torch.no_grad():
        m = mamba_module(ms, c, params)
        if xd is None:
            return m(t(x)).numpy(), None
        ip = types.SimpleNamespace(key_value_memory_dict={}, seqlen_offset=0)
        y = m(t(x), inference_params=ip).numpy()
        ip.seqlen_offset += x.shape[1]
        yd = []
        for s in range(xd.shape[1]):
            yd.append(m(t(xd[:, s:s + 1]), inference_params=ip))  # seqlen_offset > 0: Mamba.step
            ip.seqlen_offset += 1
        return y, torch.cat(yd, dim=1).numpy()


# ---- attention (own float64 Llama attention) ---------------------------------------------------------------------
def rope_rotate_half(u, pos, theta):
    """HF Llama RoPE: inv_freq_j = theta^(-2j/d), cos/sin repeated over both halves, rotate_half pairing (j, j+d/2)."""
    d = u.shape[-1]
    ang = pos[:, None] * theta ** (-np.arange(0, d, 2) / d)[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], -1)), np.sin(np.concatenate([ang, ang], -1))
    return u * cos + np.concatenate([-u[..., d // 2:], u[..., :d // 2]], -1) * sin


def heads(u, H):  # [B,T,D] -> [B,H,T,d]
    B, T, D = u.shape
    return u.reshape(B, T, H, D // H).transpose(0, 2, 1, 3)


def attention_prefill(p, x, H, theta):
    B, T, D = x.shape
    pos = np.arange(T, dtype=np.float64)
    q = rope_rotate_half(heads(x @ p["q_proj.weight"].T, H), pos, theta)
    k = rope_rotate_half(heads(x @ p["k_proj.weight"].T, H), pos, theta)
    v = heads(x @ p["v_proj.weight"].T, H)
    s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(D // H)
    s = np.where(np.tril(np.ones((T, T), bool)), s, -np.inf)
    w = np.exp(s - s.max(-1, keepdims=True))
    o = (w / w.sum(-1, keepdims=True)) @ v
    return o.transpose(0, 2, 1, 3).reshape(B, T, D) @ p["o_proj.weight"].T


def attention_decode(p, x, xd, H, theta):
    """KV-cache loop: prompt keys/values after RoPE, then one token at absolute position T+s per step."""
    B, T, D = x.shape
    d = D // H
    kc = list(rope_rotate_half(heads(x @ p["k_proj.weight"].T, H), np.arange(T, dtype=np.float64), theta)
              .transpose(2, 0, 1, 3))
    vc = list(heads(x @ p["v_proj.weight"].T, H).transpose(2, 0, 1, 3))
    out = []
    for s in range(xd.shape[1]):
        xt, pos = xd[:, s:s + 1], np.array([T + s], dtype=np.float64)
        q = rope_rotate_half(heads(xt @ p["q_proj.weight"].T, H), pos, theta)[:, :, 0]  # [B,H,d]
        kc.append(rope_rotate_half(heads(xt @ p["k_proj.weight"].T, H), pos, theta)[:, :, 0])
        vc.append(heads(xt @ p["v_proj.weight"].T, H)[:, :, 0])
        K, V = np.stack(kc, 2), np.stack(vc, 2)  # [B,H,L,d]
        sc = np.einsum("bhd,bhld->bhl", q, K) / math.sqrt(d)
        w = np.exp(sc - sc.max(-1, keepdims=True))
        o = np.einsum("bhl,bhld->bhd", w / w.sum(-1, keepdims=True), V)
        out.append(o.reshape(B, 1, D) @ p["o_proj.weight"].T)
    return np.concatenate(out, 1)


def attention_sdpa(p, x, H, theta):
    """Second opinion on the softmax/mask/merge part: torch's causal SDPA on the same rotated q, k."""
    pos = np.arange(x.shape[1], dtype=np.float64)
    q, k = (torch.from_numpy(rope_rotate_half(heads(x @ p[w].T, H), pos, theta))
            for w in ("q_proj.weight", "k_proj.weight"))
    v = torch.from_numpy(heads(x @ p["v_proj.weight"].T, H))
    o = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).numpy()
    return o.transpose(0, 2, 1, 3).reshape(x.shape) @ p["o_proj.weight"].T


def attention_params(c, rng):
    D = c["D"]
    return {k: rng.normal(0.0, 1.0 / math.sqrt(D), (D, D)).astype(np.float32)
            for k in ("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight")}


# ---- one case ---------------------------------------------------------------------------------------------------
def rel(a, b, scale):
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64)))) / max(1.0, scale)


def compute_case(c, refs):
    rng = np.random.default_rng(c["seed"])
    B, T, S, D = c["B"], c["T"], c.get("S", 0), c["D"]
    decode = c["mode"] == "decode"
    layer = c["layer"]
    if layer == "attention":
        params = attention_params(c, rng)
    elif layer == "mamba":
        params = make_params(mamba_module(refs["mamba"], c), c, rng)
    else:
        params = make_params(ttt_module(refs["ttt"], c), c, rng)
    x = rng.normal(0.0, 1.0, (B, T, D)).astype(np.float32)
    xd = rng.normal(0.0, 1.0, (B, S, D)).astype(np.float32) if decode else None
    checks = {}
    if layer == "attention":
        p64 = {k: v.astype(np.float64) for k, v in params.items()}
        theta = c.get("theta", 10000.0)
        y = attention_prefill(p64, x.astype(np.float64), c["H"], theta)
        yd = attention_decode(p64, x.astype(np.float64), xd.astype(np.float64), c["H"], theta) if decode else None
        checks["prefill vs torch scaled_dot_product_attention (float64, same RoPE)"] = rel(
            attention_sdpa(p64, x.astype(np.float64), c["H"], theta), y, np.abs(y).max())
        if decode:
            full = attention_prefill(p64, np.concatenate([x, xd], 1).astype(np.float64), c["H"], theta)
            checks["kv-cache decode vs prefill of prompt+steps"] = rel(yd, full[:, T:], np.abs(yd).max())
            checks["prompt vs prefill of prompt+steps"] = rel(y, full[:, :T], np.abs(y).max())
    else:
        run = (lambda *a: mamba_run(refs["mamba"], *a)) if layer == "mamba" else (lambda *a: ttt_run(refs["ttt"], *a))
        y, yd = run(c, params, x, xd, True)
        y32, yd32 = run(c, params, x, xd, False)
        checks["float32 reference vs float64, y"] = rel(y32, y, np.abs(y).max())
        if decode:
            checks["float32 reference vs float64, y_decode"] = rel(yd32, yd, np.abs(yd).max())
            full, _ = run(c, params, np.concatenate([x, xd], 1), None, True)
            checks["cache decode vs prefill of prompt+steps (no cache)"] = rel(yd, full[:, T:], np.abs(yd).max())
            checks["prefill with cache vs without"] = rel(y, full[:, :T], np.abs(y).max())
    return params, x, y, xd, yd, checks


def case_txt(c, y, yd, notes):
    L = c["layer"]
    kv = [("layer", L), ("level", "layer"), ("mode", c["mode"]), ("batch", c["B"]), ("ctx", c["T"])]
    if c["mode"] == "decode":
        kv.append(("decode_steps", c["S"]))
    kv += [("d_model", c["D"])]
    if L.startswith("ttt"):
        kv += [("heads", c["H"]), ("head_dim", c["D"] // c["H"]), ("mini_batch", c["b"]),
               ("ttt_base_lr", repr(float(c["lr"]))), ("use_gate", c["gate"]), ("share_qk", c["sqk"]),
               ("pre_conv", 0), ("conv_kernel", c.get("K", 4)), ("rope_theta", repr(float(c.get("theta", 10000.0)))),
               ("eps", "1e-06")]
    elif L == "mamba":
        e = c.get("E", 2)
        kv += [("d_state", c["N"]), ("expand", e), ("d_inner", e * c["D"]), ("dt_rank", c["R"]), ("d_conv", c["K"])]
    else:
        kv += [("heads", c["H"]), ("head_dim", c["D"] // c["H"]), ("rope_theta", repr(float(c.get("theta", 10000.0))))]
    m = float(np.abs(y).max()) if yd is None else max(float(np.abs(y).max()), float(np.abs(yd).max()))
    kv += [("seed", c["seed"]), ("max_abs_y", "%g" % m), ("notes", notes)]
    return "".join(f"{k}={v}\n" for k, v in kv)


def save(path, a):
    np.save(path, np.ascontiguousarray(a, dtype="<f4"))


def write_case(out, c, refs, notes):
    params, x, y, xd, yd, checks = compute_case(c, refs)
    # float32 reference vs float64: 1e-5 of max|y|; every other check compares two float64 computations: 1e-10
    bad = [(k, v) for k, v in checks.items() if not v <= (1e-5 if k.startswith("float32") else 1e-10)]
    for k, v in checks.items():
        print(f"  {k}: {v:.2e}")
    if bad:
        raise SystemExit(f"{c['name']}: check failed: {bad}")
    d = os.path.join(out, c["name"])
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):  # a rerun replaces the folder's content
        os.remove(os.path.join(d, f))
    for k, v in params.items():
        save(os.path.join(d, k + ".npy"), v)
    save(os.path.join(d, "x.npy"), x)
    save(os.path.join(d, "y.npy"), y)
    if yd is not None:
        save(os.path.join(d, "x_decode.npy"), xd)
        save(os.path.join(d, "y_decode.npy"), yd)
    with open(os.path.join(d, "case.txt"), "w") as f:
        f.write(case_txt(c, y, yd, notes[c["layer"]]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ttt", required=True, help="checkout of test-time-training/ttt-lm-pytorch (cd831db1)")
    ap.add_argument("--mamba", required=True, help="checkout of state-spaces/mamba (e9594ce1)")
    ap.add_argument("--out", default="tests/golden_more")
    ap.add_argument("--only", action="append", help="case name (repeatable)")
    ap.add_argument("--set", choices=("cases", "probe"), default="cases",
                    help="cases: the committed tests/golden_more set; probe: larger shapes for a scratch folder")
    a = ap.parse_args()
    torch.set_num_threads(1)
    ttt, ttt_path = import_ttt(a.ttt)
    ms, ms_path, ssi_path = import_mamba(a.mamba)
    refs = {"ttt": ttt, "mamba": ms}
    common = ("float64 computation on the stored float32 inputs and weights; generated by "
              "scripts/golden/make_cases.py (seqbench's own extra cases, not the upstream golden set)")
    ttt_note = lambda cls: (f"{cls} of test-time-training/ttt-lm-pytorch ttt.py (commit {TTT_COMMIT}, sha256 "
                            f"{sha12(ttt_path)}); prefill = forward (position_ids 0..T-1; in decode cases with "
                            f"the TTTCache, checked equal to forward without it); decode = TTTCache path, one "
                            f"token per call; transformers stubbed (unused by the layer); {common}")
    notes = {
        "ttt_linear": ttt_note("TTTLinear"),
        "ttt_mlp": ttt_note("TTTMLP"),
        "mamba": (f"Mamba of state-spaces/mamba mamba_ssm/modules/mamba_simple.py (commit {MAMBA_COMMIT}, sha256 "
                  f"{sha12(ms_path)}) with selective_scan_ref (selective_scan_interface.py sha256 {sha12(ssi_path)}), "
                  f"use_fast_path=False, no causal_conv1d, no Triton; decode = Mamba.step (conv_state, ssm_state); "
                  f"{common}"),
        "attention": ("Llama-style causal attention (HF LlamaAttention semantics, rotate-half RoPE, no bias), "
                      "our own float64 numpy code in make_cases.py (HF not used); decode = a KV-cache loop checked "
                      f"against the prefill of prompt+steps; {common}"),
    }
    table = CASES if a.set == "cases" else PROBES
    names = {c["name"] for c in table}
    for n in a.only or []:
        if n not in names:
            raise SystemExit(f"unknown case {n}")
    for c in table:
        if a.only and c["name"] not in a.only:
            continue
        print(c["name"])
        write_case(a.out, c, refs, notes)


if __name__ == "__main__":
    main()
