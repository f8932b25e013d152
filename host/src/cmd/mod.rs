//! One module per `tern` verb: its clap `Args` and its `run`. `main.rs` only dispatches.

pub mod bench_sim;
pub mod eval;
pub mod generate;
pub mod layer;
pub mod report;
pub mod synth;
pub mod verilog;

use anyhow::{Context, Result};

/// A validated preset by name.
pub fn preset(name: &str) -> Result<tern_arch::Accel> {
    let cfg = tern_arch::AccelConfig::preset(name)?;
    cfg.validate().with_context(|| format!("preset `{name}`"))
}
