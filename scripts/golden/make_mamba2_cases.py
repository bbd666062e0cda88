#!/usr/bin/env python3
"""make_mamba2_cases.py: Mamba-2 golden cases of other shapes for tests/golden_more/, in pure Python.

    python3 scripts/golden/make_mamba2_cases.py --check tests/golden      # the transcription vs the official cases
    python3 scripts/golden/make_mamba2_cases.py --out tests/golden_more   # write the cases below

No torch and no numpy on this project's machines, so this is an independent float64 transcription of
../shared/spec/mamba2.md §2-§4 (the layer, the op, Mamba2.step) in plain Python, with its own .npy reader
and writer. It is NOT the official code; it is validated against it: --check recomputes every upstream
mamba2 case of tests/golden (computed by the official Mamba2 / mamba_chunk_scan_combined /
selective_state_update_ref in float64) from their stored inputs and weights and fails unless y, y_decode
and final_state agree to 1e-6 of max|ref| (the stored outputs are float32: ~6e-8 is the floor).
Before writing a case it also checks, in float64: the chunked (SSD) form of spec §3 against the
recurrence for chunk sizes 1, 4, 7, Q and 64; decode by Mamba2.step (conv_state of K columns, shift,
write, dot) against the prefill of prompt + steps; each to 1e-10 of max|y|.
Inputs and weights are seeded (random.Random), rounded to float32, stored as float32; outputs are
computed in float64 from the stored float32 values. Rerunning writes the same bytes.
"""
import argparse
import math
import os
import random
import struct
import sys

# ---- .npy (version 1.0, '<f4', C order) ------------------------------------------------------------


def npy_read(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:6] != b"\x93NUMPY":
        raise SystemExit(f"{path}: not a .npy file")
    hlen = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + hlen].decode("latin1")
    if "'<f4'" not in header or "'fortran_order': False" not in header:
        raise SystemExit(f"{path}: expected little-endian float32 in C order")
    shape = tuple(int(s) for s in header.split("(")[1].split(")")[0].split(",") if s.strip())
    n = 1
    for s in shape:
        n *= s
    vals = struct.unpack(f"<{n}f", data[10 + hlen:10 + hlen + 4 * n])
    return list(vals), shape


def npy_write(path, vals, shape):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % (
        "".join(f"{s}," for s in shape) if len(shape) == 1 else ", ".join(str(s) for s in shape))
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + " " * (pad % 64) + "\n"
    with open(path + ".tmp", "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1"))
        f.write(struct.pack(f"<{len(vals)}f", *vals))
    os.replace(path + ".tmp", path)


def f32(v):
    return struct.unpack("f", struct.pack("f", v))[0]


# ---- math (float64) -------------------------------------------------------------------------------


def silu(v):
    return v / (1.0 + math.exp(-v)) if v > -700 else 0.0


def softplus(v):
    return v if v > 20.0 else math.log1p(math.exp(v))


def linear(x, W, n_out, n_in):
    """x [n_in] . W[n_out, n_in]^T (W flat, row-major)."""
    return [sum(a * b for a, b in zip(x, W[o * n_in:(o + 1) * n_in])) for o in range(n_out)]


class Dims:
    def __init__(self, c):
        self.D = c.get("d_model", 0)
        self.E = c["d_inner"]
        self.P, self.N, self.G = c["headdim"], c["d_state"], c["ngroups"]
        self.H = self.E // self.P
        self.K = c.get("d_conv", 4)
        self.GN = self.G * self.N
        self.CD = self.E + 2 * self.GN
        self.Wp = 2 * self.E + 2 * self.GN + self.H

    def group(self, h):
        return h // (self.H // self.G)


