//! A checkpoint in the layout of microsoft/bitnet-b1.58-2B-4T (config.json with
//! `quantization_config` autobitlinear/offline, U8 packed ternary weights, BF16 `weight_scale`,
//! BF16 embeddings and norms, tied `lm_head`, ReLU², sub-norms, 4:1 GQA, RoPE theta 500000),
//! small and random, against the logits of transformers' own `BitNetForCausalLM` on it
//! (tests/fixtures/hf-bitnet, written by models/hf_bitnet_check.py).
use crate::common::{argmax, json_ids, json_matrix, max_abs_diff, ternary_as_float};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tern_arch::config::TINY;
use tern_host::exec::{AccelExec, HostExec, Phase};
use tern_host::model::{Family, Model, ScaleConvention, Vocab};
use tern_host::transformer::Session;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn dir() -> PathBuf {
    root().join("tests/fixtures/hf-bitnet")
}

fn model() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::load(&dir()).unwrap())
}

fn reference() -> &'static serde_json::Value {
    static J: OnceLock<serde_json::Value> = OnceLock::new();
    J.get_or_init(|| serde_json::from_slice(&std::fs::read(dir().join("transformers_logits.json")).unwrap()).unwrap())
}

fn tokens() -> Vec<u32> {
    json_ids(&reference()["tokens"])
}

/// The reference's logits (`positions x vocab`, flattened) under `key`.
fn logits(key: &str) -> Vec<f32> {
    json_matrix(&reference()[key])
}

#[test]
fn bitnet_2b4t_layout_config_is_read_as_transformers_reads_it() {
    let c = &model().config;
    // head_dim is not in the file: hidden / heads, as transformers derives it
    assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers), (128, 352, 2));
    assert_eq!((c.num_attention_heads, c.num_key_value_heads, c.head_dim), (4, 1, 32));
    assert_eq!((c.vocab_size, c.rope_theta, c.rms_norm_eps, c.max_position_embeddings), (512, 500000.0, 1e-5, 4096));
    assert_eq!((c.family, c.tie_word_embeddings), (Family::Bitnet, true));
    assert_eq!(c.scale_convention, ScaleConvention::Multiply, "quantization_config.linear_class = autobitlinear: weight_scale multiplies");
    assert_eq!(model().lm_head, model().embed);
    assert_eq!(model().vocab, Vocab::Ids { vocab: 512 }, "the fixture has no tokenizer.json: ids only");
}

/// The int8 path (what the accelerator computes) against transformers' forward with its own
/// ActQuant. Both round each projection's input to int8 from f32 values summed in different
/// orders, so a value within an ulp of a rounding tie may round apart (the QAT test's note);
/// the script's seed leaves every activation at least 1.6e-4 from a tie (it checks that), so
/// none does: measured max |diff| 2.3e-5 (logits reach 50.6).
#[test]
fn bitnet_2b4t_layout_int8_logits_match_transformers() {
    let m = model();
    let want = logits("logits");
    let got = Session::new(m).forward(&mut HostExec::new(), &tokens(), Phase::Prefill, true).unwrap();
    let v = m.config.vocab_size;
    for (p, (g, w)) in got.chunks(v).zip(want.chunks(v)).enumerate() {
        assert_eq!(argmax(g), argmax(w), "position {p}");
        assert_eq!(argmax(w) as u64, reference()["argmax"][p].as_u64().unwrap());
    }
    let d = max_abs_diff(&got, &want);
    assert!(d < 1e-3, "max |logit - transformers| = {d}");
    // the same integers on the golden accelerator
    let a = TINY.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    assert_eq!(Session::new(m).forward(&mut golden, &tokens(), Phase::Prefill, true).unwrap(), got);
}

/// With activation quantization off on both sides (transformers' ActQuant replaced by the
/// identity; tern's f32 session on weights = codes x weight_scale) nothing rounds, so the graph
/// itself (GQA, RoPE, sub-norms, ReLU², tied head, BF16 widening) is pinned to f32 summation
/// order: measured max |diff| 9.1e-5 on logits up to 50 (an f32 ulp there is 3.8e-6). The
/// int8 reference is 2.3 away, so the bound tells the two paths apart.
#[test]
fn bitnet_2b4t_layout_f32_activation_logits_match_transformers() {
    let mut m = model().clone();
    m.float = Some(ternary_as_float(&m));
    let got = Session::float(&m).unwrap().forward(&mut HostExec::new(), &tokens(), Phase::Prefill, true).unwrap();
    let want = logits("logits_float_activations");
    let d = max_abs_diff(&got, &want);
    assert!(d < 5e-4, "max |logit - transformers| = {d}");
    assert!(max_abs_diff(&got, &logits("logits")) > 1e-3, "int8 rounding must show: the two references differ");
}

/// The fixture copied to a scratch folder with its config.json edited.
fn load_with_config(name: &str, edit: impl FnOnce(&mut serde_json::Value)) -> Result<Model, String> {
    let d = crate::common::Scratch::new("tern-it", name);
    std::fs::copy(dir().join("model.safetensors"), d.join("model.safetensors")).unwrap();
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(dir().join("config.json")).unwrap()).unwrap();
    edit(&mut c);
    std::fs::write(d.join("config.json"), serde_json::to_vec(&c).unwrap()).unwrap();
    Model::load(&d).map_err(|e| e.to_string().split_once("bad config: ").map_or(e.to_string(), |(_, m)| m.to_string()))
}

