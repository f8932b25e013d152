//! The model: a llama / BitNet b1.58 2B4T style transformer held in memory the way the
//! accelerator consumes it. Every BitLinear weight stays in the Hugging Face packed layout
//! (`TernaryMatrix`, 2 bits per weight, validated to hold no code 3); embeddings, norms and
//! `lm_head` are f32.
//!
//! `load` reads `model.safetensors` (+ `config.json`) and checks every tensor against the
//! config, with errors that name the tensor; `write` saves a model in exactly that layout
//! (tests and benchmarks write small random models with it).

mod config;
pub mod gguf;
mod import;
mod load;
mod write;

pub use config::{Family, Gate, ModelConfig, ScaleConvention};
pub use import::{Quantizer, TernaryStats, gguf_config, gguf_vocab, unpermute_rope_rows};

/// The config of a model file (GGUF, or a safetensors folder/file with its config.json),
/// without reading its tensors: what `tern project --model` needs.
pub fn config_of(path: &std::path::Path) -> Result<ModelConfig, ModelError> {
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("gguf")) {
        import::gguf_config(path)
    } else {
        load::safetensors_config(path)
    }
}

use std::path::PathBuf;
use tern_arch::pack::TernaryMatrix;

/// Why a model file was rejected. The `Display` text names the file and the tensor; tests pin it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    #[error("cannot read {path}: {err}")]
    Io { path: PathBuf, err: std::io::Error },
    #[error("{file}: not a safetensors file: {msg}")]
    Format { file: String, msg: String },
    #[error("{file} is truncated: tensor `{tensor}` needs bytes {start}..{end} of the data section, which holds only {have} bytes")]
    Truncated { file: String, tensor: String, start: usize, end: usize, have: usize },
    #[error("{file}: bad config: {msg}")]
    Config { file: String, msg: String },
    #[error("{file}: missing tensor `{tensor}`")]
    MissingTensor { file: String, tensor: String },
    #[error("{file}: tensor `{tensor}` has dtype {found}, expected {expected}")]
    Dtype { file: String, tensor: String, found: String, expected: &'static str },
    #[error("{file}: tensor `{tensor}` has shape {found:?}, expected {expected:?} ({why})")]
    Shape { file: String, tensor: String, found: Vec<usize>, expected: Vec<usize>, why: String },
    #[error("{file}: tensor `{tensor}`: packed weight holds the invalid code 3 at row {row}, column {col}")]
    InvalidCode { file: String, tensor: String, row: usize, col: usize },
    #[error("{file}: tensor `{tensor}` = {value} is not a positive finite scale")]
    BadScale { file: String, tensor: String, value: f32 },
    #[error("{file}: {msg}")]
    Gguf { file: String, msg: String },
    #[error("{file}: tokenizer: {source}")]
    Tokenizer { file: String, source: crate::tokenizer::TokenizerError },
    #[error("cannot write {path}: {msg}")]
    Write { path: PathBuf, msg: String },
}

/// The seven BitLinear projections of a decoder layer, in execution order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Proj {
    Q,
    K,
    V,
    O,
    Gate,
    Up,
    Down,
}

impl Proj {
    pub const ALL: [Proj; 7] = [Proj::Q, Proj::K, Proj::V, Proj::O, Proj::Gate, Proj::Up, Proj::Down];

    /// The Hugging Face module path inside a layer (`self_attn.q_proj`, `mlp.down_proj`, ...).
    pub fn hf_name(self) -> &'static str {
        match self {
            Proj::Q => "self_attn.q_proj",
            Proj::K => "self_attn.k_proj",
            Proj::V => "self_attn.v_proj",
            Proj::O => "self_attn.o_proj",
            Proj::Gate => "mlp.gate_proj",
            Proj::Up => "mlp.up_proj",
            Proj::Down => "mlp.down_proj",
        }
    }

    /// (out, in) of the projection for a config.
    pub fn shape(self, c: &ModelConfig) -> (usize, usize) {
        let (d, f, q, kv) = (c.hidden_size, c.intermediate_size, c.q_dim(), c.kv_dim());
        match self {
            Proj::Q => (q, d),
            Proj::K | Proj::V => (kv, d),
            Proj::O => (d, q),
            Proj::Gate | Proj::Up => (f, d),
            Proj::Down => (d, f),
        }
    }
}

