//! `AccelConfig`: every parameter of the accelerator, with a default, named presets, and
//! `validate()` that turns a config into the derived geometry (`Accel`) every other crate uses.
//!
//! Derived sizes are computed once here; the HDL generator, the golden model, the firmware
//! compiler and the host reports all read them from `Accel`, never recompute them.

use serde::{Deserialize, Serialize};

/// ISA address/count field width (see `isa`): memories deeper than this cannot be addressed.
pub const ADDR_FIELD_BITS: u32 = crate::isa::ADDR_BITS;

/// An FPGA the preset targets: the resources `validate()` checks memories against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Device {
    Ice40Up5k,
    Ice40Hx8k,
    Ecp5_25f,
    Ecp5_85f,
}

impl Device {
    pub fn name(self) -> &'static str {
        match self {
            Device::Ice40Up5k => "ice40-up5k",
            Device::Ice40Hx8k => "ice40-hx8k",
            Device::Ecp5_25f => "ecp5-25f",
            Device::Ecp5_85f => "ecp5-85f",
        }
    }
    pub fn parse(s: &str) -> Option<Device> {
        [Device::Ice40Up5k, Device::Ice40Hx8k, Device::Ecp5_25f, Device::Ecp5_85f].into_iter().find(|d| d.name() == s)
    }
    /// Block RAMs the event counters take: iCE40 designs keep each counter's bytes above the
    /// lowest in one block RAM (`tern_hdl::counters::bank_verilog`) where the counters are
    /// whole bytes (`AccelConfig::counter_bank`).
    pub fn counter_brams(self, counter_bits: u32) -> u32 {
        match self {
            Device::Ice40Up5k | Device::Ice40Hx8k => AccelConfig::counter_bank(counter_bits) as u32,
            Device::Ecp5_25f | Device::Ecp5_85f => 0,
        }
    }
    /// Block RAMs on the die (iCE40 SB_RAM40_4K, ECP5 DP16KD). Datasheet figures.
    pub fn brams(self) -> u32 {
        match self {
            Device::Ice40Up5k => 30,
            Device::Ice40Hx8k => 32,
            Device::Ecp5_25f => 56,
            Device::Ecp5_85f => 208,
        }
    }
    /// Bits per cycle the die's single-port SRAMs read (the UP5K's four SB_SPRAM256KA, 16-bit
    /// ports; none elsewhere). Datasheet figures. The presets keep every memory in block RAM.
    pub fn spram_bits(self) -> u32 {
        match self {
            Device::Ice40Up5k => 4 * 16,
            Device::Ice40Hx8k | Device::Ecp5_25f | Device::Ecp5_85f => 0,
        }
    }
    /// LUT4s on the die (iCE40 LCs, ECP5 LUT4s). Datasheet figures.
    pub fn luts(self) -> u32 {
        match self {
            Device::Ice40Up5k => 5280,
            Device::Ice40Hx8k => 7680,
            Device::Ecp5_25f => 24288,
            Device::Ecp5_85f => 83640,
        }
    }
    /// Block RAMs needed for one `width` x `depth` memory with a registered read port,
    /// choosing the best aspect ratio the primitive offers.
    pub fn brams_for(self, width: u32, depth: u32) -> u32 {
        // (data width, depth) modes of one block.
        let modes: &[(u32, u32)] = match self {
            Device::Ice40Up5k | Device::Ice40Hx8k => &[(16, 256), (8, 512), (4, 1024), (2, 2048)],
            Device::Ecp5_25f | Device::Ecp5_85f => &[(36, 512), (18, 1024), (9, 2048), (4, 4096)],
        };
        modes.iter().map(|&(w, d)| width.div_ceil(w) * depth.div_ceil(d)).min().unwrap_or(u32::MAX)
    }
}

/// Every parameter of the accelerator. `Default` is the `tiny` preset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelConfig {
    /// Preset name, carried into every report.
    pub name: &'static str,
    /// R: rows of the MAC array = output features computed in parallel, one weight bank each.
    pub rows: u32,
    /// L: lanes = int8 activations broadcast to every row per cycle (power of two).
    pub lanes: u32,
    /// Accumulator width in bits (signed); must hold 128 * max_k.
    pub acc_bits: u32,
    /// Words per weight bank (each word = `lanes` 2-bit codes). Both halves when double buffered.
    pub wmem_depth: u32,
    /// Words in the activation buffer (each word = `lanes` int8 values).
    pub amem_depth: u32,
    /// Width of the host stream beats in bits (32 or 64); instructions use the low 32.
    pub host_bits: u32,
    /// Split weight memory in two halves so the next tile loads while the current computes.
    pub double_buffer: bool,
    /// Largest batch (tokens per weight tile) the firmware schedules.
    pub max_batch: u32,
    /// Largest reduction length K a layer may have (bounds the accumulator width).
    pub max_k: u32,
    /// Width of each hardware event counter.
    pub counter_bits: u32,
    /// Clock assumed for tokens/s until synthesis reports one (MHz).
    pub target_fmax_mhz: u32,
    /// FPGA the preset is sized for (memories are checked against it), if any.
    pub device: Option<Device>,
}

