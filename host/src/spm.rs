//! SentencePiece tokenization as llama.cpp does it for `tokenizer.ggml.model = "llama"`
//! (LLaMA 1/2's vocabulary, and 1bitLLM's BitNet b1.58 that uses it): llama.cpp's
//! `llm_tokenizer_spm_session` (src/llama-vocab.cpp), step for step.
//!
//! 1. Prefix one space (`tokenizer.ggml.add_space_prefix`, default on; not for empty text),
//!    then write every space as `▁` (U+2581).
//! 2. Start from one symbol per UTF-8 character. Every adjacent pair whose concatenation is a
//!    token is a candidate, scored by that token's score.
//! 3. Merge the best candidate (highest score; on a tie the leftmost), add the candidates it
//!    makes with its neighbours, repeat until none is left. A candidate whose symbols have
//!    changed since it was queued is dropped.
//! 4. Each final symbol is a token, or a character that is none, which becomes its bytes'
//!    `<0xXX>` tokens (byte fallback).
//!
//! Decoding writes `▁` back as a space and a byte token as its byte; control tokens (`<s>`)
//! give nothing, and one leading space of the whole text is dropped when the prefix was added.

use crate::tokenizer::{TOKEN_TYPE_BYTE as BYTE, TOKEN_TYPE_NORMAL as NORMAL, TOKEN_TYPE_USER as USER_DEFINED, TokenizerError};
use std::collections::{BinaryHeap, HashMap};

/// A SentencePiece vocabulary: pieces, scores, types.
#[derive(Clone, Debug, PartialEq)]
pub struct Spm {
    pieces: Vec<String>,
    scores: Vec<f32>,
    types: Vec<i32>,
    ids: HashMap<String, u32>,
    /// The `<0xXX>` token of each byte, if the vocabulary has it.
    byte_ids: [Option<u32>; 256],
    add_space_prefix: bool,
}

/// The byte a byte-fallback piece `<0xXX>` stands for.
fn byte_piece(p: &str) -> Option<u8> {
    p.strip_prefix("<0x").and_then(|h| h.strip_suffix('>')).filter(|h| h.len() == 2).and_then(|h| u8::from_str_radix(h, 16).ok())
}

/// A candidate merge: symbols `left` and `right`, whose text was `size` bytes when queued.
#[derive(PartialEq)]
struct Bigram {
    score: f32,
    left: usize,
    right: usize,
    size: usize,
}

impl Eq for Bigram {}

impl Ord for Bigram {
    /// llama.cpp's `llm_bigram_spm::comparator`: the highest score first, then the leftmost.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.score.total_cmp(&o.score).then(o.left.cmp(&self.left))
    }
}

impl PartialOrd for Bigram {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

/// A symbol of the text being merged: bytes `start..start + len` (len 0 once merged away).
#[derive(Clone, Copy)]
struct Sym {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

impl Spm {
    /// A vocabulary from its pieces, scores and token types (all of one length).
    pub fn new(pieces: Vec<String>, scores: Vec<f32>, types: Vec<i32>, add_space_prefix: bool) -> Result<Spm, TokenizerError> {
        let n = pieces.len();
        if u32::try_from(n).is_err() {
            return Err(TokenizerError::TooManyTokens(n));
        }
        if scores.len() != n {
            return Err(TokenizerError::Spm(format!("{} scores for {n} tokens", scores.len())));
        }
        if types.len() != n {
            return Err(TokenizerError::TypeCount { tokens: n, types: types.len() });
        }
        if let Some((i, t)) = types.iter().enumerate().find(|(_, t)| !(NORMAL..=BYTE).contains(*t)) {
            return Err(TokenizerError::Spm(format!("token {i} ({:?}) has type {t}, not 1-6", pieces[i])));
        }
        let mut ids = HashMap::with_capacity(n);
        let mut byte_ids = [None; 256];
        for (i, p) in pieces.iter().enumerate() {
            // llama.cpp's token_to_id keeps the last of equal pieces
            ids.insert(p.clone(), i as u32);
            if types[i] == BYTE {
                let b = byte_piece(p).ok_or_else(|| TokenizerError::Spm(format!("byte token {i} is {p:?}, not <0xXX>")))?;
                byte_ids[b as usize] = Some(i as u32);
            }
        }
        Ok(Spm { pieces, scores, types, ids, byte_ids, add_space_prefix })
    }

