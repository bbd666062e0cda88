"""test_peer_common.py: the parts of peer_common.py that need neither torch nor a GPU, as tables.

    python3 bench/peers/test_peer_common.py        (plain unittest; no torch needed)

Covers: context/batch parsing, the sample rule and statistics (bench/timing.c), the CSV writer
(exact SPEC §8 columns, header once, torn line cut, foreign header refused, quoting), the count
formulas against hand counts for small shapes (SPEC §6), peaks files, point keys, and the CPU
ceilings torch_cpu_layers.py takes from our rows.
"""
import csv
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_common as pc  # noqa: E402

SPEC8 = ("run_id, utc, git_sha, host, cpu_model, threads, gpu, gpu_sms, gpu_clock_mhz, cuda, driver, backend, "
         "layer, impl, level, mode, dtype, config, batch, ctx, d_model, heads, head_dim, d_state, mini_batch, "
         "n_layers, samples, median_ms, min_ms, max_ms, noise, tokens, us_per_token, flops, tflops, bytes, gbps, "
         "pct_peak_flops, pct_peak_bw, state_bytes, peak_mem_bytes, status, note").split(", ")
SPEC14 = SPEC8 + ["shard", "blas", "joules_per_token", "watts", "setup_s"]  # SPEC §14 addenda


class Parsing(unittest.TestCase):
    def test_ctx(self):
        cases = [("1k:32k", [1024, 2048, 4096, 8192, 16384, 32768]), ("1k,4k,16k", [1024, 4096, 16384]),
                 ("64,128", [64, 128]), ("512", [512]), ("1k:1k", [1024]), ("2k:5k", [2048, 4096])]
        for spec, want in cases:
            self.assertEqual(pc.parse_ctx(spec), want, spec)

    def test_bad(self):
        for spec in ("0", "-1", "4k:1k", "x"):
            with self.assertRaises(Exception, msg=spec):
                pc.parse_ctx(spec)

    def test_ints(self):
        self.assertEqual(pc.parse_ints("16,512"), [16, 512])


class SampleRule(unittest.TestCase):
    def test_stats(self):
        s = pc.stats([3.0, 1.0, 2.0])
        self.assertEqual((s["n"], s["median"], s["min"], s["max"]), (3, 2.0, 1.0, 3.0))
        self.assertAlmostEqual(s["noise"], 0.5)  # stdev 1 (n-1) / mean 2
        self.assertEqual(pc.stats([1.0, 2.0, 3.0, 4.0])["median"], 2.5)
        self.assertEqual(pc.stats([5.0])["noise"], 0.0)
        self.assertEqual(pc.stats([])["n"], 0)

    def test_done(self):
        r = pc.SampleRule()
        flat, noisy = [1.0] * 10, [1.0, 2.0] * 5
        cases = [  # (samples, elapsed s, done?)
            ([1.0] * 9, 0.1, False),     # fewer than 10 samples
            ([1.0] * 9, 15.0, True),     # the hard cap wins
            (flat, 0.1, True),           # quiet enough
            (noisy, 0.1, False),         # noisy, time left
            (noisy, 2.0, True),          # noisy, 2 s spent
            ([1.0, 2.0] * 500, 0.1, True),  # max samples
        ]
        for ms, t, want in cases:
            self.assertEqual(pc.sample_done(r, ms, t), want, (len(ms), t))