def ssd_step(d, S, x, dt, Bv, Cv, dt_bias, A, Dp):
    """One token of step 5 on the state S[h][p][n] (in place); returns y [E]."""
    y = [0.0] * d.E
    for h in range(d.H):
        g = d.group(h)
        delta = softplus(dt[h] + dt_bias[h])
        dA = math.exp(delta * A[h])
        Bg, Cg = Bv[g * d.N:(g + 1) * d.N], Cv[g * d.N:(g + 1) * d.N]
        for p in range(d.P):
            xp = x[h * d.P + p]
            row = S[h][p]
            for n in range(d.N):
                row[n] = dA * row[n] + delta * xp * Bg[n]
            y[h * d.P + p] = sum(a * b for a, b in zip(row, Cg)) + Dp[h] * xp
    return y


def new_state(d):
    return [[[0.0] * d.N for _ in range(d.P)] for _ in range(d.H)]


def ssd_chunked(d, xs, dts, Bs, Cs, dt_bias, A, Dp, Q):
    """Spec §3 over one sequence's T tokens from S = 0; returns (ys, final S)."""
    T = len(xs)
    S = new_state(d)
    ys = [[0.0] * d.E for _ in range(T)]
    for h in range(d.H):
        g = d.group(h)
        Sh = S[h]
        for c0 in range(0, T, Q):
            q = min(Q, T - c0)
            dl = [softplus(dts[c0 + t][h] + dt_bias[h]) for t in range(q)]
            s, acc = [], 0.0
            for t in range(q):
                acc += dl[t] * A[h]
                s.append(acc)
            Bc = [Bs[c0 + t][g * d.N:(g + 1) * d.N] for t in range(q)]
            Cc = [Cs[c0 + t][g * d.N:(g + 1) * d.N] for t in range(q)]
            X = [xs[c0 + t][h * d.P:(h + 1) * d.P] for t in range(q)]
            for t in range(q):
                w = [sum(a * b for a, b in zip(Cc[t], Bc[tau])) * math.exp(s[t] - s[tau]) * dl[tau] for tau in range(t + 1)]
                et = math.exp(s[t])
                for p in range(d.P):
                    diag = sum(w[tau] * X[tau][p] for tau in range(t + 1))
                    off = sum(a * b for a, b in zip(Sh[p], Cc[t]))
                    ys[c0 + t][h * d.P + p] = diag + et * off + Dp[h] * X[t][p]
            se = s[q - 1]
            wt = [math.exp(se - s[tau]) * dl[tau] for tau in range(q)]
            decay = math.exp(se)
            for p in range(d.P):
                for n in range(d.N):
                    Sh[p][n] = decay * Sh[p][n] + sum(wt[tau] * X[tau][p] * Bc[tau][n] for tau in range(q))
    return ys, S


def gated_norm(d, y, z, w):
    v = [a * silu(b) for a, b in zip(y, z)]
    gs = d.E // d.G
    out = []
    for g0 in range(0, d.E, gs):
        seg = v[g0:g0 + gs]
        rstd = 1.0 / math.sqrt(sum(a * a for a in seg) / gs + 1e-5)
        out += [a * rstd * w[g0 + i] for i, a in enumerate(seg)]
    return out


class Layer:
    """The layer with Mamba2.step's decode state (conv_state [CD, K], ssm_state)."""

    def __init__(self, d, prm):
        self.d, self.p = d, prm
        self.A = [-math.exp(a) for a in prm["A_log"]]

    def project(self, xt):
        d = self.d
        zx = linear(xt, self.p["in_proj.weight"], d.Wp, d.D)
        return zx[:d.E], zx[d.E:d.E + d.CD], zx[d.E + d.CD:]

    def conv_out(self, hist):
        """hist: the last K pre-conv xBC vectors, oldest first -> SiLU(conv + bias)."""
        d, w, b = self.d, self.p["conv1d.weight"], self.p["conv1d.bias"]
        return [silu(b[c] + sum(w[c * d.K + i] * hist[i][c] for i in range(d.K))) for c in range(d.CD)]

    def finish(self, y, z):
        d = self.d
        n = gated_norm(d, y, z, self.p["norm.weight"])
        return linear(n, self.p["out_proj.weight"], d.D, d.E)

    def prefill(self, xs, Q):
        """Returns (outputs, conv_state, ssm_state); the scan in chunked form (cross-checked below)."""
        d = self.d
        zs, xbcs, dts = zip(*(self.project(xt) for xt in xs))
        pad = [[0.0] * d.CD for _ in range(d.K - 1)]
        hist = pad + list(xbcs)
        post = [self.conv_out(hist[t:t + d.K]) for t in range(len(xs))]
        x = [v[:d.E] for v in post]
        B = [v[d.E:d.E + d.GN] for v in post]
        C = [v[d.E + d.GN:] for v in post]
        ys, S = ssd_chunked(d, x, dts, B, C, self.p["dt_bias"], self.A, self.p["D"], Q)
        conv_state = ([[0.0] * d.CD] * d.K + list(xbcs))[-d.K:]
        return [self.finish(y, z) for y, z in zip(ys, zs)], conv_state, S

    def step(self, xt, conv_state, S):
        d = self.d
        z, xbc, dt = self.project(xt)
        conv_state[:] = conv_state[1:] + [xbc]
        v = self.conv_out(conv_state)
        y = ssd_step(d, S, v[:d.E], dt, v[d.E:d.E + d.GN], v[d.E + d.GN:], self.p["dt_bias"], self.A, self.p["D"])
        return self.finish(y, z)