impl AccelConfig {
    /// Whether counters of `counter_bits` can live in a block RAM bank a byte at a time (the
    /// iCE40 designs' `tern_hdl::cells::CounterRead::Bank`): whole bytes.
    pub const fn counter_bank(counter_bits: u32) -> bool {
        counter_bits.is_multiple_of(8)
    }
}

pub const TINY: AccelConfig = AccelConfig {
    name: "tiny",
    rows: 4,
    lanes: 16,
    acc_bits: 24,
    wmem_depth: 256,
    amem_depth: 512,
    host_bits: 32,
    double_buffer: true,
    max_batch: 64,
    max_k: 8192,
    counter_bits: 48,
    target_fmax_mhz: 50,
    device: None,
};

pub const ICE40_UP5K: AccelConfig = AccelConfig {
    name: "ice40-up5k",
    rows: 8,
    lanes: 16,
    wmem_depth: 256,
    amem_depth: 256,
    target_fmax_mhz: 50,
    device: Some(Device::Ice40Up5k),
    ..TINY
};

/// The iCE40-HX8K at its 120 MHz clock target: the UP5K geometry with a two-stage row tree.
pub const ICE40_HX8K: AccelConfig = AccelConfig { name: "ice40-hx8k", target_fmax_mhz: 120, device: Some(Device::Ice40Hx8k), ..ICE40_UP5K };

pub const ECP5_85F: AccelConfig = AccelConfig {
    name: "ecp5-85f",
    rows: 64,
    lanes: 32,
    wmem_depth: 512,
    amem_depth: 1024,
    host_bits: 64,
    max_batch: 256,
    target_fmax_mhz: 125,
    device: Some(Device::Ecp5_85f),
    ..TINY
};

/// A reference point for ASIC energy projections; not sized for an FPGA.
pub const ASIC_REF: AccelConfig = AccelConfig {
    name: "asic-ref",
    rows: 128,
    lanes: 64,
    wmem_depth: 2048,
    amem_depth: 4096,
    host_bits: 64,
    max_batch: 256,
    target_fmax_mhz: 500,
    device: None,
    ..TINY
};

pub const PRESETS: [&AccelConfig; 5] = [&TINY, &ICE40_UP5K, &ICE40_HX8K, &ECP5_85F, &ASIC_REF];

/// A parameter a preset spec may override (`AccelConfig::preset`); `device` stays the base
/// preset's.
enum Param {
    Num(fn(&mut AccelConfig) -> &mut u32),
    Flag(fn(&mut AccelConfig) -> &mut bool),
}

/// The overridable parameters by name, in the order messages list them.
const OVERRIDES: [(&str, Param); 11] = [
    ("rows", Param::Num(|c| &mut c.rows)),
    ("lanes", Param::Num(|c| &mut c.lanes)),
    ("acc_bits", Param::Num(|c| &mut c.acc_bits)),
    ("wmem_depth", Param::Num(|c| &mut c.wmem_depth)),
    ("amem_depth", Param::Num(|c| &mut c.amem_depth)),
    ("host_bits", Param::Num(|c| &mut c.host_bits)),
    ("double_buffer", Param::Flag(|c| &mut c.double_buffer)),
    ("max_batch", Param::Num(|c| &mut c.max_batch)),
    ("max_k", Param::Num(|c| &mut c.max_k)),
    ("counter_bits", Param::Num(|c| &mut c.counter_bits)),
    ("target_fmax_mhz", Param::Num(|c| &mut c.target_fmax_mhz)),
];

impl Default for AccelConfig {
    fn default() -> Self {
        TINY
    }
}

