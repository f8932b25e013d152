//! Energy per token: counted hardware events x per-event energies from a named, cited
//! technology table. Always an estimate; pure arithmetic, no I/O.
//!
//! Inputs are the raw `Counters` the golden model and the RTL both produce (the cross-check
//! makes them identical), turned into physical events with the geometry in `Accel`:
//!
//! | class          | event                                           | count                      |
//! |----------------|-------------------------------------------------|----------------------------|
//! | `dram_weights` | weight bits streamed in from off-chip memory     | wwords * 2L                |
//! | `link_io`      | host-link bits in and out                        | (in beats + out beats) * H |
//! | `wmem_write`   | weight bits written into the banks               | wwords * 2L                |
//! | `wmem_read`    | weight bits read from the banks                  | issue * R * 2L             |
//! | `amem_write`   | activation bits written into the buffer          | xwords * 8L                |
//! | `amem_read`    | activation bits read (broadcast to all rows)     | issue * 8L                 |
//! | `tree_add`     | row adder tree: L-1 adds of 9..8+log2(L) bits    | issue * R * (L-1)          |
//! |                | pair chains: L/2 chain adds a row + L pair sums  | issue * (R * L/2 + L)      |
//! | `acc_add`      | accumulate: one acc_bits-wide add per row, token | acc_updates * R            |
//! | `acc_write`    | accumulator register bits written                | acc_updates * R * acc_bits |
//! | `pipe_regs`    | pipeline registers (weight word, activation word)| issue * (R * 2L + 8L)      |
//! | `output`       | result bits shifted out                          | out_beats * H              |
//! | `clock_busy`   | clock cycles that issued a token                 | issue                      |
//! | `clock_idle`   | every other cycle (loads, stalls, drain, freeze) | cycles - issue             |
//! | `static`       | static power x time at the given clock           | cycles / f                 |
//!
//! On the FPGA table the `*_write` rows count the beat-assembly register instead (all but
//! the last beat of each word; that beat's bits are the `link_io` nets), since the array
//! energy of a block RAM is not known there.
//!
//! `control` and `counters` exist only in the toggle-based estimate (`estimate_toggles`):
//! no counter measures the sequencer's or the counters' own activity.
//!
//! A class whose per-event energy the table does not give is reported with `joules: None`
//! and listed in `unknowns`: the total is then the sum of the known classes (a lower bound
//! for the classes it leaves out), never a guess. Every constant names its source below and
//! in `docs/energy.md`.

use crate::config::{Accel, PAIR_VALUE_BITS, pair_stage_bits};
use crate::golden::Counters;
use serde::Serialize;

/// A technology table by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Tech {
    /// 45 nm CMOS, 0.9 V: Horowitz, ISSCC 2014.
    Asic45,
    /// 7 nm: the BitNet b1.58 paper's arithmetic table (memory figures borrowed from 45 nm).
    Asic7,
    /// Lattice iCE40 UP5K: bench measurements of the core rail.
    Ice40Up5k,
}

impl Tech {
    pub const ALL: [Tech; 3] = [Tech::Asic45, Tech::Asic7, Tech::Ice40Up5k];

    pub fn name(self) -> &'static str {
        match self {
            Tech::Asic45 => "asic-45nm",
            Tech::Asic7 => "asic-7nm",
            Tech::Ice40Up5k => "ice40-up5k",
        }
    }

    pub fn parse(s: &str) -> Option<Tech> {
        Tech::ALL.into_iter().find(|t| t.name() == s)
    }

    pub fn table(self) -> &'static Table {
        match self {
            Tech::Asic45 => &ASIC_45NM,
            Tech::Asic7 => &ASIC_7NM,
            Tech::Ice40Up5k => &ICE40_UP5K,
        }
    }
}

impl std::fmt::Display for Tech {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One constant of a table: its value (`None`: not known), unit and source.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Figure {
    pub value: Option<f64>,
    pub unit: &'static str,
    pub source: &'static str,
    /// Taken from another table because this one has no figure (the source says which).
    pub borrowed: bool,
}

const fn pj(v: f64, source: &'static str) -> Figure {
    Figure { value: Some(v), unit: "pJ", source, borrowed: false }
}
const fn borrowed_pj(v: f64, source: &'static str) -> Figure {
    Figure { value: Some(v), unit: "pJ", source, borrowed: true }
}
const fn unknown(source: &'static str) -> Figure {
    Figure { value: None, unit: "pJ", source, borrowed: false }
}

/// A technology's per-event energies. ASIC tables give operations and memory accesses;
/// the FPGA table gives clock, static power and energy per bit toggle instead.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Table {
    pub tech: Tech,
    /// Citation of the table as a whole.
    pub source: &'static str,
    pub int8_add: Figure,
    pub int16_add: Figure,
    pub int32_add: Figure,
    pub int8_mult: Figure,
    pub fp16_add: Figure,
    pub fp16_mult: Figure,
    pub fp32_add: Figure,
    pub fp32_mult: Figure,
    /// SRAM read of 64 bits, by array size in bytes (ascending).
    pub sram_read_64b: [(u64, Figure); 3],
    /// DRAM read of 64 bits: the low and high end of the published range.
    pub dram_read_64b: (Figure, Figure),
    /// Energy per bit change of a logic cell (FPGA).
    pub toggle: Figure,
    /// Clock network (and oscillator) energy per cycle (FPGA).
    pub clock_cycle: Figure,
    /// Static power in microwatts (`unit` "uW").
    pub static_uw: Figure,
}

/// M. Horowitz, "Computing's energy problem (and what we can do about it)", ISSCC 2014,
/// slide "Rough energy costs for various operations", 45 nm, 0.9 V.
pub const HOROWITZ: &str = "Horowitz, ISSCC 2014 (45 nm, 0.9 V)";
/// S. Ma et al., "The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits",
/// arXiv 2310.11453, Table 2 (7 nm arithmetic energies).
pub const BITNET_7NM: &str = "arXiv 2310.11453 Table 2 (7 nm)";
/// github.com/tinyvision-ai-inc/ice40_power README: Joulescope JS110 measurements of an
/// iCE40 UltraPlus breakout board, core rail at 1.219 V.
pub const ICE40_POWER: &str = "tinyvision-ai-inc/ice40_power (iCE40 UP5K bench, core 1.219 V)";

const H_SRAM_BORROWED: &str = "Horowitz, ISSCC 2014 (45 nm figure, borrowed: the 7 nm table has no memory energies)";
const H_DRAM_BORROWED_7: &str = "Horowitz, ISSCC 2014 (45 nm figure, borrowed: the 7 nm table has no memory energies)";
const H_DRAM_BORROWED_FPGA: &str =
    "Horowitz, ISSCC 2014 (45 nm DRAM figure, borrowed: off-chip memory is outside the FPGA and the iCE40 measurements do not cover it)";
