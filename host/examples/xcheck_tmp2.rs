use tern_host::model::Model;
use tern_host::transformer::{pairwise_sum, rmsnorm};
fn rd(p: &str) -> Vec<f32> { std::fs::read(p).unwrap().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect() }
fn main() {
    let m = Model::load(std::path::Path::new("/tmp/rand-model")).unwrap();
    let x = rd("/tmp/xcheck/x33.f32");
    let want = rd("/tmp/xcheck/y33.f32");
    let sq: Vec<f32> = x.iter().map(|v| v * v).collect();
    println!("sum {:?} ms {:?}", pairwise_sum(&sq), pairwise_sum(&sq) / 256.0);
    let y = rmsnorm(&x, &m.layers[1].input_layernorm, 1e-5);
    let nd = y.iter().zip(&want).filter(|(a, b)| a != b).count();
    println!("{nd} differing of 256");
    let mut q1 = vec![0i8; 256]; let mut q2 = vec![0i8; 256];
    let s1 = tern_arch::quant::act_int8_into(&y, &mut q1);
    let s2 = tern_arch::quant::act_int8_into(&want, &mut q2);
    println!("s {s1} {s2}; xq diffs {:?}", q1.iter().zip(&q2).enumerate().filter(|(_, (a, b))| a != b).collect::<Vec<_>>());
    let b = std::fs::read("/tmp/xcheck/acc.bin").unwrap();
    let mut want_acc: Vec<Vec<i32>> = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let n = i32::from_le_bytes(b[i..i + 4].try_into().unwrap()) as usize;
        i += 4;
        want_acc.push(b[i..i + 4 * n].chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect());
        i += 4 * n;
    }
    let w = &m.layers[1].proj[0].w;
    let acc = tern_fw::reference_matmul(w, &q2, 1);
    let np = &want_acc[7][33 * 256..34 * 256];
    println!("acc from numpy's y33 vs numpy acc: {} diffs", acc.iter().zip(np).filter(|(a, b)| a != b).count());
    // also: the previous layer's first token rows equal?
    for (i, (a, b)) in q1.iter().zip(&q2).enumerate() { if a != b { println!("i {i}: y {:e} x*s {:e} {:e}", y[i], y[i] * s1, want[i] * s2); } }
}
#[allow(dead_code)]
fn unused() {}
