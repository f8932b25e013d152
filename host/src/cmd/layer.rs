use crate::backend::BackendKind;
use anyhow::{Context, Result};

/// Run one random ternary BitLinear through a backend and report cycles and counters.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    #[command(flatten)]
    pub shape: super::LayerShape,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    #[arg(long, value_enum, default_value_t = BackendKind::Golden)]
    pub backend: BackendKind,
    /// Probability that the host withholds an input beat on a cycle.
    #[arg(long, default_value_t = 0.0)]
    pub in_stall: f64,
    /// Probability that the host refuses a result beat on a cycle.
    #[arg(long, default_value_t = 0.0)]
    pub out_stall: f64,
    /// Also write the layer's program (instructions and data beats) as `.tasm` text, which
    /// `tern run` runs.
    #[arg(long)]
    pub tasm: Option<std::path::PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    args.shape.check()?;
    let (w, x) = crate::layer::random_layer(args.shape.out_features, args.shape.in_features, args.shape.batch, args.seed);
    if let Some(path) = &args.tasm {
        let p = tern_fw::compile_bitlinear(&a, &w, &x, args.shape.batch).map_err(|e| anyhow::anyhow!("{e}"))?;
        let head = format!(
            "; tern layer --preset {} --out-features {} --in-features {} --batch {} --seed {}\n\
             ; a random ternary BitLinear: {} beats of the {}-bit link; run it with `tern run FILE --preset {}`\n",
            args.preset,
            args.shape.out_features,
            args.shape.in_features,
            args.shape.batch,
            args.seed,
            p.beats.len(),
            a.cfg.host_bits,
            args.preset
        );
        std::fs::write(path, head + &tern_fw::tasm::disassemble(&a, &p.beats)).with_context(|| format!("writing {}", path.display()))?;
    }
    let mut b = args.backend.open(&a)?;
    let stalls = super::stalls(args.seed, args.in_stall, args.out_stall)?;
    let (rep, _) = crate::layer::run_layer(&a, b.as_mut(), &w, &x, args.shape.batch, &stalls)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        let mut rows = vec![
            ("backend".into(), rep.backend.clone()),
            ("preset".into(), format!("{} (R={} L={})", rep.preset, a.cfg.rows, a.cfg.lanes)),
            ("layer".into(), format!("{} x {}, batch {}", args.shape.out_features, args.shape.in_features, args.shape.batch)),
            ("cycles".into(), format!("{} ({})", rep.cycles, rep.cycles_source)),
            ("ternary MACs".into(), rep.macs.to_string()),
            ("utilization".into(), format!("{:.4}", rep.utilization)),
            ("results crc32".into(), rep.results_crc32.clone()),
            ("matches host matmul".into(), rep.matches_reference.to_string()),
        ];
        for (n, v) in tern_arch::Counters::NAMES.iter().zip(rep.counters.to_array()) {
            rows.push((format!("counter {n}"), v.to_string()));
        }
        crate::table::print("tern layer", &rows);
    }
    if !rep.matches_reference {
        anyhow::bail!("the backend's results differ from the host's integer matmul");
    }
    Ok(())
}
