//! Reading `model.safetensors` in the Hugging Face BitNet b1.58 packed layout.
//!
//! The header is checked by hand first (so a truncated file names the first tensor it cuts,
//! and a dtype that does not match a tensor's byte count names that tensor), then the
//! `safetensors` crate gives the tensor views over a memory map.

use super::config::ModelConfig;
use super::{BitLinear, Layer, Model, ModelError, Proj, Ternarized, Vocab};
use safetensors::SafeTensors;
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tern_arch::pack::{PackError, TernaryMatrix};

fn dtype_size(name: &str) -> Option<usize> {
    Some(match name {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// The weights file and the config.json for a path that is a model folder or a .safetensors file.
pub fn resolve(path: &Path) -> (PathBuf, PathBuf) {
    if path.is_dir() {
        (path.join("model.safetensors"), path.join("config.json"))
    } else {
        let dir = path.parent().unwrap_or(Path::new("."));
        (path.to_path_buf(), dir.join("config.json"))
    }
}

/// Check the header against the file size tensor by tensor, before the crate sees it.
fn precheck(buf: &[u8], file: &str) -> Result<(), ModelError> {
    let fmt = |msg: String| ModelError::Format { file: file.to_string(), msg };
    if buf.len() < 8 {
        return Err(fmt(format!("{} bytes, too short for the 8-byte header length", buf.len())));
    }
    let n = u64::from_le_bytes(buf[..8].try_into().unwrap_or_default());
    if n > 100_000_000 {
        return Err(fmt(format!("header length {n} is implausible")));
    }
    let n = n as usize;
    if 8 + n > buf.len() {
        return Err(fmt(format!("the header claims {n} bytes but the file has only {} after the length (truncated file?)", buf.len() - 8)));
    }
    let header: serde_json::Value = serde_json::from_slice(&buf[8..8 + n]).map_err(|e| fmt(format!("header is not valid JSON: {e}")))?;
    let obj = header.as_object().ok_or_else(|| fmt("header is not a JSON object".into()))?;
    let have = buf.len() - 8 - n;
    let mut spans = Vec::new();
    for (name, info) in obj {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| fmt(format!("tensor `{name}`: {what}"));
        let dtype = info.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no dtype"))?;
        let size = dtype_size(dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype}")))?;
        let shape: Vec<usize> = info
            .get("shape")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|x| x as usize)).collect())
            .ok_or_else(|| bad("no shape"))?;
        let offs: Vec<usize> = info
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .and_then(|a| a.iter().map(|v| v.as_u64().map(|x| x as usize)).collect())
            .filter(|v: &Vec<usize>| v.len() == 2)
            .ok_or_else(|| bad("no data_offsets"))?;
        let (start, end) = (offs[0], offs[1]);
        let elems: usize = shape.iter().product();
        if end < start || end - start != elems * size {
            return Err(bad(&format!(
                "dtype {dtype} x shape {shape:?} is {} bytes but data_offsets span {}",
                elems * size,
                end as i64 - start as i64
            )));
        }
        spans.push((start, end, name.clone()));
    }
    spans.sort();
    for (start, end, name) in &spans {
        if *end > have {
            return Err(ModelError::Truncated { file: file.to_string(), tensor: name.clone(), start: *start, end: *end, have });
        }
    }
    Ok(())
}

struct Reader<'a> {
    st: SafeTensors<'a>,
    file: String,
    /// The tensors read so far: what is left at the end was not understood.
    read: std::cell::RefCell<std::collections::HashSet<String>>,
}

