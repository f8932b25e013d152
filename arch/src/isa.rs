//! The instruction set: the ONLY place opcodes and field positions exist.
//!
//! Every instruction is one 32-bit word (the low 32 bits of a host beat; on a 64-bit link the
//! high 32 bits must be zero). `docs/isa.md` is the table a person reads; this is the code that
//! matches it. `decode` of any word yields an `Insn` or a typed error, never a panic.
//!
//! ```text
//!  31   28 27 26 25          13 12           0
//! +-------+--+--+--------------+--------------+
//! | op    |a |s |  addr / waddr | count / xaddr|
//! +-------+--+--+--------------+--------------+
//! ```

use std::fmt;

/// Width of the address and count fields.
pub const ADDR_BITS: u32 = 13;
const FIELD_MASK: u32 = (1 << ADDR_BITS) - 1;
pub const OPCODE_SHIFT: u32 = 28;
pub const ACC_BIT: u32 = 27;
pub const STORE_BIT: u32 = 26;
pub const HI_SHIFT: u32 = ADDR_BITS;

/// Opcode values (bits 31:28).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Opcode {
    Nop = 0,
    LoadW = 1,
    LoadX = 2,
    SetLen = 3,
    MatVec = 4,
    Sync = 5,
    Halt = 6,
}

impl Opcode {
    pub const ALL: [Opcode; 7] = [Opcode::Nop, Opcode::LoadW, Opcode::LoadX, Opcode::SetLen, Opcode::MatVec, Opcode::Sync, Opcode::Halt];
    pub fn from_bits(v: u32) -> Option<Opcode> {
        Opcode::ALL.into_iter().find(|o| *o as u32 == v)
    }
    pub fn mnemonic(self) -> &'static str {
        match self {
            Opcode::Nop => "nop",
            Opcode::LoadW => "loadw",
            Opcode::LoadX => "loadx",
            Opcode::SetLen => "setlen",
            Opcode::MatVec => "matvec",
            Opcode::Sync => "sync",
            Opcode::Halt => "halt",
        }
    }
    /// Bits of the word that must be zero for this opcode.
    pub fn reserved_mask(self) -> u32 {
        match self {
            Opcode::Nop | Opcode::Sync | Opcode::Halt => (1 << OPCODE_SHIFT) - 1,
            Opcode::LoadW | Opcode::LoadX => (1 << ACC_BIT) | (1 << STORE_BIT),
            Opcode::SetLen => ((1 << OPCODE_SHIFT) - 1) & !FIELD_MASK,
            Opcode::MatVec => 0,
        }
    }
}

/// One instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    Nop,
    /// The next `count * R` weight words (each `beats_per_wword` beats) go to address
    /// `addr..addr+count` of banks 0..R, bank index fastest.
    LoadW {
        addr: u16,
        count: u16,
    },
    /// The next `count` activation words (each `beats_per_xword` beats) go to `addr..addr+count`.
    LoadX {
        addr: u16,
        count: u16,
    },
    /// Sets the K length (in L-lane chunks) of following MATVECs.
    SetLen {
        len: u16,
    },
    /// acc[r] = (acc ? acc[r] : 0) + sum_k dot(W[r][waddr+k], X[xaddr+k]) for k < len;
    /// with `store`, the R accumulators are then streamed out.
    MatVec {
        acc: bool,
        store: bool,
        waddr: u16,
        xaddr: u16,
    },
    /// Waits until the array and the output stream are idle.
    Sync,
    /// Waits like SYNC, then stops the sequencer (the run's last instruction).
    Halt,
}

