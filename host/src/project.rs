//! Cost per token of a model too large to load here, projected with the validated cycle model.
//!
//! The accelerator's timing does not depend on weight or activation values (the golden cycle
//! model equals the RTL cycle for cycle, and neither branches on data), and a forward pass is
//! the same seven BitLinear shapes in every layer. So one golden run per shape, with random
//! ternary weights and int8 activations, times the number of layers gives the cycles and every
//! event counter of a token exactly: decode is a batch of one per call, prefill the whole
//! prompt as one batch (as `transformer::Session` issues them). A test checks the projection of
//! the shipped model against its measured generation, counter for counter.

use crate::exec::{AccelExec, ExecError, Executor, LinearId, Phase, PhaseStats};
use crate::layer::random_layer;
use crate::model::{ModelConfig, Proj};
use tern_arch::Accel;
use tern_arch::golden::Counters;

/// Projected accelerator cost of one model on one preset.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Projection {
    pub prompt_tokens: usize,
    /// The whole prompt, every BitLinear of every layer.
    pub prefill: PhaseStats,
    /// One decoded token.
    pub decode: PhaseStats,
}

fn scaled(c: &Counters, n: u64) -> Counters {
    Counters::from_array(c.to_array().map(|v| v * n))
}

/// Run each projection shape of `cfg` once on the golden model of `a` for a prompt of
/// `prompt_tokens` and for one decode token; multiply by the layer count.
pub fn project(cfg: &ModelConfig, a: &Accel, prompt_tokens: usize) -> Result<Projection, ExecError> {
    let mut exec = AccelExec::new(Box::new(tern_arch::Golden::new(a)));
    for (k, p) in Proj::ALL.into_iter().enumerate() {
        let (out, inp) = p.shape(cfg);
        let id = LinearId { layer: 0, proj: p };
        if !out.is_multiple_of(4) {
            return Err(ExecError::Firmware { id, msg: format!("{out} output features: the packed ternary layout needs a multiple of 4") });
        }
        let (w, x) = random_layer(out, inp, prompt_tokens, k as u64);
        exec.matmul(id, &w, &x, prompt_tokens, Phase::Prefill)?;
        exec.matmul(id, &w, &x[..inp], 1, Phase::Decode)?;
    }
    let n = cfg.num_hidden_layers as u64;
    let all = |s: PhaseStats| PhaseStats { counters: scaled(&s.counters, n), calls: s.calls * n, macs: s.macs * n, wall: s.wall };
    Ok(Projection { prompt_tokens, prefill: all(exec.prefill), decode: all(exec.decode) })
}
