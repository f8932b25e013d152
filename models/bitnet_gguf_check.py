#!/usr/bin/env python3
"""Small random GGUFs of llama.cpp's `bitnet` architecture (1bitLLM's BitNet b1.58 as
llama.cpp's converter writes it), and llama.cpp's own logits on them: the fixtures of
tests/it/bitnet_gguf.rs (tests/fixtures/bitnet-gguf).

What llama.cpp's `bitnet` is (llama.cpp src/models/bitnet.cpp, conversion/bitnet.py, as
vendored in llama-cpp-python 0.3.36):
- llama with a SiLU gate, `attn_sub_norm` before `attn_output` and `ffn_sub_norm` before
  `ffn_down`; the head is always `token_embd` (no `output.weight` is read);
- RoPE rotates halves (LLAMA_ROPE_TYPE_NEOX) and the converter does not permute Q/K rows;
- the converter stores each projection as floats of -s, 0 and +s (s = mean|W|), which
  llama-quantize may turn into TQ1_0 or TQ2_0 (one f16 scale per 256 weights); an optional
  `blk.N.<proj>.scale` tensor of one element multiplies the projection's output;
- the converter writes `rope.scaling.type = linear` with factor 1 (no scaling).

`f32.gguf` and `tq.gguf` have a 260-token vocabulary (GPT-2's 256 byte characters and four merges, the
`smollm` pre-tokenizer; llama.cpp needs a tokenizer and its merges, the test feeds ids):
- `f32.gguf`: d 64, 4 heads of 16, 2 KV heads, FFN 128, 2 layers, every projection F32 of
  -s/0/+s, layer 1's with `.scale` tensors. llama.cpp multiplies these in f32, so it and tern's
  f32-activation forward agree to summation order.
- `tq.gguf`: d 256, 4 heads of 64, 2 KV heads, FFN 512, 1 layer, Q/K/V/gate/up in TQ2_0 and
  O/down in TQ1_0 (rows of 256: a TQ block), F16 embeddings. llama.cpp's TQ dot products
  round the activations to Q8_K (per 256 values, extreme value to -128), so it differs from
  both of tern's paths by that rounding. The logits step also runs llama.cpp on the same
  weights as F32 (`tq_as_f32`, written to target/bitnet-gguf-twin by the first step), which
  isolates that rounding from the file's decoding.
- `spm.gguf`: the shape of `f32.gguf` (other weights) with the SentencePiece vocabulary of
  tests/fixtures/spm (1,000 pieces; models/spm_vocab_check.py), as a real 1bitLLM file has
  LLaMA's: the prompt "ROMEO:" as text, llama.cpp's ids for it (with its BOS) and its greedy
  continuation of 24 tokens.

    .venv/bin/python models/bitnet_gguf_check.py              # writes the two GGUFs (gguf-py 0.19)
    PY_WITH_LLAMA_CPP models/bitnet_gguf_check.py --logits    # llama.cpp's logits -> llama_cpp_logits.json

The second step needs llama-cpp-python (0.3.36 here, built as docs/decisions.md says); the
first is byte-reproducible (fixed seed).
"""
import argparse
import json
import os

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "bitnet-gguf")
TWIN = os.path.join(ROOT, "target", "bitnet-gguf-twin")
TOKENS = [72, 101, 108, 108, 111, 44, 32, 98, 105, 116, 110, 101, 116, 33, 10, 0]  # "Hello, bitnet!\n" and 0
SHAPES = {
    "f32": dict(d=64, heads=4, kv=2, ff=128, layers=2, seed=7),
    "tq": dict(d=256, heads=4, kv=2, ff=512, layers=1, seed=11),
    # projections 4x as large: with a tied head a random model otherwise repeats its last token
    "spm": dict(d=64, heads=4, kv=2, ff=128, layers=2, seed=13, gain=4.0),
}
SPM_VOCAB = os.path.join(ROOT, "tests", "fixtures", "spm", "vocab.gguf")  # models/spm_vocab_check.py
PROMPT = "ROMEO:"
GENERATE = 24
MERGES = ["h e", "l l", "i t", "Ġ b"]  # "Ġ" is GPT-2's character for the space byte
VOCAB = 256 + len(MERGES)


def gpt2_byte_chars():
    """GPT-2's bytes_to_unicode: the printable character that stands for each byte"""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    table = dict(zip(bs, cs))
    return [chr(table[b]) for b in range(256)]


def shapes(c):
    d, hd, ff = c["d"], c["d"] // c["heads"], c["ff"]
    kvd = c["kv"] * hd
    return {"attn_q": (d, d), "attn_k": (kvd, d), "attn_v": (kvd, d), "attn_output": (d, d),
            "ffn_gate": (ff, d), "ffn_up": (ff, d), "ffn_down": (d, ff)}


