//! Choosing a backend by name.

use tern_arch::config::Accel;
use tern_arch::{Backend, Golden};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// The bit- and cycle-exact Rust model.
    Golden,
    /// The emitted RTL simulated by Verilator.
    Verilator,
}

/// Where a backend's cycle counts come from, for reports (`Backend::name` in, words out).
pub fn cycles_source(backend: &str) -> &'static str {
    match backend {
        "golden" => "cycle model (golden, validated against RTL)",
        "verilator" => "RTL (Verilator)",
        "iverilog" => "RTL (Icarus Verilog)",
        "board" => "the board's counters (FPGA; its serial link paces the core)",
        "board-sim" => "the UART board's RTL (Icarus Verilog; its serial link paces the core)",
        _ => "backend",
    }
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Golden => "golden",
            BackendKind::Verilator => "verilator",
        }
    }
    pub fn open(self, a: &Accel) -> anyhow::Result<Box<dyn Backend>> {
        Ok(match self {
            BackendKind::Golden => Box::new(Golden::new(a)),
            BackendKind::Verilator => Box::new(tern_sim::VerilatorBackend::new(a)?),
        })
    }
}
