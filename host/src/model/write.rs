//! Writing a model in the layout `load` reads (the Hugging Face BitNet packed layout), and
//! small random models for tests and benchmarks.

use super::config::ModelConfig;
use super::{BitLinear, Layer, Model, ModelError, Proj, Ternarized, Vocab};
use safetensors::tensor::{Dtype, TensorView};
use std::path::Path;
use tern_arch::pack::TernaryMatrix;

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

impl Model {
    /// Save as `path` (a .safetensors file); the config goes into `__metadata__`.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let c = &self.config;
        let (d, v) = (c.hidden_size, c.vocab_size);
        // (name, dtype, shape, bytes)
        let mut t: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
        t.push(("model.embed_tokens.weight".into(), Dtype::F32, vec![v, d], f32_bytes(&self.embed)));
        for (i, l) in self.layers.iter().enumerate() {
            let p = format!("model.layers.{i}.");
            t.push((format!("{p}input_layernorm.weight"), Dtype::F32, vec![d], f32_bytes(&l.input_layernorm)));
            if c.family.sub_norms() {
                t.push((format!("{p}self_attn.attn_sub_norm.weight"), Dtype::F32, vec![c.q_dim()], f32_bytes(&l.attn_sub_norm)));
            }
            t.push((format!("{p}post_attention_layernorm.weight"), Dtype::F32, vec![d], f32_bytes(&l.post_attention_layernorm)));
            if c.family.sub_norms() {
                t.push((format!("{p}mlp.ffn_sub_norm.weight"), Dtype::F32, vec![c.intermediate_size], f32_bytes(&l.ffn_sub_norm)));
            }
            for pj in Proj::ALL {
                let b = l.get(pj);
                let name = format!("{p}{}.weight", pj.hf_name());
                t.push((name.clone(), Dtype::U8, vec![b.w.out.div_ceil(4), b.w.inp], b.w.packed.clone()));
                match &b.row_scale {
                    None => t.push((format!("{name}_scale"), Dtype::F32, vec![1], f32_bytes(&[b.scale]))),
                    Some(_) => {
                        let rows: Vec<f32> = (0..b.w.out).map(|o| b.scale_of(o) as f32).collect();
                        t.push((format!("{name}_scale"), Dtype::F32, vec![b.w.out], f32_bytes(&rows)));
                    }
                }
            }
        }
        t.push(("model.norm.weight".into(), Dtype::F32, vec![d], f32_bytes(&self.norm)));
        if !(c.tie_word_embeddings && self.lm_head == self.embed) {
            t.push(("lm_head.weight".into(), Dtype::F32, vec![v, d], f32_bytes(&self.lm_head)));
        }
        let err = |msg: String| ModelError::Write { path: path.to_path_buf(), msg };
        let views = t
            .iter()
            .map(|(n, dt, s, b)| Ok((n.clone(), TensorView::new(*dt, s.clone(), b).map_err(|e| err(format!("{n}: {e:?}")))?)))
            .collect::<Result<Vec<_>, ModelError>>()?;
        safetensors::serialize_to_file(views, &Some(c.to_metadata()), path).map_err(|e| err(format!("{e:?}")))
    }

    /// A random model of a given shape (deterministic in `seed`): ternary weights with about a
    /// third zeros, scales near 1/30, embeddings and lm_head of unit-ish size, norms near 1.
    /// Its text is noise, but every code path (GQA, RoPE, KV cache, subln) is exercised.
    pub fn random(config: &ModelConfig, seed: u64) -> Model {
        let c = config;
        let mut r = tern_arch::rng::SplitMix64::new(seed ^ 0x7465_726e_5f68_6f73);
        let mut next = move || r.next_u64();
        let mut unif = move || (next() >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0;
        let mut vecf = |n: usize, center: f32, spread: f32| -> Vec<f32> { (0..n).map(|_| center + spread * unif()).collect() };
        let (d, v) = (c.hidden_size, c.vocab_size);
        let embed = vecf(v * d, 0.0, 1.0);
        let mut layers = Vec::new();
        let mut seed2 = seed;
        for _ in 0..c.num_hidden_layers {
            let input_layernorm = vecf(d, 1.0, 0.2);
            let sub_norms = c.family.sub_norms();
            let attn_sub_norm = if sub_norms { vecf(c.q_dim(), 1.0, 0.2) } else { Vec::new() };
            let post_attention_layernorm = vecf(d, 1.0, 0.2);
            let ffn_sub_norm = if sub_norms { vecf(c.intermediate_size, 1.0, 0.2) } else { Vec::new() };
            let proj = Proj::ALL.map(|p| {
                let (out, inp) = p.shape(c);
                seed2 = seed2.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let mut r = seed2;
                let w: Vec<i8> = (0..out * inp)
                    .map(|_| {
                        r ^= r << 13;
                        r ^= r >> 7;
                        r ^= r << 17;
                        (r % 3) as i8 - 1
                    })
                    .collect();
                BitLinear { w: TernaryMatrix::from_weights(&w, out, inp).expect("shape"), scale: 1.0 / 30.0, row_scale: None }
            });
            layers.push(Layer { input_layernorm, attn_sub_norm, post_attention_layernorm, ffn_sub_norm, proj });
        }
        let norm = vecf(d, 1.0, 0.2);
        let lm_head = vecf(v * d, 0.0, 0.3);
        Model {
            config: c.clone(),
            embed,
            layers,
            norm,
            lm_head,
            source: Default::default(),
            vocab: Vocab::Bytes,
            float: None,
            ternarized: Ternarized::Trained,
        }
    }
}
