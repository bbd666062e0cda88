"""mamba2_peer.py: peer for Mamba-2 at op level: state-spaces/mamba's own Triton SSD kernels (SPEC §12).

prefill (impl "triton_chunk_scan_combined"): mamba_chunk_scan_combined of
  mamba_ssm/ops/triton/ssd_combined.py, called as Mamba2.forward calls it (spec/mamba2.md §4): x [B,T,H,P],
  dt [B,T,H] raw (bias and softplus inside: dt_bias, dt_softplus=True), A [H] fp32 (negative), B, C
  [B,T,G,N], D [H] fp32, z=None, chunk_size Q; return_final_states=True (our op keeps the final state).
  Activations bf16, as our cuda op.
decode (impl "triton_ssu"): selective_state_update of mamba_ssm/ops/triton/selective_state_update.py, as
  Mamba2.step calls it: state [B,H,P,N] fp32 in place, x [B,H,P], dt [B,H] broadcast over P, A [H] and
  dt_bias [H] broadcast over P and N, D [H] over P (stride-0 views, as the module builds them), B, C
  [B,G,N], z=None, dt_softplus=True. The state does not depend on the context: every ctx times the same
  step (rows per ctx for the plots).

Like mamba_peer.py, nothing goes through `import mamba_ssm` (its __init__ needs the CUDA extension): the
packages mamba_ssm, mamba_ssm.ops, mamba_ssm.ops.triton, mamba_ssm.utils are registered as bare
namespaces over the source files and the two modules are imported by their file paths. Where the files
are: --mamba-src DIR, else $MAMBA_SSM_SRC, else <repo>/.whl/mamba_ssm_src (fetch_wheels.sh), else an
installed mamba_ssm (found without importing it). Nothing of mamba_ssm is copied into this repo.

Before timing, each kernel is checked at a small shape against a sequential recurrence written here
(spec/mamba2.md §2 step 5), the result in the note. Rows: backend mamba_ssm, layer mamba2, level op,
config 1.3b (E 4096, H 64, P 64, N 128, G 1, Q 256). Counts: layers/mamba2.c (peer_common.mamba2_counts).
On --device cpu every row is `skipped` (both kernels are Triton).
"""
import importlib
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import peer_common as pc  # noqa: E402
from mamba_peer import find_src, mamba_version  # noqa: E402

COMBINED = "mamba_ssm.ops.triton.ssd_combined"
SSU = "mamba_ssm.ops.triton.selective_state_update"
PACKAGES = ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton", "mamba_ssm.utils")


def load(root, name):
    """The module `name` from the files under root, through bare namespace packages (no __init__ runs)."""
    import types
    for pkg in PACKAGES:
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = [os.path.join(root, *pkg.split("."))]
            sys.modules[pkg] = m
    return importlib.import_module(name)


