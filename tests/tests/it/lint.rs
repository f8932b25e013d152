//! The emitted Verilog of every preset passes `verilator --lint-only -Wall` with no warning
//! beyond `hdl/lint_waivers.vlt`, and so does the iCE40 counter bank.
use std::path::Path;
use std::process::Command;
use tern_arch::config::PRESETS;

#[test]
fn every_preset_lints_clean() {
    let waivers = Path::new(env!("CARGO_MANIFEST_DIR")).join("../hdl/lint_waivers.vlt");
    let presets = PRESETS.iter().copied().chain(crate::rtl_vs_golden::FAMILY.iter());
    for cfg in presets {
        let a = cfg.validate().unwrap();
        let dir = std::env::temp_dir().join(format!("tern-lint-{}-{}", cfg.name, std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // `verilator --lint-only -Wall` of `verilog` with top `top`: clean, or the warnings
        let lint = |top: &str, verilog: String| {
            let v = dir.join(format!("{top}.v"));
            std::fs::write(&v, verilog).unwrap();
            let out = Command::new("verilator")
                .args(["--lint-only", "-Wall", "--top-module", top])
                .arg(&waivers)
                .arg(&v)
                .output()
                .expect("verilator (run ./setup.sh)");
            let text = String::from_utf8_lossy(&out.stderr).to_string();
            assert!(out.status.success() && !text.contains("%Warning"), "{} {top}: lint failed:\n{text}", cfg.name);
        };
        lint("tern_top", tern_hdl::emit(&a));
        // the iCE40 counter bank (`CounterRead::Bank`), over the generic twin of its cell
        if a.cfg.counter_bits % 8 == 0 {
            let cells = tern_hdl::cells::cinc_cell(8, tern_hdl::Fabric::Generic, true);
            lint("tern_counters", tern_hdl::counters::bank_verilog(&a) + &cells);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