# ---- cases --------------------------------------------------------------------------------------------

LAYER_CASES = [
    # name, B, D, P, N, G, Q, K, T, S
    ("mamba2_prefill_B3_D64_P32_N64_G2_T50", 3, 64, 32, 64, 2, 16, 4, 50, 0),
    ("mamba2_decode_B1_D64_P16_N16_G4_T5_S20", 1, 64, 16, 16, 4, 8, 4, 5, 20),
    ("mamba2_decode_B2_D128_P64_N32_G1_T2_S12", 2, 128, 64, 32, 1, 32, 4, 2, 12),
    ("mamba2_K3_prefill_B1_D96_P32_N16_G3_T29", 1, 96, 32, 16, 3, 12, 3, 29, 0),
]
OP_CASES = [
    # name, B, E, P, N, G, Q, T, S
    ("mamba2_op_prefill_B3_E128_P32_N64_G2_T70", 3, 128, 32, 64, 2, 32, 70, 0),
    ("mamba2_op_decode_B1_E128_P64_N32_G1_T20_S9", 1, 128, 64, 32, 1, 64, 20, 9),
]
NOTES = ("seqbench's own case: float64 pure-Python transcription of spec/mamba2.md (scripts/golden/"
         "make_mamba2_cases.py), validated against the official-code cases of tests/golden (--check); not the "
         "official code itself")


def rel(a, b):
    m = max(max(abs(v) for v in b), 1e-30)
    return max(abs(x - y) for x, y in zip(a, b)) / m


def flat(rows):
    return [v for r in rows for v in r]


def normal(rng, n, std):
    return [f32(rng.gauss(0.0, std)) for _ in range(n)]


def uniform(rng, n, lo, hi):
    return [f32(rng.uniform(lo, hi)) for _ in range(n)]


def dt_bias_init(rng, H):
    out = []
    for _ in range(H):
        dt = math.exp(math.log(1e-3) + rng.random() * (math.log(0.1) - math.log(1e-3)))
        out.append(f32(dt + math.log(-math.expm1(-dt))))
    return out


def layer_params(d, rng):
    return {
        "in_proj.weight": normal(rng, d.Wp * d.D, 1 / math.sqrt(d.D)),
        "conv1d.weight": uniform(rng, d.CD * d.K, -1 / math.sqrt(d.K), 1 / math.sqrt(d.K)),
        "conv1d.bias": normal(rng, d.CD, 0.1),
        "dt_bias": dt_bias_init(rng, d.H),
        "A_log": [f32(math.log(rng.uniform(1, 16))) for _ in range(d.H)],
        "D": uniform(rng, d.H, 0.5, 1.5),
        "norm.weight": uniform(rng, d.E, 0.8, 1.2),
        "out_proj.weight": normal(rng, d.D * d.E, 1 / math.sqrt(d.E)),
    }