def write(name, twin=False):
    """`name`'s GGUF; with `twin`, the same weights with every projection as F32 (into TWIN,
    for llama.cpp's logits without its TQ rounding; not a fixture)"""
    import gguf

    c = SHAPES[name]
    rng = np.random.default_rng(c["seed"])
    path = os.path.join(TWIN if twin else OUT, f"{name}.gguf")
    w = gguf.GGUFWriter(path, "bitnet")
    d, hd = c["d"], c["d"] // c["heads"]
    w.add_context_length(64)
    w.add_embedding_length(d)
    w.add_block_count(c["layers"])
    w.add_feed_forward_length(c["ff"])
    w.add_head_count(c["heads"])
    w.add_head_count_kv(c["kv"])
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_freq_base(10000.0)
    w.add_rope_dimension_count(hd)
    w.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
    w.add_rope_scaling_factor(1.0)
    if name == "spm":
        # the SentencePiece vocabulary of tests/fixtures/spm, as a real 1bitLLM file has LLaMA's
        r = gguf.GGUFReader(SPM_VOCAB)
        field = lambda k: r.fields[k]
        tokens = [bytes(field("tokenizer.ggml.tokens").parts[i]).decode("utf-8") for i in field("tokenizer.ggml.tokens").data]
        scores = [float(field("tokenizer.ggml.scores").parts[i][0]) for i in field("tokenizer.ggml.scores").data]
        types = [int(field("tokenizer.ggml.token_type").parts[i][0]) for i in field("tokenizer.ggml.token_type").data]
        w.add_tokenizer_model("llama")
        w.add_tokenizer_pre("default")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_add_bos_token(True)
        vocab = len(tokens)
    else:
        w.add_tokenizer_model("gpt2")
        w.add_tokenizer_pre("smollm")
        w.add_token_list(gpt2_byte_chars() + ["".join(m.split()) for m in MERGES])
        w.add_token_types([gguf.TokenType.NORMAL] * VOCAB)
        w.add_token_merges(MERGES)
        w.add_bos_token_id(0)
        w.add_add_bos_token(False)
        vocab = VOCAB
    emb = rng.normal(0, 1, (vocab, d)).astype(np.float32)
    if name == "tq":
        # F16 in the fixture; the twin holds the same values as F32, since llama.cpp's head
        # matmul on F16 weights rounds the activations to F16 (0.013 on these logits)
        emb16 = emb.astype(np.float16)
        w.add_tensor("token_embd.weight", emb16.astype(np.float32) if twin else emb16)
    else:
        w.add_tensor("token_embd.weight", emb)
    w.add_tensor("output_norm.weight", rng.uniform(0.8, 1.2, d).astype(np.float32))
    for i in range(c["layers"]):
        w.add_tensor(f"blk.{i}.attn_norm.weight", rng.uniform(0.8, 1.2, d).astype(np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", rng.uniform(0.8, 1.2, d).astype(np.float32))
        w.add_tensor(f"blk.{i}.attn_sub_norm.weight", rng.uniform(0.8, 1.2, d).astype(np.float32))
        w.add_tensor(f"blk.{i}.ffn_sub_norm.weight", rng.uniform(0.8, 1.2, c["ff"]).astype(np.float32))
        for p, (out, inp) in shapes(c).items():
            codes = rng.choice(np.array([-1, 0, 1], dtype=np.int8), size=(out, inp))
            # s of the size absmean gives (1/sqrt(inp) keeps activations O(1)); an f16 value, so
            # TQ's f16 block scale holds it exactly
            s = np.float32(np.float16(c.get("gain", 1.0) * rng.uniform(0.6, 1.4) / np.sqrt(inp)))
            vals = codes.astype(np.float32) * s
            if name == "tq" and not twin:
                qt = gguf.GGMLQuantizationType.TQ1_0 if p in ("attn_output", "ffn_down") else gguf.GGMLQuantizationType.TQ2_0
                q = gguf.quants.quantize(vals, qt)
                if not np.array_equal(gguf.quants.dequantize(q, qt), vals):
                    raise SystemExit(f"{p}: {qt.name} does not round-trip")
                w.add_tensor(f"blk.{i}.{p}.weight", q, raw_dtype=qt)
            else:
                w.add_tensor(f"blk.{i}.{p}.weight", vals)
                if i == 1:
                    w.add_tensor(f"blk.{i}.{p}.scale", np.array([np.float32(rng.uniform(0.5, 2.0))], dtype=np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {path} ({os.path.getsize(path)} bytes)")


def logits():
    import llama_cpp

    out = {"tokens": TOKENS, "llama_cpp_python": llama_cpp.__version__}
    for key, path in [(n, os.path.join(OUT, f"{n}.gguf")) for n in ("f32", "tq")] + [("tq_as_f32", os.path.join(TWIN, "tq.gguf"))]:
        # an F32 KV cache: llama.cpp's default F16 one rounds K and V (0.023 on these logits)
        llm = llama_cpp.Llama(path, n_ctx=64, logits_all=True, verbose=False, n_threads=2,
                              n_batch=64, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
        llm.eval(TOKENS)
        scores = np.array(llm.scores[: len(TOKENS)], dtype=np.float32)
        out[key] = [[float(x) for x in row] for row in scores]
        out[f"{key}_argmax"] = [int(x) for x in scores.argmax(axis=1)]
        print(f"{key}: logits {scores.shape}, max |logit| {abs(scores).max():.3f}")
    # a prompt as text through the SentencePiece file: llama.cpp's ids (with its BOS) and its
    # greedy continuation, argmax of each step's logits
    llm = llama_cpp.Llama(os.path.join(OUT, "spm.gguf"), n_ctx=64, logits_all=True, verbose=False, n_threads=2,
                          n_batch=64, type_k=llama_cpp.GGML_TYPE_F32, type_v=llama_cpp.GGML_TYPE_F32)
    ids = llm.tokenize(PROMPT.encode(), add_bos=True, special=False)
    llm.eval(ids)
    gen = []
    for _ in range(GENERATE):
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        gen.append(t)
        llm.eval([t])
    out["spm"] = {"prompt": PROMPT, "prompt_ids": ids, "generated": gen,
                  "text": llm.detokenize(ids[1:] + gen).decode("utf-8", errors="replace")}
    print(f"spm: {PROMPT!r} -> {ids} + {gen}")
    with open(os.path.join(OUT, "llama_cpp_logits.json"), "w") as f:
        json.dump(out, f)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--logits", action="store_true", help="run llama.cpp on the written files instead")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    if args.logits:
        logits()
    else:
        for name in SHAPES:
            write(name)
        os.makedirs(TWIN, exist_ok=True)
        write("tq", twin=True)


if __name__ == "__main__":
    main()
