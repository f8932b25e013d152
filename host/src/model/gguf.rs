//! Reading GGUF files (llama.cpp's model format, version 2 and 3): the metadata key/values, the
//! tensor table, and each tensor dequantized to f32.
//!
//! ```text
//! "GGUF" u32 version | u64 tensor_count | u64 kv_count
//! kv_count x  (string key, u32 type, value)              strings: u64 length + UTF-8
//! tensor_count x (string name, u32 n_dims, u64 ne[n_dims], u32 ggml_type, u64 offset)
//! padding to `general.alignment` (32 by default), then the data section
//! ```
//! `ne[0]` is the innermost dimension: a weight `[out, in]` in PyTorch is `ne = [in, out]` here,
//! stored row after row, which is the row-major `out x in` that tern uses.
//!
//! Block formats dequantized (ggml's `dequantize_row_*`): F32, F16, BF16, Q4_0, Q4_1, Q8_0, and
//! llama.cpp's ternary TQ1_0 (1.69 bits: five trits a byte) and TQ2_0 (2 bits), whose codes
//! `ternary_blocks` also gives exactly (as it does those of a Q8_0 tensor holding only -127, 0
//! and +127). Every length and offset is checked against the file before it is read, so a
//! truncated or corrupt file gives an error naming the tensor or key.

use super::ModelError;
use std::collections::HashMap;

/// A metadata value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    U64(u64),
    I64(i64),
    F64(f64),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
}

impl Value {
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U64(v) => Some(v),
            Value::I64(v) if v >= 0 => Some(v as u64),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::F64(v) => Some(v),
            Value::U64(v) => Some(v as f64),
            Value::I64(v) => Some(v as f64),
            _ => None,
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// ggml tensor types this reader knows (the numbers are ggml's `enum ggml_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    Q4_0,
    Q4_1,
    Q8_0,
    BF16,
    TQ1_0,
    TQ2_0,
    /// A type this reader cannot dequantize (its number).
    Other(u32),
}

/// Each type this reader dequantizes: ggml's number, elements per block, bytes per block.
const READABLE: [(GgmlType, u32, usize, usize); 8] = [
    (GgmlType::F32, 0, 1, 4),
    (GgmlType::F16, 1, 1, 2),
    (GgmlType::BF16, 30, 1, 2),
    (GgmlType::Q4_0, 2, 32, 18),
    (GgmlType::Q4_1, 3, 32, 20),
    (GgmlType::Q8_0, 8, 32, 34),
    (GgmlType::TQ1_0, 34, 256, 54),
    (GgmlType::TQ2_0, 35, 256, 66),
];

impl GgmlType {
    fn from_u32(t: u32) -> GgmlType {
        READABLE.iter().find(|r| r.1 == t).map_or(GgmlType::Other(t), |r| r.0)
    }

    /// (elements per block, bytes per block).
    fn block(self) -> Option<(usize, usize)> {
        READABLE.iter().find(|r| r.0 == self).map(|r| (r.2, r.3))
    }

    /// F32, F16 or BF16: a value per element, no blocks.
    pub fn is_float(self) -> bool {
        matches!(self, GgmlType::F32 | GgmlType::F16 | GgmlType::BF16)
    }

    /// "F32, F16, ... and TQ2_0", for the message about a type that cannot be read.
    fn readable_list() -> String {
        let names: Vec<String> = READABLE.iter().map(|r| format!("{:?}", r.0)).collect();
        format!("{} and {}", names[..names.len() - 1].join(", "), names[names.len() - 1])
    }
}

/// One entry of the tensor table.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `ne[0]` innermost.
    pub ne: Vec<u64>,
    pub ty: GgmlType,
    /// Absolute byte range in the file.
    pub start: usize,
    pub end: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.ne.iter().product::<u64>() as usize
    }
}

/// A parsed GGUF file over its bytes.
pub struct Gguf<'a> {
    pub version: u32,
    pub meta: HashMap<String, Value>,
    pub tensors: Vec<TensorInfo>,
    data: &'a [u8],
    file: String,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
    file: &'a str,
}