def param_shapes(d):
    return {"in_proj.weight": (d.Wp, d.D), "conv1d.weight": (d.CD, 1, d.K), "conv1d.bias": (d.CD,), "dt_bias": (d.H,),
            "A_log": (d.H,), "D": (d.H,), "norm.weight": (d.E,), "out_proj.weight": (d.D, d.E)}


def run_layer(d, prm, xs_b, xd_b, Q):
    """Per sequence: (prefill outputs, decode outputs)."""
    lay = Layer(d, prm)
    ys, yds = [], []
    for xs, xd in zip(xs_b, xd_b):
        y, conv, S = lay.prefill(xs, Q)
        ys.append(y)
        yds.append([lay.step(xt, conv, S) for xt in xd])
    return ys, yds


def self_checks(d, prm, xs_b, xd_b, Q, ys, yds):
    """Chunked == recurrence for several Q; decode == prefill of prompt + steps (float64)."""
    worst = 0.0
    for xs, xd, y, yd in zip(xs_b, xd_b, ys, yds):
        full = list(xs) + list(xd)
        lay = Layer(d, prm)
        zs, xbcs, dts = zip(*(lay.project(xt) for xt in full))
        hist = [[0.0] * d.CD for _ in range(d.K - 1)] + list(xbcs)
        post = [lay.conv_out(hist[t:t + d.K]) for t in range(len(full))]
        x = [v[:d.E] for v in post]
        B = [v[d.E:d.E + d.GN] for v in post]
        C = [v[d.E + d.GN:] for v in post]
        S = new_state(d)
        seq = [ssd_step(d, S, x[t], dts[t], B[t], C[t], prm["dt_bias"], lay.A, prm["D"]) for t in range(len(full))]
        for q in sorted({1, 4, 7, Q, 64}):
            yc, Sc = ssd_chunked(d, x, dts, B, C, prm["dt_bias"], lay.A, prm["D"], q)
            worst = max(worst, rel(flat(yc), flat(seq)), rel(flat(flat(Sc)), flat(flat(S))))
        want = [lay.finish(yv, z) for yv, z in zip(seq, zs)]
        worst = max(worst, rel(flat(list(y) + list(yd)), flat(want)))
    return worst


def case_txt(kv):
    return "".join(f"{k}={v}\n" for k, v in kv)


def write_layer_case(out, name, B, D, P, N, G, Q, K, T, S, seed):
    rng = random.Random(seed)
    c = dict(d_model=D, d_inner=2 * D, headdim=P, d_state=N, ngroups=G, d_conv=K)
    d = Dims(c)
    prm = layer_params(d, rng)
    xs_b = [[normal(rng, D, 1.0) for _ in range(T)] for _ in range(B)]
    xd_b = [[normal(rng, D, 1.0) for _ in range(S)] for _ in range(B)]
    ys, yds = run_layer(d, prm, xs_b, xd_b, Q)
    worst = self_checks(d, prm, xs_b, xd_b, Q, ys, yds)
    print(f"  {name}: chunked vs recurrence, decode vs longer prefill: {worst:.2e}")
    if not worst <= 1e-10:
        raise SystemExit(f"{name}: self-check failed ({worst:.2e})")
    path = os.path.join(out, name)
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        os.remove(os.path.join(path, f))
    shapes = param_shapes(d)
    for k, v in prm.items():
        npy_write(os.path.join(path, k + ".npy"), v, shapes[k])
    npy_write(os.path.join(path, "x.npy"), flat(flat(xs_b)), (B, T, D))
    npy_write(os.path.join(path, "y.npy"), [f32(v) for v in flat(flat(ys))], (B, T, D))
    kv = [("layer", "mamba2"), ("level", "layer"), ("mode", "decode" if S else "prefill"), ("batch", B), ("ctx", T)]
    if S:
        kv.append(("decode_steps", S))
        npy_write(os.path.join(path, "x_decode.npy"), flat(flat(xd_b)), (B, S, D))
        npy_write(os.path.join(path, "y_decode.npy"), [f32(v) for v in flat(flat(yds))], (B, S, D))
    kv += [("d_model", D), ("d_state", N), ("d_conv", K), ("expand", 2), ("d_inner", d.E), ("headdim", P), ("nheads", d.H),
           ("ngroups", G), ("chunk_size", Q), ("rmsnorm", 1), ("norm_before_gate", 0), ("D_has_hdim", 0), ("seed", seed),
           ("max_abs_y", "%g" % max(abs(v) for v in flat(flat(ys)))), ("notes", NOTES)]
    with open(os.path.join(path, "case.txt"), "w") as f:
        f.write(case_txt(kv))


