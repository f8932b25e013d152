#!/usr/bin/env python3
"""Write the fine-tuned ternary SmolLM2 as a GGUF: the base file's metadata, tokenizer and Q8_0
token embedding, unchanged, with the fine-tune's norms (F32) and its seven projections per layer
as Q8_0 blocks holding only -127, 0 and +127 with the tensor's one scale in every block (so
`tern` imports them exactly, as `ternary in file`, and llama.cpp reads the same weights).

    python3 models/assemble_smollm2_gguf.py BASE.gguf DELTA_DIR OUT.gguf
    python3 models/assemble_smollm2_gguf.py BASE.gguf --absmean OUT.gguf   # pipeline check

DELTA_DIR holds models/finetune_smollm2.py's ternary_*.safetensors. `--absmean` ternarizes the
base's own weights instead (absmean per tensor), which `tern ptq --quantizer absmean` also does:
the two must score alike, a check of the packing and the Q/K row order end to end.
Needs numpy and gguf (gguf-py); safetensors files are read directly.
"""
from __future__ import annotations

import sys

import numpy as np
import gguf

from smollm2_format import NORMS, PROJS, permute_rope_rows, q8_0_d, read_export, unpack_codes


def q8_0_ternary(codes: np.ndarray, scale: float) -> np.ndarray:
    """Q8_0 blocks holding codes * 127 with every block's d = f16(scale / 127): exactly ternary,
    one scale (127 d) for the tensor. TQ2_0 would be 2 bits, but its 256-element blocks do not
    tile SmolLM2's rows of 576."""
    rows, cols = codes.shape
    d = q8_0_d(scale)
    blocks = np.zeros((rows * cols // 32, 34), dtype=np.uint8)
    blocks[:, 0:2] = np.frombuffer(d.tobytes(), dtype=np.uint8)
    blocks[:, 2:] = (codes.reshape(-1, 32).astype(np.int8) * 127).view(np.uint8)
    out = blocks.reshape(rows, cols // 32 * 34)
    back = gguf.quants.dequantize(out, gguf.GGMLQuantizationType.Q8_0)
    if not np.array_equal(back, codes.astype(np.float32) * (np.float32(127) * np.float32(d))):
        raise SystemExit("Q8_0 packing does not round-trip")
    return out


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    base, delta, out = sys.argv[1:]
    r = gguf.GGUFReader(base)
    arch = r.fields["general.architecture"].contents()
    heads = int(r.fields[f"{arch}.attention.head_count"].contents())
    kv = int(r.fields[f"{arch}.attention.head_count_kv"].contents())
    d = read_export(delta) if delta != "--absmean" else {}

    w = gguf.GGUFWriter(out, arch)
    for f in r.fields.values():
        if f.name.startswith("GGUF.") or f.name in ("general.architecture", "general.finetune"):
            continue
        sub = f.types[-1] if f.types[0] == gguf.GGUFValueType.ARRAY else None
        w.add_key_value(f.name, f.contents(), f.types[0], sub_type=sub)
    w.add_key_value("general.finetune", "tern-qat-ternary" if delta != "--absmean" else "tern-absmean-ptq",
                    gguf.GGUFValueType.STRING)
    used = set()
    for t in r.tensors:
        parts = t.name.split(".")
        if t.name.startswith("blk.") and parts[2] in PROJS:
            i = int(parts[1])
            rows_heads = {"attn_q": heads, "attn_k": kv}.get(parts[2])
            if delta == "--absmean":
                wf = gguf.quants.dequantize(t.data, t.tensor_type)
                scale = float(np.float32(np.abs(wf).mean()))
                codes = np.clip(np.round(wf / scale), -1, 1).astype(np.int8)
            else:
                key = f"model.layers.{i}.{PROJS[parts[2]]}"
                codes = unpack_codes(d[f"{key}.codes"])
                scale = float(d[f"{key}.scale"][0])
                used.update({f"{key}.codes", f"{key}.scale"})
                if rows_heads:
                    codes = permute_rope_rows(codes, rows_heads)
            w.add_tensor(t.name, q8_0_ternary(codes, scale), raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        elif delta != "--absmean" and (t.name == "output_norm.weight" or
                                       (t.name.startswith("blk.") and parts[2] in NORMS)):
            key = "model.norm.weight" if t.name == "output_norm.weight" else \
                f"model.layers.{parts[1]}.{NORMS[parts[2]]}.weight"
            used.add(key)
            w.add_tensor(t.name, np.ascontiguousarray(d[key], dtype=np.float32))
        else:
            w.add_tensor(t.name, np.asarray(t.data), raw_dtype=t.tensor_type)
    if delta != "--absmean" and used != set(d):
        raise SystemExit(f"tensors in {delta} not used: {sorted(set(d) - used)[:5]}")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
