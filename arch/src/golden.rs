//! The golden model: executes a Program (host beats) exactly as the RTL does, cycle for cycle.
//!
//! This is the contract the RTL must meet: results, the cycle count and every event counter
//! are compared exactly. The model mirrors the RTL's registers (sequencer state, issue stage,
//! token pipeline, snapshot, output shifter) and evaluates one clock edge per loop iteration;
//! the arithmetic of a MATVEC is done once when it is accepted, which is exact because the
//! sequencer's interlocks keep its weights and activations unchanged until the last read.
//!
//! Timing contract (one clock per step, all registers update together):
//! - FETCH takes one beat (in_ready=1); EXEC decodes it on the next cycle.
//! - EXEC of LOADW/LOADX moves to the data state; each data beat takes one cycle.
//!   LOADW waits while the issue stage reads the half it targets (any half without double
//!   buffering), and also while some bank's read of an issued slot in that half is pending
//!   (up to `read_window` advancing cycles after the slot: the read-address stage, then the
//!   hops of a broadcast group's rows); LOADX waits while the issue stage is active.
//! - EXEC of MATVEC is accepted when the issue stage is idle or in its last slot (back-to-back
//!   issue), then FETCH resumes while the array computes.
//! - The issue stage emits one token per cycle; a token reaches the accumulators
//!   `pipeline_depth` cycles later. A MATVEC with `store` sets `snap` after its last token;
//!   `snap` copies the accumulators into the output shifter when it is empty; while it is not,
//!   the whole array freezes (`advance` low). Grouped arrays (`advance_ignores_out_ready`)
//!   also freeze in the cycle after the shifter's last beat leaves while a snapshot waits.
//! - SYNC and HALT wait until the issue stage, the pipeline, `snap` and the output are idle.

use crate::config::Accel;
use crate::dot;
use crate::isa::{DecodeError, Insn, Status};
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

    /// Host beats the machine took: every instruction one beat, every weight and activation
    /// word its `beats_per_*` beats (the link's input for the energy model, and a board's
    /// consumed beats, which its trailer does not carry otherwise).
    pub fn input_beats(&self, a: &Accel) -> u64 {
        self.insns + self.wwords * a.beats_per_wword as u64 + self.xwords * a.beats_per_xword as u64
    }

    /// The counters whose values depend on how the host link paces the core (when beats
    /// arrive and results are taken), not only on the program.
    pub const LINK_TIMED: [&'static str; 4] = ["cycles", "stall_in", "stall_out", "freeze"];

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
    /// The cycle in which each result beat left (0 is the first cycle after reset, as
    /// `counters.cycles` counts them), so RTL and golden are compared beat for beat in time.
    pub beat_cycles: BeatCycles,
    /// The cycle in which each input beat was taken (the host link's valid and ready high).
    pub in_cycles: BeatCycles,
    pub counters: Counters,
    pub status: Status,
    /// Host beats the machine consumed.
    pub consumed: usize,
    /// The program ran out while the machine still wanted input (no HALT), or the watchdog hit.
    pub stopped: Option<StopReason>,
}

/// The cycles in which a run's beats of one stream moved (result beats left, input beats were
/// taken), as runs of beats in consecutive cycles: a closed-form path adds thousands of beats
/// with one entry, and every backend builds it through `push`, so equal cycles mean equal
/// values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BeatCycles {
    /// (first cycle, beats), each run starting after the previous one ends
    runs: Vec<(u64, u64)>,
}

impl BeatCycles {
    /// `beats` beats leaving in cycles `cycle`, `cycle + 1`, ...
    pub fn push(&mut self, cycle: u64, beats: u64) {
        if beats == 0 {
            return;
        }
        match self.runs.last_mut() {
            Some((c, n)) if *c + *n == cycle => *n += beats,
            _ => self.runs.push((cycle, beats)),
        }
    }
    /// The cycle of every beat, in order.
    pub fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs.iter().flat_map(|&(c, n)| c..c + n)
    }
    pub fn beats(&self) -> u64 {
        self.runs.iter().map(|r| r.1).sum()
    }
    /// (first cycle, beats in consecutive cycles), in order.
    pub fn runs(&self) -> &[(u64, u64)] {
        &self.runs
    }
}

