//! The transformer end to end: the model loader and its error messages, golden vs Verilator
//! per BitLinear call, the host executor vs the accelerator, the `tern` CLI (exit status, JSON),
//! and, once `models/tiny-shakespeare` is present, the PyTorch/numpy reference outputs.
use std::path::{Path, PathBuf};
use std::process::Command;
use tern_arch::config::{AccelConfig, TINY};
use tern_host::eval::{eval_host, windows};
use tern_host::exec::{AccelExec, Executor, HostExec, IntRecord, LinearId, Phase, Recorder, first_difference};
use tern_host::generate::{Generation, generate};
use tern_host::model::{Model, ModelConfig, ModelError, Proj, ScaleConvention};
use tern_host::sample::Sampler;
use tern_host::transformer::{Precision, Session};

const CLI: &str = env!("CARGO_BIN_EXE_tern-cli");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped model, when it is there.
fn shipped() -> Option<PathBuf> {
    let d = root().join("models/tiny-shakespeare");
    d.join("model.safetensors").exists().then_some(d)
}

/// A small model: GQA (4 heads, 2 KV heads), 2 layers, every shape a multiple of the tiny tiles.
fn small_cfg() -> ModelConfig {
    ModelConfig {
        hidden_size: 64,
        intermediate_size: 192,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        max_position_embeddings: 64,
        ..ModelConfig::tiny_shakespeare()
    }
}

/// A fresh folder under the system temp dir, removed when dropped.
fn tmpdir(name: &str) -> crate::common::Scratch {
    crate::common::Scratch::new("tern-it", name)
}

/// Write a random small model as DIR/model.safetensors; returns the folder.
fn small_model_dir(name: &str) -> crate::common::Scratch {
    let d = tmpdir(name);
    Model::random(&small_cfg(), 3).save(&d.join("model.safetensors")).unwrap();
    d
}

fn load_err(path: &Path) -> String {
    match Model::load(path) {
        Ok(_) => panic!("{} loaded but should have been rejected", path.display()),
        Err(e) => e.to_string(),
    }
}

// ---------------------------------------------------------------- safetensors surgery helpers

struct St {
    header: serde_json::Map<String, serde_json::Value>,
    data: Vec<u8>,
}

fn read_st(path: &Path) -> St {
    let b = std::fs::read(path).unwrap();
    let n = u64::from_le_bytes(b[..8].try_into().unwrap()) as usize;
    let header = serde_json::from_slice::<serde_json::Value>(&b[8..8 + n]).unwrap().as_object().unwrap().clone();
    St { header, data: b[8 + n..].to_vec() }
}

fn write_st(path: &Path, st: &St) {
    let mut h = serde_json::to_string(&st.header).unwrap().into_bytes();
    while !h.len().is_multiple_of(8) {
        h.push(b' ');
    }
    let mut b = (h.len() as u64).to_le_bytes().to_vec();
    b.extend_from_slice(&h);
    b.extend_from_slice(&st.data);
    std::fs::write(path, b).unwrap();
}

fn offsets(st: &St, name: &str) -> (usize, usize) {
    let o = st.header[name]["data_offsets"].as_array().unwrap();
    (o[0].as_u64().unwrap() as usize, o[1].as_u64().unwrap() as usize)
}

// --------------------------------------------------------------------------------- loader

#[test]
fn loader_roundtrip_and_metadata() {
    let d = small_model_dir("roundtrip");
    let m = Model::load(&d).unwrap();
    let mut want = Model::random(&small_cfg(), 3);
    want.source = d.join("model.safetensors");
    assert_eq!(m, want);
    assert_eq!(m.config.scale_convention, ScaleConvention::Multiply);
    // 2 bits per ternary weight, nothing else
    assert_eq!(m.packed_weight_bytes() * 4, small_cfg().ternary_weights());
}

#[test]
fn truncated_file_names_the_tensor_it_cuts() {
    let d = small_model_dir("trunc");
    let f = d.join("model.safetensors");
    let st = read_st(&f);
    let (name, (s, e)) =
        st.header.keys().filter(|k| *k != "__metadata__").map(|k| (k.clone(), offsets(&st, k))).max_by_key(|(_, o)| o.1).unwrap();
    let b = std::fs::read(&f).unwrap();
    std::fs::write(&f, &b[..b.len() - 100]).unwrap();
    let have = st.data.len() - 100;
    assert_eq!(
        load_err(&d),
        format!("{} is truncated: tensor `{name}` needs bytes {s}..{e} of the data section, which holds only {have} bytes", f.display())
    );
    std::fs::write(&f, &b[..20]).unwrap();
    assert!(load_err(&d).contains("not a safetensors file: the header claims"), "{}", load_err(&d));
}

