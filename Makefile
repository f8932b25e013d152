# tern: the two commands of the README, plus conveniences.
.PHONY: run test setup build verilog bench clean

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

bench: build
	$(TERN) bench-sim

clean:
	$(CARGO) clean
