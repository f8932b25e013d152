#!/usr/bin/env python3
"""Fine-tune the pretrained SmolLM2-135M to ternary weights (quantization-aware), beside a float
fine-tune of the same steps, on one GPU; export the ternary projections for tern.

    python3 models/finetune_smollm2.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf --data DIR --out OUT \
        [--modes float,qat] [--float-minutes M] [--qat-minutes M] [--qat-lr LR] [--kd W] ...

Why: post-training ternarization of this model loses ~4 nats/byte (`tern ptq`,
models/runs/ptq_smollm2.json). This measures how much of that a short quantization-aware
fine-tune wins back, against a float fine-tune on the same tokens (the fine-tune also moves the
model to the evaluation text's domain, so the float fine-tune is the fair baseline, not the
pretrained model).

The network is the llama graph that tern's `Family::Llama` runs (host/src/transformer.rs): token
embedding (Q8_0 in the file, tied output head; both frozen here), per layer RMSNorm -> q, k, v
(GQA 9/3 heads, head_dim 64) -> rotate-half RoPE (theta 1e5) -> causal attention -> o_proj,
RMSNorm -> down(silu(gate) * up); final RMSNorm; logits = norm(x) @ embed^T. Q/K rows are
un-permuted from llama.cpp's pairwise order as tern's import does (`unpermute_rope_rows`).
Mode qat: the seven projections are BitLinears as in models/train.py (absmean ternary weights
per tensor, absmax int8 activations per token, straight-through estimator). Mode float: plain
linears. Norms are trained, the embedding is not.
With --kd W > 0, mode qat also distils: its loss is the cross-entropy plus W times the KL
divergence from a frozen teacher's next-token distribution to its own, the teacher being this
run's float fine-tune (--teacher float, the default; needs --modes float,qat) or the file's model
(--teacher pretrained). Model selection and the reported losses stay plain cross-entropy.

Inputs in --data (models/smollm2_tokens.py makes them with llama.cpp's tokenizer, which tern's
matches id for id):
train.u16, val.u16 (token ids of models/data/{train,val}.txt), val16k.u16 (ids of val.txt's
first 16384 bytes: `tern ptq`'s text) and token_bytes.u8 (bytes per token id). Model selection
uses val.u16 past its first 6000 tokens; the reported test loss is val16k in `tern ptq`'s
windows (256 tokens; input w[:-1], targets w[1:]; nats per predicted byte), computed in f32.

Outputs in --out: summary_<mode>.json (losses by step, best step, test loss) and, for qat,
ternary_<a>-<b>.safetensors (layers a..b: per projection `codes` as uint8 with four 2-bit codes
per byte, code+1 in bits 2k..2k+1 of column 4j+k, rows in tern's (Hugging Face) order; `scale`
as f32 = mean|W|; and the two norms), plus check_logits.json and check_logits_float.json
(logits of the test text's first 8 tokens with int8 and with f32 activations, computed with the
scales as the assembled GGUF keeps them, 127 * f16(scale / 127), for a cross-check with tern
and llama.cpp). --check-logits EXPORT recomputes the f32 one from an export, on any device.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

# models/train.py's layers, as the shipped model trained with them
from train import BitLinear as TrainBitLinear, RMSNorm as TrainRMSNorm, apply_rope, quantize_activations
from smollm2_format import PROJS as GGUF_PROJS, exported_scale, pack_codes, read_export, unpack_codes, unpermute_rope_rows

# (module, name, GGUF name) of the seven projections
PROJS = [(*hf.split("."), g) for g, hf in GGUF_PROJS.items()]


# ----------------------------------------------------------------------------- file
def load_gguf(path: str):
    import gguf
    r = gguf.GGUFReader(path)
    f = r.fields

    def val(k):
        x = f[k].contents()
        return x
    cfg = {
        "layers": int(val("llama.block_count")), "d": int(val("llama.embedding_length")),
        "ffn": int(val("llama.feed_forward_length")), "heads": int(val("llama.attention.head_count")),
        "kv": int(val("llama.attention.head_count_kv")), "theta": float(val("llama.rope.freq_base")),
        "eps": float(val("llama.attention.layer_norm_rms_epsilon")), "vocab": int(val("llama.vocab_size")),
    }
    t = {x.name: gguf.quants.dequantize(x.data, x.tensor_type).astype(np.float32) for x in r.tensors}
    for i in range(cfg["layers"]):
        t[f"blk.{i}.attn_q.weight"] = unpermute_rope_rows(t[f"blk.{i}.attn_q.weight"], cfg["heads"])
        t[f"blk.{i}.attn_k.weight"] = unpermute_rope_rows(t[f"blk.{i}.attn_k.weight"], cfg["kv"])
    return cfg, t


# ----------------------------------------------------------------------------- model
class RMSNorm(TrainRMSNorm):
    """train.py's RMSNorm, starting from the file's weights."""

    def __init__(self, w: np.ndarray, eps: float):
        super().__init__(len(w), eps)
        with torch.no_grad():
            self.weight.copy_(torch.from_numpy(w))


class BitLinear(TrainBitLinear):
    """train.py's BitLinear, plus an export mode: fixed codes and the scale as exported."""
    fixed = None  # (codes as float, scale) when evaluating what the export holds
    float_acts = False  # export mode without rounding the activations (codes x scale in f32)

    def forward(self, x):
        if self.fixed is None:
            return super().forward(x)
        codes, scale = self.fixed
        if self.float_acts:
            return F.linear(x.float(), codes) * scale
        x_int, s = quantize_activations(x)
        return F.linear(x_int, codes) * (scale / s)

    def codes_and_scale(self):
        w = self.weight.detach().float()
        ws = 1.0 / w.abs().mean().clamp(min=1e-5)
        return (w * ws).round().clamp(-1, 1).to(torch.int8), float(1.0 / ws)