#[test]
fn wrong_dtype_is_named() {
    let d = small_model_dir("dtype");
    let f = d.join("model.safetensors");
    let mut st = read_st(&f);
    st.header["model.layers.1.self_attn.q_proj.weight"]["dtype"] = "I8".into();
    write_st(&f, &st);
    assert_eq!(
        load_err(&d),
        format!(
            "{}: tensor `model.layers.1.self_attn.q_proj.weight` has dtype I8, expected U8 (4 ternary codes per byte, HF BitNet packed layout [out/4, in])",
            f.display()
        )
    );
    let mut st = read_st(&f);
    st.header["model.layers.1.self_attn.q_proj.weight"]["dtype"] = "U8".into();
    st.header["model.layers.0.post_attention_layernorm.weight"]["dtype"] = "I32".into();
    write_st(&f, &st);
    assert_eq!(
        load_err(&d),
        format!("{}: tensor `model.layers.0.post_attention_layernorm.weight` has dtype I32, expected F32 (or F16/BF16)", f.display())
    );
}

#[test]
fn code_3_in_a_packed_weight_is_named_with_row_and_column() {
    let d = small_model_dir("code3");
    let f = d.join("model.safetensors");
    let mut st = read_st(&f);
    let name = "model.layers.1.mlp.down_proj.weight";
    let (s, _) = offsets(&st, name);
    // down_proj: out 64, in 192 -> packed [16, 192]; byte 5*192+7 holds rows 5, 21, 37, 53 of column 7
    let idx = 5 * 192 + 7;
    st.data[s + idx] = (st.data[s + idx] & !0b1100_0000) | 0b1100_0000; // row 48 + 5 = 53
    write_st(&f, &st);
    assert_eq!(load_err(&d), format!("{}: tensor `{name}`: packed weight holds the invalid code 3 at row 53, column 7", f.display()));
}

#[test]
fn wrong_shape_and_missing_tensor_are_named() {
    let d = small_model_dir("shape");
    let f = d.join("model.safetensors");
    let orig = read_st(&f);
    let mut st = read_st(&f);
    st.header["model.layers.0.self_attn.k_proj.weight"]["shape"] = serde_json::json!([64, 8]);
    write_st(&f, &st);
    assert_eq!(
        load_err(&d),
        format!(
            "{}: tensor `model.layers.0.self_attn.k_proj.weight` has shape [64, 8], expected [8, 64] (self_attn.k_proj packed [out/4, in] with out = 32, in = 64)",
            f.display()
        )
    );
    // a config that disagrees with the tensors
    let mut st = read_st(&f);
    st.header = orig.header.clone();
    st.header["__metadata__"]["intermediate_size"] = "256".into();
    write_st(&f, &st);
    assert!(
        load_err(&d).contains("tensor `model.layers.0.mlp.gate_proj.weight` has shape [48, 64], expected [64, 64]"),
        "{}",
        load_err(&d)
    );
    // a renamed tensor is a missing one
    let mut st = read_st(&f);
    st.header = orig.header.clone();
    let v = st.header.remove("model.norm.weight").unwrap();
    st.header.insert("model.norm.weigth".into(), v);
    write_st(&f, &st);
    assert_eq!(load_err(&d), format!("{}: missing tensor `model.norm.weight`", f.display()));
    // a config key that is nowhere
    let mut st = read_st(&f);
    st.header = orig.header.clone();
    st.header["__metadata__"].as_object_mut().unwrap().remove("rope_theta");
    write_st(&f, &st);
    assert_eq!(
        load_err(&d),
        format!(
            "{}: bad config: config key `rope_theta` is missing (looked in the safetensors __metadata__ and in config.json)",
            f.display()
        )
    );
    assert!(matches!(Model::load(&d.join("nope")), Err(ModelError::Io { .. })));
}