def op_inputs(device, B, T, H, P, N, G, seed=0):
    """Random op inputs of the shapes of spec §4; dt_bias as Mamba2's init (softplus^-1 of a log-uniform
    dt in [1e-3, 1e-1]), A = -U(1, 16)."""
    g = torch.Generator().manual_seed(seed)
    bf = torch.bfloat16

    def rn(*shape, std=1.0):
        return (torch.randn(*shape, generator=g) * std).to(device)

    dt0 = torch.exp(torch.rand(H, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    return dict(x=rn(B, T, H, P).to(bf), dt=rn(B, T, H, std=0.5).to(bf),
                A=(-(1 + 15 * torch.rand(H, generator=g))).to(device), B=rn(B, T, G, N).to(bf),
                C=rn(B, T, G, N).to(bf), D=(0.5 + torch.rand(H, generator=g)).to(device),
                dt_bias=(dt0 + torch.log(-torch.expm1(-dt0))).to(device))


def sequential_ref(a, state=None):
    """y [B,T,H,P] and the final state of the recurrence (spec §2 step 5), fp32, token by token."""
    x, B_, C_ = a["x"].float(), a["B"].float(), a["C"].float()
    Bsz, T, H, P = x.shape
    G, N = B_.shape[2], B_.shape[3]
    delta = F.softplus(a["dt"].float() + a["dt_bias"])  # [B,T,H]
    S = torch.zeros(Bsz, H, P, N, device=x.device) if state is None else state.clone()
    hg = torch.arange(H, device=x.device) // (H // G)
    ys = []
    for t in range(T):
        Bt, Ct = B_[:, t, hg], C_[:, t, hg]  # [B,H,N]
        dA = torch.exp(delta[:, t] * a["A"])  # [B,H]
        S = dA[..., None, None] * S + (delta[:, t, :, None] * x[:, t])[..., None] * Bt[:, :, None, :]
        ys.append(torch.einsum("bhpn,bhn->bhp", S, Ct) + a["D"][:, None] * x[:, t])
    return torch.stack(ys, 1), S


def rel_err(out, ref):
    return ((out.float() - ref.float()).abs().max() / ref.float().abs().max().clamp_min(1e-6)).item()


def check_combined(mod, Q):
    try:
        a = op_inputs("cuda", 2, 3 * Q // 2 + 5, 4, 64, 32, 2, seed=1)  # partial last chunk, G = 2
        y, fs = mod.mamba_chunk_scan_combined(a["x"], a["dt"], a["A"], a["B"], a["C"], Q, D=a["D"], z=None,
                                              dt_bias=a["dt_bias"], dt_softplus=True, return_final_states=True)
        yr, sr = sequential_ref(a)
        e1, e2 = rel_err(y, yr), rel_err(fs, sr)
        ok = e1 <= 2e-2 and e2 <= 2e-2
        return f"check vs a sequential recurrence: y rel err {e1:.2e}, final state {e2:.2e} {'ok' if ok else 'MISMATCH'}"
    except Exception as exc:
        return f"check vs a sequential recurrence failed: {type(exc).__name__}: {str(exc)[:120]}"


def ssu_call(ssu, a, S):
    """One selective_state_update as Mamba2.step makes it (stride-0 broadcasts of the per-head values)."""
    Bsz, _, H, P = a["x"].shape
    N = a["B"].shape[-1]
    x, dt = a["x"][:, 0], a["dt"][:, 0]
    return ssu.selective_state_update(
        S, x, dt[:, :, None].expand(Bsz, H, P), a["A"][:, None, None].expand(H, P, N), a["B"][:, 0], a["C"][:, 0],
        a["D"][:, None].expand(H, P), z=None, dt_bias=a["dt_bias"][:, None].expand(H, P), dt_softplus=True)


def check_ssu(ssu):
    try:
        a = op_inputs("cuda", 3, 1, 4, 64, 32, 2, seed=2)
        S0 = torch.randn(3, 4, 64, 32, device="cuda") * 0.1
        S = S0.clone()
        y = ssu_call(ssu, a, S)
        yr, sr = sequential_ref(a, S0)
        e1, e2 = rel_err(y, yr[:, 0]), rel_err(S, sr)
        ok = e1 <= 2e-2 and e2 <= 2e-2
        return f"check vs a sequential step: y rel err {e1:.2e}, state {e2:.2e} {'ok' if ok else 'MISMATCH'}"
    except Exception as exc:
        return f"check vs a sequential step failed: {type(exc).__name__}: {str(exc)[:120]}"


def main():
    args = pc.ssm_args(__doc__.splitlines()[0], "1.3b")
    cfg = pc.MAMBA2_CONFIGS[args.config]
    D, E, P, N, G, Q = cfg["d_model"], cfg["d_inner"], cfg["headdim"], cfg["d_state"], cfg["ngroups"], cfg["chunk_size"]
    H = E // P
    peer = pc.Peer(args)
    pc.seed_all(0)
    root = find_src(args.mamba_src)
    version = mamba_version(root) if root else ""
    missing = "" if root else "mamba_ssm sources not found (run fetch_wheels.sh or pass --mamba-src)"
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    def fields(mode, impl, B, T):
        return dict(backend="mamba_ssm", layer="mamba2", impl=impl, level="op", mode=mode, dtype="bf16",
                    config=args.config, batch=B, ctx=T, d_model=D, heads=H, head_dim=P, d_state=N, n_layers=1,
                    tokens=B * T if mode == "prefill" else B)

    def loaded(name, check):
        """(module, error, check note); nothing is loaded on cpu or in --fill-missing."""
        if missing or peer.fill or args.device != "cuda":
            return None, missing, ""
        try:
            mod = load(root, name)
            return mod, "", check(mod)
        except Exception as exc:
            return None, f"loading {name} by path: {type(exc).__name__}: {exc}", ""

    if "prefill" in modes:
        comb, err, check = loaded(COMBINED, lambda m: check_combined(m, Q))
        for T in args.ctx:
            B = args.batch
            f, counts = fields("prefill", "triton_chunk_scan_combined", B, T), pc.mamba2_counts("prefill", B, T, E, H, N, G, Q, 2)
            if err:
                peer.error(f, counts, err)
                continue
            if args.device != "cuda":
                peer.skip(f, counts, f"mamba_ssm {version} mamba_chunk_scan_combined is Triton: needs a GPU")
                continue

            def build(B=B, T=T):
                a = op_inputs("cuda", B, T, H, P, N, G)
                return lambda: comb.mamba_chunk_scan_combined(a["x"], a["dt"], a["A"], a["B"], a["C"], Q, D=a["D"],
                                                              z=None, dt_bias=a["dt_bias"], dt_softplus=True,
                                                              return_final_states=True)

            peer.run_point(f, counts, build, f"mamba_ssm {version} Triton mamba_chunk_scan_combined loaded by path, "
                                             f"chunk {Q}, dt_softplus=True, final states returned; {check}")

    if "decode" in modes:
        ssu, err, check = loaded(SSU, check_ssu)
        for B in args.decode_batch:
            for T in args.ctx:
                f, counts = fields("decode", "triton_ssu", B, T), pc.mamba2_counts("decode", B, T, E, H, N, G, Q, 2)
                if err:
                    peer.error(f, counts, err)
                    continue
                if args.device != "cuda":
                    peer.skip(f, counts, f"mamba_ssm {version} selective_state_update is Triton: needs a GPU")
                    continue

                def build(B=B):
                    a = op_inputs("cuda", B, 1, H, P, N, G)
                    S = torch.randn(B, H, P, N, device="cuda") * 0.1
                    return lambda: ssu_call(ssu, a, S)

                peer.run_point(f, counts, build, f"mamba_ssm {version} Triton selective_state_update loaded by path "
                                                 f"as Mamba2.step calls it (stride-0 per-head broadcasts), state fp32 "
                                                 f"in place; independent of ctx; eager launch (no CUDA graph); {check}")
    peer.summary("mamba2_peer")


if __name__ == "__main__":
    main()
