//! The forward pass (llama / BitNet b1.58 2B4T, as `models/export.py` and transformers
//! `modular_bitnet.py` define it), with a KV cache:
//!
//! ```text
//! x = embed_tokens[tokens]
//! per layer:  a = input_layernorm(x)
//!             q, k, v = q_proj(a), k_proj(a), v_proj(a)        BitLinear (accelerator)
//!             q, k = rope(q), rope(k)                           rotate_half, theta^(-2i/head_dim)
//!             o = softmax(q k^T / sqrt(head_dim), causal) v     GQA: head h reads KV head h / (H/KV)
//!             x = x + o_proj(attn_sub_norm(o))                  BitLinear
//!             h = post_attention_layernorm(x)
//!             x = x + down_proj(ffn_sub_norm(relu(gate_proj(h))^2 * up_proj(h)))
//! logits = lm_head(norm(x))                                     f32 on the host
//! ```
//! The llama family (`Family::Llama`, models imported from GGUF) has no sub-norms and a SiLU
//! gate: `o_proj(o)` and `down_proj(silu(gate_proj(h)) * up_proj(h))`. `Family::BitnetSilu`
//! (1bitLLM's BitNet b1.58, llama.cpp's `bitnet` architecture) keeps both sub-norms with the
//! SiLU gate: `down_proj(ffn_sub_norm(silu(gate_proj(h)) * up_proj(h)))`. A session made with
//! `Session::float` runs every projection in f32 on the full-precision weights
//! (`Model::float`) without quantizing activations: the baseline of a post-training import;
//! `Precision::FloatA8` keeps the f32 weights but rounds each projection's input to int8 per
//! token as a BitLinear does (quantize, then scale back), which separates what the int8
//! activations cost from what the ternary weights cost.
//!
//! A BitLinear: per token (row) x, s = 127 / max(max|x|, 1e-5) and xq = clamp(round_half_even(x * s),
//! -128, 127) (`tern_arch::quant::act_int8_into`); the executor computes acc = W xq exactly in
//! int32; then y = f32(f64(acc) * f64(weight_scale) / f64(s)) (Multiply convention) or
//! y = f32(f64(acc) / (f64(s) * f64(weight_scale))) (Divide), the arithmetic of `export.py`.
//! Inputs that share a quantization (q/k/v, gate/up) are quantized once.
//! Everything else is f32; sums that numpy reduces (RMSNorm's mean of squares, the softmax
//! denominator) use numpy's pairwise order, so they round exactly as in the reference.

use crate::exec::{ExecError, Executor, LinearId, Phase};
use crate::model::{BitLinear, Gate, Model, Proj, ScaleConvention};
use tern_arch::quant::act_int8_into;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ForwardError {
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("position {pos} is past the model's max_position_embeddings ({max})")]
    Position { pos: usize, max: usize },
    #[error("token {token} is outside the vocabulary (vocab_size {vocab})")]
    Token { token: u32, vocab: usize },
    #[error("empty input: a forward pass needs at least one token")]
    Empty,
    #[error(transparent)]
    NotUtf8(#[from] crate::model::NotUtf8),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error("this model has no full-precision weights (only a post-training import keeps them)")]
    NoFloat,
}

/// Per-token int8 activations of a batch, quantized once and shared by the projections that
/// read the same input.
struct Quantized {
    q: Vec<i8>,
    s: Vec<f32>,
}

fn quantize(x: &[f32], dim: usize) -> Quantized {
    let t = x.len() / dim;
    let mut q = vec![0i8; x.len()];
    let mut s = vec![0f32; t];
    for i in 0..t {
        s[i] = act_int8_into(&x[i * dim..(i + 1) * dim], &mut q[i * dim..(i + 1) * dim]);
    }
    Quantized { q, s }
}

fn bitlinear(
    exec: &mut dyn Executor,
    conv: ScaleConvention,
    id: LinearId,
    lin: &BitLinear,
    xq: &Quantized,
    phase: Phase,
) -> Result<Vec<f32>, ExecError> {
    let batch = xq.s.len();
    let acc = exec.matmul(id, &lin.w, &xq.q, batch, phase)?;
    let out = lin.w.out;
    let ws: Vec<f64> = (0..out).map(|o| lin.scale_of(o)).collect();
    let mut y = vec![0f32; acc.len()];
    for t in 0..batch {
        let s = xq.s[t] as f64;
        let (a, yy) = (&acc[t * out..(t + 1) * out], &mut y[t * out..(t + 1) * out]);
        match conv {
            ScaleConvention::Multiply => a.iter().zip(yy).zip(&ws).for_each(|((&v, d), &ws)| *d = ((v as f64 * ws) / s) as f32),
            ScaleConvention::Divide => a.iter().zip(yy).zip(&ws).for_each(|((&v, d), &ws)| *d = (v as f64 / (s * ws)) as f32),
        }
    }
    Ok(y)
}

