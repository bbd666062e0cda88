#!/usr/bin/env python3
"""cpu_ratios.py OUTDIR: the ratios of scripts/cpu_ratios.sh from the CSVs of one run."""
import csv
import os
import sys

out = sys.argv[1]


def rows(name):
    path = os.path.join(out, name)
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []


def ms(rs, **key):
    for r in rs:
        if all(r[k] == str(v) for k, v in key.items()) and r["status"] == "ok":
            return float(r["median_ms"])
    return None


cpu, ref, mem = rows("cpu.csv"), rows("ref.csv"), rows("mem.csv")
sg = {}
with open(os.path.join(out, "sgemm.txt")) as f:
    next(f)
    for line in f:
        M, K, N, med = line.split(",")[:4]
        sg[(int(K), int(N))] = float(med)
T = int(cpu[0]["ctx"]) if cpu else 4096
print(f"# CPU ratios, one run: {cpu[0]['cpu_model'] if cpu else '?'}, {cpu[0]['threads'] if cpu else '?'} threads, "
      f"git {cpu[0]['git_sha'] if cpu else '?'}, {cpu[0]['utc'] if cpu else ''}; 125m, B 1, T {T}")

# 1. projections: (layer - op) vs sgemm alone; the projections each layer's cpu impl runs
proj = {
    "attention": [(768, 2304), (768, 768)],                       # q|k|v fused, o
    "mamba": [(768, 3072), (1536, 80), (48, 1536), (1536, 768)],  # in, x, dt, out
    "ttt_linear": [(768, 3084), (768, 768)],                      # q|v|lr|g stacked (share_qk, gate), o
    "ttt_mlp": [(768, 3084), (768, 768)],
}
impl = {"attention": "flash", "mamba": "chunked", "ttt_linear": "dual", "ttt_mlp": "dual"}
print("\n1. projection GEMMs inside the layer vs OpenBLAS sgemm alone (target >= 80%; lower bound: layer-op also holds convs, norms, gates)")
for layer, shapes in proj.items():
    lay, op = ms(cpu, layer=layer, impl=impl[layer], level="layer"), ms(cpu, layer=layer, impl=impl[layer], level="op")
    alone = sum(sg.get(s, float("nan")) for s in shapes)
    if lay and op:
        inside = lay - op
        print(f"   {layer:11s} layer {lay:8.2f} ms - op {op:8.2f} ms = {inside:8.2f} ms; sgemm alone {alone:7.2f} ms -> {100 * alone / inside:5.1f}%")

print(f"\n2. cpu vs ref, layer prefill at T {T}")
for layer in proj:
    c = ms(cpu, layer=layer, impl=impl[layer], level="layer")
    r = ms(ref, layer=layer, level="layer")
    if c and r:
        print(f"   {layer:11s} cpu {c:9.2f} ms  ref {r:10.1f} ms  speed-up x{r / c:6.1f}")

print("\n3. cpu attention op prefill vs PyTorch CPU SDPA (same shapes and threads)")
sd = rows("sdpa.csv")
if not sd:
    print("   torch not importable: not measured (python3 bench/peers/torch_cpu_sdpa.py --install)")
for r in sd:
    ours = ms(cpu, layer="attention", impl="flash", level="op", ctx=r["ctx"])
    if r["status"] == "ok" and ours:
        print(f"   T {r['ctx']:>5}: torch {float(r['median_ms']):8.2f} ms, ours {ours:8.2f} ms -> ours x{float(r['median_ms']) / ours:.2f}")
    elif r["status"] == "ok":
        print(f"   T {r['ctx']:>5}: torch {float(r['median_ms']):8.2f} ms (ours measured at T {T} only)")

print(f"\n4. TTT dual vs primal prefill on cpu (T {T})")
for layer in ("ttt_linear", "ttt_mlp"):
    for lv in ("op", "layer"):
        d, p = ms(cpu, layer=layer, impl="dual", level=lv), ms(cpu, layer=layer, impl="primal", level=lv)
        if d and p:
            print(f"   {layer:11s} {lv:5s}: dual {d:8.2f} ms, primal {p:8.2f} ms -> dual x{p / d:.2f}")

print("\n5. peak memory, attention op prefill at T 32k (D 768)")
for r in mem:
    if r["status"] == "ok" and r["peak_mem_bytes"]:
        pm = float(r["peak_mem_bytes"])
        td = int(r["ctx"]) * int(r["d_model"]) * 4
        print(f"   peak {pm / 2**20:.0f} MiB = {pm / td:.1f} x T*D*4 bytes (a T x T fp32 matrix per head would be {int(r['ctx'])**2 * 4 / 2**30:.0f} GiB)")
    else:
        print(f"   status {r['status']}: {r['note'][:120]}")
