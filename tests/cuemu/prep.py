#!/usr/bin/env python3
"""prep.py SRC.cu OUT.cpp: rewrites CUDA launches `k<<<g, b, s, st>>>(args)` into
`cuemu_launch(k, g, b, s, st, args)` so that g++ can compile the file against cuemu.h.
Lines keep their numbers (a #line directive names the original file)."""
import re, sys

src, out = sys.argv[1], sys.argv[2]
text = open(src).read()
pat = re.compile(r"([A-Za-z_][\w:]*(?:<[^;{}()]*?>)?)\s*<<<(.*?)>>>\s*\(\s*(\)?)", re.S)

def repl(m):
    kern, cfg, close = m.group(1), m.group(2), m.group(3)
    parts = [p.strip() for p in cfg.split(",")] if "(" not in cfg else None
    head = "cuemu_launch(" + kern + ", " + cfg
    if cfg.count(",") < 3:  # fill in smem / stream
        head += ", 0" * (3 - cfg.count(","))
    return head + (")" if close else ", ")

text2, n = pat.subn(repl, text)
open(out, "w").write('#line 1 "%s"\n' % src + text2)
print("%s: %d launches" % (src, n), file=sys.stderr)
