use crate::backend::BackendKind;
use anyhow::Result;
use std::path::PathBuf;
use tern_arch::Counters;
use tern_arch::golden::{RunResult, StopReason};
use tern_arch::isa::Status;

/// Run a `.tasm` program (a hand-written one, or one `tern layer --tasm` wrote) on a backend,
/// or on both and compare them; report status, results, cycles and counters.
#[derive(clap::Args)]
pub struct Args {
    /// The program: `.tasm` text (docs/isa.md, "Text form").
    pub program: PathBuf,
    #[arg(long, default_value = "tiny")]
    pub preset: String,
    /// `both` runs the golden model and the RTL on the same beats and stalls and fails on the
    /// first difference in status, results, the cycle of any input or result beat, counters
    /// or consumed beats.
    #[arg(long, value_enum, default_value_t = RunBackend::Golden)]
    pub backend: RunBackend,
    /// Stops a program that neither halts nor starves.
    #[arg(long, default_value_t = super::MAX_CYCLES)]
    pub max_cycles: u64,
    /// Seed of the stall pattern (with --in-stall / --out-stall).
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Probability that the host withholds an input beat on a cycle.
    #[arg(long, default_value_t = 0.0)]
    pub in_stall: f64,
    /// Probability that the host refuses a result beat on a cycle.
    #[arg(long, default_value_t = 0.0)]
    pub out_stall: f64,
    /// The board's serial port (`--backend board`, `board-golden`): a USB-UART bridge to the
    /// bitstream `tern synth --link uart` writes.
    #[arg(long)]
    pub port: Option<PathBuf>,
    /// The serial line's baud rate; the bitstream must have been built for it (`tern synth
    /// --link uart --baud`).
    #[arg(long, default_value_t = super::synth::DEFAULT_BAUD)]
    pub baud: u32,
    /// Clock cycles a bit for `--backend board-sim` (the simulated line; a real board's divider
    /// is its clock / baud).
    #[arg(long, default_value_t = 8)]
    pub sim_clks_per_bit: u32,
    /// Write a VCD of every RTL signal, every cycle (Verilator: `--backend verilator` or
    /// `both`; a separately cached trace build).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum RunBackend {
    Golden,
    Verilator,
    /// The RTL in Icarus Verilog (a recording testbench; slow, a third opinion).
    Iverilog,
    /// Golden and Verilator, compared.
    Both,
    /// Golden, Verilator and Icarus Verilog, compared.
    All,
    /// A board over its serial port (--port, --baud): results, status and event counters.
    Board,
    /// A board and golden, compared on status, results, event counters and consumed beats
    /// (not on cycles: the serial line paces the board).
    BoardGolden,
    /// The UART board's RTL (`tern_board` with `Link::Uart`) in Icarus Verilog behind the same host driver
    /// as a real board, compared with golden like `board-golden`.
    BoardSim,
}

/// What `--json` prints.
#[derive(serde::Serialize)]
struct Report {
    program: String,
    preset: String,
    /// The backend whose run is reported ("verilator" for `both`, whose runs are equal).
    backend: &'static str,
    /// "golden == verilator" (or "== iverilog" too) when several ran and were equal (otherwise
    /// the command fails).
    compared: Option<String>,
    beats: usize,
    consumed: usize,
    status: &'static str,
    status_code: u32,
    /// "starved" (no HALT before the beats ran out), "watchdog" (--max-cycles), or null.
    stopped: Option<&'static str>,
    cycles: u64,
    cycles_source: &'static str,
    counters: Counters,
    results_crc32: String,
    results: Vec<i32>,
    /// The cycle in which each result beat left, as (first cycle, beats in consecutive cycles).
    result_beat_cycles: Vec<(u64, u64)>,
    /// The RTL's waveform (--vcd).
    vcd: Option<String>,
}