const NO_FPGA_OPS: &str = "not known: no per-operation figures for the iCE40 (its energy is modelled per bit toggle)";
const NO_ASIC_TOGGLE: &str = "not known: the table gives operations and memory accesses, not energy per toggle";
const NO_ASIC_CLOCK: &str = "not known: the table has no clock-network figure";
const NO_ASIC_STATIC: &str = "not known: the table has no leakage figure";

pub const ASIC_45NM: Table = Table {
    tech: Tech::Asic45,
    source: HOROWITZ,
    int8_add: pj(0.03, HOROWITZ),
    int16_add: pj(0.05, HOROWITZ),
    int32_add: pj(0.1, HOROWITZ),
    int8_mult: pj(0.2, HOROWITZ),
    fp16_add: pj(0.4, HOROWITZ),
    fp16_mult: pj(1.1, HOROWITZ),
    fp32_add: pj(0.9, HOROWITZ),
    fp32_mult: pj(3.7, HOROWITZ),
    sram_read_64b: [(8 << 10, pj(10.0, HOROWITZ)), (32 << 10, pj(20.0, HOROWITZ)), (1 << 20, pj(100.0, HOROWITZ))],
    dram_read_64b: (pj(1300.0, HOROWITZ), pj(2600.0, HOROWITZ)),
    toggle: unknown(NO_ASIC_TOGGLE),
    clock_cycle: unknown(NO_ASIC_CLOCK),
    static_uw: Figure { value: None, unit: "uW", source: NO_ASIC_STATIC, borrowed: false },
};

pub const ASIC_7NM: Table = Table {
    tech: Tech::Asic7,
    source: BITNET_7NM,
    int8_add: pj(0.007, BITNET_7NM),
    int16_add: unknown("not known: arXiv 2310.11453 Table 2 gives INT8 only"),
    int32_add: unknown("not known: arXiv 2310.11453 Table 2 gives INT8 only"),
    int8_mult: pj(0.07, BITNET_7NM),
    fp16_add: pj(0.16, BITNET_7NM),
    fp16_mult: pj(0.34, BITNET_7NM),
    fp32_add: pj(0.38, BITNET_7NM),
    fp32_mult: pj(1.31, BITNET_7NM),
    sram_read_64b: [
        (8 << 10, borrowed_pj(10.0, H_SRAM_BORROWED)),
        (32 << 10, borrowed_pj(20.0, H_SRAM_BORROWED)),
        (1 << 20, borrowed_pj(100.0, H_SRAM_BORROWED)),
    ],
    dram_read_64b: (borrowed_pj(1300.0, H_DRAM_BORROWED_7), borrowed_pj(2600.0, H_DRAM_BORROWED_7)),
    toggle: unknown(NO_ASIC_TOGGLE),
    clock_cycle: unknown(NO_ASIC_CLOCK),
    static_uw: Figure { value: None, unit: "uW", source: NO_ASIC_STATIC, borrowed: false },
};

const NO_BRAM: &str = "not known: the iCE40 measurements do not cover block RAM (listed there as future work)";

/// iCE40 UP5K, derived from the README's table (core rail, 1.219 V):
/// - static: blank design 85.6 uA x 1.219 V = 104.3 uW;
/// - clock: HFOSC 48 MHz vs 24 MHz with the same 28-LC counter, (2184 - 1162) uA / 24 MHz
///   = 42.58 uA/MHz x 1.219 V = 51.9 pJ per cycle (clock network and oscillator);
/// - toggle: 12 MHz external clock, 8 vs 1 28-bit counters (228 vs 32 LCs), 641.3 - 613.5 =
///   27.8 uA for 7 more counters of ~2 bit changes per cycle each: 27.8 uA x 1.219 V / 12 MHz
///   / 14 = 0.20 pJ per bit change (an upper bound: it includes the added cells' clock load;
///   the same step is ~14 fJ per logic cell per cycle).
pub const ICE40_UP5K: Table = Table {
    tech: Tech::Ice40Up5k,
    source: ICE40_POWER,
    int8_add: unknown(NO_FPGA_OPS),
    int16_add: unknown(NO_FPGA_OPS),
    int32_add: unknown(NO_FPGA_OPS),
    int8_mult: unknown(NO_FPGA_OPS),
    fp16_add: unknown(NO_FPGA_OPS),
    fp16_mult: unknown(NO_FPGA_OPS),
    fp32_add: unknown(NO_FPGA_OPS),
    fp32_mult: unknown(NO_FPGA_OPS),
    sram_read_64b: [(8 << 10, unknown(NO_BRAM)), (32 << 10, unknown(NO_BRAM)), (1 << 20, unknown(NO_BRAM))],
    dram_read_64b: (borrowed_pj(1300.0, H_DRAM_BORROWED_FPGA), borrowed_pj(2600.0, H_DRAM_BORROWED_FPGA)),
    toggle: pj(0.2, ICE40_POWER),
    clock_cycle: pj(51.9, ICE40_POWER),
    static_uw: Figure { value: Some(104.3), unit: "uW", source: ICE40_POWER, borrowed: false },
};

/// Bit-change probability assumed per data bit per event in the FPGA's counted-events
/// estimate (random data: each bit changes with probability 1/2). The toggle-based estimate
/// replaces it with measured activity.
pub const ACTIVITY: f64 = 0.5;

impl Table {
    pub fn name(&self) -> &'static str {
        self.tech.name()
    }

    /// The energy of one add of `bits`-bit operands and how it was obtained: the table's figure
    /// at 8/16/32 bits, linear in width between two of them, or proportional to width
    /// beyond the known ones (a ripple adder's energy grows linearly with its width).
    pub fn add_pj(&self, bits: u32) -> (Option<f64>, String) {
        let pts: Vec<(u32, f64)> = [(8, self.int8_add), (16, self.int16_add), (32, self.int32_add)]
            .into_iter()
            .filter_map(|(b, f)| f.value.map(|v| (b, v)))
            .collect();
        let (Some(&first), Some(&last)) = (pts.first(), pts.last()) else {
            return (None, self.int8_add.source.to_string());
        };
        if let Some(&(_, v)) = pts.iter().find(|(b, _)| *b == bits) {
            return (Some(v), format!("INT{bits} add, {}", self.int8_add.source));
        }
        for w in pts.windows(2) {
            let ((b0, v0), (b1, v1)) = (w[0], w[1]);
            if b0 < bits && bits < b1 {
                let v = v0 + (v1 - v0) * (bits - b0) as f64 / (b1 - b0) as f64;
                return (Some(v), format!("INT{b0}..INT{b1} add interpolated to {bits} bits, {}", self.int8_add.source));
            }
        }
        let (b, v) = if bits < first.0 { first } else { last };
        (Some(v * bits as f64 / b as f64), format!("INT{b} add x {bits}/{b} (width-scaled), {}", self.int8_add.source))
    }

    /// The SRAM read figure for an array of `bytes`: the smallest published size that is at
    /// least as large (an upper bound for smaller arrays), or the largest one (a lower bound)
    /// beyond 1 MB. Returns the figure and the bracket's size in bytes.
    pub fn sram_for(&self, bytes: u64) -> (Figure, u64) {
        let t = &self.sram_read_64b;
        t.iter().find(|(size, _)| *size >= bytes).map(|(s, f)| (*f, *s)).unwrap_or((t[2].1, t[2].0))
    }

    /// The BitNet paper's per-operation comparison: FP16 multiply + add vs one INT8 add
    /// (the cost of a ternary MAC). `None` where the table lacks a figure.
    pub fn fp16_mac_per_ternary_add(&self) -> Option<f64> {
        Some((self.fp16_mult.value? + self.fp16_add.value?) / self.int8_add.value?)
    }
}

