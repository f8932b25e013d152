#!/usr/bin/env python3
"""A tiny random checkpoint in the layout of microsoft/bitnet-b1.58-2B-4T, and the logits that
transformers' own `BitNetForCausalLM` computes for it: the fixtures of tern's HF BitNet loader test.

    python3 models/hf_bitnet_check.py            # writes tests/fixtures/hf-bitnet/
    python3 models/hf_bitnet_check.py --out DIR  # elsewhere (e.g. to check reproducibility)

Needs torch, transformers (>= 5, with accelerate: transformers' BitNet quantizer requires it),
numpy and safetensors; CPU only, no network (the checkpoint is read from the local folder).
Everything random comes from numpy's PCG64 with fixed seeds, so a rerun writes byte-identical
files (the weights do not depend on torch; the logits depend on the installed torch/transformers,
whose versions the JSON records).

What transformers (5.25.0) does with such a checkpoint (file:line in site-packages/transformers):
  * config `quantization_config` {"quant_method": "bitnet", "linear_class": "autobitlinear",
    "quantization_mode": "offline"} selects BitNetHfQuantizer, which swaps every nn.Linear except
    the output embedding / tied keys / last parameter (quantizers/base.py:39-63, so lm_head stays a
    plain float Linear, tied to model.embed_tokens.weight: modeling_bitnet.py:407) for
    AutoBitLinear(online_quant=False) (integrations/bitnet.py:306-318).
  * AutoBitLinear is an nn.Linear whose float `weight` [out, in] is filled at load time by
    BitNetDeserialize (integrations/bitnet.py:343-360; quantizer_bitnet.py:108-114): a stored U8
    `weight` of shape [out/4, in] is unpacked by unpack_weights (integrations/bitnet.py:105-122):
    with R = out/4, bits 2i+1:2i of packed[r, c] hold W[i*R + r, c] + 1 (codes 0/1/2 = -1/0/+1).
    It has a buffer `weight_scale` of shape [1] in the model dtype (integrations/bitnet.py:266-267).
  * AutoBitLinear.forward (integrations/bitnet.py:269-282): y = F.linear(ActQuant(x), W) * weight_scale
    (the scale MULTIPLIES; the older `BitLinear` class divides, integrations/bitnet.py:181-183).
  * ActQuant (integrations/bitnet.py:231-238), per token (last dim), in float32:
    s = 127 / max(|x|).clamp(min=1e-5); x' = (x * s).round().clamp(-128, 127) / s   (torch.round:
    ties to even). A fake quantization: x' is float, the matmul is a float matmul.
  * BitNetAttention (modeling_bitnet.py:152-219): head_dim = hidden/heads when the config has no
    head_dim (line 159), GQA by repeat_kv (head j uses KV head j // (H/KV), line 114-123), scores
    * head_dim^-0.5, causal softmax in float32, then attn_sub_norm (RMSNorm over hidden, line 217)
    before o_proj.
  * RoPE: rotate_half, the two halves of each head (not interleaved pairs) (lines 81-111);
    inv_freq = 1 / theta^(arange(0, hd, 2)/hd) in float32 (line 299); config rope_theta moves into
    rope_parameters (modeling_rope_utils.py:828-837).
  * MLP (lines 64-78): down(ffn_sub_norm(relu2(gate(x)) * up(x))), relu2 = relu(x)^2
    (activations.py:206-214).
  * RMSNorm (lines 53-58): w * (x * rsqrt(mean(x^2) + eps)).
  * Decoder layer (lines 244-263): pre-norm residual (input_layernorm, post_attention_layernorm);
    final model.norm; logits = lm_head(norm(x)) with lm_head = embed_tokens (tied).

  * Loading quirk (5.25): the deserializer is attached to every `*.weight` key (quantizers/base.py:341,
    quantizer_bitnet.py:106) and such tensors skip the dtype cast (quantizers/base.py:142-146), so with
    dtype=float32 embed_tokens and the RMSNorm weights stay BF16 (weight_scale is cast to float32) and
    the forward fails ("expected m1 and m2 to have the same dtype"). The script widens them with
    model.to(torch.float32), which is exact.

Weights: ternary codes uniform over {-1, 0, +1}; weight_scale uniform in [0.5, 2] per tensor except
q_proj/k_proj in [0.1, 0.25] (keeps the attention softmax soft); RMSNorm weights 1 + 0.1 N(0, 1);
embeddings N(0, 1); all floats rounded to BF16 (nearest even) before they are written.

Fixture files (tests/fixtures/hf-bitnet/):
  config.json          the 2B4T config keys, small dims (hidden 128, ffn 352, 2 layers, 4 heads,
                       1 KV head, vocab 512), no head_dim key.
  model.safetensors    U8 packed `*.weight` + BF16 `*.weight_scale` [1] for the 7 projections of
                       each layer; BF16 embed_tokens, RMSNorm weights; no lm_head (tied).
  transformers_logits.json
                       tokens, logits [12][512] of transformers (int8 activations, the real
                       forward), argmax per position, logits_float_activations (ActQuant replaced
                       by the identity), versions, max |diff| of the numpy check below.

The numpy check (`numpy_forward`) re-implements the forward from the safetensors file alone with
the integer formulation a ternary kernel uses: xq = clamp(rint(x * s)), acc = xq . w (exact),
y = acc * weight_scale / s. It differs from transformers' (xq / s) . w * weight_scale only by
float rounding.

Logit values are written as the shortest decimal that reads back (as float32) to the exact float32
transformers returned (numpy's float32 repr); the script checks that float(str) -> float32 gives
the identical bits for every value.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np

# the HF packed layout, as the shipped model's export writes and reads it
from export import pack, unpack
# the numpy safetensors reader the SmolLM2 scripts share (BF16 read as its bit patterns)
from smollm2_format import read_safetensors

# The seed is chosen so that no activation of the forward lies within TIE_MARGIN of a rounding tie
# (x * s = k + 0.5): implementations that differ from torch in the last bits of float32 (sum order
# of RMSNorm, x * (127 / amax) vs ...) then quantize every activation identically. (8 of the 60
# seeds 20250417..20250476 hit an exact tie, e.g. 20250417; there rounding ties away from zero
# instead of to even moves the logits by up to 1.3.)
SEED = 20250458
TIE_MARGIN = 1e-4
HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "tests", "fixtures", "hf-bitnet")

CONFIG = {
    "architectures": ["BitNetForCausalLM"],
    "attention_bias": False,
    "attention_dropout": 0.0,
    "bos_token_id": 0,
    "eos_token_id": 1,
    "hidden_act": "relu2",
    "hidden_size": 128,
    "initializer_range": 0.02,
    "intermediate_size": 352,
    "max_position_embeddings": 4096,
    "model_type": "bitnet",
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "num_key_value_heads": 1,
    "quantization_config": {
        "linear_class": "autobitlinear",
        "quant_method": "bitnet",
        "quantization_mode": "offline",
    },
    "rms_norm_eps": 1e-05,
    "rope_theta": 500000.0,
    "tie_word_embeddings": True,
    "torch_dtype": "bfloat16",
    "use_cache": True,
    "vocab_size": 512,
}
PROJ = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
        "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")
N_TOKENS = 12


# ----------------------------------------------------------------------------- bf16, packing
def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bf16 bit patterns (uint16), round to nearest even (finite inputs)."""
    u = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return r.astype(np.uint16)