def linear(w: np.ndarray, qat: bool) -> nn.Linear:
    out, inp = w.shape
    m = (BitLinear if qat else nn.Linear)(inp, out, bias=False)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w))
    return m


class Layer(nn.Module):
    def __init__(self, cfg, t, i, qat):
        super().__init__()
        g = lambda n: t[f"blk.{i}.{n}.weight"]
        self.input_layernorm = RMSNorm(g("attn_norm"), cfg["eps"])
        self.post_attention_layernorm = RMSNorm(g("ffn_norm"), cfg["eps"])
        self.self_attn = nn.Module()
        self.mlp = nn.Module()
        for mod, name, gname in PROJS:
            setattr(getattr(self, mod), name, linear(g(gname), qat))
        self.h, self.kv, self.hd = cfg["heads"], cfg["kv"], cfg["d"] // cfg["heads"]

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        a = self.input_layernorm(x)
        at = self.self_attn
        q = at.q_proj(a).view(B, T, self.h, self.hd).transpose(1, 2)
        k = at.k_proj(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = at.v_proj(a).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        k = k.repeat_interleave(self.h // self.kv, dim=1)
        v = v.repeat_interleave(self.h // self.kv, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + at.o_proj(o.transpose(1, 2).reshape(B, T, self.h * self.hd))
        h = self.post_attention_layernorm(x)
        m = self.mlp
        return x + m.down_proj(F.silu(m.gate_proj(h)) * m.up_proj(h))


class Llama(nn.Module):
    def __init__(self, cfg, t, qat):
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Parameter(torch.from_numpy(t["token_embd.weight"]), requires_grad=False)
        self.layers = nn.ModuleList(Layer(cfg, t, i, qat) for i in range(cfg["layers"]))
        self.norm = RMSNorm(t["output_norm.weight"], cfg["eps"])

    def forward(self, ids):
        T = ids.shape[1]
        hd = self.cfg["d"] // self.cfg["heads"]
        inv = 1.0 / (self.cfg["theta"] ** (torch.arange(0, hd, 2, device=ids.device).float() / hd))
        f = torch.outer(torch.arange(T, device=ids.device).float(), inv)
        emb = torch.cat((f, f), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        x = F.embedding(ids, self.embed)
        for layer in self.layers:
            x = layer(x, cos, sin)
        return self.norm(x) @ self.embed.t().to(x.dtype)

    def bitlinears(self):
        for i, layer in enumerate(self.layers):
            for mod, name, _ in PROJS:
                yield i, mod, name, getattr(getattr(layer, mod), name)


@torch.no_grad()
def write_check_logits(model, tokens, dev, out, kinds=("int8", "f32")):
    """Logits of the exported weights on a few tokens, for tern's tests (tests/it/smollm2.rs):
    check_logits.json with int8 activations (what tern's accelerator path computes; an activation
    within a rounding error of a tie may round apart, so it agrees only loosely), and
    check_logits_float.json with f32 activations (tern's `--precision float` of the same file;
    nothing rounds, so it agrees to f32 error). The top 5 of each position."""
    model.eval()
    ids = torch.from_numpy(np.asarray(tokens, dtype=np.int64)).to(dev)[None]
    for name, float_acts in (("check_logits.json", False), ("check_logits_float.json", True)):
        if ("f32" if float_acts else "int8") not in kinds:
            continue
        for *_, m in model.bitlinears():
            m.float_acts = float_acts
        lg = model(ids)[0].float().cpu().numpy()
        json.dump({"tokens": ids[0].tolist(), "device": str(dev), "torch": torch.__version__,
                   "activations": "f32" if float_acts else "int8",
                   "top": [[int(j) for j in np.argsort(-r)[:5]] for r in lg],
                   "logits_of_top": [[float(r[j]) for j in np.argsort(-r)[:5]] for r in lg]},
                  open(os.path.join(out, name), "w"))
    for *_, m in model.bitlinears():
        m.float_acts = False


def load_export(model, export_dir, dev):
    """Puts an export (ternary_*.safetensors) into a qat model: norms as trained, projections fixed."""
    t = read_export(export_dir)
    with torch.no_grad():
        for i, mod, name, m in model.bitlinears():
            pre = f"model.layers.{i}.{mod}.{name}"
            codes = torch.from_numpy(unpack_codes(t[f"{pre}.codes"]).astype(np.float32)).to(dev)
            m.fixed = (codes, exported_scale(float(t[f"{pre}.scale"][0])))
        for i, layer in enumerate(model.layers):
            for n in ("input_layernorm", "post_attention_layernorm"):
                getattr(layer, n).weight.copy_(torch.from_numpy(t[f"model.layers.{i}.{n}.weight"].copy()))
        model.norm.weight.copy_(torch.from_numpy(t["model.norm.weight"].copy()))


# ----------------------------------------------------------------------------- data and eval
def windows(ids: np.ndarray, n: int):
    return [ids[s:s + n] for s in range(0, len(ids), n) if len(ids[s:s + n]) >= 2]


@torch.no_grad()
def nll_sum(model, ws, dev, bf16: bool):
    """Summed NLL over `tern ptq`-style windows: input w[:-1], targets w[1:]."""
    model.eval()
    total, n = 0.0, 0
    for w in ws:
        ids = torch.from_numpy(w.astype(np.int64)).to(dev)[None]
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=bf16):
            logits = model(ids[:, :-1])
        total += F.cross_entropy(logits.float()[0], ids[0, 1:], reduction="sum").item()
        n += len(w) - 1
    model.train()
    return total, n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", required=True)
    ap.add_argument("--data", help="the token ids (train.u16, val.u16, val16k.u16, token_bytes.u8)")
    ap.add_argument("--check-logits", metavar="EXPORT",
                    help="no training: write check_logits_float.json of the export in EXPORT (for its check_logits.json's tokens) to --out")
    ap.add_argument("--out", required=True)
    ap.add_argument("--modes", default="float,qat", help="comma-separated, run in this order: float, qat")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--float-lr", type=float, default=5e-5)
    ap.add_argument("--qat-lr", type=float, default=3e-4)
    ap.add_argument("--float-minutes", type=float, default=1e9, help="train for at most this long (the LR schedule follows)")
    ap.add_argument("--qat-minutes", type=float, default=1e9, help="QAT time of this call")
    ap.add_argument("--qat-total-minutes", type=float, default=None,
                    help="the QAT schedule's length when it spans several calls (default: --qat-minutes)")
    ap.add_argument("--state", help="folder of the resumable state: the teacher after mode float, and the QAT "
                    "state when this call's --qat-minutes end before --qat-total-minutes")
    ap.add_argument("--resume", action="store_true", help="continue the QAT run saved in --state (with --modes qat)")
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--ctx", type=int, default=512)
    ap.add_argument("--eval-every", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cuda", help="cuda (the runs); cpu runs a smoke test of the script")
    ap.add_argument("--kd", type=float, default=0.0,
                    help="qat: loss = cross-entropy + KD * KL(teacher || student) over the next-token distributions")
    ap.add_argument("--teacher", default="float", choices=["float", "pretrained"],
                    help="the distillation teacher: this run's float fine-tune (needs mode float first) or the file's model")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dev = args.device
    t0 = time.time()

    cfg, t = load_gguf(args.gguf)
    if args.check_logits:
        model = Llama(cfg, t, qat=True).to(dev)
        load_export(model, args.check_logits, dev)
        tokens = json.load(open(os.path.join(args.check_logits, "check_logits.json")))["tokens"]
        # the int8 file stays the training device's: another device's f32 order rounds other ties
        write_check_logits(model, tokens, dev, args.out, kinds=("f32",))
        return
    if not args.data:
        ap.error("--data is required to train")
    rd = lambda n, dt: np.fromfile(os.path.join(args.data, n), dtype=dt)
    train, val = rd("train.u16", np.uint16).astype(np.int64), rd("val.u16", np.uint16)
    test, tok_bytes = rd("val16k.u16", np.uint16), rd("token_bytes.u8", np.uint8)
    test_ws = windows(test, 256)
    test_bytes = int(sum(tok_bytes[w[1:]].sum() for w in test_ws))
    print(f"loaded in {time.time() - t0:.0f} s; {len(train)} train tokens, test {test_bytes} bytes", flush=True)
    modes = args.modes.split(",")
    if (args.resume or args.qat_total_minutes) and not args.state:
        ap.error("--resume and --qat-total-minutes need --state")
    if args.resume and modes != ["qat"]:
        ap.error("--resume continues a QAT run: use --modes qat")
    if args.kd > 0 and args.teacher == "float" and modes[:2] != ["float", "qat"] and not args.resume:
        ap.error("--teacher float distils from this run's float fine-tune: use --modes float,qat")
    fine_tuned = None
    for mode in modes:
        teacher = None
        if mode == "qat" and args.kd > 0:
            teacher = fine_tuned if args.teacher == "float" else Llama(cfg, t, qat=False).to(dev)
            if args.resume and args.teacher == "float":
                teacher = Llama(cfg, t, qat=False).to(dev)
                teacher.load_state_dict(torch.load(os.path.join(args.state, "teacher.pt"), map_location=dev))
            teacher.eval().requires_grad_(False)
        model = run(args, mode, cfg, t, dev, train, val, test_ws, test_bytes, teacher)
        fine_tuned = model if mode == "float" else None
        if mode == "float" and args.state:
            os.makedirs(args.state, exist_ok=True)
            torch.save(model.state_dict(), os.path.join(args.state, "teacher.pt"))
        del teacher


def run(args, mode, cfg, t, dev, train, val, test_ws, test_bytes, teacher=None):
    """Trains one mode, keeps its best step by the selection loss, and returns the model at it."""
    t0 = time.time()
    qat = mode == "qat"
    lr, minutes = (args.qat_lr, args.qat_minutes) if qat else (args.float_lr, args.float_minutes)
    torch.manual_seed(args.seed)
    model = Llama(cfg, t, qat).to(dev)
    sel_ws = windows(val[6000:], 512)

    def test_loss():
        s, n = nll_sum(model, test_ws, dev, bf16=False)
        return s / test_bytes

    def sel_loss():
        s, n = nll_sum(model, sel_ws, dev, bf16=True)
        return s / n

    log = {"args": vars(args), "mode": mode, "lr": lr, "minutes": minutes, "test_bytes": test_bytes, "steps": [],
           "distilled_from": None if teacher is None else f"{args.teacher} (kd weight {args.kd})"}
    resume = qat and args.resume
    if not resume:
        log["test_loss_start"] = test_loss()
        print(f"{mode} start: test {log['test_loss_start']:.4f} nats/byte", flush=True)

    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() == 2]
    other = [p for p in params if p.dim() != 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0}, {"params": other, "weight_decay": 0.0}],
                            lr=lr, betas=(0.9, 0.95), fused=True)
    # progress is steps or time, whichever is further: a run cut by its minutes still anneals. A
    # QAT schedule may span several calls (--qat-total-minutes): each call trains its
    # --qat-minutes, saves its state in --state, and the next one resumes it.
    total = (args.qat_total_minutes or minutes) if qat else minutes
    g = torch.Generator().manual_seed(args.seed)
    best = (float("inf"), -1)
    best_state = None
    start, elapsed0 = 0, 0.0
    state_file = os.path.join(args.state, "qat_state.pt") if args.state else None
    if resume:
        st = torch.load(state_file, map_location=dev, weights_only=False)
        model.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        g.set_state(st["rng"].cpu())  # map_location moved it to the device; the generator is the CPU's
        best, best_state, log, start, elapsed0 = st["best"], st["best_state"], st["log"], st["step"], st["elapsed"]
        print(f"resumed at step {start} after {elapsed0:.0f} s of training", flush=True)
    log.setdefault("calls", []).append({"start_step": start, "minutes": minutes, "total_minutes": total})
    progress = lambda s: max(s / args.steps, (elapsed0 + time.time() - t_train) / (total * 60))
    sched = lambda s: min(1.0, (s + 1) / args.warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress(s))))
    t_train = time.time()
    for step in range(start, args.steps + 1):
        done = step == args.steps or progress(step) >= 1.0
        # this call's share of a longer schedule is spent: save, and let the next call go on
        pause = not done and qat and total > minutes and time.time() - t_train >= minutes * 60
        if (step % args.eval_every == 0 or done) and not (resume and step == start):
            sl = sel_loss()
            log["steps"].append({"step": step, "sel_loss_per_token": sl, "wall_s": elapsed0 + time.time() - t_train})
            print(f"step {step}: selection {sl:.4f} nats/token ({elapsed0 + time.time() - t_train:.0f} s)", flush=True)
            if sl < best[0]:
                best = (sl, step)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        if done:
            break
        if pause:
            elapsed = elapsed0 + time.time() - t_train
            torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "rng": g.get_state(), "best": best,
                        "best_state": best_state, "log": log, "step": step, "elapsed": elapsed}, state_file)
            print(f"paused at step {step} after {elapsed:.0f} s of training: state in {state_file}", flush=True)
            return None
        for gr in opt.param_groups:
            gr["lr"] = lr * sched(step)
        ix = torch.randint(0, len(train) - args.ctx - 1, (args.batch,), generator=g)
        xb = torch.from_numpy(np.stack([train[i:i + args.ctx + 1] for i in ix.tolist()])).to(dev)
        with torch.autocast(dev, dtype=torch.bfloat16):
            logits = model(xb[:, :-1])
        logits = logits.float().reshape(-1, logits.shape[-1])
        loss = ce = F.cross_entropy(logits, xb[:, 1:].reshape(-1))
        if teacher is not None:
            with torch.no_grad(), torch.autocast(dev, dtype=torch.bfloat16):
                target = teacher(xb[:, :-1])
            target = F.log_softmax(target.float().reshape(-1, target.shape[-1]), dim=-1)
            kd = F.kl_div(F.log_softmax(logits, dim=-1), target, log_target=True, reduction="batchmean")
            loss = ce + args.kd * kd
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if step % 20 == 0:
            kd_part = f" kd {kd.item():.4f}" if teacher is not None else ""
            print(f"  step {step} train {ce.item():.4f}{kd_part}", flush=True)
    log["trained_steps"] = step
    log["train_s"] = elapsed0 + time.time() - t_train
    model.load_state_dict(best_state)
    log["best_step"], log["best_sel_loss_per_token"] = best[1], best[0]
    log["test_loss_best"] = test_loss()
    print(f"{mode} best step {best[1]}: test {log['test_loss_best']:.4f} nats/byte", flush=True)

    if qat:
        from safetensors.torch import save_file
        stats = {"zero": 0, "total": 0}
        parts = {}
        for i, mod, name, m in model.bitlinears():
            codes, scale = m.codes_and_scale()
            stats["zero"] += int((codes == 0).sum())
            stats["total"] += codes.numel()
            pre = f"model.layers.{i}.{mod}.{name}"
            d = parts.setdefault(i // 15, {})
            d[f"{pre}.codes"] = torch.from_numpy(pack_codes(codes.cpu().numpy()))
            d[f"{pre}.scale"] = torch.tensor([scale], dtype=torch.float32)
            # evaluated with the scale the assembled GGUF keeps, as tern reads it
            m.fixed = (codes.to(dev, torch.float32), exported_scale(scale))
        for i, layer in enumerate(model.layers):
            for n in ("input_layernorm", "post_attention_layernorm"):
                parts[i // 15][f"model.layers.{i}.{n}.weight"] = getattr(layer, n).weight.detach().cpu().contiguous()
        parts[1]["model.norm.weight"] = model.norm.weight.detach().cpu().contiguous()
        for k, d in parts.items():
            a, b = 15 * k, min(15 * k + 14, cfg["layers"] - 1)
            save_file(d, os.path.join(args.out, f"ternary_{a}-{b}.safetensors"))
        log["zero_fraction"] = stats["zero"] / stats["total"]
        # What the export holds (codes, scales as kept in Q8_0), evaluated: the figure tern must reproduce.
        log["test_loss_export"] = test_loss()
        print(f"export (scales as the GGUF keeps them): test {log['test_loss_export']:.4f} nats/byte", flush=True)
        write_check_logits(model, test_ws[0][:8], dev, args.out)
    log["wall_s"] = time.time() - t0
    json.dump(log, open(os.path.join(args.out, f"summary_{mode}.json"), "w"), indent=1)
    return model


if __name__ == "__main__":
    main()
