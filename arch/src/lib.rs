//! tern-arch: the contract of the tern ternary accelerator. Pure Rust, no I/O, no HDL.
//!
//! An R x L array of multiplier-free ternary MACs: each cycle L int8 activations are broadcast
//! to R rows; each row reads L 2-bit weight codes from its own bank, turns each into +a, -a or
//! 0, sums them in an adder tree and accumulates. A sequencer executes a stream of 32-bit
//! instructions (`isa`) interleaved with weight/activation data beats from the host, and
//! streams int32 results back. Everything else derives from this crate: `config` holds every
//! parameter and derived size, `isa` the only opcode table, `golden` the bit- and
//! cycle-exact model the RTL is checked against, `pack`/`quant` the ternary formats and
//! quantizers, `backend` the trait every executor implements.

pub mod backend;
pub mod config;
pub mod dot;
pub mod energy;
pub mod golden;
pub mod isa;
pub mod pack;
pub mod quant;
pub mod rng;
pub mod stall;

pub use backend::{Backend, BackendError};
pub use config::{Accel, AccelConfig, ConfigError};
pub use golden::{BeatCycles, Counters, Golden, RunResult, StopReason};
pub use isa::{Insn, Status};
pub use stall::Stalls;
