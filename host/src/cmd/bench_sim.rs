use crate::backend::BackendKind;
use anyhow::Result;
use serde::Serialize;
use std::time::Instant;
use tern_arch::{Backend, Stalls};

/// Simulation speed: golden and Verilator cycles/second on a decode and a prefill layer.
#[derive(clap::Args)]
pub struct Args {
    /// Presets to measure (comma separated).
    #[arg(long, default_value = "tiny,ecp5-85f", value_delimiter = ',')]
    pub presets: Vec<String>,
    /// Seconds to spend per measurement (the best of three equal intervals counts).
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
pub struct Row {
    pub preset: String,
    pub layer: String,
    pub cycles: u64,
    pub utilization: f64,
    pub golden_cycles_per_s: f64,
    pub verilator_cycles_per_s: f64,
    pub golden_speedup: f64,
    /// The golden model's dot-product kernel on this machine (`tern_arch::dot`).
    pub golden_kernel: String,
}

/// Cycles of one run and the best cycles/s of three intervals of `min_s / 3` seconds each (on
/// a shared VM one interval can lose a third of its speed to a neighbour; both backends are
/// measured alike).
fn measure(b: &mut dyn Backend, beats: &[u64], min_s: f64) -> Result<(u64, f64)> {
    let mut cycles = 0;
    let mut best = 0f64;
    for _ in 0..3 {
        let t = Instant::now();
        let mut runs = 0u64;
        while runs == 0 || t.elapsed().as_secs_f64() < min_s / 3.0 {
            cycles = b.run(beats, &Stalls::NONE, u64::MAX)?.counters.cycles;
            runs += 1;
        }
        best = best.max((cycles * runs) as f64 / t.elapsed().as_secs_f64());
    }
    Ok((cycles, best))
}

pub fn run(args: Args) -> Result<()> {
    let mut rows = Vec::new();
    for p in &args.presets {
        let a = super::preset(p)?;
        let (r, l) = (a.cfg.rows as usize, a.cfg.lanes as usize);
        // decode: one token through a 1024-wide layer; prefill: enough tokens to hide loading
        let shapes = [("decode", 8 * r, 64 * l, 1), ("prefill", 128 * r, 16 * l, (a.cfg.max_batch as usize).min(64))];
        for (kind, out, inp, batch) in shapes {
            let (w, x) = crate::layer::random_layer(out, inp, batch, 1);
            let prog = tern_fw::compile_bitlinear(&a, &w, &x, batch).map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut g = BackendKind::Golden.open(&a)?;
            let mut v = BackendKind::Verilator.open(&a)?;
            let (cycles, gcps) = measure(g.as_mut(), &prog.beats, args.seconds)?;
            let (vc, vcps) = measure(v.as_mut(), &prog.beats, args.seconds)?;
            anyhow::ensure!(vc == cycles, "golden and RTL disagree on cycles ({cycles} vs {vc})");
            let macs = (out * inp * batch) as f64;
            rows.push(Row {
                preset: p.clone(),
                layer: format!("{kind} {out}x{inp} batch {batch}"),
                cycles,
                utilization: macs / (cycles as f64 * a.macs_per_cycle as f64),
                golden_cycles_per_s: gcps,
                verilator_cycles_per_s: vcps,
                golden_speedup: gcps / vcps,
                golden_kernel: format!("{:?}", tern_arch::dot::Kernel::best(a.cfg.lanes)),
            });
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        println!(
            "{:<11} {:<30} {:>10} {:>6} {:>14} {:>14} {:>8}  golden kernel",
            "preset", "layer", "cycles", "util", "golden cyc/s", "verilator cyc/s", "speedup"
        );
        for r in &rows {
            println!(
                "{:<11} {:<30} {:>10} {:>6.3} {:>14.3e} {:>14.3e} {:>7.1}x  {}",
                r.preset,
                r.layer,
                r.cycles,
                r.utilization,
                r.golden_cycles_per_s,
                r.verilator_cycles_per_s,
                r.golden_speedup,
                r.golden_kernel
            );
        }
    }
    Ok(())
}
