//! llama.cpp's `bitnet` architecture (1bitLLM's BitNet b1.58: SiLU gate, both sub-norms, head
//! from `token_embd`, projections as floats of -s/0/+s or TQ1_0/TQ2_0, optional `.scale`
//! tensors), small and random, against llama.cpp's own logits on the same files
//! (tests/fixtures/bitnet-gguf, written by models/bitnet_gguf_check.py); and the Hugging Face
//! checkpoint layout those GGUFs are converted from (tests/fixtures/bitnet-hf,
//! models/bitnet_hf_check.py), against llama.cpp on its own conversion of it.
use crate::common::{Kv, argmax, gguf_bytes, json_ids, json_matrix, max_abs_diff, ternary_as_float};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use tern_arch::config::TINY;
use tern_host::exec::{AccelExec, HostExec, Phase};
use tern_host::model::{Family, Model, Quantizer, Ternarized};
use tern_host::transformer::Session;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/bitnet-gguf")
}

fn load(name: &str) -> Model {
    Model::from_gguf(&dir().join(format!("{name}.gguf")), Quantizer::Absmean, true).unwrap()
}

fn reference() -> &'static serde_json::Value {
    static J: OnceLock<serde_json::Value> = OnceLock::new();
    J.get_or_init(|| serde_json::from_slice(&std::fs::read(dir().join("llama_cpp_logits.json")).unwrap()).unwrap())
}

fn tokens() -> Vec<u32> {
    json_ids(&reference()["tokens"])
}

fn llama_cpp(name: &str) -> Vec<f32> {
    json_matrix(&reference()[name])
}

/// The argmax of each row of `v` logits.
fn argmaxes(l: &[f32], v: usize) -> Vec<usize> {
    l.chunks(v).map(argmax).collect()
}

fn float_logits(m: &Model) -> Vec<f32> {
    Session::float(m).unwrap().forward(&mut HostExec::new(), &tokens(), Phase::Prefill, true).unwrap()
}

#[test]
fn bitnet_gguf_is_read_as_llama_cpp_reads_it() {
    let m = load("f32");
    let c = &m.config;
    assert_eq!((c.family, c.tie_word_embeddings), (Family::BitnetSilu, true));
    assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.head_dim, c.num_key_value_heads), (64, 128, 2, 16, 2));
    assert_eq!(m.ternarized, Ternarized::InFile, "floats of -s/0/+s are taken as they are, not rounded again");
    assert_eq!((m.layers[1].attn_sub_norm.len(), m.layers[1].ffn_sub_norm.len()), (64, 128));
    assert_eq!(m.lm_head, m.embed);
    // layer 1's projections carry `.scale` tensors: the BitLinear scale is the weights' s times
    // it (both read here with tern's GGUF reader), and the kept f32 weights are codes x that
    let bytes = std::fs::read(dir().join("f32.gguf")).unwrap();
    let g = tern_host::model::gguf::Gguf::parse(&bytes, "f32.gguf").unwrap();
    let s = g.f32("blk.1.attn_q.weight", &[64, 64]).unwrap().into_iter().map(f32::abs).find(|&x| x != 0.0).unwrap();
    let extra = g.f32("blk.1.attn_q.scale", &[1]).unwrap()[0];
    assert_ne!(extra, 1.0);
    let (w, f) = (&m.layers[1].proj[0], &m.float.as_ref().unwrap()[1][0]);
    assert_eq!(w.scale, s * extra);
    assert!(f.iter().all(|&x| x == 0.0 || x.abs() == w.scale));
    let tq = load("tq");
    assert_eq!(tq.ternarized, Ternarized::InFile, "TQ1_0 and TQ2_0 with one scale per tensor");
}

