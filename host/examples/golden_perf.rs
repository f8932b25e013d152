//! Profile target: the golden model on a decode and a prefill layer (`perf record`).
use std::time::Instant;
use tern_arch::{AccelConfig, Golden, Stalls};

fn main() {
    let which = std::env::args().nth(1).unwrap_or("decode".into());
    if which == "loads" {
        return loads_only();
    }
    let a = AccelConfig::preset("tiny").unwrap().validate().unwrap();
    let (out, inp, batch) = if which == "decode" { (256, 1024, 1) } else { (512, 512, 64) };
    let (w, x) = tern_host::layer::random_layer(out, inp, batch, 1);
    let p = tern_fw::compile_bitlinear(&a, &w, &x, batch).unwrap();
    let mut g = Golden::new(&a);
    let t = Instant::now();
    let mut cycles = 0;
    for _ in 0..400 {
        cycles += g.run(&p.beats, &Stalls::NONE, u64::MAX).counters.cycles;
    }
    println!("{which}: {:.3e} cycles/s", cycles as f64 / t.elapsed().as_secs_f64());
}

#[allow(dead_code)]
fn loads_only() {
    use tern_arch::isa::Insn;
    let a = AccelConfig::preset("tiny").unwrap().validate().unwrap();
    let mut beats = vec![];
    for _ in 0..64 {
        beats.push(Insn::LoadW { addr: 0, count: 64 }.encode() as u64);
        beats.extend(std::iter::repeat_n(0x5555_5555u64, 256));
    }
    beats.push(Insn::Halt.encode() as u64);
    let mut g = Golden::new(&a);
    let t = Instant::now();
    let mut cycles = 0;
    for _ in 0..400 {
        cycles += g.run(&beats, &Stalls::NONE, u64::MAX).counters.cycles;
    }
    println!("loads only: {:.3e} cycles/s", cycles as f64 / t.elapsed().as_secs_f64());
}
