//! Executors: who computes a BitLinear's integer product `y[b][o] = sum_i W[o][i] * x[b][i]`.
//!
//! The forward pass hands every BitLinear call (int8 activations of a batch of tokens, the
//! packed ternary weights) to an `Executor` and gets exact int32 results back. Two kinds:
//! - `AccelExec` wraps a `tern_arch::Backend` (golden model or Verilator RTL): it compiles the
//!   call with `tern_fw::compile_bitlinear` (a whole prompt is one batch, so each weight tile is
//!   loaded once and reused by every prompt token), runs it, assembles the result stream, and
//!   accumulates the backend's cycles and event counters, prefill and decode separately.
//! - `HostExec` computes the same integers on the host CPU (for `tern eval`: 16 KB of text
//!   through a cycle-level model would take hours).
//!
//! `Recorder` wraps any executor and keeps every call's int32 results (the hook the golden vs
//! RTL test uses to name the first layer that differs).

use crate::model::Proj;
use std::fmt;
use std::time::{Duration, Instant};
use tern_arch::config::Accel;
use tern_arch::golden::Counters;
use tern_arch::pack::TernaryMatrix;
use tern_arch::{Backend, BackendError, Stalls, Status};

/// Which BitLinear a call computes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct LinearId {
    pub layer: usize,
    pub proj: Proj,
}

impl fmt::Display for LinearId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "layer {} {}", self.layer, self.proj.hf_name())
    }
}

/// Prompt processing (a batch of tokens per call) or token-by-token generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Prefill,
    Decode,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    #[error("{id}: {source}")]
    Backend { id: LinearId, source: BackendError },
    #[error("{id}: firmware: {msg}")]
    Firmware { id: LinearId, msg: String },
    #[error("{id}: the {backend} backend stopped with status `{status}`{why}")]
    Stopped { id: LinearId, backend: &'static str, status: &'static str, why: String },
}

/// Computes exact int32 BitLinear products.
pub trait Executor {
    /// "host", "golden", "verilator".
    fn name(&self) -> &'static str;
    /// `x` is row-major `batch x w.inp`; the result is row-major `batch x w.out`.
    fn matmul(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, phase: Phase) -> Result<Vec<i32>, ExecError>;
}

// ------------------------------------------------------------------------------------ host

/// The host CPU: weights unpacked to i8 once per BitLinear (host memory only; the device side
/// never holds an unpacked copy), then plain integer dot products that the compiler vectorizes.
#[derive(Default)]
pub struct HostExec {
    cache: Vec<Option<Vec<i8>>>,
}

impl HostExec {
    pub fn new() -> HostExec {
        HostExec::default()
    }

    fn unpacked(&mut self, id: LinearId, w: &TernaryMatrix) -> &[i8] {
        let i = id.layer * Proj::ALL.len() + id.proj as usize;
        if self.cache.len() <= i {
            self.cache.resize(i + 1, None);
        }
        let slot = &mut self.cache[i];
        if slot.as_ref().is_none_or(|v| v.len() != w.out * w.inp) {
            let mut u = vec![0i8; w.out * w.inp];
            for o in 0..w.out {
                for (c, d) in u[o * w.inp..(o + 1) * w.inp].iter_mut().enumerate() {
                    *d = w.get(o, c);
                }
            }
            *slot = Some(u);
        }
        slot.as_deref().unwrap_or_default()
    }
}

#[inline]
fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i16 as i32 * y as i16 as i32).sum()
}

/// `y = W x` for a batch, int32 exact. Blocks of output rows stay in cache across the batch.
pub fn host_matmul(w: &[i8], out: usize, inp: usize, x: &[i8], batch: usize) -> Vec<i32> {
    let mut y = vec![0i32; batch * out];
    const BLOCK: usize = 32;
    for o0 in (0..out).step_by(BLOCK) {
        let o1 = (o0 + BLOCK).min(out);
        for b in 0..batch {
            let xb = &x[b * inp..(b + 1) * inp];
            for o in o0..o1 {
                y[b * out + o] = dot_i8(&w[o * inp..(o + 1) * inp], xb);
            }
        }
    }
    y
}