/// Why a config was rejected. The `Display` text is the contract (tests pin it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("unknown preset `{0}` (known: tiny, ice40-up5k, ice40-hx8k, ecp5-85f, asic-ref)")]
    UnknownPreset(String),
    #[error("unknown parameter `{0}` in a preset override (known: {known})", known = OVERRIDES.map(|o| o.0).join(", "))]
    UnknownParam(String),
    #[error("parameter `{key}` = `{value}`: {want}")]
    BadValue { key: String, value: String, want: &'static str },
    #[error("rows must be between 1 and 256, not {0}")]
    Rows(u32),
    #[error("lanes must be a power of two between 2 and 64, not {0}")]
    Lanes(u32),
    #[error("host_bits must be 32 or 64, not {0}")]
    HostBits(u32),
    #[error("a weight word ({wword_bits} bits = 2 x {lanes} lanes) must be a whole number of {host_bits}-bit host beats")]
    WeightWordBeats { wword_bits: u32, lanes: u32, host_bits: u32 },
    #[error("rows ({rows}) must be a multiple of the {per_beat} results carried per {host_bits}-bit output beat")]
    OutputBeats { rows: u32, per_beat: u32, host_bits: u32 },
    #[error("{what} depth must be between 2 and {max} (the ISA's {bits}-bit address field), not {depth}")]
    Depth { what: &'static str, depth: u32, max: u32, bits: u32 },
    #[error("wmem_depth must be even when double buffering splits it in halves, not {0}")]
    OddHalves(u32),
    #[error("accumulator too narrow: {acc_bits} bits hold |sum| <= {limit} but 128 * max_k = {need}")]
    AccTooNarrow { acc_bits: u32, limit: u64, need: u64 },
    #[error("acc_bits must be between 10 and 32, not {0}")]
    AccBits(u32),
    #[error("max_k must be at least lanes ({lanes}), not {max_k}")]
    MaxK { max_k: u32, lanes: u32 },
    #[error("max_batch must be at least 1")]
    MaxBatch,
    #[error("counter_bits must be between 16 and 64, not {0}")]
    CounterBits(u32),
    #[error(
        "memories need {need} block RAMs but {device} has {have}: weight banks {wbanks}, activation buffer {abuf}, event counters {counters}"
    )]
    DoesNotFit { device: &'static str, need: u32, have: u32, wbanks: u32, abuf: u32, counters: u32 },
}

