//! `tern ptq`: the post-training ternarization experiment. A pretrained model (a llama-family
//! GGUF: SmolLM2-135M by default) is evaluated unquantized, then ternarized with each quantizer
//! (one scale per tensor, int8 per-token activations: exactly what the accelerator computes)
//! and evaluated again on the same text, on the host CPU with the accelerator's integers. A
//! second baseline keeps the f32 weights but rounds activations to int8, to tell the two
//! quantizations' costs apart.

use crate::eval::{EvalResult, eval_host};
use crate::model::{Quantizer, Ternarized, TernaryStats};
use crate::transformer::Precision;
use anyhow::{Result, bail};
use serde::Serialize;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    /// A llama-family .gguf, or a full-precision BitNet-layout checkpoint (the float twin):
    /// its f32 weights are the baseline.
    #[arg(long, default_value = "models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf")]
    pub model: PathBuf,
    #[arg(long, default_value = "models/data/val.txt")]
    pub text: PathBuf,
    /// Evaluate only the first N bytes of the text.
    #[arg(long, default_value_t = 16384)]
    pub bytes: usize,
    /// Window length in tokens (non-overlapping, each from position 0).
    #[arg(long, default_value_t = 256)]
    pub window: usize,
    /// Quantizers to compare (default: all).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub quantizers: Vec<Quantizer>,
    /// Worker threads (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Row {
    /// "float", "float-a8" or a quantizer.
    weights: &'static str,
    #[serde(skip)]
    note: String,
    #[serde(flatten)]
    eval: EvalResult,
    #[serde(skip_serializing_if = "Option::is_none")]
    ternary: Option<TernaryStats>,
    wall_s: f64,
}

#[derive(Serialize)]
struct Report {
    model: String,
    text: String,
    bytes: usize,
    window: usize,
    ternary_weights: u64,
    rows: Vec<Row>,
}

pub fn run(args: Args) -> Result<()> {
    let quantizers = if args.quantizers.is_empty() { Quantizer::ALL.to_vec() } else { args.quantizers.clone() };
    let mut model = super::load_model(&args.model, quantizers[0], true)?;
    if model.float.is_none() {
        bail!(
            "--model must hold full-precision weights to ternarize (a .gguf, or a float checkpoint such as models/tiny-shakespeare/float.safetensors); {} is a ternary checkpoint",
            args.model.display()
        );
    }
    if model.ternarized == Ternarized::InFile {
        // its "float" weights would be the codes times their scale: every row mislabelled
        bail!(
            "{m} is ternary in the file already (every projection {} with one scale): there is nothing to ternarize post-training; `tern eval --model {m}` gives its loss",
            crate::model::gguf::TERNARY_STORAGE,
            m = args.model.display()
        );
    }
    super::check_window(&model, args.window)?;
    let mut data = std::fs::read(&args.text).map_err(|e| anyhow::anyhow!("reading {}: {e}", args.text.display()))?;
    if args.bytes > data.len() {
        bail!("--bytes {} but {} has only {} bytes", args.bytes, args.text.display(), data.len());
    }
    data.truncate(args.bytes);
    let (data, n_windows) = super::eval_text(&model, data, args.window, &args.text)?;
    let threads = args.threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    let mut rows = Vec::new();
    // the two float baselines, then each quantizer
    let runs: Vec<(Precision, Option<Quantizer>)> = [(Precision::Float, None), (Precision::FloatA8, None)]
        .into_iter()
        .chain(quantizers.iter().map(|&q| (Precision::Ternary, Some(q))))
        .collect();
    for (precision, q) in runs {
        let name = q.map_or(precision.name(), Quantizer::name);
        if let Some(q) = q
            && model.ternarized != Ternarized::PostTraining(q)
        {
            model.ternarize(q)?;
        }
        let bar = indicatif::ProgressBar::new(n_windows as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(&format!(
                "{name:>8} {{bar:40}} {{pos}}/{{len}} windows [{{elapsed_precise}} < {{eta_precise}}]"
            ))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let t0 = std::time::Instant::now();
        let eval = eval_host(&model, &data, args.window, threads, precision, &|d, _| bar.set_position(d as u64))?;
        bar.finish_and_clear();
        let note = super::eval::weights_note(precision, q.map_or(model.ternarized, Ternarized::PostTraining));
        rows.push(Row { weights: name, note, eval, ternary: q.and_then(|_| model.ternary_stats()), wall_s: t0.elapsed().as_secs_f64() });
    }
    let rep = Report {
        model: args.model.display().to_string(),
        text: args.text.display().to_string(),
        bytes: data.len(),
        window: args.window,
        ternary_weights: model.config.ternary_weights(),
        rows,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    println!(
        "tern ptq: {} ({:.1} M weights in BitLinears), {} (first {} bytes), windows of {} tokens; losses on the host CPU (ternary rows: the accelerator's exact integers)",
        rep.model,
        rep.ternary_weights as f64 / 1e6,
        rep.text,
        rep.bytes,
        rep.window
    );
    println!("| weights | loss (nats/byte) | perplexity (per token) | zero weights | ‖W − Ŵ‖/‖W‖ |");
    println!("|---|---|---|---|---|");
    for r in &rep.rows {
        let (z, e) = r.ternary.map_or(("-".to_string(), "-".to_string()), |t| {
            (format!("{:.1} %", 100.0 * t.zero_fraction), format!("{:.3}", t.relative_error))
        });
        println!("| {} | {:.4} | {:.4e} | {z} | {e} |", r.note, r.eval.loss_nats_per_byte, r.eval.perplexity);
    }
    println!(
        "({} predicted tokens, {} bytes; a uniform guess over the {} tokens is perplexity {})",
        rep.rows[0].eval.predictions, rep.rows[0].eval.predicted_bytes, model.config.vocab_size, model.config.vocab_size
    );
    Ok(())
}
