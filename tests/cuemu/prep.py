#!/usr/bin/env python3
"""prep.py OUTDIR FILE...: writes OUTDIR/<name of FILE> for each .cu/.cuh file with its CUDA-only
syntax rewritten into C++ for cuemu.h, every line kept on its line (#line names the original file):

  k<<<grid, block[, smem[, stream]]>>>(args)   -> cuemu_launch(k, grid, block, smem, stream, args)
  asm volatile("op.x.y %0, [%1], 16;" : "=r"(d) : "l"(p))
                                               -> ptx_op_x_y(d, cuemu_addr(p), 16)
      (operands in the order the instruction lists them, outputs as lvalues, [addresses]
       through cuemu_addr; an instruction cuemu.h does not model fails to compile by name)
  extern __shared__ T name[]                   -> T *name = (T *)cuemu_dyn_smem()
  __shared__ T a[n], b;                        -> static T a[n], b; cuemu_shared_var(&a, sizeof a); ...
  __global__ ... __launch_bounds__(n, m) k(..) { -> __global__ ... k(..) { CUEMU_KERNEL(n, m);
"""
import os
import re
import sys


def mask(text):
    """The text with comments and the insides of string/char literals blanked (same length)."""
    out, i, n = list(text), 0, len(text)

    def blank(a, b):
        for k in range(a, b):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            blank(i, j)
            i = j
        elif text.startswith("/*", i):
            j = text.index("*/", i + 2) + 2
            blank(i, j)
            i = j
        elif text[i] in "\"'":
            j = i + 1
            while text[j] != text[i]:
                j += 2 if text[j] == "\\" else 1
            blank(i + 1, j)
            i = j + 1
        else:
            i += 1
    return "".join(out)


def close_of(m, i, o="(", c=")"):
    """Index of the bracket closing the one at m[i]."""
    depth = 0
    for j in range(i, len(m)):
        depth += (m[j] == o) - (m[j] == c)
        if depth == 0:
            return j
    raise SystemExit("prep.py: unbalanced %s at offset %d" % (o, i))


def split_top(src, m, sep=",", opens="([{", closes=")]}"):
    """src split at the separators of its mask m that sit outside (), [] and {} (and <> if asked)."""
    parts, depth, last = [], 0, 0
    for j, ch in enumerate(m):
        depth += (ch in opens) - (ch in closes)
        if ch == sep and depth == 0:
            parts.append(src[last:j])
            last = j + 1
    return parts + [src[last:]]


def keep_lines(old, new):
    return new + "\n" * (old.count("\n") - new.count("\n"))


def launch(text, m, mo):
    """k<<<cfg>>>(args), mo matching the <<< -> (begin, end, replacement)."""
    start = b = mo.start()
    while m[b - 1].isspace():
        b -= 1
    if m[b - 1] == ">":  # template arguments of the kernel
        depth = 0
        while True:
            b -= 1
            depth += (m[b] == ">") - (m[b] == "<")
            if depth == 0:
                break
    while b > 0 and (m[b - 1].isalnum() or m[b - 1] in "_:"):
        b -= 1
    cfg_end = m.index(">>>", start)
    cfg = [p.strip() for p in split_top(text[start + 3:cfg_end], m[start + 3:cfg_end])]
    cfg += ["0", "0"][: 4 - len(cfg)]
    p = m.index("(", cfg_end)
    e = close_of(m, p)
    args = text[p + 1:e].strip()
    new = "cuemu_launch(%s, %s%s)" % (text[b:start].strip(), ", ".join(cfg), ", " + args if args else "")
    return b, e + 1, keep_lines(text[b:e + 1], new)