/// A validated config plus every size derived from it, computed once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Accel {
    pub cfg: AccelConfig,
    /// Ternary MACs per cycle (R * L).
    pub macs_per_cycle: u64,
    /// Bits per weight-bank word (2 * L).
    pub wword_bits: u32,
    /// Bits per activation word (8 * L).
    pub xword_bits: u32,
    /// Address bits of a weight bank (`wmem_depth` words) and of the activation buffer
    /// (`amem_depth` words): the RTL's port widths.
    pub waddr_bits: u32,
    pub xaddr_bits: u32,
    /// Host beats per weight word / per activation word.
    pub beats_per_wword: u32,
    pub beats_per_xword: u32,
    /// 32-bit results per output beat, and output beats per stored result vector.
    pub results_per_beat: u32,
    pub out_beats: u32,
    /// Weight words per double-buffer half (= wmem_depth when not double buffered).
    pub half_depth: u32,
    /// Bits of a row's adder-tree sum: 8 + log2 L, its last `+1` a separate carry for the
    /// accumulator; with `exact_last_lane` or `pair_chain` one bit more and no carry (L terms
    /// of up to 128 in magnitude reach 128 L).
    pub tree_bits: u32,
    /// Each row takes its last lane's `-a` exact, from a 9-bit negation the array computes
    /// once for all rows (`xn`), instead of `~a` and a carry-in. A tree of L terms has L - 1
    /// adders, so with L - 1 carry-ins none is left for the accumulator, whose clear then
    /// costs no LUT on iCE40: `keep ? acc + s : s` is one SB_LUT4 + SB_CARRY a bit
    /// (`tern_hdl::cells::acc`), where `(keep ? acc : 0) + s + cy` needed a second LUT for
    /// `keep & acc` (`SB_CARRY` takes its operands from LUT pins). Tree rows of arrays without
    /// broadcast groups; grouped arrays' ECP5 carry cells fold the clear in already. The
    /// results are the same either way: the golden model does not see it.
    pub exact_last_lane: bool,
    /// Each row is one carry chain over its lane pairs (iCE40 arrays without broadcast
    /// groups): per pair it adds one of 0, a0, a1, P = a0 + a1, M = a0 - a1 (P and M computed
    /// once per array, `tern_hdl::mac_array`), and the sign rides free as a polarity flip of
    /// the chain (`~y + v = ~(y - v)`, the flip on the sum LUT's spare pin). `row_chain` = L,
    /// `chain_adds` = `PAIR_CHAIN_LANES_PER_STAGE` lanes (two pairs) between registers, so
    /// the later pairs enter 1 to L/4 - 1 cycles late; each pair's value is registered before
    /// the chain. The banks store per pair a select code and a flip bit instead of two lane
    /// codes (still two bits a weight). The results are the same; only the pipeline depth
    /// (`tree_stages` = L/4 + 1) shows it to the golden model.
    pub pair_chain: bool,
    /// Register stages inside the adder tree.
    pub tree_stages: u32,
    /// Terms each row sums in one carry chain before its tree (`row_chain_terms` on ECP5
    /// devices, where a chain add folds the term logic into the carry cells; 1 = a plain tree).
    pub row_chain: u32,
    /// Chain adds between two registers of a chain row (`chain_adds_per_stage`; 0 for tree rows).
    pub chain_adds: u32,
    /// Register stages of a chain row's carry chain (0 for tree rows): lane `j` of a chain
    /// enters `Accel::lane_delay(j)` cycles after the head lane.
    pub chain_stages: u32,
    /// Register stages that fan the activation word out to groups of `BCAST_GROUP` rows
    /// (1 beyond that many rows: one register cannot reach a whole large array in a cycle;
    /// never on an iCE40, whose block RAMs hold a few rows more at most).
    pub bcast_stages: u32,
    /// Copies of the broadcast activations, and of the weight banks' read and write ports:
    /// one per group of `BCAST_GROUP` rows when `bcast_stages` > 0, else 1.
    pub bcast_groups: u32,
    /// Register stages between the issue stage's read address and the weight banks' address
    /// pins: on grouped arrays two, the group copies (loaded from a middle copy per two groups,
    /// which steps itself: from the sequencer a far group's copy took up to 9.7 ns of routing
    /// on ecp5-85f) and a row copy each (a group copy reached its 16 DP16KDs in 11.3 ns). The
    /// banks then read `read_stages` advancing cycles after the issue slot (more in a group's
    /// later rows: `group_hops`), so LOADW also waits while such a read is pending (golden
    /// model and RTL); the activations take as many more registers to stay in step.
    pub read_stages: u32,
    /// Registers between a weight bank's output and its row's `w2` (the terms' register): one
    /// (`w1`) on grouped arrays, so the block RAM's output net ends at one flip-flop beside it
    /// instead of spreading over the row (11.3 ns on ecp5-85f); the activations take one more
    /// register to match.
    pub bank_out_stages: u32,
    /// Register stages on the weight banks' write port before the group copies: on grouped
    /// arrays one, a middle copy per two groups of the write address, the recoded word and a
    /// select {row, flag} (the link's input register reached a group copy of the write data in
    /// 10.96 ns on ecp5-85f); after the group copies the rows pass the write port on like the
    /// read address (`group_hops`). A write then lands in row k of a group 3 + k cycles after
    /// the word's last beat, still before any MATVEC can read it there (docs/decisions.md). No
    /// cycle of the contract changes: the golden model does not see it.
    pub write_stages: u32,
    /// Row-to-row hops inside a broadcast group (`BCAST_GROUP` - 1 on grouped arrays, else 0):
    /// row k of a group registers the activations, the read address and the write port and
    /// passes them to row k + 1, so no net spans a group's rows; row k then runs k cycles behind the
    /// group's first row, and its sum passes `group_hops` - k de-skew registers before its
    /// accumulator. The rows' reads stay in row 0's order, k advancing cycles later: LOADW
    /// waits `read_window` advancing cycles after an issue slot of its half (golden and RTL).
    pub group_hops: u32,
    /// Advancing cycles after an issue slot during which some bank has still to read its
    /// address (`read_stages` + `group_hops`); LOADW waits while one of them touches its half.
    pub read_window: u32,
    /// Cycles from a MATVEC issue slot to the accumulator write (RAM read, RAM register,
    /// broadcast, read-address and bank-output stages, the group's hops, tree).
    pub pipeline_depth: u32,
    /// `advance` (the array's freeze) is decided without the output port's `out_ready`: while
    /// a snapshot waits, the array also stays frozen in the cycle after the output shifter's
    /// last beat leaves. Set on grouped arrays (`Accel::grouped`), which sit far from the
    /// link: `advance`'s register then loads from `tern_out`'s own flip-flops only. Part of
    /// the cycle contract (golden model and RTL).
    pub advance_ignores_out_ready: bool,
    /// Block RAMs the memories take on the preset's device (0 without a device).
    pub brams: u32,
}

