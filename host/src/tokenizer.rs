//! GPT-2 style byte-level BPE, built from the vocabulary and merges a GGUF file stores
//! (`tokenizer.ggml.model = "gpt2"`), with the `smollm` pre-tokenizer (llama.cpp's
//! `LLAMA_VOCAB_PRE_TYPE_SMOLLM`, the same as STARCODER and REFACT), as SmolLM2 uses.
//!
//! Encoding, as llama.cpp does it (`tokenize(text, add_bos = false, special = false)`):
//!
//! 1. Pre-tokenize. First every single `\p{N}` character becomes a piece of its own, splitting
//!    the text into chunks; then, inside each chunk that is not a digit, the GPT-2 pattern
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` cuts pieces.
//!    A lookahead never sees past its chunk, so a run of spaces before a digit keeps all its
//!    spaces (`"x   5"` is `"x"`, `"   "`, `"5"`), and `" 42"` is `" "`, `"4"`, `"2"`.
//!    `\p{L}` is [`char::is_alphabetic`] (less any numeric char), `\p{N}` [`char::is_numeric`],
//!    `\s` [`char::is_whitespace`]. These agree with llama.cpp's tables except on the combining
//!    marks Unicode calls alphabetic (Indic vowel signs: llama.cpp cuts a word at each one,
//!    this does not), which changes ids only where a merge spans such a cut: none did in
//!    Hindi, Tamil, Bengali or Thai samples checked against llama.cpp.
//! 2. Map each piece's UTF-8 bytes to byte tokens (GPT-2's `bytes_to_unicode` spelling: the
//!    printable bytes stand for themselves, the others for U+0100.. in byte order) and merge
//!    adjacent symbols, lowest merge rank first (leftmost first among equal ranks), until no
//!    adjacent pair has a merge.
//!
//! Control tokens written in the text (like `"<|im_start|>"`) are plain text here. A byte
//! with no token of its own is dropped (llama.cpp does the same; SmolLM2 lacks 21 of the 256
//! byte tokens, the control bytes 0x04 0x06 0x13 0x14 0x16 0x1D and bytes that never occur
//! in UTF-8), so `decode(encode(s)) == s` holds whenever the vocabulary has all 256.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`: 1 normal, 2 unknown,
/// 3 control, 4 user-defined, 5 unused, 6 byte; SentencePiece's `Type` numbers them the same),
/// for both tokenizers. An ordinary token (the only kind BPE spells byte-level):
pub(crate) const TOKEN_TYPE_NORMAL: i32 = 1;
/// A control token and a user-defined one (both stand for their own text); a tokenizer.json's
/// special and other added tokens.
pub(crate) const TOKEN_TYPE_CONTROL: i32 = 3;
pub(crate) const TOKEN_TYPE_USER: i32 = 4;
/// SentencePiece's byte-fallback tokens `<0xXX>`.
pub(crate) const TOKEN_TYPE_BYTE: i32 = 6;

/// No token (a byte that has none), or a symbol merged into its left neighbour.
const NONE: u32 = u32::MAX;

#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("token_type has {types} entries for {tokens} tokens")]
    TypeCount { tokens: usize, types: usize },
    #[error("{0} tokens are more than a u32 id can number")]
    TooManyTokens(usize),
    #[error("token {index} ({text:?}) repeats token {first}")]
    DuplicateToken { index: usize, first: usize, text: String },
    #[error("token {index} ({text:?}) is not byte-level encoded: {ch:?} stands for no byte")]
    NotByteLevel { index: usize, text: String, ch: char },
    #[error("merge {index} ({merge:?}) is not two tokens separated by a space")]
    MalformedMerge { index: usize, merge: String },
    #[error("merge {index} ({merge:?}) names {part:?}, which is not in the vocabulary")]
    UnknownMergePart { index: usize, merge: String, part: String },
    #[error("merge {index} ({merge:?}) makes {merged:?}, which is not in the vocabulary")]
    UnknownMergeResult { index: usize, merge: String, merged: String },
    #[error("merge {index} ({merge:?}) repeats merge {first}")]
    DuplicateMerge { index: usize, first: usize, merge: String },
    #[error("pre-tokenizer pattern {pattern:?}: {msg}")]
    Pattern { pattern: String, msg: String },
    #[error("tokenizer.json: {0}")]
    Json(String),
    #[error("SentencePiece vocabulary: {0}")]
    Spm(String),
    #[error(
        "the model has {vocab} tokens and no tokenizer: put the checkpoint's tokenizer.json or tokenizer.model beside its config.json (only a model of exactly 256 tokens reads bytes as ids)"
    )]
    Missing { vocab: usize },
}

/// A byte-level BPE tokenizer: vocabulary, merge ranks, and each token's bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct Bpe {
    /// The token strings as the GGUF file has them, in id order.
    tokens: Vec<String>,
    /// Token `i`'s bytes are `bytes[offsets[i]..offsets[i + 1]]`.
    bytes: Vec<u8>,
    offsets: Vec<usize>,
    /// The token of each single byte, or `NONE`.
    byte_ids: Vec<u32>,
    /// `(left << 32) | right` -> (rank, merged token).
    merges: HashMap<u64, (u32, u32)>,
    /// How text is cut into pieces before the merges.
    pre: PreTokenizer,
    /// Hugging Face `ignore_merges` (Llama 3): a piece that is a token as a whole is that
    /// token, whatever the merges would make of it. Maps a normal token's bytes to its id.
    whole: Option<HashMap<Vec<u8>, u32>>,
}

