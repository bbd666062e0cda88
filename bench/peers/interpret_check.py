"""interpret_check.py: the Triton peers run on the CPU under Triton's interpreter, vs their references.

Without a GPU this is the only way to run the Triton kernels the peers time, called exactly as the
peer scripts call them, and compare them with the libraries' own PyTorch references:
  - fla.ops.ttt.fused_chunk_ttt_linear vs fla.ops.ttt.naive.chunk_ttt_linear_ref (fp32; the
    interpreter has no bf16), and chunk_ttt_linear (its kernel uses `i_t.to(...)` on a loop index,
    which the interpreter cannot run: reported, not a failure);
  - mamba_ssm's selective_state_update (loaded by path, as mamba_peer.py) vs selective_state_update_ref.

    PYTHONPATH=/tmp/site TRITON_INTERPRET=1 python3 bench/peers/interpret_check.py

Needs torch, triton, einops, fla-core (the carried wheel) and .whl/mamba_ssm_src; with numpy >= 2.3
the interpreter fails on `int(array)` (use numpy < 2.3). Autotuning cannot benchmark without a GPU
driver, so the first config of each kernel is taken. Exit 1 on a mismatch, 0 otherwise.
"""
import contextlib
import os
import sys

if os.environ.get("TRITON_INTERPRET") != "1":
    sys.exit("run with TRITON_INTERPRET=1 (see the module doc)")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402
import triton.runtime.autotuner as autotuner  # noqa: E402

import fla_ttt  # noqa: E402
import mamba_peer  # noqa: E402

autotuner.Autotuner._bench = lambda self, *args, config=None, **kw: [0.0, 0.0, 0.0]  # no driver: take config 0
torch.cuda.device = lambda index: contextlib.nullcontext()  # selective_state_update enters the tensor's device


def rel(a, b):
    return ((a.float() - b.float()).abs().max() / b.float().abs().max().clamp_min(1e-6)).item()


def main():
    fails = []
    ttt, naive, version, err = fla_ttt.load_fla()
    if err:
        print(f"FAIL fla: {err}")
        fails.append("fla import")
    else:
        inp = fla_ttt.make_inputs("cpu", torch.float32, 1, 32, 2, 16, seed=1)
        ref = fla_ttt.call_naive(naive, tuple(t.clone() for t in inp))
        for impl in ("fused_chunk", "chunk"):
            try:
                out = fla_ttt.call(getattr(ttt, f"{impl}_ttt_linear"), tuple(t.clone() for t in inp))
                e = max(rel(out[0], ref[0]), rel(out[1], ref[1]), rel(out[2], ref[2]))
                ok = e <= 1e-4
                print(f"{'ok  ' if ok else 'FAIL'} fla {version} {impl}_ttt_linear vs naive ref: rel err {e:.2e}")
                if not ok:
                    fails.append(impl)
            except Exception as exc:
                print(f"n/a  fla {version} {impl}_ttt_linear: interpreter cannot run it: {str(exc)[:100]}")
    root = mamba_peer.find_src(None)
    if not root:
        print("FAIL mamba_ssm sources not found")
        fails.append("mamba src")
    else:
        ssu = mamba_peer.load_ssu(root)
        a = mamba_peer.decode_inputs("cpu", 2, 64, 16, seed=1)
        b = {k: v.clone() for k, v in a.items()}
        out = ssu.selective_state_update(a.pop("state"), **a, dt_softplus=True)
        ref = ssu.selective_state_update_ref(b.pop("state"), **b, dt_softplus=True)
        e = rel(out, ref)
        ok = e <= 2e-2
        print(f"{'ok  ' if ok else 'FAIL'} mamba_ssm {mamba_peer.mamba_version(root)} selective_state_update "
              f"vs _ref: rel err {e:.2e} (bf16 output)")
        if not ok:
            fails.append("selective_state_update")
    print(f"interpret_check: {'FAILED: ' + ', '.join(fails) if fails else 'all runnable checks passed'}")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