    /// A SentencePiece `tokenizer.model` (the ModelProto protobuf): its pieces (text, score,
    /// type), `add_dummy_prefix` as the space prefix. Refused, by name: a model that is not
    /// BPE (llama.cpp runs unigram models with these merges too, which is not the same), and
    /// a normalizer that changes text (`remove_extra_whitespaces`, or a rule other than
    /// `identity`), since llama.cpp applies neither.
    pub fn from_model_proto(b: &[u8]) -> Result<Spm, TokenizerError> {
        let err = |m: String| TokenizerError::Spm(format!("tokenizer.model: {m}"));
        let (mut pieces, mut scores, mut types) = (Vec::new(), Vec::new(), Vec::new());
        let (mut prefix, mut model_type) = (true, 1u64);
        for f in proto::fields(b).map_err(err)? {
            match (f.number, f.value) {
                (1, proto::Value::Bytes(p)) => {
                    let (mut text, mut score, mut ty) = (None, 0f32, 1i32);
                    for g in proto::fields(p).map_err(err)? {
                        match (g.number, g.value) {
                            (1, proto::Value::Bytes(t)) => {
                                text = Some(String::from_utf8(t.to_vec()).map_err(|_| err(format!("piece {} is not UTF-8", pieces.len())))?)
                            }
                            (2, proto::Value::Fixed32(x)) => score = f32::from_bits(x),
                            (3, proto::Value::Varint(t)) => ty = t as i32,
                            _ => {}
                        }
                    }
                    pieces.push(text.ok_or_else(|| err(format!("piece {} has no text", pieces.len())))?);
                    scores.push(score);
                    types.push(ty);
                }
                (2, proto::Value::Bytes(t)) => {
                    for g in proto::fields(t).map_err(err)? {
                        if let (3, proto::Value::Varint(m)) = (g.number, g.value) {
                            model_type = m;
                        }
                    }
                }
                (3, proto::Value::Bytes(n)) => {
                    for g in proto::fields(n).map_err(err)? {
                        match (g.number, g.value) {
                            (1, proto::Value::Bytes(name)) if name != b"identity" => {
                                return Err(err(format!("normalizer {:?}: only `identity` is implemented", String::from_utf8_lossy(name))));
                            }
                            (3, proto::Value::Varint(x)) => prefix = x != 0,
                            (4, proto::Value::Varint(x)) if x != 0 => {
                                return Err(err("remove_extra_whitespaces is on: not implemented (llama.cpp does not apply it)".into()));
                            }
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if model_type != 2 {
            let name = match model_type {
                1 => "unigram",
                3 => "word",
                4 => "char",
                _ => "unknown",
            };
            return Err(err(format!("a {name} model (type {model_type}): only BPE is implemented")));
        }
        Spm::new(pieces, scores, types, prefix)
    }

    /// The id of a piece.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        self.ids.get(piece).copied()
    }

    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The ids of a text (no BOS: the caller adds it).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        if text.is_empty() {
            return Ok(Vec::new());
        }
        let mut t = String::with_capacity(text.len() + 3);
        if self.add_space_prefix {
            t.push(' ');
        }
        t.push_str(text);
        let t = t.replace(' ', "\u{2581}");
        let mut syms: Vec<Sym> = Vec::new();
        for (start, c) in t.char_indices() {
            let i = syms.len();
            syms.push(Sym { start, len: c.len_utf8(), prev: i.checked_sub(1), next: None });
            if i > 0 {
                syms[i - 1].next = Some(i);
            }
        }
        let mut queue = BinaryHeap::new();
        let try_add = |syms: &[Sym], queue: &mut BinaryHeap<Bigram>, left: Option<usize>, right: Option<usize>| {
            let (Some(l), Some(r)) = (left, right) else { return };
            let text = &t[syms[l].start..syms[l].start + syms[l].len + syms[r].len];
            if let Some(&id) = self.ids.get(text) {
                queue.push(Bigram { score: self.scores[id as usize], left: l, right: r, size: text.len() });
            }
        };
        for i in 1..syms.len() {
            try_add(&syms, &mut queue, Some(i - 1), Some(i));
        }
        while let Some(b) = queue.pop() {
            let (l, r) = (syms[b.left], syms[b.right]);
            if l.len == 0 || r.len == 0 || l.len + r.len != b.size {
                continue;
            }
            syms[b.left].len += r.len;
            syms[b.right].len = 0;
            syms[b.left].next = r.next;
            if let Some(n) = r.next {
                syms[n].prev = Some(b.left);
            }
            try_add(&syms, &mut queue, l.prev, Some(b.left));
            try_add(&syms, &mut queue, Some(b.left), r.next);
        }
        // A merged symbol is a token by construction, so only a single character can be none:
        // llama.cpp's `resegment` then finds no merge to undo and writes its bytes.
        let mut out = Vec::new();
        let mut i = Some(0);
        while let Some(k) = i {
            let text = &t[syms[k].start..syms[k].start + syms[k].len];
            match self.ids.get(text) {
                Some(&id) => out.push(id),
                None => {
                    for &b in text.as_bytes() {
                        out.push(self.byte_ids[b as usize].ok_or_else(|| {
                            TokenizerError::Spm(format!("{text:?} is no token and the vocabulary has no <0x{b:02X}> byte token"))
                        })?);
                    }
                }
            }
            i = syms[k].next;
        }
        Ok(out)
    }

    /// One token's bytes: `▁` as a space, `<0xXX>` as its byte, nothing for control, unknown
    /// and unused tokens and for ids beyond the vocabulary.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let i = id as usize;
        match self.types.get(i) {
            Some(&NORMAL) | Some(&USER_DEFINED) => self.pieces[i].replace('\u{2581}', " ").into_bytes(),
            Some(&BYTE) => byte_piece(&self.pieces[i]).into_iter().collect(),
            // unknown, control and unused tokens
            Some(_) | None => Vec::new(),
        }
    }

    /// The ids' bytes, less the one space the prefix added before the first piece.
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        let mut out: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        if self.add_space_prefix && out.first() == Some(&b' ') {
            out.remove(0);
        }
        out
    }
}

/// Just enough protobuf wire format for a `tokenizer.model`: the fields of one message, each
/// bounded by the bytes given (a damaged file is an error, never a panic).
mod proto {
    pub enum Value<'a> {
        Varint(u64),
        /// read past: no field of a `tokenizer.model` that matters here has this type
        Fixed64,
        Bytes(&'a [u8]),
        Fixed32(u32),
    }