/// Why a word is not an instruction. Each kind is a hardware error status code too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("word {word:#010x}: unknown opcode {opcode}")]
    IllegalOpcode { word: u32, opcode: u32 },
    #[error("word {word:#010x}: reserved bits {bits:#010x} of `{mnemonic}` must be zero")]
    ReservedBits { word: u32, mnemonic: &'static str, bits: u32 },
    #[error("word {word:#010x}: `{mnemonic}` with a count/length of zero")]
    ZeroCount { word: u32, mnemonic: &'static str },
    /// A 64-bit link carries the instruction in the low half of a beat; the high half is
    /// reserved.
    #[error("beat {beat:#018x}: the bits above the 32-bit instruction must be zero")]
    HighHalf { beat: u64 },
}

impl DecodeError {
    pub fn status(&self) -> Status {
        match self {
            DecodeError::IllegalOpcode { .. } => Status::IllegalOpcode,
            DecodeError::ReservedBits { .. } => Status::ReservedBits,
            DecodeError::ZeroCount { .. } => Status::ZeroCount,
            DecodeError::HighHalf { .. } => Status::ReservedBits,
        }
    }
}

/// The sequencer's status register. Codes are what the RTL drives on `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[repr(u8)]
pub enum Status {
    /// Still running (or never started).
    Running = 0,
    /// Executed HALT.
    Halted = 1,
    IllegalOpcode = 2,
    ReservedBits = 3,
    ZeroCount = 4,
    /// LOADW or MATVEC touches a weight address >= wmem_depth.
    WeightRange = 5,
    /// LOADX or MATVEC touches an activation address >= amem_depth.
    ActRange = 6,
    /// MATVEC's weight range spans both double-buffer halves.
    HalfCross = 7,
    /// A loaded weight word holds the code 3 (not a ternary value).
    BadWeightCode = 8,
    /// MATVEC before any SETLEN.
    NoLength = 9,
}

impl Status {
    pub const ALL: [Status; 10] = [
        Status::Running,
        Status::Halted,
        Status::IllegalOpcode,
        Status::ReservedBits,
        Status::ZeroCount,
        Status::WeightRange,
        Status::ActRange,
        Status::HalfCross,
        Status::BadWeightCode,
        Status::NoLength,
    ];
    pub const BITS: u32 = 4;
    pub fn from_code(v: u32) -> Option<Status> {
        Status::ALL.into_iter().find(|s| *s as u32 == v)
    }
    pub fn is_error(self) -> bool {
        (self as u8) >= 2
    }
    pub fn describe(self) -> &'static str {
        match self {
            Status::Running => "running",
            Status::Halted => "halted",
            Status::IllegalOpcode => "illegal opcode",
            Status::ReservedBits => "reserved bits set",
            Status::ZeroCount => "zero count or length",
            Status::WeightRange => "weight address out of range",
            Status::ActRange => "activation address out of range",
            Status::HalfCross => "MATVEC crosses the double-buffer halves",
            Status::BadWeightCode => "weight code 3 is not ternary",
            Status::NoLength => "MATVEC before SETLEN",
        }
    }
}

fn field(v: u16) -> u32 {
    u32::from(v) & FIELD_MASK
}

impl Insn {
    pub fn opcode(&self) -> Opcode {
        match self {
            Insn::Nop => Opcode::Nop,
            Insn::LoadW { .. } => Opcode::LoadW,
            Insn::LoadX { .. } => Opcode::LoadX,
            Insn::SetLen { .. } => Opcode::SetLen,
            Insn::MatVec { .. } => Opcode::MatVec,
            Insn::Sync => Opcode::Sync,
            Insn::Halt => Opcode::Halt,
        }
    }

    /// Field values wider than `ADDR_BITS` are a caller bug; `check_fields` reports them.
    pub fn encode(&self) -> u32 {
        let op = (self.opcode() as u32) << OPCODE_SHIFT;
        op | match *self {
            Insn::Nop | Insn::Sync | Insn::Halt => 0,
            Insn::LoadW { addr, count } | Insn::LoadX { addr, count } => (field(addr) << HI_SHIFT) | field(count),
            Insn::SetLen { len } => field(len),
            Insn::MatVec { acc, store, waddr, xaddr } => {
                (u32::from(acc) << ACC_BIT) | (u32::from(store) << STORE_BIT) | (field(waddr) << HI_SHIFT) | field(xaddr)
            }
        }
    }

    /// Every field fits its bit field (so `decode(encode(i)) == i`).
    pub fn fields_fit(&self) -> bool {
        let ok = |v: u16| u32::from(v) <= FIELD_MASK;
        match *self {
            Insn::Nop | Insn::Sync | Insn::Halt => true,
            Insn::LoadW { addr, count } | Insn::LoadX { addr, count } => ok(addr) && ok(count) && count > 0,
            Insn::SetLen { len } => ok(len) && len > 0,
            Insn::MatVec { waddr, xaddr, .. } => ok(waddr) && ok(xaddr),
        }
    }

    /// The instruction in a host beat: its low 32 bits, the rest zero (checked first).
    #[inline]
    pub fn decode_beat(beat: u64) -> Result<Insn, DecodeError> {
        if beat >> 32 != 0 { Err(DecodeError::HighHalf { beat }) } else { Insn::decode(beat as u32) }
    }

    pub fn decode(word: u32) -> Result<Insn, DecodeError> {
        let opbits = word >> OPCODE_SHIFT;
        let op = Opcode::from_bits(opbits).ok_or(DecodeError::IllegalOpcode { word, opcode: opbits })?;
        let bits = word & op.reserved_mask();
        if bits != 0 {
            return Err(DecodeError::ReservedBits { word, mnemonic: op.mnemonic(), bits });
        }
        let hi = ((word >> HI_SHIFT) & FIELD_MASK) as u16;
        let lo = (word & FIELD_MASK) as u16;
        let insn = match op {
            Opcode::Nop => Insn::Nop,
            Opcode::Sync => Insn::Sync,
            Opcode::Halt => Insn::Halt,
            Opcode::LoadW => Insn::LoadW { addr: hi, count: lo },
            Opcode::LoadX => Insn::LoadX { addr: hi, count: lo },
            Opcode::SetLen => Insn::SetLen { len: lo },
            Opcode::MatVec => Insn::MatVec { acc: word >> ACC_BIT & 1 == 1, store: word >> STORE_BIT & 1 == 1, waddr: hi, xaddr: lo },
        };
        match insn {
            Insn::LoadW { count: 0, .. } | Insn::LoadX { count: 0, .. } | Insn::SetLen { len: 0 } => {
                Err(DecodeError::ZeroCount { word, mnemonic: op.mnemonic() })
            }
            i => Ok(i),
        }
    }
}

