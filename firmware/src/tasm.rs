//! `.tasm`: the text form of a program. One instruction per line in `Insn`'s Display form;
//! the data beats of a LOADW/LOADX follow it, either as whole words or as raw beats:
//! - `.w +0-+...`: one weight word, a bank row's L ternary weights in lane order (`+` = +1,
//!   `0`, `-` = -1; `_` may group them); LOADW's words come row by row, R rows a word address;
//! - `.x 12, -3, ...`: one activation word, L int8 values in lane order;
//! - `.beat 0x...`: one host beat, anything (undecodable words, a truncated program).
//!
//! `;` starts a comment. A LOADW/LOADX must be followed by exactly the beats it loads before
//! the next instruction (a program may end short of them: the machine then starves), and `.w`
//! / `.x` only stand where a whole word of their load begins. `disassemble` then `assemble`
//! gives back the same beats for ANY beat sequence.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use tern_arch::config::Accel;
use tern_arch::isa::Insn;
use tern_arch::pack;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsmError {
    pub line: usize,
    pub msg: String,
}

impl core::fmt::Display for AsmError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "line {}: {}", self.line, self.msg)
    }
}
impl core::error::Error for AsmError {}

/// Beats of data that follow an instruction.
pub fn data_beats(a: &Accel, i: &Insn) -> usize {
    match *i {
        Insn::LoadW { count, .. } => count as usize * a.cfg.rows as usize * a.beats_per_wword as usize,
        Insn::LoadX { count, .. } => count as usize * a.beats_per_xword as usize,
        _ => 0,
    }
}

/// A word's bit string from its beats (the inverse of `crate::word_beats`).
fn beats_word(a: &Accel, beats: &[u64], bits: u32) -> Vec<u64> {
    let hb = a.cfg.host_bits;
    let mut word = alloc::vec![0u64; (bits as usize).div_ceil(64)];
    for (i, b) in beats.iter().enumerate() {
        let bit = i as u32 * hb;
        word[(bit / 64) as usize] |= b << (bit % 64);
    }
    word
}

/// `.w` text of a weight word, or `None` if it holds the invalid code 3.
fn w_text(a: &Accel, beats: &[u64]) -> Option<String> {
    let word = beats_word(a, beats, a.wword_bits);
    (0..a.cfg.lanes as usize)
        .map(|j| match pack::weight(pack::lane_code(&word, j))? {
            1 => Some('+'),
            0 => Some('0'),
            _ => Some('-'),
        })
        .collect()
}

fn x_text(a: &Accel, beats: &[u64]) -> String {
    let word = beats_word(a, beats, a.xword_bits);
    let v: Vec<String> = (0..a.cfg.lanes as usize).map(|j| format!("{}", pack::lane_act(&word, j))).collect();
    v.join(", ")
}

pub fn disassemble(a: &Accel, beats: &[u64]) -> String {
    let mut s = String::new();
    let mut i = 0;
    while i < beats.len() {
        let b = beats[i];
        let decoded = Insn::decode_beat(b).ok();
        match decoded {
            Some(insn) => {
                let _ = writeln!(s, "{insn}");
                let n = data_beats(a, &insn).min(beats.len() - i - 1);
                let data = &beats[i + 1..i + 1 + n];
                let per = match insn {
                    Insn::LoadW { .. } => a.beats_per_wword as usize,
                    _ => a.beats_per_xword as usize,
                };
                for chunk in data.chunks(per.max(1)) {
                    let word = match insn {
                        _ if chunk.len() < per => None,
                        Insn::LoadW { .. } => w_text(a, chunk).map(|t| format!("  .w {t}")),
                        Insn::LoadX { .. } => Some(format!("  .x {}", x_text(a, chunk))),
                        _ => None,
                    };
                    match word {
                        Some(line) => {
                            let _ = writeln!(s, "{line}");
                        }
                        None => chunk.iter().for_each(|d| {
                            let _ = writeln!(s, "  .beat {d:#x}");
                        }),
                    }
                }
                i += 1 + n;
            }
            None => {
                let _ = writeln!(s, ".beat {b:#x} ; not an instruction");
                i += 1;
            }
        }
    }
    s
}

fn num(tok: &str, line: usize, what: &str) -> Result<u64, AsmError> {
    let t = tok.trim();
    let r = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) { u64::from_str_radix(h, 16) } else { t.parse::<u64>() };
    r.map_err(|_| AsmError { line, msg: format!("{what}: `{t}` is not a number") })
}