def asm(text, m, mo):
    """asm [volatile] ( "template" : outs : ins : clobbers ) -> a call of the PTX model."""
    start, p = mo.start(), mo.end() - 1
    e = close_of(m, p)
    inner, im = text[p + 1:e], m[p + 1:e]
    sections = split_top(inner, im, ":")
    template = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', sections[0])).replace("\\n", "\n").replace("\\t", " ")
    operands = []
    for sec in sections[1:3]:
        for op in split_top(sec, mask(sec)):
            mo = re.match(r'\s*"([^"]*)"\s*\((.*)\)\s*$', op, re.S)
            if mo:
                operands.append((mo.group(1), mo.group(2).strip()))
    instrs = [s.strip() for s in template.split(";") if s.strip()]
    if len(instrs) != 1 or instrs[0].startswith("{"):
        call = "cuemu_ptx_block_not_modelled()"
    else:
        opcode, _, rest = instrs[0].partition(" ")
        args = []
        for tok in re.findall(r"\[\s*%\d+\s*\]|%\d+|[\w.]+", rest):
            num = re.search(r"\d+", tok)
            if tok.startswith("["):
                args.append("cuemu_addr(%s)" % operands[int(num.group())][1])
            elif tok.startswith("%"):
                constraint, expr = operands[int(num.group())]
                args.append(expr if constraint[0] in "=+" else "(%s)" % expr)
            else:
                args.append(tok)
        call = "ptx_%s(%s)" % (re.sub(r"[.:]", "_", opcode), ", ".join(args))
    return start, e + 1, keep_lines(text[start:e + 1], call)


def dyn_smem(text, m, mo):
    """extern __shared__ [__align__(n)] T name[] -> T *name = (T *)cuemu_dyn_smem()."""
    decl = re.sub(r"__align__\s*\(\s*\d+\s*\)", "", text[mo.start(1):mo.end(1)]).strip()
    t, name = re.match(r"(.*?)(\w+)\s*\[\s*\]$", decl, re.S).groups()
    return mo.start(), mo.end(), "%s*%s = (%s*)cuemu_dyn_smem()" % (t, name, t)


def static_smem(text, m, mo):
    """__shared__ T a[n], b; -> static T a[n], b; + a registration of each variable."""
    body, bm = text[mo.start(1):mo.end(1)], m[mo.start(1):mo.end(1)]
    names = []
    for d in split_top(body, bm, ",", "([{<", ")]}>"):
        d = d.split("[")[0]
        names.append(re.findall(r"\w+", d)[-1])
    regs = " ".join("cuemu_shared_var(&%s, sizeof %s);" % (n, n) for n in names)
    return mo.start(), mo.end(), "static %s; %s" % (body, regs)


def kernel(text, m, mo):
    """__global__ [__launch_bounds__(...)] ... k(...) { -> the same with CUEMU_KERNEL(bounds) first."""
    head_end = mo.end()
    while m[head_end] not in "{;":
        head_end = close_of(m, head_end) + 1 if m[head_end] == "(" else head_end + 1
    head, bounds = text[mo.start():head_end], "0"
    lb = re.search(r"__launch_bounds__\s*\(", mask(head))
    if lb:
        c = close_of(mask(head), lb.end() - 1)
        bounds = head[lb.end():c]
        head = head[:lb.start()] + head[c + 1:]
    if m[head_end] == ";":
        return mo.start(), head_end, head
    return mo.start(), head_end + 1, head + "{ CUEMU_KERNEL(%s);" % bounds


RULES = [
    (re.compile(r"<<<"), launch),
    (re.compile(r"\basm\b(\s+(volatile|__volatile__))?\s*\("), asm),
    (re.compile(r"\bextern\s+__shared__\s+([^;{}]*?\w+\s*\[\s*\])"), dyn_smem),
    (re.compile(r"(?<!extern )\b__shared__\s+([^;{}()]*(?:\([^;{}()]*\)[^;{}()]*)*);"), static_smem),
    (re.compile(r"\b__global__\b"), kernel),
]


def prep(text):
    for pattern, rule in RULES:
        out, pos, m = [], 0, mask(text)
        for mo in pattern.finditer(m):
            if mo.start() < pos:
                continue
            b, e, new = rule(text, m, mo)
            out += [text[pos:b], new]
            pos = e
        text = "".join(out) + text[pos:]
    return text


if __name__ == "__main__":
    for src in sys.argv[2:]:
        with open(src) as f:
            text = '#line 1 "%s"\n' % src + prep(f.read())
        dst = os.path.join(sys.argv[1], os.path.basename(src))
        if os.path.exists(dst) and open(dst).read() == text:
            continue
        with open(dst + ".%d" % os.getpid(), "w") as f:  # then renamed: parallel builds share headers
            f.write(text)
        os.replace(dst + ".%d" % os.getpid(), dst)
