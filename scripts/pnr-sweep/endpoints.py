#!/usr/bin/env python3
"""Endpoints of a nextpnr run that miss the clock, grouped by the cell they end in.

Needs a report written with `--report FILE --detailed-timing-report`. Each endpoint there
carries a (min, max) arrival; the max at the critical path's endpoint equals the critical
path's delay, so the max arrivals are a full slack picture, not only the worst path.
    scripts/pnr-sweep/endpoints.py REPORT.json [ROWS]
prints the endpoints arriving after 8 / 9 / 10 ns (125 MHz = 8 ns) per class, worst first,
with the driver of the last net into the worst one.
"""
import collections
import json
import re
import sys


def cls(name):
    """A cell name with its indices and yosys/nextpnr suffixes removed: one class per structure."""
    name = re.sub(r"\[\d+\]", "[]", name)
    name = re.sub(r"\d+", "#", name)
    name = re.sub(r"(_LUT#_Z|_TRELLIS_FF_Q|_PFUMX_Z|\$CCU#_COMB#|_CCU#C).*", "", name)
    return name[:60]


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: endpoints.py REPORT.json [ROWS]")
    report = json.load(open(sys.argv[1]))
    if "detailed_net_timings" not in report:
        sys.exit(f"{sys.argv[1]}: no detailed_net_timings (run nextpnr with --detailed-timing-report)")
    rows = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    worst = {}
    for net in report["detailed_net_timings"]:
        for e in net["endpoints"]:
            key, arrival = (e["cell"], e["port"]), e["delay"][1]
            if arrival > worst.get(key, (0.0, ""))[0]:
                worst[key] = (arrival, net["driver"])
    limits = (8.0, 9.0, 10.0)
    classes = collections.defaultdict(lambda: [0, 0, 0, 0.0, ""])
    for (cell, port), (arrival, driver) in worst.items():
        c = classes[cls(cell) + "." + re.sub(r"\d+", "", port)]
        for i, limit in enumerate(limits):
            c[i] += arrival >= limit
        if arrival > c[3]:
            c[3], c[4] = arrival, cls(driver)
    totals = [sum(c[i] for c in classes.values()) for i in range(3)]
    print(f"endpoints arriving after 8 / 9 / 10 ns: {totals[0]} / {totals[1]} / {totals[2]}")
    for name, c in sorted(classes.items(), key=lambda kv: -kv[1][3])[:rows]:
        if c[0]:
            print(f"{c[0]:6} {c[1]:6} {c[2]:6}  worst {c[3]:5.2f}  {name}  <- {c[4]}")


if __name__ == "__main__":
    main()
