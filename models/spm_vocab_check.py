#!/usr/bin/env python3
"""A small SentencePiece vocabulary in a GGUF, and the ids llama.cpp and sentencepiece give
on it: the fixtures of tests/it/tokenizer.rs's SentencePiece tests (tests/fixtures/spm).

LLaMA's tokenizer (and 1bitLLM's BitNet b1.58, which uses it) is SentencePiece BPE with byte
fallback, identity normalization, a dummy prefix and split digits; llama.cpp stores it as
`tokenizer.ggml.model = "llama"` (pieces, scores, token types). This trains a vocabulary of
that kind, 1,000 pieces, on the first 1 MB of the committed Shakespeare text
(models/data/train.txt) with the same options, writes it the way llama.cpp's converter does
(`_create_vocab_sentencepiece`: unknown, control, byte and normal types, the scores), and
keeps the trained `tokenizer.model` (the file a Hugging Face checkpoint ships), and records the
ids of:
- llama.cpp's own tokenizer tests' inputs (vendor/llama.cpp/models/ggml-vocab-llama-spm.gguf.inp
  of llama-cpp-python 0.3.36, whose strings are copied here);
- Shakespeare lines from the validation text;
- 1,000 random strings of letters, digits, spaces, newlines, tabs, punctuation, accented and
  non-Latin letters and emoji (many are no piece: byte fallback).
tern must give llama.cpp's ids (`Llama(vocab_only=True).tokenize(..., add_bos=False,
special=False)`); sentencepiece's own are recorded beside them, with how many texts the two
agree on.

    python models/spm_vocab_check.py   # a Python with sentencepiece 0.2.3, gguf 0.19.0 and llama-cpp-python 0.3.36
"""
import json
import os
import random
import shutil
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "fixtures", "spm")

# llama.cpp's tests/test-tokenizer-0 inputs (models/ggml-vocab-llama-spm.gguf.inp), verbatim
LLAMA_CPP_TESTS = [
    "ied 4 ½ months", "Äpfel", "", " ", "  ", "   ", "\t", "\n", "\n\n", "\n\n\n", "\t\n", "Hello world", " Hello world",
    "Hello World", " Hello World", " Hello World!", "Hello, world!", " Hello, world!", " this is 🦙.cpp",
    "w048 7tuijk dsdfhu", "нещо на Български", "កាន់តែពិសេសអាចខលចេញ", "🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ (only emoji that has its own token)",
    "Hello", " Hello", "  Hello", "   Hello", "    Hello", "    Hello\n    Hello", " (", "\n =", "' era",
    "Hello, y'all! How are you 😁 ?我想在apple工作1314151天～", "!!!!!!", "3", "33", "333", "3333", "33333", "333333",
    "3333333", "33333333", "333333333", "Cửa Việt", " discards",
    "\n \n\n \n\n\n \t \t\t \t\n  \n   \n    \n     \n🚀 (normal) 😶\u200d🌫️ (multiple emojis concatenated) ✅ 🦙🦙 3 33 333 3333 33333 333333 "
    "3333333 33333333 3.3 3..3 3...3 កាន់តែពិសេសអាច😁 ?我想在apple工作1314151天～ ------======= нещо на Български ''''''```````\"\"\"\"......!!!!!!?????? "
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
]

ALPHABET = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") * 4 + list("0123456789") * 2 + [" "] * 20
            + ["\n", "\t", "  ", ".", ",", "'", "!", "?", ";", ":", "-", "(", ")", "é", "ü", "ß", "ñ", "ø", "ж", "я", "λ", "ω",
               "中", "文", "日", "本", "한", "ע", "ب", "ह", "🦙", "🚀", "😁", "✅", "\u200d", "\u2581", "½", "～", "<s>", "<0x41>"])


def train(model_prefix):
    import sentencepiece as spm

    text = open(os.path.join(ROOT, "models", "data", "train.txt"), encoding="utf-8").read()[:1_000_000]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
    spm.SentencePieceTrainer.train(
        input=f.name, model_prefix=model_prefix, vocab_size=1000, model_type="bpe", byte_fallback=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False, split_digits=True,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True, num_threads=1, character_coverage=1.0,
        max_sentence_length=1 << 20, minloglevel=2)
    os.unlink(f.name)
    return spm.SentencePieceProcessor(model_file=model_prefix + ".model")


def write_gguf(sp, path):
    import gguf

    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(sp.get_score(i))
        t = gguf.TokenType.NORMAL
        if sp.is_unknown(i):
            t = gguf.TokenType.UNKNOWN
        elif sp.is_control(i):
            t = gguf.TokenType.CONTROL
        elif sp.is_unused(i):
            t = gguf.TokenType.UNUSED
        elif sp.is_byte(i):
            t = gguf.TokenType.BYTE
        types.append(t)
    w = gguf.GGUFWriter(path, "llama")
    # llama.cpp reads a model's hyper-parameters even for its vocabulary alone
    w.add_context_length(64)
    w.add_embedding_length(64)
    w.add_block_count(1)
    w.add_feed_forward_length(128)
    w.add_head_count(4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())
    w.add_add_bos_token(True)
    w.add_add_space_prefix(True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def texts():
    val = open(os.path.join(ROOT, "models", "data", "val.txt"), encoding="utf-8").read()
    lines = [l for l in val.split("\n") if l.strip()][:200:4]
    rng = random.Random(5)
    rand = ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 40))) for _ in range(1000)]
    return [("llama.cpp", t) for t in LLAMA_CPP_TESTS] + [("shakespeare", t) for t in lines] + [("random", t) for t in rand]


def main():
    import llama_cpp
    import sentencepiece

    os.makedirs(OUT, exist_ok=True)
    with tempfile.TemporaryDirectory() as d:
        sp = train(os.path.join(d, "spm"))
        # the SentencePiece model itself, as a Hugging Face checkpoint ships it
        shutil.copy(os.path.join(d, "spm.model"), os.path.join(OUT, "tokenizer.model"))
    path = os.path.join(OUT, "vocab.gguf")
    write_gguf(sp, path)
    llm = llama_cpp.Llama(path, vocab_only=True, verbose=False)
    cases, agree = [], 0
    for kind, t in texts():
        ids = llm.tokenize(t.encode("utf-8"), add_bos=False, special=False)
        ref = sp.encode(t)
        agree += ids == ref
        cases.append({"kind": kind, "text": t, "ids": ids, "sentencepiece": ref})
    out = {"llama_cpp_python": llama_cpp.__version__, "sentencepiece": sentencepiece.__version__,
           "bos": sp.bos_id(), "pieces": sp.get_piece_size(), "cases": cases,
           "sentencepiece_agrees": agree, "ids": sum(len(c["ids"]) for c in cases)}
    with open(os.path.join(OUT, "tokens.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
    print(f"{len(cases)} texts, {out['ids']} ids; sentencepiece agrees with llama.cpp on {agree}; {os.path.getsize(path)} bytes of vocab")


if __name__ == "__main__":
    main()