/// What a Hugging Face config says that this forward pass would otherwise get wrong is read or
/// refused: the activation and model type pick the family (and must agree), biases and scaled
/// RoPE are refused, and transformers 5's `rope_parameters` stands in for `rope_theta`.
#[test]
fn hf_config_keys_that_change_the_forward_pass_are_read_or_refused() {
    use serde_json::json;
    let err = |name: &str, edit: &dyn Fn(&mut serde_json::Value)| load_with_config(name, edit).unwrap_err();
    assert_eq!(
        err("act", &|c| c["hidden_act"] = json!("gelu")),
        "config key `hidden_act` must be \"relu2\" (BitNet b1.58 2B4T) or \"silu\" (llama), not \"gelu\""
    );
    assert_eq!(
        err("type", &|c| c["model_type"] = json!("llama")),
        "config key `model_type` says a llama model but `architectures` says bitnet"
    );
    assert_eq!(
        err("act2", &|c| {
            c.as_object_mut().unwrap().remove("architectures");
            c["model_type"] = json!("llama");
        }),
        "config key `hidden_act` says relu2 but `model_type` says a llama model"
    );
    assert_eq!(err("family", &|c| c["family"] = json!("llama")), "config key `model_type` says a bitnet model but `family` says llama");
    assert_eq!(
        err("arch", &|c| c["architectures"] = json!(["BitnetForCausalLM"])),
        "config key `model_type` says a bitnet model but `architectures` says bitnet-silu"
    );
    assert_eq!(
        err("unknown", &|c| c["family"] = json!("gpt2")),
        "config key `family` must be \"bitnet\", \"llama\" or \"bitnet-silu\", not \"gpt2\""
    );
    assert_eq!(
        err("bias", &|c| c["attention_bias"] = json!(true)),
        "config key `attention_bias` must be false (tern's projections have no biases), not true"
    );
    assert_eq!(
        err("scaling", &|c| c["rope_scaling"] = json!({"rope_type": "llama3", "factor": 8.0})),
        "config key `rope_scaling` must be null (plain RoPE; scaled RoPE is not implemented), not {\"factor\":8.0,\"rope_type\":\"llama3\"}"
    );
    let params = |kind: &'static str| {
        move |c: &mut serde_json::Value| {
            c.as_object_mut().unwrap().remove("rope_theta");
            c["rope_parameters"] = json!({"rope_type": kind, "rope_theta": 250000.0});
        }
    };
    assert_eq!(load_with_config("params", params("default")).unwrap().config.rope_theta, 250000.0);
    assert!(err("yarn", &params("yarn")).starts_with("config key `rope_parameters` must be plain RoPE (rope_type \"default\")"));
    // silu with a llama model_type is the llama family, which has no sub-norms: the file's are
    // then tensors nothing reads, an error (they were silently dropped before)
    assert_eq!(
        load_with_config("llama", |c| {
            c.as_object_mut().unwrap().remove("architectures");
            c["model_type"] = json!("llama");
            c["hidden_act"] = json!("silu");
        })
        .unwrap_err(),
        "tensor `model.layers.0.mlp.ffn_sub_norm.weight` has no place in a llama model (does the config name the right family?)"
    );
    // silu with tern's `bitnet-silu` family keeps the sub-norms (1bitLLM's BitNet b1.58)
    let m = load_with_config("silu", |c| {
        c.as_object_mut().unwrap().remove("model_type");
        c.as_object_mut().unwrap().remove("architectures");
        c["family"] = json!("bitnet-silu");
        c["hidden_act"] = json!("silu");
    })
    .unwrap();
    assert_eq!(m.config.family, Family::BitnetSilu);
    assert_eq!(m.layers[0].ffn_sub_norm.len(), m.config.intermediate_size);
    assert_eq!(
        err("relu2", &|c| {
            c.as_object_mut().unwrap().remove("model_type");
            c.as_object_mut().unwrap().remove("architectures");
            c["family"] = json!("bitnet-silu");
        }),
        "config key `hidden_act` says relu2 but `family` says a bitnet-silu model"
    );
}

/// BitNet b1.58 2B4T at its full size (2,084 M ternary weights, random values: the real
/// checkpoint is not reachable here) through the simulated RTL: the same tokens, cycles and
/// all ten counters as the golden model, and a decode step costs what `tern project` says.
/// 128 s here and about 6 GB of memory: TERN_SLOW=1.
#[test]
fn full_size_2b4t_runs_on_verilator_as_on_golden_and_as_projected() {
    if std::env::var("TERN_SLOW").is_err() {
        return;
    }
    use tern_host::generate::generate;
    use tern_host::sample::Sampler;
    let cfg = tern_host::model::ModelConfig::named("bitnet-b1.58-2b4t").unwrap();
    let m = Model::random(&cfg, 1);
    let a = TINY.validate().unwrap();
    let prompt = [128_000, 791];
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let g = generate(&m, &mut golden, &prompt, 2, &mut Sampler::greedy(), 0, |_| {}).unwrap();
    let mut rtl = AccelExec::new(Box::new(tern_sim::VerilatorBackend::new(&a).expect("verilator build")));
    let r = generate(&m, &mut rtl, &prompt, 2, &mut Sampler::greedy(), 0, |_| {}).unwrap();
    assert_eq!(r.tokens, g.tokens);
    assert_eq!(rtl.prefill.counters, golden.prefill.counters, "prefill");
    assert_eq!(rtl.decode.counters, golden.decode.counters, "decode");
    let p = tern_host::project::project(&cfg, &a, prompt.len()).unwrap();
    assert_eq!((golden.prefill.counters, golden.decode.counters), (p.prefill.counters, p.decode.counters));
    assert_eq!(golden.decode.counters.cycles, 131_985_780, "the README's tern project row for 2B4T on tiny");
}
