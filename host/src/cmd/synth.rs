use crate::synth::{self, Options, Target};
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Synthesize a preset for an FPGA with yosys + nextpnr: resources, Fmax, bitstream.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// ice40-up5k, ice40-hx8k, ecp5-25f or ecp5-85f (default: the preset's own device).
    #[arg(long)]
    pub target: Option<String>,
    /// Output folder (sources, logs, reports, bitstream); default out/synth/PRESET-TARGET.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Clock constraint in MHz (default: the target's; with --link uart the board's oscillator,
    /// which that bitstream runs at). With --pll: the clock asked of the PLL (it makes the
    /// nearest it can, and that is the constraint).
    #[arg(long)]
    pub freq: Option<f64>,
    /// Put the board's PLL (SB_PLL40 / EHXPLLL) between the oscillator and the design, so the
    /// bitstream runs at the clock it is timed for instead of the oscillator's 12 or 25 MHz.
    #[arg(long)]
    pub pll: bool,
    /// Stop after yosys: resource counts only (no place and route, Fmax or bitstream).
    #[arg(long)]
    pub no_pnr: bool,
    /// nextpnr's placer seed (recorded with the Fmax). Default: the seed of this preset and
    /// target's record in docs/fmax.json (with --pll: its PLL record), so a plain run
    /// reproduces the recorded Fmax while the netlist is the recorded one; 1 where nothing is
    /// recorded.
    #[arg(long, conflicts_with = "seeds")]
    pub seed: Option<u64>,
    /// A seed sweep, e.g. `1-8` or `1,3,5`: each seed placed and routed in OUT/seed-N/;
    /// the report, the bitstream and `--record` take the seed with the highest Fmax.
    #[arg(long)]
    pub seeds: Option<String>,
    /// nextpnr runs at once in a sweep (default: the machine's cores).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// The board's host link: `parallel` (byte-wide valid/ready, the recorded designs) or
    /// `uart` (a serial line with RTS/CTS for a USB-UART bridge; `tern run --backend board`).
    #[arg(long, value_enum, default_value_t = LinkKind::Parallel)]
    pub link: LinkKind,
    /// The UART's baud rate (`--link uart`): its divider is the board's oscillator / baud, which
    /// must come within 2% (12 MHz: 1000000, 3000000, 1500000, ...; 25 MHz: 1000000, ...).
    #[arg(long, default_value_t = DEFAULT_BAUD)]
    pub baud: u32,
    /// Record the achieved Fmax in docs/fmax.json (without --pll: the design's clock, read by
    /// `measured_fmax`; with --pll: the PLL bitstream's, whose seed a plain --pll run takes).
    #[arg(long)]
    pub record: bool,
    #[arg(long)]
    pub json: bool,
}

/// The serial line's default rate: exact from the 12 MHz and 25 MHz oscillators of the
/// supported boards, and standard for USB-UART bridges.
pub const DEFAULT_BAUD: u32 = 1_000_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LinkKind {
    Parallel,
    Uart,
}

