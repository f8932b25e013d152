//! Text generation: the prompt as one prefill batch, then one decode step per new token.

use crate::exec::{Executor, Phase};
use crate::model::Model;
use crate::sample::Sampler;
use crate::transformer::{ForwardError, Precision, Session};
use std::time::{Duration, Instant};

/// What a generation produced.
#[derive(Clone, Debug)]
pub struct Generation {
    pub prompt: Vec<u32>,
    pub tokens: Vec<u32>,
    /// Logits that chose `tokens[i]`, for the first `keep_logits` tokens.
    pub logits: Vec<Vec<f32>>,
    pub prefill_wall: Duration,
    pub decode_wall: Duration,
    /// Forward passes of one token (the last token needs none).
    pub decode_steps: usize,
}

/// Generate `n` tokens after `prompt`. `on_token` sees each token as soon as it is chosen.
pub fn generate(
    model: &Model,
    exec: &mut dyn Executor,
    prompt: &[u32],
    n: usize,
    sampler: &mut Sampler,
    keep_logits: usize,
    on_token: impl FnMut(u32),
) -> Result<Generation, ForwardError> {
    generate_with(model, Precision::Ternary, exec, prompt, n, sampler, keep_logits, on_token)
}

/// `generate` in a given precision (`Float`/`FloatA8` run on the host, `exec` unused).
#[allow(clippy::too_many_arguments)]
pub fn generate_with(
    model: &Model,
    precision: Precision,
    exec: &mut dyn Executor,
    prompt: &[u32],
    n: usize,
    sampler: &mut Sampler,
    keep_logits: usize,
    mut on_token: impl FnMut(u32),
) -> Result<Generation, ForwardError> {
    let mut s = Session::with_precision(model, precision)?;
    let mut g = Generation {
        prompt: prompt.to_vec(),
        tokens: Vec::with_capacity(n),
        logits: Vec::new(),
        prefill_wall: Duration::ZERO,
        decode_wall: Duration::ZERO,
        decode_steps: 0,
    };
    if n == 0 {
        return Ok(g);
    }
    let max = model.config.max_position_embeddings;
    if prompt.len() + n - 1 > max {
        return Err(ForwardError::Position { pos: prompt.len() + n - 2, max });
    }
    let t0 = Instant::now();
    let mut logits = s.forward(exec, prompt, Phase::Prefill, false)?;
    g.prefill_wall = t0.elapsed();
    let t1 = Instant::now();
    loop {
        let tok = sampler.sample(&logits);
        if g.logits.len() < keep_logits {
            g.logits.push(logits.clone());
        }
        g.tokens.push(tok);
        on_token(tok);
        if g.tokens.len() == n {
            break;
        }
        logits = s.forward(exec, &[tok], Phase::Decode, false)?;
        g.decode_steps += 1;
    }
    g.decode_wall = t1.elapsed();
    Ok(g)
}