impl RunResult {
    /// The first way two runs of the same beats differ, named for a person: status, stop
    /// reason, the first differing result word with its cycle (or the result count), the first
    /// result beat or input beat that moved in time, the first differing counter, consumed
    /// beats. `None` when they are equal in all of these. `an` and `bn` name the runs
    /// ("golden", "verilator").
    pub fn first_difference(&self, an: &str, other: &RunResult, bn: &str) -> Option<String> {
        self.difference(an, other, bn, true)
    }

    /// `first_difference` without what the host link's timing decides: the cycles in which
    /// beats moved and the counters in `Counters::LINK_TIMED`. For a board, whose byte link
    /// paces the core differently than any simulated stream (`tern_host::bridge`).
    pub fn first_event_difference(&self, an: &str, other: &RunResult, bn: &str) -> Option<String> {
        self.difference(an, other, bn, false)
    }

    fn difference(&self, an: &str, other: &RunResult, bn: &str, timed: bool) -> Option<String> {
        let (a, b) = (self, other);
        if a.status != b.status {
            return Some(format!("status differs: {an} `{}`, {bn} `{}`", a.status.describe(), b.status.describe()));
        }
        if a.stopped != b.stopped {
            return Some(format!("stop reason differs: {an} {:?}, {bn} {:?}", a.stopped, b.stopped));
        }
        // result words per beat, for the cycle of a word
        let at = |r: &RunResult, i: usize| {
            let per = r.results.len().checked_div(r.beat_cycles.beats() as usize).unwrap_or(0);
            r.beat_cycles.iter().nth(i.checked_div(per).unwrap_or(usize::MAX)).map_or(String::new(), |c| format!(" (cycle {c})"))
        };
        if let Some(i) = a.results.iter().zip(&b.results).position(|(x, y)| x != y) {
            return Some(format!("first differing result word {i}: {an} {}{} {bn} {}{}", a.results[i], at(a, i), b.results[i], at(b, i)));
        }
        if a.results.len() != b.results.len() {
            return Some(format!("result count differs: {an} {}, {bn} {}", a.results.len(), b.results.len()));
        }
        if timed {
            if let Some((j, (x, y))) = a.beat_cycles.iter().zip(b.beat_cycles.iter()).enumerate().find(|(_, (x, y))| x != y) {
                return Some(format!("result beat {j} left in a different cycle: {an} {x} {bn} {y}"));
            }
            if let Some((j, (x, y))) = a.in_cycles.iter().zip(b.in_cycles.iter()).enumerate().find(|(_, (x, y))| x != y) {
                return Some(format!("input beat {j} was taken in a different cycle: {an} {x} {bn} {y}"));
            }
        }
        let (ac, bc) = (a.counters.to_array(), b.counters.to_array());
        let compared = |i: usize| timed || !Counters::LINK_TIMED.contains(&Counters::NAMES[i]);
        if let Some(i) = (0..ac.len()).find(|&i| compared(i) && ac[i] != bc[i]) {
            return Some(format!("counter `{}` differs: {an} {} {bn} {}", Counters::NAMES[i], ac[i], bc[i]));
        }
        if a.consumed != b.consumed {
            return Some(format!("consumed beats differ: {an} {}, {bn} {}", a.consumed, b.consumed));
        }
        None
    }
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
    /// The banks and the activation buffer, in the layout that makes the dot products fast.
    mem: dot::Memories,
    /// Row sums of the MATVECs accepted and not yet retired: a ring of `ring_slots` slots of
    /// R sums each, so that accepting one does not allocate.
    sums: Vec<i64>,
    /// Whether stall-free runs skip cycles in closed form (the default). Off, every cycle goes
    /// through the general loop: the reference the fast paths are tested against.
    fast_paths: bool,
}

/// One MATVEC's effect on the accumulators, computed at accept (its sums in ring slot `slot`).
struct Pending {
    acc: bool,
    store: bool,
    slot: usize,
}

/// Ring slots for pending MATVECs: each has its last token in the issue stage or the pipeline
/// (at most one per stage), and one more may be accepted in the cycle the oldest retires.
fn ring_slots(a: &Accel) -> usize {
    a.pipeline_depth as usize + 2
}

/// The status a MATVEC with these operands raises in EXEC, if any (checked in this order).
fn matvec_error(a: &Accel, waddr: u32, xaddr: u32, len: u32) -> Option<Status> {
    let c = &a.cfg;
    if len == 0 {
        Some(Status::NoLength)
    } else if waddr + len > c.wmem_depth {
        Some(Status::WeightRange)
    } else if xaddr + len > c.amem_depth {
        Some(Status::ActRange)
    } else if a.half_of(waddr) != a.half_of(waddr + len - 1) {
        Some(Status::HalfCross)
    } else {
        None
    }
}

