"""mamba_peer.py: peer for Mamba-1 at op level: state-spaces/mamba's own ops (SPEC §12).

decode (impl "triton_ssu"): mamba_ssm/ops/triton/selective_state_update.py, the Triton kernel
  Mamba.step() calls: state [B, E, N] fp32 updated in place, x, dt, z [B, E] bf16, B, C [B, N] bf16,
  A = -exp(A_log) [E, N] fp32, D [E] fp32, dt_bias [E] fp32, dt_softplus=True. One token per sequence;
  the state does not depend on the context, so every ctx times the same step (rows per ctx for the plots).
prefill (impl "selective_scan_ref"): selective_scan_ref of mamba_ssm/ops/selective_scan_interface.py,
  the pure-PyTorch reference scan (a Python loop over T, the [B, E, T, N] fp32 tensors materialised:
  it runs out of memory at long T, recorded as `oom`). Inputs as our op (layers/mamba.c): u, delta, z
  [B, E, T] bf16 with delta already positive (in [1e-3, 1e-1], as after softplus, so no delta_bias or
  softplus inside), B, C [B, N, T] bf16 (input-dependent), A, D fp32.

Neither file is imported through the package: in mamba_ssm <= 2.3.x `import mamba_ssm` needs its CUDA
extension (selective_scan_cuda, causal_conv1d). selective_state_update.py is loaded BY PATH (the
packages mamba_ssm, mamba_ssm.ops, mamba_ssm.ops.triton are registered as bare namespaces so that its
`from mamba_ssm.ops.triton.softplus import softplus` finds softplus.py without running any __init__).
selective_scan_interface.py imports selective_scan_cuda at module level, so selective_scan_ref is taken
from that file's source by `ast` (the function alone, unmodified, compiled with its file name and
line numbers) and run with torch, F, rearrange, repeat. Nothing of mamba_ssm is copied into this repo.
Where the files are: --mamba-src DIR, else $MAMBA_SSM_SRC, else <repo>/.whl/mamba_ssm_src (what
fetch_wheels.sh extracts), else an installed mamba_ssm (found without importing it).

Rows: backend mamba_ssm, layer mamba, level op, config 1.4b (E 4096, N 16). Counts: layers/mamba.c.
On --device cpu the Triton decode rows are `skipped`; selective_scan_ref runs (tiny shapes).
"""
import ast
import importlib.util
import math
import os
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import peer_common as pc  # noqa: E402

SSU_REL = os.path.join("mamba_ssm", "ops", "triton", "selective_state_update.py")
SCAN_REL = os.path.join("mamba_ssm", "ops", "selective_scan_interface.py")


def find_src(arg):
    """Directory holding mamba_ssm/ (see the module doc), or None."""
    cands = [arg, os.environ.get("MAMBA_SSM_SRC"), os.path.join(pc.REPO_ROOT, ".whl", "mamba_ssm_src")]
    for c in cands:
        if c and os.path.isfile(os.path.join(c, SSU_REL)):
            return os.path.abspath(c)
    try:
        spec = importlib.util.find_spec("mamba_ssm")  # a top-level find_spec runs no __init__
        if spec and spec.submodule_search_locations:
            return os.path.dirname(list(spec.submodule_search_locations)[0])
    except Exception:
        pass
    return None


def _bare_packages(root):
    """mamba_ssm, mamba_ssm.ops, mamba_ssm.ops.triton as empty packages over the files in root."""
    for name in ("mamba_ssm", "mamba_ssm.ops", "mamba_ssm.ops.triton"):
        if name not in sys.modules:
            m = types.ModuleType(name)
            m.__path__ = [os.path.join(root, *name.split("."))]
            sys.modules[name] = m


def load_ssu(root):
    """The module selective_state_update.py, loaded by path."""
    _bare_packages(root)
    name = "mamba_ssm.ops.triton.selective_state_update"
    spec = importlib.util.spec_from_file_location(name, os.path.join(root, SSU_REL))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def load_scan_ref(root):
    """selective_scan_ref, compiled from its own source in selective_scan_interface.py."""
    from einops import rearrange, repeat
    path = os.path.join(root, SCAN_REL)
    with open(path) as f:
        tree = ast.parse(f.read(), filename=path)
    node = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "selective_scan_ref"), None)
    if node is None:
        raise ImportError(f"no selective_scan_ref in {path}")
    ns = {"torch": torch, "F": F, "rearrange": rearrange, "repeat": repeat, "__name__": "mamba_ssm_scan_ref"}
    exec(compile(ast.Module(body=[node], type_ignores=[]), path, "exec"), ns)
    return ns["selective_scan_ref"]


def mamba_version(root):
    """From mamba_ssm/__init__.py (an installed package) or the VERSION file fetch_wheels.sh writes."""
    try:
        with open(os.path.join(root, "mamba_ssm", "__init__.py")) as f:
            for line in f:
                if line.startswith("__version__"):
                    return line.split("=", 1)[1].strip().strip("\"'")
    except OSError:
        pass
    try:
        with open(os.path.join(root, "VERSION")) as f:
            return f.read().strip()
    except OSError:
        return os.path.basename(os.path.normpath(root))