/// A projection's input: int8 per token (the accelerator's BitLinear) or f32 (float session).
enum Act {
    Quant(Quantized),
    Float(Vec<f32>),
}

/// `y = W x` in f32 for a batch (`x` row-major `batch x inp`, `w` row-major `out x inp`).
/// Blocks of output rows stay in cache across the batch.
pub fn float_matmul(w: &[f32], out: usize, inp: usize, x: &[f32]) -> Vec<f32> {
    let batch = x.len() / inp;
    let mut y = vec![0f32; batch * out];
    const BLOCK: usize = 16;
    for o0 in (0..out).step_by(BLOCK) {
        let o1 = (o0 + BLOCK).min(out);
        for b in 0..batch {
            let xb = &x[b * inp..(b + 1) * inp];
            for o in o0..o1 {
                y[b * out + o] = dot_f32(&w[o * inp..(o + 1) * inp], xb);
            }
        }
    }
    y
}

/// numpy's float32 summation (`np.add.reduce` along a contiguous axis: pairwise, blocks of
/// 128 summed with 8 accumulators), replicated so norms and softmax sums round as in the
/// reference: fewer int8 rounding flips between tern and `export.py`.
pub fn pairwise_sum(a: &[f32]) -> f32 {
    let n = a.len();
    if n < 8 {
        let mut res = 0f32;
        for &v in a {
            res += v;
        }
        res
    } else if n <= 128 {
        let mut r = [0f32; 8];
        r.copy_from_slice(&a[..8]);
        let mut i = 8;
        while i < n - n % 8 {
            for j in 0..8 {
                r[j] += a[i + j];
            }
            i += 8;
        }
        let mut res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for &v in &a[i..] {
            res += v;
        }
        res
    } else {
        let mut n2 = n / 2;
        n2 -= n2 % 8;
        pairwise_sum(&a[..n2]) + pairwise_sum(&a[n2..])
    }
}

/// RMSNorm of each `dim`-row: x * (1 / sqrt(mean(x^2) + eps)) * w, in f32 like `export.py`.
pub fn rmsnorm(x: &[f32], w: &[f32], eps: f32) -> Vec<f32> {
    let dim = w.len();
    let mut y = vec![0f32; x.len()];
    let mut sq = vec![0f32; dim];
    for (xr, yr) in x.chunks_exact(dim).zip(y.chunks_exact_mut(dim)) {
        sq.iter_mut().zip(xr).for_each(|(s, &v)| *s = v * v);
        let ms = pairwise_sum(&sq) / dim as f32;
        let r = 1.0f32 / (ms + eps).sqrt();
        for ((d, &v), &g) in yr.iter_mut().zip(xr).zip(w) {
            *d = (v * r) * g;
        }
    }
    y
}

/// f32 dot product with 8 independent accumulators (vectorizes).
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    let mut s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (x, y) in ra.iter().zip(rb) {
        s += x * y;
    }
    s
}

/// What a session's projections compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    /// BitLinear: ternary weights, int8 activations, through the executor (the accelerator).
    Ternary,
    /// f32 weights (`Model::float`) and f32 activations, on the host.
    Float,
    /// f32 weights, activations rounded to int8 per token (absmax) and scaled back, on the host.
    FloatA8,
}

impl Precision {
    pub fn name(self) -> &'static str {
        match self {
            Precision::Ternary => "ternary",
            Precision::Float => "float",
            Precision::FloatA8 => "float-a8",
        }
    }
}

/// One sequence being processed: the KV cache and the RoPE tables.
pub struct Session<'m> {
    model: &'m Model,
    /// RoPE's inverse frequencies, and its cos/sin rows for the positions used so far (grown
    /// as the sequence grows: a context of 8192 would be 4 MB up front for a short prompt).
    inv: Vec<f32>,
    cos: Vec<f32>,
    sin: Vec<f32>,
    /// Per layer, `pos x kv_dim`.
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
    pos: usize,
    precision: Precision,
}