impl<'a> Cursor<'a> {
    fn err(&self, what: &str) -> ModelError {
        ModelError::Gguf { file: self.file.to_string(), msg: what.to_string() }
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], ModelError> {
        if n > self.b.len() - self.pos {
            return Err(self.err(&format!("truncated: {what} needs {n} bytes at offset {} but the file has {}", self.pos, self.b.len())));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self, what: &str) -> Result<u32, ModelError> {
        let s = self.take(4, what)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self, what: &str) -> Result<u64, ModelError> {
        let s = self.take(8, what)?;
        Ok(u64::from_le_bytes(s.try_into().unwrap_or_default()))
    }
    fn string(&mut self, what: &str) -> Result<String, ModelError> {
        let n = self.u64(what)?;
        let n = usize::try_from(n).map_err(|_| self.err(&format!("{what}: length {n} is implausible")))?;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| self.err(&format!("{what} is not UTF-8")))
    }
    fn value(&mut self, ty: u32, what: &str, depth: usize) -> Result<Value, ModelError> {
        Ok(match ty {
            0 => Value::U64(self.take(1, what)?[0] as u64),
            1 => Value::I64(self.take(1, what)?[0] as i8 as i64),
            2 => {
                let s = self.take(2, what)?;
                Value::U64(u16::from_le_bytes([s[0], s[1]]) as u64)
            }
            3 => {
                let s = self.take(2, what)?;
                Value::I64(i16::from_le_bytes([s[0], s[1]]) as i64)
            }
            4 => Value::U64(self.u32(what)? as u64),
            5 => Value::I64(self.u32(what)? as i32 as i64),
            6 => Value::F64(f32::from_bits(self.u32(what)?) as f64),
            7 => Value::Bool(self.take(1, what)?[0] != 0),
            8 => Value::Str(self.string(what)?),
            9 => {
                if depth > 0 {
                    return Err(self.err(&format!("{what}: nested arrays are not supported")));
                }
                let et = self.u32(what)?;
                let n = self.u64(what)?;
                // every element takes at least one byte: a count beyond the file is corrupt
                if n > (self.b.len() - self.pos) as u64 {
                    return Err(self.err(&format!("{what}: array of {n} elements does not fit in the file")));
                }
                let mut v = Vec::with_capacity(n as usize);
                for _ in 0..n {
                    v.push(self.value(et, what, depth + 1)?);
                }
                Value::Array(v)
            }
            10 => Value::U64(self.u64(what)?),
            11 => Value::I64(self.u64(what)? as i64),
            12 => Value::F64(f64::from_bits(self.u64(what)?)),
            t => return Err(self.err(&format!("{what}: unknown value type {t}"))),
        })
    }
}