def params(device, E, N, g):
    """A = -exp(A_log) with the S4D-real init (A_log = log(1..N)); D = 1; dt_bias such that
    softplus(dt_bias) is log-uniform in [1e-3, 1e-1] (mamba_simple's dt init)."""
    A = -torch.arange(1, N + 1, dtype=torch.float32).repeat(E, 1)
    D = torch.ones(E)
    dt = torch.exp(torch.rand(E, generator=g) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
    dt_bias = dt + torch.log(-torch.expm1(-dt))  # inverse softplus
    return A.to(device), D.to(device), dt_bias.to(device)


def decode_inputs(device, B, E, N, seed=0):
    g = torch.Generator().manual_seed(seed)
    A, D, dt_bias = params(device, E, N, g)
    bf = torch.bfloat16

    def rn(*shape, std=1.0):
        return (torch.randn(*shape, generator=g) * std).to(device)

    state = rn(B, E, N, std=0.1).float()
    x, z = rn(B, E).to(bf), rn(B, E).to(bf)
    dt = rn(B, E, std=0.1).to(bf)
    Bm, Cm = rn(B, N).to(bf), rn(B, N).to(bf)
    return dict(state=state, x=x, dt=dt, A=A, B=Bm, C=Cm, D=D, z=z, dt_bias=dt_bias)


def prefill_inputs(device, B, E, N, T, seed=0):
    g = torch.Generator().manual_seed(seed)
    A, D, _ = params(device, E, N, g)
    bf = torch.bfloat16
    u = torch.randn(B, E, T, device=device, dtype=bf)
    z = torch.randn(B, E, T, device=device, dtype=bf)
    delta = torch.exp(torch.empty(B, E, T, device=device).uniform_(math.log(1e-3), math.log(1e-1))).to(bf)
    Bm = torch.randn(B, N, T, device=device, dtype=bf)
    Cm = torch.randn(B, N, T, device=device, dtype=bf)
    return dict(u=u, delta=delta, A=A, B=Bm, C=Cm, D=D, z=z)


def check_ssu(ssu):
    """The Triton step against the file's own selective_state_update_ref, small shape, one step."""
    ref_fn = getattr(ssu, "selective_state_update_ref", None)
    if ref_fn is None:
        return "no selective_state_update_ref to check against"
    try:
        a = decode_inputs("cuda", 4, 256, 16, seed=1)
        b = {k: v.clone() for k, v in a.items()}
        out = ssu.selective_state_update(a.pop("state"), **a, dt_softplus=True).float()
        ref = ref_fn(b.pop("state"), **b, dt_softplus=True).float()
        err = ((out - ref).abs().max() / ref.abs().max().clamp_min(1e-6)).item()
        return f"check vs selective_state_update_ref: rel err {err:.2e} {'ok' if err <= 2e-2 else 'MISMATCH'}"
    except Exception as exc:
        return f"check vs selective_state_update_ref failed: {type(exc).__name__}: {str(exc)[:120]}"


def main():
    args = pc.ssm_args(__doc__.splitlines()[0], "1.4b")
    cfg = pc.MAMBA_CONFIGS[args.config]
    D, E, N = cfg["d_model"], cfg["d_inner"], cfg["d_state"]
    peer = pc.Peer(args)
    pc.seed_all(0)
    root = find_src(args.mamba_src)
    version = mamba_version(root) if root else ""
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    def fields(mode, impl, B, T):
        return dict(backend="mamba_ssm", layer="mamba", impl=impl, level="op", mode=mode, dtype="bf16",
                    config=args.config, batch=B, ctx=T, d_model=D, d_state=N, n_layers=1,
                    tokens=B * T if mode == "prefill" else B)

    if "prefill" in modes:
        scan_ref, err = None, "" if root else "mamba_ssm sources not found (run fetch_wheels.sh or pass --mamba-src)"
        if root and not peer.fill:
            try:
                scan_ref = load_scan_ref(root)
            except Exception as exc:
                err = f"loading selective_scan_ref from {SCAN_REL}: {type(exc).__name__}: {exc}"
        for T in args.ctx:
            B = args.batch
            f, counts = fields("prefill", "selective_scan_ref", B, T), pc.mamba_counts("prefill", B, T, E, N, 2)
            if err:
                peer.error(f, counts, err)
                continue

            def build(B=B, T=T):
                a = prefill_inputs(args.device, B, E, N, T)
                return lambda: scan_ref(a["u"], a["delta"], a["A"], a["B"], a["C"], a["D"], z=a["z"])

            peer.run_point(f, counts, build, f"mamba_ssm {version} selective_scan_ref (pure PyTorch, loop over T), "
                                             "loaded from source by path; delta given post-softplus")

    if "decode" in modes:
        ssu, err, check = None, "" if root else "mamba_ssm sources not found (run fetch_wheels.sh or pass --mamba-src)", ""
        if root and not peer.fill:
            try:
                ssu = load_ssu(root)
                check = check_ssu(ssu) if args.device == "cuda" else "loaded by path"
            except Exception as exc:
                err = f"loading {SSU_REL} by path: {type(exc).__name__}: {exc}"
        for B in args.decode_batch:
            for T in args.ctx:
                f, counts = fields("decode", "triton_ssu", B, T), pc.mamba_counts("decode", B, T, E, N, 2)
                if err:
                    peer.error(f, counts, err)
                    continue
                if args.device != "cuda":
                    peer.skip(f, counts, f"mamba_ssm {version} selective_state_update is Triton: needs a GPU ({check})")
                    continue

                def build(B=B):
                    a = decode_inputs("cuda", B, E, N)
                    st = a.pop("state")
                    return lambda: ssu.selective_state_update(st, **a, dt_softplus=True)

                peer.run_point(f, counts, build, f"mamba_ssm {version} Triton selective_state_update loaded by path, "
                                                 f"dt_softplus=True, state fp32 in place; independent of ctx; eager launch "
                                                 f"(no CUDA graph: launch overhead is in the time); {check}")
    peer.summary("mamba_peer")


if __name__ == "__main__":
    main()
