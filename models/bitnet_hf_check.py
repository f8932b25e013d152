#!/usr/bin/env python3
"""A small random Hugging Face checkpoint in the layout of 1bitLLM's BitNet b1.58
(bitnet_b1_58-large/3B: `BitnetForCausalLM`, `model_type` llama, SiLU, full-precision master
weights that the model ternarizes on the fly, sub-norms named `inner_attn_ln` and
`ffn_layernorm`, LLaMA's SentencePiece `tokenizer.model`), converted by llama.cpp's own
converter and run by llama.cpp: the fixtures of tests/it/bitnet_gguf.rs's Hugging Face test
(tests/fixtures/bitnet-hf).

Two steps:

    PY models/bitnet_hf_check.py --write      # the checkpoint (numpy + safetensors)
    PY_LLAMA models/bitnet_hf_check.py --reference LLAMA_CPP_DIR --convert-python PY_TORCH

where PY_LLAMA has llama-cpp-python 0.3.36 and PY_TORCH runs the converter (torch,
sentencepiece, numpy; its gguf-py comes from LLAMA_CPP_DIR).

The second runs `convert_hf_to_gguf.py` of the llama.cpp tree vendored in llama-cpp-python
0.3.36 (`--outtype f32`, into target/bitnet-hf) on the checkpoint: its `BitnetModel` ternarizes
each projection as 1bitLLM's `weight_quant` does (s = mean|W|, round(W / s) clamped to
[-1, 1], times s) and writes the SentencePiece vocabulary. llama.cpp then tokenizes a prompt
(with its BOS) and gives the logits of every position (F32 KV cache), which
`llama_cpp_logits.json` keeps. tern loads the checkpoint itself, not the GGUF: the two
paths (tern's absmean on the master weights, tern's SentencePiece on tokenizer.model;
llama.cpp's converter and tokenizer) meet at the ids and the logits.

The weights are F32 so that both sides ternarize the same numbers (a F16 checkpoint would
have the converter round s to F16). The head is tied: llama.cpp's `bitnet` graph reads it
from token_embd and the converter has no place for an `lm_head`.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "bitnet-hf")
WORK = os.path.join(ROOT, "target", "bitnet-hf")
SPM = os.path.join(ROOT, "tests", "fixtures", "spm", "tokenizer.model")
PROMPT = "ROMEO: What light through yonder window breaks?"
CFG = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
           vocab_size=1000, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0)


def write():
    from safetensors.numpy import save_file

    rng = np.random.default_rng(17)
    c = CFG
    d, f, hd = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
    kvd = c["num_key_value_heads"] * hd
    t = {"model.embed_tokens.weight": rng.normal(0, 1, (c["vocab_size"], d)), "model.norm.weight": rng.uniform(0.8, 1.2, d)}
    shapes = {"self_attn.q_proj": (d, d), "self_attn.k_proj": (kvd, d), "self_attn.v_proj": (kvd, d),
              "self_attn.o_proj": (d, d), "mlp.gate_proj": (f, d), "mlp.up_proj": (f, d), "mlp.down_proj": (d, f)}
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        for n, (o, inp) in shapes.items():
            # master weights; x4 so that the layers, not the tied embedding, decide the logits
            t[p + n + ".weight"] = rng.normal(0, 4.0 / np.sqrt(inp), (o, inp))
        t[p + "input_layernorm.weight"] = rng.uniform(0.8, 1.2, d)
        t[p + "post_attention_layernorm.weight"] = rng.uniform(0.8, 1.2, d)
        t[p + "self_attn.inner_attn_ln.weight"] = rng.uniform(0.8, 1.2, d)
        t[p + "mlp.ffn_layernorm.weight"] = rng.uniform(0.8, 1.2, f)
    os.makedirs(OUT, exist_ok=True)
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in t.items()}, os.path.join(OUT, "model.safetensors"))
    config = {"architectures": ["BitnetForCausalLM"], "model_type": "llama", "hidden_act": "silu",
              "tie_word_embeddings": True, "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32", **c}
    with open(os.path.join(OUT, "config.json"), "w") as fh:
        json.dump(config, fh, indent=2)
    with open(os.path.join(OUT, "tokenizer_config.json"), "w") as fh:
        json.dump({"add_bos_token": True, "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, fh, indent=2)
    shutil.copy(SPM, os.path.join(OUT, "tokenizer.model"))
    print(f"wrote {OUT}")


def reference(llama_cpp_dir, python):
    import llama_cpp

    os.makedirs(WORK, exist_ok=True)
    gguf_path = os.path.join(WORK, "model.gguf")
    env = dict(os.environ, PYTHONPATH=os.path.join(llama_cpp_dir, "gguf-py"))
    r = subprocess.run([python, os.path.join(llama_cpp_dir, "convert_hf_to_gguf.py"), OUT, "--outtype", "f32",
                        "--outfile", gguf_path], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"convert_hf_to_gguf.py failed:\n{r.stderr[-3000:]}")
    llm = llama_cpp.Llama(gguf_path, n_ctx=64, logits_all=True, verbose=False, n_threads=2, n_batch=64,
                          type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    ids = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
    llm.eval(ids)
    scores = np.array(llm.scores[: len(ids)], dtype=np.float32)
    out = {"llama_cpp_python": llama_cpp.__version__, "prompt": PROMPT, "ids": ids,
           "logits": [[float(x) for x in row] for row in scores], "argmax": [int(x) for x in scores.argmax(axis=1)]}
    with open(os.path.join(OUT, "llama_cpp_logits.json"), "w") as fh:
        json.dump(out, fh)
    print(f"{PROMPT!r} -> {ids}; logits {scores.shape}, max |logit| {abs(scores).max():.3f}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true")
    ap.add_argument("--reference", metavar="LLAMA_CPP_DIR")
    ap.add_argument("--convert-python", default=sys.executable, help="the Python that runs convert_hf_to_gguf.py")
    a = ap.parse_args()
    if a.write:
        write()
    if a.reference:
        reference(a.reference, a.convert_python)
    if not (a.write or a.reference):
        ap.error("--write and/or --reference")


if __name__ == "__main__":
    main()
