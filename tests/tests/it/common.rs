use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use tern_arch::config::{Accel, AccelConfig};
use tern_arch::pack::TernaryMatrix;
use tern_arch::{Backend, Golden, RunResult, Stalls};
use tern_sim::VerilatorBackend;

/// Verilator models are built once per geometry and shared by every test in the binary.
pub fn with_rtl<T>(cfg: &AccelConfig, f: impl FnOnce(&mut VerilatorBackend) -> T) -> T {
    static MODELS: OnceLock<Mutex<HashMap<String, &'static Mutex<VerilatorBackend>>>> = OnceLock::new();
    let a = cfg.validate().expect("valid config");
    let key = format!("{a:?}");
    let m = {
        let mut map = MODELS.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
        *map.entry(key).or_insert_with(|| Box::leak(Box::new(Mutex::new(VerilatorBackend::new(&a).expect("verilator build")))))
    };
    let mut g = m.lock().unwrap_or_else(|e| e.into_inner());
    f(&mut g)
}

pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let mut z = self.0;
        z = (z ^ (z >> 33)).wrapping_mul(0xff51afd7ed558ccd);
        z ^ (z >> 33)
    }
}

/// A random layer: weights with some all-zero rows, activations including -128.
pub fn random_layer(out: usize, inp: usize, batch: usize, seed: u64) -> (TernaryMatrix, Vec<i8>) {
    let mut r = Rng(seed);
    let zero_row = r.next() as usize % (out + 1);
    let w: Vec<i8> = (0..out * inp).map(|i| if i / inp == zero_row { 0 } else { (r.next() % 3) as i8 - 1 }).collect();
    let x: Vec<i8> = (0..batch * inp)
        .map(|_| match r.next() % 8 {
            0 => -128,
            1 => 127,
            _ => r.next() as u8 as i8,
        })
        .collect();
    (TernaryMatrix::from_weights(&w, out, inp).unwrap(), x)
}

/// Compare two runs exactly; the message names the first difference.
pub fn assert_same(what: &str, golden: &RunResult, rtl: &RunResult) {
    assert_same_runs(what, ("golden", golden), ("rtl", rtl));
}

/// Compare two named runs exactly; the message names the first difference.
pub fn assert_same_runs(what: &str, (an, a): (&str, &RunResult), (bn, b): (&str, &RunResult)) {
    if let Some(d) = a.first_difference(an, b, bn) {
        panic!("{what}: {d}");
    }
}

pub fn run_both(a: &Accel, cfg: &AccelConfig, beats: &[u64], stalls: &Stalls, max: u64) -> (RunResult, RunResult) {
    let mut g = Golden::new(a);
    let gr = g.run(beats, stalls, max);
    let rr = with_rtl(cfg, |v| v.run(beats, stalls, max).expect("rtl run"));
    (gr, rr)
}

/// A fresh folder under the system temp dir, removed when dropped (kept with `TERN_KEEP_TMP=1`,
/// for looking at what a failing test wrote).
pub struct Scratch(std::path::PathBuf);