pub fn run(args: Args) -> Result<()> {
    let cfg = tern_arch::AccelConfig::preset(&args.preset)?;
    let target = match &args.target {
        Some(t) => Target::parse(t)?,
        None => match cfg.device {
            Some(d) => Target::of(d),
            None => anyhow::bail!("preset `{}` names no device: pass --target (ice40-up5k, ice40-hx8k, ecp5-25f, ecp5-85f)", cfg.name),
        },
    };
    let out = args.out.unwrap_or_else(|| PathBuf::from(format!("out/synth/{}-{}", cfg.name, target.name())));
    let seeds = match &args.seeds {
        Some(list) => synth::parse_seeds(list)?,
        None => {
            let (seed, source) = synth::seed_for(args.seed, cfg.name, target.name(), args.pll);
            if source == synth::SeedSource::Recorded && !args.no_pnr && args.link == LinkKind::Parallel {
                eprintln!(
                    "nextpnr seed {seed}: the seed of the record for {} on {}{} (docs/fmax.json); --seed picks another",
                    cfg.name,
                    target.name(),
                    if args.pll { " with its PLL" } else { "" }
                );
            }
            vec![seed]
        }
    };
    if args.jobs == Some(0) {
        anyhow::bail!("--jobs must be at least 1");
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if args.record && args.pll && args.freq.is_some() {
        anyhow::bail!("--record --pll records the PLL at the target's clock (docs/fmax.json): drop --record or --freq");
    }
    let clock = synth::ClockPlan::new(&target, args.freq, args.link == LinkKind::Uart, args.pll)?;
    let link = match args.link {
        LinkKind::Parallel => tern_hdl::board::Link::Parallel,
        LinkKind::Uart => {
            if args.record {
                anyhow::bail!("--record keeps the parallel-link designs' clocks (docs/fmax.json): drop --record or --link uart");
            }
            let u = tern_hdl::uart::UartSpec::for_baud(clock.board_hz, args.baud as u64).with_context(|| {
                format!("--baud {} on {} ({} MHz {})", args.baud, target.board, clock.board_hz as f64 / 1e6, clock.source())
            })?;
            tern_hdl::board::Link::Uart(u)
        }
    };
    let opt = Options { out, freq_mhz: args.freq, no_pnr: args.no_pnr, seeds, jobs, progress: true, link, pll: args.pll };
    let rep = synth::run(&cfg, &target, &opt)?;
    if args.record {
        let path = synth::workspace_root().join("docs").join("fmax.json");
        match synth::record_fmax(&path, &rep).with_context(|| format!("recording in {}", path.display()))? {
            synth::Recorded::Written => eprintln!("recorded in {}", path.display()),
            synth::Recorded::KeptBetter { fmax_mhz, seed } => eprintln!(
                "not recorded: {} holds this same netlist at {fmax_mhz:.2} MHz (seed {seed}), as fast as this run or faster",
                path.display()
            ),
            synth::Recorded::NoFmax => eprintln!("not recorded: no Fmax (--no-pnr)"),
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        let na = || "n/a (--no-pnr)".to_string();
        let mut rows = vec![
            ("preset".into(), format!("{} ({} ternary MACs/cycle)", rep.preset, rep.macs_per_cycle)),
            ("target".into(), format!("{} on {}", rep.target, rep.board)),
            ("host link".into(), rep.link.clone()),
            (
                "board clock".into(),
                match &rep.pll {
                    Some(p) => format!("{:.3} MHz from the PLL: {}", rep.board_clock_mhz, p.summary),
                    None => format!(
                        "{} MHz, the board's oscillator (no PLL; --pll makes the clock the design is timed for)",
                        rep.board_clock_mhz
                    ),
                },
            ),
            ("LUT4".into(), format!("{} of {} ({:.1}%)", rep.luts, rep.device_luts, 100.0 * rep.luts as f64 / rep.device_luts as f64)),
            ("LUT4 per MAC".into(), format!("{:.2}", rep.lut4_per_mac)),
            (
                "placed logic cells".into(),
                match (rep.placed_luts, rep.placed_lut4_per_mac) {
                    (Some(p), Some(m)) => format!("{p} ({m:.2} per MAC; LC / COMB sites incl. pass-through)"),
                    _ => na(),
                },
            ),
            ("flip-flops".into(), rep.ffs.to_string()),
            ("carry cells".into(), rep.carries.to_string()),
            ("block RAMs".into(), rep.brams.to_string()),
            (
                "floorplan".into(),
                if rep.pinned_cells == 0 {
                    "none (the placer chooses every site)".into()
                } else {
                    format!("{} block RAMs on fixed sites ({}/floorplan.ys)", rep.pinned_cells, rep.out_dir)
                },
            ),
            ("SPRAMs".into(), rep.sprams.to_string()),
            ("DSPs".into(), rep.dsps.to_string()),
            ("multiplier cells".into(), format!("{} ($mul before techmap: {})", rep.multipliers, rep.rtl_mul_cells)),
            (
                "Fmax".into(),
                match (rep.fmax_mhz, rep.timing_met) {
                    (Some(f), Some(met)) => format!(
                        "{f:.2} MHz vs {} MHz constraint: {} (nextpnr seed {})",
                        rep.constraint_mhz,
                        if met { "met" } else { "FAILED" },
                        rep.seed
                    ),
                    _ => na(),
                },
            ),
            (
                "critical path".into(),
                rep.critical_path.as_ref().map(|c| format!("{} -> {} ({:.2} ns)", c.from, c.to, c.delay_ns)).unwrap_or_else(na),
            ),
        ];
        if let Some(line) = synth::sweep_summary(&rep.seed_sweep, rep.constraint_mhz) {
            rows.push(("seed sweep".into(), line));
        }
        for r in &rep.seed_sweep {
            let what = match (r.fmax_mhz, &r.error) {
                (Some(f), _) => {
                    format!("{f:.2} MHz{} ({:.1} s, {}/)", if r.seed == rep.seed { ", the best" } else { "" }, r.seconds, r.dir)
                }
                (None, Some(e)) => format!("FAILED: {}", e.lines().next().unwrap_or("")),
                (None, None) => format!("no Fmax in its report ({}/)", r.dir),
            };
            rows.push((format!("seed {}", r.seed), what));
        }
        if !rep.blocks.is_empty() {
            rows.push((
                "area by block".into(),
                "from yosys' netlist: registers, RAMs and kept modules by their instance, logic by the registers it feeds (host/src/area.rs)".into(),
            ));
        }
        for b in &rep.blocks {
            let name = if b.instances > 1 { format!("area: {} (x{})", b.block, b.instances) } else { format!("area: {}", b.block) };
            rows.push((
                name,
                format!(
                    "{} LUT4 ({:.1}%), {} FF, {} carry, {} BRAM: {}",
                    b.res.luts,
                    100.0 * b.res.luts as f64 / rep.luts.max(1) as f64,
                    b.res.ffs,
                    b.res.carries,
                    b.res.brams,
                    b.what
                ),
            ));
        }
        for (bel, used, avail) in &rep.utilization {
            rows.push((format!("placed {bel}"), format!("{used} / {avail}")));
        }
        for s in &rep.steps {
            rows.push((format!("time: {}", s.name), format!("{:.1} s ({})", s.seconds, s.log)));
        }
        if let Some(b) = &rep.bitstream {
            rows.push(("bitstream".into(), format!("{}/{b}", rep.out_dir)));
        }
        crate::table::print("tern synth", &rows);
    }
    Ok(())
}