/// GPT-2's `bytes_to_unicode`: the char that spells each byte.
fn byte_chars() -> [char; 256] {
    let printable = |b: u32| (0x21..=0x7E).contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
    let mut chars = ['\0'; 256];
    let mut next = 256;
    for b in 0..256u32 {
        let c = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        chars[b as usize] = char::from_u32(c).expect("U+0000..U+0143 are chars");
    }
    chars
}

fn pair_key(left: u32, right: u32) -> u64 {
    (u64::from(left) << 32) | u64::from(right)
}

impl Bpe {
    /// tokens: the vocabulary strings in id order (GGUF `tokenizer.ggml.tokens`), merges: "a b"
    /// strings in rank order (`tokenizer.ggml.merges`), token_types: GGUF
    /// `tokenizer.ggml.token_type` (1 normal, 3 control, ...) if present. Normal tokens (all of
    /// them when `token_types` is `None`) must be byte-level spelled; other kinds stand for
    /// their own UTF-8 text. Every merge must name two tokens whose concatenation is a token.
    pub fn new(tokens: Vec<String>, merges: &[String], token_types: Option<&[i32]>) -> Result<Bpe, TokenizerError> {
        if let Some(types) = token_types
            && types.len() != tokens.len()
        {
            return Err(TokenizerError::TypeCount { tokens: tokens.len(), types: types.len() });
        }
        if tokens.len() >= NONE as usize {
            return Err(TokenizerError::TooManyTokens(tokens.len()));
        }
        let chars = byte_chars();
        let mut char_bytes: HashMap<char, u8> = HashMap::with_capacity(256);
        for (b, &c) in chars.iter().enumerate() {
            char_bytes.insert(c, b as u8);
        }

        let mut ids: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        let mut bytes = Vec::new();
        let mut offsets = Vec::with_capacity(tokens.len() + 1);
        offsets.push(0);
        for (index, text) in tokens.iter().enumerate() {
            if let Some(&first) = ids.get(text.as_str()) {
                return Err(TokenizerError::DuplicateToken { index, first: first as usize, text: text.clone() });
            }
            ids.insert(text, index as u32);
            if token_types.is_none_or(|types| types[index] == TOKEN_TYPE_NORMAL) {
                for ch in text.chars() {
                    match char_bytes.get(&ch) {
                        Some(&b) => bytes.push(b),
                        None => return Err(TokenizerError::NotByteLevel { index, text: text.clone(), ch }),
                    }
                }
            } else {
                bytes.extend_from_slice(text.as_bytes());
            }
            offsets.push(bytes.len());
        }

        let mut byte_ids = vec![NONE; 256];
        for (b, c) in chars.iter().enumerate() {
            if let Some(&id) = ids.get(c.encode_utf8(&mut [0; 4]) as &str) {
                byte_ids[b] = id;
            }
        }

        let mut merge_map: HashMap<u64, (u32, u32)> = HashMap::with_capacity(merges.len());
        for (index, merge) in merges.iter().enumerate() {
            let malformed = || TokenizerError::MalformedMerge { index, merge: merge.clone() };
            let (left, right) = merge.split_once(' ').ok_or_else(malformed)?;
            if left.is_empty() || right.is_empty() {
                return Err(malformed());
            }
            let id = |part: &str| {
                ids.get(part).copied().ok_or_else(|| TokenizerError::UnknownMergePart {
                    index,
                    merge: merge.clone(),
                    part: part.to_string(),
                })
            };
            let (l, r) = (id(left)?, id(right)?);
            let merged = format!("{left}{right}");
            let Some(&m) = ids.get(merged.as_str()) else {
                return Err(TokenizerError::UnknownMergeResult { index, merge: merge.clone(), merged });
            };
            if let Some(&(first, _)) = merge_map.get(&pair_key(l, r)) {
                return Err(TokenizerError::DuplicateMerge { index, first: first as usize, merge: merge.clone() });
            }
            let rank = u32::try_from(index).map_err(|_| malformed())?;
            merge_map.insert(pair_key(l, r), (rank, m));
        }

        Ok(Bpe { tokens, bytes, offsets, byte_ids, merges: merge_map, pre: PreTokenizer::Smollm, whole: None })
    }

    /// Cut text with `pre` instead of the `smollm` pre-tokenizer.
    pub fn with_pre_tokenizer(mut self, pre: PreTokenizer) -> Bpe {
        self.pre = pre;
        self
    }

    /// Hugging Face `ignore_merges`: a piece spelled by one normal token as a whole becomes
    /// that token before any merge is tried.
    pub fn with_ignore_merges(mut self, types: Option<&[i32]>) -> Bpe {
        let mut whole = HashMap::with_capacity(self.tokens.len());
        for i in 0..self.tokens.len() {
            if types.is_none_or(|t| t[i] == TOKEN_TYPE_NORMAL) {
                whole.entry(self.token_bytes(i as u32).to_vec()).or_insert(i as u32);
            }
        }
        self.whole = Some(whole);
        self
    }

    /// The pre-tokenizer in use.
    pub fn pre_tokenizer(&self) -> &PreTokenizer {
        &self.pre
    }

    pub fn vocab_size(&self) -> usize {
        self.tokens.len()
    }

