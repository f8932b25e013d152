#!/usr/bin/env python3
"""Train the tiny-shakespeare BitNet b1.58 model (or its full-precision twin) on one GPU.

    python3 models/train.py --mode bitnet --out runs/bitnet
    python3 models/train.py --mode float  --out runs/float

Architecture: the Hugging Face BitNet b1.58 2B4T architecture (transformers `modeling_bitnet.py`)
scaled down, byte-level vocabulary (256):
  x = embed_tokens(bytes)
  per layer:  a = input_layernorm(x)              (RMSNorm, eps 1e-5)
              q, k, v = q_proj(a), k_proj(a), v_proj(a)     (BitLinear; GQA: fewer KV heads)
              RoPE (llama rotate_half form, inv_freq = theta^(-2i/head_dim)) on q and k
              o = causal softmax(q k^T / sqrt(head_dim)) v
              x = x + o_proj(attn_sub_norm(o))     (subln: RMSNorm before o_proj)
              h = post_attention_layernorm(x)
              x = x + down_proj(ffn_sub_norm(relu(gate_proj(h))^2 * up_proj(h)))
  logits = lm_head(norm(x))        (embedding, final norm and lm_head in full precision, untied)
No biases anywhere.

BitLinear (mode bitnet), quantization-aware training with the straight-through estimator:
  weights:     ws = 1 / clamp(mean|W|, min 1e-5);  Wq = clamp(round(W * ws), -1, 1)   (per tensor)
  activations: s = 127 / clamp(max|x|, min 1e-5) per token; xq = clamp(round(x * s), -128, 127)
  output:      y = (xq @ Wq^T) / (s * ws)
Mode float: the same network with plain nn.Linear (bias=False).

The training loop samples random 256-byte windows of train.txt (seeded), AdamW, linear warmup +
cosine decay, optional dropout (embedding output, attention probabilities, residual branches),
evaluates the whole val.txt every --eval-every steps and keeps the best (early-stopped) weights.
Outputs in --out: loss_<mode>.csv (step, train_loss, val_loss), <mode>_best.safetensors
(float32 latent weights of the best step, HF tensor names), summary_<mode>.json.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ----------------------------------------------------------------------------- model
class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return (self.weight * x).to(dtype)


def quantize_weights(weight):
    """Absmean ternary with the straight-through estimator: (Wq, ws), Wq integer-valued, ws = 1/mean|W|."""
    w = weight.float()
    ws = 1.0 / w.abs().mean().clamp(min=1e-5)
    ws = ws.detach()
    w_s = w * ws
    return w_s + (w_s.round().clamp(-1, 1) - w_s).detach(), ws


def quantize_activations(x):
    """Absmax int8 per token with the straight-through estimator: (xq, s), xq integer-valued."""
    xf = x.float()
    s = (127.0 / xf.abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)).detach()
    x_s = xf * s
    return x_s + (x_s.round().clamp(-128, 127) - x_s).detach(), s


class BitLinear(nn.Linear):
    """nn.Linear whose forward quantizes W to ternary (absmean) and x to int8 (absmax, per token).

    Written so the matmul sees integer-valued operands (exact in bf16/tf32), then rescaled:
    y = (xq @ Wq^T) / (s * ws). Straight-through estimator: gradients flow as if the rounding
    and clamping were the identity (dy/dx = Wq/ws, dy/dW = xq/s).
    """

    def forward(self, x):
        w_int, ws = quantize_weights(self.weight)
        x_int, s = quantize_activations(x)
        y = F.linear(x_int, w_int)
        return y / (s * ws)


class Attention(nn.Module):
    def __init__(self, cfg, Lin):
        super().__init__()
        d, h, kv, hd = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_key_value_heads"], cfg["head_dim"]
        self.h, self.kv, self.hd = h, kv, hd
        self.q_proj = Lin(d, h * hd, bias=False)
        self.k_proj = Lin(d, kv * hd, bias=False)
        self.v_proj = Lin(d, kv * hd, bias=False)
        self.o_proj = Lin(h * hd, d, bias=False)
        self.attn_sub_norm = RMSNorm(h * hd, cfg["rms_norm_eps"])
        self.attn_dropout = cfg.get("dropout", 0.0)

    def forward(self, x, cos, sin):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.hd).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.kv, self.hd).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.kv != self.h:
            k = k.repeat_interleave(self.h // self.kv, dim=1)
            v = v.repeat_interleave(self.h // self.kv, dim=1)
        o = F.scaled_dot_product_attention(q, k, v, is_causal=True,
                                           dropout_p=self.attn_dropout if self.training else 0.0)
        o = o.transpose(1, 2).reshape(B, T, self.h * self.hd)
        return self.o_proj(self.attn_sub_norm(o))


class MLP(nn.Module):
    def __init__(self, cfg, Lin):
        super().__init__()
        d, f = cfg["hidden_size"], cfg["intermediate_size"]
        self.gate_proj = Lin(d, f, bias=False)
        self.up_proj = Lin(d, f, bias=False)
        self.down_proj = Lin(f, d, bias=False)
        self.ffn_sub_norm = RMSNorm(f, cfg["rms_norm_eps"])

    def forward(self, x):
        return self.down_proj(self.ffn_sub_norm(F.relu(self.gate_proj(x)).square() * self.up_proj(x)))


class Layer(nn.Module):
    def __init__(self, cfg, Lin):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.self_attn = Attention(cfg, Lin)
        self.post_attention_layernorm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])
        self.mlp = MLP(cfg, Lin)
        self.drop = nn.Dropout(cfg.get("dropout", 0.0))

    def forward(self, x, cos, sin):
        x = x + self.drop(self.self_attn(self.input_layernorm(x), cos, sin))
        x = x + self.drop(self.mlp(self.post_attention_layernorm(x)))
        return x


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin):
    return (x.float() * cos + rotate_half(x.float()) * sin).to(x.dtype)


def rope_tables(cfg, T, device):
    hd = cfg["head_dim"]
    inv_freq = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, hd, 2, dtype=torch.int64, device=device).float() / hd))
    freqs = torch.arange(T, device=device, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Inner(nn.Module):
    def __init__(self, cfg, Lin):
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.layers = nn.ModuleList([Layer(cfg, Lin) for _ in range(cfg["num_hidden_layers"])])
        self.norm = RMSNorm(cfg["hidden_size"], cfg["rms_norm_eps"])


class TinyBitNet(nn.Module):
    """Names match Hugging Face (model.layers.N.self_attn.q_proj.weight, ..., lm_head.weight)."""

    def __init__(self, cfg, mode: str):
        super().__init__()
        self.cfg = cfg
        Lin = BitLinear if mode == "bitnet" else nn.Linear
        self.model = Inner(cfg, Lin)
        self.lm_head = nn.Linear(cfg["hidden_size"], cfg["vocab_size"], bias=False)
        self.emb_drop = nn.Dropout(cfg.get("dropout", 0.0))
        cos, sin = rope_tables(cfg, cfg["max_position_embeddings"], "cpu")
        self.register_buffer("rope_cos", cos, persistent=False)
        self.register_buffer("rope_sin", sin, persistent=False)
        std = cfg.get("init_std", 0.02)
        for name, p in self.named_parameters():
            if p.dim() == 2:
                nn.init.normal_(p, mean=0.0, std=std)

    def forward(self, idx):
        T = idx.shape[1]
        cos, sin = self.rope_cos[:T], self.rope_sin[:T]
        x = self.emb_drop(self.model.embed_tokens(idx))
        for layer in self.model.layers:
            x = layer(x, cos, sin)
        return self.lm_head(self.model.norm(x)).float()


# ----------------------------------------------------------------------------- data / eval
def load_bytes(path):
    with open(path, "rb") as f:
        return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8).long()


def val_windows(data, ctx):
    """Non-overlapping windows of ctx bytes from offset 0 (last partial window kept if >= 2 bytes).
    Position t of a window predicts byte t+1 of the same window: ctx-1 predictions per full window."""
    ws = [data[i:i + ctx] for i in range(0, len(data), ctx)]
    return [w for w in ws if len(w) >= 2]


@torch.no_grad()
def evaluate(model, windows, device, batch=128):
    model.eval()
    tot, n = 0.0, 0
    full = [w for w in windows if len(w) == len(windows[0])]
    rest = [w for w in windows if len(w) != len(windows[0])]
    for group in [full[i:i + batch] for i in range(0, len(full), batch)] + [[w] for w in rest]:
        xb = torch.stack(group).to(device)
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = model(xb[:, :-1])
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), xb[:, 1:].reshape(-1), reduction="sum")
        tot += loss.item()
        n += xb[:, 1:].numel()
    model.train()
    return tot / n


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=["bitnet", "float"], required=True)
    ap.add_argument("--out", required=True)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--train", default=os.path.join(here, "data", "train.txt"))
    ap.add_argument("--val", default=os.path.join(here, "data", "val.txt"))
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--layers", type=int, default=6)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--head-dim", type=int, default=64)
    ap.add_argument("--ffn", type=int, default=768)
    ap.add_argument("--ctx", type=int, default=256)
    ap.add_argument("--rope-theta", type=float, default=10000.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--min-lr-frac", type=float, default=0.05)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--wd", type=float, default=0.1)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--beta2", type=float, default=0.95)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (keeping the best) after this wall time")
    ap.add_argument("--no-compile", action="store_true")
    ap.add_argument("--bench", type=int, default=0, help="run N steps, print ms/step, exit")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    os.makedirs(args.out, exist_ok=True)

    cfg = dict(hidden_size=args.d, intermediate_size=args.ffn, num_hidden_layers=args.layers,
               num_attention_heads=args.heads, num_key_value_heads=args.kv_heads, head_dim=args.head_dim,
               rope_theta=args.rope_theta, rms_norm_eps=1e-5, vocab_size=256,
               max_position_embeddings=args.ctx, dropout=args.dropout, init_std=0.02)
    for k in ("hidden_size", "intermediate_size"):
        assert cfg[k] % 64 == 0, k
    assert args.heads * args.head_dim % 64 == 0 and args.kv_heads * args.head_dim % 64 == 0
    model = TinyBitNet(cfg, args.mode).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    n_lin = sum(p.numel() for n, p in model.named_parameters() if "_proj" in n)
    print(f"mode={args.mode} params={n_params} (linear in layers {n_lin}) cfg={cfg}", flush=True)

    train = load_bytes(args.train)
    val = load_bytes(args.val)
    windows = val_windows(val, args.ctx)

    decay = [p for n, p in model.named_parameters() if p.dim() == 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.wd},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, args.beta2), eps=1e-8,
                            fused=device.type == "cuda")

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = min(1.0, (step - args.warmup) / max(1, args.steps - args.warmup))
        return args.lr * (args.min_lr_frac + (1 - args.min_lr_frac) * 0.5 * (1 + math.cos(math.pi * p)))

    fwd = model if args.no_compile else torch.compile(model)
    gen = torch.Generator().manual_seed(args.seed)
    train_dev = train.to(device)
    ar = torch.arange(args.ctx + 1, device=device)

    def batch():
        off = torch.randint(0, len(train) - args.ctx - 1, (args.batch,), generator=gen).to(device)
        xy = train_dev[off[:, None] + ar[None, :]]
        return xy[:, :-1], xy[:, 1:]

    csv_path = os.path.join(args.out, f"loss_{args.mode}.csv")
    rows = []
    best = (float("inf"), -1)
    best_state = None
    t0 = time.time()
    run_loss, run_n = 0.0, 0
    step = 0
    stopped_early = False
    for step in range(args.steps + 1):
        last = step == args.steps
        if (step % args.eval_every == 0 and step > 0) or last:
            vl = evaluate(model, windows, device)
            tl = run_loss / max(1, run_n)
            rows.append((step, tl, vl))
            if vl < best[0]:
                best = (vl, step)
                best_state = {k: v.detach().float().cpu().clone() for k, v in model.state_dict().items()}
            el = time.time() - t0
            print(f"step {step:6d} lr {lr_at(step):.2e} train {tl:.4f} val {vl:.4f} best {best[0]:.4f}@{best[1]} "
                  f"{el:7.1f}s", flush=True)
            with open(csv_path, "w") as f:
                f.write("step,train_loss,val_loss\n")
                for r in rows:
                    f.write(f"{r[0]},{r[1]:.6f},{r[2]:.6f}\n")
            run_loss, run_n = 0.0, 0
            if args.max_minutes and el > args.max_minutes * 60:
                stopped_early = True
                print("time budget reached, stopping", flush=True)
                break
        if last:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        x, y = batch()
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=device.type == "cuda"):
            logits = fwd(x)
        loss = F.cross_entropy(logits.reshape(-1, 256).float(), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if args.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip)
        opt.step()
        run_loss += loss.item() if (step % 10 == 0) else 0.0
        run_n += 1 if (step % 10 == 0) else 0
        if args.bench and step + 1 == 20:
            torch.cuda.synchronize()
            tb = time.time()
        if args.bench and step + 1 == 20 + args.bench:
            torch.cuda.synchronize()
            print(f"bench: {(time.time() - tb) / args.bench * 1000:.2f} ms/step, loss {loss.item():.4f}", flush=True)
            return
    wall = time.time() - t0

    from safetensors.torch import save_file
    save_file({k: v.contiguous() for k, v in best_state.items()},
              os.path.join(args.out, f"{args.mode}_best.safetensors"),
              metadata={"config": json.dumps({k: v for k, v in cfg.items() if k not in ("dropout", "init_std")}),
                        "mode": args.mode, "step": str(best[1])})
    summary = dict(mode=args.mode, params=n_params, config=cfg, args=vars(args), best_val=best[0], best_step=best[1],
                   final_val=rows[-1][2], final_step=rows[-1][0], wall_s=wall, stopped_early=stopped_early,
                   gpu=torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
                   torch=torch.__version__)
    with open(os.path.join(args.out, f"summary_{args.mode}.json"), "w") as f:
        json.dump(summary, f, indent=1)
    print(json.dumps({k: summary[k] for k in ("mode", "best_val", "best_step", "final_val", "wall_s")}), flush=True)


if __name__ == "__main__":
    main()
