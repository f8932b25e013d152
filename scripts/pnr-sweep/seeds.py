#!/usr/bin/env python3
"""One line per seed of a sweep: Fmax, where its critical path starts and ends, and its
longest routing hop; then the sweep's range, mean and passing seeds.

    scripts/pnr-sweep/seeds.py REPORT.json...

Takes nextpnr `--report` files as every sweep here leaves them (`tern synth --seeds`:
OUT/seed-N/pnr_report.json; the lent machine's poll.sh: NAME_sN.report.json; one seed per
folder: sN/report.json) and reads the seed from the path. The table is the Markdown that
docs/synthesis.md's sweep tables start from; the critical path column still wants a human
word for its class (the cell names are yosys' and nextpnr's).
"""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from endpoints import cls  # noqa: E402  (one naming of cell classes for both scripts)


def seed_of(path):
    m = re.search(r"(?:seed-|_s|(?:^|/)s)(\d+)(?:/|\.)", path)
    return int(m.group(1)) if m else None


def summary(path):
    """(seed, achieved MHz, constraint MHz, start, end, longest routing hop (ns, into)) of one report"""
    try:
        r = json.load(open(path))
    except (OSError, ValueError) as e:
        sys.exit(f"seeds.py: {path}: not a readable nextpnr --report JSON file ({e})")
    clocks = list(r.get("fmax", {}).values())
    if not clocks:
        sys.exit(f"seeds.py: {path}: no `fmax` (not a nextpnr --report file, or the run did not finish)")
    fmax = min(clocks, key=lambda c: c["achieved"])
    start = end = hop = None
    paths = r.get("critical_paths") or []
    if paths:
        steps = paths[0]["path"]
        start, end = steps[0]["from"]["cell"], steps[-1]["to"]["cell"]
        routing = [s for s in steps if s["type"] == "routing"]
        if routing:
            worst = max(routing, key=lambda s: s["delay"])
            hop = (worst["delay"], worst["to"]["cell"])
    return seed_of(path), fmax["achieved"], fmax["constraint"], start, end, hop


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: seeds.py REPORT.json...")
    rows = sorted((summary(p) + (p,) for p in sys.argv[1:]), key=lambda r: -r[1])
    print("| seed | MHz | critical path (start -> end) | longest routing hop |")
    print("|---|---|---|---|")
    for seed, mhz, cons, start, end, hop, path in rows:
        name = f"s{seed}" if seed is not None else path
        mark = f"**{mhz:.2f}**" if mhz >= cons else f"{mhz:.2f}"
        crit = f"`{cls(start)}` -> `{cls(end)}`" if start else "-"
        h = f"{hop[0]:.2f} ns into `{cls(hop[1])}`" if hop else "-"
        print(f"| {name} | {mark} | {crit} | {h} |")
    mhz = [r[1] for r in rows]
    cons = rows[0][2]
    passing = [f"s{r[0]}" if r[0] is not None else r[6] for r in rows if r[1] >= r[2]]
    print(f"\n{len(rows)} seeds: {min(mhz):.2f}-{max(mhz):.2f} MHz, mean {sum(mhz) / len(mhz):.1f}, "
          f"{len(passing)} meet {cons:g} MHz" + (f" ({', '.join(passing)})" if passing else "")
          + "; Fmax and paths as each nextpnr --report gives them")


if __name__ == "__main__":
    main()
