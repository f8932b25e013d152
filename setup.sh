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

if ! command -v cargo >/dev/null; then
  echo "setup.sh: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