/// llama.cpp multiplies F32 weights in f32 without rounding the activations, so tern's
/// f32-activation forward on the same ternary weights differs only by summation order:
/// measured max |diff| 1.4e-5 on logits up to 33.
#[test]
fn bitnet_gguf_f32_logits_match_llama_cpp() {
    let m = load("f32");
    let got = float_logits(&m);
    let want = llama_cpp("f32");
    let d = max_abs_diff(&got, &want);
    eprintln!("f32: tern f32 vs llama.cpp {d}");
    assert!(d < 1e-4, "max |logit - llama.cpp| = {d}");
    assert_eq!(argmaxes(&got, 260), argmaxes(&want, 260));
    // the int8 path (what the accelerator computes) rounds the activations: it must differ
    let int8 = Session::new(&m).forward(&mut HostExec::new(), &tokens(), Phase::Prefill, true).unwrap();
    assert!(max_abs_diff(&int8, &want) > 1e-2, "int8 rounding must show");
    // and the golden accelerator gives the host's integers
    let a = TINY.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    assert_eq!(Session::new(&m).forward(&mut golden, &tokens(), Phase::Prefill, true).unwrap(), int8);
}

/// TQ1_0/TQ2_0 decode to exactly the weights llama.cpp multiplies: on the same weights as F32
/// (`tq_as_f32`, llama.cpp without rounding) tern's f32-activation forward differs by summation
/// order only, measured 3.1e-5 on logits up to 176 (2 ulps there). On the TQ file itself llama.cpp's dot
/// products round the activations to Q8_K (per 256 values, the extreme value to -128), which
/// moves its own logits by up to 0.89; tern's int8 path rounds per token (absmax to 127)
/// and lands 0.67 from llama.cpp, within that rounding, with the same argmax.
#[test]
fn bitnet_gguf_ternary_blocks_match_llama_cpp() {
    let m = load("tq");
    let (tq, twin) = (llama_cpp("tq"), llama_cpp("tq_as_f32"));
    let f = float_logits(&m);
    let d_twin = max_abs_diff(&f, &twin);
    assert!(d_twin < 3e-4, "max |logit - llama.cpp on the F32 twin| = {d_twin}");
    let d_llama = max_abs_diff(&tq, &twin);
    assert!(d_llama > 1e-2, "llama.cpp's Q8_K rounding must show ({d_llama})");
    let int8 = Session::new(&m).forward(&mut HostExec::new(), &tokens(), Phase::Prefill, true).unwrap();
    let d_int8 = max_abs_diff(&int8, &tq);
    assert!(d_int8 < d_llama, "tern int8 vs llama.cpp {d_int8}, llama.cpp's own rounding {d_llama}");
    assert_eq!(argmaxes(&int8, 260), argmaxes(&tq, 260));
    eprintln!("tq: tern f32 vs llama.cpp F32 twin {d_twin}; llama.cpp TQ vs its twin {d_llama}; tern int8 vs llama.cpp TQ {d_int8}");
}

/// Greedy decoding of `n` tokens after `prompt` (argmax of each step's logits).
fn greedy(mut s: Session, prompt: &[u32], n: usize) -> Vec<u32> {
    let mut ex = HostExec::new();
    let mut logits = s.forward(&mut ex, prompt, Phase::Prefill, false).unwrap();
    let mut out = Vec::new();
    for _ in 0..n {
        let t = argmax(&logits) as u32;
        out.push(t);
        logits = s.forward(&mut ex, &[t], Phase::Decode, false).unwrap();
    }
    out
}