impl AccelConfig {
    /// The parameters `preset` lets a spec override (`device` stays the base preset's).
    /// A preset by name, optionally with parameters overridden: `tiny` or
    /// `ecp5-85f:amem_depth=4096,max_batch=256` (design-space exploration without editing the
    /// code). An overridden config is named by its whole spec, so no report mistakes it for the
    /// preset (and no synthesis record of the preset applies to it). `validate` still checks it.
    pub fn preset(spec: &str) -> Result<AccelConfig, ConfigError> {
        let (name, overrides) = match spec.split_once(':') {
            Some((n, o)) => (n, Some(o)),
            None => (spec, None),
        };
        let mut c =
            PRESETS.iter().find(|p| p.name == name).map(|p| (*p).clone()).ok_or_else(|| ConfigError::UnknownPreset(name.to_string()))?;
        let Some(overrides) = overrides else { return Ok(c) };
        for kv in overrides.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = kv.split_once('=').ok_or_else(|| ConfigError::BadValue {
                key: kv.to_string(),
                value: String::new(),
                want: "write overrides as key=value, separated by commas",
            })?;
            let (key, value) = (key.trim(), value.trim());
            let bad = |want| ConfigError::BadValue { key: key.to_string(), value: value.to_string(), want };
            let num = || value.parse::<u32>().map_err(|_| bad("must be a non-negative integer"));
            match OVERRIDES.iter().find(|(k, _)| *k == key) {
                Some((_, Param::Num(field))) => *field(&mut c) = num()?,
                Some((_, Param::Flag(field))) => *field(&mut c) = value.parse::<bool>().map_err(|_| bad("must be true or false"))?,
                None => return Err(ConfigError::UnknownParam(key.to_string())),
            }
        }
        // leaked once per spec a command names: reports carry the name as &'static str
        c.name = Box::leak(spec.to_string().into_boxed_str());
        Ok(c)
    }

    /// Check every constraint and derive the geometry. Messages are pinned by tests.
    pub fn validate(&self) -> Result<Accel, ConfigError> {
        let c = self;
        if !(1..=256).contains(&c.rows) {
            return Err(ConfigError::Rows(c.rows));
        }
        if !c.lanes.is_power_of_two() || !(2..=64).contains(&c.lanes) {
            return Err(ConfigError::Lanes(c.lanes));
        }
        if c.host_bits != 32 && c.host_bits != 64 {
            return Err(ConfigError::HostBits(c.host_bits));
        }
        let wword_bits = 2 * c.lanes;
        if !wword_bits.is_multiple_of(c.host_bits) {
            return Err(ConfigError::WeightWordBeats { wword_bits, lanes: c.lanes, host_bits: c.host_bits });
        }
        let results_per_beat = c.host_bits / 32;
        if !c.rows.is_multiple_of(results_per_beat) {
            return Err(ConfigError::OutputBeats { rows: c.rows, per_beat: results_per_beat, host_bits: c.host_bits });
        }
        let max_depth = 1u32 << ADDR_FIELD_BITS;
        for (what, depth) in [("wmem", c.wmem_depth), ("amem", c.amem_depth)] {
            if !(2..=max_depth).contains(&depth) {
                return Err(ConfigError::Depth { what, depth, max: max_depth, bits: ADDR_FIELD_BITS });
            }
        }
        if c.double_buffer && !c.wmem_depth.is_multiple_of(2) {
            return Err(ConfigError::OddHalves(c.wmem_depth));
        }
        if !(10..=32).contains(&c.acc_bits) {
            return Err(ConfigError::AccBits(c.acc_bits));
        }
        if c.max_k < c.lanes {
            return Err(ConfigError::MaxK { max_k: c.max_k, lanes: c.lanes });
        }
        // |term| <= 128 (a = -128 with w = -1), so |sum| <= 128 * K.
        let limit = (1u64 << (c.acc_bits - 1)) - 1;
        let need = 128 * c.max_k as u64;
        if need > limit {
            return Err(ConfigError::AccTooNarrow { acc_bits: c.acc_bits, limit, need });
        }
        if c.max_batch == 0 {
            return Err(ConfigError::MaxBatch);
        }
        if !(16..=64).contains(&c.counter_bits) {
            return Err(ConfigError::CounterBits(c.counter_bits));
        }
        let xword_bits = 8 * c.lanes;
        let mut brams = 0;
        if let Some(dev) = c.device {
            let wbanks = c.rows * dev.brams_for(wword_bits, c.wmem_depth);
            let abuf = dev.brams_for(xword_bits, c.amem_depth);
            let counters = dev.counter_brams(c.counter_bits);
            brams = wbanks + abuf + counters;
            if brams > dev.brams() {
                return Err(ConfigError::DoesNotFit { device: dev.name(), need: brams, have: dev.brams(), wbanks, abuf, counters });
            }
        }
        let log2l = c.lanes.trailing_zeros();
        // The row tree has log2(L) adder levels; a register after every `tree_levels_per_stage`
        // of them (and always after the last). Registers sit in the adders' own logic cells,
        // so faster clocks buy stages with flip-flops, not LUTs.
        let lps = tree_levels_per_stage(c.target_fmax_mhz, c.device);
        let ecp5 = matches!(c.device, Some(Device::Ecp5_25f | Device::Ecp5_85f));
        let ice40 = matches!(c.device, Some(Device::Ice40Up5k | Device::Ice40Hx8k));
        // more rows than one broadcast group: the large-array structures (`Accel::grouped`);
        // an iCE40's block RAMs hold too few weight banks for those to pay (the HX8K's 32: 11
        // rows of 16 lanes), and they would cost it its pair chains (26.8 LUT4/MAC at 9 rows)
        let grouped = c.rows > BCAST_GROUP && !ice40;
        let pair_chain = ice40 && !grouped && c.lanes >= 2 * PAIR_CHAIN_LANES_PER_STAGE;
        let row_chain = if pair_chain {
            c.lanes
        } else if ecp5 && c.lanes >= ROW_CHAIN {
            row_chain_terms(c.target_fmax_mhz)
        } else {
            1
        };
        // chains: a register after every `chain_adds` adds (the head lane's term logic counts
        // as one), then a tree over the L / row_chain chains; pair chains: a register after
        // every `PAIR_CHAIN_LANES_PER_STAGE` lanes, and no tree
        let chain_adds = if pair_chain {
            PAIR_CHAIN_LANES_PER_STAGE
        } else if row_chain > 1 {
            chain_adds_per_stage(c.target_fmax_mhz)
        } else {
            0
        };
        let chain_stages = if pair_chain {
            c.lanes / PAIR_CHAIN_LANES_PER_STAGE
        } else if row_chain > 1 {
            (row_chain - 1) / chain_adds + 1
        } else {
            0
        };
        let exact_last_lane = row_chain == 1 && !grouped;
        // pair chains register their pairs' selected values before the chain: one stage more
        let tree_stages = if pair_chain {
            chain_stages + 1
        } else if row_chain > 1 {
            chain_stages + (c.lanes / row_chain).trailing_zeros().div_ceil(lps)
        } else {
            log2l.div_ceil(lps).max(1)
        };
        // register stages on grouped arrays: two on the read address, one each elsewhere (see
        // the fields' docs)
        let (bcast_stages, read_stages, bank_out_stages, write_stages) =
            (u32::from(grouped), 2 * u32::from(grouped), u32::from(grouped), u32::from(grouped));
        let group_hops = if grouped { BCAST_GROUP - 1 } else { 0 };
        Ok(Accel {
            cfg: c.clone(),
            macs_per_cycle: c.rows as u64 * c.lanes as u64,
            wword_bits,
            xword_bits,
            waddr_bits: addr_bits(c.wmem_depth),
            xaddr_bits: addr_bits(c.amem_depth),
            beats_per_wword: wword_bits / c.host_bits,
            beats_per_xword: xword_bits / c.host_bits,
            results_per_beat,
            out_beats: c.rows / results_per_beat,
            half_depth: if c.double_buffer { c.wmem_depth / 2 } else { c.wmem_depth },
            tree_bits: 8 + log2l + u32::from(exact_last_lane || pair_chain),
            exact_last_lane,
            pair_chain,
            tree_stages,
            row_chain,
            chain_adds,
            chain_stages,
            bcast_stages,
            bcast_groups: if grouped { c.rows.div_ceil(BCAST_GROUP) } else { 1 },
            read_stages,
            bank_out_stages,
            write_stages,
            group_hops,
            read_window: read_stages + group_hops,
            pipeline_depth: 2 + bcast_stages + read_stages + bank_out_stages + group_hops + tree_stages,
            advance_ignores_out_ready: grouped,
            brams,
        })
    }
}

