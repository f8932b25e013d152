#!/usr/bin/env python3
"""How fast one `pchain` row (rowbench.py) clocks on the iCE40 parts, placed and routed alone.

A timing harness, not a design: every input of the row (activations, the shared pair sums,
select codes, flips) comes from one long shift register fed by a pin, and the row's
registered sum leaves XOR-reduced through another, so nextpnr sees the row's own paths
between flip-flops and nothing else. `--regs-after 1,3,5` puts a register on the running
sum after those stages (0-based), in the sum LUTs' own logic cells; the later pairs' inputs
are not delayed to match, so the harness computes nothing useful; it times the structure.
A design would delay them (docs/synthesis.md weighs what that costs).

    python3 scripts/row-bench/pchain_fmax.py [--regs-after 1,3,5] [--seeds 1,2,3] [--lanes 16]

Needs Debian yosys and nextpnr-ice40 (the tools `tern synth` uses for iCE40).
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import rowbench  # noqa: E402

# `tern synth`'s boards (host/src/synth.rs) and the issue's clock targets
DEVICES = {"up5k": ("sg48", 50), "hx8k": ("ct256", 120)}


def harness(lanes, regs_after):
    row = rowbench.row_pchain(lanes)
    for k in regs_after:
        w = rowbench.pchain_width(k)
        decl = f"  wire [{w - 1}:0] z{k};"
        if decl not in row or k >= lanes // 2 - 1:
            sys.exit(f"pchain_fmax: no stage {k} to register after (stages 0..{lanes // 2 - 2})")
        row = row.replace(decl, f"  wire [{w - 1}:0] z{k}_c; reg [{w - 1}:0] z{k}; always @(posedge clk) z{k} <= z{k}_c;", 1)
        row = re.sub(rf"\.O\(z{k}\[", f".O(z{k}_c[", row)
    k = lanes // 2
    widths = [("a", 8 * lanes), ("s", 18 * k), ("sel", 3 * k), ("flip", k), ("sgn0", 1)]
    n = sum(w for _, w in widths)
    ports, lo = [], 0
    for name, w in widths:
        ports.append(f".{name}(sh[{lo + w - 1}:{lo}])")
        lo += w
    return row + (f"module top (input clk, input din, output reg dout);\n  reg [{n - 1}:0] sh;\n"
                  f"  always @(posedge clk) sh <= {{sh[{n - 2}:0], din}};\n  wire [15:0] y; wire c;\n"
                  f"  row r (.clk(clk), {', '.join(ports)}, .y(y), .c(c));\n"
                  f"  always @(posedge clk) dout <= ^y;\nendmodule\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--regs-after", default="1,3,5", help="stages after which the running sum is registered ('' for none)")
    ap.add_argument("--seeds", default="1", help="nextpnr seeds, comma-separated")
    ap.add_argument("--lanes", type=int, default=16)
    args = ap.parse_args()
    regs = [int(x) for x in args.regs_after.split(",") if x.strip()]
    with tempfile.TemporaryDirectory(prefix="pchain-fmax") as d:
        open(os.path.join(d, "top.v"), "w").write(harness(args.lanes, regs))
        rowbench.run(["yosys", "-q", "-p", "read_verilog top.v; synth_ice40 -dsp -top top -json top.json"], d)
        for dev, (pkg, mhz) in DEVICES.items():
            for seed in args.seeds.split(","):
                r = subprocess.run(["nextpnr-ice40", f"--{dev}", "--package", pkg, "--json", "top.json", "--freq", str(mhz),
                                    "--seed", seed.strip()], cwd=d, capture_output=True, text=True)
                got = re.findall(r"Max frequency for clock .*?: ([0-9.]+) MHz", r.stderr)
                if not got:
                    sys.exit(f"pchain_fmax: nextpnr-ice40 --{dev} gave no clock:\n{r.stderr[-1500:]}")
                print(f"{dev} seed {seed.strip()}: {float(got[-1]):.2f} MHz (nextpnr-ice40; target {mhz}), "
                      f"registers after stages {regs or 'none'}", flush=True)


if __name__ == "__main__":
    main()