impl<'a> Reader<'a> {
    fn view(&self, name: &str) -> Result<TensorView<'a>, ModelError> {
        let v = self.st.tensor(name).map_err(|_| ModelError::MissingTensor { file: self.file.clone(), tensor: name.to_string() })?;
        self.read.borrow_mut().insert(name.to_string());
        Ok(v)
    }

    /// A tensor of the file that nothing read (RoPE's `inv_freq` buffers, which older
    /// transformers saved, excepted): a weight this family's graph has no place for, such as
    /// the sub-norms of a BitNet checkpoint taken for llama, would be a silent wrong answer.
    fn unread(&self) -> Option<String> {
        let read = self.read.borrow();
        let mut left: Vec<String> =
            self.st.names().into_iter().filter(|n| !read.contains(*n) && !n.ends_with("rotary_emb.inv_freq")).cloned().collect();
        left.sort();
        left.into_iter().next()
    }

    fn has(&self, name: &str) -> bool {
        self.st.tensor(name).is_ok()
    }

    fn shape(&self, name: &str, v: &TensorView, expected: &[usize], why: &str) -> Result<(), ModelError> {
        if v.shape() != expected {
            return Err(ModelError::Shape {
                file: self.file.clone(),
                tensor: name.to_string(),
                found: v.shape().to_vec(),
                expected: expected.to_vec(),
                why: why.to_string(),
            });
        }
        Ok(())
    }

    /// A float tensor (F32, F16 or BF16) of the expected shape, as f32.
    fn float(&self, name: &str, expected: &[usize], why: &str) -> Result<Vec<f32>, ModelError> {
        let v = self.view(name)?;
        let conv: fn(&[u8]) -> f32 = match v.dtype() {
            Dtype::F32 => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Dtype::BF16 => |b| f32::from_bits((u16::from_le_bytes([b[0], b[1]]) as u32) << 16),
            Dtype::F16 => |b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])),
            d => {
                return Err(ModelError::Dtype {
                    file: self.file.clone(),
                    tensor: name.to_string(),
                    found: format!("{d:?}"),
                    expected: "F32 (or F16/BF16)",
                });
            }
        };
        self.shape(name, &v, expected, why)?;
        let size = v.dtype().size();
        Ok(v.data().chunks_exact(size).map(conv).collect())
    }

    fn bitlinear(&self, layer: usize, p: Proj, cfg: &ModelConfig) -> Result<BitLinear, ModelError> {
        let name = format!("model.layers.{layer}.{}.weight", p.hf_name());
        let (out, inp) = p.shape(cfg);
        let v = self.view(&name)?;
        if v.dtype() != Dtype::U8 {
            let hint = if v.shape() == [out, inp] {
                " (found the unpacked [out, in] shape: a master-weight checkpoint, not the packed layout)"
            } else {
                ""
            };
            return Err(ModelError::Dtype {
                file: self.file.clone(),
                tensor: name,
                found: format!("{:?}{hint}", v.dtype()),
                expected: "U8 (4 ternary codes per byte, HF BitNet packed layout [out/4, in])",
            });
        }
        let why = format!("{} packed [out/4, in] with out = {out}, in = {inp}", p.hf_name());
        if !out.is_multiple_of(4) {
            return Err(ModelError::Config {
                file: self.file.clone(),
                msg: format!("{} has {out} output features, not a multiple of 4 (the packed layout needs it)", p.hf_name()),
            });
        }
        self.shape(&name, &v, &[out / 4, inp], &why)?;
        let w = TernaryMatrix::from_packed(v.data().to_vec(), out, inp).map_err(|e| match e {
            PackError::InvalidCode { row, col } => ModelError::InvalidCode { file: self.file.clone(), tensor: name.clone(), row, col },
            PackError::Shape { what } => ModelError::Config { file: self.file.clone(), msg: what },
        })?;
        let sname = format!("{name}_scale");
        let sv = self.view(&sname)?;
        // one scale per tensor, or one per output row (a per-channel quantizer's)
        let (scale, row_scale) = match sv.shape() {
            [] | [1] => (self.float(&sname, sv.shape(), "one scale per tensor")?[0], None),
            [n] if *n == out && out > 1 => (1.0, Some(self.float(&sname, &[out], "one scale per output row")?)),
            _ => (self.float(&sname, &[1], "one scale per tensor, or one per output row")?[0], None),
        };
        for &v in std::iter::once(&scale).chain(row_scale.iter().flatten()) {
            if !(v.is_finite() && v > 0.0) {
                return Err(ModelError::BadScale { file: self.file.clone(), tensor: sname, value: v });
            }
        }
        Ok(BitLinear { w, scale, row_scale })
    }
}

