//! The transformer's hyper-parameters, read from the safetensors `__metadata__` (JSON strings,
//! the way `models/export.py` writes them) or from `config.json` next to the weights.

use super::ModelError;
use serde::Serialize;
use std::collections::HashMap;

/// How a BitLinear's `weight_scale` is applied to the int32 accumulator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScaleConvention {
    /// `weight_scale` = mean|W| (transformers `AutoBitLinear`, microsoft/bitnet-b1.58-2B-4T,
    /// tern's export): y = acc * weight_scale / x_scale.
    Multiply,
    /// `weight_scale` = 1 / mean|W| (transformers' older `BitLinear` class):
    /// y = acc / (x_scale * weight_scale).
    Divide,
}

/// The decoder's family: what the feed-forward computes and whether sub-norms exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// BitNet b1.58 2B4T: ReLU² gate (`relu(gate)^2 * up`), `attn_sub_norm` before `o_proj`
    /// and `ffn_sub_norm` before `down_proj`.
    Bitnet,
    /// llama (SmolLM2): SiLU gate (`silu(gate) * up`), no sub-norms.
    Llama,
    /// BitNet b1.58 as 1bitLLM reproduced it (bitnet_b1_58-large/3B) and llama.cpp's `bitnet`
    /// architecture runs it: SiLU gate, with both sub-norms.
    BitnetSilu,
}

/// The gate of a family's feed-forward block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// `relu(gate)^2 * up`
    Relu2,
    /// `silu(gate) * up`
    Silu,
}

impl Family {
    pub const ALL: [Family; 3] = [Family::Bitnet, Family::Llama, Family::BitnetSilu];

    pub fn name(self) -> &'static str {
        match self {
            Family::Bitnet => "bitnet",
            Family::Llama => "llama",
            Family::BitnetSilu => "bitnet-silu",
        }
    }

    pub fn gate(self) -> Gate {
        if self == Family::Bitnet { Gate::Relu2 } else { Gate::Silu }
    }

    /// `attn_sub_norm` before `o_proj` and `ffn_sub_norm` before `down_proj`.
    pub fn sub_norms(self) -> bool {
        self != Family::Llama
    }

    /// "\"bitnet\", \"llama\" or \"bitnet-silu\"", for messages.
    pub fn names_quoted() -> String {
        let q: Vec<String> = Family::ALL.iter().map(|f| format!("\"{}\"", f.name())).collect();
        format!("{} or {}", q[..q.len() - 1].join(", "), q[q.len() - 1])
    }

    /// The family a name (`name()`; a Hugging Face `model_type`) stands for.
    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// Hyper-parameters of a llama / BitNet b1.58 2B4T style model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ModelConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub rope_theta: f32,
    pub rms_norm_eps: f32,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    /// `lm_head` shares `embed_tokens` (used only when the file has no `lm_head.weight`).
    pub tie_word_embeddings: bool,
    pub scale_convention: ScaleConvention,
    pub family: Family,
}

impl ModelConfig {
    /// The `models/tiny-shakespeare` shape (train.py defaults), for tests and benchmarks.
    pub fn tiny_shakespeare() -> ModelConfig {
        ModelConfig {
            hidden_size: 256,
            intermediate_size: 768,
            num_hidden_layers: 6,
            num_attention_heads: 4,
            num_key_value_heads: 2,
            head_dim: 64,
            rope_theta: 10000.0,
            rms_norm_eps: 1e-5,
            vocab_size: 256,
            max_position_embeddings: 256,
            tie_word_embeddings: false,
            scale_convention: ScaleConvention::Multiply,
            family: Family::Bitnet,
        }
    }