    pub struct Field<'a> {
        pub number: u64,
        pub value: Value<'a>,
    }

    fn varint(b: &[u8], i: &mut usize) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let &byte = b.get(*i).ok_or("a varint runs past the end")?;
            *i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a varint longer than 10 bytes".into())
    }

    pub fn fields(b: &[u8]) -> Result<Vec<Field<'_>>, String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            let key = varint(b, &mut i)?;
            let take = |i: &mut usize, n: usize| -> Result<&[u8], String> {
                let end = i.checked_add(n).filter(|&e| e <= b.len()).ok_or(format!("field {} runs past the end", key >> 3))?;
                let s = &b[*i..end];
                *i = end;
                Ok(s)
            };
            let value = match key & 7 {
                0 => Value::Varint(varint(b, &mut i)?),
                1 => {
                    take(&mut i, 8)?;
                    Value::Fixed64
                }
                2 => {
                    let n = varint(b, &mut i)?;
                    Value::Bytes(take(&mut i, usize::try_from(n).map_err(|_| "a length beyond memory")?)?)
                }
                5 => Value::Fixed32(u32::from_le_bytes(take(&mut i, 4)?.try_into().expect("4 bytes"))),
                w => return Err(format!("wire type {w} of field {} is not one protobuf writes here", key >> 3)),
            };
            out.push(Field { number: key >> 3, value });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokenizer::TOKEN_TYPE_CONTROL as CONTROL;