/// IEEE half to f32 (exact).
pub(crate) fn f16_to_f32(h: u16) -> f32 {
    let sign = ((h >> 15) as u32) << 31;
    let exp = ((h >> 10) & 0x1f) as u32;
    let man = (h & 0x3ff) as u32;
    let bits = match (exp, man) {
        (0, 0) => sign,
        (0, m) => {
            // subnormal: normalise
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

/// Map a model file read-only (safetensors or GGUF).
pub(crate) fn map_file(path: &Path) -> Result<memmap2::Mmap, ModelError> {
    let f = std::fs::File::open(path).map_err(|err| ModelError::Io { path: path.to_path_buf(), err })?;
    // SAFETY: the map is read-only and lives until the tensors are copied out; a file changed
    // underneath would at worst give wrong weights, which validation then reports.
    unsafe { memmap2::Mmap::map(&f) }.map_err(|err| ModelError::Io { path: path.to_path_buf(), err })
}

/// The config of a checked safetensors map: its metadata, else the config.json beside it.
fn read_config(map: &[u8], file: &str, config_json: &Path) -> Result<ModelConfig, ModelError> {
    let (_, meta) = SafeTensors::read_metadata(map).map_err(|e| ModelError::Format { file: file.to_string(), msg: format!("{e:?}") })?;
    let json = match std::fs::read(config_json) {
        Ok(b) => Some(
            serde_json::from_slice::<serde_json::Value>(&b)
                .map_err(|e| ModelError::Config { file: config_json.display().to_string(), msg: format!("not valid JSON: {e}") })?,
        ),
        Err(_) => None,
    };
    let md: Option<&HashMap<String, String>> = meta.metadata().as_ref();
    ModelConfig::from_sources(md, json.as_ref(), file)
}

/// The config of a safetensors model (folder or file), without reading its tensors.
pub fn safetensors_config(path: &Path) -> Result<ModelConfig, ModelError> {
    let (weights, config_json) = resolve(path);
    let file = weights.display().to_string();
    let map = map_file(&weights)?;
    precheck(&map, &file)?;
    read_config(&map, &file, &config_json)
}

impl Model {
    /// Load a model folder (`model.safetensors` + optional `config.json`) or a .safetensors file.
    pub fn load(path: &Path) -> Result<Model, ModelError> {
        Model::load_impl(path, None)
    }

    /// Load a checkpoint whose projections are either packed ternary (as `load`) or full
    /// precision `[out, in]` (a master-weight checkpoint, such as the shipped model's float
    /// twin): the latter are ternarized by `quantizer`, post-training, with their f32 weights
    /// kept in `Model::float` when `keep_float`. Layer 0's `q_proj` decides which.
    pub fn load_with(path: &Path, quantizer: super::Quantizer, keep_float: bool) -> Result<Model, ModelError> {
        Model::load_impl(path, Some((quantizer, keep_float)))
    }

    fn load_impl(path: &Path, float_ok: Option<(super::Quantizer, bool)>) -> Result<Model, ModelError> {
        let (weights, config_json) = resolve(path);
        let file = weights.display().to_string();
        let map = map_file(&weights)?;
        precheck(&map, &file)?;
        let st = SafeTensors::deserialize(&map).map_err(|e| ModelError::Format { file: file.clone(), msg: format!("{e:?}") })?;
        let config = read_config(&map, &file, &config_json)?;
        let r = Reader { st, file: file.clone(), read: Default::default() };
        let c = &config;
        let (d, v) = (c.hidden_size, c.vocab_size);
        let embed = r.float("model.embed_tokens.weight", &[v, d], "[vocab_size, hidden_size]")?;
        // a master-weight checkpoint: float projections, ternarized here
        let float_mode = match float_ok {
            Some(q) if r.view(&format!("model.layers.0.{}.weight", Proj::Q.hf_name()))?.dtype() != Dtype::U8 => Some(q),
            _ => None,
        };
        let mut floats: Vec<[Vec<f32>; 7]> = Vec::new();
        let mut layer_floats: Vec<Vec<f32>> = Vec::new();
        let lin = |i: usize, pj: Proj, layer_floats: &mut Vec<Vec<f32>>| -> Result<BitLinear, ModelError> {
            let Some((quantizer, keep)) = float_mode else { return r.bitlinear(i, pj, c) };
            let (out, inp) = pj.shape(c);
            let name = format!("model.layers.{i}.{}.weight", pj.hf_name());
            let w = r.float(&name, &[out, inp], &format!("{} [out, in] with out = {out}, in = {inp}", pj.hf_name()))?;
            let b = quantizer
                .bitlinear(&w, out, inp)
                .map_err(|msg| ModelError::Config { file: r.file.clone(), msg: format!("{name}: {msg}") })?;
            if keep {
                layer_floats.push(w);
            }
            Ok(b)
        };
        // grown as tensors are found: a corrupt layer count must not reserve memory first
        let mut layers = Vec::new();
        for i in 0..c.num_hidden_layers {
            let p = format!("model.layers.{i}.");
            let norm = |n: &str, len: usize, why: &str| r.float(&format!("{p}{n}.weight"), &[len], why);
            let mut proj = Vec::with_capacity(7);
            let input_layernorm = norm("input_layernorm", d, "[hidden_size]")?;
            for pj in &Proj::ALL[..4] {
                proj.push(lin(i, *pj, &mut layer_floats)?);
            }
            let sub_norms = c.family.sub_norms();
            // 1bitLLM's checkpoints name the sub-norms `inner_attn_ln` and `ffn_layernorm`
            let named = |a: &str, b: &str| {
                if r.has(&format!("{p}{b}.weight")) && !r.has(&format!("{p}{a}.weight")) { b.to_string() } else { a.to_string() }
            };
            let attn_sub_norm = if sub_norms {
                norm(&named("self_attn.attn_sub_norm", "self_attn.inner_attn_ln"), c.q_dim(), "[num_attention_heads * head_dim]")?
            } else {
                Vec::new()
            };
            let post_attention_layernorm = norm("post_attention_layernorm", d, "[hidden_size]")?;
            for pj in &Proj::ALL[4..] {
                proj.push(lin(i, *pj, &mut layer_floats)?);
            }
            if !layer_floats.is_empty() {
                floats.push(std::mem::take(&mut layer_floats).try_into().unwrap_or_else(|_| unreachable!("seven projections")));
            }
            let ffn_sub_norm = if sub_norms {
                norm(&named("mlp.ffn_sub_norm", "mlp.ffn_layernorm"), c.intermediate_size, "[intermediate_size]")?
            } else {
                Vec::new()
            };
            let proj: [BitLinear; 7] = proj.try_into().unwrap_or_else(|_| unreachable!("seven projections"));
            layers.push(Layer { input_layernorm, attn_sub_norm, post_attention_layernorm, ffn_sub_norm, proj });
        }
        let norm = r.float("model.norm.weight", &[d], "[hidden_size]")?;
        let lm_head = if r.has("lm_head.weight") || !c.tie_word_embeddings {
            r.float("lm_head.weight", &[v, d], "[vocab_size, hidden_size]")?
        } else {
            embed.clone()
        };
        if let Some(t) = r.unread() {
            return Err(ModelError::Config {
                file: file.clone(),
                msg: format!("tensor `{t}` has no place in a {} model (does the config name the right family?)", c.family.name()),
            });
        }
        let (float, ternarized) = match float_mode {
            Some((q, keep)) => (keep.then_some(floats), Ternarized::PostTraining(q)),
            None => (None, Ternarized::Trained),
        };
        let vocab = vocab_beside(&config_json, &config)?;
        Ok(Model { config, embed, layers, norm, lm_head, source: weights, vocab, float, ternarized })
    }
}

/// The tokenizer of a safetensors checkpoint: its `tokenizer.json` (beside config.json), else
/// bytes for a 256-token model, else none ([`Vocab::Ids`]). The id put before a sequence is
/// the post-processor's template's first special token, else `tokenizer_config.json`'s
/// `bos_token` where its `add_bos_token` is true (how transformers' slow-tokenizer configs
/// say it).
fn vocab_beside(config_json: &Path, c: &ModelConfig) -> Result<Vocab, ModelError> {
    let dir = config_json.parent().unwrap_or(Path::new("."));
    // a SentencePiece model (LLaMA's kind, 1bitLLM's) before its tokenizer.json, whose
    // byte-fallback BPE with normalizers tern's tokenizer.json reader does not take
    let spm_path = dir.join("tokenizer.model");
    match std::fs::read(&spm_path) {
        Ok(b) => return spm_beside(&b, &spm_path, &dir.join("tokenizer_config.json"), c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => return Err(ModelError::Io { path: spm_path, err }),
    }
    let path = dir.join("tokenizer.json");
    let file = path.display().to_string();
    let json = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(if c.vocab_size == 256 { Vocab::Bytes } else { Vocab::Ids { vocab: c.vocab_size } });
        }
        Err(err) => return Err(ModelError::Io { path, err }),
    };
    let tok = crate::tokenizer::Bpe::from_tokenizer_json(&json).map_err(|source| ModelError::Tokenizer { file: file.clone(), source })?;
    if tok.bpe.vocab_size() > c.vocab_size {
        return Err(ModelError::Config {
            file,
            msg: format!("the tokenizer has {} tokens, more than the model's vocab_size {}", tok.bpe.vocab_size(), c.vocab_size),
        });
    }
    let bos = match tok.bos {
        Some(b) => Some(b),
        None => config_bos(&dir.join("tokenizer_config.json"), &tok.bpe)?,
    };
    Ok(Vocab::Bpe { bpe: Box::new(tok.bpe), bos })
}

/// A `tokenizer.model` beside the checkpoint. The BOS follows tokenizer_config.json
/// (`add_bos_token`, default true as for LLaMA's tokenizer; `bos_token`, default `<s>`).
fn spm_beside(b: &[u8], path: &Path, config: &Path, c: &ModelConfig) -> Result<Vocab, ModelError> {
    let file = path.display().to_string();
    let spm = crate::spm::Spm::from_model_proto(b).map_err(|source| ModelError::Tokenizer { file: file.clone(), source })?;
    if spm.len() > c.vocab_size {
        return Err(ModelError::Config {
            file,
            msg: format!("the tokenizer has {} pieces, more than the model's vocab_size {}", spm.len(), c.vocab_size),
        });
    }
    let j: serde_json::Value = match std::fs::read(config) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| ModelError::Config { file: config.display().to_string(), msg: format!("not valid JSON: {e}") })?,
        Err(_) => serde_json::Value::Null,
    };
    let bos = if j.get("add_bos_token").and_then(|v| v.as_bool()).unwrap_or(true) {
        let t = j.get("bos_token");
        let name = t.and_then(|t| t.as_str().or_else(|| t.get("content").and_then(|c| c.as_str()))).unwrap_or("<s>");
        Some(
            spm.piece_id(name)
                .ok_or_else(|| ModelError::Config { file: file.clone(), msg: format!("bos_token {name:?} is not a piece") })?,
        )
    } else {
        None
    };
    Ok(Vocab::Spm { spm: Box::new(spm), bos })
}

/// `bos_token` of a tokenizer_config.json whose `add_bos_token` is true, as an id of `bpe`.
fn config_bos(path: &Path, bpe: &crate::tokenizer::Bpe) -> Result<Option<u32>, ModelError> {
    let Ok(b) = std::fs::read(path) else { return Ok(None) };
    let file = path.display().to_string();
    let j: serde_json::Value =
        serde_json::from_slice(&b).map_err(|e| ModelError::Config { file: file.clone(), msg: format!("not valid JSON: {e}") })?;
    if j.get("add_bos_token").and_then(|v| v.as_bool()) != Some(true) {
        return Ok(None);
    }
    let tok = j.get("bos_token");
    let name = tok.and_then(|t| t.as_str().or_else(|| t.get("content").and_then(|c| c.as_str())));
    let Some(name) = name else {
        return Err(ModelError::Config { file, msg: "add_bos_token is true but bos_token names no token".into() });
    };
    match bpe.token_id(name) {
        Some(id) => Ok(Some(id)),
        None => Err(ModelError::Config { file, msg: format!("bos_token {name:?} is not a token of tokenizer.json") }),
    }
}

#[cfg(test)]
mod tests {
    use super::f16_to_f32;
    #[test]
    fn half_by_hand() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
    }
}
