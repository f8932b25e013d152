//! tern-fw: turns a BitLinear layer (ternary `out x in` weights, a batch of int8 activation
//! vectors) into a Program of host beats for a given accelerator geometry, and back from the
//! result stream to the `batch x out` int32 outputs.
//!
//! Tiling: rows in tiles of R (padded with zero weights), K in chunks of L (padded with zero
//! lanes), K segments of at most one weight-memory half. Tokens in groups that fit the
//! activation buffer. Each weight tile is loaded once per group and reused by every token of
//! the group (prefill). With double buffering, the next tile's LOADW is cut into slices placed
//! between the current tile's MATVECs, so loading overlaps compute.
#![no_std]
extern crate alloc;

pub mod tasm;

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use tern_arch::config::Accel;
use tern_arch::isa::Insn;
use tern_arch::pack::{self, TernaryMatrix};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FwError {
    /// Activations do not match the layer shape.
    Shape(String),
    /// The layer does not fit the accelerator (K beyond max_k, ...).
    Unsupported(String),
    /// The result stream does not match the program.
    Results(String),
}

impl core::fmt::Display for FwError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            FwError::Shape(s) => write!(f, "shape mismatch: {s}"),
            FwError::Unsupported(s) => write!(f, "layer not supported by this accelerator: {s}"),
            FwError::Results(s) => write!(f, "result stream: {s}"),
        }
    }
}

impl core::error::Error for FwError {}

/// Where one result word goes: (token, output row); `None` for padding rows.
pub type Slot = Option<(u32, u32)>;

/// A compiled layer: the beats to stream and how to assemble the results.
#[derive(Clone, Debug)]
pub struct LayerProgram {
    pub beats: Vec<u64>,
    /// One entry per result word; words mapping to the same slot are partial sums (K segments).
    pub slots: Vec<Slot>,
    pub out: usize,
    pub batch: usize,
    /// Instructions in the program (for reports).
    pub insns: usize,
}

struct Emitter<'a> {
    a: &'a Accel,
    beats: Vec<u64>,
    insns: usize,
}

impl Emitter<'_> {
    fn insn(&mut self, i: Insn) {
        debug_assert!(i.fields_fit(), "{i:?}");
        self.beats.push(i.encode() as u64);
        self.insns += 1;
    }
    /// A word (little-endian bit string) as host beats.
    fn words(&mut self, words: &[u64], bits: u32) {
        self.beats.extend(word_beats(self.a.cfg.host_bits, words, bits));
    }
}

/// The beats of a word (a little-endian bit string in u64s, `bits` long) on a `host_bits`
/// link, low bits first.
pub(crate) fn word_beats(host_bits: u32, word: &[u64], bits: u32) -> impl Iterator<Item = u64> + '_ {
    let mask = if host_bits == 64 { u64::MAX } else { (1u64 << host_bits) - 1 };
    (0..bits).step_by(host_bits as usize).map(move |bit| (word[(bit / 64) as usize] >> (bit % 64)) & mask)
}

/// The low 2 bits of each of the 8 bytes of `x`, packed into 16 bits (byte i -> bits 2i+1:2i).
#[inline]
fn codes_of_8(x: u64) -> u64 {
    let x = x & 0x0303_0303_0303_0303;
    let x = (x | x >> 6) & 0x000f_000f_000f_000f;
    let x = (x | x >> 12) & 0x0000_00ff_0000_00ff;
    (x | x >> 24) & 0xffff
}

