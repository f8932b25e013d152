//! The model: a llama / BitNet b1.58 2B4T style transformer held in memory the way the
//! accelerator consumes it. Every BitLinear weight stays in the Hugging Face packed layout
//! (`TernaryMatrix`, 2 bits per weight, validated to hold no code 3); embeddings, norms and
//! `lm_head` are f32.
//!
//! `load` reads `model.safetensors` (+ `config.json`) and checks every tensor against the
//! config, with errors that name the tensor; `write` saves a model in exactly that layout
//! (tests and benchmarks write small random models with it).

mod config;
mod load;
mod write;

pub use config::{ModelConfig, ScaleConvention};

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
}

/// One decoder layer.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    pub input_layernorm: Vec<f32>,
    pub attn_sub_norm: Vec<f32>,
    pub post_attention_layernorm: Vec<f32>,
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
}

impl Model {
    /// Bytes of packed ternary weights (2 bits each): what decode streams per token.
    pub fn packed_weight_bytes(&self) -> u64 {
        self.layers.iter().flat_map(|l| l.proj.iter()).map(|b| b.w.packed.len() as u64).sum()
    }
}