/// A data word from its host beats of `hb` bits each, the first beat in the lowest bits.
fn word_of_beats(beats: &[u64], hb: usize) -> [u64; 8] {
    let mut word = [0u64; 8];
    for (i, &b) in beats.iter().enumerate() {
        word[i * hb / 64] |= b << ((i * hb) % 64);
    }
    word
}

/// Any lane of a weight word with code 3 (both bits set), which stops the run.
fn has_code3(w: &[u64; 2]) -> bool {
    (w[0] & (w[0] >> 1) | w[1] & (w[1] >> 1)) & 0x5555_5555_5555_5555 != 0
}

impl Golden {
    pub fn new(a: &Accel) -> Golden {
        let c = &a.cfg;
        Golden {
            a: a.clone(),
            mem: dot::Memories::new(c.rows, c.lanes, c.wmem_depth, c.amem_depth),
            sums: vec![0; ring_slots(a) * c.rows as usize],
            fast_paths: true,
        }
    }

    /// The same model with its closed-form fast paths on (the default) or off.
    pub fn with_fast_paths(mut self, on: bool) -> Golden {
        self.fast_paths = on;
        self
    }

    pub fn accel(&self) -> &Accel {
        &self.a
    }

    /// A MATVEC's row sums into ring slot `slot`.
    fn matvec(&mut self, slot: usize, waddr: u32, xaddr: u32, len: u32) {
        let rows = self.a.cfg.rows as usize;
        self.mem.matvec(waddr as usize, xaddr as usize, len as usize, &mut self.sums[slot * rows..][..rows]);
    }