impl Scratch {
    pub fn new(prefix: &str, name: &str) -> Scratch {
        let d = std::env::temp_dir().join(format!("{prefix}-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Scratch(d)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("TERN_KEEP_TMP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

/// GPT-2's `bytes_to_unicode`: the char that spells each byte in a byte-level vocabulary,
/// written out here independently of `tern_host::tokenizer`, for the test files' vocabularies.
pub fn gpt2_byte_chars() -> Vec<char> {
    let printable = |c: u32| (0x21..=0x7e).contains(&c) || (0xa1..=0xac).contains(&c) || (0xae..=0xff).contains(&c);
    let mut n = 0;
    (0u32..256)
        .map(|c| {
            if printable(c) {
                char::from_u32(c).unwrap()
            } else {
                n += 1;
                char::from_u32(255 + n).unwrap()
            }
        })
        .collect()
}

/// A GGUF metadata value (`gguf_bytes`).
pub enum Kv {
    U32(u32),
    F32(f32),
    Bool(bool),
    Str(&'static str),
    Strs(Vec<String>),
    I32s(Vec<i32>),
    F32s(Vec<f32>),
}

/// A GGUF array of `n` numbers of GGUF type `ty` (5 int32, 6 float32), their bytes given.
fn array(b: &mut Vec<u8>, ty: u32, n: usize, items: impl Iterator<Item = u8>) {
    b.extend(9u32.to_le_bytes());
    b.extend(ty.to_le_bytes());
    b.extend((n as u64).to_le_bytes());
    b.extend(items);
}

/// A GGUF v3 file: key/values, then F32 (type 0) or raw (any type) tensors, 32-byte aligned.
pub fn gguf_bytes(kvs: &[(&str, Kv)], tensors: &[(String, Vec<u64>, u32, Vec<u8>)]) -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    let s = |b: &mut Vec<u8>, x: &str| {
        b.extend((x.len() as u64).to_le_bytes());
        b.extend(x.as_bytes());
    };
    b.extend(3u32.to_le_bytes());
    b.extend((tensors.len() as u64).to_le_bytes());
    b.extend((kvs.len() as u64).to_le_bytes());
    for (k, v) in kvs {
        s(&mut b, k);
        match v {
            Kv::U32(x) => {
                b.extend(4u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            Kv::F32(x) => {
                b.extend(6u32.to_le_bytes());
                b.extend(x.to_le_bytes());
            }
            Kv::Bool(x) => {
                b.extend(7u32.to_le_bytes());
                b.push(*x as u8);
            }
            Kv::Str(x) => {
                b.extend(8u32.to_le_bytes());
                s(&mut b, x);
            }
            Kv::Strs(xs) => {
                b.extend(9u32.to_le_bytes());
                b.extend(8u32.to_le_bytes());
                b.extend((xs.len() as u64).to_le_bytes());
                for x in xs {
                    s(&mut b, x);
                }
            }
            Kv::I32s(xs) => array(&mut b, 5, xs.len(), xs.iter().flat_map(|x| x.to_le_bytes())),
            Kv::F32s(xs) => array(&mut b, 6, xs.len(), xs.iter().flat_map(|x| x.to_le_bytes())),
        }
    }
    let mut off = 0u64;
    for (name, ne, ty, data) in tensors {
        s(&mut b, name);
        b.extend((ne.len() as u32).to_le_bytes());
        for d in ne {
            b.extend(d.to_le_bytes());
        }
        b.extend(ty.to_le_bytes());
        b.extend(off.to_le_bytes());
        off += (data.len() as u64).div_ceil(32) * 32;
    }
    b.resize(b.len().div_ceil(32) * 32, 0);
    for (_, _, _, data) in tensors {
        b.extend(data);
        b.resize(b.len().div_ceil(32) * 32, 0);
    }
    b
}

/// The index of the largest value (the first of equal ones).
pub fn argmax(l: &[f32]) -> usize {
    l.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// A reference's JSON matrix (rows of numbers, `positions x vocab`), flattened.
pub fn json_matrix(v: &serde_json::Value) -> Vec<f32> {
    v.as_array().unwrap().iter().flat_map(|row| row.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32)).collect()
}

/// A reference's JSON list of token ids.
pub fn json_ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|t| t.as_u64().unwrap() as u32).collect()
}

/// Every projection's ternary weights as f32 (code x its row's scale), in `Model::float`'s
/// shape: a float session on them runs the ternary model with f32 activations, as a reference
/// that does not round activations (transformers without ActQuant, llama.cpp on F32) does.
pub fn ternary_as_float(m: &tern_host::model::Model) -> Vec<[Vec<f32>; 7]> {
    m.layers
        .iter()
        .map(|l| {
            l.proj.clone().map(|b| {
                (0..b.w.out * b.w.inp).map(|i| (b.w.get(i / b.w.inp, i % b.w.inp) as f64 * b.scale_of(i / b.w.inp)) as f32).collect()
            })
        })
        .collect()
}