impl Executor for HostExec {
    fn name(&self) -> &'static str {
        "host"
    }
    fn matmul(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, _phase: Phase) -> Result<Vec<i32>, ExecError> {
        let (out, inp) = (w.out, w.inp);
        if x.len() != batch * inp {
            return Err(ExecError::Firmware { id, msg: format!("{} activations for batch {batch} x {inp}", x.len()) });
        }
        let u = self.unpacked(id, w);
        Ok(host_matmul(u, out, inp, x, batch))
    }
}

// ------------------------------------------------------------------------------ accelerator

/// What one phase (prefill or decode) cost on the accelerator.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize)]
pub struct PhaseStats {
    /// Sum of the backend's counters over every BitLinear call of the phase.
    pub counters: Counters,
    /// BitLinear calls (programs run).
    pub calls: u64,
    /// Useful ternary MACs (out * in * batch summed over calls).
    pub macs: u64,
    /// Host wall time spent compiling and running the programs.
    #[serde(serialize_with = "ser_secs")]
    pub wall: Duration,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl PhaseStats {
    /// Useful MACs / (cycles x R x L).
    pub fn utilization(&self, a: &Accel) -> f64 {
        if self.counters.cycles == 0 {
            return 0.0;
        }
        self.macs as f64 / (self.counters.cycles as f64 * a.macs_per_cycle as f64)
    }
    /// Weight bytes moved over the host link (each weight word is 2L bits).
    pub fn weight_bytes(&self, a: &Accel) -> u64 {
        self.counters.wwords * a.wword_bits as u64 / 8
    }
}

/// The accelerator (any `Backend`) as an executor.
pub struct AccelExec {
    backend: Box<dyn Backend>,
    accel: Accel,
    pub prefill: PhaseStats,
    pub decode: PhaseStats,
    /// Watchdog per program, in cycles.
    pub max_cycles: u64,
}

impl AccelExec {
    pub fn new(backend: Box<dyn Backend>) -> AccelExec {
        let accel = backend.accel().clone();
        AccelExec { backend, accel, prefill: PhaseStats::default(), decode: PhaseStats::default(), max_cycles: u64::MAX }
    }
    pub fn accel(&self) -> &Accel {
        &self.accel
    }
    pub fn backend_name(&self) -> &'static str {
        self.backend.name()
    }
    /// Where the cycle counts come from, for reports.
    pub fn cycles_source(&self) -> &'static str {
        crate::backend::cycles_source(self.backend.name())
    }
    pub fn reset_stats(&mut self) {
        self.prefill = PhaseStats::default();
        self.decode = PhaseStats::default();
    }
}

impl Executor for AccelExec {
    fn name(&self) -> &'static str {
        self.backend.name()
    }
    /// A K beyond the accumulator's `max_k` runs as several programs over column ranges (each
    /// a multiple of L), whose int32 results the host adds exactly; the counters add up.
    fn matmul(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, phase: Phase) -> Result<Vec<i32>, ExecError> {
        let max_k = self.accel.cfg.max_k as usize;
        if w.inp <= max_k {
            return self.run_program(id, w, x, batch, phase);
        }
        if x.len() != batch * w.inp {
            return Err(ExecError::Firmware { id, msg: format!("{} activations for batch {batch} x {}", x.len(), w.inp) });
        }
        let lanes = self.accel.cfg.lanes as usize;
        let chunk = (max_k / lanes * lanes).max(lanes);
        let mut sum = vec![0i64; batch * w.out];
        for c0 in (0..w.inp).step_by(chunk) {
            let c1 = (c0 + chunk).min(w.inp);
            let k = c1 - c0;
            let ws: Vec<i8> = (0..w.out).flat_map(|o| (c0..c1).map(move |c| w.get(o, c))).collect();
            let sub = TernaryMatrix::from_weights(&ws, w.out, k).map_err(|e| ExecError::Firmware { id, msg: e.to_string() })?;
            let xs: Vec<i8> = (0..batch).flat_map(|b| x[b * w.inp + c0..b * w.inp + c1].iter().copied()).collect();
            let y = self.run_program(id, &sub, &xs, batch, phase)?;
            sum.iter_mut().zip(&y).for_each(|(s, &v)| *s += v as i64);
        }
        sum.into_iter()
            .map(|v| i32::try_from(v).map_err(|_| ExecError::Firmware { id, msg: format!("a K-split sum {v} does not fit in 32 bits") }))
            .collect()
    }
}