    /// Run a program from reset. `max_cycles` bounds a malformed program.
    pub fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> RunResult {
        let a = self.a.clone();
        let c = &a.cfg;
        let rows = c.rows as usize;
        let p = a.pipeline_depth;
        let last_stage = 1u64 << (p - 1);
        let stage_mask = (1u64 << p) - 1;
        let acc_shift = 64 - c.acc_bits;
        let wrap = |v: i64| (v << acc_shift) >> acc_shift;
        let host_mask: u64 = if c.host_bits == 64 { u64::MAX } else { (1u64 << c.host_bits) - 1 };
        let no_stalls = stalls.is_none();
        // the closed-form paths below need a stall-free stream
        let fast = no_stalls && self.fast_paths;
        let hb = c.host_bits as usize;

        let mut cnt = Counters::default();
        let mut results = Vec::new();
        let mut beat_cycles = BeatCycles::default();
        let mut in_cycles = BeatCycles::default();
        let mut st = St::Fetch;
        let mut status = Status::Running;
        // the instruction register, decoded when fetched (the RTL decodes it combinationally).
        // Kept as `decode_beat` returns it: converting it to a Result of `Status` at each fetch
        // read its separately stored bytes back as one word, a store-forwarding stall worth
        // ~8 % of a run.
        let mut insn: Result<Insn, DecodeError> = Ok(Insn::Nop);
        let mut len_reg: u32 = 0;
        // load engine
        let (mut ld_addr, mut ld_left, mut ld_row, mut ld_beat) = (0u32, 0u32, 0u32, 0u32);
        let mut ld_buf = [0u64; 8];
        // issue stage
        let (mut iss_active, mut iss_rem, mut iss_waddr) = (false, 0u32, 0u32);
        // `read_window`: the banks read an issued address up to `read_window` advancing cycles
        // after its issue slot (`read_stages`, then one more per row of a group); until then
        // LOADW waits for its half too. Bit k of `rd_act` = the slot k + 1 advancing cycles
        // ago issued, bit k of `rd_hi` = it was in the upper half.
        let window_mask = (1u64 << a.read_window) - 1;
        let (mut rd_act, mut rd_hi) = (0u64, 0u64);
        // one advancing cycle of the read window, `issued` in half `half` (or no slot)
        let rd_step = |act: &mut u64, hi: &mut u64, issued: bool, half: u32| {
            *act = ((*act << 1) | u64::from(issued)) & window_mask;
            *hi = ((*hi << 1) | u64::from(half)) & window_mask;
        };
        let mut pending: VecDeque<Pending> = VecDeque::with_capacity(ring_slots(&a));
        let mut next_slot = 0usize;
        // accept a MATVEC: its sums now, its effect when its last token retires
        macro_rules! accept_matvec {
            ($acc:expr, $store:expr, $waddr:expr, $xaddr:expr) => {{
                assert!(pending.len() < ring_slots(&a), "more MATVECs in flight than the pipeline holds");
                self.matvec(next_slot, $waddr, $xaddr, len_reg);
                pending.push_back(Pending { acc: $acc, store: $store, slot: next_slot });
                next_slot = (next_slot + 1) % ring_slots(&a);
            }};
        }
        // token pipeline as bit masks: bit i = stage i; `lastm` marks a MATVEC's last token
        let (mut validm, mut lastm) = (0u64, 0u64);
        let mut acc = vec![0i64; rows];
        let mut snap = false;
        let mut out_busy = false;
        // `snap | out_busy` one cycle ago, for `advance_ignores_out_ready`. Only read while
        // `snap` is set, and no fast path runs then, so the fast paths leave it alone.
        let mut held_prev = false;
        let mut out_left = 0u32;
        let mut out_buf: Vec<i64> = vec![0; rows];
        let mut out_pos = 0usize;
        // host source
        let mut pos = 0usize;
        let mut held = false;
        let mut cycle: u64 = 0;
        let mut stopped = None;

        // Advance of the array (issue stage, token pipeline, accumulators, snapshot, output
        // shifter) by k cycles with the sequencer's help not needed: no stall, no MATVEC issued.
        // `array_kmax!()` is the largest such k. Frozen (a snapshot waits for the busy shifter),
        // only the shifter moves. Otherwise it runs in closed form, except that one MATVEC's last
        // token may retire on the way (the cycle its sums reach the accumulators and, with
        // `store`, the next one, the snapshot), stepped like the general loop; past the retire
        // only if the snapshot cannot freeze the array (the shifter is idle by then).
        macro_rules! array_kmax {
            () => {{
                if snap {
                    // a snapshot waits for the busy shifter: the array stays frozen through the
                    // shifter's last beat (the general loop takes the snapshot's cycle). On a
                    // grouped array `held_prev` is then set too: the shifter was busy or a
                    // snapshot waited in the cycle before.
                    if out_busy { out_left as u64 } else { 0 }
                } else {
                    let k = pipe_kmax!();
                    if iss_active { k.min((iss_rem - 1) as u64) } else { k }
                }
            }};
        }
        // `array_kmax!` but for the issue stage: its last slot may issue (the caller does that)
        macro_rules! pipe_kmax {
            () => {{
                let mut k = u64::MAX;
                if snap {
                    k = 0;
                }
                if lastm != 0 {
                    // cycles until the oldest last token is in the last stage (it retires then)
                    let retire = (p - 1 - (63 - lastm.leading_zeros())) as u64;
                    let free = |store: bool| !store || !out_busy || out_left as u64 <= retire;
                    let steppable = lastm.count_ones() == 1 && pending.front().is_some_and(|pm| free(pm.store));
                    // the retire cycle itself is always stepped exactly; past it only if steppable
                    if !steppable {
                        k = k.min(retire + 1);
                    }
                }
                k
            }};
        }
        macro_rules! array_adv {
            ($k:expr) => {{
                let mut k: u64 = $k;
                // the cycle of the output shifter's next step: each step below moves it
                let mut out_t: u64 = cycle;
                let end = cycle + k;
                if snap {
                    // frozen (`array_kmax!`): only the shifter moves
                    out_shift!(k, out_t);
                    cnt.freeze += k;
                    held_prev = true;
                } else {
                    if lastm != 0 {
                        let retire = (p - 1 - (63 - lastm.leading_zeros())) as u64;
                        if retire < k {
                            array_shift!(retire, out_t);
                            k -= retire + 1;
                            // the retire cycle, as in the general loop's array section
                            held_prev = out_busy;
                            let pm = pending.pop_front().expect("token without a pending MATVEC");
                            for (v, s) in acc.iter_mut().zip(&self.sums[pm.slot * rows..][..rows]) {
                                *v = wrap(if pm.acc { *v } else { 0 } + s);
                            }
                            snap = pm.store;
                            array_shift!(1, out_t);
                            if snap && k > 0 {
                                // the snapshot cycle: the shifter is idle (`array_kmax!`), so no beat
                                // leaves, the array advances, and the shifter loads pre-edge `acc`
                                k -= 1;
                                held_prev = true;
                                pipe_shift!(1);
                                out_t += 1;
                                out_buf.copy_from_slice(&acc);
                                out_busy = true;
                                out_left = a.out_beats;
                                out_pos = 0;
                                snap = false;
                            }
                        }
                    }
                    array_shift!(k, out_t);
                }
                debug_assert_eq!(out_t, end, "every cycle of `array_adv!` moves the output shifter once");
            }};
        }
        macro_rules! array_shift {
            ($k:expr, $t:ident) => {{
                let k: u64 = $k;
                pipe_shift!(k);
                out_shift!(k, $t);
            }};
        }
        // the issue stage, the token pipeline and the read window, k cycles
        macro_rules! pipe_shift {
            ($k:expr) => {{
                let k: u64 = $k;
                let pk = (p as u64).min(k) as u32;
                // tokens leaving the last stage: the top pk stages, then every new one
                let mut exits = (validm >> (p - pk)).count_ones() as u64;
                // the slots of the k cycles enter the read window (the last `read_window` count)
                for i in k.saturating_sub(a.read_window as u64)..k {
                    rd_step(&mut rd_act, &mut rd_hi, iss_active, a.half_of(iss_waddr + if iss_active { i as u32 } else { 0 }));
                }
                if iss_active {
                    exits += k.saturating_sub(p as u64);
                    cnt.issue += k;
                    iss_rem -= k as u32;
                    iss_waddr += k as u32;
                    validm = if k >= p as u64 { stage_mask } else { ((validm << k) | ((1u64 << k) - 1)) & stage_mask };
                } else {
                    validm = if k >= p as u64 { 0 } else { (validm << k) & stage_mask };
                }
                lastm = if k >= p as u64 { 0 } else { (lastm << k) & stage_mask };
                cnt.acc_updates += exits;
            }};
        }
        // the output shifter, k cycles (one beat each while it is busy)
        // (`$t`: the cycle of the shifter's first step of these k, moved past them)
        macro_rules! out_shift {
            ($k:expr, $t:ident) => {{
                let k: u64 = $k;
                if out_busy {
                    let n = (out_left as u64).min(k) as usize;
                    let rpb = a.results_per_beat as usize;
                    results.extend(out_buf[out_pos..out_pos + n * rpb].iter().map(|&v| v as i32));
                    beat_cycles.push($t, n as u64);
                    out_pos += n * rpb;
                    out_left -= n as u32;
                    cnt.out_beats += n as u64;
                    out_busy = out_left != 0;
                }
                $t += k;
            }};
        }

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
            // Fast path 1: a weight load of one beat per word, no stalls: store the words (bank
            // fastest, then address) while the array advances in closed form.
            if fast && st == St::LoadW && a.beats_per_wword == 1 && ld_beat == 0 {
                let left = (ld_left * c.rows - ld_row) as u64;
                let n = array_kmax!().min(left).min((beats.len() - pos) as u64).min(max_cycles - cycle) as usize;
                if n >= 1 {
                    let mut done = n;
                    let (mut wa, mut wr) = (ld_addr as usize, ld_row as usize);
                    for (i, &b) in beats[pos..pos + n].iter().enumerate() {
                        let w = [b & host_mask, 0];
                        self.mem.store_weights(wa, wr, &w);
                        wr += 1;
                        if wr == rows {
                            (wa, wr) = (wa + 1, 0);
                        }
                        if has_code3(&w) {
                            status = Status::BadWeightCode;
                            st = St::Done;
                            done = i + 1;
                            break;
                        }
                    }
                    array_adv!(done as u64);
                    cnt.cycles += done as u64;
                    cnt.wwords += done as u64;
                    in_cycles.push(cycle, done as u64);
                    cycle += done as u64;
                    pos += done;
                    let idx = ld_row as usize + done;
                    ld_addr += (idx / c.rows as usize) as u32;
                    ld_left -= (idx / c.rows as usize) as u32;
                    ld_row = (idx % c.rows as usize) as u32;
                    if ld_left == 0 && st != St::Done {
                        st = St::Fetch;
                    }
                    held = false;
                    continue;
                }
            }
            // Fast path 2: any other load with the array idle and no stalls: one beat per cycle and
            // nothing else changes, so consume the beats in a tight loop.
            let array_idle = !iss_active && validm == 0 && !snap && !out_busy;
            if fast && array_idle && (st == St::LoadW || st == St::LoadX) {
                // at least one beat, with the array advancing and not issuing (no token in the
                // pipeline means no slot in the read window either: `read_window` <= `pipeline_depth`)
                rd_act = 0;
                let is_w = st == St::LoadW;
                let bpw = if is_w { a.beats_per_wword } else { a.beats_per_xword };
                while pos < beats.len() && cycle < max_cycles {
                    cnt.cycles += 1;
                    in_cycles.push(cycle, 1);
                    cycle += 1;
                    ld_buf[ld_beat as usize] = beats[pos] & host_mask;
                    pos += 1;
                    if ld_beat + 1 < bpw {
                        ld_beat += 1;
                        continue;
                    }
                    ld_beat = 0;
                    let word = word_of_beats(&ld_buf[..bpw as usize], hb);
                    if is_w {
                        cnt.wwords += 1;
                        let w2 = [word[0], word[1]];
                        self.mem.store_weights(ld_addr as usize, ld_row as usize, &w2);
                        let bad = has_code3(&w2);
                        if ld_row + 1 == c.rows {
                            ld_row = 0;
                            ld_addr += 1;
                            ld_left -= 1;
                        } else {
                            ld_row += 1;
                        }
                        if bad {
                            status = Status::BadWeightCode;
                            st = St::Done;
                            break;
                        }
                    } else {
                        cnt.xwords += 1;
                        self.mem.store_activations(ld_addr as usize, &word);
                        ld_addr += 1;
                        ld_left -= 1;
                    }
                    if ld_left == 0 {
                        st = St::Fetch;
                        break;
                    }
                }
                held = false;
                continue;
            }
            // Fast path 3: EXEC waits for the issue stage to accept a MATVEC, no stalls: only
            // the array moves, in closed form.
            if fast
                && st == St::Exec
                && iss_active
                && iss_rem > 1
                && let Ok(Insn::MatVec { waddr, xaddr, .. }) = insn
                && matvec_error(&a, waddr as u32, xaddr as u32, len_reg).is_none()
            {
                let k = array_kmax!().min(max_cycles - cycle);
                if k >= 1 {
                    array_adv!(k);
                    cnt.cycles += k;
                    cycle += k;
                    held = false;
                    continue;
                }
            }
            // Fast path 4: EXEC accepts a MATVEC, no stalls: the array advances one cycle in
            // closed form, in which the issue stage issues its last slot if it is active, and
            // then starts the new MATVEC.
            if fast
                && st == St::Exec
                && (!iss_active || iss_rem == 1)
                && pipe_kmax!() >= 1
                && let Ok(Insn::MatVec { acc: accf, store, waddr, xaddr }) = insn
                && matvec_error(&a, waddr as u32, xaddr as u32, len_reg).is_none()
            {
                accept_matvec!(accf, store, waddr as u32, xaddr as u32);
                let last_slot = iss_active;
                // the slot counters it advances are set anew below
                #[allow(unused_assignments)]
                {
                    array_adv!(1);
                }
                if last_slot {
                    lastm |= 1;
                }
                (iss_active, iss_rem, iss_waddr) = (true, len_reg, waddr as u32);
                st = St::Fetch;
                cnt.cycles += 1;
                cycle += 1;
                held = false;
                continue;
            }
            // Fast path 5: FETCH with no stalls takes its beat (there is one: checked above)
            // while the array advances one cycle in closed form.
            if fast && st == St::Fetch && array_kmax!() >= 1 {
                insn = Insn::decode_beat(beats[pos] & host_mask);
                cnt.insns += 1;
                st = St::Exec;
                array_adv!(1);
                cnt.cycles += 1;
                in_cycles.push(cycle, 1);
                cycle += 1;
                pos += 1;
                held = false;
                continue;
            }
            cnt.cycles += 1;
            let in_valid = pos < beats.len() && (no_stalls || held || stalls.in_offer(cycle));
            let out_ready = no_stalls || stalls.out_ready(cycle);
            let fire_in = in_valid && in_ready;
            if in_ready && !in_valid {
                cnt.stall_in += 1;
            }

            // With `advance_ignores_out_ready` the RTL decides `advance` a cycle early from
            // `snap` and `snap | out_busy` (no `out_ready`): it is low while a snapshot waits,
            // and also in the cycle after the shifter's last beat left. Otherwise low exactly
            // while a snapshot waits for a busy shifter.
            let advance = if a.advance_ignores_out_ready { !(snap && held_prev) } else { !(snap && out_busy) };
            held_prev = snap || out_busy;

            // ---- sequencer ----
            let mut next_st = st;
            let mut accept: Option<u32> = None; // waddr of an accepted MATVEC
            match st {
                St::Fetch => {
                    if fire_in {
                        insn = Insn::decode_beat(beats[pos] & host_mask);
                        cnt.insns += 1;
                        next_st = St::Exec;
                    }
                }
                St::Exec => match insn {
                    Err(e) => {
                        status = e.status();
                        next_st = St::Done;
                    }
                    Ok(Insn::Nop) => next_st = St::Fetch,
                    Ok(Insn::SetLen { len }) => {
                        len_reg = len as u32;
                        next_st = St::Fetch;
                    }
                    Ok(Insn::LoadW { addr, count }) => {
                        let (addr, count) = (addr as u32, count as u32);
                        if addr + count > c.wmem_depth {
                            status = Status::WeightRange;
                            next_st = St::Done;
                        } else {
                            let ih = a.half_of(iss_waddr);
                            let touches = |h: u32| !c.double_buffer || a.half_of(addr) == h || a.half_of(addr + count - 1) == h;
                            let pend = |h: u32| if h == 1 { rd_act & rd_hi != 0 } else { rd_act & !rd_hi != 0 };
                            let hazard = (iss_active && touches(ih)) || (pend(0) && touches(0)) || (pend(1) && touches(1));
                            if !hazard {
                                (ld_addr, ld_left, ld_row, ld_beat) = (addr, count, 0, 0);
                                next_st = St::LoadW;
                            }
                        }
                    }
                    Ok(Insn::LoadX { addr, count }) => {
                        let (addr, count) = (addr as u32, count as u32);
                        if addr + count > c.amem_depth {
                            status = Status::ActRange;
                            next_st = St::Done;
                        } else if !iss_active {
                            (ld_addr, ld_left, ld_row, ld_beat) = (addr, count, 0, 0);
                            next_st = St::LoadX;
                        }
                    }
                    Ok(Insn::MatVec { acc: accf, store, waddr, xaddr }) => {
                        let (waddr, xaddr) = (waddr as u32, xaddr as u32);
                        if let Some(s) = matvec_error(&a, waddr, xaddr, len_reg) {
                            status = s;
                            next_st = St::Done;
                        } else if advance && (!iss_active || iss_rem == 1) {
                            accept_matvec!(accf, store, waddr, xaddr);
                            accept = Some(waddr);
                            next_st = St::Fetch;
                        }
                    }
                    Ok(Insn::Sync) | Ok(Insn::Halt) => {
                        let drained = !iss_active && validm == 0 && !snap && !out_busy;
                        if drained {
                            if insn == Ok(Insn::Halt) {
                                status = Status::Halted;
                                next_st = St::Done;
                            } else {
                                next_st = St::Fetch;
                            }
                        }
                    }
                },
                St::LoadW | St::LoadX => {
                    if fire_in {
                        let is_w = st == St::LoadW;
                        let bpw = if is_w { a.beats_per_wword } else { a.beats_per_xword };
                        ld_buf[ld_beat as usize] = beats[pos] & host_mask;
                        if ld_beat + 1 == bpw {
                            let word = word_of_beats(&ld_buf[..bpw as usize], hb);
                            if is_w {
                                cnt.wwords += 1;
                                let w2 = [word[0], word[1]];
                                let bad = has_code3(&w2);
                                self.mem.store_weights(ld_addr as usize, ld_row as usize, &w2);
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
                                self.mem.store_activations(ld_addr as usize, &word);
                                ld_addr += 1;
                                ld_left -= 1;
                            }
                            ld_beat = 0;
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
                    beat_cycles.push(cycle, 1);
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
                if validm & last_stage != 0 {
                    cnt.acc_updates += 1;
                    if lastm & last_stage != 0 {
                        let pm = pending.pop_front().expect("token without a pending MATVEC");
                        for (v, s) in acc.iter_mut().zip(&self.sums[pm.slot * rows..][..rows]) {
                            *v = wrap(if pm.acc { *v } else { 0 } + s);
                        }
                        next_snap |= pm.store;
                    }
                }
                validm = (validm << 1) & stage_mask;
                lastm = (lastm << 1) & stage_mask;
                rd_step(&mut rd_act, &mut rd_hi, iss_active, a.half_of(iss_waddr));
                if iss_active {
                    cnt.issue += 1;
                    validm |= 1;
                    if iss_rem == 1 {
                        lastm |= 1;
                        iss_active = false;
                    }
                    iss_rem -= 1;
                    iss_waddr += 1;
                }
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
                in_cycles.push(cycle, 1);
                pos += 1;
            }
            st = next_st;
            cycle += 1;
        }
        RunResult { results, beat_cycles, in_cycles, counters: cnt, status, consumed: pos, stopped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(results: Vec<i32>) -> RunResult {
        let mut beat_cycles = BeatCycles::default();
        beat_cycles.push(10, results.len() as u64);
        let mut in_cycles = BeatCycles::default();
        in_cycles.push(0, 5);
        RunResult { results, beat_cycles, in_cycles, counters: Counters::default(), status: Status::Halted, consumed: 5, stopped: None }
    }

    #[test]
    fn beat_cycles_merge_consecutive_beats() {
        let mut one_by_one = BeatCycles::default();
        for c in [5, 6, 7, 9, 10] {
            one_by_one.push(c, 1);
        }
        let mut runs = BeatCycles::default();
        runs.push(5, 2);
        runs.push(7, 1);
        runs.push(9, 2);
        assert_eq!(one_by_one, runs);
        assert_eq!(runs.iter().collect::<Vec<_>>(), [5, 6, 7, 9, 10]);
        assert_eq!(runs.beats(), 5);
    }

    #[test]
    fn first_difference_names_what_differs_first() {
        let a = run(vec![1, 2, 3]);
        assert_eq!(a.first_difference("golden", &a.clone(), "verilator"), None);
        let mut b = run(vec![1, 7, 3]);
        b.counters.cycles = 9;
        // the result word comes before the counter
        assert_eq!(
            a.first_difference("golden", &b, "verilator").unwrap(),
            "first differing result word 1: golden 2 (cycle 11) verilator 7 (cycle 11)"
        );
        // equal words that left in different cycles
        let mut late = run(vec![1, 2, 3]);
        late.beat_cycles = BeatCycles::default();
        late.beat_cycles.push(10, 2);
        late.beat_cycles.push(13, 1);
        assert_eq!(
            a.first_difference("golden", &late, "verilator").unwrap(),
            "result beat 2 left in a different cycle: golden 12 verilator 13"
        );
        let mut slow_in = run(vec![1, 2, 3]);
        slow_in.in_cycles = BeatCycles::default();
        slow_in.in_cycles.push(0, 3);
        slow_in.in_cycles.push(4, 2);
        assert_eq!(
            a.first_difference("golden", &slow_in, "verilator").unwrap(),
            "input beat 3 was taken in a different cycle: golden 3 verilator 4"
        );
        let c = RunResult { status: Status::IllegalOpcode, ..run(vec![1, 2, 3]) };
        assert_eq!(a.first_difference("golden", &c, "verilator").unwrap(), "status differs: golden `halted`, verilator `illegal opcode`");
        let mut d = run(vec![1, 2, 3]);
        d.counters.cycles = 9;
        assert_eq!(a.first_difference("golden", &d, "verilator").unwrap(), "counter `cycles` differs: golden 0 verilator 9");
        assert_eq!(a.first_difference("a", &run(vec![1, 2]), "b").unwrap(), "result count differs: a 3, b 2");
        assert_eq!(
            a.first_difference("a", &RunResult { consumed: 4, ..run(vec![1, 2, 3]) }, "b").unwrap(),
            "consumed beats differ: a 5, b 4"
        );
        // a board's run: no beat cycles, and the link-timed counters its own
        let mut board = run(vec![1, 2, 3]);
        (board.beat_cycles, board.in_cycles) = (BeatCycles::default(), BeatCycles::default());
        (board.counters.cycles, board.counters.stall_in, board.counters.freeze) = (900, 40, 3);
        assert_eq!(a.first_event_difference("golden", &board, "board"), None);
        assert_eq!(a.first_event_difference("golden", &late, "board"), None);
        board.counters.issue = 1;
        assert_eq!(a.first_event_difference("golden", &board, "board").unwrap(), "counter `issue` differs: golden 0 board 1");
        assert_eq!(
            a.first_event_difference("golden", &b, "board").unwrap(),
            "first differing result word 1: golden 2 (cycle 11) board 7 (cycle 11)"
        );
    }
}