    /// Named shapes of real models (`tern project`): the shipped model, SmolLM2-135M, BitNet
    /// b1.58 2B4T (microsoft/bitnet-b1.58-2B-4T config.json) and the BitNet b1.58 paper's 3B
    /// (1bitLLM/bitnet_b1_58-3B config.json: llama with SiLU and sub-norms, no GQA; llama.cpp's
    /// `bitnet` architecture).
    pub fn named_shapes() -> [(&'static str, ModelConfig); 4] {
        let base = ModelConfig::tiny_shakespeare();
        [
            ("tiny-shakespeare", base.clone()),
            (
                "smollm2-135m",
                ModelConfig {
                    hidden_size: 576,
                    intermediate_size: 1536,
                    num_hidden_layers: 30,
                    num_attention_heads: 9,
                    num_key_value_heads: 3,
                    head_dim: 64,
                    rope_theta: 100000.0,
                    vocab_size: 49152,
                    max_position_embeddings: 8192,
                    tie_word_embeddings: true,
                    family: Family::Llama,
                    ..base.clone()
                },
            ),
            (
                "bitnet-b1.58-2b4t",
                ModelConfig {
                    hidden_size: 2560,
                    intermediate_size: 6912,
                    num_hidden_layers: 30,
                    num_attention_heads: 20,
                    num_key_value_heads: 5,
                    head_dim: 128,
                    rope_theta: 500000.0,
                    vocab_size: 128256,
                    max_position_embeddings: 4096,
                    tie_word_embeddings: true,
                    ..base.clone()
                },
            ),
            (
                "bitnet-b1.58-3b",
                ModelConfig {
                    hidden_size: 3200,
                    intermediate_size: 8640,
                    num_hidden_layers: 26,
                    num_attention_heads: 32,
                    num_key_value_heads: 32,
                    head_dim: 100,
                    vocab_size: 32002,
                    max_position_embeddings: 2048,
                    tie_word_embeddings: true,
                    family: Family::BitnetSilu,
                    ..base
                },
            ),
        ]
    }

    /// A named shape.
    pub fn named(name: &str) -> Option<ModelConfig> {
        ModelConfig::named_shapes().into_iter().find(|(n, _)| *n == name).map(|(_, c)| c)
    }

    /// The names of `named_shapes`.
    pub fn names() -> Vec<&'static str> {
        ModelConfig::named_shapes().iter().map(|(n, _)| *n).collect()
    }

    /// Query width (heads x head_dim) and key/value width (kv heads x head_dim).
    pub fn q_dim(&self) -> usize {
        self.num_attention_heads * self.head_dim
    }
    pub fn kv_dim(&self) -> usize {
        self.num_key_value_heads * self.head_dim
    }

    /// Ternary weights in the BitLinear layers (what the accelerator streams per token).
    pub fn ternary_weights(&self) -> u64 {
        let (d, f, q, kv) = (self.hidden_size, self.intermediate_size, self.q_dim(), self.kv_dim());
        (self.num_hidden_layers * (2 * d * q + 2 * d * kv + 3 * d * f)) as u64
    }

    /// The integer config keys with their values (metadata names).
    fn int_keys(&self) -> [(&'static str, usize); 8] {
        [
            ("hidden_size", self.hidden_size),
            ("intermediate_size", self.intermediate_size),
            ("num_hidden_layers", self.num_hidden_layers),
            ("num_attention_heads", self.num_attention_heads),
            ("num_key_value_heads", self.num_key_value_heads),
            ("head_dim", self.head_dim),
            ("vocab_size", self.vocab_size),
            ("max_position_embeddings", self.max_position_embeddings),
        ]
    }

    /// The metadata strings a file written by tern carries (`write` uses it).
    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        let ints = self.int_keys();
        for (k, v) in ints {
            m.insert(k.to_string(), v.to_string());
        }
        m.insert("rope_theta".into(), format!("{:?}", self.rope_theta as f64));
        m.insert("rms_norm_eps".into(), format!("{:?}", self.rms_norm_eps as f64));
        m.insert("format".into(), "tern-bitnet-hf".into());
        m.insert(
            "weight_scale".into(),
            match self.scale_convention {
                ScaleConvention::Multiply => "mean|W|, multiplies: y = (xq @ Wq^T) * weight_scale / s (transformers AutoBitLinear)",
                ScaleConvention::Divide => "1/mean|W|, divides: y = (xq @ Wq^T) / (s * weight_scale) (transformers BitLinear)",
            }
            .into(),
        );
        if self.tie_word_embeddings {
            m.insert("tie_word_embeddings".into(), "true".into());
        }
        m.insert("family".into(), self.family.name().into());
        m
    }