def op_arrays(d, rng, B, T):
    return dict(x=[[normal(rng, d.E, 1.0) for _ in range(T)] for _ in range(B)],
                dt=[[normal(rng, d.H, 0.5) for _ in range(T)] for _ in range(B)],
                B=[[normal(rng, d.GN, 1.0) for _ in range(T)] for _ in range(B)],
                C=[[normal(rng, d.GN, 1.0) for _ in range(T)] for _ in range(B)])


def run_op(d, inp, dec, dt_bias, A, Dp, Q):
    """Per sequence: y, final state (after the prompt), y_decode."""
    ys, finals, yds = [], [], []
    for b in range(len(inp["x"])):
        y, S = ssd_chunked(d, inp["x"][b], inp["dt"][b], inp["B"][b], inp["C"][b], dt_bias, A, Dp, Q)
        S2 = new_state(d)
        seq = [ssd_step(d, S2, inp["x"][b][t], inp["dt"][b][t], inp["B"][b][t], inp["C"][b][t], dt_bias, A, Dp)
               for t in range(len(inp["x"][b]))]
        worst = max(rel(flat(y), flat(seq)), rel(flat(flat(S)), flat(flat(S2))))
        if not worst <= 1e-10:
            raise SystemExit(f"op: chunked vs recurrence {worst:.2e}")
        ys.append(y)
        finals.append(flat(flat(S)))
        yd = [ssd_step(d, S, dec["x"][b][s], dec["dt"][b][s], dec["B"][b][s], dec["C"][b][s], dt_bias, A, Dp)
              for s in range(len(dec["x"][b]))] if dec else []
        yds.append(yd)
    return ys, finals, yds


def write_op_case(out, name, B, E, P, N, G, Q, T, S, seed):
    rng = random.Random(seed)
    d = Dims(dict(d_inner=E, headdim=P, d_state=N, ngroups=G))
    dt_bias = dt_bias_init(rng, d.H)
    A = [f32(-rng.uniform(1, 16)) for _ in range(d.H)]
    Dp = uniform(rng, d.H, 0.5, 1.5)
    inp = op_arrays(d, rng, B, T)
    dec = op_arrays(d, rng, B, S) if S else None
    ys, finals, yds = run_op(d, inp, dec, dt_bias, A, Dp, Q)
    print(f"  {name}: ok")
    path = os.path.join(out, name)
    os.makedirs(path, exist_ok=True)
    for f in os.listdir(path):
        os.remove(os.path.join(path, f))
    widths = dict(x=(d.H, d.P), dt=(d.H,), B=(d.G, d.N), C=(d.G, d.N))
    for k, w in widths.items():
        npy_write(os.path.join(path, k + ".npy"), flat(flat(inp[k])), (B, T) + w)
        if S:
            npy_write(os.path.join(path, k + "_decode.npy"), flat(flat(dec[k])), (B, S) + w)
    for k, v in (("dt_bias", dt_bias), ("A", A), ("D", Dp)):
        npy_write(os.path.join(path, k + ".npy"), v, (d.H,))
    npy_write(os.path.join(path, "y.npy"), [f32(v) for v in flat(flat(ys))], (B, T, d.H, d.P))
    npy_write(os.path.join(path, "final_state.npy"), [f32(v) for v in flat(finals)], (B, d.H, d.P, d.N))
    kv = [("layer", "mamba2"), ("level", "op"), ("mode", "decode" if S else "prefill"), ("batch", B), ("ctx", T)]
    if S:
        kv.append(("decode_steps", S))
        npy_write(os.path.join(path, "y_decode.npy"), [f32(v) for v in flat(flat(yds))], (B, S, d.H, d.P))
    kv += [("d_inner", E), ("nheads", d.H), ("headdim", P), ("d_state", N), ("ngroups", G), ("chunk_size", Q),
           ("seed", seed), ("max_abs_y", "%g" % max(abs(v) for v in flat(flat(ys)))), ("notes", NOTES)]
    with open(os.path.join(path, "case.txt"), "w") as f:
        f.write(case_txt(kv))


