//! The RTL (Verilator) against the golden model: results, cycles, counters, exactly.
use crate::common::*;
use tern_arch::config::{AccelConfig, TINY};
use tern_arch::{Stalls, Status};
use tern_fw::{compile_bitlinear, reference_matmul};

fn layer(cfg: &AccelConfig, out: usize, inp: usize, batch: usize, seed: u64, stalls: Stalls) {
    let a = cfg.validate().unwrap();
    let (w, x) = random_layer(out, inp, batch, seed);
    let p = compile_bitlinear(&a, &w, &x, batch).unwrap();
    // memories persist across runs: reset both sides' memories by using fresh golden and
    // loading everything the program reads (every program loads what it uses).
    let (g, r) = run_both(&a, cfg, &p.beats, &stalls, 50_000_000);
    let what = format!("{} {out}x{inp} b{batch} seed {seed}", cfg.name);
    assert_same(&what, &g, &r);
    assert_eq!(g.status, Status::Halted, "{what}");
    assert_eq!(p.assemble(&r.results).unwrap(), reference_matmul(&w, &x, batch), "{what}");
}

#[test]
fn tiny_smoke() {
    layer(&TINY, 8, 64, 1, 1, Stalls::NONE);
    layer(&TINY, 13, 100, 3, 2, Stalls::NONE);
}

#[test]
fn tiny_stalls() {
    layer(&TINY, 13, 100, 3, 3, Stalls::new(9, 0.3, 0.5));
}