def bf16_bits_to_f32(b: np.ndarray) -> np.ndarray:
    return (b.astype(np.uint32) << np.uint32(16)).view(np.float32)


# ----------------------------------------------------------------------------- the checkpoint
def proj_shape(name: str, c: dict) -> tuple[int, int]:
    d, f = c["hidden_size"], c["intermediate_size"]
    hd = d // c["num_attention_heads"]
    kv = c["num_key_value_heads"] * hd
    return {"self_attn.q_proj": (d, d), "self_attn.k_proj": (kv, d), "self_attn.v_proj": (kv, d),
            "self_attn.o_proj": (d, d), "mlp.gate_proj": (f, d), "mlp.up_proj": (f, d),
            "mlp.down_proj": (d, f)}[name]


def make_weights(c: dict) -> tuple[dict, dict, dict]:
    """Returns (codes {name: int8 [out, in]}, bf16 bits {name: uint16 array}, f32 values of those)."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    d, f, v = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    codes, bf = {}, {}
    bf["model.embed_tokens.weight"] = to_bf16_bits(rng.standard_normal((v, d), dtype=np.float32))
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        for n, dim in (("input_layernorm", d), ("post_attention_layernorm", d),
                       ("self_attn.attn_sub_norm", d), ("mlp.ffn_sub_norm", f)):
            w = np.float32(1) + np.float32(0.1) * rng.standard_normal(dim, dtype=np.float32)
            bf[p + n + ".weight"] = to_bf16_bits(w)
        for n in PROJ:
            codes[p + n + ".weight"] = rng.integers(-1, 2, size=proj_shape(n, c)).astype(np.int8)
            # q/k get smaller scales so that the attention scores (std ~ 85 * s_q * s_k here)
            # stay soft instead of one-hot; the other projections get 0.5..2.
            lo, hi = (0.1, 0.25) if n in ("self_attn.q_proj", "self_attn.k_proj") else (0.5, 2.0)
            bf[p + n + ".weight_scale"] = to_bf16_bits(np.array([rng.uniform(lo, hi)], dtype=np.float32))
    bf["model.norm.weight"] = to_bf16_bits(
        np.float32(1) + np.float32(0.1) * rng.standard_normal(d, dtype=np.float32))
    return codes, bf, {k: bf16_bits_to_f32(b) for k, b in bf.items()}


def make_tokens(c: dict) -> list[int]:
    rng = np.random.Generator(np.random.PCG64(SEED + 1))
    return [c["bos_token_id"]] + [int(t) for t in rng.integers(2, c["vocab_size"], N_TOKENS - 1)]


def write_checkpoint(out: str, c: dict, codes: dict, bf: dict) -> list[tuple[str, str, list]]:
    import torch
    from safetensors.torch import save_file

    tensors = {}
    for k, q in codes.items():
        tensors[k] = torch.from_numpy(pack(q))
    for k, b in bf.items():
        tensors[k] = torch.from_numpy(b.view(np.int16).copy()).view(torch.bfloat16)
    tensors = dict(sorted(tensors.items()))
    os.makedirs(out, exist_ok=True)
    save_file(tensors, os.path.join(out, "model.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(c, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return [(k, str(t.dtype).replace("torch.", ""), list(t.shape)) for k, t in tensors.items()]


# ----------------------------------------------------------------------------- transformers
def transformers_logits(out: str, c: dict, codes: dict, f32: dict, tokens: list[int]):
    import torch
    import transformers
    from transformers import BitNetForCausalLM
    from transformers.integrations import bitnet as hf_bitnet

    torch.manual_seed(0)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)

    model, info = BitNetForCausalLM.from_pretrained(out, dtype=torch.float32, output_loading_info=True)
    model.eval()
    for key in ("missing_keys", "unexpected_keys", "mismatched_keys", "error_msgs"):
        assert not info.get(key), f"{key}: {info.get(key)}"
    # transformers 5.25 quirk: the bitnet deserializer is attached to every `*.weight` key
    # (quantizers/base.py:341 with serialized_names {"weight": ["weight"]}), and tensors with such an
    # op skip the dtype cast (quantizers/base.py:142-146); BitNetDeserialize returns the non-BitLinear
    # ones unchanged (integrations/bitnet.py:358-360). So embed_tokens and the RMSNorm weights stay
    # BF16 despite dtype=float32, and the forward then fails ("expected m1 and m2 to have the same
    # dtype"). Widening them to float32 is exact and gives the float32 model the call asked for.
    kept_bf16 = sorted(n for n, t in model.state_dict().items() if t.dtype == torch.bfloat16)
    model.to(torch.float32)
    sd = model.state_dict()
    for name, t in sd.items():
        assert t.device.type == "cpu" and t.dtype in (torch.float32, torch.int64), (name, t.dtype, t.device)

    # The projections are offline AutoBitLinear holding exactly our ternary codes and scales.
    n_lin = 0
    for name, mod in model.named_modules():
        if isinstance(mod, torch.nn.Linear) and name != "lm_head":
            assert isinstance(mod, hf_bitnet.AutoBitLinear) and not mod.online_quant, (name, type(mod))
            w = mod.weight.detach().numpy()
            assert np.array_equal(w, codes[name + ".weight"].astype(np.float32)), name
            assert mod.weight_scale.detach().numpy().tolist() == f32[name + ".weight_scale"].tolist(), name
            n_lin += 1
    assert n_lin == 7 * c["num_hidden_layers"], n_lin
    assert type(model.lm_head) is torch.nn.Linear, type(model.lm_head)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr(), "lm_head not tied"
    for k, v in f32.items():
        if not k.endswith("weight_scale"):
            assert np.array_equal(sd[k].numpy(), v), k
    assert model.config.rope_parameters["rope_theta"] == 500000.0, model.config.rope_parameters
    assert model.model.layers[0].self_attn.head_dim == 32

    ids = torch.tensor([tokens], dtype=torch.long)
    with torch.no_grad():
        logits = model(ids).logits[0].float().numpy().copy()
        real_actquant = hf_bitnet.ActQuant

        class _Identity:
            @staticmethod
            def apply(x):
                return x

        hf_bitnet.ActQuant = _Identity  # AutoBitLinear.forward looks the name up at call time
        try:
            logits_float = model(ids).logits[0].float().numpy().copy()
        finally:
            hf_bitnet.ActQuant = real_actquant
        again = model(ids).logits[0].float().numpy()
    assert np.array_equal(again, logits), "forward not deterministic"
    assert not np.array_equal(logits, logits_float), "ActQuant patch had no effect"
    return logits, logits_float, {
        "transformers": transformers.__version__, "torch": torch.__version__,
        "attn_implementation": model.config._attn_implementation, "kept_bf16": kept_bf16}


# ----------------------------------------------------------------------------- numpy check
def numpy_forward(out: str, tokens: list[int], quant_act: bool = True, margins: list | None = None) -> np.ndarray:
    """Independent float32 forward from config.json + model.safetensors (numpy only). With `margins`,
    appends for each activation quantization the smallest distance of x * s to a rounding tie (k + 0.5)."""
    with open(os.path.join(out, "config.json")) as fh:
        c = json.load(fh)
    t = {k: a if a.dtype == np.uint8 else bf16_bits_to_f32(a)
         for k, a in read_safetensors(os.path.join(out, "model.safetensors")).items()}
    f32 = np.float32
    d, H, KV = c["hidden_size"], c["num_attention_heads"], c["num_key_value_heads"]
    hd, eps, T = d // H, f32(c["rms_norm_eps"]), len(tokens)

    def rmsnorm(x, w):
        ms = np.mean(x * x, axis=-1, keepdims=True, dtype=f32)
        return (x * (f32(1) / np.sqrt(ms + eps))) * w

    def lin(x, name):
        w = unpack(t[name + ".weight"]).astype(np.float64)
        ws = np.float64(t[name + ".weight_scale"][0])
        if not quant_act:
            return ((x.astype(np.float64) @ w.T) * ws).astype(f32)
        amax = np.maximum(np.max(np.abs(x), axis=-1, keepdims=True), f32(1e-5))
        s = (f32(127) / amax).astype(f32)
        xs = x * s
        if margins is not None:
            margins.append(float(np.min(np.abs(xs - np.floor(xs) - f32(0.5)))))
        xq = np.clip(np.rint(xs), -128, 127)              # rint: ties to even, like torch.round
        acc = xq.astype(np.float64) @ w.T                  # exact integers
        return ((acc * ws) / s.astype(np.float64)).astype(f32)

    inv_freq = (f32(1) / (f32(c["rope_theta"]) ** (np.arange(0, hd, 2).astype(f32) / f32(hd)))).astype(f32)
    freqs = np.arange(T, dtype=f32)[:, None] * inv_freq[None, :]
    emb = np.concatenate([freqs, freqs], axis=-1)
    cos, sin = np.cos(emb).astype(f32), np.sin(emb).astype(f32)

    def rope(v):  # v [heads, T, hd], rotate_half
        rot = np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], axis=-1)
        return (v * cos + rot * sin).astype(f32)

    mask = np.triu(np.full((T, T), -np.inf, dtype=f32), k=1)
    x = t["model.embed_tokens.weight"][np.array(tokens)]
    for l in range(c["num_hidden_layers"]):
        p = f"model.layers.{l}."
        a = rmsnorm(x, t[p + "input_layernorm.weight"])
        q = rope(lin(a, p + "self_attn.q_proj").reshape(T, H, hd).transpose(1, 0, 2))
        k = rope(lin(a, p + "self_attn.k_proj").reshape(T, KV, hd).transpose(1, 0, 2))
        v = lin(a, p + "self_attn.v_proj").reshape(T, KV, hd).transpose(1, 0, 2)
        k, v = np.repeat(k, H // KV, axis=0), np.repeat(v, H // KV, axis=0)
        sc = (q @ k.transpose(0, 2, 1)) * f32(hd ** -0.5) + mask
        e = np.exp(sc - sc.max(axis=-1, keepdims=True))
        o = ((e / e.sum(axis=-1, keepdims=True)) @ v).transpose(1, 0, 2).reshape(T, d).astype(f32)
        x = x + lin(rmsnorm(o, t[p + "self_attn.attn_sub_norm.weight"]), p + "self_attn.o_proj")
        h = rmsnorm(x, t[p + "post_attention_layernorm.weight"])
        z = np.square(np.maximum(lin(h, p + "mlp.gate_proj"), f32(0))) * lin(h, p + "mlp.up_proj")
        x = x + lin(rmsnorm(z, t[p + "mlp.ffn_sub_norm.weight"]), p + "mlp.down_proj")
    x = rmsnorm(x, t["model.norm.weight"])
    return (x @ t["model.embed_tokens.weight"].T).astype(f32)  # tied lm_head


# ----------------------------------------------------------------------------- output
def f32_str(v) -> str:
    s = str(np.float32(v))
    assert np.float32(float(s)).tobytes() == np.float32(v).tobytes(), (s, v)
    return s


def logits_json(rows: np.ndarray) -> str:
    return "[\n" + ",\n".join("  [" + ", ".join(f32_str(x) for x in r) + "]" for r in rows) + "\n ]"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    c = dict(CONFIG)

    codes, bf, f32 = make_weights(c)
    tokens = make_tokens(c)
    listing = write_checkpoint(out, c, codes, bf)
    zeros = sum(int((q == 0).sum()) for q in codes.values()) / sum(q.size for q in codes.values())

    logits, logits_float, versions = transformers_logits(out, c, codes, f32, tokens)
    margins: list[float] = []
    ref = numpy_forward(out, tokens, margins=margins)
    assert min(margins) >= TIE_MARGIN, f"an activation is {min(margins)} from a rounding tie; pick another SEED"
    ref_float = numpy_forward(out, tokens, quant_act=False)
    diff = float(np.max(np.abs(ref.astype(np.float64) - logits)))
    diff_float = float(np.max(np.abs(ref_float.astype(np.float64) - logits_float)))
    argmax = [int(i) for i in logits.argmax(-1)]
    assert np.isfinite(logits).all() and np.isfinite(logits_float).all()
    assert diff <= 1e-2 and diff_float <= 1e-2, (diff, diff_float)

    source = (
        "models/hf_bitnet_check.py: numpy PCG64 seeded random weights (seed %d) written as config.json + "
        "model.safetensors in the microsoft/bitnet-b1.58-2B-4T offline-quantized layout (U8 packed ternary "
        "+ BF16 weight_scale, BF16 embeddings/norms, tied lm_head); logits from "
        "transformers.BitNetForCausalLM.from_pretrained(dir, dtype=float32) on CPU (then model.to(float32), see note), one forward over "
        "`tokens` (batch 1, no cache, 1 thread); logits_float_activations: the same with "
        "transformers.integrations.bitnet.ActQuant replaced by the identity. Values: shortest decimal "
        "that reads back to the exact float32." % SEED)
    head = {
        "source": source,
        "transformers": versions["transformers"],
        "torch": versions["torch"],
        "attn_implementation": versions["attn_implementation"],
        "note": ("transformers 5.25 loads embed_tokens and the RMSNorm weights as BF16 despite dtype=float32 "
                 "(the bitnet deserializer matches every *.weight key and those skip the dtype cast); the "
                 "script widens them to float32 (exact) with model.to(torch.float32) before the forward"
                 if versions["kept_bf16"] else ""),
        "tokens": tokens,
        "argmax": argmax,
        "argmax_float_activations": [int(i) for i in logits_float.argmax(-1)],
        "numpy_check_max_abs_diff": float(np.float32(diff)),
        "numpy_check_max_abs_diff_float_activations": float(np.float32(diff_float)),
        "min_distance_to_rounding_tie": float(np.float32(min(margins))),
    }
    body = ",\n".join(f' {json.dumps(k)}: {json.dumps(v)}' for k, v in head.items())
    body += ',\n "logits": ' + logits_json(logits)
    body += ',\n "logits_float_activations": ' + logits_json(logits_float)
    path = os.path.join(out, "transformers_logits.json")
    with open(path, "w") as fh:
        fh.write("{\n" + body + "\n}\n")
    with open(path) as fh:  # round trip
        back = json.load(fh)
    assert np.array_equal(np.array(back["logits"], dtype=np.float32), logits)
    assert np.array_equal(np.array(back["logits_float_activations"], dtype=np.float32), logits_float)

    print("tensors:")
    for k, dt, shape in listing:
        print(f"  {k:50s} {dt:9s} {shape}")
    print(f"zero codes: {zeros:.4f}")
    print(f"transformers {versions['transformers']}, torch {versions['torch']}, "
          f"attention {versions['attn_implementation']}")
    print(f"left BF16 by from_pretrained(dtype=float32), widened: {len(versions['kept_bf16'])} tensors")
    print(f"tokens: {tokens}")
    print(f"argmax: {argmax}")
    print(f"logits range [{logits.min():.3f}, {logits.max():.3f}], std {logits.std():.3f}")
    print(f"max |numpy - transformers|: int8 activations {diff:.3g}, float activations {diff_float:.3g}")
    print(f"max |int8 - float activations| (transformers): {np.max(np.abs(logits - logits_float)):.3g}")
    print(f"smallest distance of an activation x*s to a rounding tie: {min(margins):.3g}")
    for fn in ("config.json", "model.safetensors", "transformers_logits.json"):
        p = os.path.join(out, fn)
        print(f"  {fn:26s} {os.path.getsize(p):7d} B  sha256 {hashlib.sha256(open(p, 'rb').read()).hexdigest()}")


if __name__ == "__main__":
    main()
