//! `.tasm` programs through `tern run`: a hand-written program whose results are worked out by
//! hand, a compiled layer written by `tern layer --tasm`, and bad programs.
use crate::common::Scratch;
use std::process::Command;

const CLI: &str = env!("CARGO_BIN_EXE_tern-cli");

fn tern(args: &[&str]) -> (bool, serde_json::Value, String) {
    let out = Command::new(CLI).args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = serde_json::from_str(&stdout).unwrap_or(serde_json::Value::Null);
    (out.status.success(), json, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// `tiny` is 4 rows of 16 lanes: one activation word x = 1..16 and four weight rows whose
/// dot products are easy to check by hand.
const BY_HAND: &str = "; four dot products with x = 1, 2, ..., 16
loadx 0, 1
  .x 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
setlen 1
loadw 0, 1
  .w ++++_++++_++++_++++   ; 1 + 2 + ... + 16 = 136
  .w ----_----_----_----   ; -136
  .w +-+-_+-+-_+-+-_+-+-   ; (1 - 2) + (3 - 4) + ... = -8
  .w 0000_0000_0000_000-   ; -16
matvec 0, 0, store
halt
";

#[test]
fn hand_written_program_gives_the_hand_worked_results_on_both_backends() {
    let dir = Scratch::new("tasm", "by-hand");
    let f = dir.join("by_hand.tasm");
    std::fs::write(&f, BY_HAND).unwrap();
    let (ok, j, err) = tern(&["run", f.to_str().unwrap(), "--preset", "tiny", "--backend", "all", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(j["compared"], "golden == verilator == iverilog");
    assert_eq!(j["status"], "halted");
    assert_eq!(j["results"], serde_json::json!([136, -136, -8, -16]));
    assert_eq!(j["consumed"], j["beats"]);
    assert_eq!(j["counters"]["issue"], 1);
    // the README's ISA example is this program, and gives what the README says
    let readme = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md")).unwrap();
    let start = readme.find("\nloadx 0, 1 ").expect("README: the .tasm example") + 1;
    let example = &readme[start..start + readme[start..].find("```").unwrap()];
    let f = dir.join("readme.tasm");
    std::fs::write(&f, example).unwrap();
    let (ok, r, err) = tern(&["run", f.to_str().unwrap(), "--preset", "tiny", "--backend", "both", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(r["results"], j["results"]);
    assert_eq!(r["counters"], j["counters"]);
    assert_eq!(r["result_beat_cycles"], serde_json::json!([[21, 4]]));
    assert!(readme.contains("prints `136, -136, -8, -16`, the 4 result beats\nleaving in cycles 21-24 of 26"), "README's figures");
}

#[test]
fn a_layer_written_as_tasm_runs_to_the_same_counters() {
    let dir = Scratch::new("tasm", "layer");
    let f = dir.join("layer.tasm");
    let f = f.to_str().unwrap();
    let (ok, layer, err) =
        tern(&["layer", "--preset", "tiny", "--out-features", "9", "--in-features", "40", "--batch", "2", "--tasm", f, "--json"]);
    assert!(ok, "{err}");
    let text = std::fs::read_to_string(f).unwrap();
    assert!(text.contains("\n  .w ") && text.contains("\n  .x ") && !text.contains(".beat"), "{text}");
    let (ok, run, err) = tern(&["run", f, "--preset", "tiny", "--backend", "both", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(run["status"], "halted");
    assert_eq!(run["counters"], layer["counters"]);
    // 9 outputs pad to 3 tiles of 4 rows: 12 result words per token
    assert_eq!(run["results"].as_array().unwrap().len(), 2 * 12);
}

#[test]
fn bad_programs_fail_with_the_line_or_the_status() {
    let dir = Scratch::new("tasm", "bad");
    let cases: [(&str, &str, &str); 5] = [
        ("typo", "setlen 1\nmatvek 0, 0\nhalt\n", "typo.tasm: line 2: unknown mnemonic `matvek`"),
        (
            "short",
            "loadx 0, 1\n  .x 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16\nsetlen 1\nloadw 0, 1\n  .w ++++++++++++++++\nhalt\n",
            "short.tasm: line 6: `halt` comes before the data of the `loadw` at line 4 is complete: it loads 4 beats (1 words x 4 rows x 1 beats), found 1",
        ),
        (
            "before_setlen",
            "matvec 0, 0, store\nhalt\n",
            "the accelerator stopped with status 9 (`MATVEC before SETLEN`) after 1 of 2 beats",
        ),
        ("no_halt", "setlen 1\n", "the accelerator read all 1 beats and wants more: the program has no `halt`"),
        ("empty", "; nothing\n", "the program has no instruction"),
    ];
    for (name, text, want) in cases {
        let f = dir.join(format!("{name}.tasm"));
        std::fs::write(&f, text).unwrap();
        let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--backend", "both"]);
        assert!(!ok, "{name}: must fail");
        assert!(err.contains(want), "{name}: {err}");
    }
}

#[test]
fn vcd_of_a_program_has_every_cycle() {
    let dir = Scratch::new("tasm", "vcd");
    let f = dir.join("by_hand.tasm");
    std::fs::write(&f, BY_HAND).unwrap();
    let vcd = dir.join("by_hand.vcd");
    let (ok, j, err) = tern(&["run", f.to_str().unwrap(), "--backend", "verilator", "--vcd", vcd.to_str().unwrap(), "--json"]);
    assert!(ok, "{err}");
    assert_eq!(j["results"], serde_json::json!([136, -136, -8, -16]));
    let text = std::fs::read_to_string(&vcd).unwrap();
    assert!(
        text.contains("$enddefinitions") && text.contains(" in_valid ") && text.contains(" out_data "),
        "{}",
        &text[..text.len().min(2000)]
    );
    // two time steps a cycle (both clock edges), from reset on
    let steps = text.lines().filter(|l| l.starts_with('#')).count() as u64;
    let cycles = j["cycles"].as_u64().unwrap();
    assert!(steps >= 2 * cycles, "{steps} time steps for {cycles} cycles");
    let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--vcd", vcd.to_str().unwrap()]);
    assert!(!ok && err.contains("--vcd traces the RTL in Verilator: use --backend verilator, both or all"), "{err}");
}

/// `tern verilog --testbench` (with `extra` flags), `edit` applied to the output folder, then
/// the testbench in iverilog over the emitted RTL: what it printed.
fn testbench_verdict(
    dir: &std::path::Path,
    preset: &str,
    program: &std::path::Path,
    extra: &[&str],
    edit: impl Fn(&std::path::Path),
) -> String {
    let mut args = vec!["verilog", "--preset", preset, "--out", dir.to_str().unwrap(), "--testbench", program.to_str().unwrap()];
    args.extend_from_slice(extra);
    let (ok, _, err) = tern(&args);
    assert!(ok, "{err}");
    edit(dir);
    let out = Command::new("iverilog").args(["-g2012", "-o", "tb", "tern_top.v", "tb_tern.v"]).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "iverilog: {}", String::from_utf8_lossy(&out.stderr));
    let out = Command::new("vvp").arg("tb").current_dir(dir).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Add one to line `line` (hex) of `file`.
fn off_by_one(file: &'static str, line: usize) -> impl Fn(&std::path::Path) {
    move |dir| {
        let p = dir.join(file);
        let text = std::fs::read_to_string(&p).unwrap();
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        let v = u64::from_str_radix(&lines[line], 16).unwrap();
        lines[line] = format!("{:0w$x}", v + 1, w = lines[line].len());
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
    }
}

fn as_is(_: &std::path::Path) {}

#[test]
fn testbench_passes_in_iverilog_on_three_presets() {
    let dir = Scratch::new("tasm", "tb");
    let by_hand = dir.join("by_hand.tasm");
    std::fs::write(&by_hand, BY_HAND).unwrap();
    let v = testbench_verdict(&dir.join("tiny"), "tiny", &by_hand, &[], as_is);
    assert!(v.contains("PASS: 4 result words, every beat in its cycle, status 1, 26 cycles"), "{v}");
    // an error status is expected too, with its cycles and counters
    let bad = dir.join("before_setlen.tasm");
    std::fs::write(&bad, "matvec 0, 0, store\nhalt\n").unwrap();
    let v = testbench_verdict(&dir.join("bad"), "tiny", &bad, &[], as_is);
    assert!(v.contains("PASS: 0 result words, every beat in its cycle, status 9"), "{v}");
    // pair-chain rows (ice40-up5k) and the grouped 2048-MAC array with a 64-bit link
    // (ecp5-85f), without and with stalls on both streams
    for preset in ["ice40-up5k", "ecp5-85f"] {
        let f = dir.join(format!("{preset}.tasm"));
        let (ok, _, err) = tern(&[
            "layer",
            "--preset",
            preset,
            "--out-features",
            "70",
            "--in-features",
            "100",
            "--batch",
            "2",
            "--tasm",
            f.to_str().unwrap(),
        ]);
        assert!(ok, "{err}");
        let v = testbench_verdict(&dir.join(preset), preset, &f, &[], as_is);
        assert!(v.contains("PASS: ") && !v.contains("FAIL"), "{preset}: {v}");
        let stalled = ["--in-stall", "0.3", "--out-stall", "0.5", "--seed", "5"];
        let v = testbench_verdict(&dir.join(format!("{preset}-stalls")), preset, &f, &stalled, as_is);
        assert!(v.contains("PASS: ") && !v.contains("FAIL"), "{preset} with stalls: {v}");
    }
}

#[test]
fn testbench_catches_a_wrong_word_a_late_beat_and_a_withdrawn_beat() {
    let dir = Scratch::new("tasm", "tb-bad");
    let by_hand = dir.join("by_hand.tasm");
    std::fs::write(&by_hand, BY_HAND).unwrap();
    let v = testbench_verdict(&dir.join("word"), "tiny", &by_hand, &[], off_by_one("expected_words.hex", 1));
    assert!(v.contains("FAIL: result word 1: got -136, expected -135 (cycle 22)") && v.contains("FAIL: 1 errors"), "{v}");
    let v = testbench_verdict(&dir.join("cycle"), "tiny", &by_hand, &[], off_by_one("expected_cycles.hex", 0));
    assert!(v.contains("FAIL: result beat 0 left at cycle 21, expected 22"), "{v}");
    // a host that withdraws an offered beat breaks the valid/ready rule the golden model keeps
    let withdraw = |dir: &std::path::Path| {
        let p = dir.join("tb_tern.v");
        let tb = std::fs::read_to_string(&p).unwrap();
        assert!(tb.contains("(held || offer)"));
        std::fs::write(&p, tb.replace("(held || offer)", "(offer)")).unwrap();
    };
    let stalled = ["--in-stall", "0.5", "--out-stall", "0.5", "--seed", "3"];
    let v = testbench_verdict(&dir.join("held"), "tiny", &by_hand, &stalled, withdraw);
    assert!(v.contains("FAIL: counter stall_in is"), "{v}");
}

/// `tern run --backend board-sim`: the README's program through the host's board driver and
/// the UART board's RTL, compared with golden; `--backend board` without a port, a port that
/// is not one, and stalls on a board are refused by name.
#[test]
fn hand_written_program_runs_on_the_simulated_uart_board() {
    let dir = Scratch::new("tasm", "board");
    let f = dir.join("by_hand.tasm");
    std::fs::write(&f, BY_HAND).unwrap();
    let (ok, j, err) = tern(&["run", f.to_str().unwrap(), "--backend", "board-sim", "--json"]);
    assert!(ok, "{err}");
    assert_eq!(j["results"], serde_json::json!([136, -136, -8, -16]));
    assert_eq!(j["compared"], "golden == board-sim");
    assert_eq!(j["cycles_source"], "the UART board's RTL (Icarus Verilog; its serial link paces the core)");
    assert!(j["result_beat_cycles"].as_array().unwrap().is_empty(), "a board's beats have no cycles");
    let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--backend", "board"]);
    assert!(!ok && err.contains("--backend board needs --port"), "{err}");
    let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--backend", "board-golden", "--port", f.to_str().unwrap()]);
    assert!(!ok && err.contains("by_hand.tasm: not a serial port"), "{err}");
    let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--backend", "board-sim", "--in-stall", "0.5"]);
    assert!(!ok && err.contains("a board's serial link sets its own pace"), "{err}");
    let (ok, _, err) = tern(&["run", f.to_str().unwrap(), "--out-stall", "1"]);
    assert!(!ok && err.contains("the output stall probability must lie in [0, 1), not 1"), "{err}");
}