impl<'m> Session<'m> {
    pub fn new(model: &'m Model) -> Session<'m> {
        let c = &model.config;
        let hd = c.head_dim;
        // inv_freq = 1 / theta^(2i/hd) and angle = pos * inv_freq in f32, like export.py / train.py
        let inv: Vec<f32> = (0..hd / 2).map(|i| 1.0f32 / c.rope_theta.powf((2 * i) as f32 / hd as f32)).collect();
        let n = c.num_hidden_layers;
        Session {
            model,
            inv,
            cos: Vec::new(),
            sin: Vec::new(),
            k: vec![Vec::new(); n],
            v: vec![Vec::new(); n],
            pos: 0,
            precision: Precision::Ternary,
        }
    }

    /// Extend the RoPE tables to cover positions `0..end`.
    fn rope_tables(&mut self, end: usize) {
        let hd = self.model.config.head_dim;
        for p in self.cos.len() / hd..end {
            for i in 0..hd {
                let ang = p as f32 * self.inv[i % (hd / 2)];
                self.cos.push(ang.cos());
                self.sin.push(ang.sin());
            }
        }
    }

    /// A session that runs every projection in f32 on the model's full-precision weights.
    pub fn float(model: &'m Model) -> Result<Session<'m>, ForwardError> {
        Session::with_precision(model, Precision::Float)
    }

    pub fn with_precision(model: &'m Model, precision: Precision) -> Result<Session<'m>, ForwardError> {
        if precision != Precision::Ternary && model.float.is_none() {
            return Err(ForwardError::NoFloat);
        }
        Ok(Session { precision, ..Session::new(model) })
    }

    fn act(&self, x: Vec<f32>, dim: usize) -> Act {
        match self.precision {
            Precision::Ternary => Act::Quant(quantize(&x, dim)),
            Precision::Float => Act::Float(x),
            Precision::FloatA8 => {
                let q = quantize(&x, dim);
                Act::Float(q.q.chunks_exact(dim).zip(&q.s).flat_map(|(r, &s)| r.iter().map(move |&v| v as f32 / s)).collect())
            }
        }
    }

    fn linear(&self, exec: &mut dyn Executor, id: LinearId, a: &Act, phase: Phase) -> Result<Vec<f32>, ExecError> {
        let m = self.model;
        let lin = m.layers[id.layer].get(id.proj);
        match a {
            Act::Quant(q) => bitlinear(exec, m.config.scale_convention, id, lin, q, phase),
            Act::Float(x) => {
                let w = &m.float.as_ref().expect("Session::float checked it")[id.layer][id.proj as usize];
                Ok(float_matmul(w, lin.w.out, lin.w.inp, x))
            }
        }
    }

    /// Tokens processed so far (the position of the next one).
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Forget the sequence (keep the tables).
    pub fn reset(&mut self) {
        self.pos = 0;
        self.k.iter_mut().chain(self.v.iter_mut()).for_each(Vec::clear);
    }

    fn rope(&self, x: &mut [f32], heads: usize, pos: usize) {
        let hd = self.model.config.head_dim;
        let h2 = hd / 2;
        let (cos, sin) = (&self.cos[pos * hd..(pos + 1) * hd], &self.sin[pos * hd..(pos + 1) * hd]);
        let mut out = vec![0f32; hd];
        for h in 0..heads {
            let v = &mut x[h * hd..(h + 1) * hd];
            for i in 0..hd {
                let rot = if i < h2 { -v[i + h2] } else { v[i - h2] };
                out[i] = v[i] * cos[i] + rot * sin[i];
            }
            v.copy_from_slice(&out);
        }
    }

    /// Run `tokens` at positions `pos()..pos()+len`, extending the KV cache. Returns the logits
    /// (vocab_size each) of every token when `all_logits`, else of the last token only.
    pub fn forward(&mut self, exec: &mut dyn Executor, tokens: &[u32], phase: Phase, all_logits: bool) -> Result<Vec<f32>, ForwardError> {
        let m = self.model;
        let c = &m.config;
        let t_n = tokens.len();
        if t_n == 0 {
            return Err(ForwardError::Empty);
        }
        if self.pos + t_n > c.max_position_embeddings {
            return Err(ForwardError::Position { pos: self.pos + t_n - 1, max: c.max_position_embeddings });
        }
        self.rope_tables(self.pos + t_n);
        let (d, hd, nh, nkv) = (c.hidden_size, c.head_dim, c.num_attention_heads, c.num_key_value_heads);
        let (qd, kvd, f) = (c.q_dim(), c.kv_dim(), c.intermediate_size);
        let eps = c.rms_norm_eps;
        let (sub_norms, gate) = (c.family.sub_norms(), c.family.gate());
        let mut x = vec![0f32; t_n * d];
        for (t, &tok) in tokens.iter().enumerate() {
            if tok as usize >= c.vocab_size {
                return Err(ForwardError::Token { token: tok, vocab: c.vocab_size });
            }
            x[t * d..(t + 1) * d].copy_from_slice(&m.embed[tok as usize * d..(tok as usize + 1) * d]);
        }
        let scale = (1.0 / (hd as f64).sqrt()) as f32;
        let group = nh / nkv;
        let p0 = self.pos;
        for (li, layer) in m.layers.iter().enumerate() {
            let id = |proj| LinearId { layer: li, proj };
            // attention
            let a = self.act(rmsnorm(&x, &layer.input_layernorm, eps), d);
            let mut q = self.linear(exec, id(Proj::Q), &a, phase)?;
            let mut k = self.linear(exec, id(Proj::K), &a, phase)?;
            let v = self.linear(exec, id(Proj::V), &a, phase)?;
            for t in 0..t_n {
                self.rope(&mut q[t * qd..(t + 1) * qd], nh, p0 + t);
                self.rope(&mut k[t * kvd..(t + 1) * kvd], nkv, p0 + t);
            }
            self.k[li].extend_from_slice(&k);
            self.v[li].extend_from_slice(&v);
            let (kc, vc) = (&self.k[li], &self.v[li]);
            let mut o = vec![0f32; t_n * qd];
            let mut sc = vec![0f32; p0 + t_n];
            for t in 0..t_n {
                let n = p0 + t + 1; // causal: positions 0..=p0+t
                for h in 0..nh {
                    let kvh = h / group;
                    let qv = &q[t * qd + h * hd..t * qd + (h + 1) * hd];
                    let mut mx = f32::NEG_INFINITY;
                    for j in 0..n {
                        let s = dot_f32(qv, &kc[j * kvd + kvh * hd..j * kvd + (kvh + 1) * hd]) * scale;
                        sc[j] = s;
                        mx = mx.max(s);
                    }
                    for s in &mut sc[..n] {
                        *s = (*s - mx).exp();
                    }
                    let sum = pairwise_sum(&sc[..n]);
                    let ov = &mut o[t * qd + h * hd..t * qd + (h + 1) * hd];
                    for j in 0..n {
                        let p = sc[j] / sum;
                        let vv = &vc[j * kvd + kvh * hd..j * kvd + (kvh + 1) * hd];
                        for (d, &w) in ov.iter_mut().zip(vv) {
                            *d += p * w;
                        }
                    }
                }
            }
            let o = if sub_norms { rmsnorm(&o, &layer.attn_sub_norm, eps) } else { o };
            let oq = self.act(o, qd);
            let y = self.linear(exec, id(Proj::O), &oq, phase)?;
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            // feed-forward
            let h = self.act(rmsnorm(&x, &layer.post_attention_layernorm, eps), d);
            let g = self.linear(exec, id(Proj::Gate), &h, phase)?;
            let u = self.linear(exec, id(Proj::Up), &h, phase)?;
            let z: Vec<f32> = match gate {
                Gate::Relu2 => g
                    .iter()
                    .zip(&u)
                    .map(|(&g, &u)| {
                        let r = g.max(0.0);
                        (r * r) * u
                    })
                    .collect(),
                Gate::Silu => g.iter().zip(&u).map(|(&g, &u)| (g / (1.0 + (-g).exp())) * u).collect(),
            };
            let z = if sub_norms { rmsnorm(&z, &layer.ffn_sub_norm, eps) } else { z };
            let zq = self.act(z, f);
            let y = self.linear(exec, id(Proj::Down), &zq, phase)?;
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
        }
        self.pos += t_n;
        let rows = if all_logits { 0..t_n } else { t_n - 1..t_n };
        let vocab = c.vocab_size;
        let mut logits = Vec::with_capacity(rows.len() * vocab);
        for t in rows {
            let xn = rmsnorm(&x[t * d..(t + 1) * d], &m.norm, eps);
            logits.extend((0..vocab).map(|o| dot_f32(&m.lm_head[o * d..(o + 1) * d], &xn)));
        }
        Ok(logits)
    }
}
