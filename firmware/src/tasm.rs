//! `.tasm`: the text form of a program. One instruction per line in `Insn`'s Display form;
//! data beats follow their LOADW/LOADX as `.beat 0x...` lines; `;` starts a comment.
//! `disassemble` then `assemble` gives back the same beats for ANY beat sequence (undecodable
//! words are written as `.beat` too).

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use tern_arch::config::Accel;
use tern_arch::isa::Insn;

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
                for d in &beats[i + 1..i + 1 + n] {
                    let _ = writeln!(s, "  .beat {d:#x}");
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

/// Parse `.tasm` text into host beats. `host_bits` bounds `.beat` values.
pub fn assemble(text: &str, host_bits: u32) -> Result<Vec<u64>, AsmError> {
    let mut beats = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = n + 1;
        let code = raw.split(';').next().unwrap_or("").trim();
        if code.is_empty() {
            continue;
        }
        let (mn, rest) = code.split_once(char::is_whitespace).unwrap_or((code, ""));
        let args: Vec<&str> = if rest.trim().is_empty() { Vec::new() } else { rest.split(',').map(str::trim).collect() };
        let want = |k: usize| -> Result<(), AsmError> {
            if args.len() == k { Ok(()) } else { Err(AsmError { line, msg: format!("`{mn}` takes {k} operand(s), found {}", args.len()) }) }
        };
        let insn = match mn.to_ascii_lowercase().as_str() {
            ".beat" => {
                want(1)?;
                let v = num(args[0], line, "beat")?;
                if host_bits < 64 && v >> host_bits != 0 {
                    return Err(AsmError { line, msg: format!("beat {v:#x} is wider than the {host_bits}-bit host link") });
                }
                beats.push(v);
                continue;
            }
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
        beats.push(insn.encode() as u64);
    }
    Ok(beats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use proptest::prelude::*;
    use tern_arch::config::TINY;

    #[test]
    fn errors_name_the_line() {
        assert_eq!(assemble("nop\nfrob 1", 32).unwrap_err().to_string(), "line 2: unknown mnemonic `frob`");
        assert_eq!(assemble("loadw 1", 32).unwrap_err().to_string(), "line 1: `loadw` takes 2 operand(s), found 1");
        assert_eq!(assemble("setlen 9000", 32).unwrap_err().to_string(), "line 1: length 9000 does not fit the 13-bit field (max 8191)");
        assert_eq!(
            assemble(".beat 0x100000000", 32).unwrap_err().to_string(),
            "line 1: beat 0x100000000 is wider than the 32-bit host link"
        );
        assert_eq!(
            assemble("matvec 1, 2, fast", 32).unwrap_err().to_string(),
            "line 1: unknown or repeated matvec flag `fast` (acc, store)"
        );
    }

    proptest! {
        #[test]
        fn any_beats_roundtrip(beats in proptest::collection::vec(any::<u32>(), 0..64)) {
            let a = TINY.validate().unwrap();
            let beats: Vec<u64> = beats.into_iter().map(u64::from).collect();
            let text = disassemble(&a, &beats);
            prop_assert_eq!(assemble(&text, 32).unwrap(), beats);
        }

        #[test]
        fn insns_roundtrip(waddr in 0u16..8192, xaddr in 0u16..8192, acc: bool, store: bool) {
            let a = TINY.validate().unwrap();
            let beats = alloc::vec![Insn::MatVec { acc, store, waddr, xaddr }.encode() as u64, Insn::Halt.encode() as u64];
            let text = disassemble(&a, &beats);
            prop_assert_eq!(assemble(&text, 32).unwrap(), beats);
        }
    }
}