    /// Read the config: each key from the safetensors metadata (a JSON string) first, else from
    /// `config.json` (a JSON object), else an error naming the key.
    pub(crate) fn from_sources(
        meta: Option<&HashMap<String, String>>,
        json: Option<&serde_json::Value>,
        file: &str,
    ) -> Result<ModelConfig, ModelError> {
        let get = |key: &str| -> Option<serde_json::Value> {
            if let Some(s) = meta.and_then(|m| m.get(key)) {
                return Some(serde_json::from_str(s).unwrap_or(serde_json::Value::String(s.clone())));
            }
            json.and_then(|j| j.get(key)).cloned()
        };
        let missing = |key: &str| ModelError::Config {
            file: file.to_string(),
            msg: format!("config key `{key}` is missing (looked in the safetensors __metadata__ and in config.json)"),
        };
        let bad = |key: &str, v: &serde_json::Value, want: &str| ModelError::Config {
            file: file.to_string(),
            msg: format!("config key `{key}` must be {want}, not {v}"),
        };
        let int = |key: &str| -> Result<usize, ModelError> {
            let v = get(key).ok_or_else(|| missing(key))?;
            v.as_u64().map(|x| x as usize).ok_or_else(|| bad(key, &v, "a non-negative integer"))
        };
        let float = |key: &str| -> Result<f32, ModelError> {
            let v = get(key).ok_or_else(|| missing(key))?;
            v.as_f64().map(|x| x as f32).ok_or_else(|| bad(key, &v, "a number"))
        };
        let hidden_size = int("hidden_size")?;
        let num_attention_heads = int("num_attention_heads")?;
        // head_dim is optional in llama configs: hidden / heads
        let head_dim = match get("head_dim") {
            Some(v) => v.as_u64().map(|x| x as usize).ok_or_else(|| bad("head_dim", &v, "a non-negative integer"))?,
            None => hidden_size / num_attention_heads.max(1),
        };
        let num_key_value_heads = match get("num_key_value_heads") {
            Some(_) => int("num_key_value_heads")?,
            None => num_attention_heads,
        };
        let tie_word_embeddings = match get("tie_word_embeddings") {
            Some(serde_json::Value::Bool(b)) => b,
            Some(serde_json::Value::String(s)) => s == "true",
            _ => false,
        };
        let scale_convention = scale_convention(meta, json);
        // The family (the FFN's gate, the sub-norms) is tern's own `family` key, else what
        // `architectures` names, else `model_type`, else what `hidden_act` implies (relu2:
        // BitNet 2B4T; silu: llama); the names must agree, and `hidden_act` must be the
        // family's gate.
        let gate = match get("hidden_act") {
            None => None,
            Some(serde_json::Value::String(s)) if s == "relu2" => Some(Gate::Relu2),
            Some(serde_json::Value::String(s)) if s == "silu" || s == "swish" => Some(Gate::Silu),
            Some(v) => return Err(bad("hidden_act", &v, "\"relu2\" (BitNet b1.58 2B4T) or \"silu\" (llama)")),
        };
        let named = |v: &serde_json::Value| v.as_str().and_then(Family::from_name);
        let from_type = match get("model_type") {
            None => None,
            Some(v) => match named(&v) {
                Some(f) => Some(f),
                None if gate.is_none() => {
                    return Err(bad("model_type", &v, &format!("{} (or a hidden_act of relu2 or silu)", Family::names_quoted())));
                }
                None => None,
            },
        };
        let from_key = match get("family") {
            None => None,
            Some(v) => Some(named(&v).ok_or_else(|| bad("family", &v, &Family::names_quoted()))?),
        };
        // transformers' class names: 1bitLLM's BitNet b1.58 keeps `model_type` "llama" and
        // names its own class, whose layers carry sub-norms; 2B4T's is transformers' BitNet
        let from_arch = get("architectures").and_then(|a| {
            a.as_array()?.iter().find_map(|c| match c.as_str()? {
                "BitnetForCausalLM" => Some(Family::BitnetSilu),
                "BitNetForCausalLM" => Some(Family::Bitnet),
                _ => None,
            })
        });
        let conflict = |msg: String| ModelError::Config { file: file.to_string(), msg };
        // every two that name a family agree; a llama `model_type` is also right for 1bitLLM's
        // BitNet (llama with sub-norms)
        let said = [("model_type", from_type), ("architectures", from_arch), ("family", from_key)];
        for (i, &(k1, f1)) in said.iter().enumerate() {
            for &(k2, f2) in &said[i + 1..] {
                if let (Some(a), Some(b)) = (f1, f2)
                    && a != b
                    && !(k1 == "model_type" && a == Family::Llama && b == Family::BitnetSilu)
                {
                    return Err(conflict(format!("config key `{k1}` says a {} model but `{k2}` says {}", a.name(), b.name())));
                }
            }
        }
        let key = ["family", "architectures", "model_type"].into_iter().zip([from_key, from_arch, from_type]).find(|(_, f)| f.is_some());
        let family = match (key.and_then(|k| k.1), gate) {
            (Some(f), Some(g)) if f.gate() != g => {
                let key = key.map_or("family", |k| k.0);
                let act = if g == Gate::Relu2 { "relu2" } else { "silu" };
                return Err(conflict(format!("config key `hidden_act` says {act} but `{key}` says a {} model", f.name())));
            }
            (Some(f), _) => f,
            (None, Some(Gate::Silu)) => Family::Llama,
            (None, _) => Family::Bitnet,
        };
        // transformers 5 writes RoPE's settings as `rope_parameters` (rope_type default) in
        // place of `rope_theta`
        let rope_theta = match (get("rope_theta"), get("rope_parameters")) {
            (None, Some(p)) if p.is_object() => {
                let kind = p.get("rope_type").and_then(|t| t.as_str()).unwrap_or("default");
                if kind != "default" {
                    return Err(bad("rope_parameters", &p, "plain RoPE (rope_type \"default\"); scaled RoPE is not implemented"));
                }
                let t = p.get("rope_theta").ok_or_else(|| missing("rope_parameters.rope_theta"))?;
                t.as_f64().map(|x| x as f32).ok_or_else(|| bad("rope_parameters.rope_theta", t, "a number"))?
            }
            _ => float("rope_theta")?,
        };
        // parts of a Hugging Face config this forward pass does not have: refuse, not ignore
        for key in ["attention_bias", "mlp_bias"] {
            if let Some(v) = get(key).filter(|v| v != &serde_json::Value::Bool(false)) {
                return Err(bad(key, &v, "false (tern's projections have no biases)"));
            }
        }
        if let Some(v) = get("rope_scaling").filter(|v| !v.is_null()) {
            return Err(bad("rope_scaling", &v, "null (plain RoPE; scaled RoPE is not implemented)"));
        }
        let cfg = ModelConfig {
            hidden_size,
            intermediate_size: int("intermediate_size")?,
            num_hidden_layers: int("num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads,
            head_dim,
            rope_theta,
            rms_norm_eps: float("rms_norm_eps")?,
            vocab_size: int("vocab_size")?,
            max_position_embeddings: int("max_position_embeddings")?,
            tie_word_embeddings,
            scale_convention,
            family,
        };
        cfg.validate().map_err(|msg| ModelError::Config { file: file.to_string(), msg })?;
        Ok(cfg)
    }

    /// Structural checks; the message names the offending key.
    pub fn validate(&self) -> Result<(), String> {
        let pos = self.int_keys();
        for (k, v) in pos {
            if v == 0 {
                return Err(format!("config key `{k}` must be at least 1"));
            }
            // far beyond any model this host can hold: a corrupt file, not a model to allocate for
            if v > 1 << 24 {
                return Err(format!("config key `{k}` = {v} is implausible (more than 16,777,216)"));
            }
        }
        if !self.num_attention_heads.is_multiple_of(self.num_key_value_heads) {
            return Err(format!(
                "num_attention_heads ({}) must be a multiple of num_key_value_heads ({})",
                self.num_attention_heads, self.num_key_value_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return Err(format!("head_dim must be even for RoPE, not {}", self.head_dim));
        }
        if !(self.rope_theta > 0.0 && self.rope_theta.is_finite()) {
            return Err(format!("rope_theta must be a positive number, not {}", self.rope_theta));
        }
        if !(self.rms_norm_eps >= 0.0 && self.rms_norm_eps.is_finite()) {
            return Err(format!("rms_norm_eps must be a non-negative number, not {}", self.rms_norm_eps));
        }
        Ok(())
    }
}

/// Which convention the file uses: tern's metadata string, else config.json's
/// `quantization_config.linear_class` ("autobitlinear" multiplies, "bitlinear" divides), else
/// Multiply (the convention of microsoft/bitnet-b1.58-2B-4T).
fn scale_convention(meta: Option<&HashMap<String, String>>, json: Option<&serde_json::Value>) -> ScaleConvention {
    if let Some(s) = meta.and_then(|m| m.get("weight_scale")) {
        let s = s.to_ascii_lowercase();
        if s.contains("divide") || s.starts_with("1/") {
            return ScaleConvention::Divide;
        }
        if s.contains("multipl") || s.starts_with("mean") {
            return ScaleConvention::Multiply;
        }
    }
    let class = json.and_then(|j| j.get("quantization_config")).and_then(|q| q.get("linear_class")).and_then(|c| c.as_str());
    match class {
        Some(c) if c.eq_ignore_ascii_case("bitlinear") => ScaleConvention::Divide,
        _ => ScaleConvention::Multiply,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked() {
        let ok = ModelConfig::tiny_shakespeare();
        assert_eq!(ok.validate(), Ok(()));
        assert_eq!(
            ModelConfig { num_hidden_layers: 0, ..ok.clone() }.validate().unwrap_err(),
            "config key `num_hidden_layers` must be at least 1"
        );
        assert_eq!(
            ModelConfig { max_position_embeddings: 1 << 30, ..ok.clone() }.validate().unwrap_err(),
            "config key `max_position_embeddings` = 1073741824 is implausible (more than 16,777,216)"
        );
        for (name, c) in ModelConfig::named_shapes() {
            assert_eq!(c.validate(), Ok(()), "{name}");
        }
        assert_eq!(ModelConfig::named("bitnet-b1.58-2b4t").unwrap().ternary_weights(), 2_084_044_800, "REFERENCE.md: 2.084 G");
    }
}
