#!/usr/bin/env python3
"""Token ids of the Shakespeare text for models/finetune_smollm2.py, with llama.cpp's tokenizer
(tern's BPE matches it id for id: tests/it/smollm2.rs).

    python3 models/smollm2_tokens.py models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf OUTDIR

Writes OUTDIR/train.u16 and val.u16 (the whole of models/data/{train,val}.txt), val16k.u16
(val.txt's first 16384 bytes, `tern ptq`'s text) and token_bytes.u8 (the byte length of each
token id). Needs llama-cpp-python (0.3.36 made the committed run's) and numpy.
"""
import os
import sys

import llama_cpp
import numpy as np


def main():
    gguf, out = sys.argv[1:3]
    os.makedirs(out, exist_ok=True)
    m = llama_cpp.Llama(model_path=gguf, vocab_only=True, verbose=False)
    data = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
    for name in ("train", "val"):
        text = open(os.path.join(data, f"{name}.txt"), "rb").read()
        np.array(m.tokenize(text, add_bos=False, special=False), dtype=np.uint16).tofile(os.path.join(out, f"{name}.u16"))
    text = open(os.path.join(data, "val.txt"), "rb").read()[:16384]
    np.array(m.tokenize(text, add_bos=False, special=False), dtype=np.uint16).tofile(os.path.join(out, "val16k.u16"))
    lens = [len(m.detokenize([i], special=False)) for i in range(m.n_vocab())]
    np.array(lens, dtype=np.uint8).tofile(os.path.join(out, "token_bytes.u8"))


if __name__ == "__main__":
    main()