/// Compile `y[b] = W x[b]` for `batch` int8 vectors `x` (row-major `batch x w.inp`).
pub fn compile_bitlinear(a: &Accel, w: &TernaryMatrix, x: &[i8], batch: usize) -> Result<LayerProgram, FwError> {
    let c = &a.cfg;
    let (out, inp) = (w.out, w.inp);
    if batch == 0 || x.len() != batch * inp {
        return Err(FwError::Shape(format!("{} activations for batch {batch} x in_features {inp}", x.len())));
    }
    if out == 0 || inp == 0 {
        return Err(FwError::Shape(format!("empty layer {out} x {inp}")));
    }
    if inp > c.max_k as usize {
        return Err(FwError::Unsupported(format!("in_features {inp} > max_k {}", c.max_k)));
    }
    let (r, l) = (c.rows as usize, c.lanes as usize);
    let kc = inp.div_ceil(l);
    let seg_max = (a.half_depth as usize).min(c.amem_depth as usize);
    let nseg = kc.div_ceil(seg_max);
    let tiles = out.div_ceil(r);
    let mut e = Emitter { a, beats: Vec::new(), insns: 0 };
    let mut slots = Vec::new();
    let wwords = (a.wword_bits as usize).div_ceil(64);

    // The weight words of (tile, chunk range) for LOADW, row fastest.
    let load_w = |e: &mut Emitter, tile: usize, k0: usize, addr: usize, count: usize| {
        e.insn(Insn::LoadW { addr: addr as u16, count: count as u16 });
        let mut word = alloc::vec![0u64; wwords];
        for k in k0..k0 + count {
            for rr in 0..r {
                let row = tile * r + rr;
                word.iter_mut().for_each(|v| *v = 0);
                // padding rows and columns get code 1 (weight 0)
                let codes = (row < out).then(|| w.row_codes(row));
                match codes {
                    // a whole chunk of a real row, 8 lanes at a time
                    Some((bytes, shift)) if l % 8 == 0 && (k + 1) * l <= inp => {
                        for (g, b8) in bytes[k * l..(k + 1) * l].chunks_exact(8).enumerate() {
                            let j = 8 * g;
                            word[j / 32] |= codes_of_8(u64::from_le_bytes(b8.try_into().unwrap()) >> shift) << (2 * (j % 32));
                        }
                    }
                    _ => {
                        for j in 0..l {
                            let col = k * l + j;
                            let code = match codes {
                                Some((bytes, shift)) if col < inp => (bytes[col] >> shift) & 3,
                                _ => 1,
                            };
                            pack::set_lane_code(&mut word, j, code);
                        }
                    }
                }
                e.words(&word, a.wword_bits);
            }
        }
    };

    for s in 0..nseg {
        let k0 = s * seg_max;
        let seg_len = seg_max.min(kc - k0);
        let group_max = (c.max_batch as usize).min(c.amem_depth as usize / seg_len).max(1);
        let mut t0 = 0;
        while t0 < batch {
            let g = group_max.min(batch - t0);
            // activations of the group's tokens for this segment, token-major
            e.insn(Insn::LoadX { addr: 0, count: (g * seg_len) as u16 });
            let mut word = alloc::vec![0u64; (a.xword_bits as usize).div_ceil(64)];
            for t in t0..t0 + g {
                for k in k0..k0 + seg_len {
                    word.iter_mut().for_each(|v| *v = 0);
                    for j in 0..l {
                        let col = k * l + j;
                        pack::set_lane_act(&mut word, j, if col < inp { x[t * inp + col] } else { 0 });
                    }
                    e.words(&word, a.xword_bits);
                }
            }
            e.insn(Insn::SetLen { len: seg_len as u16 });
            let half = |tile: usize| if c.double_buffer { (tile % 2) * a.half_depth as usize } else { 0 };
            load_w(&mut e, 0, k0, half(0), seg_len);
            for tile in 0..tiles {
                let next = tile + 1 < tiles;
                for t in 0..g {
                    e.insn(Insn::MatVec { acc: false, store: true, waddr: half(tile) as u16, xaddr: (t * seg_len) as u16 });
                    for rr in 0..r {
                        let row = tile * r + rr;
                        slots.push((row < out).then_some(((t0 + t) as u32, row as u32)));
                    }
                    // spread the next tile's words evenly over all g MATVECs of this tile
                    if c.double_buffer && next {
                        let (lo, hi) = (t * seg_len / g, (t + 1) * seg_len / g);
                        if hi > lo {
                            load_w(&mut e, tile + 1, k0 + lo, half(tile + 1) + lo, hi - lo);
                        }
                    }
                }
                if !c.double_buffer && next {
                    load_w(&mut e, tile + 1, k0, 0, seg_len);
                }
            }
            t0 += g;
        }
    }
    e.insn(Insn::Halt);
    Ok(LayerProgram { beats: e.beats, slots, out, batch, insns: e.insns })
}

impl LayerProgram {
    /// Assemble the result stream into `batch x out` int32 outputs (partials summed).
    pub fn assemble(&self, results: &[i32]) -> Result<Vec<i32>, FwError> {
        if results.len() != self.slots.len() {
            return Err(FwError::Results(format!("expected {} result words, got {}", self.slots.len(), results.len())));
        }
        let mut y = alloc::vec![0i32; self.batch * self.out];
        for (v, slot) in results.iter().zip(&self.slots) {
            if let Some((t, row)) = slot {
                let i = *t as usize * self.out + *row as usize;
                y[i] = y[i].wrapping_add(*v);
            }
        }
        Ok(y)
    }
}

/// The exact integer reference: y[b][o] = sum_i W[o][i] * x[b][i] (no accelerator).
pub fn reference_matmul(w: &TernaryMatrix, x: &[i8], batch: usize) -> Vec<i32> {
    let mut y = alloc::vec![0i32; batch * w.out];
    for b in 0..batch {
        let xb = &x[b * w.inp..(b + 1) * w.inp];
        for o in 0..w.out {
            let mut s = 0i32;
            for (i, &xv) in xb.iter().enumerate() {
                s += w.get(o, i) as i32 * xv as i32;
            }
            y[b * w.out + o] = s;
        }
    }
    y
}

#[cfg(test)]
mod tests {
    use super::codes_of_8;

    #[test]
    fn codes_of_8_packs_each_bytes_low_bits() {
        let mut s = 0x1234_5678_9abc_def0u64;
        for _ in 0..1000 {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let want: u64 = (0..8).map(|i| ((s >> (8 * i)) & 3) << (2 * i)).sum();
            assert_eq!(codes_of_8(s), want, "{s:#018x}");
        }
    }
}