impl<'a> Gguf<'a> {
    /// Parse the header and tensor table of `data` (the whole file). `file` names it in errors.
    pub fn parse(data: &'a [u8], file: &str) -> Result<Gguf<'a>, ModelError> {
        let mut c = Cursor { b: data, pos: 0, file };
        let magic = c.take(4, "the magic")?;
        if magic != b"GGUF" {
            return Err(c.err(&format!("not a GGUF file (magic {magic:02x?}, expected \"GGUF\")")));
        }
        let version = c.u32("the version")?;
        if !(2..=3).contains(&version) {
            return Err(c.err(&format!("GGUF version {version} is not supported (2 and 3 are)")));
        }
        let n_tensors = c.u64("the tensor count")?;
        let n_kv = c.u64("the key/value count")?;
        if n_tensors > 1 << 20 || n_kv > 1 << 20 {
            return Err(c.err(&format!("{n_tensors} tensors and {n_kv} keys is implausible")));
        }
        let mut meta = HashMap::new();
        for i in 0..n_kv {
            let key = c.string(&format!("key {i}"))?;
            let ty = c.u32(&format!("the type of `{key}`"))?;
            let v = c.value(ty, &format!("the value of `{key}`"), 0)?;
            meta.insert(key, v);
        }
        let mut raw = Vec::new();
        for i in 0..n_tensors {
            let name = c.string(&format!("the name of tensor {i}"))?;
            let nd = c.u32(&format!("tensor `{name}`'s dimension count"))?;
            if nd > 4 {
                return Err(c.err(&format!("tensor `{name}` has {nd} dimensions (ggml allows at most 4)")));
            }
            let mut ne = Vec::new();
            for _ in 0..nd {
                ne.push(c.u64(&format!("tensor `{name}`'s shape"))?);
            }
            let ty = GgmlType::from_u32(c.u32(&format!("tensor `{name}`'s type"))?);
            let off = c.u64(&format!("tensor `{name}`'s offset"))?;
            raw.push((name, ne, ty, off));
        }
        let align = match meta.get("general.alignment") {
            None => 32,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a as usize,
                _ => return Err(c.err(&format!("general.alignment = {v:?} is not a power of two"))),
            },
        };
        let base = c.pos.div_ceil(align) * align;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, ne, ty, off) in raw {
            let bad = |msg: String| ModelError::Gguf { file: file.to_string(), msg: format!("tensor `{name}`: {msg}") };
            let elems = ne.iter().try_fold(1u64, |a, &d| a.checked_mul(d)).ok_or_else(|| bad(format!("shape {ne:?} overflows")))?;
            let bytes = match ty.block() {
                Some((per, size)) => {
                    if elems % per as u64 != 0 || ne.first().is_some_and(|&n0| n0 % per as u64 != 0) {
                        return Err(bad(format!("{ty:?} needs rows that are a multiple of {per} elements, shape is {ne:?}")));
                    }
                    elems / per as u64 * size as u64
                }
                // unknown types are allowed in the table; reading one is the error
                None => 0,
            };
            let start = (base as u64).checked_add(off).ok_or_else(|| bad(format!("offset {off} overflows")))?;
            let end = start.checked_add(bytes).ok_or_else(|| bad(format!("offset {off} overflows")))?;
            if end > data.len() as u64 {
                return Err(bad(format!("needs bytes {start}..{end} but the file has only {} (truncated file?)", data.len())));
            }
            tensors.push(TensorInfo { name, ne, ty, start: start as usize, end: end as usize });
        }
        Ok(Gguf { version, meta, tensors, data, file: file.to_string() })
    }

    fn err(&self, msg: String) -> ModelError {
        ModelError::Gguf { file: self.file.clone(), msg }
    }

    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    /// A metadata value, or an error naming the missing key.
    pub fn get(&self, key: &str) -> Result<&Value, ModelError> {
        self.meta.get(key).ok_or_else(|| self.err(format!("metadata key `{key}` is missing")))
    }
    pub fn get_u64(&self, key: &str) -> Result<u64, ModelError> {
        let v = self.get(key)?;
        v.as_u64().ok_or_else(|| self.err(format!("metadata key `{key}` must be a non-negative integer, not {v:?}")))
    }
    pub fn get_f64(&self, key: &str) -> Result<f64, ModelError> {
        let v = self.get(key)?;
        v.as_f64().ok_or_else(|| self.err(format!("metadata key `{key}` must be a number, not {v:?}")))
    }
    pub fn get_str(&self, key: &str) -> Result<&str, ModelError> {
        let v = self.get(key)?;
        v.as_str().ok_or_else(|| self.err(format!("metadata key `{key}` must be a string, not {v:?}")))
    }
    /// An array of strings (a tokenizer's vocabulary or merges).
    pub fn get_strings(&self, key: &str) -> Result<Vec<String>, ModelError> {
        match self.get(key)? {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_str().map(str::to_string).ok_or_else(|| self.err(format!("`{key}`[{i}] is not a string"))))
                .collect(),
            v => Err(self.err(format!("metadata key `{key}` must be an array of strings, not {v:?}"))),
        }
    }
    /// An array of integers.
    /// An array of numbers as f32 (a SentencePiece vocabulary's scores).
    pub fn get_f32s(&self, key: &str) -> Result<Vec<f32>, ModelError> {
        match self.get(key)? {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| v.as_f64().map(|x| x as f32).ok_or_else(|| self.err(format!("`{key}`[{i}] is not a number"))))
                .collect(),
            v => Err(self.err(format!("metadata key `{key}` must be an array of numbers, not {v:?}"))),
        }
    }
    pub fn get_ints(&self, key: &str) -> Result<Vec<i64>, ModelError> {
        match self.get(key)? {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, v)| match *v {
                    Value::I64(x) => Ok(x),
                    Value::U64(x) => Ok(x as i64),
                    _ => Err(self.err(format!("`{key}`[{i}] is not an integer"))),
                })
                .collect(),
            v => Err(self.err(format!("metadata key `{key}` must be an array of integers, not {v:?}"))),
        }
    }

    /// The tensor `name`'s type and bytes, checked to have the shape `ne` (ggml order).
    pub fn raw(&self, name: &str, ne: &[u64]) -> Result<(GgmlType, &'a [u8]), ModelError> {
        let t = self.tensor(name).ok_or_else(|| ModelError::MissingTensor { file: self.file.clone(), tensor: name.to_string() })?;
        if t.ne != ne {
            return Err(self.err(format!("tensor `{name}` has shape {:?} (ggml order, innermost first), expected {ne:?}", t.ne)));
        }
        Ok((t.ty, &self.data[t.start..t.end]))
    }

    /// The tensor `name` as f32, checked to have the shape `ne` (ggml order) and dequantized.
    pub fn f32(&self, name: &str, ne: &[u64]) -> Result<Vec<f32>, ModelError> {
        let (ty, b) = self.raw(name, ne)?;
        let n = ne.iter().product::<u64>() as usize;
        dequantize(ty, b, n).map_err(|m| self.err(format!("tensor `{name}`: {m}")))
    }
}