/// Which observations an estimate came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// Event counters x per-event energies (FPGA: data bits x assumed activity).
    CountedEvents,
    /// Measured bit changes of every net (Verilator toggle coverage) x energy per toggle.
    Toggles,
}

impl Basis {
    pub fn name(self) -> &'static str {
        match self {
            Basis::CountedEvents => "counted events",
            Basis::Toggles => "toggles",
        }
    }
}

/// One row of the breakdown.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Line {
    /// Event class (see the module table); stable, used as the JSON key.
    pub class: &'static str,
    /// The event count, in `unit`.
    pub events: u64,
    pub unit: &'static str,
    /// Energy per event; `None`: not known.
    pub pj_each: Option<f64>,
    /// `events * pj_each` in joules; `None`: not known.
    pub joules: Option<f64>,
    /// Energy spent on the accelerator die (not off-chip memory).
    pub on_chip: bool,
    /// Where `pj_each` comes from (or why it is not known).
    pub source: String,
}

/// The same MACs done by conventional arithmetic, from the same table and the same counts.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Baselines {
    /// MACs the array performed (issue * R * L); per token once `Estimate::scaled`.
    pub macs: u64,
    /// The paper's per-operation ratio: (FP16 mult + FP16 add) / INT8 add.
    pub per_op_fp16_vs_ternary: f64,
    /// (INT8 mult + INT8 add) / INT8 add.
    pub per_op_int8_vs_ternary: f64,
    /// This design's ternary arithmetic (`tree_add` + `acc_add`), joules.
    pub ternary_arith_j: f64,
    /// macs x (FP16 mult + FP16 add), joules.
    pub fp16_mac_arith_j: f64,
    /// macs x (INT8 mult + INT8 add), joules.
    pub int8_mac_arith_j: f64,
    pub arith_ratio_fp16: f64,
    pub arith_ratio_int8: f64,
    /// The whole estimate with the ternary arithmetic replaced by FP16 MACs (same events).
    pub whole_fp16_j: f64,
    pub whole_ratio_fp16: f64,
    /// ... and with INT8 MACs.
    pub whole_int8_j: f64,
    pub whole_ratio_int8: f64,
    /// FP16 MACs and 16-bit weights: weight traffic (`dram_weights`, `wmem_*`) x 8.
    pub whole_fp16_weights16_j: f64,
    pub whole_ratio_fp16_weights16: f64,
}

/// A class of events whose energy the table does not give.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Unknown {
    pub class: &'static str,
    /// Its event count (`None`: not counted either).
    pub events: Option<f64>,
    pub unit: &'static str,
    pub why: String,
}

impl std::fmt::Display for Unknown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.events {
            Some(n) => write!(f, "{}: {n:.0} {}, energy {}", self.class, self.unit, self.why),
            None => write!(f, "{}: {}", self.class, self.why),
        }
    }
}

/// An energy estimate for a run (divide by tokens with `scaled`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Estimate {
    /// Always true: these are estimates, not measurements.
    pub estimate: bool,
    pub tech: &'static str,
    /// The table's citation.
    pub source: &'static str,
    pub basis: Basis,
    pub clock_hz: f64,
    pub cycles: u64,
    pub seconds: f64,
    pub lines: Vec<Line>,
    /// Sum of the known lines (DRAM at the low end of its range), joules.
    pub total_j: f64,
    /// The same with DRAM at the high end of its range.
    pub total_hi_j: f64,
    pub on_chip_j: f64,
    pub off_chip_j: f64,
    /// What the estimate leaves out, with the event count, so its size is visible.
    pub unknowns: Vec<Unknown>,
    /// Modelling choices a reader must know.
    pub assumptions: Vec<String>,
    pub baselines: Option<Baselines>,
}

impl Estimate {
    /// (class, joules) for every known line.
    pub fn breakdown(&self) -> Vec<(&'static str, f64)> {
        self.lines.iter().filter_map(|l| l.joules.map(|j| (l.class, j))).collect()
    }

    pub fn line(&self, class: &str) -> Option<&Line> {
        self.lines.iter().find(|l| l.class == class)
    }

    /// Every energy multiplied by `k` (e.g. 1 / tokens); counts and ratios unchanged.
    pub fn scaled(&self, k: f64) -> Estimate {
        let mut e = self.clone();
        for l in &mut e.lines {
            l.joules = l.joules.map(|j| j * k);
        }
        e.total_j *= k;
        e.total_hi_j *= k;
        e.on_chip_j *= k;
        e.off_chip_j *= k;
        for u in &mut e.unknowns {
            u.events = u.events.map(|n| n * k);
        }
        if let Some(b) = &mut e.baselines {
            b.macs = (b.macs as f64 * k).round() as u64;
            b.ternary_arith_j *= k;
            b.fp16_mac_arith_j *= k;
            b.int8_mac_arith_j *= k;
            b.whole_fp16_j *= k;
            b.whole_int8_j *= k;
            b.whole_fp16_weights16_j *= k;
        }
        e
    }
}

/// Physical event counts from raw counters (the first column of the module table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Events {
    pub cycles: u64,
    pub issue: u64,
    pub acc_updates: u64,
    pub weight_bits_loaded: u64,
    pub weight_bits_read: u64,
    pub act_bits_written: u64,
    pub act_bits_read: u64,
    pub in_beats: u64,
    pub out_beats: u64,
    pub link_bits: u64,
    pub out_bits: u64,
    pub tree_adds: u64,
    pub acc_adds: u64,
    pub acc_bits_written: u64,
    pub pipe_reg_bits: u64,
    pub macs: u64,
}

impl Events {
    pub fn new(a: &Accel, c: &Counters) -> Events {
        let (r, l) = (a.cfg.rows as u64, a.cfg.lanes as u64);
        let h = a.cfg.host_bits as u64;
        let (ww, xw) = (a.wword_bits as u64, a.xword_bits as u64);
        let in_beats = c.input_beats(a);
        Events {
            cycles: c.cycles,
            issue: c.issue,
            acc_updates: c.acc_updates,
            weight_bits_loaded: c.wwords * ww,
            weight_bits_read: c.issue * r * ww,
            act_bits_written: c.xwords * xw,
            act_bits_read: c.issue * xw,
            in_beats,
            out_beats: c.out_beats,
            link_bits: (in_beats + c.out_beats) * h,
            out_bits: c.out_beats * h,
            tree_adds: c.issue * adds_per_issue(a),
            acc_adds: c.acc_updates * r,
            acc_bits_written: c.acc_updates * r * a.cfg.acc_bits as u64,
            pipe_reg_bits: c.issue * (r * ww + xw),
            macs: c.issue * r * l,
        }
    }
}

