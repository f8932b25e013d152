#!/usr/bin/env python3
"""Plot the SmolLM2-135M fine-tunes' selection loss by step into models/smollm2-qat/qat_curves.png
(matplotlib): the committed distilled QAT run, its float teacher, the shorter distilled run it
replaced (models/runs/qat_smollm2_kd_6.8min) and the two runs without distillation
(models/runs/qat_smollm2_first_run, models/runs/qat_smollm2_ce_control)."""
import json
import os

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

here = os.path.dirname(os.path.abspath(__file__))
runs = [  # (summary, label, colour)
    ("smollm2-qat/summary_float.json", "float fine-tune (the teacher)", "tab:orange"),
    ("runs/qat_smollm2_first_run/summary_qat.json", "QAT, cross-entropy, 3.8 min", "tab:gray"),
    ("runs/qat_smollm2_ce_control/summary_qat.json", "QAT, cross-entropy, 5.7 min", "tab:green"),
    ("runs/qat_smollm2_kd_6.8min/summary_qat.json", "QAT + distillation, 6.8 min", "tab:purple"),
    ("smollm2-qat/summary_qat.json", "QAT + distillation, 14.5 min (committed)", "tab:blue"),
]
fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
for path, label, colour in runs:
    d = json.load(open(os.path.join(here, path)))
    steps = [s["step"] for s in d["steps"]]
    sel = [s["sel_loss_per_token"] for s in d["steps"]]
    test = d.get("test_loss_export", d["test_loss_best"])
    ax.plot(steps, sel, "o-", ms=3, color=colour, label=f"{label}: test {test:.4f}")
ax.set_ylim(3.0, 5.8)
ax.annotate("the QAT runs start at 16.34\n(absmean post-training)", xy=(96, 5.75), xytext=(130, 5.3),
            fontsize=8, arrowprops={"arrowstyle": "->", "color": "gray"})
ax.set_xlabel("step (32 x 512 tokens of train.txt)")
ax.set_ylabel("selection loss (nats / token, val.txt past its first 6000 tokens)")
ax.set_title("SmolLM2-135M fine-tuned on Shakespeare (one H100; test = val.txt's first 16384 bytes)")
ax.grid(alpha=0.3)
ax.legend(fontsize=8, loc="lower right", title="test loss: nats/byte, PyTorch", title_fontsize=8)
fig.tight_layout()
out = os.path.join(here, "smollm2-qat", "qat_curves.png")
fig.savefig(out)
print("wrote", out)
