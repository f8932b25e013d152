#!/usr/bin/env python3
"""Where a placed-and-routed ECP5 design sits on the die: LUTs and routing arcs per tile bin.

Reads the text bitstream nextpnr-ecp5 writes with `--textcfg FILE` (`tern synth` keeps it as
`tern_board.config`) and prints two maps, Y down and X across, one cell per BIN x BIN tiles:
the routing arcs set in the bin (hundreds) and the LUT4 halves with a non-zero INIT, logic and
carry alike (tens). The rows holding LUTs are printed first (docs/synthesis.md, `fp4`, has
what they showed on ecp5-85f).
    scripts/pnr-sweep/density.py CONFIG [BIN]
"""
import collections
import re
import signal
import sys


def main():
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # quiet under `| head`
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    path = sys.argv[1]
    arg = sys.argv[2] if len(sys.argv) == 3 else "6"
    if not arg.isdigit() or int(arg) == 0:
        sys.exit(f"BIN must be a whole number of tiles >= 1, not `{arg}`")
    size = int(arg)
    arcs, luts = collections.Counter(), collections.Counter()
    used_rows = set()
    tile = None
    try:
        f = open(path)
    except OSError as e:
        sys.exit(f"{path}: cannot read it ({e.strerror})")
    with f:
        for line in f:
            if line.startswith(".tile "):
                m = re.match(r"\.tile (?:\w+_)?R(\d+)C(\d+):", line)
                tile = (int(m.group(1)), int(m.group(2))) if m else None
            elif tile is None:
                continue
            elif line.startswith("arc:"):
                arcs[(tile[0] // size, tile[1] // size)] += 1
            elif line.startswith("word: SLICE") and ".K" in line and "INIT" in line:
                if set(line.split()[-1]) != {"0"}:
                    luts[(tile[0] // size, tile[1] // size)] += 1
                    used_rows.add(tile[0])
    if not luts:
        sys.exit(f"{path}: no LUT found (is it nextpnr-ecp5's --textcfg output?)")
    print(f"rows with LUTs: Y={min(used_rows)}-{max(used_rows)}")
    rows = max(k[0] for k in (arcs | luts)) + 1
    cols = max(k[1] for k in (arcs | luts)) + 1
    for title, counts, unit in (("routing arcs", arcs, 100), ("LUT4s", luts, 10)):
        print(f"\n{title} per {size}x{size} tiles (x{unit}); rows Y, columns X")
        print("    " + "".join(f"{c * size:4d}" for c in range(cols)))
        for r in range(rows):
            print(f"{r * size:3d} " + "".join(f"{counts[(r, c)] // unit:4d}" for c in range(cols)))


if __name__ == "__main__":
    main()