/// Address bits of a memory of `depth` words (`depth` >= 2, checked by `validate`).
fn addr_bits(depth: u32) -> u32 {
    32 - (depth - 1).leading_zeros()
}

/// Rows that share one copy of the broadcast activation register (see `Accel::bcast_stages`).
pub const BCAST_GROUP: u32 = 8;

/// Bits of a row's index inside its broadcast group (the write chain's select carries it).
pub const BCAST_GROUP_ROW_BITS: u32 = BCAST_GROUP.trailing_zeros();

impl Accel {
    /// The array is large enough to have broadcast groups (`bcast_groups` > 1). Such an
    /// array sits far from the link, so its control fan-outs are copied per group or put on a
    /// global network, and the link's handshakes reach it from flip-flops: the activations,
    /// the banks' ports and the output shifter's flags are copied per group, `advance` goes
    /// through `tern_gbuf`, the board registers `in_valid` and puts a skid stage before its
    /// transmit pins, and `advance_ignores_out_ready` holds.
    pub fn grouped(&self) -> bool {
        self.bcast_groups > 1
    }

    /// The broadcast group (`bcast_groups`) row `row` reads its copies from.
    pub fn bcast_group_of(&self, row: u32) -> u32 {
        if self.grouped() { row / BCAST_GROUP } else { 0 }
    }

    /// The first row of broadcast group `group`, whose `advance` copy enables the group's copies.
    pub fn bcast_group_head(&self, group: u32) -> u32 {
        group * BCAST_GROUP
    }

    /// The rows of broadcast group `group`, first to last (the last group may be short).
    pub fn bcast_group_rows(&self, group: u32) -> std::ops::Range<u32> {
        self.bcast_group_head(group)..self.bcast_group_head(group + 1).min(self.cfg.rows)
    }

    /// Copies of a middle stage between one source and the group copies (the activation
    /// stages' last level, the write port's middle stage): one per two broadcast groups, so
    /// no hop crosses the whole array.
    pub fn mid_copies(&self) -> u32 {
        self.bcast_groups.div_ceil(2)
    }