/// One BitLinear: ternary weights (HF packed layout) and the per-tensor `weight_scale`.
#[derive(Clone, Debug, PartialEq)]
pub struct BitLinear {
    pub w: TernaryMatrix,
    pub scale: f32,
    /// Per-output-row factors of the scale (a per-channel quantizer, or a `weight_scale` of
    /// shape `[out]`): row o's scale is `scale * row_scale[o]`. The accelerator's integers do
    /// not change; only the host's rescaling of each row does. `None`: one scale per tensor.
    pub row_scale: Option<Vec<f32>>,
}

impl BitLinear {
    /// The scale of output row `o`.
    pub fn scale_of(&self, o: usize) -> f64 {
        self.scale as f64 * self.row_scale.as_ref().map_or(1.0, |r| r[o] as f64)
    }
}

/// One decoder layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub input_layernorm: Vec<f32>,
    /// Empty in the llama family (no sub-norms).
    pub attn_sub_norm: Vec<f32>,
    pub post_attention_layernorm: Vec<f32>,
    /// Empty in the llama family.
    pub ffn_sub_norm: Vec<f32>,
    /// Indexed by `Proj as usize`.
    pub proj: [BitLinear; 7],
}

impl Layer {
    pub fn get(&self, p: Proj) -> &BitLinear {
        &self.proj[p as usize]
    }
}

/// A loaded model.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    pub config: ModelConfig,
    /// `vocab x hidden`, row-major.
    pub embed: Vec<f32>,
    pub layers: Vec<Layer>,
    pub norm: Vec<f32>,
    /// `vocab x hidden`, row-major (a copy of `embed` when tied).
    pub lm_head: Vec<f32>,
    /// Where it was loaded from (empty for a model built in memory).
    pub source: PathBuf,
    /// How text becomes token ids.
    pub vocab: Vocab,
    /// The full-precision weights the ternary ones were quantized from, per layer and `Proj`
    /// (row-major `out x in`): present when a loader was asked to keep them (a GGUF import or a
    /// float checkpoint), so the same forward pass can run unquantized as the baseline; `None`
    /// for a ternary checkpoint.
    pub float: Option<Vec<[Vec<f32>; 7]>>,
    /// How the ternary weights were made.
    pub ternarized: Ternarized,
}

/// Where a model's ternary weights came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ternarized {
    /// A ternary checkpoint: trained with the quantizer in the loop (the shipped model).
    Trained,
    /// Every projection was ternary in the GGUF file (TQ1_0 / TQ2_0, one scale each).
    InFile,
    /// Rounded on load from full-precision weights, without training.
    PostTraining(Quantizer),
}

impl Ternarized {
    /// The name reports carry: "checkpoint", "ternary in file", or the quantizer's.
    pub fn name(self) -> &'static str {
        match self {
            Ternarized::Trained => "checkpoint",
            Ternarized::InFile => "ternary in file",
            Ternarized::PostTraining(q) => q.name(),
        }
    }

    /// A phrase for tables.
    pub fn describe(self) -> String {
        match self {
            Ternarized::Trained => "ternary, trained (quantization-aware)".into(),
            Ternarized::InFile => format!("ternary, as stored in the file ({})", gguf::TERNARY_STORAGE),
            Ternarized::PostTraining(q) => format!("ternary, post-training {} ({}), int8 activations", q.name(), q.scales()),
        }
    }
}

/// A BPE model was given bytes that are not UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not UTF-8 text (byte {at} starts an invalid sequence): a BPE model reads UTF-8")]
pub struct NotUtf8 {
    pub at: usize,
}

