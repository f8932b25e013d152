# tern: the two commands of the README, plus conveniences.
.PHONY: run test setup build verilog synth synth-uart board synth-all bench ptq project clean

CARGO ?= cargo
TERN := target/release/tern

setup:
	@./setup.sh

build: setup
	$(CARGO) build --release --locked -p tern-host

# The main job.
run: build
	$(TERN) generate

# The whole test suite (.ci/run calls exactly this).
test: setup
	$(CARGO) test --release --locked --workspace

verilog: build
	$(TERN) verilog --preset tiny --out out/verilog

# FPGA synthesis of a preset on its own device (PRESET=ice40-up5k|ice40-hx8k|ecp5-85f).
# PLL=1 puts the board's PLL in front of the design, so the bitstream runs at the clock it is
# timed for (without it: at the board's oscillator).
PRESET ?= ice40-up5k
PLL ?=
PLL_FLAG := $(if $(PLL),--pll)
synth: build
	$(TERN) synth --preset $(PRESET) $(PLL_FLAG)

# The same preset with the UART link, for a PC through a USB-UART bridge (docs/host.md, "On a
# board"); load out/synth/$(PRESET)-uart/tern_board.bin (iceprog) or .bit, then `make board
# PORT=/dev/ttyUSB1` runs a random layer on it and compares it with the golden model.
BAUD ?= 1000000
synth-uart: build
	$(TERN) synth --preset $(PRESET) --link uart --baud $(BAUD) $(PLL_FLAG) --out out/synth/$(PRESET)-uart

PORT ?= /dev/ttyUSB1
board: build
	$(TERN) layer --preset $(PRESET) --out-features 64 --in-features 256 --tasm out/board-layer.tasm
	$(TERN) run out/board-layer.tasm --preset $(PRESET) --backend board-golden --port $(PORT) --baud $(BAUD)

# The full synthesis sweep: every FPGA preset on its own device, without and with the board's
# PLL, each recorded in docs/fmax.json (read by generate/report, a plain `make synth [PLL=1]`
# and the README tables). Each ecp5-85f run takes 15-25 min on a 2-core machine; CI runs only
# the small flows (tests/it/synth.rs). The seeds are the recorded ones (a test keeps them
# equal); after an RTL change, sweep seeds first (docs/synthesis.md: the routed clock moves
# with the seed).
synth-all: build
	$(TERN) synth --preset ice40-up5k --seed 9 --record
	$(TERN) synth --preset ice40-hx8k --seed 20 --record
	$(TERN) synth --preset ecp5-85f --seed 34 --record
	$(TERN) synth --preset ice40-up5k --pll --seed 6 --record
	$(TERN) synth --preset ice40-hx8k --pll --seed 7 --record
	$(TERN) synth --preset ecp5-85f --pll --seed 20 --record

bench: build
	$(TERN) bench-sim

# The post-training experiment on SmolLM2-135M (setup.sh installs its GGUF), ~5 min on 2 cores.
ptq: build
	$(TERN) ptq

# Cost per token of real model shapes on every preset, and the roofline picture.
project: build
	$(TERN) project --svg out/roofline.svg

clean:
	$(CARGO) clean