    /// The middle copy that broadcast group `group`'s copy loads from.
    pub fn mid_copy_of(&self, group: u32) -> u32 {
        group * self.mid_copies() / self.bcast_groups
    }
}

/// Lanes (two pairs) between two registers of a pair chain (`Accel::pair_chain`): one row of
/// 16 lanes placed and routed alone meets 51-56 MHz on the UP5K and 136-144 MHz on the HX8K
/// so (`scripts/row-bench/pchain_fmax.py`, docs/synthesis.md), 36 and 109 MHz with four pairs.
pub const PAIR_CHAIN_LANES_PER_STAGE: u32 = 4;

/// Bits of a pair's value in a pair chain: 0, a0, a1, a0 + a1 or a0 - a1 of two int8s, so
/// [-256, 255] (the shared pair sums, each row's selected value, a stage cell's `v`).
pub const PAIR_VALUE_BITS: u32 = 9;

/// Bits of a pair chain's value after pair `k` (0-based), either polarity: the sum S of
/// 2 (k + 1) terms lies in [-256 (k + 1), 256 (k + 1)], and ~S = -S - 1 one lower. Stage `k`'s
/// adder is this wide (the RTL's cells and the energy model's adds).
pub fn pair_stage_bits(k: u32) -> u32 {
    32 - (256 * (k + 1)).leading_zeros() + 1
}

/// Terms per row carry chain on ECP5 up to `SLOW_CLOCK_MHZ` (see `Accel::row_chain`).
pub const ROW_CHAIN: u32 = 8;

/// Up to this target clock one register stage holds 4 chain adds or 4 tree levels (2 on
/// iCE40); above it, half that. The one threshold `row_chain_terms`, `chain_adds_per_stage`
/// and `tree_levels_per_stage` share.
pub const SLOW_CLOCK_MHZ: u32 = 60;

/// Terms per chain of a chain row: `ROW_CHAIN` up to `SLOW_CLOCK_MHZ`, else half that. Above
/// it a stage holds two adds (`chain_adds_per_stage`), so an 8-term chain needs 4 stages and
/// delays 6 of its 8 lanes' codes per row (33,024 flip-flops on ecp5-85f, 5,251 more than
/// 4-term chains, and it did not route); a 4-term chain needs 2 stages and delays 2 lanes, and
/// its longer tree costs about 0.7 LUT4 per MAC more. Measured in `docs/synthesis.md`.
pub fn row_chain_terms(target_fmax_mhz: u32) -> u32 {
    if target_fmax_mhz <= SLOW_CLOCK_MHZ { ROW_CHAIN } else { ROW_CHAIN / 2 }
}

/// Chain adds (CCU2C carry chains, about 1.75 ns each on ECP5 at speed grade 6) between two
/// registers of a chain row: 4 up to `SLOW_CLOCK_MHZ`, else 2. Measured in `docs/synthesis.md`.
pub fn chain_adds_per_stage(target_fmax_mhz: u32) -> u32 {
    if target_fmax_mhz <= SLOW_CLOCK_MHZ { 4 } else { 2 }
}

/// Adder levels of the row tree between two registers, for a target clock and device:
/// 4 (a 16-lane tree in one stage) up to `SLOW_CLOCK_MHZ`, else 2; half that on iCE40, whose logic
/// levels are about twice as slow. Measured in `docs/synthesis.md`.
pub fn tree_levels_per_stage(target_fmax_mhz: u32, device: Option<Device>) -> u32 {
    let levels = if target_fmax_mhz <= SLOW_CLOCK_MHZ { 4 } else { 2 };
    match device {
        Some(Device::Ice40Up5k | Device::Ice40Hx8k) => levels / 2,
        _ => levels,
    }
}

impl Accel {
    /// Cycles after its chain's head lane that lane `j` enters its chain (0 for tree rows).
    pub fn lane_delay(&self, j: u32) -> u32 {
        if self.row_chain > 1 { (j % self.row_chain) / self.chain_adds } else { 0 }
    }

    /// Which double-buffer half a weight address is in (always 0 without double buffering).
    pub fn half_of(&self, waddr: u32) -> u32 {
        if self.cfg.double_buffer { u32::from(waddr >= self.half_depth) } else { 0 }
    }
}

