//! One random ternary BitLinear through a backend: `tern layer`.

use serde::Serialize;
use tern_arch::config::Accel;
use tern_arch::golden::{Counters, DerivedEvents};
use tern_arch::pack::TernaryMatrix;
use tern_arch::{Backend, Stalls, Status};

#[derive(Debug, Serialize)]
pub struct LayerReport {
    pub backend: String,
    pub preset: String,
    pub out_features: usize,
    pub in_features: usize,
    pub batch: usize,
    pub cycles: u64,
    /// Useful ternary MACs of the layer (out * in * batch).
    pub macs: u64,
    /// macs / (cycles * R * L).
    pub utilization: f64,
    pub results_crc32: String,
    pub counters: Counters,
    pub events: DerivedEvents,
    /// Whether the outputs equal the plain integer matmul computed on the host.
    pub matches_reference: bool,
    pub cycles_source: &'static str,
}

/// Deterministic random layer from a seed (splitmix64).
pub fn random_layer(out: usize, inp: usize, batch: usize, seed: u64) -> (TernaryMatrix, Vec<i8>) {
    let mut r = tern_arch::rng::SplitMix64::new(seed);
    let mut next = || r.next_u64();
    let w: Vec<i8> = (0..out * inp).map(|_| (next() % 3) as i8 - 1).collect();
    let x: Vec<i8> = (0..batch * inp).map(|_| next() as u8 as i8).collect();
    (TernaryMatrix::from_weights(&w, out, inp).expect("shape"), x)
}

pub fn run_layer(
    a: &Accel,
    backend: &mut dyn Backend,
    w: &TernaryMatrix,
    x: &[i8],
    batch: usize,
    stalls: &Stalls,
) -> anyhow::Result<(LayerReport, Vec<i32>)> {
    let p = tern_fw::compile_bitlinear(a, w, x, batch).map_err(|e| anyhow::anyhow!("{e}"))?;
    let r = backend.run(&p.beats, stalls, u64::MAX)?;
    if r.status != Status::Halted {
        anyhow::bail!("{} backend stopped with status `{}` ({:?})", backend.name(), r.status.describe(), r.stopped);
    }
    let y = p.assemble(&r.results).map_err(|e| anyhow::anyhow!("{e}"))?;
    let reference = tern_fw::reference_matmul(w, x, batch);
    let mut crc = crc32fast::Hasher::new();
    for v in &y {
        crc.update(&v.to_le_bytes());
    }
    let macs = (w.out * w.inp * batch) as u64;
    let cycles = r.counters.cycles;
    Ok((
        LayerReport {
            backend: backend.name().to_string(),
            preset: a.cfg.name.to_string(),
            out_features: w.out,
            in_features: w.inp,
            batch,
            cycles,
            macs,
            utilization: macs as f64 / (cycles as f64 * a.macs_per_cycle as f64),
            results_crc32: format!("{:08x}", crc.finalize()),
            counters: r.counters,
            events: r.counters.derived(a),
            matches_reference: y == reference,
            cycles_source: crate::backend::cycles_source(backend.name()),
        },
        y,
    ))
}