    /// The id of a token by its text as the vocabulary spells it.
    pub fn token_id(&self, text: &str) -> Option<u32> {
        self.tokens.iter().position(|t| t == text).map(|i| i as u32)
    }

    /// Plain text to ids. Control tokens written in the text (like "<|im_start|>") are NOT
    /// special: they are encoded as text. Bytes the vocabulary has no token for are dropped.
    /// Fails only if a pre-tokenizer pattern gives up (a backtracking limit).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TokenizerError> {
        let mut ids = Vec::with_capacity(text.len() / 3 + 1);
        let mut syms = Vec::new();
        let mut heap = BinaryHeap::new();
        let pieces = match &self.pre {
            PreTokenizer::Smollm => pre_tokenize(text),
            PreTokenizer::Split(stages) => split_pieces(text, stages)?,
        };
        for piece in pieces {
            if let Some(&id) = self.whole.as_ref().and_then(|w| w.get(piece.as_bytes())) {
                ids.push(id);
                continue;
            }
            self.merge_piece(piece.as_bytes(), &mut syms, &mut heap, &mut ids);
        }
        Ok(ids)
    }

    /// The raw bytes of a token (byte-level decoded); control tokens give their text. An
    /// out-of-range id gives no bytes.
    pub fn token_bytes(&self, id: u32) -> &[u8] {
        let i = id as usize;
        if i >= self.tokens.len() {
            return &[];
        }
        &self.bytes[self.offsets[i]..self.offsets[i + 1]]
    }

    /// The concatenated bytes of the ids; out-of-range ids give nothing. (Not necessarily
    /// UTF-8: a cut can fall inside a character.)
    pub fn decode(&self, ids: &[u32]) -> Vec<u8> {
        let mut out = Vec::new();
        for &id in ids {
            out.extend_from_slice(self.token_bytes(id));
        }
        out
    }

    /// BPE over one pre-token: start from its byte tokens, repeatedly merge the adjacent pair
    /// of lowest rank (leftmost first), push the final symbols' ids onto `out`.
    fn merge_piece(&self, piece: &[u8], syms: &mut Vec<Sym>, heap: &mut BinaryHeap<Reverse<(u32, u32, u32)>>, out: &mut Vec<u32>) {
        let n = piece.len();
        if n == 1 {
            if self.byte_ids[piece[0] as usize] != NONE {
                out.push(self.byte_ids[piece[0] as usize]);
            }
            return;
        }
        syms.clear();
        heap.clear();
        for (i, &b) in piece.iter().enumerate() {
            let next = if i + 1 < n { i as u32 + 1 } else { NONE };
            let prev = if i > 0 { i as u32 - 1 } else { NONE };
            syms.push(Sym { id: self.byte_ids[b as usize], prev, next });
        }
        let rank_of = |syms: &[Sym], l: u32, r: u32| self.merges.get(&pair_key(syms[l as usize].id, syms[r as usize].id)).copied();
        for i in 0..n as u32 - 1 {
            if let Some((rank, _)) = rank_of(syms, i, i + 1) {
                heap.push(Reverse((rank, i, i + 1)));
            }
        }
        while let Some(Reverse((rank, l, r))) = heap.pop() {
            // Stale entries: the pair was broken up by an earlier merge, or its left symbol
            // has grown since (then the pair's rank differs: ranks name pairs one to one).
            if syms[l as usize].next != r {
                continue;
            }
            let Some((now, merged)) = rank_of(syms, l, r) else { continue };
            if now != rank {
                continue;
            }
            let after = syms[r as usize].next;
            syms[l as usize].id = merged;
            syms[l as usize].next = after;
            syms[r as usize].id = NONE;
            syms[r as usize].next = NONE;
            if after != NONE {
                syms[after as usize].prev = l;
                if let Some((rank, _)) = rank_of(syms, l, after) {
                    heap.push(Reverse((rank, l, after)));
                }
            }
            let before = syms[l as usize].prev;
            if before != NONE
                && let Some((rank, _)) = rank_of(syms, before, l)
            {
                heap.push(Reverse((rank, before, l)));
            }
        }
        let mut i = 0;
        while i != NONE {
            let s = syms[i as usize];
            if s.id != NONE {
                out.push(s.id);
            }
            i = s.next;
        }
    }
}

/// GPT-2's pattern (Hugging Face `ByteLevel { use_regex: true }`).
pub const GPT2_PATTERN: &str = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// Llama 3's pattern (its tokenizer.json's `Split`; llama.cpp's `llama-bpe`).
pub const LLAMA3_PATTERN: &str =
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// How text is cut into pieces before the merges.
#[derive(Clone, Debug)]
pub enum PreTokenizer {
    /// llama.cpp's `smollm` (hand-written below): every `\p{N}` alone, then GPT-2's pattern.
    Smollm,
    /// Hugging Face `Split` stages with `behavior: Isolated`, in order: each stage cuts every
    /// piece of the one before into its matches and the text between them.
    Split(Vec<SplitStage>),
}

impl PartialEq for PreTokenizer {
    fn eq(&self, other: &PreTokenizer) -> bool {
        match (self, other) {
            (PreTokenizer::Smollm, PreTokenizer::Smollm) => true,
            (PreTokenizer::Split(a), PreTokenizer::Split(b)) => a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.pattern == y.pattern),
            _ => false,
        }
    }
}

/// One `Split` stage: its pattern as the tokenizer file spells it, compiled.
#[derive(Clone, Debug)]
pub struct SplitStage {
    pub pattern: String,
    re: fancy_regex::Regex,
}