/// The adds of one row per issue, as (operand bits, count). A tree row: a balanced binary
/// tree over L terms of 9 bits (sign-extended int8, negated), level k adding L/2^k pairs of
/// (8 + k)-bit operands; the RTL's popcount(neg) carry-in term is not counted. A pair chain
/// (`Accel::pair_chain`): one add per pair, stage k as wide as `pair_stage_bits(k)`.
pub fn tree_adds(a: &Accel) -> Vec<(u32, u64)> {
    let l = a.cfg.lanes as u64;
    if a.pair_chain {
        let mut adds: Vec<(u32, u64)> = Vec::new();
        for k in 0..a.cfg.lanes / 2 {
            match adds.last_mut() {
                Some((w, n)) if *w == pair_stage_bits(k) => *n += 1,
                _ => adds.push((pair_stage_bits(k), 1)),
            }
        }
        return adds;
    }
    let levels = a.cfg.lanes.trailing_zeros();
    (1..=levels).map(|k| (8 + k, l >> k)).collect()
}

/// The adds the whole array shares per issue, as (operand bits, count): a pair chain array's
/// pair sums `a0 + a1` and `a0 - a1` (`PAIR_VALUE_BITS`) of its L/2 pairs; none for tree rows.
pub fn shared_adds(a: &Accel) -> Vec<(u32, u64)> {
    if a.pair_chain { vec![(PAIR_VALUE_BITS, a.cfg.lanes as u64)] } else { Vec::new() }
}

/// Logic cells of one row whose outputs carry data besides its adders, per issue: a pair
/// chain's selects, two LUT4s for each of a pair's `PAIR_VALUE_BITS` value bits (`row_tree::pair_chain`).
/// Counted on the FPGA table only: the ASIC tables have no mux energy.
pub fn select_cells(a: &Accel) -> u64 {
    if a.pair_chain { 2 * PAIR_VALUE_BITS as u64 * (a.cfg.lanes as u64 / 2) } else { 0 }
}

/// The array's adds per issue: every row's and the shared ones.
fn adds_per_issue(a: &Accel) -> u64 {
    let count = |v: Vec<(u32, u64)>| v.iter().map(|(_, n)| n).sum::<u64>();
    a.cfg.rows as u64 * count(tree_adds(a)) + count(shared_adds(a))
}

fn bytes_of(depth: u32, bits: u32) -> u64 {
    depth as u64 * bits as u64 / 8
}

struct Builder {
    lines: Vec<Line>,
    unknowns: Vec<Unknown>,
    assumptions: Vec<String>,
}

impl Builder {
    fn push(&mut self, class: &'static str, events: u64, unit: &'static str, pj_each: Option<f64>, on_chip: bool, source: String) {
        if pj_each.is_none() && events > 0 {
            self.unknowns.push(Unknown { class, events: Some(events as f64), unit, why: source.clone() });
        }
        self.lines.push(Line { class, events, unit, pj_each, joules: pj_each.map(|p| p * events as f64 * 1e-12), on_chip, source });
    }
}

fn per_bit(f: Figure, bits: f64) -> Option<f64> {
    f.value.map(|v| v / bits)
}

fn finish(tech: Tech, basis: Basis, ev: &Events, clock_hz: f64, b: Builder, dram_hi_factor: f64, baselines: Option<Baselines>) -> Estimate {
    let total_j: f64 = b.lines.iter().filter_map(|l| l.joules).sum();
    let dram_j = b.lines.iter().find(|l| l.class == "dram_weights").and_then(|l| l.joules).unwrap_or(0.0);
    let on_chip_j = b.lines.iter().filter(|l| l.on_chip).filter_map(|l| l.joules).sum();
    Estimate {
        estimate: true,
        tech: tech.name(),
        source: tech.table().source,
        basis,
        clock_hz,
        cycles: ev.cycles,
        seconds: ev.cycles as f64 / clock_hz,
        total_j,
        total_hi_j: total_j + dram_j * (dram_hi_factor - 1.0),
        on_chip_j,
        off_chip_j: total_j - on_chip_j,
        lines: b.lines,
        unknowns: b.unknowns,
        assumptions: b.assumptions,
        baselines,
    }
}