pub fn run(args: Args) -> Result<()> {
    let a = super::preset(&args.preset)?;
    let beats = super::read_program(&a, &args.program)?;
    let stalls = super::stalls(args.seed, args.in_stall, args.out_stall)?;
    let (golden, verilator, iverilog) = match args.backend {
        RunBackend::Golden | RunBackend::BoardGolden | RunBackend::BoardSim => (true, false, false),
        RunBackend::Verilator => (false, true, false),
        RunBackend::Iverilog => (false, false, true),
        RunBackend::Both => (true, true, false),
        RunBackend::All => (true, true, true),
        RunBackend::Board => (false, false, false),
    };
    let board = matches!(args.backend, RunBackend::Board | RunBackend::BoardGolden);
    if board && args.port.is_none() {
        anyhow::bail!("--backend board needs --port (the board's serial port, e.g. /dev/ttyUSB1)");
    }
    // a board's link paces it: compare what the program decides, not when
    let untimed = board || args.backend == RunBackend::BoardSim;
    if untimed && !stalls.is_none() {
        anyhow::bail!("a board's serial link sets its own pace: drop --in-stall / --out-stall");
    }
    if args.vcd.is_some() && !verilator {
        anyhow::bail!("--vcd traces the RTL in Verilator: use --backend verilator, both or all");
    }
    let mut backends: Vec<Box<dyn tern_arch::Backend>> = Vec::new();
    if golden {
        backends.push(BackendKind::Golden.open(&a)?);
    }
    if verilator {
        backends.push(match &args.vcd {
            Some(vcd) => Box::new(tern_sim::VerilatorBackend::with_trace(&a, Some(vcd))?),
            None => BackendKind::Verilator.open(&a)?,
        });
    }
    if iverilog {
        backends.push(Box::new(crate::testbench::IverilogBackend::new(&a)?));
    }
    if let (true, Some(port)) = (board, &args.port) {
        let link = crate::bridge::SerialPort::open(port, args.baud)?;
        backends.push(Box::new(crate::bridge::BoardBackend::new(&a, link)));
    }
    if args.backend == RunBackend::BoardSim {
        let uart = tern_hdl::uart::UartSpec::new(args.sim_clks_per_bit)?;
        let link = crate::testbench::UartSim::new(&a, uart, Default::default()).map_err(anyhow::Error::msg)?;
        backends.push(Box::new(crate::bridge::BoardBackend::new(&a, link)));
    }
    let mut runs: Vec<(&'static str, RunResult)> = Vec::new();
    for b in &mut backends {
        runs.push((b.name(), b.run(&beats, &stalls, args.max_cycles)?));
    }
    // Verilator opens the file itself and says nothing when it cannot
    if let Some(vcd) = &args.vcd
        && !vcd.is_file()
    {
        anyhow::bail!("the VCD was not written to {} (does its folder exist?)", vcd.display());
    }
    // each against the first
    for (bn, br) in &runs[1..] {
        let (an, ar) = &runs[0];
        let d = if untimed { ar.first_event_difference(an, br, bn) } else { ar.first_difference(an, br, bn) };
        if let Some(d) = d {
            anyhow::bail!("{}: the backends differ: {d}", args.program.display());
        }
    }
    let compared = (runs.len() > 1).then(|| runs.iter().map(|r| r.0).collect::<Vec<_>>().join(" == "));
    let (name, r) = runs.pop().expect("one run at least");
    let mut crc = crc32fast::Hasher::new();
    for v in &r.results {
        crc.update(&v.to_le_bytes());
    }
    let rep = Report {
        program: args.program.display().to_string(),
        preset: a.cfg.name.to_string(),
        backend: name,
        compared,
        beats: beats.len(),
        consumed: r.consumed,
        status: r.status.describe(),
        status_code: r.status as u32,
        stopped: r.stopped.map(|s| match s {
            StopReason::Starved => "starved",
            StopReason::Watchdog => "watchdog",
        }),
        cycles: r.counters.cycles,
        cycles_source: crate::backend::cycles_source(name),
        counters: r.counters,
        results_crc32: format!("{:08x}", crc.finalize()),
        results: r.results.clone(),
        result_beat_cycles: r.beat_cycles.runs().to_vec(),
        vcd: args.vcd.as_ref().map(|v| v.display().to_string()),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        print_table(&rep, &a);
    }
    match (r.status, r.stopped) {
        (Status::Halted, _) => Ok(()),
        (_, Some(StopReason::Starved)) => {
            anyhow::bail!(
                "{}: the accelerator read all {} beats and wants more: the program has no `halt`",
                args.program.display(),
                rep.beats
            )
        }
        (_, Some(StopReason::Watchdog)) => {
            anyhow::bail!("{}: no `halt` within --max-cycles {}", args.program.display(), args.max_cycles)
        }
        (s, None) => anyhow::bail!(
            "{}: the accelerator stopped with status {} (`{}`) after {} of {} beats",
            args.program.display(),
            s as u32,
            s.describe(),
            rep.consumed,
            rep.beats
        ),
    }
}

fn print_table(rep: &Report, a: &tern_arch::Accel) {
    const SHOWN: usize = 8;
    let shown: Vec<String> = rep.results.iter().take(SHOWN).map(i32::to_string).collect();
    let more =
        if rep.results.len() > SHOWN { format!(", ... ({} more; --json lists all)", rep.results.len() - SHOWN) } else { String::new() };
    let mut rows = vec![
        ("program".into(), format!("{} ({} beats)", rep.program, rep.beats)),
        ("preset".into(), format!("{} (R={} L={}, {}-bit link)", rep.preset, a.cfg.rows, a.cfg.lanes, a.cfg.host_bits)),
        (
            "backend".into(),
            rep.compared.as_ref().map_or(rep.backend.to_string(), |c| {
                if rep.backend.starts_with("board") {
                    format!("{c}: status, results, event counters and consumed beats equal (cycles are the link's)")
                } else {
                    format!("{c}: status, results, every beat's cycle, counters and consumed beats equal")
                }
            }),
        ),
        ("status".into(), format!("{} ({})", rep.status_code, rep.status)),
    ];
    if let Some(s) = rep.stopped {
        rows.push(("stopped".into(), s.to_string()));
    }
    let unread =
        if rep.status_code == Status::Halted as u32 && rep.consumed < rep.beats { " (the beats after `halt` are not read)" } else { "" };
    rows.push(("consumed beats".into(), format!("{} of {}{unread}", rep.consumed, rep.beats)));
    rows.push(("results".into(), format!("{} words: {}{more}", rep.results.len(), shown.join(", "))));
    let beats: u64 = rep.result_beat_cycles.iter().map(|r| r.1).sum();
    if let (Some(first), Some(last)) = (rep.result_beat_cycles.first(), rep.result_beat_cycles.last()) {
        let runs = if rep.result_beat_cycles.len() > 1 {
            format!(", in {} runs of consecutive cycles", rep.result_beat_cycles.len())
        } else {
            String::new()
        };
        rows.push(("result beats".into(), format!("{beats}, leaving in cycles {}-{}{runs}", first.0, last.0 + last.1 - 1)));
    }
    rows.push(("result stream crc32".into(), format!("{} (the words in the order they left)", rep.results_crc32)));
    rows.push(("cycles".into(), format!("{} ({})", rep.cycles, rep.cycles_source)));
    if let Some(v) = &rep.vcd {
        rows.push(("vcd".into(), v.clone()));
    }
    for (n, v) in Counters::NAMES.iter().zip(rep.counters.to_array()) {
        rows.push((format!("counter {n}"), v.to_string()));
    }
    crate::table::print("tern run", &rows);
}
