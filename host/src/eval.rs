//! Loss in nats per byte, with the windowing of `models/train.py` and `models/export.py`:
//! non-overlapping windows of `window` tokens from offset 0 (a last partial window of >= 2
//! tokens included), each an independent sequence from position 0; position t predicts token
//! t+1 of the same window (the first token of a window has no prediction); the loss is the mean
//! of -log_softmax(logits)[target], log-softmax in f64 of the f32 logits.
//!
//! Byte models (the shipped one) see one token per byte, so "per token" is "per byte". A BPE
//! model's text is tokenized once; when its tokenizer has a BOS token every window starts with
//! it, so every token of the window is predicted; the loss per byte divides the summed
//! negative log-likelihood by the bytes of the predicted tokens, which makes the two kinds of
//! model comparable on the same text.

use crate::exec::{Executor, HostExec, Phase};
use crate::model::Model;
use crate::transformer::{ForwardError, Precision, Session};

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalResult {
    pub loss_nats_per_byte: f64,
    pub loss_nats_per_token: f64,
    /// exp(loss per token).
    pub perplexity: f64,
    /// Predicted tokens.
    pub predictions: usize,
    /// Bytes of the predicted tokens.
    pub predicted_bytes: usize,
    /// Bytes of text evaluated.
    pub bytes: usize,
    pub windows: usize,
}

/// One window: the tokens fed in and the token each position must predict.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub input: Vec<u32>,
    pub targets: Vec<u32>,
    /// Bytes of the targets.
    pub bytes: usize,
}

/// The windows of `data` for `model`'s tokenizer: `window` text tokens each.
pub fn windows(model: &Model, data: &[u8], window: usize) -> Result<Vec<Window>, ForwardError> {
    let v = &model.vocab;
    let toks = v.encode_bytes(data).map_err(|e| match e {
        crate::model::TextError::NotUtf8(e) => ForwardError::NotUtf8(e),
        crate::model::TextError::Tokenizer(e) => ForwardError::Tokenizer(e),
    })?;
    let bos = v.bos();
    Ok(toks
        .chunks(window.max(2))
        .filter(|w| w.len() >= 2 || (bos.is_some() && !w.is_empty()))
        .map(|w| {
            let (input, targets) = match bos {
                Some(b) => (std::iter::once(b).chain(w[..w.len() - 1].iter().copied()).collect(), w.to_vec()),
                None => (w[..w.len() - 1].to_vec(), w[1..].to_vec()),
            };
            let bytes = targets.iter().map(|&t| v.token_bytes(t).len()).sum();
            Window { input, targets, bytes }
        })
        .collect())
}

/// Summed negative log-likelihood of one window.
pub fn window_nll(model: &Model, exec: &mut dyn Executor, w: &Window, precision: Precision) -> Result<f64, ForwardError> {
    let mut s = Session::with_precision(model, precision)?;
    let logits = s.forward(exec, &w.input, Phase::Prefill, true)?;
    let v = model.config.vocab_size;
    let mut nll = 0f64;
    for (t, &target) in w.targets.iter().enumerate() {
        let l = &logits[t * v..(t + 1) * v];
        let mx = l.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
        let lse = mx + l.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>().ln();
        nll += lse - l[target as usize] as f64;
    }
    Ok(nll)
}

fn result(ws: &[Window], nll: f64, bytes: usize) -> EvalResult {
    let n: usize = ws.iter().map(|w| w.targets.len()).sum();
    let nb: usize = ws.iter().map(|w| w.bytes).sum();
    let per_token = nll / n.max(1) as f64;
    EvalResult {
        loss_nats_per_byte: nll / nb.max(1) as f64,
        loss_nats_per_token: per_token,
        perplexity: per_token.exp(),
        predictions: n,
        predicted_bytes: nb,
        bytes,
        windows: ws.len(),
    }
}

/// Evaluate with one executor, window after window. `progress(done, total)` after each.
pub fn eval(
    model: &Model,
    exec: &mut dyn Executor,
    data: &[u8],
    window: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalResult, ForwardError> {
    let ws = windows(model, data, window)?;
    let mut tot = 0f64;
    for (i, w) in ws.iter().enumerate() {
        tot += window_nll(model, exec, w, Precision::Ternary)?;
        progress(i + 1, ws.len());
    }
    Ok(result(&ws, tot, data.len()))
}

/// Evaluate on the host CPU with `threads` workers (each its own `HostExec`); a precision other
/// than `Ternary` runs on the model's f32 weights. The result does not depend on the thread count: per-window sums are
/// added in window order.
pub fn eval_host(
    model: &Model,
    data: &[u8],
    window: usize,
    threads: usize,
    precision: Precision,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<EvalResult, ForwardError> {
    let ws = windows(model, data, window)?;
    let threads = threads.clamp(1, ws.len().max(1));
    let done = std::sync::atomic::AtomicUsize::new(0);
    // per worker: (window index, summed nll) or the first error
    type Part = Result<Vec<(usize, f64)>, ForwardError>;
    let mut parts: Vec<Part> = Vec::new();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|ti| {
                let (ws, done) = (&ws, &done);
                sc.spawn(move || {
                    let mut exec = HostExec::new();
                    let mut out = Vec::new();
                    for i in (ti..ws.len()).step_by(threads) {
                        out.push((i, window_nll(model, &mut exec, &ws[i], precision)?));
                        let d = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        progress(d, ws.len());
                    }
                    Ok(out)
                })
            })
            .collect();
        parts = hs.into_iter().map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect();
    });
    let mut all = Vec::new();
    for p in parts {
        all.extend(p?);
    }
    all.sort_by_key(|r| r.0);
    let tot: f64 = all.iter().map(|r| r.1).sum();
    Ok(result(&ws, tot, data.len()))
}