/// Energy of a run from its counters, on `tech`, at `clock_hz` (static energy needs time).
pub fn estimate(a: &Accel, c: &Counters, clock_hz: f64, tech: Tech) -> Estimate {
    let t = tech.table();
    let ev = Events::new(a, c);
    let cfg = &a.cfg;
    let mut b = Builder { lines: Vec::new(), unknowns: Vec::new(), assumptions: Vec::new() };
    if a.pair_chain {
        b.assumptions.push(format!(
            "pair-chain rows (Accel::pair_chain): tree_add counts each row's {} chain adds and the array's {} shared pair sums; the selects ({} logic cells a row) count as logic cells on the FPGA table and are not known on an ASIC table (no mux energy)",
            cfg.lanes / 2,
            cfg.lanes,
            select_cells(a)
        ));
    }
    let (dram_lo, dram_hi) = t.dram_read_64b;
    b.push(
        "dram_weights",
        ev.weight_bits_loaded,
        "bits",
        per_bit(dram_lo, 64.0),
        false,
        format!(
            "DRAM read {:.0}-{:.0} pJ / 64 bits (low end; the high end is in total_hi_j), {}",
            dram_lo.value.unwrap_or(f64::NAN),
            dram_hi.value.unwrap_or(f64::NAN),
            dram_lo.source
        ),
    );
    let dram_hi_factor = match (dram_lo.value, dram_hi.value) {
        (Some(lo), Some(hi)) => hi / lo,
        _ => 1.0,
    };
    let wbank = bytes_of(cfg.wmem_depth, a.wword_bits);
    let abuf = bytes_of(cfg.amem_depth, a.xword_bits);
    let baselines = match t.toggle.value {
        None => {
            // ASIC: operations and memory accesses
            b.push("link_io", ev.link_bits, "bits", None, true, "not known: the table has no I/O (pad / link) energy".into());
            let (wf, wsize) = t.sram_for(wbank);
            let (af, asize) = t.sram_for(abuf);
            let sram_src = |f: Figure, size: u64, have: u64| {
                format!(
                    "SRAM read {} pJ / 64 bits for {} KB arrays ({} of {} B: the {}), {}",
                    f.value.map_or("?".into(), |v| format!("{v}")),
                    size >> 10,
                    if have <= size { "bracket above an array" } else { "largest published size, below an array" },
                    have,
                    if have <= size { "upper bound" } else { "lower bound" },
                    f.source
                )
            };
            b.push(
                "wmem_write",
                ev.weight_bits_loaded,
                "bits",
                per_bit(wf, 64.0),
                true,
                format!("write taken = read; {}", sram_src(wf, wsize, wbank)),
            );
            b.push("wmem_read", ev.weight_bits_read, "bits", per_bit(wf, 64.0), true, sram_src(wf, wsize, wbank));
            b.push(
                "amem_write",
                ev.act_bits_written,
                "bits",
                per_bit(af, 64.0),
                true,
                format!("write taken = read; {}", sram_src(af, asize, abuf)),
            );
            b.push("amem_read", ev.act_bits_read, "bits", per_bit(af, 64.0), true, sram_src(af, asize, abuf));
            // the rows' adds: a weighted mean over their widths (and the shared pair sums')
            let pj_of = |adds: &[(u32, u64)]| -> Option<f64> { adds.iter().map(|&(w, n)| t.add_pj(w).0.map(|e| e * n as f64)).sum() };
            let widths = |adds: &[(u32, u64)]| adds.iter().map(|(w, n)| format!("{n}x{w}b")).collect::<Vec<_>>().join(" + ");
            let (row, shared) = (tree_adds(a), shared_adds(a));
            let pj_issue = pj_of(&row).zip(pj_of(&shared)).map(|(r, s)| r * cfg.rows as f64 + s);
            let shared_src = if shared.is_empty() { String::new() } else { format!(", shared per issue {}", widths(&shared)) };
            b.push(
                "tree_add",
                ev.tree_adds,
                "adds",
                pj_issue.map(|e| e / adds_per_issue(a) as f64),
                true,
                format!("per row and issue {}{shared_src}; {}", widths(&row), t.add_pj(8 + 1).1),
            );
            let (acc_pj, acc_src) = t.add_pj(cfg.acc_bits);
            b.push("acc_add", ev.acc_adds, "adds", acc_pj, true, acc_src);
            b.push("acc_write", ev.acc_bits_written, "bits", None, true, "not known: the table has no register energy".into());
            b.push("pipe_regs", ev.pipe_reg_bits, "bits", None, true, "not known: the table has no register energy".into());
            b.push("output", ev.out_bits, "bits", None, true, "not known: the table has no register energy".into());
            b.push("clock_busy", ev.issue, "cycles", None, true, t.clock_cycle.source.into());
            b.push("clock_idle", ev.cycles - ev.issue, "cycles", None, true, t.clock_cycle.source.into());
            b.push("static", ev.cycles, "cycles", None, true, t.static_uw.source.into());
            b.assumptions.push("SRAM writes cost the same as reads (the table gives reads only)".into());
            b.assumptions.push(format!(
                "SRAM figure by array size: weight bank {wbank} B -> {} KB figure, activation buffer {abuf} B -> {} KB figure",
                wsize >> 10,
                asize >> 10
            ));
            b.assumptions.push(
                "reads are counted per issued token (a read enable gated by issue); the RTL's RAMs are enabled on every advancing cycle"
                    .into(),
            );
            if t.sram_read_64b[0].1.borrowed {
                b.assumptions.push(format!("memory energies are 45 nm figures (Horowitz) labelled as borrowed: {} has none", t.source));
            }
            baselines_for(t, &ev, &b.lines)
        }
        Some(tog) => {
            // FPGA, counted events: each event's data bits change with probability ACTIVITY
            let e = tog * ACTIVITY;
            let src = |what: &str| format!("{what} x {ACTIVITY} activity (assumed) x {tog} pJ per toggle, {}", t.toggle.source);
            b.push("link_io", ev.link_bits, "bits", Some(e), true, src("link data bits in + out (nets only; I/O bank energy not known)"));
            // a word's last beat goes from the pins straight to the write port (the link_io
            // nets); the earlier beats pass the beat-assembly register
            let wasm = c.wwords * (a.beats_per_wword as u64 - 1) * cfg.host_bits as u64;
            let xasm = c.xwords * (a.beats_per_xword as u64 - 1) * cfg.host_bits as u64;
            b.push(
                "wmem_write",
                wasm,
                "bits",
                Some(e),
                true,
                src("beat-assembly register bits of weight words (the last beat is the link_io nets; block RAM array: not known)"),
            );
            b.push("wmem_read", ev.weight_bits_read, "bits", Some(e), true, src("read-port data bits (block RAM array: not known)"));
            b.push(
                "amem_write",
                xasm,
                "bits",
                Some(e),
                true,
                src("beat-assembly register bits of activation words (the last beat is the link_io nets; block RAM array: not known)"),
            );
            b.push("amem_read", ev.act_bits_read, "bits", Some(e), true, src("read-port data bits (block RAM array: not known)"));
            let bits = |adds: Vec<(u32, u64)>| adds.iter().map(|(w, n)| *w as u64 * n).sum::<u64>();
            let (bits_row, bits_shared, sel) = (bits(tree_adds(a)), bits(shared_adds(a)), select_cells(a));
            let cells_issue = (bits_row + sel) * cfg.rows as u64 + bits_shared;
            let what = if a.pair_chain {
                format!(
                    "{bits_row} adder bits and {sel} select cells per row, {bits_shared} shared pair-sum bits, per issue (one logic cell each)"
                )
            } else {
                format!("{bits_row} adder bits per row and issue (one logic cell each)")
            };
            b.push("tree_add", ev.tree_adds, "adds", Some(e * cells_issue as f64 / adds_per_issue(a) as f64), true, src(&what));
            b.push(
                "acc_add",
                ev.acc_adds,
                "adds",
                Some(e * cfg.acc_bits as f64),
                true,
                src(&format!("{} accumulator bits per add", cfg.acc_bits)),
            );
            b.push(
                "acc_write",
                ev.acc_bits_written,
                "bits",
                Some(0.0),
                true,
                "included in acc_add: an adder bit and its flip-flop share one iCE40 logic cell".into(),
            );
            b.push("pipe_regs", ev.pipe_reg_bits, "bits", Some(e), true, src("pipeline register bits"));
            b.push("output", ev.out_bits, "bits", Some(e), true, src("result bits sent"));
            let clk = t.clock_cycle.value;
            b.push("clock_busy", ev.issue, "cycles", clk, true, format!("clock network + oscillator, {}", t.clock_cycle.source));
            b.push(
                "clock_idle",
                ev.cycles - ev.issue,
                "cycles",
                clk,
                true,
                format!("clock network + oscillator, {}", t.clock_cycle.source),
            );
            // static: uW x s = 1e-6 J; per cycle in pJ = uW / f * 1e6
            let st = t.static_uw.value.map(|uw| uw / clock_hz * 1e6);
            b.push(
                "static",
                ev.cycles,
                "cycles",
                st,
                true,
                format!("{} uW at {} MHz, {}", t.static_uw.value.unwrap_or(f64::NAN), clock_hz / 1e6, t.static_uw.source),
            );
            fpga_unknowns(&mut b, &ev);
            b.unknowns.push(Unknown {
                class: "control",
                events: None,
                unit: "",
                why: "sequencer control and event counters: no counter measures their activity (see the toggle-based estimate)".into(),
            });
            b.assumptions.push(format!("each data bit of a counted event changes with probability {ACTIVITY}"));
            b.assumptions.push(
                "the clock figure was measured on a 28-cell design: a larger design's clock tree costs more (not known how much)".into(),
            );
            None
        }
    };
    finish(tech, Basis::CountedEvents, &ev, clock_hz, b, dram_hi_factor, baselines)
}

