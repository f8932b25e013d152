"""What models/finetune_smollm2.py writes and models/assemble_smollm2_gguf.py reads, defined once
(numpy only): the projections' names, the Q/K row order, the packed codes, the scale the
assembled GGUF keeps, and how an export's files are read. tern's Rust import holds the same GGUF names and row order
(host/src/model/import.rs: `gguf_name`, `unpermute_rope_rows`).
"""
import glob
import json
import os
import struct

import numpy as np

# GGUF tensor name -> Hugging Face module path, in tern's `Proj::ALL` order
PROJS = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
         "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
         "ffn_down": "mlp.down_proj"}
NORMS = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm"}


def unpermute_rope_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's pairwise row order -> rotate-half order (file row h*hd+2i+j -> h*hd+j*hd/2+i)."""
    rows, cols = w.shape
    hd = rows // heads
    return w.reshape(heads, hd // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def permute_rope_rows(w: np.ndarray, heads: int) -> np.ndarray:
    """rotate-half row order -> llama.cpp's pairwise order (inverse of `unpermute_rope_rows`)."""
    rows, cols = w.shape
    hd = rows // heads
    return w.reshape(heads, 2, hd // 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def pack_codes(codes: np.ndarray) -> np.ndarray:
    """int8 codes [out, in] -> uint8 [out, in/4], code+1 in bits 2k..2k+1 of column 4j+k."""
    u = (codes.astype(np.int16) + 1).astype(np.uint8)
    return np.ascontiguousarray(u[:, 0::4] | (u[:, 1::4] << 2) | (u[:, 2::4] << 4) | (u[:, 3::4] << 6))


def unpack_codes(packed: np.ndarray) -> np.ndarray:
    """Inverse of `pack_codes`."""
    q = np.stack([(packed >> (2 * k)) & 3 for k in range(4)], axis=-1)
    return q.reshape(packed.shape[0], -1).astype(np.int8) - 1


def q8_0_d(scale: float) -> np.float16:
    """The d of every Q8_0 block of a ternary projection (its values are 127 d times the codes)."""
    return np.float16(np.float32(scale) / np.float32(127))


def exported_scale(scale: float) -> float:
    """The scale tern reads from the assembled GGUF: 127 d, in f32."""
    return float(np.float32(127) * np.float32(q8_0_d(scale)))


def read_safetensors(path: str) -> dict:
    """A safetensors file's U8, F32 and BF16 tensors as numpy arrays (BF16 as its uint16 bit
    patterns; no safetensors package needed)."""
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    head = json.loads(raw[8:8 + n])
    out = {}
    for k, v in head.items():
        if k == "__metadata__":
            continue
        dt = {"U8": np.uint8, "F32": np.float32, "BF16": np.uint16}[v["dtype"]]
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(raw[8 + n + a:8 + n + b], dtype=dt).reshape(v["shape"])
    return out


def read_export(export_dir: str) -> dict:
    """Every tensor of a fine-tune's export (its ternary_*.safetensors), by name."""
    t = {}
    for p in sorted(glob.glob(os.path.join(export_dir, "ternary_*.safetensors"))):
        t.update(read_safetensors(p))
    if not t:
        raise SystemExit(f"no ternary_*.safetensors in {export_dir}")
    return t
