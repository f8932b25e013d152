//! `tern`: the command line of the tern ternary accelerator. Each verb lives in `cmd/`.

use clap::{Parser, Subcommand};
use tern_host::cmd;

#[derive(Parser)]
#[command(name = "tern", version, about = "tern: a ternary (BitNet b1.58) LLM accelerator: RTL, simulation, models, reports")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Emit the Verilog of a preset (DIR/tern_top.v).
    Verilog(cmd::verilog::Args),
    /// Run one random ternary BitLinear through a backend and report cycles and counters.
    Layer(cmd::layer::Args),
    /// Run a `.tasm` program on a backend (or golden and Verilator, compared): status, results, counters.
    Run(cmd::run::Args),
    /// Simulation speed: golden and Verilator cycles/second.
    BenchSim(cmd::bench_sim::Args),
    /// Generate text with a model, every BitLinear on the accelerator; report cycles/token.
    Generate(cmd::generate::Args),
    /// Loss (nats/byte) of a model on a text file.
    Eval(cmd::eval::Args),
    /// Cost per token of real model shapes on each preset (golden cycle model, exact).
    Project(cmd::project::Args),
    /// Post-training ternarization of a float model (GGUF or a float checkpoint): float vs each quantizer.
    Ptq(cmd::ptq::Args),
    /// Synthesize a preset for an FPGA (yosys + nextpnr): LUT4/FF/BRAM/DSP, Fmax, bitstream.
    Synth(cmd::synth::Args),
    /// Energy per token (estimate: counted events x a cited technology table), table + SVG.
    Report(cmd::report::Args),
}

fn main() {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Verilog(a) => cmd::verilog::run(a),
        Cmd::Layer(a) => cmd::layer::run(a),
        Cmd::Run(a) => cmd::run::run(a),
        Cmd::Generate(a) => cmd::generate::run(a),
        Cmd::Eval(a) => cmd::eval::run(a),
        Cmd::BenchSim(a) => cmd::bench_sim::run(a),
        Cmd::Synth(a) => cmd::synth::run(a),
        Cmd::Ptq(a) => cmd::ptq::run(a),
        Cmd::Project(a) => cmd::project::run(a),
        Cmd::Report(a) => cmd::report::run(a),
    };
    if let Err(e) = r {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