class Csv(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, "sub", "p.csv")

    def tearDown(self):
        self.dir.cleanup()

    def rows(self):
        with open(self.path, newline="") as f:
            return list(csv.reader(f))

    def test_columns_are_spec8_then_spec14(self):
        self.assertEqual(pc.COLUMNS, SPEC14)

    def test_header_once_and_row_width(self):
        pc.CsvOut(self.path).write(dict(status="ok", backend="x", note="a, b \"q\"", flops=1e15, noise=0.0123456789))
        pc.CsvOut(self.path).write(dict(status="oom", tokens=16))
        rows = self.rows()
        self.assertEqual(rows[0], SPEC14)
        self.assertEqual([len(r) for r in rows], [48, 48, 48])
        rec = dict(zip(SPEC8, rows[1]))
        self.assertEqual((rec["note"], rec["flops"], rec["noise"]), ('a, b "q"', "1000000000000000", "0.0123457"))
        self.assertEqual(dict(zip(SPEC8, rows[2]))["tokens"], "16")

    def test_torn_line_is_cut(self):
        pc.CsvOut(self.path).write(dict(status="ok"))
        with open(self.path, "a") as f:
            f.write("half,a,row")
        pc.CsvOut(self.path).write(dict(status="error"))
        self.assertEqual([r[SPEC14.index("status")] for r in self.rows()[1:]], ["ok", "error"])

    def test_older_schema_appended_at_its_width(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write(",".join(SPEC8) + "\n")
        pc.CsvOut(self.path).write(dict(status="ok", note="n"))
        rows = self.rows()
        self.assertEqual([len(r) for r in rows], [43, 43])
        self.assertEqual(rows[1][-2:], ["ok", "n"])

    def test_foreign_header_refused(self):
        os.makedirs(os.path.dirname(self.path))
        with open(self.path, "w") as f:
            f.write("a,b\n1,2\n")
        with self.assertRaises(SystemExit):
            pc.CsvOut(self.path)

    def test_bad_rows_refused(self):
        out = pc.CsvOut(self.path)
        with self.assertRaises(ValueError):
            out.write(dict(status="fine"))
        with self.assertRaises(KeyError):
            out.write(dict(status="ok", speed=1))

    def test_keys(self):
        out = pc.CsvOut(self.path)
        f = dict(backend="fla", layer="ttt_linear", impl="chunk", level="op", mode="prefill", dtype="bf16",
                 config="1.3b", batch=16, ctx=1024)
        out.write(dict(f, run_id="R", status="ok"))
        out.write(dict(f, run_id="S", status="ok", ctx=2048))
        self.assertEqual(pc.read_keys(self.path, "R"), {pc.point_key(f)})


class Counts(unittest.TestCase):
    """Hand counts (multiply-add = 2) for small shapes, as layers/*.c compute them."""

    def test_attention(self):
        # B1 H1 T4 d2 D2 s2. Prefill: 4*1*1*16*2/2 = 64 FLOPs; bytes 4 tokens * 6*D*s = 96.
        c = pc.attention_counts("prefill", 1, 4, 2, 1, 2, 2)
        self.assertEqual((c["flops"], c["bytes"], c["state_bytes"]), (64, 96, 32))
        # Decode at T=4: 4*1*1*4*2 = 32 FLOPs; bytes 1 token * 6*D*s = 24 + cache read 2*1*4*2*2 = 32 -> 56.
        c = pc.attention_counts("decode", 1, 4, 2, 1, 2, 2)
        self.assertEqual((c["flops"], c["bytes"]), (32, 56))

    def test_mamba(self):
        # B1 T2 E3 N4 s2: 2 tokens * (9*12 + 6) = 228; bytes 2*(12+8)*2 = 80; state 1*3*4*4 = 48.
        c = pc.mamba_counts("prefill", 1, 2, 3, 4, 2)
        self.assertEqual((c["flops"], c["bytes"], c["state_bytes"]), (228, 80, 48))
        # Decode B2: 2 tokens * 114 = 228; bytes 2*20*2 = 80 + 2*2*3*4*4 = 192 -> 272.
        c = pc.mamba_counts("decode", 2, 99, 3, 4, 2)
        self.assertEqual((c["flops"], c["bytes"]), (228, 272))

    def test_mamba2(self):
        # the worked check of spec/mamba2.md §6: B 1, T 45, E 128, H 8, N 16, G 1, Q 16, s 4
        c = pc.mamba2_counts("prefill", 1, 45, 128, 8, 16, 1, 16, 4)
        self.assertEqual(c["flops"], 496992)
        self.assertEqual(c["bytes"], 53280)
        self.assertEqual(c["state_bytes"], 8 * 16 * 16 * 4)
        self.assertEqual(pc.mamba2_counts("decode", 1, 45, 128, 8, 16, 1, 16, 4)["flops"], 10624)
        self.assertEqual(pc.mamba2_counts("decode", 2, 45, 128, 8, 16, 1, 16, 4)["flops"], 2 * 10624)

    def test_ttt_linear(self):
        # B1 T16 H1 d2 D2 b16 s2. Dual per token: 6*4 + 6*16*2 = 216 -> 3456. Primal 8*4 = 32 -> 512.
        # Bytes 16*(4*2+1)*2 = 288 + (1*6 + 1*6)*4 = 48 -> 336. State 1*1*2*6*4 = 48.
        c = pc.ttt_linear_counts("dual", 1, 16, 2, 1, 2, 16, 2)
        self.assertEqual((c["flops"], c["bytes"], c["state_bytes"]), (3456, 336, 48))
        self.assertEqual(pc.ttt_linear_counts("primal", 1, 16, 2, 1, 2, 16, 2)["flops"], 512)


class Peaks(unittest.TestCase):
    def test_json_and_csv(self):
        with tempfile.TemporaryDirectory() as d:
            j, c = os.path.join(d, "p.json"), os.path.join(d, "p.csv")
            with open(j, "w") as f:
                json.dump({"tflops": 989.5, "GBps": 3350}, f)
            with open(c, "w") as f:
                f.write("key,value\nbf16_tflops,900\nbw_gbps,3000\n")
            self.assertEqual(pc.load_peaks(j), {"bf16_tflops": 989.5, "gbps": 3350.0})
            self.assertEqual(pc.load_peaks(c), {"bf16_tflops": 900.0, "gbps": 3000.0})
            self.assertEqual(pc.load_peaks(None), {})


class CpuCeilings(unittest.TestCase):
    """torch_cpu_layers.py: a peer's point takes the ceilings of our row of the same point (the
    bandwidth ceiling of a cpu row is a read of its own bytes), the run-wide one only where our
    row is missing."""

    def test_point_takes_its_rows_ceilings(self):
        import torch_cpu_layers as tcl
        small = dict(tflops="0.05", pct_peak_flops="25", gbps="60", pct_peak_bw="50")   # 0.2 TFLOP/s, 120 GB/s
        large = dict(tflops="0.02", pct_peak_flops="10", gbps="20", pct_peak_bw="62.5")  # 0.2 TFLOP/s, 32 GB/s
        rows = {("mamba", "decode", 1, 1024): small, ("attention", "decode", 1, 8192): large}
        run_wide = tcl.ceilings(rows)
        self.assertEqual(run_wide, {"fp32_tflops": 0.2, "gbps": 120.0})
        self.assertEqual(tcl.point_ceilings(large, run_wide), {"fp32_tflops": 0.2, "gbps": 32.0})
        self.assertEqual(tcl.point_ceilings(None, run_wide), run_wide)
        no_bw = dict(tflops="0.05", pct_peak_flops="25", gbps="60", pct_peak_bw="")
        self.assertEqual(tcl.point_ceilings(no_bw, run_wide), {"fp32_tflops": 0.2})  # no other row's bandwidth
        self.assertEqual(tcl.ceilings({1: no_bw, 2: large}), {"fp32_tflops": 0.2, "gbps": 32.0})


if __name__ == "__main__":
    unittest.main(verbosity=1)