/// IEEE half to f32.
pub(crate) fn f16(b: &[u8]) -> f32 {
    super::load::f16_to_f32(u16::from_le_bytes([b[0], b[1]]))
}

/// Dequantize `n` elements of type `ty` from `b` (exactly the bytes of those blocks).
pub fn dequantize(ty: GgmlType, b: &[u8], n: usize) -> Result<Vec<f32>, String> {
    let (per, size) = ty.block().ok_or_else(|| format!("ggml type {ty:?} cannot be read ({} can)", GgmlType::readable_list()))?;
    if !n.is_multiple_of(per) || b.len() != n / per * size {
        return Err(format!("{n} elements of {ty:?} need {} bytes, have {}", n.div_ceil(per) * size, b.len()));
    }
    let mut y = Vec::with_capacity(n);
    let blocks = b.chunks_exact(size);
    match ty {
        GgmlType::F32 => y.extend(blocks.map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))),
        GgmlType::F16 => y.extend(blocks.map(f16)),
        GgmlType::BF16 => y.extend(blocks.map(|s| f32::from_bits((u16::from_le_bytes([s[0], s[1]]) as u32) << 16))),
        GgmlType::Q4_0 => {
            for s in blocks {
                let d = f16(&s[0..2]);
                let qs = &s[2..18];
                y.extend(qs.iter().map(|&q| ((q & 0xf) as i32 - 8) as f32 * d));
                y.extend(qs.iter().map(|&q| ((q >> 4) as i32 - 8) as f32 * d));
            }
        }
        GgmlType::Q4_1 => {
            for s in blocks {
                let (d, m) = (f16(&s[0..2]), f16(&s[2..4]));
                let qs = &s[4..20];
                y.extend(qs.iter().map(|&q| (q & 0xf) as f32 * d + m));
                y.extend(qs.iter().map(|&q| (q >> 4) as f32 * d + m));
            }
        }
        GgmlType::Q8_0 => {
            for s in blocks {
                let d = f16(&s[0..2]);
                y.extend(s[2..34].iter().map(|&q| q as i8 as f32 * d));
            }
        }
        GgmlType::TQ1_0 | GgmlType::TQ2_0 => {
            let (codes, scales) = ternary_blocks(ty, b).expect("ternary types");
            for (block, d) in codes.chunks_exact(256).zip(scales) {
                y.extend(block.iter().map(|&t| t as f32 * d));
            }
        }
        GgmlType::Other(_) => unreachable!("block() is None for Other"),
    }
    Ok(y)
}