fn fpga_unknowns(b: &mut Builder, ev: &Events) {
    b.unknowns.push(Unknown {
        class: "bram_array",
        events: Some((ev.weight_bits_read + ev.act_bits_read + ev.weight_bits_loaded + ev.act_bits_written) as f64),
        unit: "bits read or written",
        why: NO_BRAM.into(),
    });
    b.unknowns.push(Unknown {
        class: "io_banks",
        events: Some(ev.link_bits as f64),
        unit: "link bits",
        why: "not known: the iCE40 measurements do not cover I/O banks driving a load".into(),
    });
}

fn baselines_for(t: &Table, ev: &Events, lines: &[Line]) -> Option<Baselines> {
    let j = |c: &str| lines.iter().find(|l| l.class == c).and_then(|l| l.joules);
    let ternary = j("tree_add")? + j("acc_add")?;
    let fp16_mac = t.fp16_mult.value? + t.fp16_add.value?;
    let int8_mac = t.int8_mult.value? + t.int8_add.value?;
    let add8 = t.int8_add.value?;
    let total: f64 = lines.iter().filter_map(|l| l.joules).sum();
    let fp16 = ev.macs as f64 * fp16_mac * 1e-12;
    let int8 = ev.macs as f64 * int8_mac * 1e-12;
    let weights: f64 = ["dram_weights", "wmem_write", "wmem_read"].iter().filter_map(|c| j(c)).sum();
    let whole_fp16 = total - ternary + fp16;
    let whole_int8 = total - ternary + int8;
    let whole_fp16_w16 = whole_fp16 + weights * 7.0;
    Some(Baselines {
        macs: ev.macs,
        per_op_fp16_vs_ternary: fp16_mac / add8,
        per_op_int8_vs_ternary: int8_mac / add8,
        ternary_arith_j: ternary,
        fp16_mac_arith_j: fp16,
        int8_mac_arith_j: int8,
        arith_ratio_fp16: fp16 / ternary,
        arith_ratio_int8: int8 / ternary,
        whole_fp16_j: whole_fp16,
        whole_ratio_fp16: whole_fp16 / total,
        whole_int8_j: whole_int8,
        whole_ratio_int8: whole_int8 / total,
        whole_fp16_weights16_j: whole_fp16_w16,
        whole_ratio_fp16_weights16: whole_fp16_w16 / total,
    })
}

/// The classes a toggle-based estimate attributes nets to (see `estimate_toggles`).
pub const TOGGLE_CLASSES: [&str; 11] =
    ["link_io", "wmem_write", "wmem_read", "amem_write", "amem_read", "tree_add", "acc_add", "pipe_regs", "output", "control", "counters"];

