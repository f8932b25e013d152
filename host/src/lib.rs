//! tern-host: everything that runs on the host side of the accelerator: the command
//! implementations behind the `tern` binary, layer runs and their reports, and the
//! transformer (model loading, the forward pass whose every BitLinear goes through an
//! `exec::Executor`, sampling, generation and evaluation).

pub mod area;
pub mod backend;
pub mod bridge;
pub mod cmd;
pub mod energy;
pub mod eval;
pub mod exec;
pub mod generate;
pub mod layer;
pub mod model;
pub mod project;
pub mod roofline;
pub mod sample;
pub mod spm;
pub mod synth;
pub mod table;
pub mod testbench;
pub mod tokenizer;
pub mod transformer;