/// How text maps to token ids.
#[derive(Clone, Debug, PartialEq)]
pub enum Vocab {
    /// One token per byte (vocab_size 256; the shipped Shakespeare model).
    Bytes,
    /// Byte-level BPE (from a GGUF file or a checkpoint's tokenizer.json), with the id to put
    /// before a sequence.
    Bpe { bpe: Box<crate::tokenizer::Bpe>, bos: Option<u32> },
    /// SentencePiece (a GGUF's `tokenizer.ggml.model = "llama"`: LLaMA's vocabulary, 1bitLLM's
    /// BitNet b1.58), with the id to put before a sequence.
    Spm { spm: Box<crate::spm::Spm>, bos: Option<u32> },
    /// No tokenizer came with the model (a safetensors checkpoint whose vocabulary is not 256
    /// bytes, without a tokenizer.json): token ids work, text does not.
    Ids { vocab: usize },
}

/// Text a model's tokenizer cannot take.
#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error(transparent)]
    NotUtf8(#[from] NotUtf8),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
}

impl Vocab {
    /// The ids of a text.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, crate::tokenizer::TokenizerError> {
        match self {
            Vocab::Bytes => Ok(text.bytes().map(u32::from).collect()),
            Vocab::Bpe { bpe, .. } => bpe.encode(text),
            Vocab::Spm { spm, .. } => spm.encode(text),
            Vocab::Ids { vocab } => Err(crate::tokenizer::TokenizerError::Missing { vocab: *vocab }),
        }
    }

    /// The ids of a file's bytes: any bytes for the byte vocabulary; UTF-8 for BPE, whose
    /// tokenizer reads characters (never re-encoded behind the caller's back).
    pub fn encode_bytes(&self, data: &[u8]) -> Result<Vec<u32>, TextError> {
        match self {
            Vocab::Bytes => Ok(data.iter().map(|&b| b as u32).collect()),
            Vocab::Bpe { .. } | Vocab::Spm { .. } | Vocab::Ids { .. } => {
                let text = std::str::from_utf8(data).map_err(|e| NotUtf8 { at: e.valid_up_to() })?;
                Ok(self.encode(text)?)
            }
        }
    }
    /// The bytes of one token (`<id>` where there is no tokenizer).
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        match self {
            Vocab::Bytes => vec![id as u8],
            Vocab::Bpe { bpe, .. } => bpe.token_bytes(id).to_vec(),
            Vocab::Spm { spm, .. } => spm.token_bytes(id),
            Vocab::Ids { .. } => format!("<{id}>").into_bytes(),
        }
    }
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        match self {
            Vocab::Bytes => ids.iter().map(|&t| t as u8).collect(),
            Vocab::Bpe { bpe, .. } => bpe.decode(ids),
            Vocab::Spm { spm, .. } => spm.decode(ids),
            Vocab::Ids { .. } => ids.iter().flat_map(|&t| self.token_bytes(t)).collect(),
        }
    }
    /// The token a sequence starts with, if the tokenizer has one.
    pub fn bos(&self) -> Option<u32> {
        match self {
            Vocab::Bytes | Vocab::Ids { .. } => None,
            Vocab::Bpe { bos, .. } | Vocab::Spm { bos, .. } => *bos,
        }
    }
    pub fn name(&self) -> &'static str {
        match self {
            Vocab::Bytes => "bytes",
            Vocab::Bpe { .. } => "byte-level BPE",
            Vocab::Spm { .. } => "SentencePiece",
            Vocab::Ids { .. } => "none (ids only)",
        }
    }
}

impl Model {
    /// Bytes of packed ternary weights (2 bits each): what decode streams per token.
    pub fn packed_weight_bytes(&self) -> u64 {
        self.layers.iter().flat_map(|l| l.proj.iter()).map(|b| b.w.packed.len() as u64).sum()
    }
}