/// Energy of a run from measured bit changes: `toggles` gives (class, bit changes) for the
/// nets of each class (every net counted once, clock excluded); the clock, static power and
/// off-chip lines are the same as the counted estimate's. Classes not in `TOGGLE_CLASSES`
/// are added as they come.
pub fn estimate_toggles(a: &Accel, c: &Counters, toggles: &[(&'static str, u64)], clock_hz: f64, tech: Tech) -> Estimate {
    let counted = estimate(a, c, clock_hz, tech);
    let t = tech.table();
    let ev = Events::new(a, c);
    let mut b = Builder { lines: Vec::new(), unknowns: Vec::new(), assumptions: Vec::new() };
    let mut classes: Vec<&'static str> = TOGGLE_CLASSES.to_vec();
    for (cl, _) in toggles {
        if !classes.contains(cl) {
            classes.push(cl);
        }
    }
    for l in &counted.lines {
        if l.class == "dram_weights" {
            b.lines.push(l.clone());
        }
    }
    for cl in classes {
        let n: u64 = toggles.iter().filter(|(k, _)| *k == cl).map(|(_, n)| n).sum();
        b.push(
            cl,
            n,
            "toggles",
            t.toggle.value,
            true,
            format!("measured bit changes x {} pJ per toggle, {}", t.toggle.value.unwrap_or(f64::NAN), t.toggle.source),
        );
    }
    for l in &counted.lines {
        if matches!(l.class, "clock_busy" | "clock_idle" | "static") {
            if l.joules.is_none() && l.events > 0 {
                b.unknowns.push(Unknown { class: l.class, events: Some(l.events as f64), unit: l.unit, why: l.source.clone() });
            }
            b.lines.push(l.clone());
        }
    }
    if t.toggle.value.is_some() {
        fpga_unknowns(&mut b, &ev);
        b.assumptions.push("every net's bit changes are counted once (module input ports and pure wiring aliases skipped), clock nets excluded (the clock line covers them)".into());
        b.assumptions.push("glitches inside combinational logic are not seen by a cycle-based simulator".into());
    }
    let (lo, hi) = t.dram_read_64b;
    let f = match (lo.value, hi.value) {
        (Some(l), Some(h)) => h / l,
        _ => 1.0,
    };
    finish(tech, Basis::Toggles, &ev, clock_hz, b, f, None)
}

/// Every constant of every table as a Markdown table (`docs/energy.md` embeds it; a test
/// keeps the two equal).
pub fn markdown_table() -> String {
    type Row = (&'static str, fn(&Table) -> Figure);
    let rows: [Row; 16] = [
        ("INT8 add", |t| t.int8_add),
        ("INT16 add", |t| t.int16_add),
        ("INT32 add", |t| t.int32_add),
        ("INT8 mult", |t| t.int8_mult),
        ("FP16 add", |t| t.fp16_add),
        ("FP16 mult", |t| t.fp16_mult),
        ("FP32 add", |t| t.fp32_add),
        ("FP32 mult", |t| t.fp32_mult),
        ("SRAM read 64 bit, 8 KB", |t| t.sram_read_64b[0].1),
        ("SRAM read 64 bit, 32 KB", |t| t.sram_read_64b[1].1),
        ("SRAM read 64 bit, 1 MB", |t| t.sram_read_64b[2].1),
        ("DRAM read 64 bit, low", |t| t.dram_read_64b.0),
        ("DRAM read 64 bit, high", |t| t.dram_read_64b.1),
        ("bit toggle", |t| t.toggle),
        ("clock, per cycle", |t| t.clock_cycle),
        ("static power", |t| t.static_uw),
    ];
    let mut s = String::from("| constant |");
    for t in Tech::ALL {
        s.push_str(&format!(" {} |", t.name()));
    }
    s.push_str("\n|---|");
    for _ in Tech::ALL {
        s.push_str("---|");
    }
    s.push('\n');
    for (name, get) in rows {
        s.push_str(&format!("| {name} |"));
        for t in Tech::ALL {
            let f = get(t.table());
            match f.value {
                Some(v) => s.push_str(&format!(" {v} {}{} |", f.unit, if f.borrowed { " (45 nm, borrowed)" } else { "" })),
                None => s.push_str(" not known |"),
            }
        }
        s.push('\n');
    }
    s.push_str(&format!("\nActivity assumed by the FPGA's counted-events estimate: {ACTIVITY} per data bit per event.\n"));
    s.push_str("\nTable sources:\n");
    for t in Tech::ALL {
        s.push_str(&format!("- `{}`: {}\n", t.name(), t.table().source));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TINY;
    use crate::golden::Golden;
    use crate::isa::{Insn, Status};
    use crate::stall::Stalls;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-30)
    }

    #[test]
    fn bitnet_71_4x() {
        let r = Tech::Asic7.table().fp16_mac_per_ternary_add().unwrap();
        assert_eq!(r, (0.34 + 0.16) / 0.007);
        assert_eq!(format!("{r:.1}"), "71.4");
        assert_eq!(Tech::Ice40Up5k.table().fp16_mac_per_ternary_add(), None);
    }

    #[test]
    fn add_widths() {
        let t = Tech::Asic45.table();
        assert_eq!(t.add_pj(8).0, Some(0.03));
        assert!(close(t.add_pj(12).0.unwrap(), 0.04));
        assert!(close(t.add_pj(24).0.unwrap(), 0.075));
        assert!(close(t.add_pj(4).0.unwrap(), 0.015));
        let t7 = Tech::Asic7.table();
        assert!(close(t7.add_pj(12).0.unwrap(), 0.0105));
        assert!(t7.add_pj(12).1.contains("width-scaled"));
        assert_eq!(Tech::Ice40Up5k.table().add_pj(8).0, None);
    }

    #[test]
    fn sram_brackets() {
        let t = Tech::Asic45.table();
        assert_eq!(t.sram_for(1024).0.value, Some(10.0));
        assert_eq!(t.sram_for(8192).0.value, Some(10.0));
        assert_eq!(t.sram_for(8193).0.value, Some(20.0));
        assert_eq!(t.sram_for(4 << 20).0.value, Some(100.0));
        assert!(Tech::Asic7.table().sram_for(1024).0.borrowed);
    }

    /// One MATVEC on `tiny` (R=4, L=16, H=32): a 4 x 16 layer, batch 1, built by hand.
    fn one_matvec() -> (crate::Accel, crate::golden::RunResult) {
        let a = TINY.validate().unwrap();
        let mut beats: Vec<u64> = Vec::new();
        beats.push(Insn::LoadX { addr: 0, count: 1 }.encode() as u64);
        // 16 activations 1..=16, 4 bytes per 32-bit beat, little-endian
        for b in 0..4u64 {
            beats.push((0..4u64).map(|i| (4 * b + i + 1) << (8 * i)).sum());
        }
        beats.push(Insn::SetLen { len: 1 }.encode() as u64);
        beats.push(Insn::LoadW { addr: 0, count: 1 }.encode() as u64);
        // row r: every lane code 2 (+1) for r even, 0 (-1) for r odd
        for r in 0..4 {
            beats.push(if r % 2 == 0 { 0xAAAA_AAAA } else { 0 });
        }
        beats.push(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }.encode() as u64);
        beats.push(Insn::Halt.encode() as u64);
        let r = Golden::new(&a).run(&beats, &Stalls::NONE, 10_000);
        assert_eq!(r.status, Status::Halted);
        assert_eq!(r.results, vec![136, -136, 136, -136]);
        (a, r)
    }

    #[test]
    fn one_matvec_counts_and_picojoules() {
        let (a, r) = one_matvec();
        let c = r.counters;
        // 5 instructions; 4 weight words (one per row); 1 activation word; 1 token; 4 result
        // beats (one int32 per 32-bit beat).
        assert_eq!((c.insns, c.wwords, c.xwords, c.issue, c.acc_updates, c.out_beats), (5, 4, 1, 1, 1, 4));
        assert_eq!((c.stall_in, c.stall_out, c.freeze), (0, 0, 0));
        // cycles by hand: LOADX fetch, exec, 4 beats (1-6); SETLEN fetch, exec (7-8); LOADW
        // fetch, exec, 4 beats (9-14); MATVEC fetch (15), exec accepted (16); HALT fetch (17)
        // while the token issues; the token passes the 3-stage pipeline and updates the
        // accumulators in 20; snapshot (21); 4 result beats (22-25); HALT drained (26).
        assert_eq!(c.cycles, 26);
        let ev = Events::new(&a, &c);
        assert_eq!(ev.weight_bits_loaded, 128);
        assert_eq!(ev.weight_bits_read, 128);
        assert_eq!(ev.act_bits_written, 128);
        assert_eq!(ev.act_bits_read, 128);
        assert_eq!(ev.in_beats, 5 + 4 + 4);
        assert_eq!(ev.tree_adds, 4 * 15);
        assert_eq!(ev.macs, 64);
        assert_eq!(tree_adds(&a), vec![(9, 8), (10, 4), (11, 2), (12, 1)]);

        let e = estimate(&a, &c, 50e6, Tech::Asic45);
        let pj = |cl: &str| e.line(cl).unwrap().joules.map(|j| j * 1e12);
        // DRAM 1300 pJ / 64 bits x 128 bits
        assert!(close(pj("dram_weights").unwrap(), 2600.0));
        // banks are 256 x 32 bits = 1 KB and the buffer 512 x 128 bits = 8 KB: both use the
        // 8 KB figure, 10 pJ / 64 bits x 128 bits
        for cl in ["wmem_write", "wmem_read", "amem_write", "amem_read"] {
            assert!(close(pj(cl).unwrap(), 20.0), "{cl}");
        }
        // per row 8 x 9b (0.0325) + 4 x 10b (0.035) + 2 x 11b (0.0375) + 1 x 12b (0.04)
        // = 0.515 pJ; x 4 rows
        assert!(close(pj("tree_add").unwrap(), 2.06));
        // 4 x 24-bit add: 0.05 + (0.1 - 0.05) x 8/16 = 0.075 pJ
        assert!(close(pj("acc_add").unwrap(), 0.3));
        assert_eq!(pj("acc_write"), None);
        assert!(close(e.total_j * 1e12, 2600.0 + 80.0 + 2.06 + 0.3));
        assert!(close(e.total_hi_j * 1e12, 5200.0 + 80.0 + 2.06 + 0.3));
        assert!(close(e.off_chip_j * 1e12, 2600.0));
        assert!(e.unknowns.iter().any(|u| u.to_string().starts_with("acc_write: 96 bits")));
        let bl = e.baselines.as_ref().unwrap();
        // 64 MACs x (1.1 + 0.4) pJ
        assert!(close(bl.fp16_mac_arith_j * 1e12, 96.0));
        assert!(close(bl.int8_mac_arith_j * 1e12, 64.0 * 0.23));
        assert!(close(bl.arith_ratio_fp16, 96.0 / 2.36));
        assert!(bl.whole_ratio_fp16 < 1.04, "memory dominates: {}", bl.whole_ratio_fp16);

        // 7 nm: arithmetic from the paper, memory borrowed
        let e7 = estimate(&a, &c, 50e6, Tech::Asic7);
        let pj7 = |cl: &str| e7.line(cl).unwrap().joules.unwrap() * 1e12;
        // per row: 0.007/8 x (8x9 + 4x10 + 2x11 + 1x12) = 0.007/8 x 146; acc 0.007 x 24/8
        assert!(close(pj7("tree_add"), 4.0 * 0.007 / 8.0 * 146.0));
        assert!(close(pj7("acc_add"), 4.0 * 0.007 * 3.0));
        assert!(close(pj7("dram_weights"), 2600.0));
        assert!(e7.assumptions.iter().any(|s| s.contains("borrowed")));
        let b7 = e7.baselines.unwrap();
        assert_eq!(b7.per_op_fp16_vs_ternary, (0.34 + 0.16) / 0.007);

        // iCE40 counted: toggles at 0.5 x 0.2 pJ = 0.1 pJ per data bit
        let cycles = c.cycles;
        let ef = estimate(&a, &c, 50e6, Tech::Ice40Up5k);
        let pjf = |cl: &str| ef.line(cl).unwrap().joules.unwrap() * 1e12;
        assert!(close(pjf("wmem_read"), 12.8));
        // writes: a 32-bit weight word is one beat (pins straight to the port: link_io);
        // a 128-bit activation word is 4 beats, 3 of which pass the assembly register
        assert_eq!(ef.line("wmem_write").unwrap().events, 0);
        assert!(close(pjf("amem_write"), 96.0 * 0.1));
        assert!(close(pjf("link_io"), (13.0 + 4.0) * 32.0 * 0.1));
        // 146 adder bits per row x 4 rows x 0.1 pJ
        assert!(close(pjf("tree_add"), 58.4));
        assert!(close(pjf("acc_add"), 4.0 * 24.0 * 0.1));
        assert!(close(pjf("clock_busy"), 51.9));
        assert!(close(pjf("clock_idle"), 51.9 * (cycles - 1) as f64));
        // 104.3 uW for cycles / 50 MHz
        assert!(close(pjf("static"), 104.3e-6 * cycles as f64 / 50e6 * 1e12));
        assert!(ef.baselines.is_none());
        assert!(ef.unknowns.iter().any(|u| u.class == "bram_array" && u.events == Some(4.0 * 128.0)));
    }

    /// Pair-chain rows (`ice40-up5k`) count their own adds, not a tree's: per row the 8
    /// chain stages (10, 11, 11, 12, 12, 12, 12, 13 bits), per array 16 shared pair sums of 9
    /// bits, and on the FPGA table the selects' 144 logic cells a row.
    #[test]
    fn pair_chain_rows_count_their_own_adds() {
        let a = crate::config::ICE40_UP5K.validate().unwrap();
        assert!(a.pair_chain);
        assert_eq!(tree_adds(&a), vec![(10, 1), (11, 2), (12, 4), (13, 1)]);
        assert_eq!(shared_adds(&a), vec![(9, 16)]);
        let c = Counters { cycles: 10, issue: 1, ..Counters::default() };
        let ev = Events::new(&a, &c);
        assert_eq!(ev.tree_adds, 8 * 8 + 16);
        // 45 nm: 9b 0.0325, 10b 0.035, 11b 0.0375, 12b 0.04, 13b 0.0425 pJ
        let e = estimate(&a, &c, 50e6, Tech::Asic45);
        let row = 0.035 + 2.0 * 0.0375 + 4.0 * 0.04 + 0.0425;
        assert!(close(e.line("tree_add").unwrap().joules.unwrap() * 1e12, 8.0 * row + 16.0 * 0.0325));
        // iCE40: (93 adder bits + 144 select cells) x 8 rows + 144 pair-sum bits, 0.1 pJ each
        let ef = estimate(&a, &c, 50e6, Tech::Ice40Up5k);
        assert!(close(ef.line("tree_add").unwrap().joules.unwrap() * 1e12, ((93.0 + 144.0) * 8.0 + 144.0) * 0.1));
        assert!(ef.assumptions.iter().any(|s| s.contains("8 chain adds and the array's 16 shared pair sums")));
        // tree rows are unchanged: `tiny` has no shared adds and no selects
        let t = crate::config::TINY.validate().unwrap();
        assert_eq!((shared_adds(&t), select_cells(&t)), (vec![], 0));
    }

    #[test]
    fn toggles_replace_activity() {
        let (a, r) = one_matvec();
        let tg = [("tree_add", 100u64), ("control", 50), ("wmem_read", 10)];
        let e = estimate_toggles(&a, &r.counters, &tg, 50e6, Tech::Ice40Up5k);
        assert_eq!(e.basis, Basis::Toggles);
        let pj = |cl: &str| e.line(cl).unwrap().joules.unwrap() * 1e12;
        assert!(close(pj("tree_add"), 20.0));
        assert!(close(pj("control"), 10.0));
        assert!(close(pj("counters"), 0.0));
        let counted = estimate(&a, &r.counters, 50e6, Tech::Ice40Up5k);
        for cl in ["clock_busy", "clock_idle", "static", "dram_weights"] {
            assert_eq!(e.line(cl).unwrap().joules, counted.line(cl).unwrap().joules, "{cl}");
        }
        // an ASIC table has no per-toggle energy: the toggle lines are unknown
        let ea = estimate_toggles(&a, &r.counters, &tg, 50e6, Tech::Asic45);
        assert_eq!(ea.line("tree_add").unwrap().joules, None);
    }

    #[test]
    fn scaled_per_token() {
        let (a, r) = one_matvec();
        let e = estimate(&a, &r.counters, 50e6, Tech::Asic45);
        let h = e.scaled(0.5);
        assert!(close(h.total_j, e.total_j / 2.0));
        assert_eq!(h.lines[0].events, e.lines[0].events);
        let (bh, be) = (h.baselines.unwrap(), e.baselines.unwrap());
        assert_eq!(bh.macs * 2, be.macs, "the baselines' MACs are per token too");
    }
}
