//! Wall time and cycles per token of the transformer on the golden model and on Verilator,
//! as prompt length and model size grow (random models of the tiny-shakespeare shape family;
//! cycles depend only on shapes, not on weight values).
//!
//!     cargo run --release -p tern-host --example model_bench [-- --quick] [-- --write DIR]
//!
//! `--write DIR [--arch NAME]` only writes a random model to DIR/model.safetensors, of the
//! tiny-shakespeare shape or of a named one (`tern project --arch` lists them; e.g.
//! bitnet-b1.58-2b4t, 3.5 GB, for an end-to-end run at a real model's size).

use std::time::Instant;
use tern_host::backend::BackendKind;
use tern_host::exec::{AccelExec, Executor, HostExec, Phase};
use tern_host::model::{Model, ModelConfig};
use tern_host::transformer::Session;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--write") {
        let dir = std::path::PathBuf::from(args.get(i + 1).map(String::as_str).unwrap_or("out/random-model"));
        std::fs::create_dir_all(&dir)?;
        let cfg = match args.iter().position(|a| a == "--arch").and_then(|j| args.get(j + 1)) {
            Some(name) => ModelConfig::named(name).ok_or_else(|| anyhow::anyhow!("unknown --arch `{name}`"))?,
            None => ModelConfig::tiny_shakespeare(),
        };
        let m = Model::random(&cfg, 1);
        m.save(&dir.join("model.safetensors"))?;
        println!("wrote {}", dir.join("model.safetensors").display());
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    let a = tern_arch::AccelConfig::preset("tiny")?.validate()?;
    let base = ModelConfig::tiny_shakespeare();
    let mut sizes = vec![(
        "d=128 L=2",
        ModelConfig {
            hidden_size: 128,
            intermediate_size: 384,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            num_key_value_heads: 1,
            ..base.clone()
        },
    )];
    sizes.push(("d=256 L=6 (tiny-shakespeare)", base.clone()));
    if !quick {
        sizes.push((
            "d=512 L=6",
            ModelConfig { hidden_size: 512, intermediate_size: 1536, num_attention_heads: 8, num_key_value_heads: 4, ..base.clone() },
        ));
    }
    let prompts: &[usize] = if quick { &[1, 8] } else { &[1, 8, 32, 64] };
    println!(
        "| model | weights (M) | backend | prompt | prefill cycles | prefill wall s | cycles/prompt token | decode cycles/token | decode wall s/token | host exec wall s/token |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, cfg) in &sizes {
        let m = Model::random(cfg, 7);
        for kind in [BackendKind::Golden, BackendKind::Verilator] {
            for &p in prompts {
                let mut exec = AccelExec::new(kind.open(&a)?);
                let toks: Vec<u32> = (0..p as u32).map(|i| (i * 37 + 11) % 256).collect();
                let mut s = Session::new(&m);
                let t0 = Instant::now();
                s.forward(&mut exec, &toks, Phase::Prefill, false)?;
                let pw = t0.elapsed().as_secs_f64();
                let steps = if quick { 2 } else { 4 };
                let t1 = Instant::now();
                for i in 0..steps {
                    s.forward(&mut exec, &[(i * 13 + 5) % 256], Phase::Decode, false)?;
                }
                let dw = t1.elapsed().as_secs_f64() / steps as f64;
                // host integer executor for comparison
                let mut h = HostExec::new();
                let mut sh = Session::new(&m);
                sh.forward(&mut h, &toks, Phase::Prefill, false)?;
                let t2 = Instant::now();
                for i in 0..steps {
                    sh.forward(&mut h as &mut dyn Executor, &[(i * 13 + 5) % 256], Phase::Decode, false)?;
                }
                let hw = t2.elapsed().as_secs_f64() / steps as f64;
                println!(
                    "| {name} | {:.2} | {} | {p} | {} | {pw:.3} | {:.0} | {:.0} | {dw:.3} | {hw:.5} |",
                    cfg.ternary_weights() as f64 / 1e6,
                    kind.name(),
                    exec.prefill.counters.cycles,
                    exec.prefill.counters.cycles as f64 / p as f64,
                    exec.decode.counters.cycles as f64 / steps as f64,
                );
            }
        }
    }
    Ok(())
}