#[test]
fn cli_exits_nonzero_with_the_message_on_a_corrupt_model() {
    let d = small_model_dir("cli-corrupt");
    let f = d.join("model.safetensors");
    let mut st = read_st(&f);
    let (s, _) = offsets(&st, "model.layers.0.self_attn.o_proj.weight");
    st.data[s] = 0xff;
    write_st(&f, &st);
    let out = Command::new(CLI).args(["generate", "--backend", "golden", "--tokens", "2", "--model"]).arg(&d).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {err}");
    assert!(
        err.contains(&format!(
            "error: loading the model {}: {}: tensor `model.layers.0.self_attn.o_proj.weight`: packed weight holds the invalid code 3 at row 0, column 0",
            d.display(),
            f.display()
        )),
        "stderr: {err}"
    );
    let out = Command::new(CLI).args(["eval", "--text", "/nonexistent", "--model"]).arg(&d).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
}

// ----------------------------------------------------------------------- forward pass

fn run_generate(m: &Model, exec: &mut dyn Executor, prompt: &[u8], n: usize) -> (Generation, Vec<IntRecord>) {
    let p: Vec<u32> = prompt.iter().map(|&b| b as u32).collect();
    let mut rec = Recorder::new(exec);
    let g = generate(m, &mut rec, &p, n, &mut Sampler::greedy(), n, |_| {}).unwrap();
    (g, rec.records)
}

#[test]
fn host_executor_gives_the_accelerators_integers() {
    let m = Model::load(&small_model_dir("host-vs-golden")).unwrap();
    let a = TINY.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let (gg, rg) = run_generate(&m, &mut golden, b"To be", 6);
    let (gh, rh) = run_generate(&m, &mut HostExec::new(), b"To be", 6);
    assert_eq!(first_difference("golden", &rg, "host", &rh), None);
    assert_eq!(gg.tokens, gh.tokens);
    assert_eq!(gg.logits, gh.logits, "same integers, same float code: identical logits");
    // 5 prompt tokens in one prefill batch per BitLinear, then 5 decode steps of one token
    assert_eq!(rg.len(), 7 * 2 * 6);
    assert!(rg[..14].iter().all(|r| r.batch == 5 && r.phase == Phase::Prefill));
    assert!(rg[14..].iter().all(|r| r.batch == 1 && r.phase == Phase::Decode));
    assert_eq!(golden.prefill.calls, 14);
    // prefill reuses each weight tile across the prompt: far fewer cycles per token than decode
    let pf = golden.prefill.counters.cycles as f64 / 5.0;
    let dc = golden.decode.counters.cycles as f64 / 5.0;
    assert!(pf < dc / 2.0, "prefill {pf} cycles/token vs decode {dc}");
    // decode streams every packed weight once per token
    assert_eq!(golden.decode.weight_bytes(&a), 5 * m.packed_weight_bytes());
}

#[test]
fn first_difference_names_layer_call_token_and_index() {
    let id = |layer, proj| LinearId { layer, proj };
    let mk = |id, phase, y: Vec<i32>| IntRecord { id, phase, batch: y.len() / 4, y };
    let a = vec![
        mk(id(0, Proj::Q), Phase::Prefill, vec![1; 8]),
        mk(id(0, Proj::Q), Phase::Decode, vec![1; 4]),
        mk(id(3, Proj::Up), Phase::Decode, vec![1, 2, 3, 4]),
    ];
    let mut b = a.clone();
    assert_eq!(first_difference("golden", &a, "verilator", &b), None);
    b[2].y[2] = 7;
    assert_eq!(
        first_difference("golden", &a, "verilator", &b).unwrap(),
        "call 2 (decode, step 0): layer 3 mlp.up_proj, token 0, output 2: golden 3 vs verilator 7"
    );
}

#[test]
fn scale_conventions_agree() {
    // the same model stored with weight_scale = mean|W| (multiply) and 1/mean|W| (divide)
    let m = Model::random(&small_cfg(), 9);
    let mut md = m.clone();
    md.config.scale_convention = ScaleConvention::Divide;
    for l in &mut md.layers {
        for p in &mut l.proj {
            p.scale = 1.0 / p.scale;
        }
    }
    let d = tmpdir("divide");
    md.save(&d.join("model.safetensors")).unwrap();
    let md = Model::load(&d).unwrap();
    assert_eq!(md.config.scale_convention, ScaleConvention::Divide);
    let toks: Vec<u32> = b"Now is the winter".iter().map(|&b| b as u32).collect();
    let la = Session::new(&m).forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let lb = Session::new(&md).forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let worst = la.iter().zip(&lb).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-3, "max |logit difference| {worst}");
}

