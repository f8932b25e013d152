use crate::backend::BackendKind;
use crate::energy;
use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use tern_arch::energy::Tech;

/// Energy per token (an estimate from counted events, cited tables) for a layer or a model.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Technology table: asic-45nm, asic-7nm, ice40-up5k, or `all` (default: the preset's FPGA
    /// when a table covers it, else asic-45nm).
    #[arg(long)]
    pub tech: Option<String>,
    /// A model folder or .safetensors file: energy per decoded token of a real generation.
    /// Without it, one random BitLinear layer (--out-features, --in-features, --batch).
    #[arg(long)]
    pub model: Option<PathBuf>,
    #[arg(long, default_value = "ROMEO:")]
    pub prompt: String,
    /// Tokens to generate with --model (decode steps = tokens - 1).
    #[arg(long, default_value_t = 8)]
    pub tokens: usize,
    #[command(flatten)]
    pub shape: super::LayerShape,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Where the counters come from: the golden cycle model or the RTL (Verilator).
    #[arg(long, value_enum, default_value_t = BackendKind::Golden)]
    pub backend: BackendKind,
    /// Also measure toggles (Verilator toggle-coverage build of the same run) and compare the
    /// FPGA estimate from counted events with the one from toggles.
    #[arg(long)]
    pub toggles: bool,
    /// Clock for static energy and time (MHz); default: the Fmax recorded in docs/fmax.json for
    /// the preset, else its target clock (labelled).
    #[arg(long)]
    pub clock_mhz: Option<f64>,
    /// Stacked-bar picture (SVG); default out/energy-<preset>.svg. `-` for none.
    #[arg(long)]
    pub svg: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

pub fn techs(a: &tern_arch::Accel, arg: Option<&str>) -> Result<Vec<Tech>> {
    match arg {
        None => Ok(vec![energy::default_tech(a)]),
        Some("all") => Ok(Tech::ALL.to_vec()),
        Some(list) => list
            .split(',')
            .map(|s| Tech::parse(s.trim()).with_context(|| format!("unknown --tech `{s}` (known: asic-45nm, asic-7nm, ice40-up5k, all)")))
            .collect(),
    }
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    let techs = techs(&a, args.tech.as_deref())?;
    let clock = energy::clock(&a, args.clock_mhz);
    if clock.mhz.is_nan() || clock.mhz <= 0.0 {
        bail!("--clock-mhz must be positive");
    }
    let svg_path = match &args.svg {
        Some(p) if p.as_os_str() == "-" => None,
        Some(p) => Some(p.clone()),
        None => Some(PathBuf::from(format!("out/energy-{}.svg", a.cfg.name))),
    };
    let cov_path = args.toggles.then(|| {
        svg_path
            .as_ref()
            .and_then(|p| p.parent())
            .map(|d| d.to_path_buf())
            .unwrap_or_else(|| PathBuf::from("out"))
            .join(format!("coverage-{}.dat", a.cfg.name))
    });
    if args.toggles {
        eprintln!("building the toggle-coverage Verilator model of `{}` (cached after the first build)...", a.cfg.name);
    }
    let run = match &args.model {
        Some(m) => energy::run_model(&a, args.backend, m, &args.prompt, args.tokens, cov_path.as_deref())?,
        None => {
            args.shape.check()?;
            let mut b = args.backend.open(&a)?;
            energy::run_layer(
                &a,
                b.as_mut(),
                args.shape.out_features,
                args.shape.in_features,
                args.shape.batch,
                args.seed,
                cov_path.as_deref(),
            )?
        }
    };
    let mut rep = energy::build_report(&a, &run, &techs, &clock);
    if let Some(p) = &svg_path {
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
        }
        std::fs::write(p, energy::picture(&rep)).with_context(|| format!("writing {}", p.display()))?;
        rep.svg = Some(p.display().to_string());
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print!("{}", energy::text(&rep));
    }
    Ok(())
}