impl AccelExec {
    fn run_program(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, phase: Phase) -> Result<Vec<i32>, ExecError> {
        let t0 = Instant::now();
        let p = tern_fw::compile_bitlinear(&self.accel, w, x, batch).map_err(|e| ExecError::Firmware { id, msg: e.to_string() })?;
        let r = self.backend.run(&p.beats, &Stalls::NONE, self.max_cycles).map_err(|source| ExecError::Backend { id, source })?;
        if r.status != Status::Halted || r.stopped.is_some() {
            return Err(ExecError::Stopped {
                id,
                backend: self.backend.name(),
                status: r.status.describe(),
                why: r.stopped.map(|s| format!(" ({s:?})")).unwrap_or_default(),
            });
        }
        let y = p.assemble(&r.results).map_err(|e| ExecError::Firmware { id, msg: e.to_string() })?;
        let st = match phase {
            Phase::Prefill => &mut self.prefill,
            Phase::Decode => &mut self.decode,
        };
        st.counters.add(&r.counters);
        st.calls += 1;
        st.macs += (w.out * w.inp * batch) as u64;
        st.wall += t0.elapsed();
        Ok(y)
    }
}

// -------------------------------------------------------------------------------- recording

/// One recorded BitLinear call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntRecord {
    pub id: LinearId,
    pub phase: Phase,
    pub batch: usize,
    /// Row-major `batch x out`.
    pub y: Vec<i32>,
}

/// Wraps an executor and records every call's int32 results.
pub struct Recorder<'a> {
    pub inner: &'a mut dyn Executor,
    pub records: Vec<IntRecord>,
}

impl<'a> Recorder<'a> {
    pub fn new(inner: &'a mut dyn Executor) -> Recorder<'a> {
        Recorder { inner, records: Vec::new() }
    }
}

impl Executor for Recorder<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn matmul(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, phase: Phase) -> Result<Vec<i32>, ExecError> {
        let y = self.inner.matmul(id, w, x, batch, phase)?;
        self.records.push(IntRecord { id, phase, batch, y: y.clone() });
        Ok(y)
    }
}

/// The first difference between two recordings, described for a person
/// (`call 45 (decode, step 1): layer 3 mlp.up_proj, token 0, output 17: golden 12 vs verilator 13`),
/// or `None` when they are identical.
pub fn first_difference(a_name: &str, a: &[IntRecord], b_name: &str, b: &[IntRecord]) -> Option<String> {
    let mut decode_step: i64 = -1;
    for (i, (ra, rb)) in a.iter().zip(b).enumerate() {
        if ra.phase == Phase::Decode && ra.id.layer == 0 && ra.id.proj == Proj::Q {
            decode_step += 1;
        }
        let at = match ra.phase {
            Phase::Prefill => "prefill".to_string(),
            Phase::Decode => format!("decode, step {decode_step}"),
        };
        if ra.id != rb.id || ra.batch != rb.batch || ra.y.len() != rb.y.len() {
            return Some(format!(
                "call {i} ({at}): {a_name} ran {} batch {} ({} results), {b_name} ran {} batch {} ({} results)",
                ra.id,
                ra.batch,
                ra.y.len(),
                rb.id,
                rb.batch,
                rb.y.len()
            ));
        }
        if let Some(k) = ra.y.iter().zip(&rb.y).position(|(x, y)| x != y) {
            let out = ra.y.len() / ra.batch.max(1);
            return Some(format!(
                "call {i} ({at}): {}, token {}, output {}: {a_name} {} vs {b_name} {}",
                ra.id,
                k / out,
                k % out,
                ra.y[k],
                rb.y[k]
            ));
        }
    }
    if a.len() != b.len() {
        return Some(format!("{a_name} made {} BitLinear calls, {b_name} {}", a.len(), b.len()));
    }
    None
}