# ---- --check: the transcription against the official cases ---------------------------------------------


def read_case(path):
    kv = {}
    with open(os.path.join(path, "case.txt")) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k] = v
    return kv


def rows(vals, B, T, W):
    return [[vals[(b * T + t) * W:(b * T + t + 1) * W] for t in range(T)] for b in range(B)]


def check_case(path):
    kv = read_case(path)
    B, T, S = int(kv["batch"]), int(kv["ctx"]), int(kv.get("decode_steps", 0))
    Q = int(kv["chunk_size"])
    load = lambda n: npy_read(os.path.join(path, n + ".npy"))[0]  # noqa: E731
    errs = {}
    if kv["level"] == "layer":
        c = dict(d_model=int(kv["d_model"]), d_inner=int(kv["d_inner"]), headdim=int(kv["headdim"]),
                 d_state=int(kv["d_state"]), ngroups=int(kv["ngroups"]), d_conv=int(kv["d_conv"]))
        d = Dims(c)
        prm = {k: load(k) for k in param_shapes(d)}
        xs = rows(load("x"), B, T, d.D)
        xd = rows(load("x_decode"), B, S, d.D) if S else [[] for _ in range(B)]
        ys, yds = run_layer(d, prm, xs, xd, Q)
        errs["y"] = rel(flat(flat(ys)), load("y"))
        if S:
            errs["y_decode"] = rel(flat(flat(yds)), load("y_decode"))
    else:
        d = Dims(dict(d_inner=int(kv["d_inner"]), headdim=int(kv["headdim"]), d_state=int(kv["d_state"]),
                      ngroups=int(kv["ngroups"])))
        inp = {k: rows(load(k), B, T, w) for k, w in (("x", d.E), ("dt", d.H), ("B", d.GN), ("C", d.GN))}
        dec = {k: rows(load(k + "_decode"), B, S, w) for k, w in (("x", d.E), ("dt", d.H), ("B", d.GN), ("C", d.GN))} if S else None
        ys, finals, yds = run_op(d, inp, dec, load("dt_bias"), load("A"), load("D"), Q)
        errs["y"] = rel(flat(flat(ys)), load("y"))
        errs["final_state"] = rel(flat(finals), load("final_state"))
        if S:
            errs["y_decode"] = rel(flat(flat(yds)), load("y_decode"))
    return errs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", metavar="DIR", help="recompute the mamba2 cases of DIR and compare (exit 1 if > 1e-6)")
    ap.add_argument("--out", metavar="DIR", help="write the cases into DIR")
    args = ap.parse_args()
    if not args.check and not args.out:
        ap.error("give --check DIR and/or --out DIR")
    if args.check:
        names = sorted(n for n in os.listdir(args.check) if n.startswith("mamba2_"))
        if not names:
            raise SystemExit(f"{args.check}: no mamba2_* cases")
        bad = 0
        for n in names:
            errs = check_case(os.path.join(args.check, n))
            ok = all(v <= 1e-6 for v in errs.values())
            bad += not ok
            print(f"{'ok  ' if ok else 'FAIL'} {n}: " + ", ".join(f"{k} {v:.2e}" for k, v in errs.items()))
        if bad:
            raise SystemExit(1)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        for i, c in enumerate(LAYER_CASES):
            write_layer_case(args.out, *c, seed=3001 + i)
        for i, c in enumerate(OP_CASES):
            write_op_case(args.out, *c, seed=3101 + i)


if __name__ == "__main__":
    sys.exit(main())