impl SplitStage {
    pub fn new(pattern: &str) -> Result<SplitStage, TokenizerError> {
        // The patterns' only look-around is `\s+(?!\S)`, which backtracks one character; no
        // limit, so a long run of spaces cannot make a match give up.
        let re = fancy_regex::RegexBuilder::new(pattern)
            .backtrack_limit(usize::MAX)
            .build()
            .map_err(|e| TokenizerError::Pattern { pattern: pattern.to_string(), msg: e.to_string() })?;
        Ok(SplitStage { pattern: pattern.to_string(), re })
    }
}

/// Apply `Split` stages (`Isolated`): matches and the gaps between them, in order, each a piece.
fn split_pieces<'t>(text: &'t str, stages: &[SplitStage]) -> Result<Vec<&'t str>, TokenizerError> {
    let mut pieces = vec![text];
    for stage in stages {
        let mut next = Vec::with_capacity(pieces.len() * 2);
        for piece in pieces {
            let mut at = 0;
            for m in stage.re.find_iter(piece) {
                let m = m.map_err(|e| TokenizerError::Pattern { pattern: stage.pattern.clone(), msg: e.to_string() })?;
                if m.start() > at {
                    next.push(&piece[at..m.start()]);
                }
                if m.end() > m.start() {
                    next.push(m.as_str());
                }
                at = m.end();
            }
            if at < piece.len() {
                next.push(&piece[at..]);
            }
        }
        pieces = next;
    }
    Ok(pieces)
}

/// What a Hugging Face `tokenizer.json` holds, read into a [`Bpe`].
#[derive(Clone, Debug, PartialEq)]
pub struct TokenizerJson {
    pub bpe: Bpe,
    /// The special token the post-processor puts before a sequence (`TemplateProcessing`), if any.
    pub bos: Option<u32>,
}

impl Bpe {
    /// Read a Hugging Face `tokenizer.json` of a byte-level BPE (GPT-2, Llama 3, SmolLM2,
    /// Qwen2 style): `model` BPE with `vocab` and `merges` (strings "a b" or pairs), optional
    /// `ignore_merges`; `pre_tokenizer` built from `Split` (regex or string, `Isolated`),
    /// `Digits` and `ByteLevel` (without `add_prefix_space`), alone or in a `Sequence`;
    /// `added_tokens` as control tokens (their text stands for itself). Anything else is named
    /// in the error rather than tokenized differently.
    pub fn from_tokenizer_json(json: &[u8]) -> Result<TokenizerJson, TokenizerError> {
        use serde_json::Value;
        let bad = |msg: String| TokenizerError::Json(msg);
        let root: Value = serde_json::from_slice(json).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let model = root.get("model").ok_or_else(|| bad("no `model`".into()))?;
        let kind = model.get("type").and_then(Value::as_str).unwrap_or("BPE");
        if kind != "BPE" {
            return Err(bad(format!("model.type `{kind}` is not supported (BPE is)")));
        }
        if model.get("byte_fallback").and_then(Value::as_bool) == Some(true) {
            return Err(bad("model.byte_fallback is true: a SentencePiece-style BPE, not byte-level; not supported".into()));
        }
        for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
            if let Some(v) = model.get(key).filter(|v| !v.is_null()) {
                return Err(bad(format!("model.{key} = {v} is not supported")));
            }
        }
        if let Some(n) = root.get("normalizer").filter(|v| !v.is_null()) {
            return Err(bad(format!("normalizer {} is not supported (a byte-level BPE has none)", n.get("type").unwrap_or(n))));
        }
        if let Some(d) = root.get("decoder").filter(|v| !v.is_null())
            && d.get("type").and_then(Value::as_str) != Some("ByteLevel")
        {
            return Err(bad(format!("decoder {} is not supported (ByteLevel is)", d.get("type").unwrap_or(d))));
        }

        let vocab = model.get("vocab").and_then(Value::as_object).ok_or_else(|| bad("model.vocab is not an object".into()))?;
        let added: &[Value] = root.get("added_tokens").and_then(Value::as_array).map_or(&[], |a| a.as_slice());
        // Ids run from 0 without gaps, so none can reach the number of entries: checked before
        // any slot is reserved, so a corrupt id cannot make the reader allocate for it.
        let entries = vocab.len() + added.len();
        let id_of = |v: &Value, what: &str| -> Result<usize, TokenizerError> {
            let id = v
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .filter(|&i| i < NONE as usize)
                .ok_or_else(|| bad(format!("{what}: id {v} is not a token id")))?;
            if id >= entries {
                return Err(bad(format!("{what}: id {id} is beyond the {entries} tokens the file defines (ids run from 0 without gaps)")));
            }
            Ok(id)
        };
        let mut slots: Vec<Option<(String, i32)>> = Vec::new();
        let mut put = |id: usize, text: &str, kind: i32, what: &str| -> Result<(), TokenizerError> {
            if id >= slots.len() {
                slots.resize(id + 1, None);
            }
            match &mut slots[id] {
                Some((have, k)) if have == text => {
                    *k = kind.max(*k);
                    Ok(())
                }
                Some((have, _)) => Err(bad(format!("{what}: id {id} is {text:?} here and {have:?} in model.vocab"))),
                slot => {
                    *slot = Some((text.to_string(), kind));
                    Ok(())
                }
            }
        };
        for (text, id) in vocab {
            put(id_of(id, &format!("model.vocab[{text:?}]"))?, text, TOKEN_TYPE_NORMAL, "model.vocab")?;
        }
        for (i, t) in added.iter().enumerate() {
            let what = format!("added_tokens[{i}]");
            let text = t.get("content").and_then(Value::as_str).ok_or_else(|| bad(format!("{what} has no content")))?;
            let id = id_of(t.get("id").unwrap_or(&Value::Null), &what)?;
            let special = t.get("special").and_then(Value::as_bool).unwrap_or(false);
            put(id, text, if special { TOKEN_TYPE_CONTROL } else { TOKEN_TYPE_USER }, &what)?;
        }
        let mut tokens = Vec::with_capacity(slots.len());
        let mut types = Vec::with_capacity(slots.len());
        let last = slots.len().saturating_sub(1);
        for (id, slot) in slots.into_iter().enumerate() {
            let (text, kind) = slot.ok_or_else(|| bad(format!("id {id} has no token (ids must run from 0 to {last} without gaps)")))?;
            tokens.push(text);
            types.push(kind);
        }

