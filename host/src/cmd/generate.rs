use crate::backend::BackendKind;
use crate::energy::{energy_per_token_j, token_summary};
use crate::exec::{AccelExec, PhaseStats};
use crate::generate::{generate, generate_with};
use crate::model::{Quantizer, Ternarized};
use crate::sample::Sampler;
use crate::transformer::Precision;
use anyhow::{Context, Result, bail};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Generate text with the shipped model, every BitLinear on the accelerator; report cycles/token.
#[derive(clap::Args)]
pub struct Args {
    /// A model folder (model.safetensors + config.json), a .safetensors file, or a .gguf
    /// (llama.cpp's `llama` or `bitnet` architecture).
    #[arg(long, default_value = "models/tiny-shakespeare")]
    pub model: PathBuf,
    /// How a .gguf model's weights are ternarized (post-training).
    #[arg(long, value_enum, default_value_t = Quantizer::Absmean)]
    pub quantizer: Quantizer,
    /// `float` / `float-a8`: a .gguf model's f32 weights on the host CPU (the baseline text; no
    /// accelerator, no cycles); `ternary`: every BitLinear on the backend.
    #[arg(long, value_enum, default_value_t = Precision::Ternary)]
    pub precision: Precision,
    #[arg(long, default_value = "ROMEO:")]
    pub prompt: String,
    /// Tokens to generate (bytes, for the shipped byte-level model).
    #[arg(long, default_value_t = 64)]
    pub tokens: usize,
    #[arg(long, value_enum, default_value_t = BackendKind::Verilator)]
    pub backend: BackendKind,
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// Run every BitLinear on a board instead of --backend: its serial port (the bitstream of
    /// `tern synth --preset P --link uart`, built for --baud).
    #[arg(long)]
    pub port: Option<std::path::PathBuf>,
    /// The board's baud rate (with --port).
    #[arg(long, default_value_t = super::synth::DEFAULT_BAUD)]
    pub baud: u32,
    /// 0 = greedy (argmax).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Sample only from the K most likely tokens (0 = all).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Serialize)]
struct Report {
    text: String,
    prompt: String,
    /// Tokens generated.
    tokens: usize,
    token_ids: Vec<u32>,
    prompt_tokens: usize,
    backend: &'static str,
    preset: String,
    rows: u32,
    lanes: u32,
    model: String,
    /// "checkpoint" (trained ternary) or the post-training quantizer.
    quantizer: &'static str,
    tokenizer: &'static str,
    sampling: String,
    cycles_source: &'static str,
    /// Cycles of the whole prompt (one prefill batch per BitLinear).
    prefill_cycles: u64,
    prefill_cycles_per_token: f64,
    /// Decode cycles per generated token.
    cycles_per_token: Option<f64>,
    decode_steps: usize,
    /// Decode MAC-array utilization: useful ternary MACs / (cycles x R x L).
    utilization: Option<f64>,
    prefill_utilization: f64,
    /// Weight bytes streamed to the accelerator per decoded token (counter wwords x 2L / 8).
    weight_bytes_per_token: Option<f64>,
    clock_mhz: f64,
    clock_source: String,
    tokens_per_s: Option<f64>,
    /// The clock of the preset's `--pll` bitstream (its record in docs/fmax.json), the one a
    /// board runs at, and tokens/s at it; None without such a record, or on a board.
    pll_clock_mhz: Option<f64>,
    pll_clock_source: Option<String>,
    pll_tokens_per_s: Option<f64>,
    energy_per_token_j: Option<f64>,
    energy_note: String,
    /// Host wall time of the simulation.
    prefill_wall_s: f64,
    decode_wall_s_per_token: Option<f64>,
    prefill: PhaseStats,
    decode: PhaseStats,
}

fn per(v: f64, n: usize) -> Option<f64> {
    (n > 0).then(|| v / n as f64)
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    let model = super::load_model(&args.model, args.quantizer, args.precision != Precision::Ternary)?;
    let c = &model.config;
    if args.prompt.is_empty() {
        bail!("--prompt must not be empty");
    }
    let prompt: Vec<u32> = model.vocab.bos().into_iter().chain(model.vocab.encode(&args.prompt)?).collect();
    let max = c.max_position_embeddings;
    if prompt.len() + args.tokens.saturating_sub(1) > max {
        bail!("prompt ({} tokens) + {} tokens exceed the model's context of {max} positions", prompt.len(), args.tokens);
    }
    eprintln!(
        "tern generate: {} ({} layers, d={}, {:.2} M ternary weights{}) on the {} backend, preset {} (R={} L={})",
        args.model.display(),
        c.num_hidden_layers,
        c.hidden_size,
        c.ternary_weights() as f64 / 1e6,
        if model.ternarized == Ternarized::Trained { String::new() } else { format!(", {}", model.ternarized.describe()) },
        if args.port.is_some() { "board" } else { args.backend.name() },
        a.cfg.name,
        a.cfg.rows,
        a.cfg.lanes
    );
    if args.precision != Precision::Ternary {
        return run_float(&args, &model, &prompt);
    }
    let backend: Box<dyn tern_arch::Backend> = match &args.port {
        Some(port) => {
            let link = crate::bridge::SerialPort::open(port, args.baud)?;
            Box::new(crate::bridge::BoardBackend::new(&a, link))
        }
        None => {
            if args.backend == BackendKind::Verilator {
                eprintln!("preparing the Verilator model of the preset (built once per machine, then cached)...");
            }
            args.backend.open(&a)?
        }
    };
    let board = args.port.is_some();
    let mut exec = AccelExec::new(backend);
    let mut sampler = Sampler::new(args.temperature, args.top_k, args.seed);
    let sampling = if sampler.is_greedy() {
        "greedy".to_string()
    } else {
        format!("temperature {} top-k {} seed {}", args.temperature, args.top_k, args.seed)
    };
    eprintln!("prefill: {} prompt tokens as one batch, then {} decode steps", prompt.len(), args.tokens.saturating_sub(1));
    let bar = if args.json {
        let b = indicatif::ProgressBar::new(args.tokens as u64);
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {pos}/{len} tokens [{elapsed_precise}] {per_sec}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    } else {
        indicatif::ProgressBar::hidden()
    };
    let mut out = std::io::stdout().lock();
    if !args.json {
        out.write_all(args.prompt.as_bytes())?;
        out.flush()?;
    }
    let mut io_err = None;
    let g = generate(&model, &mut exec, &prompt, args.tokens, &mut sampler, 0, |t| {
        bar.inc(1);
        if !args.json
            && let Err(e) = out.write_all(&model.vocab.token_bytes(t)).and_then(|_| out.flush())
        {
            io_err.get_or_insert(e);
        }
    })
    .context("generation failed")?;
    bar.finish_and_clear();
    if let Some(e) = io_err {
        return Err(e).context("writing the generated text");
    }
    if !args.json {
        writeln!(out)?;
        writeln!(out)?;
    }
    drop(out);

    let bytes: Vec<u8> = model.vocab.decode(&g.tokens);
    let steps = g.decode_steps;
    let (pf, dc) = (exec.prefill, exec.decode);
    let cpt = per(dc.counters.cycles as f64, steps);
    let clock = crate::energy::clock(&a, None);
    let clock_mhz = clock.mhz;
    let pll = if board { None } else { crate::synth::pll_clock(a.cfg.name) };
    let rep = Report {
        text: String::from_utf8_lossy(&bytes).into_owned(),
        prompt: args.prompt.clone(),
        tokens: g.tokens.len(),
        token_ids: g.tokens.clone(),
        prompt_tokens: prompt.len(),
        backend: exec.backend_name(),
        preset: a.cfg.name.to_string(),
        rows: a.cfg.rows,
        lanes: a.cfg.lanes,
        model: model.source.display().to_string(),
        quantizer: model.ternarized.name(),
        tokenizer: model.vocab.name(),
        sampling,
        cycles_source: exec.cycles_source(),
        prefill_cycles: pf.counters.cycles,
        prefill_cycles_per_token: pf.counters.cycles as f64 / prompt.len() as f64,
        cycles_per_token: cpt,
        decode_steps: steps,
        utilization: (steps > 0).then(|| dc.utilization(&a)),
        prefill_utilization: pf.utilization(&a),
        weight_bytes_per_token: per(dc.weight_bytes(&a) as f64, steps),
        clock_mhz,
        clock_source: clock.source.clone(),
        // a board's cycles are its own, paced by the serial line: its rate is the wall clock's
        tokens_per_s: if board {
            (steps > 0).then(|| steps as f64 / g.decode_wall.as_secs_f64())
        } else {
            cpt.map(|c| clock_mhz * 1e6 / c)
        },
        pll_clock_mhz: pll.as_ref().map(|p| p.0),
        pll_clock_source: pll.as_ref().map(|p| p.1.clone()),
        pll_tokens_per_s: pll.as_ref().and_then(|p| cpt.map(|c| p.0 * 1e6 / c)),
        energy_per_token_j: energy_per_token_j(&a, &dc.counters, steps as u64),
        energy_note: token_summary(&a, &dc.counters, steps as u64, exec.backend_name()),
        prefill_wall_s: g.prefill_wall.as_secs_f64(),
        decode_wall_s_per_token: per(g.decode_wall.as_secs_f64(), steps),
        prefill: pf,
        decode: dc,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(());
    }
    let na = || "n/a (no decode step)".to_string();
    let rows = vec![
        ("backend".into(), format!("{} (cycles: {})", rep.backend, rep.cycles_source)),
        ("preset".into(), format!("{} (R={} L={}, {} ternary MACs/cycle)", rep.preset, a.cfg.rows, a.cfg.lanes, a.macs_per_cycle)),
        (
            "model".into(),
            format!(
                "{} ({:.2} M ternary weights, {} KiB packed; {}; {} tokens)",
                rep.model,
                c.ternary_weights() as f64 / 1e6,
                model.packed_weight_bytes() / 1024,
                model.ternarized.describe(),
                rep.tokenizer
            ),
        ),
        ("sampling".into(), rep.sampling.clone()),
        ("tokens".into(), format!("{} prompt + {} generated ({} decode steps)", rep.prompt_tokens, rep.tokens, steps)),
        (
            "prefill cycles".into(),
            format!(
                "{} ({:.0} per prompt token, utilization {:.3})",
                rep.prefill_cycles, rep.prefill_cycles_per_token, rep.prefill_utilization
            ),
        ),
        ("decode cycles/token".into(), cpt.map(|v| format!("{v:.0}")).unwrap_or_else(na)),
        ("MAC-array utilization".into(), rep.utilization.map(|u| format!("{u:.4} (decode)")).unwrap_or_else(na)),
        (
            "tokens/s".into(),
            rep.tokens_per_s
                .map(|t| {
                    if board {
                        format!("{t:.3} by the host's wall clock (the board, paced by its serial line)")
                    } else {
                        format!("{t:.2} at {clock_mhz} MHz ({})", clock.source)
                    }
                })
                .unwrap_or_else(na),
        ),
        (
            "tokens/s, PLL board".into(),
            match (board, &rep.pll_clock_source) {
                (true, _) => "n/a (this run is the board)".into(),
                (false, None) => "n/a (no `tern synth --pll` record of this preset in docs/fmax.json)".into(),
                (false, Some(src)) => rep
                    .pll_tokens_per_s
                    .map(|t| format!("{t:.2} at {} MHz ({src})", rep.pll_clock_mhz.unwrap_or_default()))
                    .unwrap_or_else(na),
            },
        ),
        ("weight bytes/token".into(), rep.weight_bytes_per_token.map(|b| format!("{b:.0}")).unwrap_or_else(na)),
        ("energy/token".into(), rep.energy_note.clone()),
        (
            if board { "wall time" } else { "simulation wall time" }.into(),
            format!(
                "prefill {:.2} s, decode {} per token",
                rep.prefill_wall_s,
                rep.decode_wall_s_per_token.map(|s| format!("{s:.3} s")).unwrap_or_else(|| "-".into())
            ),
        ),
    ];
    crate::table::print("tern generate", &rows);
    Ok(())
}

/// A float baseline: the imported model's f32 weights on the host, text only.
fn run_float(args: &Args, model: &crate::model::Model, prompt: &[u32]) -> Result<()> {
    if model.float.is_none() {
        bail!(
            "--precision {} needs a model imported post-training (.gguf): {} has no float weights",
            args.precision.name(),
            args.model.display()
        );
    }
    eprintln!("{} on the host CPU (not the accelerator: no cycles)", crate::cmd::eval::weights_note(args.precision, model.ternarized));
    let mut sampler = Sampler::new(args.temperature, args.top_k, args.seed);
    let mut out = std::io::stdout().lock();
    if !args.json {
        out.write_all(args.prompt.as_bytes())?;
        out.flush()?;
    }
    let mut io_err = None;
    let mut host = crate::exec::HostExec::new();
    let g = generate_with(model, args.precision, &mut host, prompt, args.tokens, &mut sampler, 0, |t| {
        if !args.json
            && let Err(e) = out.write_all(&model.vocab.token_bytes(t)).and_then(|_| out.flush())
        {
            io_err.get_or_insert(e);
        }
    })
    .context("generation failed")?;
    if let Some(e) = io_err {
        return Err(e).context("writing the generated text");
    }
    let text = String::from_utf8_lossy(&model.vocab.decode(&g.tokens)).into_owned();
    if args.json {
        let j = serde_json::json!({
            "text": text, "prompt": args.prompt, "tokens": g.tokens.len(), "token_ids": g.tokens,
            "prompt_tokens": prompt.len(), "precision": args.precision.name(), "model": model.source.display().to_string(),
            "backend": "host", "wall_s": (g.prefill_wall + g.decode_wall).as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        writeln!(out)?;
    }
    Ok(())
}
