//! The emitted Verilog of every preset passes `verilator --lint-only -Wall` with no warning
//! beyond `hdl/lint_waivers.vlt`, and so do the iCE40 counter bank and the UART link.
use std::path::Path;
use std::process::Command;
use tern_arch::config::PRESETS;

#[test]
fn every_preset_lints_clean() {
    let presets = PRESETS.iter().copied().chain(crate::rtl_vs_golden::FAMILY.iter());
    for cfg in presets {
        let a = cfg.validate().unwrap();
        let dir = std::env::temp_dir().join(format!("tern-lint-{}-{}", cfg.name, std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let lint = |top: &str, verilog: String| lint(&dir, cfg.name, top, verilog);
        lint("tern_top", tern_hdl::emit(&a));
        // the iCE40 counter bank (`CounterRead::Bank`), over the generic twin of its cell
        if a.cfg.counter_bits % 8 == 0 {
            let cells = tern_hdl::cells::cinc_cell(8, tern_hdl::Fabric::Generic, true);
            lint("tern_counters", tern_hdl::counters::bank_verilog(&a) + &cells);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}

/// `tern_uart` (the board's serial link) at a few dividers alone, then the board wrapper with
/// each link around the core: no warning beyond the waivers.
#[test]
fn board_and_uart_link_lint_clean() {
    let dir = std::env::temp_dir().join(format!("tern-lint-uart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for cpb in [4, 12, 25, 434] {
        let u = tern_hdl::uart::UartSpec::new(cpb).unwrap();
        lint(&dir, &format!("{cpb} clocks a bit"), "tern_uart", "`default_nettype none\n".to_string() + &tern_hdl::uart::verilog(u));
    }
    // the board wrapper around the core with each link (what `tern synth` builds, generic cells)
    let a = tern_arch::config::TINY.validate().unwrap();
    for link in [tern_hdl::board::Link::Parallel, tern_hdl::board::Link::Uart(tern_hdl::uart::UartSpec::new(12).unwrap())] {
        let spec = tern_hdl::board::BoardSpec { leds_active_low: true, link, pll: None };
        lint(&dir, &format!("{link:?}"), "tern_board", tern_hdl::board::emit(&a, spec, tern_hdl::Fabric::Generic));
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `verilator --lint-only -Wall` of `verilog` (written into `dir`) with top `top`: clean, or the
/// test fails with the warnings, naming `what`.
fn lint(dir: &Path, what: &str, top: &str, verilog: String) {
    let waivers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hdl/lint_waivers.vlt");
    let v = dir.join(format!("{top}.v"));
    std::fs::write(&v, verilog).unwrap();
    let out = Command::new("verilator")
        .args(["--lint-only", "-Wall", "--top-module", top])
        .arg(&waivers)
        .arg(&v)
        .output()
        .expect("verilator (run ./setup.sh)");
    let text = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success() && !text.contains("%Warning"), "{what} {top}: lint failed:\n{text}");
}
