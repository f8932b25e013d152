//! The golden model: executes a Program (host beats) exactly as the RTL does, cycle for cycle.
//!
//! This is the contract the RTL must meet: results, the cycle count and every event counter
//! are compared exactly. The model mirrors the RTL's registers (sequencer state, issue stage,
//! token pipeline, snapshot, output shifter) and evaluates one clock edge per loop iteration;
//! the arithmetic of a MATVEC is done once when it is accepted, which is exact because the
//! sequencer's interlocks keep its weights and activations unchanged until the last issue.
//!
//! Timing contract (one clock per step, all registers update together):
//! - FETCH takes one beat (in_ready=1); EXEC decodes it on the next cycle.
//! - EXEC of LOADW/LOADX moves to the data state; each data beat takes one cycle.
//!   LOADW waits while the issue stage reads the half it targets (any half without double
//!   buffering); LOADX waits while the issue stage is active.
//! - EXEC of MATVEC is accepted when the issue stage is idle or in its last slot (back-to-back
//!   issue), then FETCH resumes while the array computes.
//! - The issue stage emits one token per cycle; a token reaches the accumulators
//!   `pipeline_depth` cycles later. A MATVEC with `store` sets `snap` after its last token;
//!   `snap` copies the accumulators into the output shifter when it is empty; while it is not,
//!   the whole array freezes (`advance` low).
//! - SYNC and HALT wait until the issue stage, the pipeline, `snap` and the output are idle.

use crate::config::Accel;
use crate::isa::{Insn, Status};
use crate::stall::Stalls;
use std::collections::VecDeque;

/// The hardware event counters, in the order the RTL exposes them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counters {
    /// Cycles from reset release until HALT (or an error) was reached.
    pub cycles: u64,
    /// Cycles the sequencer wanted an input beat and none was offered.
    pub stall_in: u64,
    /// Cycles a result beat was offered and not taken.
    pub stall_out: u64,
    /// Cycles the array issued a token (R*L ternary MACs each).
    pub issue: u64,
    /// Cycles the array was frozen waiting for the output shifter.
    pub freeze: u64,
    /// Weight-bank words written (2L bits each).
    pub wwords: u64,
    /// Activation words written (L bytes each).
    pub xwords: u64,
    /// Accumulator updates (R accumulator writes each).
    pub acc_updates: u64,
    /// Result beats sent to the host.
    pub out_beats: u64,
    /// Instructions fetched.
    pub insns: u64,
}

impl Counters {
    pub const NAMES: [&'static str; 10] =
        ["cycles", "stall_in", "stall_out", "issue", "freeze", "wwords", "xwords", "acc_updates", "out_beats", "insns"];

    pub fn to_array(&self) -> [u64; 10] {
        [
            self.cycles,
            self.stall_in,
            self.stall_out,
            self.issue,
            self.freeze,
            self.wwords,
            self.xwords,
            self.acc_updates,
            self.out_beats,
            self.insns,
        ]
    }

    pub fn from_array(a: [u64; 10]) -> Counters {
        Counters {
            cycles: a[0],
            stall_in: a[1],
            stall_out: a[2],
            issue: a[3],
            freeze: a[4],
            wwords: a[5],
            xwords: a[6],
            acc_updates: a[7],
            out_beats: a[8],
            insns: a[9],
        }
    }

    /// Events scaled to physical quantities for a geometry (the energy model's inputs).
    pub fn derived(&self, a: &Accel) -> DerivedEvents {
        let (r, l) = (a.cfg.rows as u64, a.cfg.lanes as u64);
        DerivedEvents {
            macs: self.issue * r * l,
            weight_bits_loaded: self.wwords * a.wword_bits as u64,
            weight_bits_read: self.issue * r * a.wword_bits as u64,
            act_bytes_loaded: self.xwords * l,
            act_bytes_read: self.issue * l,
            adder_ops: self.issue * r * l,
            acc_writes: self.acc_updates * r,
        }
    }

    pub fn add(&mut self, o: &Counters) {
        let mut a = self.to_array();
        for (x, y) in a.iter_mut().zip(o.to_array()) {
            *x += y;
        }
        *self = Counters::from_array(a);
    }
}

/// Counter events in physical units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct DerivedEvents {
    pub macs: u64,
    pub weight_bits_loaded: u64,
    pub weight_bits_read: u64,
    pub act_bytes_loaded: u64,
    pub act_bytes_read: u64,
    /// (L-1) tree adds + 1 accumulate per row and issue.
    pub adder_ops: u64,
    pub acc_writes: u64,
}

