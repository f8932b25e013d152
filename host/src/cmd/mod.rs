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

/// The shape of a random BitLinear layer (`tern layer`, `tern report`).
#[derive(clap::Args, Debug, Clone)]
pub struct LayerShape {
    #[arg(long, default_value_t = 256)]
    pub out_features: usize,
    #[arg(long, default_value_t = 512)]
    pub in_features: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

impl LayerShape {
    pub fn check(&self) -> Result<()> {
        if self.out_features == 0 || self.in_features == 0 || self.batch == 0 {
            anyhow::bail!("out-features, in-features and batch must be at least 1");
        }
        Ok(())
    }
}