#[test]
fn kv_cache_decode_matches_full_prefill() {
    // logits of token t computed incrementally equal those of one full causal pass
    let m = Model::random(&small_cfg(), 5);
    let toks: Vec<u32> = b"Shall I compare thee".iter().map(|&b| b as u32).collect();
    let full = Session::new(&m).forward(&mut HostExec::new(), &toks, Phase::Prefill, true).unwrap();
    let mut s = Session::new(&m);
    let mut h = HostExec::new();
    let mut inc = s.forward(&mut h, &toks[..7], Phase::Prefill, true).unwrap();
    for &t in &toks[7..] {
        inc.extend(s.forward(&mut h, &[t], Phase::Decode, false).unwrap());
    }
    let worst = full.iter().zip(&inc).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst < 1e-4, "max |logit difference| {worst}");
}

#[test]
fn seeded_sampling_is_reproducible() {
    let m = Model::random(&small_cfg(), 4);
    let p: Vec<u32> = b"O".iter().map(|&b| b as u32).collect();
    let sample = |seed| generate(&m, &mut HostExec::new(), &p, 12, &mut Sampler::new(0.8, 20, seed), 0, |_| {}).unwrap().tokens;
    assert_eq!(sample(1), sample(1));
    assert_ne!(sample(1), sample(2));
}

/// The shipped model if present, else a random model of the same shape (cycles and integer
/// paths depend only on shapes; the token check is then against golden, not PyTorch).
fn model_for_rtl() -> Model {
    match shipped() {
        Some(d) => Model::load(&d).unwrap(),
        None => Model::random(&ModelConfig::tiny_shakespeare(), 11),
    }
}

#[test]
fn verilator_matches_golden_call_by_call_for_20_tokens() {
    let m = model_for_rtl();
    let cfg: &AccelConfig = &TINY;
    let a = cfg.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let mut rtl = AccelExec::new(Box::new(tern_sim::VerilatorBackend::new(&a).expect("verilator build")));
    let (gg, rg) = run_generate(&m, &mut golden, b"ROMEO:", 20);
    let (gr, rr) = run_generate(&m, &mut rtl, b"ROMEO:", 20);
    if let Some(d) = first_difference("golden", &rg, "verilator", &rr) {
        panic!("golden and Verilator differ at {d}");
    }
    assert_eq!(rg.len(), 7 * m.config.num_hidden_layers * 20);
    assert_eq!(gg.tokens, gr.tokens);
    for (what, g, r) in [("prefill", golden.prefill, rtl.prefill), ("decode", golden.decode, rtl.decode)] {
        let (ga, ra) = (g.counters.to_array(), r.counters.to_array());
        for (i, n) in tern_arch::Counters::NAMES.iter().enumerate() {
            assert_eq!(ga[i], ra[i], "{what}: counter `{n}` golden {} verilator {}", ga[i], ra[i]);
        }
    }
}

// ------------------------------------------------------------------------------- the CLI