/// The storage the GGUF import takes as ternary codes (`ternary_blocks`, and floats of only
/// -s, 0 and +s), for messages and labels.
pub const TERNARY_STORAGE: &str = "TQ1_0, TQ2_0, Q8_0 of -127/0/+127, or floats of -s/0/+s";

/// The ternary codes (-1, 0, +1, in element order) and each block's scale of a TQ1_0 or TQ2_0
/// tensor's bytes, or of a Q8_0 tensor whose every value is -127, 0 or +127 (scale 127 d): TQ
/// blocks need rows of a multiple of 256, so a ternary model with rows of 576 (SmolLM2) is kept
/// as such Q8_0 exactly, and llama.cpp reads it. `None` for other types and other Q8_0 values.
pub fn ternary_blocks(ty: GgmlType, b: &[u8]) -> Option<(Vec<i8>, Vec<f32>)> {
    if ty == GgmlType::Q8_0 {
        let (n, size) = ty.block()?;
        let mut codes = Vec::with_capacity(b.len() / size * n);
        let mut scales = Vec::with_capacity(b.len() / size);
        for s in b.chunks_exact(size) {
            // the block's f16 d, then its n int8 values
            for &q in &s[2..] {
                codes.push(match q as i8 {
                    127 => 1,
                    0 => 0,
                    -127 => -1,
                    _ => return None,
                });
            }
            scales.push(127.0 * f16(&s[0..2]));
        }
        return Some((codes, scales));
    }
    if !matches!(ty, GgmlType::TQ1_0 | GgmlType::TQ2_0) {
        return None;
    }
    let (per_block, size) = ty.block()?;
    let mut codes = Vec::with_capacity(b.len() / size * per_block);
    let mut scales = Vec::with_capacity(b.len() / size);
    // TQ1_0 keeps five trits in a byte as ceil(c * 256 / 243) for the base-3 number c; trit n
    // (most significant first) is ((byte * 3^n mod 256) * 3) >> 8
    let trit = |q: u8, n: u32| -> i8 { ((q.wrapping_mul(3u8.pow(n)) as u16 * 3) >> 8) as i8 - 1 };
    for s in b.chunks_exact(size) {
        match ty {
            GgmlType::TQ1_0 => {
                // qs[48] (32 bytes then 16, five trits each, trit-major), qh[4] (four trits each), d
                for part in [&s[0..32], &s[32..48]] {
                    for n in 0..5 {
                        codes.extend(part.iter().map(|&q| trit(q, n)));
                    }
                }
                for n in 0..4 {
                    codes.extend(s[48..52].iter().map(|&q| trit(q, n)));
                }
                scales.push(f16(&s[52..54]));
            }
            _ => {
                // qs[64] of 2-bit codes (value + 1), then d; for each 32-byte half, for each
                // 2-bit plane l, the 32 codes (q >> 2l) & 3
                for half in s[..64].chunks_exact(32) {
                    for l in 0..4 {
                        codes.extend(half.iter().map(|&q| ((q >> (2 * l)) & 3) as i8 - 1));
                    }
                }
                scales.push(f16(&s[64..66]));
            }
        }
    }
    Some((codes, scales))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(x: f32) -> [u8; 2] {
        // exact halves only (the tests use small powers of two and integers)
        let b = x.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        if x == 0.0 {
            return sign.to_le_bytes();
        }
        let exp = ((b >> 23) & 0xff) as i32 - 127 + 15;
        let man = ((b >> 13) & 0x3ff) as u16;
        (sign | ((exp as u16) << 10) | man).to_le_bytes()
    }

    #[test]
    fn q4_1_block_by_hand() {
        // d = 0.5, m = -2: element j = (low nibble of byte j) * 0.5 - 2, element 16 + j the high nibble
        let mut b = vec![];
        b.extend(h(0.5));
        b.extend(h(-2.0));
        b.extend((0..16u8).map(|j| j | ((15 - j) << 4)));
        let y = dequantize(GgmlType::Q4_1, &b, 32).unwrap();
        assert_eq!(y[0], -2.0);
        assert_eq!(y[3], 3.0 * 0.5 - 2.0);
        assert_eq!(y[16], 15.0 * 0.5 - 2.0);
        assert_eq!(y[31], -2.0);
    }

    #[test]
    fn q4_0_and_q8_0_blocks_by_hand() {
        let mut b = vec![];
        b.extend(h(0.25));
        b.extend((0..16u8).map(|j| j | (8 << 4)));
        let y = dequantize(GgmlType::Q4_0, &b, 32).unwrap();
        assert_eq!((y[0], y[15], y[16]), (-2.0, 7.0 * 0.25, 0.0));
        let mut b = vec![];
        b.extend(h(2.0));
        b.extend((0..32).map(|j: i32| (j - 16) as i8 as u8));
        let y = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert_eq!((y[0], y[16], y[31]), (-32.0, 0.0, 30.0));
    }

    #[test]
    fn tq2_0_element_order() {
        // byte i of half k holds elements k*128 + l*32 + i in its 2-bit planes l
        let mut b = vec![0u8; 66];
        b[0] = 0b10_01_00_10; // elements 0 (+1), 32 (-1), 64 (0), 96 (+1)
        b[32] = 0b00_00_00_00; // element 128: -1
        b[64..66].copy_from_slice(&h(3.0));
        let y = dequantize(GgmlType::TQ2_0, &b, 256).unwrap();
        assert_eq!((y[0], y[32], y[64], y[96], y[128]), (3.0, -3.0, 0.0, 3.0, -3.0));
        assert_eq!(y[1], -3.0);
    }

    #[test]
    fn tq1_0_block_from_the_gguf_package() {
        // gguf-py 0.19 `quantize(v, TQ1_0)` of v[i] = 0.5 * (((7i + i/5) mod 3) - 1)
        let hex = "465dd11874465dd11874465dd11874465dd11874465dd11874465dd11874465d3192b622663192b622663192b6226631235fcb430038";
        let b: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect();
        let want: Vec<f32> = (0..256).map(|i| (((i * 7 + i / 5) % 3) as f32 - 1.0) * 0.5).collect();
        assert_eq!(dequantize(GgmlType::TQ1_0, &b, 256).unwrap(), want);
        let (codes, scales) = ternary_blocks(GgmlType::TQ1_0, &b).unwrap();
        assert_eq!((codes.len(), scales), (256, vec![0.5]));
        assert!(ternary_blocks(GgmlType::Q4_1, &b).is_none());
    }

    #[test]
    fn q8_0_of_only_plus_minus_127_and_zero_is_ternary() {
        let mut b = vec![];
        b.extend(h(0.5));
        b.extend((0..32).map(|j: i32| [127i8, 0, -127][(j % 3) as usize] as u8));
        let (codes, scales) = ternary_blocks(GgmlType::Q8_0, &b).unwrap();
        assert_eq!((codes[0], codes[1], codes[2], codes[31], &scales[..]), (1, 0, -1, 0, &[63.5f32][..]));
        let y = dequantize(GgmlType::Q8_0, &b, 32).unwrap();
        assert!(codes.iter().zip(&y).all(|(&c, &v)| c as f32 * scales[0] == v));
        b[5] = 126; // one other value: not ternary, dequantized as any Q8_0
        assert!(ternary_blocks(GgmlType::Q8_0, &b).is_none());
    }

    #[test]
    fn wrong_byte_count_is_an_error() {
        assert_eq!(dequantize(GgmlType::Q4_1, &[0; 19], 32).unwrap_err(), "32 elements of Q4_1 need 20 bytes, have 19");
        assert!(dequantize(GgmlType::Other(12), &[], 0).unwrap_err().contains("cannot be read"));
    }
}