    fn vocab(pieces: &[(&str, f32, i32)]) -> Spm {
        let mut p: Vec<String> = pieces.iter().map(|x| x.0.to_string()).collect();
        let mut s: Vec<f32> = pieces.iter().map(|x| x.1).collect();
        let mut t: Vec<i32> = pieces.iter().map(|x| x.2).collect();
        for b in 0..256 {
            p.push(format!("<0x{b:02X}>"));
            s.push(0.0);
            t.push(BYTE);
        }
        Spm::new(p, s, t, true).unwrap()
    }

    #[test]
    fn merges_by_score_then_leftmost_and_falls_back_to_bytes() {
        let v = vocab(&[
            ("<s>", 0.0, CONTROL),
            ("▁", -1.0, NORMAL),
            ("a", -2.0, NORMAL),
            ("b", -2.0, NORMAL),
            ("ab", -3.0, NORMAL),
            ("▁a", -1.5, NORMAL),
            ("ba", -0.5, NORMAL),
        ]);
        // "▁abab": ▁a (-1.5) and ba (-0.5) compete: ba at 2 first, then ▁a, then b alone
        assert_eq!(v.encode("abab").unwrap(), vec![5, 6, 3]);
        // without the prefix, "ab" is one token; of two equal candidates in "aaa" the left wins
        let no_prefix = Spm { add_space_prefix: false, ..v.clone() };
        assert_eq!(no_prefix.encode("ab").unwrap(), vec![4]);
        let aa = vocab(&[("a", -2.0, NORMAL), ("aa", -1.0, NORMAL)]);
        let aa = Spm { add_space_prefix: false, ..aa };
        assert_eq!(aa.encode("aaa").unwrap(), vec![1, 0]);
        // "é" is no token: its two UTF-8 bytes
        let e = v.encode("é").unwrap();
        assert_eq!(e, vec![1, 7 + 0xC3, 7 + 0xA9]);
        assert_eq!(v.decode(&e), "é".as_bytes());
        assert_eq!(v.decode(&[0, 5, 6, 3]), b"abab", "control gives nothing, the prefix space goes");
        assert_eq!(v.encode("").unwrap(), Vec::<u32>::new());
    }

    /// Random text of 1-4-byte characters, spaces and newlines through a vocabulary with every
    /// byte: never an error, and decoding gives the text back.
    #[test]
    fn random_text_round_trips() {
        let v = vocab(&[
            ("<s>", 0.0, CONTROL),
            ("▁", -1.0, NORMAL),
            ("▁▁", -4.0, NORMAL),
            ("e", -2.0, NORMAL),
            ("▁e", -1.0, NORMAL),
            ("ée", -0.5, NORMAL),
        ]);
        let pool = ['e', 'é', ' ', '\n', 'ж', '中', '🦙', 'x', '\u{200d}'];
        let mut x = 0x9e3779b97f4a7c15u64;
        for _ in 0..2000 {
            let mut t = String::new();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for k in 0..(x % 24) {
                t.push(pool[((x >> (k * 2 % 60)) as usize + k as usize) % pool.len()]);
            }
            let ids = v.encode(&t).unwrap();
            assert_eq!(v.decode(&ids), t.as_bytes(), "{t:?} -> {ids:?}");
        }
    }

    #[test]
    fn bad_vocabularies_are_named() {
        let e = Spm::new(vec!["a".into()], vec![], vec![1], true).unwrap_err();
        assert_eq!(e.to_string(), "SentencePiece vocabulary: 0 scores for 1 tokens");
        let e = Spm::new(vec!["<0xZZ>".into()], vec![0.0], vec![BYTE], true).unwrap_err();
        assert_eq!(e.to_string(), "SentencePiece vocabulary: byte token 0 is \"<0xZZ>\", not <0xXX>");
        let e = Spm::new(vec!["a".into()], vec![0.0], vec![9], true).unwrap_err();
        assert_eq!(e.to_string(), "SentencePiece vocabulary: token 0 (\"a\") has type 9, not 1-6");
        let v = Spm::new(vec!["a".into()], vec![0.0], vec![NORMAL], false).unwrap();
        assert_eq!(
            v.encode("b").unwrap_err().to_string(),
            "SentencePiece vocabulary: \"b\" is no token and the vocabulary has no <0x62> byte token"
        );
    }
}
