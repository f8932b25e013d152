#!/usr/bin/env python3
"""Plot models/tiny-shakespeare/loss_{bitnet,float}.csv into loss_curves.png (matplotlib)."""
import csv
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tiny-shakespeare")
fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
for mode, color in (("bitnet", "tab:blue"), ("float", "tab:orange")):
    with open(os.path.join(here, f"loss_{mode}.csv")) as f:
        rows = [(int(r["step"]), float(r["train_loss"]), float(r["val_loss"])) for r in csv.DictReader(f)]
    s, tr, va = zip(*rows)
    best = min(rows, key=lambda r: r[2])
    label = "BitNet b1.58 (ternary)" if mode == "bitnet" else "float twin"
    ax.plot(s, va, color=color, label=f"{label} val (best {best[2]:.4f} @ {best[0]})")
    ax.plot(s, tr, color=color, ls="--", alpha=0.6, label=f"{label} train (dropout on)")
    ax.plot([best[0]], [best[2]], "o", color=color)
ax.axhline(1.50, color="gray", ls=":", label="target 1.50")
ax.set_ylim(1.0, 2.0)
ax.set_xlabel("step (64 x 256 bytes)")
ax.set_ylabel("loss (nats / byte)")
ax.set_title("tiny-shakespeare: val = Hamlet + The Tempest + Julius Caesar")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(os.path.join(here, "loss_curves.png"))
print("wrote", os.path.join(here, "loss_curves.png"))
