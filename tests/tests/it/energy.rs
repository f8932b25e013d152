//! The energy model's inputs and outputs: counted events of a compiled layer by hand, golden
//! counters equal to RTL counters (so an estimate is the same whichever backend counted),
//! the toggle-based FPGA refinement, `docs/energy.md`, and `tern report`.
use crate::common::*;
use crate::rtl_vs_golden::FAMILY;
use proptest::prelude::*;
use tern_arch::config::TINY;
use tern_arch::energy::{self, Tech};
use tern_arch::{Backend, Golden, Stalls, Status};
use tern_fw::compile_bitlinear;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-12 * a.abs().max(b.abs()).max(1e-30)
}

/// A 4 x 16 layer at batch 1 on `tiny` (R=4, L=16, 32-bit link) is one MATVEC: exact counts,
/// then exact picojoules on the 45 nm table, identical from golden and RTL counters.
#[test]
fn one_matvec_counts_and_picojoules() {
    let a = TINY.validate().unwrap();
    let (w, x) = random_layer(4, 16, 1, 5);
    let p = compile_bitlinear(&a, &w, &x, 1).unwrap();
    // LOADX, SETLEN, LOADW, MATVEC, HALT
    assert_eq!(p.insns, 5);
    let g = Golden::new(&a).run(&p.beats, &Stalls::NONE, 10_000);
    assert_eq!(g.status, Status::Halted);
    let c = g.counters;
    // LOADX fetch+exec+4 beats (6), SETLEN (8), LOADW fetch+exec+4 beats (14), MATVEC fetch and
    // accept (16), the token issues in 17 and reaches the accumulators 3 stages later (20),
    // snapshot (21), 4 result beats (22-25), HALT drained (26)
    assert_eq!(c.cycles, 26);
    assert_eq!((c.insns, c.wwords, c.xwords, c.issue, c.acc_updates, c.out_beats), (5, 4, 1, 1, 1, 4));
    assert_eq!((c.stall_in, c.stall_out, c.freeze), (0, 0, 0));
    let e = energy::estimate(&a, &c, 50e6, Tech::Asic45);
    let pj = |cl: &str| e.line(cl).unwrap().joules.unwrap() * 1e12;
    // 128 weight bits from DRAM at 1300 pJ / 64 bits
    assert!(close(pj("dram_weights"), 2600.0));
    // 128 bits each written / read, 10 pJ / 64 bits (arrays <= 8 KB)
    for cl in ["wmem_write", "wmem_read", "amem_write", "amem_read"] {
        assert!(close(pj(cl), 20.0), "{cl}");
    }
    // 4 rows x (8 x 0.0325 + 4 x 0.035 + 2 x 0.0375 + 1 x 0.04) pJ; 4 x 24-bit adds at 0.075 pJ
    assert!(close(pj("tree_add"), 2.06));
    assert!(close(pj("acc_add"), 0.3));
    assert!(close(e.total_j * 1e12, 2682.36));
    let r = with_rtl(&TINY, |v| v.run(&p.beats, &Stalls::NONE, 10_000).unwrap());
    assert_same("one matvec", &g, &r);
    assert_eq!(energy::estimate(&a, &r.counters, 50e6, Tech::Asic45), e);
}

