//! Loss in nats per byte, with the windowing of `models/train.py` and `models/export.py`:
//! non-overlapping windows of `window` bytes from offset 0 (a last partial window of >= 2 bytes
//! included), each an independent sequence from position 0; position t predicts byte t+1 of the
//! same window (the first byte of a window has no prediction); the loss is the mean of
//! -log_softmax(logits)[target] over all predictions, log-softmax in f64 of the f32 logits.

use crate::exec::{Executor, HostExec, Phase};
use crate::model::Model;
use crate::transformer::{ForwardError, Session};

#[derive(Clone, Debug, serde::Serialize)]
pub struct EvalResult {
    pub loss_nats_per_byte: f64,
    pub predictions: usize,
    pub bytes: usize,
    pub windows: usize,
}

/// The windows of `data`.
pub fn windows(data: &[u8], window: usize) -> Vec<&[u8]> {
    data.chunks(window.max(2)).filter(|w| w.len() >= 2).collect()
}

/// Summed negative log-likelihood of one window and its prediction count.
pub fn window_nll(model: &Model, exec: &mut dyn Executor, w: &[u8]) -> Result<(f64, usize), ForwardError> {
    let mut s = Session::new(model);
    let toks: Vec<u32> = w[..w.len() - 1].iter().map(|&b| b as u32).collect();
    let logits = s.forward(exec, &toks, Phase::Prefill, true)?;
    let v = model.config.vocab_size;
    let mut nll = 0f64;
    for (t, &target) in w[1..].iter().enumerate() {
        let l = &logits[t * v..(t + 1) * v];
        let mx = l.iter().fold(f64::NEG_INFINITY, |m, &x| m.max(x as f64));
        let lse = mx + l.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>().ln();
        nll += lse - l[target as usize] as f64;
    }
    Ok((nll, w.len() - 1))
}

/// Evaluate with one executor, window after window. `progress(done, total)` after each.
pub fn eval(
    model: &Model,
    exec: &mut dyn Executor,
    data: &[u8],
    window: usize,
    mut progress: impl FnMut(usize, usize),
) -> Result<EvalResult, ForwardError> {
    let ws = windows(data, window);
    let (mut tot, mut n) = (0f64, 0usize);
    for (i, w) in ws.iter().enumerate() {
        let (l, k) = window_nll(model, exec, w)?;
        tot += l;
        n += k;
        progress(i + 1, ws.len());
    }
    Ok(EvalResult { loss_nats_per_byte: tot / n.max(1) as f64, predictions: n, bytes: data.len(), windows: ws.len() })
}

/// Evaluate on the host CPU with `threads` workers (each its own `HostExec`). The result does
/// not depend on the thread count: per-window sums are added in window order.
pub fn eval_host(
    model: &Model,
    data: &[u8],
    window: usize,
    threads: usize,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<EvalResult, ForwardError> {
    let ws = windows(data, window);
    let threads = threads.clamp(1, ws.len().max(1));
    let done = std::sync::atomic::AtomicUsize::new(0);
    // per worker: (window index, summed nll, predictions) or the first error
    type Part = Result<Vec<(usize, f64, usize)>, ForwardError>;
    let mut parts: Vec<Part> = Vec::new();
    std::thread::scope(|sc| {
        let hs: Vec<_> = (0..threads)
            .map(|ti| {
                let (ws, done) = (&ws, &done);
                sc.spawn(move || {
                    let mut exec = HostExec::new();
                    let mut out = Vec::new();
                    for i in (ti..ws.len()).step_by(threads) {
                        let (l, k) = window_nll(model, &mut exec, ws[i])?;
                        out.push((i, l, k));
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
    let n: usize = all.iter().map(|r| r.2).sum();
    Ok(EvalResult { loss_nats_per_byte: tot / n.max(1) as f64, predictions: n, bytes: data.len(), windows: ws.len() })
}
