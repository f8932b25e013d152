//! `tern project`: accelerator cost per token of real model shapes, from the golden cycle
//! model (exact for any weights: `tern_host::project`), on every preset.

use crate::energy::{clock, energy_per_token_j};
use crate::model::ModelConfig;
use crate::project::{Projection, project};
use crate::roofline::{Point, Roof, svg};
use anyhow::{Context, Result, bail};
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Model shapes (default: all of tiny-shakespeare, smollm2-135m, bitnet-b1.58-2b4t, bitnet-b1.58-3b).
    #[arg(long, value_delimiter = ',')]
    pub arch: Vec<String>,
    /// Also project a model file's shape (a .gguf, or a safetensors folder/file with its
    /// config.json; only the config is read), the flag repeated for several.
    #[arg(long)]
    pub model: Vec<std::path::PathBuf>,
    /// Presets, the flag repeated for several (default: all); a preset may override parameters:
    /// `--preset ecp5-85f:amem_depth=4096,max_batch=256`.
    #[arg(long)]
    pub preset: Vec<String>,
    /// Prompt length of the prefill projection (one batch per BitLinear).
    #[arg(long, default_value_t = 64)]
    pub prompt_tokens: usize,
    /// Also draw the roofline (one panel per model) as SVG here.
    #[arg(long)]
    pub svg: Option<std::path::PathBuf>,
    /// Also synthesize each preset that names an FPGA on that FPGA with yosys (no place and
    /// route): LUT4s, LUT4s per MAC and decode tokens/s per 1000 LUT4, for design-space
    /// exploration (about 15 s a preset on iCE40, minutes for ecp5-85f).
    #[arg(long)]
    pub area: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Unsupported {
    arch: String,
    preset: String,
    why: String,
}

#[derive(Serialize)]
struct Report {
    rows: Vec<Row>,
    unsupported: Vec<Unsupported>,
}

#[derive(Serialize)]
struct Row {
    arch: String,
    ternary_weights: u64,
    preset: String,
    rows: u32,
    lanes: u32,
    cycles_source: &'static str,
    decode_cycles_per_token: u64,
    decode_utilization: f64,
    prefill_cycles_per_token: f64,
    prefill_utilization: f64,
    weight_bytes_per_token: u64,
    clock_mhz: f64,
    clock_source: String,
    tokens_per_s: f64,
    energy_per_token_j: Option<f64>,
    /// With --area: the preset's LUT4s from yosys on its own FPGA (null: it names none).
    #[serde(skip_serializing_if = "Option::is_none")]
    area: Option<Option<Area>>,
    #[serde(flatten)]
    projection: Projection,
}

/// A preset's area on its own FPGA (`--area`).
#[derive(Clone, Serialize)]
struct Area {
    target: &'static str,
    luts: u64,
    lut4_per_mac: f64,
    source: String,
}

