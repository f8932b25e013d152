# tern: the two commands of the README, plus conveniences.
.PHONY: run test setup build verilog synth bench clean

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
PRESET ?= ice40-up5k
synth: build
	$(TERN) synth --preset $(PRESET)

bench: build
	$(TERN) bench-sim

clean:
	$(CARGO) clean
