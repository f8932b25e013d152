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
use crate::model::{ModelConfig, Proj};
use tern_arch::Accel;
use tern_arch::golden::Counters;
use tern_arch::pack::TernaryMatrix;

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

/// A deterministic pseudo-random stream (splitmix64).
struct Mix(u64);
impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Run each projection shape of `cfg` once on the golden model of `a` for a prompt of
/// `prompt_tokens` and for one decode token; multiply by the layer count.
pub fn project(cfg: &ModelConfig, a: &Accel, prompt_tokens: usize) -> Result<Projection, ExecError> {
    let mut exec = AccelExec::new(Box::new(tern_arch::Golden::new(a)));
    let mut r = Mix(0x7465_726e);
    for p in Proj::ALL {
        let (out, inp) = p.shape(cfg);
        let w: Vec<i8> = (0..out * inp).map(|_| (r.next() % 3) as i8 - 1).collect();
        let w = TernaryMatrix::from_weights(&w, out, inp)
            .map_err(|e| ExecError::Firmware { id: LinearId { layer: 0, proj: p }, msg: e.to_string() })?;
        let id = LinearId { layer: 0, proj: p };
        for (batch, phase) in [(prompt_tokens, Phase::Prefill), (1, Phase::Decode)] {
            let x: Vec<i8> = (0..batch * inp).map(|_| r.next() as u8 as i8).collect();
            exec.matmul(id, &w, &x, batch, phase)?;
        }
    }
    let n = cfg.num_hidden_layers as u64;
    let all = |s: PhaseStats| PhaseStats { counters: scaled(&s.counters, n), calls: s.calls * n, macs: s.macs * n, wall: s.wall };
    Ok(Projection { prompt_tokens, prefill: all(exec.prefill), decode: all(exec.decode) })
}
