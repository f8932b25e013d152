use crate::backend::BackendKind;
use crate::eval::{EvalResult, eval, eval_host};
use crate::exec::{AccelExec, PhaseStats};
use crate::model::{Quantizer, Ternarized};
use crate::transformer::Precision;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalBackend {
    /// Exact int32 BitLinears on the host CPU (fast; same integers as the accelerator).
    Host,
    /// The golden cycle model.
    Golden,
    /// The RTL in Verilator.
    Verilator,
}

/// Loss (nats/byte) of a model on a text, windows of 256 bytes as in models/train.py.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "models/tiny-shakespeare")]
    pub model: PathBuf,
    /// How a .gguf model's weights are ternarized (post-training).
    #[arg(long, value_enum, default_value_t = Quantizer::Absmean)]
    pub quantizer: Quantizer,
    /// `float`: a .gguf model unquantized (f32 weights and activations), the baseline;
    /// `float-a8`: f32 weights, int8 per-token activations; `ternary`: BitLinears.
    #[arg(long, value_enum, default_value_t = Precision::Ternary)]
    pub precision: Precision,
    #[arg(long, default_value = "models/data/val.txt")]
    pub text: PathBuf,
    #[arg(long, value_enum, default_value_t = EvalBackend::Host)]
    pub backend: EvalBackend,
    /// Preset for the golden / verilator backends.
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Evaluate only the first N bytes of the text.
    #[arg(long)]
    pub bytes: Option<usize>,
    /// Window length in tokens (bytes for a byte model; non-overlapping; the first token of a
    /// window has no prediction unless the tokenizer has a BOS token to put before it).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Worker threads for the host backend (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    loss_nats_per_byte: f64,
    bits_per_byte: f64,
    loss_nats_per_token: f64,
    perplexity: f64,
    bytes: usize,
    predictions: usize,
    predicted_bytes: usize,
    tokenizer: &'static str,
    /// "float" (unquantized), "checkpoint" (trained ternary) or the post-training quantizer.
    weights: &'static str,
    windows: usize,
    window: usize,
    backend: &'static str,
    model: String,
    text: String,
    wall_s: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    preset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cycles: Option<PhaseStats>,
}

pub fn run(args: Args) -> Result<()> {
    let float = args.precision != Precision::Ternary;
    let model = super::load_model(&args.model, args.quantizer, float)?;
    if float && model.float.is_none() {
        bail!(
            "--precision {} needs a model imported post-training (.gguf): {} is a ternary checkpoint with no float weights",
            args.precision.name(),
            args.model.display()
        );
    }
    if float && args.backend != EvalBackend::Host {
        bail!(
            "--precision {} runs on the host CPU (the accelerator computes ternary BitLinears only); drop --backend",
            args.precision.name()
        );
    }
    super::check_window(&model, args.window)?;
    let mut data = std::fs::read(&args.text).with_context(|| format!("reading {}", args.text.display()))?;
    if let Some(n) = args.bytes {
        if n > data.len() {
            bail!("--bytes {n} but {} has only {} bytes", args.text.display(), data.len());
        }
        data.truncate(n);
    }
    let (data, n_windows) = super::eval_text(&model, data, args.window, &args.text)?;
    if n_windows == 0 {
        bail!("{} has fewer than 2 bytes to evaluate", args.text.display());
    }
    let bar = indicatif::ProgressBar::new(n_windows as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("eval {bar:40} {pos}/{len} windows [{elapsed_precise} < {eta_precise}]")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let t0 = std::time::Instant::now();
    let (r, backend, preset, cycles): (EvalResult, &'static str, _, _) = match args.backend {
        EvalBackend::Host => {
            let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let r = eval_host(&model, &data, args.window, threads, args.precision, &|d, _| bar.set_position(d as u64))?;
            (r, "host", None, None)
        }
        EvalBackend::Golden | EvalBackend::Verilator => {
            let a = super::preset(&args.preset)?;
            let kind = if args.backend == EvalBackend::Golden { BackendKind::Golden } else { BackendKind::Verilator };
            let mut exec = AccelExec::new(kind.open(&a)?);
            let r = eval(&model, &mut exec, &data, args.window, |d, _| bar.set_position(d as u64))?;
            (r, kind.name(), Some(a.cfg.name.to_string()), Some(exec.prefill))
        }
    };
    bar.finish_and_clear();
    let rep = Report {
        loss_nats_per_byte: r.loss_nats_per_byte,
        bits_per_byte: r.loss_nats_per_byte / std::f64::consts::LN_2,
        loss_nats_per_token: r.loss_nats_per_token,
        perplexity: r.perplexity,
        bytes: r.bytes,
        predictions: r.predictions,
        predicted_bytes: r.predicted_bytes,
        tokenizer: model.vocab.name(),
        weights: if float { args.precision.name() } else { model.ternarized.name() },
        windows: r.windows,
        window: args.window,
        backend,
        model: model.source.display().to_string(),
        text: args.text.display().to_string(),
        wall_s: t0.elapsed().as_secs_f64(),
        preset,
        cycles,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        let mut rows = vec![
            ("model".into(), rep.model.clone()),
            ("text".into(), format!("{} (first {} bytes)", rep.text, rep.bytes)),
            ("windows".into(), format!("{} x {} tokens ({}), {} predictions", rep.windows, rep.window, rep.tokenizer, rep.predictions)),
            ("weights".into(), weights_note(args.precision, model.ternarized)),
            ("backend".into(), rep.backend.to_string()),
            ("loss".into(), format!("{:.4} nats/byte ({:.4} bits/byte)", rep.loss_nats_per_byte, rep.bits_per_byte)),
            ("perplexity".into(), format!("{:.2} per token ({:.4} nats/token)", rep.perplexity, rep.loss_nats_per_token)),
            ("wall time".into(), format!("{:.1} s", rep.wall_s)),
        ];
        if let Some(cy) = &rep.cycles {
            rows.push(("accelerator cycles".into(), format!("{} ({} BitLinear programs)", cy.counters.cycles, cy.calls)));
        }
        crate::table::print("tern eval", &rows);
    }
    Ok(())
}

/// What a run's weights were, for tables: a float precision, or how they were ternarized.
pub fn weights_note(precision: Precision, ternarized: Ternarized) -> String {
    match precision {
        Precision::Float => "float (f32 weights and activations)".into(),
        Precision::FloatA8 => "f32 weights, int8 activations".into(),
        Precision::Ternary => ternarized.describe(),
    }
}