        let merges: Vec<String> = match model.get("merges") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .enumerate()
                .map(|(i, m)| match m {
                    Value::String(s) => Ok(s.clone()),
                    Value::Array(p) if p.len() == 2 && p.iter().all(Value::is_string) => {
                        Ok(format!("{} {}", p[0].as_str().unwrap_or_default(), p[1].as_str().unwrap_or_default()))
                    }
                    _ => Err(bad(format!("model.merges[{i}] = {m} is neither \"a b\" nor [\"a\", \"b\"]"))),
                })
                .collect::<Result<_, _>>()?,
            Some(v) => return Err(bad(format!("model.merges is {v:.40}, not an array"))),
        };

        let mut stages = Vec::new();
        let mut byte_level = false;
        pre_tokenizer_stages(root.get("pre_tokenizer").unwrap_or(&Value::Null), &mut stages, &mut byte_level)?;
        if !byte_level {
            return Err(bad("pre_tokenizer has no ByteLevel step: not a byte-level BPE".into()));
        }

        let mut bpe = Bpe::new(tokens, &merges, Some(&types))?.with_pre_tokenizer(PreTokenizer::Split(stages));
        if model.get("ignore_merges").and_then(Value::as_bool).unwrap_or(false) {
            bpe = bpe.with_ignore_merges(Some(&types));
        }
        let bos = template_bos(root.get("post_processor").unwrap_or(&Value::Null), &bpe)?;
        Ok(TokenizerJson { bpe, bos })
    }
}

/// Append the `Split` stages of a `pre_tokenizer` (recursing into `Sequence`).
fn pre_tokenizer_stages(p: &serde_json::Value, stages: &mut Vec<SplitStage>, byte_level: &mut bool) -> Result<(), TokenizerError> {
    use serde_json::Value;
    let bad = |msg: String| TokenizerError::Json(msg);
    if p.is_null() {
        return Ok(());
    }
    let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        "Sequence" => {
            for q in p
                .get("pretokenizers")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("pre_tokenizer Sequence without pretokenizers".into()))?
            {
                pre_tokenizer_stages(q, stages, byte_level)?;
            }
        }
        "ByteLevel" => {
            if p.get("add_prefix_space").and_then(Value::as_bool) == Some(true) {
                return Err(bad("pre_tokenizer ByteLevel with add_prefix_space = true is not supported".into()));
            }
            if p.get("use_regex").and_then(Value::as_bool).unwrap_or(true) {
                stages.push(SplitStage::new(GPT2_PATTERN)?);
            }
            *byte_level = true;
        }
        "Digits" => {
            let one = p.get("individual_digits").and_then(Value::as_bool).unwrap_or(false);
            stages.push(SplitStage::new(if one { r"\p{N}" } else { r"\p{N}+" })?);
        }
        "Split" => {
            let behavior = p.get("behavior").and_then(Value::as_str).unwrap_or("");
            if behavior != "Isolated" || p.get("invert").and_then(Value::as_bool) == Some(true) {
                return Err(bad(format!(
                    "pre_tokenizer Split with behavior `{behavior}` (invert {}) is not supported (Isolated is)",
                    p.get("invert").unwrap_or(&Value::Null)
                )));
            }
            let pat = p.get("pattern").ok_or_else(|| bad("pre_tokenizer Split without pattern".into()))?;
            let re = match (pat.get("Regex").and_then(Value::as_str), pat.get("String").and_then(Value::as_str)) {
                (Some(r), _) => r.to_string(),
                (None, Some(s)) => fancy_regex::escape(s).into_owned(),
                _ => return Err(bad(format!("pre_tokenizer Split pattern {pat} is neither Regex nor String"))),
            };
            stages.push(SplitStage::new(&re)?);
        }
        other => return Err(bad(format!("pre_tokenizer `{other}` is not supported (ByteLevel, Split, Digits, Sequence are)"))),
    }
    Ok(())
}