impl fmt::Display for Insn {
    /// The `.tasm` text form (the firmware's assembler parses exactly this).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = self.opcode().mnemonic();
        match *self {
            Insn::Nop | Insn::Sync | Insn::Halt => write!(f, "{m}"),
            Insn::LoadW { addr, count } | Insn::LoadX { addr, count } => write!(f, "{m} {addr}, {count}"),
            Insn::SetLen { len } => write!(f, "{m} {len}"),
            Insn::MatVec { acc, store, waddr, xaddr } => {
                write!(f, "{m} {waddr}, {xaddr}")?;
                if acc {
                    write!(f, ", acc")?;
                }
                if store {
                    write!(f, ", store")?;
                }
                Ok(())
            }
        }
    }
}

/// The bit-field table of `docs/isa.md`, generated from the definitions above (a test keeps
/// the document and the code identical).
pub fn markdown_table() -> String {
    let mut s = String::from(
        "| opcode | mnemonic | 31:28 | 27 | 26 | 25:13 | 12:0 | must be zero | data beats that follow |\n\
         |---|---|---|---|---|---|---|---|---|\n",
    );
    for op in Opcode::ALL {
        let (b27, b26, hi, lo, data) = match op {
            Opcode::Nop | Opcode::Sync | Opcode::Halt => ("0", "0", "0", "0", "none"),
            Opcode::LoadW => ("0", "0", "addr", "count (>= 1)", "count x R weight words, bank index fastest; each 2L bits = 2L/H beats"),
            Opcode::LoadX => ("0", "0", "addr", "count (>= 1)", "count activation words; each 8L bits = 8L/H beats"),
            Opcode::SetLen => ("0", "0", "0", "len (>= 1)", "none"),
            Opcode::MatVec => ("acc", "store", "waddr", "xaddr", "none (R results stream out when store = 1)"),
        };
        s.push_str(&format!(
            "| {} | `{}` | {:#x} | {b27} | {b26} | {hi} | {lo} | `{:#010x}` | {data} |\n",
            op as u32,
            op.mnemonic(),
            op as u32,
            op.reserved_mask()
        ));
    }
    s
}

/// The status-code table of `docs/isa.md`.
pub fn status_table() -> String {
    let mut s = String::from("| code | status |\n|---|---|\n");
    for st in Status::ALL {
        s.push_str(&format!("| {} | {} |\n", st as u8, st.describe()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hand_encoded_words() {
        assert_eq!(Insn::LoadW { addr: 1, count: 2 }.encode(), 0x1000_2002);
        assert_eq!(Insn::MatVec { acc: true, store: true, waddr: 3, xaddr: 4 }.encode(), 0x4C00_6004);
        assert_eq!(Insn::Halt.encode(), 0x6000_0000);
    }

    #[test]
    fn every_illegal_class_is_typed() {
        assert_eq!(Insn::decode(0xF000_0000).unwrap_err().status(), Status::IllegalOpcode);
        assert_eq!(Insn::decode(0x6000_0001).unwrap_err().status(), Status::ReservedBits);
        // a beat's high half comes before the word's own checks
        assert_eq!(Insn::decode_beat(1 << 40 | 0xf000_0000).unwrap_err(), DecodeError::HighHalf { beat: 1 << 40 | 0xf000_0000 });
        assert_eq!(Insn::decode_beat(1 << 40).unwrap_err().status(), Status::ReservedBits);
        assert_eq!(Insn::decode_beat(Insn::Halt.encode() as u64), Ok(Insn::Halt));
        assert_eq!(Insn::decode(0x1800_0001).unwrap_err().status(), Status::ReservedBits);
        assert_eq!(Insn::decode(0x3000_2001).unwrap_err().status(), Status::ReservedBits);
        assert_eq!(Insn::decode(0x2000_2000).unwrap_err().status(), Status::ZeroCount);
        assert_eq!(Insn::decode(0xF000_0000).unwrap_err().to_string(), "word 0xf0000000: unknown opcode 15");
    }

    proptest! {
        #[test]
        fn decode_never_panics_and_roundtrips(word in any::<u32>()) {
            if let Ok(i) = Insn::decode(word) {
                prop_assert_eq!(i.encode(), word);
                prop_assert!(i.fields_fit());
            }
        }
    }
}