fn cases() -> u32 {
    std::env::var("TERN_PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).map(|n: u32| n.div_ceil(32)).unwrap_or(6)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    /// Golden counters == RTL counters on random layers of every geometry of the family, so
    /// every table's estimate is the same whichever backend counted the events.
    #[test]
    fn golden_and_rtl_counters_give_one_estimate(which in 0usize..FAMILY.len(), out in 1usize..40, inp in 1usize..200,
                                                 batch in 1usize..4, seed: u64) {
        let cfg = &FAMILY[which];
        let a = cfg.validate().unwrap();
        let (w, x) = random_layer(out, inp, batch, seed);
        let p = compile_bitlinear(&a, &w, &x, batch).unwrap();
        let (g, r) = run_both(&a, cfg, &p.beats, &Stalls::NONE, 50_000_000);
        let what = format!("{} {out}x{inp} batch {batch} seed {seed}", cfg.name);
        let (gc, rc) = (g.counters.to_array(), r.counters.to_array());
        for (i, name) in tern_arch::Counters::NAMES.iter().enumerate() {
            prop_assert_eq!(gc[i], rc[i], "{}: counter `{}`", what, name);
        }
        for t in Tech::ALL {
            let (eg, er) = (energy::estimate(&a, &g.counters, 50e6, t), energy::estimate(&a, &r.counters, 50e6, t));
            prop_assert_eq!(&eg, &er);
            prop_assert!(eg.total_j > 0.0 && eg.estimate);
        }
        // the array did every useful MAC (padding included)
        let ev = energy::Events::new(&a, &g.counters);
        prop_assert!(ev.macs >= (out * inp * batch) as u64, "{}", what);
    }
}

/// The toggle-coverage build counts the same events, and its activity-based FPGA estimate
/// lands near the counted one (a coverage build takes a minute: TERN_SLOW=1).
#[test]
fn toggle_estimate_near_counted() {
    if std::env::var("TERN_SLOW").is_err() {
        return;
    }
    let a = TINY.validate().unwrap();
    let dir = Scratch::new("tern-energy", "toggles");
    let cov = dir.join("coverage.dat");
    let mut g = Golden::new(&a);
    let run = tern_host::energy::run_layer(&a, &mut g, 32, 128, 2, 3, Some(&cov)).unwrap();
    let cmp = tern_host::energy::compare_toggles(&a, &run, Tech::Ice40Up5k, 50e6).unwrap();
    let at = &cmp.attribution;
    for cl in ["tree_add", "acc_add", "wmem_read", "amem_read", "pipe_regs", "link_io", "control", "counters"] {
        assert!(at.classes.iter().any(|(c, n)| *c == cl && *n > 0), "no toggles in {cl}: {:?}", at.classes);
    }
    assert!(!at.classes.iter().any(|(c, _)| *c == "other"), "unattributed nets: {:?}", at.classes);
    assert!(cmp.gap_on_chip.abs() < 0.5, "on-chip gap {}", cmp.gap_on_chip);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn docs_energy_table_matches_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/energy.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let begin = "<!-- BEGIN GENERATED: tern_arch::energy::markdown_table -->\n";
    let b = text.find(begin).expect("marker") + begin.len();
    let e = b + text[b..].find("<!-- END GENERATED -->").expect("end marker");
    let want = energy::markdown_table();
    if text[b..e] != want {
        if std::env::var("TERN_BLESS").is_ok() {
            std::fs::write(&path, format!("{}{}{}", &text[..b], want, &text[e..])).unwrap();
        } else {
            panic!("docs/energy.md is out of date with tern_arch::energy::markdown_table; run with TERN_BLESS=1.\n{want}");
        }
    }
}

/// `tern report --json` names its table, says it is an estimate and what counted the events.
#[test]
fn report_cli_json() {
    let dir = Scratch::new("tern-report", "cli");
    let svg = dir.join("e.svg");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tern-cli"))
        .args(["report", "--preset", "tiny", "--tech", "asic-7nm", "--out-features", "16", "--in-features", "64", "--json", "--svg"])
        .arg(&svg)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["estimate"], true);
    assert_eq!(v["tech"], "asic-7nm");
    assert_eq!(v["counted_from"], "golden counters");
    assert!(v["source"].as_str().unwrap().contains("2310.11453"));
    assert!(v["energy_per_token_j"].as_f64().unwrap() > 0.0);
    assert!(v["breakdown"]["tree_add"]["joules_per_token"].as_f64().unwrap() > 0.0);
    assert!(v["breakdown"]["static"]["joules_per_token"].is_null());
    assert_eq!(v["baselines"]["per_op_fp16_vs_ternary"].as_f64().unwrap(), (0.34 + 0.16) / 0.007);
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tern-cli")).args(["report", "--tech", "asic-3nm"]).output().unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown --tech `asic-3nm` (known: asic-45nm, asic-7nm, ice40-up5k, all)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn report_baseline_macs_per_token_do_not_grow_with_tokens() {
    // regression: the baselines printed the whole run's MACs as "MACs per token"
    let macs = |tokens: &str| -> (u64, u64) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tern-cli"))
            .args(["report", "--model", "../models/tiny-shakespeare", "--backend", "golden", "--json", "--tokens", tokens])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let per_token = v["counters"]["issue"].as_u64().unwrap() * 4 * 16 / v["tokens"].as_u64().unwrap();
        (v["baselines"]["macs"].as_u64().unwrap(), per_token)
    };
    let (m3, want) = macs("3");
    assert_eq!(m3, want);
    assert_eq!(macs("5").0, m3);
}