/// The preset table of the README, generated from `PRESETS` (a test keeps them identical).
pub fn markdown_presets() -> String {
    let mut s = String::from(
        "| preset | R rows | L lanes | MACs/cycle | acc bits | weight words/bank | act words | host bits | double buffer | max batch | max K | pipeline | target clock | device (BRAMs) |\n\
         |---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for p in PRESETS {
        let a = p.validate().expect("presets validate");
        s.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} MHz | {} |\n",
            p.name,
            p.rows,
            p.lanes,
            a.macs_per_cycle,
            p.acc_bits,
            p.wmem_depth,
            p.amem_depth,
            p.host_bits,
            if p.double_buffer { "yes" } else { "no" },
            p.max_batch,
            p.max_k,
            a.pipeline_depth,
            p.target_fmax_mhz,
            p.device.map_or("-".to_string(), |d| format!("{} ({} of {})", d.name(), a.brams, d.brams())),
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(c: AccelConfig) -> String {
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn preset_overrides() {
        let c = AccelConfig::preset("ecp5-85f:amem_depth=4096, double_buffer=false").unwrap();
        assert_eq!((c.name, c.amem_depth, c.double_buffer, c.rows), ("ecp5-85f:amem_depth=4096, double_buffer=false", 4096, false, 64));
        assert_eq!(AccelConfig::preset("tiny").unwrap(), TINY);
        let e = |s: &str| AccelConfig::preset(s).unwrap_err().to_string();
        assert_eq!(
            e("tiny:columns=4"),
            "unknown parameter `columns` in a preset override (known: rows, lanes, acc_bits, wmem_depth, amem_depth, host_bits, double_buffer, max_batch, max_k, counter_bits, target_fmax_mhz)"
        );
        assert_eq!(e("tiny:rows=-1"), "parameter `rows` = `-1`: must be a non-negative integer");
        assert_eq!(e("tiny:double_buffer=yes"), "parameter `double_buffer` = `yes`: must be true or false");
        assert_eq!(e("tiny:rows"), "parameter `rows` = ``: write overrides as key=value, separated by commas");
        assert_eq!(e("huge:rows=2"), "unknown preset `huge` (known: tiny, ice40-up5k, ice40-hx8k, ecp5-85f, asic-ref)");
        // the override is validated like any config
        assert_eq!(
            AccelConfig::preset("tiny:lanes=12").unwrap().validate().unwrap_err().to_string(),
            err(AccelConfig { lanes: 12, ..TINY })
        );
        assert!(matches!(AccelConfig::preset("ice40-up5k:rows=64").unwrap().validate(), Err(ConfigError::DoesNotFit { .. })));
    }

    #[test]
    fn presets_validate() {
        for p in PRESETS {
            let a = p.validate().unwrap_or_else(|e| panic!("{}: {e}", p.name));
            assert_eq!(a.macs_per_cycle, (p.rows * p.lanes) as u64);
        }
        assert!(ECP5_85F.validate().unwrap().macs_per_cycle >= 2048);
    }

    /// The middle copies of a large array: one per two groups, each feeding two neighbouring
    /// groups; a small array has its single copy.
    #[test]
    fn middle_copies_serve_two_groups_each() {
        let a = ECP5_85F.validate().unwrap();
        assert_eq!((a.bcast_groups, a.mid_copies()), (8, 4));
        assert_eq!((0..8).map(|g| a.mid_copy_of(g)).collect::<Vec<_>>(), [0, 0, 1, 1, 2, 2, 3, 3]);
        let t = TINY.validate().unwrap();
        assert_eq!((t.mid_copies(), t.mid_copy_of(0)), (1, 0));
    }

    #[test]
    fn exact_messages() {
        assert_eq!(err(AccelConfig { lanes: 12, ..TINY }), "lanes must be a power of two between 2 and 64, not 12");
        assert_eq!(
            err(AccelConfig { acc_bits: 16, ..TINY }),
            "accumulator too narrow: 16 bits hold |sum| <= 32767 but 128 * max_k = 1048576"
        );
        assert_eq!(err(AccelConfig { host_bits: 48, ..TINY }), "host_bits must be 32 or 64, not 48");
        assert_eq!(
            err(AccelConfig { lanes: 8, ..TINY }),
            "a weight word (16 bits = 2 x 8 lanes) must be a whole number of 32-bit host beats"
        );
        assert_eq!(
            err(AccelConfig { wmem_depth: 8192, ..ICE40_UP5K }),
            "memories need 521 block RAMs but ice40-up5k has 30: weight banks 512, activation buffer 8, event counters 1"
        );
        assert_eq!(
            err(AccelConfig { wmem_depth: 9000, ..TINY }),
            "wmem depth must be between 2 and 8192 (the ISA's 13-bit address field), not 9000"
        );
        assert_eq!(
            AccelConfig::preset("nope").unwrap_err().to_string(),
            "unknown preset `nope` (known: tiny, ice40-up5k, ice40-hx8k, ecp5-85f, asic-ref)"
        );
    }

    #[test]
    fn bram_counts_by_aspect_ratio() {
        assert_eq!(Device::Ice40Up5k.brams_for(32, 256), 2);
        assert_eq!(Device::Ecp5_85f.brams_for(64, 512), 2);
        assert_eq!(Device::Ecp5_85f.brams_for(256, 1024), 15);
    }
}