/// The id a `TemplateProcessing` post-processor puts first in a single sequence, if any.
fn template_bos(p: &serde_json::Value, bpe: &Bpe) -> Result<Option<u32>, TokenizerError> {
    use serde_json::Value;
    let bad = |msg: String| TokenizerError::Json(msg);
    let templ = match p.get("type").and_then(Value::as_str) {
        Some("TemplateProcessing") => p,
        Some("Sequence") => match p
            .get("processors")
            .and_then(Value::as_array)
            .and_then(|a| a.iter().find(|q| q.get("type").and_then(Value::as_str) == Some("TemplateProcessing")))
        {
            Some(t) => t,
            None => return Ok(None),
        },
        _ => return Ok(None),
    };
    let Some(first) = templ.get("single").and_then(Value::as_array).and_then(|a| a.first()) else { return Ok(None) };
    let Some(name) = first.get("SpecialToken").and_then(|s| s.get("id")).and_then(Value::as_str) else { return Ok(None) };
    let id = templ
        .get("special_tokens")
        .and_then(|s| s.get(name))
        .and_then(|s| s.get("ids"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(format!("post_processor names the special token {name:?} without its id")))?;
    if id as usize >= bpe.vocab_size() {
        return Err(bad(format!("post_processor's {name:?} has id {id}, outside the {} tokens", bpe.vocab_size())));
    }
    Ok(Some(id as u32))
}

/// One symbol of a pre-token during BPE: a token id and its live neighbours (indices).
#[derive(Clone, Copy, Debug)]
struct Sym {
    id: u32,
    prev: u32,
    next: u32,
}

/// What the GPT-2 pattern sees at a position. `Edge`: the end of the text or a `\p{N}` char
/// (every such char is a chunk of its own, and lookaheads stop at a chunk's end).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Class {
    Letter,
    Space,
    Other,
    Edge,
}

fn class_of(c: char) -> Class {
    if c.is_numeric() {
        Class::Edge
    } else if c.is_whitespace() {
        Class::Space
    } else if c.is_alphabetic() {
        Class::Letter
    } else {
        Class::Other
    }
}