/// The outcome of running one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunResult {
    /// Result words in the order they left the output stream.
    pub results: Vec<i32>,
    pub counters: Counters,
    pub status: Status,
    /// Host beats the machine consumed.
    pub consumed: usize,
    /// The program ran out while the machine still wanted input (no HALT), or the watchdog hit.
    pub stopped: Option<StopReason>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopReason {
    /// All beats consumed and the sequencer asks for more: the program lacks a HALT.
    Starved,
    /// `max_cycles` elapsed.
    Watchdog,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum St {
    Fetch,
    Exec,
    LoadW,
    LoadX,
    Done,
}

/// Device-side memories persist across runs (like the RTL's RAMs across resets).
pub struct Golden {
    a: Accel,
    /// Bank r word at address w: `wpw` u64s at ((r * depth) + w) * wpw. 2 bits per weight.
    wmem: Vec<u64>,
    wpw: usize,
    /// Activation buffer, L int8 per word.
    amem: Vec<i8>,
}

/// One MATVEC's effect on the accumulators, computed at accept.
struct Pending {
    acc: bool,
    store: bool,
    sums: Vec<i64>,
}

impl Golden {
    pub fn new(a: &Accel) -> Golden {
        let wpw = (a.wword_bits as usize).div_ceil(64);
        let c = &a.cfg;
        Golden {
            a: a.clone(),
            wmem: vec![0; c.rows as usize * c.wmem_depth as usize * wpw],
            wpw,
            amem: vec![0; c.amem_depth as usize * c.lanes as usize],
        }
    }

    pub fn accel(&self) -> &Accel {
        &self.a
    }

    fn dot(&self, row: usize, waddr: usize, xaddr: usize) -> i64 {
        let l = self.a.cfg.lanes as usize;
        let base = (row * self.a.cfg.wmem_depth as usize + waddr) * self.wpw;
        let x = &self.amem[xaddr * l..xaddr * l + l];
        let mut s = 0i64;
        for (j, &xv) in x.iter().enumerate() {
            let code = (self.wmem[base + j / 32] >> (2 * (j % 32))) & 3;
            s += match code {
                0 => -(xv as i64),
                2 => xv as i64,
                _ => 0,
            };
        }
        s
    }

    /// Run a program from reset. `max_cycles` bounds a malformed program.
    pub fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> RunResult {
        let a = self.a.clone();
        let c = &a.cfg;
        let (rows, lanes) = (c.rows as usize, c.lanes as usize);
        let p = a.pipeline_depth as usize;
        let acc_shift = 64 - c.acc_bits;
        let wrap = |v: i64| (v << acc_shift) >> acc_shift;
        let host_mask: u64 = if c.host_bits == 64 { u64::MAX } else { (1u64 << c.host_bits) - 1 };

        let mut cnt = Counters::default();
        let mut results = Vec::new();
        let mut st = St::Fetch;
        let mut status = Status::Running;
        let mut ir: u64 = 0;
        let mut len_reg: u32 = 0;
        // load engine
        let (mut ld_addr, mut ld_left, mut ld_row, mut ld_beat) = (0u32, 0u32, 0u32, 0u32);
        let mut ld_buf: Vec<u64> = Vec::new();
        // issue stage
        let (mut iss_active, mut iss_rem, mut iss_waddr) = (false, 0u32, 0u32);
        let mut pending: VecDeque<Pending> = VecDeque::new();
        // token pipeline: bit0 valid, bit1 last-of-matvec
        let mut toks = vec![0u8; p];
        let mut head = 0usize; // toks[(head + i) % p] is stage i
        let mut acc = vec![0i64; rows];
        let mut snap = false;
        let mut out_busy = false;
        let mut out_left = 0u32;
        let mut out_buf: Vec<i64> = vec![0; rows];
        let _ = lanes;
        let mut out_pos = 0usize;
        // host source
        let mut pos = 0usize;
        let mut held = false;
        let mut cycle: u64 = 0;
        let mut stopped = None;

        loop {
            if st == St::Done {
                break;
            }
            if cycle >= max_cycles {
                stopped = Some(StopReason::Watchdog);
                break;
            }
            let in_ready = matches!(st, St::Fetch | St::LoadW | St::LoadX);
            if in_ready && pos >= beats.len() {
                stopped = Some(StopReason::Starved);
                break;
            }
            cnt.cycles += 1;
            let in_valid = pos < beats.len() && (held || stalls.in_offer(cycle));
            let out_ready = stalls.out_ready(cycle);
            let fire_in = in_valid && in_ready;
            let beat = if in_valid { beats[pos] & host_mask } else { 0 };
            if in_ready && !in_valid {
                cnt.stall_in += 1;
            }

            let advance = !(snap && out_busy);
            let last_tok = toks[(head + p - 1) % p];
            let pipe_empty = toks.iter().all(|t| t & 1 == 0);
            let drained = !iss_active && pipe_empty && !snap && !out_busy;
            let issue_free = advance && (!iss_active || iss_rem == 1);

            // ---- sequencer ----
            let mut next_st = st;
            let mut accept: Option<u32> = None; // waddr of an accepted MATVEC
            match st {
                St::Fetch => {
                    if fire_in {
                        ir = beat;
                        cnt.insns += 1;
                        next_st = St::Exec;
                    }
                }
                St::Exec => {
                    let decoded = if ir >> 32 != 0 {
                        Err(Status::ReservedBits)
                    } else {
                        Insn::decode(ir as u32).map_err(|e| e.status())
                    };
                    match decoded {
                        Err(s) => {
                            status = s;
                            next_st = St::Done;
                        }
                        Ok(insn) => match insn {
                            Insn::Nop => next_st = St::Fetch,
                            Insn::SetLen { len } => {
                                len_reg = len as u32;
                                next_st = St::Fetch;
                            }
                            Insn::LoadW { addr, count } => {
                                let (addr, count) = (addr as u32, count as u32);
                                if addr + count > c.wmem_depth {
                                    status = Status::WeightRange;
                                    next_st = St::Done;
                                } else {
                                    let ih = a.half_of(iss_waddr);
                                    let hazard = iss_active
                                        && (!c.double_buffer || a.half_of(addr) == ih || a.half_of(addr + count - 1) == ih);
                                    if !hazard {
                                        (ld_addr, ld_left, ld_row, ld_beat) = (addr, count, 0, 0);
                                        ld_buf.clear();
                                        next_st = St::LoadW;
                                    }
                                }
                            }
                            Insn::LoadX { addr, count } => {
                                let (addr, count) = (addr as u32, count as u32);
                                if addr + count > c.amem_depth {
                                    status = Status::ActRange;
                                    next_st = St::Done;
                                } else if !iss_active {
                                    (ld_addr, ld_left, ld_row, ld_beat) = (addr, count, 0, 0);
                                    ld_buf.clear();
                                    next_st = St::LoadX;
                                }
                            }
                            Insn::MatVec { acc: accf, store, waddr, xaddr } => {
                                let (waddr, xaddr) = (waddr as u32, xaddr as u32);
                                let err = if len_reg == 0 {
                                    Some(Status::NoLength)
                                } else if waddr + len_reg > c.wmem_depth {
                                    Some(Status::WeightRange)
                                } else if xaddr + len_reg > c.amem_depth {
                                    Some(Status::ActRange)
                                } else if a.half_of(waddr) != a.half_of(waddr + len_reg - 1) {
                                    Some(Status::HalfCross)
                                } else {
                                    None
                                };
                                if let Some(s) = err {
                                    status = s;
                                    next_st = St::Done;
                                } else if issue_free {
                                    let sums = (0..rows)
                                        .map(|r| {
                                            (0..len_reg)
                                                .map(|k| self.dot(r, (waddr + k) as usize, (xaddr + k) as usize))
                                                .sum()
                                        })
                                        .collect();
                                    pending.push_back(Pending { acc: accf, store, sums });
                                    accept = Some(waddr);
                                    next_st = St::Fetch;
                                }
                            }
                            Insn::Sync => {
                                if drained {
                                    next_st = St::Fetch;
                                }
                            }
                            Insn::Halt => {
                                if drained {
                                    status = Status::Halted;
                                    next_st = St::Done;
                                }
                            }
                        },
                    }
                }
                St::LoadW | St::LoadX => {
                    if fire_in {
                        let is_w = st == St::LoadW;
                        let bpw = if is_w { a.beats_per_wword } else { a.beats_per_xword };
                        ld_buf.push(beat);
                        if ld_beat + 1 == bpw {
                            if is_w {
                                cnt.wwords += 1;
                                let base = ((ld_row * c.wmem_depth + ld_addr) as usize) * self.wpw;
                                // beats are host_bits wide, little-endian
                                let mut bad = false;
                                let words = pack_beats(&ld_buf, c.host_bits, self.wpw);
                                for (i, w) in words.iter().enumerate() {
                                    self.wmem[base + i] = *w;
                                    // any lane with code 3: both bits set
                                    bad |= w & (w >> 1) & 0x5555_5555_5555_5555 != 0;
                                }
                                if bad {
                                    status = Status::BadWeightCode;
                                    next_st = St::Done;
                                }
                                if ld_row + 1 == c.rows {
                                    ld_row = 0;
                                    ld_addr += 1;
                                    ld_left -= 1;
                                } else {
                                    ld_row += 1;
                                }
                            } else {
                                cnt.xwords += 1;
                                let base = ld_addr as usize * lanes;
                                let bytes_per_beat = (c.host_bits / 8) as usize;
                                for (b, w) in ld_buf.iter().enumerate() {
                                    for i in 0..bytes_per_beat {
                                        self.amem[base + b * bytes_per_beat + i] = (w >> (8 * i)) as u8 as i8;
                                    }
                                }
                                ld_addr += 1;
                                ld_left -= 1;
                            }
                            ld_beat = 0;
                            ld_buf.clear();
                            if ld_left == 0 && next_st != St::Done {
                                next_st = St::Fetch;
                            }
                        } else {
                            ld_beat += 1;
                        }
                    }
                }
                St::Done => unreachable!(),
            }

            // ---- output shifter (current state), then the snapshot (reads pre-edge acc) ----
            let snap_now = snap && !out_busy;
            let mut next_snap = snap && !snap_now;
            if out_busy {
                if out_ready {
                    let n = a.results_per_beat as usize;
                    results.extend(out_buf[out_pos..out_pos + n].iter().map(|&v| v as i32));
                    out_pos += n;
                    cnt.out_beats += 1;
                    out_left -= 1;
                    if out_left == 0 {
                        out_busy = false;
                    }
                } else {
                    cnt.stall_out += 1;
                }
            }
            if snap_now {
                out_buf.copy_from_slice(&acc);
                out_busy = true;
                out_left = a.out_beats;
                out_pos = 0;
            }

            // ---- array: accumulators, token pipeline, issue stage ----
            if advance {
                if last_tok & 1 != 0 {
                    cnt.acc_updates += 1;
                    if last_tok & 2 != 0 {
                        let pm = pending.pop_front().expect("token without a pending MATVEC");
                        for (r, v) in acc.iter_mut().enumerate() {
                            *v = wrap(if pm.acc { *v } else { 0 } + pm.sums[r]);
                        }
                        next_snap |= pm.store;
                    }
                }
                let tok = if iss_active {
                    cnt.issue += 1;
                    let t = 1 | if iss_rem == 1 { 2 } else { 0 };
                    iss_rem -= 1;
                    iss_waddr += 1;
                    if iss_rem == 0 {
                        iss_active = false;
                    }
                    t
                } else {
                    0
                };
                head = (head + p - 1) % p;
                toks[head] = tok;
                if let Some(waddr) = accept {
                    iss_active = true;
                    iss_rem = len_reg;
                    iss_waddr = waddr;
                }
            } else {
                cnt.freeze += 1;
            }
            snap = next_snap;

            // ---- host source ----
            held = in_valid && !in_ready;
            if fire_in {
                pos += 1;
            }
            st = next_st;
            cycle += 1;
        }
        RunResult { results, counters: cnt, status, consumed: pos, stopped }
    }
}

/// Concatenate little-endian beats of `host_bits` into `n` u64 words.
fn pack_beats(beats: &[u64], host_bits: u32, n: usize) -> Vec<u64> {
    let mut out = vec![0u64; n];
    let mut bit = 0usize;
    for &b in beats {
        for i in 0..host_bits as usize {
            if b >> i & 1 != 0 {
                out[(bit + i) / 64] |= 1 << ((bit + i) % 64);
            }
        }
        bit += host_bits as usize;
    }
    out
}