/// A `bitnet` GGUF with LLaMA's kind of tokenizer (SentencePiece: tests/fixtures/spm's
/// vocabulary), as a real 1bitLLM file has: the prompt as text gives llama.cpp's ids with its
/// BOS, and greedy decoding on the f32-activation path (llama.cpp's F32 weights do not round
/// activations) gives llama.cpp's 24 tokens and its text (llama.cpp keeps the prefix's
/// leading space, tern drops it as sentencepiece does). The int8 path, what the accelerator
/// computes, is a different model (rounded activations): its tokens are compared, not pinned.
#[test]
fn bitnet_gguf_with_sentencepiece_generates_as_llama_cpp() {
    let m = load("spm");
    let r = &reference()["spm"];
    let ids = |k: &str| json_ids(&r[k]);
    let mut prompt: Vec<u32> = m.vocab.bos().into_iter().collect();
    prompt.extend(m.vocab.encode(r["prompt"].as_str().unwrap()).unwrap());
    assert_eq!(prompt, ids("prompt_ids"));
    let want = ids("generated");
    let got = greedy(Session::float(&m).unwrap(), &prompt, want.len());
    assert_eq!(got, want);
    let text: Vec<u32> = prompt[1..].iter().chain(&got).copied().collect();
    let llama_text = r["text"].as_str().unwrap();
    assert_eq!(String::from_utf8_lossy(&m.vocab.decode(&text)), llama_text.strip_prefix(' ').unwrap());
    let int8 = greedy(Session::new(&m), &prompt, want.len());
    let same = int8.iter().zip(&want).take_while(|(a, b)| a == b).count();
    eprintln!("spm: int8 greedy agrees with llama.cpp for {same} of {} tokens", want.len());
    // the same through the binary: `tern generate --precision float` prints llama.cpp's text
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tern-cli"))
        .args(["generate", "--precision", "float", "--prompt", r["prompt"].as_str().unwrap(), "--tokens"])
        .arg(want.len().to_string())
        .arg("--model")
        .arg(dir().join("spm.gguf"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(llama_text.strip_prefix(' ').unwrap()),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A minimal `bitnet` GGUF (d 32, 2 heads, FFN 64, 1 block, F32 ternary projections), with
/// `edit` applied to its key/values and tensors, loaded; the error's text.
fn bad_bitnet(edit: impl FnOnce(&mut Vec<(&'static str, Kv)>, &mut Vec<(String, Vec<u64>, u32, Vec<u8>)>)) -> String {
    let (d, f) = (32u64, 64u64);
    let f32s = |n: u64, x: f32| -> Vec<u8> { (0..n).flat_map(|i| if i % 3 == 0 { 0.0f32 } else { x }.to_le_bytes()).collect() };
    let mut kvs: Vec<(&'static str, Kv)> = vec![
        ("general.architecture", Kv::Str("bitnet")),
        ("bitnet.context_length", Kv::U32(64)),
        ("bitnet.embedding_length", Kv::U32(d as u32)),
        ("bitnet.block_count", Kv::U32(1)),
        ("bitnet.feed_forward_length", Kv::U32(f as u32)),
        ("bitnet.attention.head_count", Kv::U32(2)),
        ("bitnet.attention.layer_norm_rms_epsilon", Kv::F32(1e-5)),
        ("bitnet.rope.scaling.type", Kv::Str("linear")),
        ("bitnet.rope.scaling.factor", Kv::F32(1.0)),
        ("tokenizer.ggml.model", Kv::Str("gpt2")),
        ("tokenizer.ggml.pre", Kv::Str("smollm")),
        ("tokenizer.ggml.tokens", Kv::Strs(crate::common::gpt2_byte_chars().iter().map(|c| c.to_string()).collect())),
        ("tokenizer.ggml.merges", Kv::Strs(vec![])),
    ];
    let mut t = vec![
        ("token_embd.weight".to_string(), vec![d, 256], 0, f32s(256 * d, 0.5)),
        ("output_norm.weight".into(), vec![d], 0, f32s(d, 1.0)),
    ];
    for (n, len) in [("attn_norm", d), ("ffn_norm", d), ("attn_sub_norm", d), ("ffn_sub_norm", f)] {
        t.push((format!("blk.0.{n}.weight"), vec![len], 0, f32s(len, 1.0)));
    }
    for (n, inp, out) in [
        ("attn_q", d, d),
        ("attn_k", d, d),
        ("attn_v", d, d),
        ("attn_output", d, d),
        ("ffn_gate", d, f),
        ("ffn_up", d, f),
        ("ffn_down", f, d),
    ] {
        t.push((format!("blk.0.{n}.weight"), vec![inp, out], 0, f32s(inp * out, 0.25)));
    }
    edit(&mut kvs, &mut t);
    let s = crate::common::Scratch::new("tern-it", "bad-bitnet");
    std::fs::create_dir_all(&*s).unwrap();
    let p = s.join("m.gguf");
    std::fs::write(&p, gguf_bytes(&kvs, &t)).unwrap();
    match Model::from_gguf(&p, Quantizer::Absmean, false) {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

/// The minimal file loads as it is; what llama.cpp's `bitnet` would read differently is
/// refused with a message naming it.
#[test]
fn bitnet_gguf_bad_files_are_named() {
    assert_eq!(bad_bitnet(|_, _| {}), "loaded");
    let e = bad_bitnet(|_, t| t.push(("output.weight".into(), vec![32, 256], 0, vec![0; 32 * 256 * 4])));
    assert!(e.ends_with("a `bitnet` GGUF with an `output.weight` tensor: llama.cpp's bitnet reads its head from token_embd"), "{e}");
    let e = bad_bitnet(|kv, _| kv.iter_mut().filter(|k| k.0 == "bitnet.rope.scaling.factor").for_each(|k| k.1 = Kv::F32(4.0)));
    assert!(e.ends_with("bitnet.rope.scaling.type = `linear` is not supported (only unscaled RoPE)"), "{e}");
    let e = bad_bitnet(|_, t| t.push(("blk.0.attn_q.scale".into(), vec![1], 0, (-2.0f32).to_le_bytes().to_vec())));
    assert!(e.ends_with("blk.0.attn_q.weight: its .scale is -2, not a positive number"), "{e}");
    let e = bad_bitnet(|_, t| t.retain(|x| x.0 != "blk.0.ffn_sub_norm.weight"));
    assert!(e.contains("blk.0.ffn_sub_norm.weight"), "{e}");
    let e = bad_bitnet(|kv, _| kv[0].1 = Kv::Str("gpt2"));
    assert!(
        e.ends_with(
            "architecture `gpt2` is not supported (llama is: SmolLM2, TinyLlama, ...; bitnet is: llama.cpp's BitNet b1.58 of 1bitLLM)"
        ),
        "{e}"
    );
}

/// 1bitLLM's Hugging Face layout (`BitnetForCausalLM` with `model_type` llama, SiLU, F32
/// master weights, sub-norms named `inner_attn_ln`/`ffn_layernorm`, a tied head, LLaMA's kind
/// of `tokenizer.model`): tern loads the folder itself, ternarizing the master weights by
/// absmean and tokenizing with the SentencePiece model; llama.cpp converted the same folder
/// with its own `convert_hf_to_gguf.py` (whose `weight_quant` is 1bitLLM's). The prompt's ids
/// (with the BOS) are llama.cpp's, and with f32 activations on the ternary weights the logits
/// of all 22 positions are within 2e-4 (measured 6.6e-5 on logits up to 33; more than the GGUF
/// files' 1.4e-5 because each side sums mean|W| in its own order, so the scales differ in the
/// last bits).
#[test]
fn bitnet_hf_checkpoint_matches_llama_cpp_on_its_conversion() {
    let dir = dir().join("../bitnet-hf");
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("llama_cpp_logits.json")).unwrap()).unwrap();
    let mut m = Model::load_with(&dir, Quantizer::Absmean, false).unwrap();
    assert_eq!(m.config.family, Family::BitnetSilu, "architectures: BitnetForCausalLM, though model_type is llama");
    assert_eq!((m.layers[1].attn_sub_norm.len(), m.layers[1].ffn_sub_norm.len()), (64, 128));
    assert_eq!(m.vocab.name(), "SentencePiece");
    let mut ids: Vec<u32> = m.vocab.bos().into_iter().collect();
    ids.extend(m.vocab.encode(r["prompt"].as_str().unwrap()).unwrap());
    assert_eq!(ids, json_ids(&r["ids"]));
    // f32 activations on the ternary weights (codes x scale), as llama.cpp's F32 GGUF holds them
    m.float = Some(ternary_as_float(&m));
    let got = Session::float(&m).unwrap().forward(&mut HostExec::new(), &ids, Phase::Prefill, true).unwrap();
    let want = json_matrix(&r["logits"]);
    let d = max_abs_diff(&got, &want);
    eprintln!("bitnet-hf: tern vs llama.cpp on its conversion {d}");
    assert!(d < 2e-4, "max |logit - llama.cpp| = {d}");
    assert_eq!(argmaxes(&got, 1000), argmaxes(&want, 1000));
}
