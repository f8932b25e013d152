#!/usr/bin/env python3
"""Export a trained tiny-shakespeare BitNet to the Hugging Face BitNet packed layout and compute
reference.json with an integer-path inference forward that re-reads the exported file.

    python3 models/export.py --bitnet runs/bitnet/bitnet_best.safetensors \
        --float runs/float/float_best.safetensors --out models/tiny-shakespeare

Needs numpy and safetensors only (no torch): the reference forward here is independent of the
training code, so it also checks train.py's BitLinear against the exported packed weights.

model.safetensors (HF BitNet b1.58 2B4T layout, transformers `integrations/bitnet.py`):
  BitLinear `*.weight`: U8 [out/4, in]; with R = out/4, bits 2i+1:2i of packed[r, c] hold
  W[i*R + r, c] + 1 (codes 0/1/2 = ternary -1/0/+1).
  `*.weight_scale`: F32 [1] = mean|W| of the latent weight (clamped to >= 1e-5), the
  transformers AutoBitLinear convention (the one of microsoft/bitnet-b1.58-2B-4T, quantization_config
  linear_class "autobitlinear"): y = F.linear(ActQuant(x), W_ternary) * weight_scale, i.e. the
  scale MULTIPLIES. (transformers' older `BitLinear` class divides by weight_scale instead.)
  Ternary codes: clamp(round_half_even(W * (1/weight_scale)), -1, 1), float32 arithmetic.
  Everything else (embed_tokens, the RMSNorm weights, norm, lm_head): F32.
  __metadata__: the config keys as JSON strings, plus "format": "tern-bitnet-hf".

Inference arithmetic of one BitLinear (`bitlinear` below), per token (row) x of float32:
  amax = max_j |x_j|  (float32), clamped to >= 1e-5
  s    = float32(127) / amax          (one float32 division)
  xq   = clamp(round_half_even(x * s), -128, 127)   (float32 multiply, then numpy.rint/torch.round:
                                                      ties go to the even integer)
  acc  = sum_j xq_j * w_j             (exact integer; computed in float64, < 2^53)
  y    = float32( (float64(acc) * float64(weight_scale)) / float64(s) )
Everything else float32: RMSNorm y = x * (1/sqrt(mean(x^2) + eps)) * w, RoPE, softmax attention
(scores scaled by 1/sqrt(head_dim), causal), relu^2 * up, residual adds, final norm, lm_head.
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

LIN = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
       "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
CONFIG_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
               "num_key_value_heads", "head_dim", "rope_theta", "rms_norm_eps", "vocab_size",
               "max_position_embeddings")
PROMPT = "ROMEO:"
N_GEN = 32
N_LOGIT_GEN = 4
SUBSET_BYTES = 16384
CTX_EVAL = 256
SUBSET_PROTOCOL = (
    "first 16384 bytes of models/data/val.txt, cut into 64 non-overlapping windows of 256 bytes "
    "(window w = bytes [256w, 256w+256)); each window is an independent sequence starting at "
    "position 0 (no KV state carried across windows); position t (0..254) predicts byte t+1 of the "
    "same window, 255 predictions per window, 16320 in all; loss = mean over all 16320 predictions "
    "of -log_softmax(logits)[target] in nats (log-softmax of the float32 logits computed in float64).")
FULL_PROTOCOL = (
    "the same protocol over the whole of models/data/val.txt: non-overlapping windows of 256 bytes "
    "from offset 0, the last partial window included (it has len-1 predictions), mean over every "
    "prediction.")


# ----------------------------------------------------------------------------- packing
def ternarize(w: np.ndarray) -> tuple[np.ndarray, np.float32]:
    w = w.astype(np.float32)
    scale = np.float32(max(np.float64(np.abs(w).astype(np.float64).mean()), 1e-5))
    inv = np.float32(1.0) / scale
    q = np.clip(np.rint(w * inv), -1, 1).astype(np.int8)
    return q, scale


def pack(q: np.ndarray) -> np.ndarray:
    out, inn = q.shape
    assert out % 4 == 0
    r = out // 4
    codes = (q.astype(np.int16) + 1).astype(np.uint8)
    packed = np.zeros((r, inn), dtype=np.uint8)
    for i in range(4):
        packed |= codes[i * r:(i + 1) * r] << np.uint8(2 * i)
    return packed


def unpack(packed: np.ndarray) -> np.ndarray:
    r, inn = packed.shape
    q = np.empty((4 * r, inn), dtype=np.int8)
    for i in range(4):
        q[i * r:(i + 1) * r] = ((packed >> np.uint8(2 * i)) & np.uint8(3)).astype(np.int8) - 1
    return q


def export(bitnet_ckpt: str, out_dir: str) -> dict:
    st = load_file(bitnet_ckpt)
    with safe_open(bitnet_ckpt, "np") as f:
        cfg = json.loads(f.metadata()["config"])
    cfg = {k: cfg[k] for k in CONFIG_KEYS}
    tensors = {}
    for name, t in st.items():
        if any(f".{l}.weight" in name for l in LIN):
            q, scale = ternarize(t)
            tensors[name] = pack(q)
            tensors[name + "_scale"] = np.array([scale], dtype=np.float32)
        else:
            tensors[name] = t.astype(np.float32)
    meta = {k: json.dumps(v) for k, v in cfg.items()}
    meta["format"] = "tern-bitnet-hf"
    meta["weight_scale"] = "mean|W|, multiplies: y = (xq @ Wq^T) * weight_scale / s (transformers AutoBitLinear)"
    os.makedirs(out_dir, exist_ok=True)
    save_file(dict(sorted(tensors.items())), os.path.join(out_dir, "model.safetensors"), metadata=meta)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(dict(cfg, architectures=["BitNetForCausalLM"], model_type="bitnet",
                       hidden_act="relu2", tie_word_embeddings=False, attention_bias=False,
                       quantization_config={"quant_method": "bitnet", "linear_class": "autobitlinear",
                                            "quantization_mode": "offline"},
                       weight_scale_convention="mean|W|, multiply (AutoBitLinear)",
                       tokenizer="bytes (token id = byte value)"), f, indent=1)
        f.write("\n")
    return cfg


def export_float(float_ckpt: str, out_dir: str):
    st = load_file(float_ckpt)
    with safe_open(float_ckpt, "np") as f:
        cfg = json.loads(f.metadata()["config"])
    meta = {k: json.dumps(cfg[k]) for k in CONFIG_KEYS}
    meta["format"] = "tern-float-twin"
    save_file({k: v.astype(np.float32) for k, v in sorted(st.items())},
              os.path.join(out_dir, "float.safetensors"), metadata=meta)


# ----------------------------------------------------------------------------- inference
class Model:
    """Integer-path inference forward reading model.safetensors (packed) - or, with
    quantized=False, a plain float32 checkpoint (float twin)."""

    def __init__(self, path: str, quantized: bool = True, dtype=np.float32):
        self.dt = dtype  # float64 only for the precision check (check_reference.py)
        self.t = load_file(path)
        with safe_open(path, "np") as f:
            meta = f.metadata()
        self.cfg = {k: json.loads(meta[k]) for k in CONFIG_KEYS}
        self.quantized = quantized
        self.lin = {}
        for name in list(self.t):
            if name.endswith(".weight") and any(f".{l}." in name for l in LIN):
                if quantized:
                    self.lin[name] = (unpack(self.t[name]).astype(np.float64),
                                      np.float32(self.t[name + "_scale"][0]))
                else:
                    self.lin[name] = (self.t[name].astype(self.dt), None)
        c = self.cfg
        hd = c["head_dim"]
        inv_freq = (self.dt(1.0) / (self.dt(c["rope_theta"]) **
                    (np.arange(0, hd, 2, dtype=np.int64).astype(self.dt) / self.dt(hd)))).astype(self.dt)
        pos = np.arange(c["max_position_embeddings"], dtype=self.dt)
        freqs = (pos[:, None] * inv_freq[None, :]).astype(self.dt)
        emb = np.concatenate([freqs, freqs], axis=-1)
        self.cos, self.sin = np.cos(emb).astype(self.dt), np.sin(emb).astype(self.dt)
        self.trace = None

    def rmsnorm(self, x, w):
        ms = np.mean(x * x, axis=-1, keepdims=True, dtype=self.dt)
        return (x * (self.dt(1.0) / np.sqrt(ms + self.dt(self.cfg["rms_norm_eps"])))) * w

    def bitlinear(self, x, name):
        w, ws = self.lin[name]
        if not self.quantized:
            return (x @ w.T).astype(self.dt)
        amax = np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), self.dt(1e-5))
        s = (self.dt(127.0) / amax).astype(self.dt)
        xq = np.clip(np.rint(x * s), -128, 127)
        acc = xq.astype(np.float64) @ w.T  # exact: integers, |acc| <= 128 * in_features
        y = ((acc * np.float64(ws)) / s.astype(np.float64)).astype(self.dt)
        if self.trace is not None and name not in self.trace:
            self.trace[name] = dict(s=s[..., -1, 0], xq=xq[..., -1, :], acc=acc[..., -1, :], y=y[..., -1, :])
        return y

    def forward(self, tokens: np.ndarray) -> np.ndarray:
        """tokens [B, T] -> float32 logits [B, T, vocab]."""
        c, t = self.cfg, self.t
        B, T = tokens.shape
        H, KV, hd = c["num_attention_heads"], c["num_key_value_heads"], c["head_dim"]
        x = t["model.embed_tokens.weight"][tokens].astype(self.dt)
        cos, sin = self.cos[:T], self.sin[:T]
        mask = np.triu(np.full((T, T), -np.inf, dtype=self.dt), k=1)
        scale = self.dt(1.0 / np.sqrt(hd))

        def rope(v):
            h = hd // 2
            rot = np.concatenate([-v[..., h:], v[..., :h]], axis=-1)
            return (v * cos + rot * sin).astype(self.dt)

        for i in range(c["num_hidden_layers"]):
            p = f"model.layers.{i}."
            a = self.rmsnorm(x, t[p + "input_layernorm.weight"])
            q = self.bitlinear(a, p + "self_attn.q_proj.weight").reshape(B, T, H, hd).transpose(0, 2, 1, 3)
            k = self.bitlinear(a, p + "self_attn.k_proj.weight").reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
            v = self.bitlinear(a, p + "self_attn.v_proj.weight").reshape(B, T, KV, hd).transpose(0, 2, 1, 3)
            q, k = rope(q), rope(k)
            k = np.repeat(k, H // KV, axis=1)  # query head j uses KV head j // (H/KV)
            v = np.repeat(v, H // KV, axis=1)
            sc = (q @ k.transpose(0, 1, 3, 2)) * scale + mask
            sc = sc - sc.max(axis=-1, keepdims=True)
            e = np.exp(sc)
            pr = e / e.sum(axis=-1, keepdims=True)
            o = (pr @ v).transpose(0, 2, 1, 3).reshape(B, T, H * hd).astype(self.dt)
            o = self.rmsnorm(o, t[p + "self_attn.attn_sub_norm.weight"])
            x = x + self.bitlinear(o, p + "self_attn.o_proj.weight")
            h = self.rmsnorm(x, t[p + "post_attention_layernorm.weight"])
            g = self.bitlinear(h, p + "mlp.gate_proj.weight")
            u = self.bitlinear(h, p + "mlp.up_proj.weight")
            z = np.square(np.maximum(g, self.dt(0))) * u
            z = self.rmsnorm(z, t[p + "mlp.ffn_sub_norm.weight"])
            x = x + self.bitlinear(z, p + "mlp.down_proj.weight")
        x = self.rmsnorm(x, t["model.norm.weight"])
        return (x @ t["lm_head.weight"].T).astype(self.dt)


def nll(logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    l64 = logits.astype(np.float64)
    m = l64.max(axis=-1, keepdims=True)
    lse = m[..., 0] + np.log(np.exp(l64 - m).sum(axis=-1))
    return lse - np.take_along_axis(l64, targets[..., None], axis=-1)[..., 0]


def val_loss(model: Model, data: bytes, ctx: int = CTX_EVAL, batch: int = 32) -> tuple[float, int]:
    arr = np.frombuffer(data, dtype=np.uint8).astype(np.int64)
    wins = [arr[i:i + ctx] for i in range(0, len(arr), ctx)]
    wins = [w for w in wins if len(w) >= 2]
    full = [w for w in wins if len(w) == ctx]
    rest = [w for w in wins if len(w) != ctx]
    tot, n = 0.0, 0
    for g in [full[i:i + batch] for i in range(0, len(full), batch)] + [[w] for w in rest]:
        xb = np.stack(g)
        lg = model.forward(xb[:, :-1])
        tot += float(nll(lg, xb[:, 1:]).sum())
        n += xb[:, 1:].size
    return tot / n, n


def greedy(model: Model, prompt: bytes, n: int):
    toks = list(prompt)
    logits_at = {}
    for _ in range(n):
        lg = model.forward(np.array([toks], dtype=np.int64))[0, -1]
        logits_at[len(toks) - 1] = lg
        toks.append(int(np.argmax(lg)))  # ties -> lowest token id
    return toks, logits_at


def f32list(a) -> list:
    return [float(np.float32(v)) for v in np.asarray(a).ravel()]


def reference(model_path: str, val_path: str, out_path: str, extra: dict | None = None):
    m = Model(model_path)
    prompt = PROMPT.encode("ascii")
    toks, logits_at = greedy(m, prompt, N_GEN)
    gen = toks[len(prompt):]
    P = len(prompt)
    # a trace of layer 0 q_proj at the last prompt position, for bit-exact checks of the integer path
    m.trace = {}
    m.forward(np.array([list(prompt)], dtype=np.int64))
    tr = m.trace["model.layers.0.self_attn.q_proj.weight"]
    tr_down = m.trace["model.layers.0.mlp.down_proj.weight"]
    m.trace = None
    with open(val_path, "rb") as f:
        val = f.read()
    sub_loss, sub_n = val_loss(m, val[:SUBSET_BYTES])
    full_loss, full_n = val_loss(m, val)
    ref = {
        "model": "models/tiny-shakespeare/model.safetensors",
        "config": m.cfg,
        "tokenizer": "bytes: token id = byte value (vocab 256)",
        "prompt": PROMPT,
        "prompt_tokens": list(prompt),
        "greedy": "argmax of the float32 logits at the last position, ties to the lowest id; no sampling",
        "generated_tokens": gen,
        "generated_text": bytes(gen).decode("latin-1"),
        "logits_note": (f"logits[p] = float32 logits (256) computed at absolute position p of the sequence "
                        f"prompt + generated (full causal forward, positions from 0); position {P - 1} is "
                        f"the last prompt byte (predicts generated_tokens[0]); positions {P}..{P + N_LOGIT_GEN - 1} "
                        f"hold generated_tokens[0..{N_LOGIT_GEN - 1}] (predict generated_tokens[1..{N_LOGIT_GEN}])"),
        "logits_last_prompt": f32list(logits_at[P - 1]),
        "logits_generated": {str(p): f32list(logits_at[p]) for p in range(P, P + N_LOGIT_GEN)},
        "val_loss_nats_per_byte": full_loss,
        "val_loss_predictions": full_n,
        "val_loss_protocol": FULL_PROTOCOL,
        "val_subset_loss_nats_per_byte": sub_loss,
        "val_subset_predictions": sub_n,
        "val_subset_protocol": SUBSET_PROTOCOL,
        "arithmetic": ("BitLinear: amax=max|x| (f32, clamp >= 1e-5); s=f32(127)/amax (f32); "
                       "xq=clamp(round_half_to_even(x*s in f32), -128, 127); acc=exact integer sum xq*w; "
                       "y=f32((f64(acc)*f64(weight_scale))/f64(s)). RMSNorm x*(1/sqrt(mean(x^2)+eps))*w, "
                       "RoPE rotate_half, softmax attention, relu^2, lm_head all float32 (numpy)."),
        "trace_layer0_last_prompt_position": {
            "q_proj": {"s": float(tr["s"][0]), "xq": [int(v) for v in tr["xq"][0]],
                       "acc": [int(v) for v in tr["acc"][0]], "y": f32list(tr["y"][0])},
            "down_proj": {"s": float(tr_down["s"][0]), "acc": [int(v) for v in tr_down["acc"][0]],
                          "y": f32list(tr_down["y"][0])},
        },
    }
    if extra:
        ref.update(extra)
    with open(out_path, "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")
    return ref


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--bitnet", required=True, help="bitnet_best.safetensors from train.py")
    ap.add_argument("--float", help="float_best.safetensors from train.py")
    ap.add_argument("--out", default=os.path.join(here, "tiny-shakespeare"))
    ap.add_argument("--val", default=os.path.join(here, "data", "val.txt"))
    ap.add_argument("--float-val", action="store_true", help="also evaluate the float twin on val.txt")
    args = ap.parse_args()
    export(args.bitnet, args.out)
    extra = {}
    if args.float:
        export_float(args.float, args.out)
        if args.float_val:
            fm = Model(os.path.join(args.out, "float.safetensors"), quantized=False)
            with open(args.val, "rb") as f:
                val = f.read()
            extra["float_twin_val_loss_nats_per_byte"] = val_loss(fm, val)[0]
            extra["float_twin_val_subset_loss_nats_per_byte"] = val_loss(fm, val[:SUBSET_BYTES])[0]
    ref = reference(os.path.join(args.out, "model.safetensors"), args.val,
                    os.path.join(args.out, "reference.json"), extra)
    print(json.dumps({k: ref[k] for k in ("generated_text", "val_loss_nats_per_byte",
                                          "val_subset_loss_nats_per_byte")} | extra))


if __name__ == "__main__":
    main()