fn cli_json(args: &[&str]) -> serde_json::Value {
    let out = Command::new(CLI).args(args).output().unwrap();
    assert!(out.status.success(), "tern {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("tern {args:?}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn cli_generate_json_report() {
    let d = small_model_dir("cli-gen");
    let m = Model::load(&d).unwrap();
    let ds = d.to_str().unwrap();
    let j = cli_json(&["generate", "--model", ds, "--backend", "golden", "--tokens", "5", "--prompt", "AB", "--json"]);
    for k in [
        "text",
        "tokens",
        "backend",
        "preset",
        "cycles_per_token",
        "utilization",
        "weight_bytes_per_token",
        "clock_mhz",
        "clock_source",
        "tokens_per_s",
        "prefill_cycles",
        "energy_per_token_j",
    ] {
        assert!(j.get(k).is_some(), "missing key `{k}` in {j}");
    }
    assert_eq!(j["tokens"], 5);
    assert_eq!(j["backend"], "golden");
    assert_eq!(j["preset"], "tiny");
    let clock = tern_host::energy::clock(&TINY.validate().unwrap(), None);
    assert_eq!((j["clock_mhz"].as_f64().unwrap(), j["clock_source"].as_str().unwrap()), (clock.mhz, clock.source.as_str()));
    assert_eq!(j["weight_bytes_per_token"].as_f64().unwrap(), m.packed_weight_bytes() as f64);
    assert!(j["energy_per_token_j"].as_f64().is_some_and(|e| e > 0.0), "an energy estimate: {}", j["energy_per_token_j"]);
    let cpt = j["cycles_per_token"].as_f64().unwrap();
    assert_eq!(j["tokens_per_s"].as_f64().unwrap(), clock.mhz * 1e6 / cpt);
    assert!(j["pll_tokens_per_s"].is_null() && j["pll_clock_mhz"].is_null(), "tiny has no PLL record: {j}");
    // a preset with a `--pll` record also gets tokens/s at the clock its board runs at
    let up5k = cli_json(&[
        "generate",
        "--model",
        ds,
        "--backend",
        "golden",
        "--preset",
        "ice40-up5k",
        "--tokens",
        "3",
        "--prompt",
        "AB",
        "--json",
    ]);
    let (pll_mhz, pll_source) = tern_host::synth::pll_clock("ice40-up5k").unwrap();
    assert_eq!((up5k["pll_clock_mhz"].as_f64().unwrap(), up5k["pll_clock_source"].as_str().unwrap()), (pll_mhz, pll_source.as_str()));
    let cpt = up5k["cycles_per_token"].as_f64().unwrap();
    assert_eq!(up5k["pll_tokens_per_s"].as_f64().unwrap(), pll_mhz * 1e6 / cpt);
    // the same tokens as the library with the host executor
    let p = [b'A' as u32, b'B' as u32];
    let g = generate(&m, &mut HostExec::new(), &p, 5, &mut Sampler::greedy(), 0, |_| {}).unwrap();
    let ids: Vec<u32> = j["token_ids"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    assert_eq!(ids, g.tokens);
    // too long for the context
    let out = Command::new(CLI).args(["generate", "--model", ds, "--backend", "golden", "--tokens", "100"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exceed the model's context of 64 positions"));
}

#[test]
fn eval_windows_follow_the_training_script() {
    let d = small_model_dir("eval");
    let m = Model::load(&d).unwrap();
    let data = vec![b'a'; 16384];
    let w = windows(&m, &data, 256).unwrap();
    assert_eq!((w.len(), w.iter().map(|w| w.targets.len()).sum::<usize>()), (64, 16320));
    // a last partial window keeps len-1 predictions; a single trailing byte has none
    assert_eq!(windows(&m, &data[..600], 256).unwrap().iter().map(|w| w.targets.len()).sum::<usize>(), 255 + 255 + 87);
    assert_eq!(windows(&m, &data[..513], 256).unwrap().len(), 2);
    // position t is fed byte t and predicts byte t+1
    let w = windows(&m, b"abc", 256).unwrap();
    assert_eq!((w[0].input.clone(), w[0].targets.clone(), w[0].bytes), (vec![97, 98], vec![98, 99], 2));
    // the result does not depend on the thread count, and the CLI agrees with the library
    let text = std::fs::read(root().join("models/data/val.txt")).unwrap();
    let r1 = eval_host(&m, &text[..1000], 64, 1, Precision::Ternary, &|_, _| {}).unwrap();
    let r2 = eval_host(&m, &text[..1000], 64, 2, Precision::Ternary, &|_, _| {}).unwrap();
    assert_eq!(r1.loss_nats_per_byte, r2.loss_nats_per_byte);
    assert_eq!(r1.predictions, 15 * 63 + 39);
    let val = root().join("models/data/val.txt");
    let j =
        cli_json(&["eval", "--model", d.to_str().unwrap(), "--text", val.to_str().unwrap(), "--bytes", "1000", "--window", "64", "--json"]);
    assert_eq!(j["loss_nats_per_byte"].as_f64().unwrap(), r1.loss_nats_per_byte);
    assert_eq!(j["bytes"], 1000);
}

// --------------------------------------------------------------- against the PyTorch reference

fn reference() -> Option<(Model, serde_json::Value)> {
    let Some(d) = shipped() else {
        eprintln!("models/tiny-shakespeare not present: reference checks skipped");
        return None;
    };
    let r: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("reference.json")).ok()?).unwrap();
    Some((Model::load(&d).unwrap(), r))
}

fn f32s(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// Logits may differ from numpy's by float summation order only (the int path is exact).
const LOGIT_TOL: f32 = 1e-3;

#[test]
fn golden_reproduces_reference_json() {
    let Some((m, r)) = reference() else { return };
    let prompt = r["prompt"].as_str().unwrap().as_bytes().to_vec();
    let want: Vec<u32> = r["generated_tokens"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as u32).collect();
    let a = TINY.validate().unwrap();
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let (g, rec) = run_generate(&m, &mut golden, &prompt, want.len());
    // the integer path bit for bit: layer 0 q_proj and down_proj at the last prompt position
    let p = prompt.len();
    let tr = &r["trace_layer0_last_prompt_position"];
    let acc_of = |v: &serde_json::Value| -> Vec<i32> { v.as_array().unwrap().iter().map(|x| x.as_i64().unwrap() as i32).collect() };
    let q = &rec[0];
    assert_eq!(q.id, LinearId { layer: 0, proj: Proj::Q });
    let out = q.y.len() / p;
    assert_eq!(q.y[(p - 1) * out..], acc_of(&tr["q_proj"]["acc"]), "layer 0 q_proj int32 results");
    let dn = &rec[6];
    assert_eq!(dn.id, LinearId { layer: 0, proj: Proj::Down });
    let out = dn.y.len() / p;
    assert_eq!(dn.y[(p - 1) * out..], acc_of(&tr["down_proj"]["acc"]), "layer 0 down_proj int32 results");
    // tokens exactly, logits within LOGIT_TOL
    let text = String::from_utf8_lossy(&g.tokens.iter().map(|&t| t as u8).collect::<Vec<_>>()).into_owned();
    assert_eq!(g.tokens, want, "generated {text:?}, reference {:?}", r["generated_text"]);
    let mut worst = 0f32;
    let mut check = |got: &[f32], want: Vec<f32>| {
        assert_eq!(got.len(), want.len());
        worst = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(worst, f32::max);
    };
    check(&g.logits[0], f32s(&r["logits_last_prompt"]));
    for (pos, l) in r["logits_generated"].as_object().unwrap() {
        let i = pos.parse::<usize>().unwrap() - (p - 1);
        check(&g.logits[i], f32s(l));
    }
    eprintln!("reference logits: max |difference| {worst:e}");
    assert!(worst < LOGIT_TOL, "max |logit difference| {worst} >= {LOGIT_TOL}");
}

#[test]
fn eval_subset_loss_matches_reference_json() {
    let Some((_, r)) = reference() else { return };
    let d = shipped().unwrap();
    let val = root().join("models/data/val.txt");
    let j = cli_json(&["eval", "--model", d.to_str().unwrap(), "--text", val.to_str().unwrap(), "--bytes", "16384", "--json"]);
    let (got, want) = (j["loss_nats_per_byte"].as_f64().unwrap(), r["val_subset_loss_nats_per_byte"].as_f64().unwrap());
    eprintln!("val subset loss: tern {got:.6}, reference {want:.6}");
    assert_eq!(j["bytes"], 16384);
    assert_eq!(j["predictions"], 16320);
    assert!((got - want).abs() < 0.01, "tern {got} vs reference {want}");
}

#[test]
fn float_twin_loads_as_float_and_ternarizes_post_training() {
    // the float twin's f32 forward pass against the training script's own loss for it
    let Some((_, r)) = reference() else { return };
    let twin = root().join("models/tiny-shakespeare/float.safetensors");
    let val = root().join("models/data/val.txt");
    let j = cli_json(&[
        "eval",
        "--model",
        twin.to_str().unwrap(),
        "--precision",
        "float",
        "--text",
        val.to_str().unwrap(),
        "--bytes",
        "16384",
        "--json",
    ]);
    let (got, want) = (j["loss_nats_per_byte"].as_f64().unwrap(), r["float_twin_val_subset_loss_nats_per_byte"].as_f64().unwrap());
    assert!((got - want).abs() < 1e-4, "float twin: tern {got} vs reference {want}");
    // its projections, ternarized on load, are the quantizer's codes of its f32 weights
    let m = Model::load_with(&twin, tern_host::model::Quantizer::Median, true).unwrap();
    assert_eq!(m.ternarized.name(), "median");
    let w = &m.float.as_ref().unwrap()[2][Proj::Gate as usize];
    let q = tern_arch::quant::median_threshold(w);
    let l = m.layers[2].get(Proj::Gate);
    assert_eq!((0..w.len()).map(|i| l.w.get(i / 256, i % 256)).collect::<Vec<_>>(), q.q);
    // a packed checkpoint loads as itself; the strict loader still names a float file's layout
    assert_eq!(Model::load_with(&shipped().unwrap(), tern_host::model::Quantizer::Median, true).unwrap().ternarized.name(), "checkpoint");
    assert!(load_err(&twin).contains("found the unpacked [out, in] shape: a master-weight checkpoint"));
}

#[test]
fn accel_exec_splits_k_beyond_max_k_and_adds_exactly() {
    // K = 8640 (the BitNet b1.58 3B FFN) on a preset whose accumulator allows K <= 8192
    let a = TINY.validate().unwrap();
    assert!(a.cfg.max_k < 8640);
    let (w, x) = crate::common::random_layer(8, 8640, 2, 21);
    let id = LinearId { layer: 0, proj: Proj::Down };
    let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
    let y = golden.matmul(id, &w, &x, 2, Phase::Decode).unwrap();
    assert_eq!(y, HostExec::new().matmul(id, &w, &x, 2, Phase::Decode).unwrap());
    assert_eq!((golden.decode.calls, golden.decode.macs), (2, 8 * 8640 * 2), "two programs, every MAC counted once");
}

#[test]
fn projection_equals_the_measured_generation() {
    // `tern project` runs each BitLinear shape once; a real generation runs every layer
    let Some(d) = shipped() else { panic!("models/tiny-shakespeare is committed") };
    let m = Model::load(&d).unwrap();
    assert_eq!(ModelConfig::named("tiny-shakespeare").as_ref(), Some(&m.config), "the named shape is the shipped model's");
    for cfg in [&TINY, &tern_arch::config::ECP5_85F] {
        let a = cfg.validate().unwrap();
        let mut golden = AccelExec::new(Box::new(tern_arch::Golden::new(&a)));
        let (g, _) = run_generate(&m, &mut golden, b"ROMEO:", 4);
        let p = tern_host::project::project(&m.config, &a, 6).unwrap();
        assert_eq!(golden.prefill.counters, p.prefill.counters, "{}: prefill of 6 tokens", cfg.name);
        let steps = g.decode_steps as u64;
        assert_eq!(steps, 3);
        let per_step = tern_arch::Counters::from_array(golden.decode.counters.to_array().map(|v| v / steps));
        assert_eq!(golden.decode.counters.to_array(), per_step.to_array().map(|v| v * steps), "every decode step costs the same");
        assert_eq!(per_step, p.decode.counters, "{}: one decode token", cfg.name);
        assert_eq!((p.prefill.macs, p.decode.macs), (6 * m.config.ternary_weights(), m.config.ternary_weights()));
    }
}

#[test]
fn project_cli_names_an_unknown_arch() {
    let out = Command::new(CLI).args(["project", "--arch", "gpt-5"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("unknown --arch `gpt-5` (known: tiny-shakespeare, smollm2-135m, bitnet-b1.58-2b4t, bitnet-b1.58-3b)")
    );
    let j = cli_json(&["project", "--arch", "tiny-shakespeare", "--preset", "tiny", "--prompt-tokens", "6", "--json"]);
    assert_eq!(j["rows"][0]["decode_cycles_per_token"], j["rows"][0]["decode"]["counters"]["cycles"]);
    assert_eq!(j["unsupported"].as_array().map(Vec::len), Some(0));
    let d = tmpdir("roofline");
    let svg = d.join("r.svg");
    let out = Command::new(CLI)
        .args(["project", "--arch", "tiny-shakespeare", "--preset", "tiny", "--preset", "ecp5-85f", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success());
    let s = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(
        (s.matches("<polyline").count(), s.matches("<rect x=").count()),
        (2, 2 + 1 + 1),
        "two roofs; a prefill square per preset, the frame, the legend's square"
    );
}
