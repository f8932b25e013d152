//! `Backend`: anything that executes a Program (golden model, Verilator, Icarus Verilog, a board
//! through `tern_host::bridge`).
//! Every simulator gives the same results, cycles and counters for the same beats and stalls; a
//! board gives the same results and event counters (its serial line paces its cycles:
//! `RunResult::first_event_difference`).

use crate::config::Accel;
use crate::golden::{Golden, RunResult};
use crate::stall::Stalls;

#[derive(Debug, thiserror::Error)]
#[error("{backend} backend: {msg}")]
pub struct BackendError {
    pub backend: &'static str,
    pub msg: String,
}

pub trait Backend {
    /// "golden", "verilator", ...: named in every report.
    fn name(&self) -> &'static str;
    fn accel(&self) -> &Accel;
    /// Reset the control state (memories keep their contents) and run `beats` until HALT,
    /// an error status, starvation or `max_cycles`.
    fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> Result<RunResult, BackendError>;
}

impl Backend for Golden {
    fn name(&self) -> &'static str {
        "golden"
    }
    fn accel(&self) -> &Accel {
        Golden::accel(self)
    }
    fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> Result<RunResult, BackendError> {
        Ok(Golden::run(self, beats, stalls, max_cycles))
    }
}