fn field(tok: &str, line: usize, what: &str) -> Result<u16, AsmError> {
    let v = num(tok, line, what)?;
    let max = (1u64 << tern_arch::isa::ADDR_BITS) - 1;
    if v > max {
        return Err(AsmError { line, msg: format!("{what} {v} does not fit the 13-bit field (max {max})") });
    }
    Ok(v as u16)
}

/// A LOADW/LOADX whose data beats are being read.
struct Load {
    line: usize,
    weights: bool,
    /// beats it loads, beats read so far, beats a word
    need: usize,
    got: usize,
    per_word: usize,
}

impl Load {
    fn name(&self) -> &'static str {
        if self.weights { "loadw" } else { "loadx" }
    }
}

/// Parse `.tasm` text into the host beats of `a`'s link (its width bounds `.beat` values; its
/// lanes and rows size `.w`/`.x` words and the data of each load).
pub fn assemble(a: &Accel, text: &str) -> Result<Vec<u64>, AsmError> {
    let host_bits = a.cfg.host_bits;
    let lanes = a.cfg.lanes as usize;
    let mut beats = Vec::new();
    let mut load: Option<Load> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let code = raw.split(';').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let (mn, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
        let mn = mn.to_ascii_lowercase();
        let args: Vec<&str> = if rest.trim().is_empty() { Vec::new() } else { rest.split(',').map(str::trim).collect() };
        let want = |k: usize| -> Result<(), AsmError> {
            if args.len() == k { Ok(()) } else { Err(AsmError { line, msg: format!("`{mn}` takes {k} operand(s), found {}", args.len()) }) }
        };
        // a data word: where it may stand, then its beats
        let word_at = |load: &Option<Load>, weights: bool| -> Result<(), AsmError> {
            let want_load = if weights { "loadw" } else { "loadx" };
            match load {
                Some(l) if l.weights == weights && l.got.is_multiple_of(l.per_word) => Ok(()),
                Some(l) if l.weights == weights => Err(AsmError {
                    line,
                    msg: format!(
                        "`{mn}` starts a word, but the `{want_load}` at line {} is {} beat(s) into one",
                        l.line,
                        l.got % l.per_word
                    ),
                }),
                _ => Err(AsmError { line, msg: format!("`{mn}` is a word of data: it stands within the data of a `{want_load}`") }),
            }
        };
        let data: Vec<u64> = match mn.as_str() {
            ".beat" => {
                want(1)?;
                let v = num(args[0], line, "beat")?;
                if host_bits < 64 && v >> host_bits != 0 {
                    return Err(AsmError { line, msg: format!("beat {v:#x} is wider than the {host_bits}-bit host link") });
                }
                alloc::vec![v]
            }
            ".w" => {
                word_at(&load, true)?;
                let t: Vec<char> = rest.chars().filter(|c| !c.is_whitespace() && *c != '_').collect();
                if t.len() != lanes {
                    return Err(AsmError { line, msg: format!("`.w` takes {lanes} weights (one per lane), found {}", t.len()) });
                }
                let mut w = Vec::with_capacity(lanes);
                for c in t {
                    w.push(match c {
                        '+' => 1,
                        '0' => 0,
                        '-' => -1,
                        other => return Err(AsmError { line, msg: format!("`.w`: `{other}` is not a ternary weight (+, 0 or -)") }),
                    });
                }
                crate::word_beats(host_bits, &pack::pack_lanes(&w, lanes), a.wword_bits).collect()
            }
            ".x" => {
                word_at(&load, false)?;
                if args.len() != lanes {
                    return Err(AsmError { line, msg: format!("`.x` takes {lanes} activations (one per lane), found {}", args.len()) });
                }
                let mut word = alloc::vec![0u64; lanes.div_ceil(8)];
                for (j, t) in args.iter().enumerate() {
                    let v: i8 = t.parse().map_err(|_| AsmError { line, msg: format!("`.x`: `{t}` is not an int8 (-128 to 127)") })?;
                    pack::set_lane_act(&mut word, j, v);
                }
                crate::word_beats(host_bits, &word, a.xword_bits).collect()
            }
            _ => Vec::new(),
        };
        if !data.is_empty() {
            beats.extend_from_slice(&data);
            if let Some(l) = &mut load {
                l.got += data.len();
                if l.got >= l.need {
                    load = None;
                }
            }
            continue;
        }
        let insn = match mn.as_str() {
            "nop" => {
                want(0)?;
                Insn::Nop
            }
            "sync" => {
                want(0)?;
                Insn::Sync
            }
            "halt" => {
                want(0)?;
                Insn::Halt
            }
            "setlen" => {
                want(1)?;
                Insn::SetLen { len: field(args[0], line, "length")? }
            }
            m @ ("loadw" | "loadx") => {
                want(2)?;
                let (addr, count) = (field(args[0], line, "address")?, field(args[1], line, "count")?);
                if m == "loadw" { Insn::LoadW { addr, count } } else { Insn::LoadX { addr, count } }
            }
            "matvec" => {
                if args.len() < 2 || args.len() > 4 {
                    return Err(AsmError {
                        line,
                        msg: format!("`matvec` takes waddr, xaddr[, acc][, store], found {} operand(s)", args.len()),
                    });
                }
                let (mut acc, mut store) = (false, false);
                for f in &args[2..] {
                    match *f {
                        "acc" if !acc => acc = true,
                        "store" if !store => store = true,
                        other => return Err(AsmError { line, msg: format!("unknown or repeated matvec flag `{other}` (acc, store)") }),
                    }
                }
                Insn::MatVec { acc, store, waddr: field(args[0], line, "waddr")?, xaddr: field(args[1], line, "xaddr")? }
            }
            other => return Err(AsmError { line, msg: format!("unknown mnemonic `{}`", other) }),
        };
        if let Some(l) = &load {
            let words = if l.weights {
                format!("{} words x {} rows x {} beats", l.need / (l.per_word * a.cfg.rows as usize), a.cfg.rows, l.per_word)
            } else {
                format!("{} words x {} beats", l.need / l.per_word, l.per_word)
            };
            return Err(AsmError {
                line,
                msg: format!(
                    "`{mn}` comes before the data of the `{}` at line {} is complete: it loads {} beats ({words}), found {}",
                    l.name(),
                    l.line,
                    l.need,
                    l.got
                ),
            });
        }
        let need = data_beats(a, &insn);
        if need > 0 {
            let weights = matches!(insn, Insn::LoadW { .. });
            let per_word = if weights { a.beats_per_wword } else { a.beats_per_xword } as usize;
            load = Some(Load { line, weights, need, got: 0, per_word });
        }
        beats.push(insn.encode() as u64);
    }
    Ok(beats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;
    use tern_arch::config::{AccelConfig, TINY};

    fn tiny() -> Accel {
        TINY.validate().unwrap()
    }

    fn err(text: &str) -> String {
        assemble(&tiny(), text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(err("nop\nfrob 1"), "line 2: unknown mnemonic `frob`");
        assert_eq!(err("loadw 1"), "line 1: `loadw` takes 2 operand(s), found 1");
        assert_eq!(err("setlen 9000"), "line 1: length 9000 does not fit the 13-bit field (max 8191)");
        assert_eq!(err(".beat 0x100000000"), "line 1: beat 0x100000000 is wider than the 32-bit host link");
        assert_eq!(err("matvec 1, 2, fast"), "line 1: unknown or repeated matvec flag `fast` (acc, store)");
    }

    #[test]
    fn data_errors_name_the_line_and_the_load() {
        let row = "  .w ++++0000----0000\n";
        assert_eq!(err(".w +"), "line 1: `.w` is a word of data: it stands within the data of a `loadw`");
        assert_eq!(err("loadx 0, 1\n.w ++++0000----0000"), "line 2: `.w` is a word of data: it stands within the data of a `loadw`");
        assert_eq!(err("loadw 0, 1\n.w ++++"), "line 2: `.w` takes 16 weights (one per lane), found 4");
        assert_eq!(err("loadw 0, 1\n.w ++++0000----000x"), "line 2: `.w`: `x` is not a ternary weight (+, 0 or -)");
        assert_eq!(err("loadx 0, 1\n.x 1, 2"), "line 2: `.x` takes 16 activations (one per lane), found 2");
        assert_eq!(
            err("loadx 0, 1\n.x 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 128"),
            "line 2: `.x`: `128` is not an int8 (-128 to 127)"
        );
        assert_eq!(
            err("loadx 0, 1\n.beat 1\n.x 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0"),
            "line 3: `.x` starts a word, but the `loadx` at line 1 is 1 beat(s) into one"
        );
        // TINY has 4 rows: a word address is 4 rows of one beat
        assert_eq!(
            err(&format!("loadw 0, 1\n{}halt", row.repeat(3))),
            "line 5: `halt` comes before the data of the `loadw` at line 1 is complete: it loads 4 beats (1 words x 4 rows x 1 beats), found 3"
        );
        assert_eq!(
            err("loadx 0, 2\n.beat 0\nmatvec 0, 0"),
            "line 3: `matvec` comes before the data of the `loadx` at line 1 is complete: it loads 8 beats (2 words x 4 beats), found 1"
        );
        // a program may end short of a load's data (the machine starves)
        assert_eq!(assemble(&tiny(), &format!("loadw 0, 1\n{}", row.repeat(2))).unwrap().len(), 3);
    }

    #[test]
    fn words_pack_as_the_firmware_does() {
        let a = tiny();
        let x: Vec<String> = (0..16).map(|j: i32| (j * 17 - 128).to_string()).collect();
        let text = format!(
            "loadx 3, 1\n  .x {}\nloadw 0, 1\n  .w +0-+_0-+0_-+0-_+0-+\n  .w 0000000000000000\n  .w ++++++++++++++++\n  .w ----------------\nhalt\n",
            x.join(", ")
        );
        let beats = assemble(&a, &text).unwrap();
        let xb: Vec<u8> = (0..16).map(|j: i32| (j * 17 - 128) as i8 as u8).collect();
        let le = |b: &[u8]| u64::from(u32::from_le_bytes(b.try_into().unwrap()));
        assert_eq!(beats[1..5], [le(&xb[0..4]), le(&xb[4..8]), le(&xb[8..12]), le(&xb[12..16])]);
        // lane j at bits 2j+1:2j, code = w + 1
        let w0 = (0..16).map(|j| ([2u64, 1, 0][j % 3]) << (2 * j)).sum::<u64>();
        assert_eq!(beats[6..10], [w0, 0x5555_5555, 0xaaaa_aaaa, 0]);
        assert_eq!(disassemble(&a, &beats), text.replace('_', ""));
    }

    #[test]
    fn a_compiled_layer_disassembles_to_words_and_back() {
        let ecp5 = AccelConfig::preset("ecp5-85f").unwrap().validate().unwrap();
        for a in [tiny(), ecp5] {
            let (out, inp) = (2 * a.cfg.rows as usize + 1, 3 * a.cfg.lanes as usize - 5);
            let w: Vec<i8> = (0..out * inp).map(|i| [(i % 3) as i8 - 1, 0][(i / 7) % 2]).collect();
            let m = tern_arch::pack::TernaryMatrix::from_weights(&w, out, inp).unwrap();
            let x: Vec<i8> = (0..inp).map(|i| (i as i32 * 37 % 255 - 127) as i8).collect();
            let p = crate::compile_bitlinear(&a, &m, &x, 1).unwrap();
            let text = disassemble(&a, &p.beats);
            assert!(text.contains(".w ") && text.contains(".x ") && !text.contains(".beat"), "{text}");
            assert_eq!(assemble(&a, &text).unwrap(), p.beats, "{}", a.cfg.name);
        }
    }

    proptest! {
        #[test]
        fn any_beats_roundtrip(beats in proptest::collection::vec(any::<u32>(), 0..64)) {
            let a = tiny();
            let beats: Vec<u64> = beats.into_iter().map(u64::from).collect();
            let text = disassemble(&a, &beats);
            prop_assert_eq!(assemble(&a, &text).unwrap(), beats);
        }

        /// Loads whose words are mostly valid, so `.w` and `.x` lines appear between raw ones.
        #[test]
        fn loads_roundtrip(words in proptest::collection::vec((any::<u32>(), 0u32..4), 1..40), count in 1u16..4, x: bool) {
            let a = tiny();
            let insn = if x { Insn::LoadX { addr: 0, count } } else { Insn::LoadW { addr: 0, count } };
            let mut beats = alloc::vec![insn.encode() as u64];
            // any beat when `k` is 0 (code 3 likely), otherwise only ternary codes
            let ternary = |b: u32| (0..16).map(|j| (((b >> (2 * j)) & 3) % 3) << (2 * j)).sum::<u32>();
            beats.extend(words.iter().map(|&(b, k)| u64::from(if k == 0 { b } else { ternary(b) })));
            let text = disassemble(&a, &beats);
            prop_assert_eq!(assemble(&a, &text).unwrap(), beats);
        }

        #[test]
        fn insns_roundtrip(waddr in 0u16..8192, xaddr in 0u16..8192, acc: bool, store: bool) {
            let a = tiny();
            let beats = alloc::vec![Insn::MatVec { acc, store, waddr, xaddr }.encode() as u64, Insn::Halt.encode() as u64];
            let text = disassemble(&a, &beats);
            prop_assert_eq!(assemble(&a, &text).unwrap(), beats);
        }
    }
}
