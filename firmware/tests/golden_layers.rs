//! The compiled programs, executed by the golden model, equal the plain integer matmul.
use proptest::prelude::*;
use tern_arch::config::{AccelConfig, TINY};
use tern_arch::pack::TernaryMatrix;
use tern_arch::{Golden, Stalls, Status};
use tern_fw::{compile_bitlinear, reference_matmul};

fn check(cfg: &AccelConfig, out: usize, inp: usize, batch: usize, seed: u64) {
    let a = cfg.validate().unwrap();
    let mut s = seed;
    let mut rnd = || {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (s >> 33) as u32
    };
    let w: Vec<i8> = (0..out * inp).map(|_| (rnd() % 3) as i8 - 1).collect();
    let x: Vec<i8> = (0..batch * inp).map(|_| rnd() as u8 as i8).collect();
    let w = TernaryMatrix::from_weights(&w, out, inp).unwrap();
    let p = compile_bitlinear(&a, &w, &x, batch).unwrap();
    let mut g = Golden::new(&a);
    let r = g.run(&p.beats, &Stalls::NONE, 100_000_000);
    assert_eq!(r.status, Status::Halted, "{:?}", r.stopped);
    assert_eq!(p.assemble(&r.results).unwrap(), reference_matmul(&w, &x, batch));
}

#[test]
fn tiny_layers() {
    check(&TINY, 8, 32, 1, 1);
    check(&TINY, 7, 33, 3, 2);
    check(&TINY, 64, 300, 5, 3);
    check(&AccelConfig { double_buffer: false, ..TINY }, 9, 50, 2, 4);
    // K beyond one half: segments with partial sums
    check(&AccelConfig { wmem_depth: 8, amem_depth: 8, ..TINY }, 12, 200, 3, 5);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    #[test]
    fn random_layers(out in 1usize..40, inp in 1usize..200, batch in 1usize..6, seed: u64, db: bool, h64: bool) {
        let cfg = AccelConfig { double_buffer: db, host_bits: if h64 { 64 } else { 32 }, lanes: if h64 { 32 } else { 16 }, wmem_depth: 16, amem_depth: 32, ..TINY };
        check(&cfg, out, inp, batch, seed);
    }
}