/// yosys alone (`tern synth --no-pnr`) on the preset's own device; `None` if it names none.
fn area_of(spec: &str) -> Result<Option<Area>> {
    let cfg = tern_arch::AccelConfig::preset(spec)?;
    let Some(device) = cfg.device else { return Ok(None) };
    let target = crate::synth::Target::of(device);
    let out = std::env::temp_dir().join(format!("tern-project-area-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    eprintln!("synthesizing {spec} on {} with yosys...", target.name());
    let opt = crate::synth::Options::yosys_only(out.clone());
    let rep = crate::synth::run(&cfg, &target, &opt).with_context(|| format!("synthesizing {spec} on {}", target.name()))?;
    let _ = std::fs::remove_dir_all(&out);
    Ok(Some(Area {
        target: target.name(),
        luts: rep.luts,
        lut4_per_mac: rep.lut4_per_mac,
        source: format!("yosys on {} (`tern synth --preset {spec} --no-pnr`)", target.name()),
    }))
}

pub fn run(args: Args) -> Result<()> {
    let mut shapes: Vec<(String, ModelConfig)> = Vec::new();
    let named: Vec<String> = if args.arch.is_empty() && args.model.is_empty() {
        ModelConfig::names().into_iter().map(String::from).collect()
    } else {
        args.arch.clone()
    };
    for name in &named {
        let Some(cfg) = ModelConfig::named(name) else {
            bail!("unknown --arch `{name}` (known: {})", ModelConfig::names().join(", "));
        };
        shapes.push((name.clone(), cfg));
    }
    for path in &args.model {
        let cfg = crate::model::config_of(path).with_context(|| format!("reading the config of {}", path.display()))?;
        shapes.push((path.display().to_string(), cfg));
    }
    let presets: Vec<String> =
        if args.preset.is_empty() { tern_arch::config::PRESETS.iter().map(|p| p.name.to_string()).collect() } else { args.preset.clone() };
    if args.prompt_tokens == 0 {
        bail!("--prompt-tokens must be at least 1");
    }
    let mut areas: std::collections::HashMap<String, Option<Area>> = std::collections::HashMap::new();
    if args.area {
        for p in &presets {
            super::preset(p)?;
            if !areas.contains_key(p) {
                areas.insert(p.clone(), area_of(p)?);
            }
        }
    }
    let mut rows = Vec::new();
    // shapes a preset cannot run (a K beyond its accumulator's max_k): named, not fatal
    let mut unsupported: Vec<Unsupported> = Vec::new();
    for (name, cfg) in &shapes {
        for p in &presets {
            let a = super::preset(p)?;
            eprintln!("projecting {name} on {p}...");
            let pr = match project(cfg, &a, args.prompt_tokens) {
                Ok(pr) => pr,
                Err(e) => {
                    unsupported.push(Unsupported { arch: name.clone(), preset: a.cfg.name.to_string(), why: e.to_string() });
                    continue;
                }
            };
            let dc = pr.decode.counters.cycles;
            let ck = clock(&a, None);
            rows.push(Row {
                arch: name.clone(),
                ternary_weights: cfg.ternary_weights(),
                preset: a.cfg.name.to_string(),
                rows: a.cfg.rows,
                lanes: a.cfg.lanes,
                cycles_source: "cycle model (golden), one run per BitLinear shape x layers",
                decode_cycles_per_token: dc,
                decode_utilization: pr.decode.utilization(&a),
                prefill_cycles_per_token: pr.prefill.counters.cycles as f64 / args.prompt_tokens as f64,
                prefill_utilization: pr.prefill.utilization(&a),
                weight_bytes_per_token: pr.decode.weight_bytes(&a),
                tokens_per_s: ck.mhz * 1e6 / dc as f64,
                clock_mhz: ck.mhz,
                clock_source: ck.source,
                energy_per_token_j: energy_per_token_j(&a, &pr.decode.counters, 1),
                area: args.area.then(|| areas.get(p).cloned().flatten()),
                projection: pr,
            });
        }
    }
    if let Some(path) = &args.svg {
        let mut roofs: Vec<Roof> = Vec::new();
        for p in &presets {
            let a = super::preset(p)?;
            roofs.push(Roof {
                preset: a.cfg.name.to_string(),
                peak_macs_per_cycle: a.macs_per_cycle as f64,
                link_bytes_per_cycle: a.cfg.host_bits as f64 / 8.0,
            });
        }
        let mut panels: Vec<(String, Vec<Point>)> = Vec::new();
        for r in &rows {
            if panels.last().is_none_or(|(n, _)| *n != r.arch) {
                panels.push((r.arch.clone(), Vec::new()));
            }
            let a = super::preset(&r.preset)?;
            let pts = &mut panels.last_mut().expect("pushed above").1;
            for (phase, st) in [("decode", &r.projection.decode), ("prefill", &r.projection.prefill)] {
                let bytes = st.weight_bytes(&a).max(1) as f64;
                pts.push(Point {
                    preset: r.preset.clone(),
                    phase,
                    intensity: st.macs as f64 / bytes,
                    macs_per_cycle: st.macs as f64 / st.counters.cycles.max(1) as f64,
                });
            }
        }
        let sub = format!(
            "cycles: golden cycle model (equal to the RTL); prompt {} tokens; roofs: min(R*L, intensity x host link bytes/cycle)",
            args.prompt_tokens
        );
        std::fs::write(path, svg("tern project: ternary MACs per cycle against weight bytes streamed", &sub, &roofs, &panels))
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
        eprintln!("wrote {}", path.display());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Report { rows, unsupported })?);
        return Ok(());
    }
    println!(
        "tern project: cycles from the golden cycle model (equal to the RTL), one run per BitLinear shape x layers; prompt {} tokens",
        args.prompt_tokens
    );
    let (area_head, area_rule) =
        if args.area { (" LUT4 (yosys, device) | LUT4/MAC | tokens/s per 1k LUT4 |", "---|---|---|") } else { ("", "") };
    println!(
        "| model | ternary weights | preset | decode cycles/token | tokens/s (clock) | decode utilization | prefill cycles/token | prefill utilization | weight MiB/token | energy/token (estimate) |{area_head}"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|{area_rule}");
    for r in &rows {
        let area = match &r.area {
            None => String::new(),
            Some(None) => " - (no FPGA) | - | - |".to_string(),
            Some(Some(ar)) => {
                format!(" {} ({}) | {:.2} | {:.3} |", ar.luts, ar.target, ar.lut4_per_mac, r.tokens_per_s * 1000.0 / ar.luts as f64)
            }
        };
        println!(
            "| {} | {:.1} M | {} | {} | {:.2} ({} MHz{}) | {:.4} | {:.0} | {:.3} | {:.1} | {} |{area}",
            r.arch,
            r.ternary_weights as f64 / 1e6,
            r.preset,
            r.decode_cycles_per_token,
            r.tokens_per_s,
            r.clock_mhz,
            if r.clock_source.starts_with("Fmax") { ", nextpnr" } else { ", target" },
            r.decode_utilization,
            r.prefill_cycles_per_token,
            r.prefill_utilization,
            r.weight_bytes_per_token as f64 / (1 << 20) as f64,
            r.energy_per_token_j.map_or("n/a".into(), |j| format!("{:.2} mJ", j * 1e3)),
        );
    }
    for u in &unsupported {
        println!("| {} | | {} | not supported: {} |", u.arch, u.preset, u.why);
    }
    Ok(())
}