/// The `smollm` pre-tokenizer: the pieces of `text`, in order, concatenating to `text`.
fn pre_tokenize(text: &str) -> Vec<&str> {
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let n = chars.len();
    let at = |i: usize| if i < n { Some(chars[i].1) } else { None };
    let class = |i: usize| at(i).map_or(Class::Edge, class_of);
    let byte = |i: usize| if i < n { chars[i].0 } else { text.len() };
    let mut pieces = Vec::with_capacity(n / 4 + 1);
    let mut i = 0;
    while i < n {
        let start = i;
        let c = chars[i].1;
        i = if c.is_numeric() {
            // \p{N}: each one alone.
            i + 1
        } else if c == '\'' && matches!(at(i + 1), Some('s' | 't' | 'm' | 'd')) {
            i + 2
        } else if c == '\'' && matches!((at(i + 1), at(i + 2)), (Some('r'), Some('e')) | (Some('v'), Some('e')) | (Some('l'), Some('l'))) {
            i + 3
        } else {
            let head = if c == ' ' { class(i + 1) } else { class(i) };
            match head {
                // ` ?\p{L}+` and ` ?[^\s\p{L}\p{N}]+`
                Class::Letter | Class::Other => {
                    let mut j = i + usize::from(c == ' ');
                    while class(j) == head {
                        j += 1;
                    }
                    j
                }
                // `\s+(?!\S)|\s+`: a run of spaces followed by something else (in the chunk)
                // leaves its last space to the next piece.
                Class::Space | Class::Edge => {
                    let mut j = i;
                    while class(j) == Class::Space {
                        j += 1;
                    }
                    if j - i > 1 && class(j) != Class::Edge { j - 1 } else { j.max(i + 1) }
                }
            }
        };
        pieces.push(&text[byte(start)..byte(i)]);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two control tokens, the 256 byte tokens in byte order (ids 2..258), then the merges'
    /// results (ids 258..).
    fn vocab(merges: &[&str]) -> Bpe {
        let mut tokens = vec!["<|endoftext|>".to_string(), "<|im_start|>".to_string()];
        tokens.extend(byte_chars().iter().map(|c| c.to_string()));
        for m in merges {
            tokens.push(m.replace(' ', ""));
        }
        let mut types = vec![3, 3];
        types.resize(tokens.len(), 1);
        let merges: Vec<String> = merges.iter().map(|m| m.to_string()).collect();
        Bpe::new(tokens, &merges, Some(&types)).unwrap()
    }

    fn small() -> Bpe {
        vocab(&["Ġ t", "h e", "Ġt he", "Ġ Ġ", "i n", "in g", "Ġ s", "Ġs ing", "Ċ Ċ", "' s", "o n", "Ġ on", "Ġon e"])
    }

    fn id(bpe: &Bpe, text: &str) -> u32 {
        bpe.tokens.iter().position(|t| t == text).unwrap() as u32
    }

    fn pieces(bpe: &Bpe, text: &str) -> Vec<String> {
        bpe.encode(text).unwrap().iter().map(|&i| bpe.tokens[i as usize].clone()).collect()
    }

    fn err(tokens: &[&str], merges: &[&str], types: Option<&[i32]>) -> String {
        let tokens: Vec<String> = tokens.iter().map(|t| t.to_string()).collect();
        let merges: Vec<String> = merges.iter().map(|m| m.to_string()).collect();
        Bpe::new(tokens, &merges, types).unwrap_err().to_string()
    }

    #[test]
    fn bytes_to_unicode_matches_gpt2() {
        let c = byte_chars();
        assert_eq!((c[b'!' as usize], c[b'~' as usize], c[0xA1], c[0xFF]), ('!', '~', '¡', 'ÿ'));
        // The 68 others, in byte order, from U+0100.
        assert_eq!((c[0], c[b' ' as usize], c[b'\n' as usize], c[0x7F], c[0xAD]), ('Ā', 'Ġ', 'Ċ', 'ġ', 'Ń'));
        let mut sorted = c.to_vec();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 256);
    }

    #[test]
    fn pre_tokenizer_gpt2_rules() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello, world!", &["Hello", ",", " world", "!"]),
            (
                "don't we'll they're I've I'm he'd it's",
                &["don", "'t", " we", "'ll", " they", "'re", " I", "'ve", " I", "'m", " he", "'d", " it", "'s"],
            ),
            // Contractions are lowercase only, and only right after the quote.
            ("IT'S 'tis", &["IT", "'", "S", " '", "tis"]),
            ("café naïve — ok", &["café", " naïve", " —", " ok"]),
            ("a...b ?!", &["a", "...", "b", " ?!"]),
            ("", &[]),
        ];
        for (text, want) in cases {
            assert_eq!(pre_tokenize(text), *want, "{text:?}");
        }
    }

    #[test]
    fn pre_tokenizer_whitespace_gives_up_its_last_char() {
        let cases: &[(&str, &[&str])] = &[
            ("Hello  world", &["Hello", " ", " world"]),
            ("ROMEO:\n  But soft!  What light", &["ROMEO", ":", "\n ", " But", " soft", "!", " ", " What", " light"]),
            ("a\n\nb", &["a", "\n", "\n", "b"]),
            ("a\tb", &["a", "\t", "b"]),
            ("a \t\n", &["a", " \t\n"]),
            ("end  ", &["end", "  "]),
            ("  lead", &[" ", " lead"]),
            ("x  ,", &["x", " ", " ,"]),
            (" ", &[" "]),
        ];
        for (text, want) in cases {
            assert_eq!(pre_tokenize(text), *want, "{text:?}");
        }
    }

    #[test]
    fn pre_tokenizer_splits_every_digit() {
        let cases: &[(&str, &[&str])] = &[
            ("In 1599, 42 actors", &["In", " ", "1", "5", "9", "9", ",", " ", "4", "2", " actors"]),
            // A digit ends the chunk: the spaces before it stay whole, and no space joins it.
            ("x   5", &["x", "   ", "5"]),
            ("abc1def", &["abc", "1", "def"]),
            ("v2.0", &["v", "2", ".", "0"]),
            ("½²", &["½", "²"]),
        ];
        for (text, want) in cases {
            assert_eq!(pre_tokenize(text), *want, "{text:?}");
        }
    }

    #[test]
    fn merges_apply_in_rank_order() {
        let bpe = small();
        assert_eq!(pieces(&bpe, " the"), ["Ġthe"]);
        assert_eq!(pieces(&bpe, " sing"), ["Ġsing"]);
        assert_eq!(pieces(&bpe, "thing"), ["t", "h", "ing"]);
        // Ġ o n e -> Ġ on e -> Ġon e -> Ġone.
        assert_eq!(pieces(&bpe, " one"), ["Ġone"]);
        assert_eq!(pieces(&bpe, "it's\n\n"), ["i", "t", "'s", "ĊĊ"]);
        // The same letters, opposite ranks, opposite results.
        let ab = vocab(&["a b", "b c"]);
        let bc = vocab(&["b c", "a b"]);
        assert_eq!(pieces(&ab, "abc"), ["ab", "c"]);
        assert_eq!(pieces(&bc, "abc"), ["a", "bc"]);
        // Equal pairs: the leftmost merges first.
        let aa = vocab(&["a a"]);
        assert_eq!(pieces(&aa, "aaa"), ["aa", "a"]);
        assert_eq!(pieces(&aa, "aaaaa"), ["aa", "aa", "a"]);
        // A merge result merging again, far along a long piece.
        let long = vocab(&["a a", "aa aa", "aaaa aaaa"]);
        assert_eq!(pieces(&long, &"a".repeat(19)), ["aaaaaaaa", "aaaaaaaa", "aa", "a"]);
    }

    #[test]
    fn encode_spaces_and_ids() {
        let bpe = small();
        assert_eq!(pieces(&bpe, "the  the"), ["t", "he", "Ġ", "Ġthe"]);
        assert_eq!(pieces(&bpe, "    x"), ["ĠĠ", "Ġ", "Ġ", "x"]);
        assert_eq!(bpe.encode("A").unwrap(), [2 + 65]);
        assert_eq!(bpe.encode("").unwrap(), Vec::<u32>::new());
        assert_eq!(bpe.vocab_size(), 2 + 256 + 13);
    }

    #[test]
    fn control_tokens_are_plain_text() {
        let bpe = small();
        let ids = bpe.encode("<|im_start|>").unwrap();
        assert_eq!(ids.len(), "<|im_start|>".len());
        assert!(!ids.contains(&1));
        assert_eq!(bpe.token_bytes(1), b"<|im_start|>");
        assert_eq!(bpe.decode(&[1, id(&bpe, "Ġthe"), 0]), b"<|im_start|> the<|endoftext|>");
    }

    #[test]
    fn non_ascii_falls_back_to_bytes() {
        let bpe = small();
        let e = byte_chars();
        assert_eq!(pieces(&bpe, "é"), [e[0xC3].to_string(), e[0xA9].to_string()]);
        assert_eq!(bpe.encode("😀").unwrap(), [0xF0 + 2, 0x9F + 2, 0x98 + 2, 0x80 + 2]);
        assert_eq!(bpe.decode(&bpe.encode("😀 é").unwrap()), "😀 é".as_bytes());
        let with = vocab(&["Ã ©", "Ġ Ã©"]);
        assert_eq!(pieces(&with, "café é"), ["c", "a", "f", "Ã©", "ĠÃ©"]);
        assert_eq!(with.token_bytes(id(&with, "ĠÃ©")), " é".as_bytes());
    }

    #[test]
    fn decode_skips_out_of_range_ids() {
        let bpe = small();
        let n = bpe.vocab_size() as u32;
        assert_eq!(bpe.decode(&[2 + 104, n, 2 + 105, u32::MAX]), b"hi");
        assert_eq!(bpe.token_bytes(n), b"");
    }

    #[test]
    fn bytes_without_a_token_are_dropped() {
        // A vocabulary without the byte 0x04 ("Ą"), like SmolLM2's.
        let mut tokens: Vec<String> = byte_chars().iter().map(|c| c.to_string()).collect();
        tokens.retain(|t| t != "Ą");
        tokens.push("ab".into());
        let bpe = Bpe::new(tokens, &["a b".to_string()], None).unwrap();
        assert_eq!(bpe.decode(&bpe.encode("a\u{4}b ab\u{4}").unwrap()), b"ab ab");
    }

    /// `count` strings of fewer than `max_len` chars of `alphabet` (xorshift64 from `seed`).
    fn random_texts(alphabet: &str, count: usize, max_len: u64, seed: u64) -> Vec<String> {
        let alphabet: Vec<char> = alphabet.chars().collect();
        let mut state = seed;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..count)
            .map(|_| {
                let len = next() % max_len;
                (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect()
            })
            .collect()
    }

    /// decode(encode(s)) == s over many random strings of words, spaces, digits and symbols.
    #[test]
    fn round_trip() {
        let bpe = small();
        let alphabet = "aeinost hTHE  \t\n\r\n'sltvmdr.,;!?-—é😀ß中文½²٣\u{a0}\u{2003}\u{301}_#0123456789";
        for s in random_texts(alphabet, 2000, 40, 0x2545_F491_4F6C_DD1D) {
            let pieces = pre_tokenize(&s);
            assert_eq!(pieces.concat(), s);
            assert!(pieces.iter().all(|p| !p.is_empty()), "{s:?}");
            assert_eq!(String::from_utf8(bpe.decode(&bpe.encode(&s).unwrap())).unwrap(), s);
        }
    }

    /// The `Split` stages that a SmolLM2 tokenizer.json spells (`Digits` individual, then
    /// `ByteLevel` with GPT-2's pattern) cut text exactly as the hand-written `smollm`
    /// pre-tokenizer does: two implementations of one rule, checked on strings of the
    /// characters where the rules have cases (no combining marks: the module doc says why).
    #[test]
    fn split_stages_agree_with_the_hand_written_smollm_pre_tokenizer() {
        let stages = vec![SplitStage::new(r"\p{N}").unwrap(), SplitStage::new(GPT2_PATTERN).unwrap()];
        let alphabet = "ab Z'stremvld 0123456789\n\t\r.,!?-_é中😀\u{a0}\u{3000}\u{2163}";
        for text in random_texts(alphabet, 20_000, 12, 0x9E37_79B9_7F4A_7C15) {
            assert_eq!(split_pieces(&text, &stages).unwrap(), pre_tokenize(&text), "{text:?}");
        }
        for text in ["x   5", " 42", "I'll  go\n\n  now ", "'re'd's", "  \t\n"] {
            assert_eq!(split_pieces(text, &stages).unwrap(), pre_tokenize(text), "{text:?}");
        }
    }

    #[test]
    fn constructor_errors() {
        let t = |s: &str| s.to_string();
        assert_eq!(err(&["a"], &[], Some(&[1, 1])), "token_type has 2 entries for 1 tokens");
        assert_eq!(err(&["a", "b", "a"], &[], None), "token 2 (\"a\") repeats token 0");
        assert_eq!(err(&["a", "a b"], &[], None), "token 1 (\"a b\") is not byte-level encoded: ' ' stands for no byte");
        assert_eq!(err(&["<|x y|>", "€"], &[], Some(&[3, 1])), "token 1 (\"€\") is not byte-level encoded: '€' stands for no byte");
        assert_eq!(err(&["a", "b", "ab"], &["ab"], None), "merge 0 (\"ab\") is not two tokens separated by a space");
        assert_eq!(err(&["a", "b", "ab"], &["a b", " ab"], None), "merge 1 (\" ab\") is not two tokens separated by a space");
        assert_eq!(err(&["a", "b", "ab"], &["a c"], None), "merge 0 (\"a c\") names \"c\", which is not in the vocabulary");
        assert_eq!(err(&["a", "b", "ab"], &["a b", "b a"], None), "merge 1 (\"b a\") makes \"ba\", which is not in the vocabulary");
        assert_eq!(err(&["a", "b", "ab"], &["a b", "a b"], None), "merge 1 (\"a b\") repeats merge 0");
        // Control tokens may hold any text.
        assert!(Bpe::new(vec![t("<|x y|>"), t("a")], &[], Some(&[3, 1])).is_ok());
    }
}
