//! Energy per token on the host side: running a workload (one BitLinear layer, or a model's
//! decode steps) to get its counters, turning them into `tern_arch::energy` estimates per
//! technology, the optional toggle-based refinement (a Verilator toggle-coverage run), and
//! the reports: a human table, JSON, a stacked-bar SVG. `tern report` is the verb; `tern
//! generate` calls `token_summary` / `energy_per_token_j`.
//!
//! Every number printed here is an estimate and says so, names its table and whether it
//! came from counted events (golden or RTL counters) or from toggles.

pub mod svg;
pub mod toggles;

use crate::exec::{AccelExec, ExecError, Executor, LinearId, Phase};
use anyhow::{Context, Result};
use serde::Serialize;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use tern_arch::config::Accel;
use tern_arch::energy::{self, Basis, Estimate, Tech};
use tern_arch::golden::{Counters, RunResult};
use tern_arch::pack::TernaryMatrix;
use tern_arch::{Backend, BackendError, Stalls};
use tern_sim::VerilatorBackend;

/// The table a preset is reported against by default: its FPGA when it names one the
/// tables cover, else the 45 nm ASIC table (the one whose every figure has one source).
pub fn default_tech(a: &Accel) -> Tech {
    match a.cfg.device {
        Some(tern_arch::config::Device::Ice40Up5k) => Tech::Ice40Up5k,
        _ => Tech::Asic45,
    }
}

/// "golden counters" or "RTL counters", from a backend name.
pub fn counted_from(backend: &str) -> &'static str {
    if backend == "verilator" { "RTL counters" } else { "golden counters" }
}

/// The clock a time or energy figure assumes, with where it came from.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Clock {
    pub mhz: f64,
    pub source: String,
}

/// `mhz` when given (`--clock-mhz`); else the Fmax nextpnr achieved for this preset
/// (docs/fmax.json, written by `tern synth --record`); else the preset's target clock,
/// labelled as not synthesized.
pub fn clock(a: &Accel, mhz: Option<f64>) -> Clock {
    if let Some(mhz) = mhz {
        return Clock { mhz, source: "given by --clock-mhz".into() };
    }
    match crate::synth::measured_fmax(a.cfg.name) {
        Some((mhz, _target, source)) => Clock { mhz, source: format!("Fmax achieved by {source}") },
        None => Clock {
            mhz: a.cfg.target_fmax_mhz as f64,
            source: format!(
                "preset `{}` target clock, not synthesized (no record in docs/fmax.json; `tern synth --record` makes one)",
                a.cfg.name
            ),
        },
    }
}

/// The clock an estimate assumes in Hz (see [`clock`]).
pub fn clock_hz(a: &Accel, mhz: Option<f64>) -> f64 {
    clock(a, mhz).mhz * 1e6
}

/// Estimate per token: `counters` of a run that produced `tokens` tokens.
pub fn per_token(a: &Accel, counters: &Counters, tokens: u64, tech: Tech, clock_hz: f64) -> Estimate {
    energy::estimate(a, counters, clock_hz, tech).scaled(1.0 / tokens.max(1) as f64)
}

/// Joules per token on the preset's default table (`default_tech`), or `None` without tokens.
pub fn energy_per_token_j(a: &Accel, counters: &Counters, tokens: u64) -> Option<f64> {
    (tokens > 0).then(|| per_token(a, counters, tokens, default_tech(a), clock_hz(a, None)).total_j)
}

/// One line for `tern generate`: energy per token on the default table, labelled.
/// e.g. `1.234 uJ (estimate, asic-45nm table: Horowitz, ISSCC 2014 (45 nm, 0.9 V); from RTL
/// counters; off-chip weights 97%; 6 classes not known)`.
pub fn token_summary(a: &Accel, counters: &Counters, tokens: u64, backend: &str) -> String {
    if tokens == 0 {
        return "n/a (no decode step)".into();
    }
    let e = per_token(a, counters, tokens, default_tech(a), clock_hz(a, None));
    summary(&e, counted_from(backend))
}

fn summary(e: &Estimate, from: &str) -> String {
    let unknown = e.lines.iter().filter(|l| l.joules.is_none() && l.events > 0).count();
    format!(
        "{} (estimate, {} table: {}; from {}; off-chip memory {:.0}%{})",
        svg::si_j(e.total_j),
        e.tech,
        e.source,
        from,
        100.0 * e.off_chip_j / e.total_j.max(f64::MIN_POSITIVE),
        if unknown > 0 { format!("; {unknown} classes not known, see `tern report`") } else { String::new() }
    )
}

// ---------------------------------------------------------------------------- workloads

/// What was run to get the counters.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Workload {
    Layer { out_features: usize, in_features: usize, batch: usize, seed: u64 },
    Model { path: String, prompt_tokens: usize, decode_steps: usize },
}

impl Workload {
    /// A few words for a picture's title.
    pub fn short(&self) -> String {
        match self {
            Workload::Layer { out_features, in_features, batch, .. } => format!("layer {out_features} x {in_features}, batch {batch}"),
            Workload::Model { path, decode_steps, .. } => format!("{path}, {decode_steps} decode steps"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Workload::Layer { out_features, in_features, batch, seed } => format!(
                "one BitLinear {out_features} x {in_features}, batch {batch} (random ternary weights and int8 activations, seed {seed}); per token = run / {batch}"
            ),
            Workload::Model { path, prompt_tokens, decode_steps } => format!(
                "model {path}: {prompt_tokens} prompt tokens (prefill, not counted), {decode_steps} decode steps; per token = decode / {decode_steps}"
            ),
        }
    }
}

/// Counters of a workload and how many tokens they cover.
#[derive(Clone, Debug)]
pub struct Run {
    pub workload: Workload,
    pub backend: &'static str,
    pub counters: Counters,
    pub tokens: u64,
    /// Toggle classes of the same run (coverage build), when measured.
    pub toggles: Option<toggles::Attribution>,
    pub coverage_file: Option<PathBuf>,
}

fn layer_program(a: &Accel, out: usize, inp: usize, batch: usize, seed: u64) -> Result<(TernaryMatrix, Vec<i8>, tern_fw::LayerProgram)> {
    let (w, x) = crate::layer::random_layer(out, inp, batch, seed);
    let p = tern_fw::compile_bitlinear(a, &w, &x, batch).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((w, x, p))
}

/// One random layer through `backend`; with `coverage`, through the toggle-coverage build,
/// the counts written to `coverage` and attributed.
pub fn run_layer(
    a: &Accel,
    backend: &mut dyn Backend,
    out: usize,
    inp: usize,
    batch: usize,
    seed: u64,
    coverage: Option<&Path>,
) -> Result<Run> {
    let (w, x, _) = layer_program(a, out, inp, batch, seed)?;
    let (rep, _) = crate::layer::run_layer(a, backend, &w, &x, batch, &Stalls::NONE)?;
    if !rep.matches_reference {
        anyhow::bail!("the {} backend's results differ from the host's integer matmul", backend.name());
    }
    let workload = Workload::Layer { out_features: out, in_features: inp, batch, seed };
    let mut run =
        Run { workload, backend: backend.name(), counters: rep.counters, tokens: batch as u64, toggles: None, coverage_file: None };
    if let Some(path) = coverage {
        let mut v = VerilatorBackend::with_coverage(a).context("building the toggle-coverage Verilator model")?;
        v.zero_coverage();
        let (crep, _) = crate::layer::run_layer(a, &mut v, &w, &x, batch, &Stalls::NONE)?;
        if crep.counters != rep.counters {
            anyhow::bail!(
                "the coverage build's counters differ from the {} counters: {:?} vs {:?}",
                backend.name(),
                crep.counters,
                rep.counters
            );
        }
        run.toggles = Some(measure(a, &v, path, &rep.counters)?);
        run.coverage_file = Some(path.to_path_buf());
    }
    Ok(run)
}

/// Write the coverage, read it back, attribute it (load split by beats).
fn measure(a: &Accel, v: &VerilatorBackend, path: &Path, c: &Counters) -> Result<toggles::Attribution> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    v.write_coverage(path)?;
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let text = String::from_utf8_lossy(&text);
    let design = toggles::Design::parse(&tern_hdl::emit(a));
    let mut at = toggles::attribute(&design, &toggles::parse_coverage(&text));
    let (mut wb, mut xb) = (c.wwords * (a.beats_per_wword as u64 - 1), c.xwords * (a.beats_per_xword as u64 - 1));
    if wb + xb == 0 {
        (wb, xb) = (c.wwords * a.beats_per_wword as u64, c.xwords * a.beats_per_xword as u64);
    }
    at.classes = toggles::split_load(&at.classes, wb, xb);
    Ok(at)
}

/// A coverage model shared between the executor (which owns a `Box<dyn Backend>`) and the
/// code that zeroes and writes its counts.
struct SharedRtl(Rc<RefCell<VerilatorBackend>>, Accel);

impl Backend for SharedRtl {
    fn name(&self) -> &'static str {
        "verilator"
    }
    fn accel(&self) -> &Accel {
        &self.1
    }
    fn run(&mut self, beats: &[u64], stalls: &Stalls, max_cycles: u64) -> Result<RunResult, BackendError> {
        self.0.borrow_mut().run(beats, stalls, max_cycles)
    }
}

/// Zeroes the toggle counts at the first decode call, so they cover decode only (like the
/// decode counters).
struct DecodeOnly {
    inner: AccelExec,
    rtl: Option<Rc<RefCell<VerilatorBackend>>>,
    zeroed: bool,
}

impl Executor for DecodeOnly {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn matmul(&mut self, id: LinearId, w: &TernaryMatrix, x: &[i8], batch: usize, phase: Phase) -> Result<Vec<i32>, ExecError> {
        if phase == Phase::Decode && !self.zeroed {
            if let Some(r) = &self.rtl {
                r.borrow_mut().zero_coverage();
            }
            self.zeroed = true;
        }
        self.inner.matmul(id, w, x, batch, phase)
    }
}

/// Generate `tokens` tokens after `prompt` with the model at `path`; the counters of the
/// decode steps. With `coverage`, the run uses the toggle-coverage build (decode toggles only).
pub fn run_model(
    a: &Accel,
    backend: crate::backend::BackendKind,
    path: &Path,
    prompt: &str,
    tokens: usize,
    coverage: Option<&Path>,
) -> Result<Run> {
    // event counts do not depend on the weights' values: a .gguf is ternarized with absmean
    let model = crate::cmd::load_model(path, crate::model::Quantizer::Absmean, false)?;
    let prompt_ids: Vec<u32> = model.vocab.bos().into_iter().chain(model.vocab.encode(prompt)?).collect();
    if prompt.is_empty() {
        anyhow::bail!("--prompt must not be empty");
    }
    if tokens < 2 {
        anyhow::bail!("--tokens must be at least 2 (energy per token is measured on decode steps)");
    }
    let (exec, rtl) = if coverage.is_some() {
        let v = Rc::new(RefCell::new(VerilatorBackend::with_coverage(a).context("building the toggle-coverage Verilator model")?));
        (AccelExec::new(Box::new(SharedRtl(v.clone(), a.clone()))), Some(v))
    } else {
        (AccelExec::new(backend.open(a)?), None)
    };
    let mut ex = DecodeOnly { inner: exec, rtl, zeroed: false };
    let mut sampler = crate::sample::Sampler::greedy();
    let g = crate::generate::generate(&model, &mut ex, &prompt_ids, tokens, &mut sampler, 0, |_| {}).context("generation failed")?;
    let dc = ex.inner.decode;
    let mut run = Run {
        workload: Workload::Model { path: path.display().to_string(), prompt_tokens: prompt_ids.len(), decode_steps: g.decode_steps },
        backend: ex.inner.backend_name(),
        counters: dc.counters,
        tokens: g.decode_steps as u64,
        toggles: None,
        coverage_file: None,
    };
    if let (Some(p), Some(r)) = (coverage, &ex.rtl) {
        run.toggles = Some(measure(a, &r.borrow(), p, &dc.counters)?);
        run.coverage_file = Some(p.to_path_buf());
    }
    Ok(run)
}

// ------------------------------------------------------------------------------ reports

/// One class of the breakdown, per token.
#[derive(Clone, Debug, Serialize)]
pub struct ClassRow {
    /// `None`: not known.
    pub joules_per_token: Option<f64>,
    pub events_per_token: f64,
    pub unit: &'static str,
    pub pj_each: Option<f64>,
    pub on_chip: bool,
    pub source: String,
}

/// One table's estimate, per token.
#[derive(Clone, Debug, Serialize)]
pub struct TechReport {
    pub estimate: bool,
    pub tech: &'static str,
    pub source: &'static str,
    pub counted_from: String,
    pub basis: Basis,
    pub energy_per_token_j: f64,
    /// With DRAM at the high end of its published range.
    pub energy_per_token_hi_j: f64,
    pub on_chip_per_token_j: f64,
    pub off_chip_per_token_j: f64,
    /// off-chip / total: memory traffic's share.
    pub off_chip_share: f64,
    pub breakdown: BTreeMap<&'static str, ClassRow>,
    pub unknowns: Vec<energy::Unknown>,
    pub assumptions: Vec<String>,
    pub baselines: Option<energy::Baselines>,
    /// The estimate before dividing by tokens.
    pub run_total_j: f64,
}

impl TechReport {
    pub fn new(e_run: &Estimate, tokens: u64, from: &str) -> TechReport {
        let k = 1.0 / tokens.max(1) as f64;
        let e = e_run.scaled(k);
        let breakdown = e
            .lines
            .iter()
            .map(|l| {
                (
                    l.class,
                    ClassRow {
                        joules_per_token: l.joules,
                        events_per_token: l.events as f64 * k,
                        unit: l.unit,
                        pj_each: l.pj_each,
                        on_chip: l.on_chip,
                        source: l.source.clone(),
                    },
                )
            })
            .collect();
        TechReport {
            estimate: true,
            tech: e.tech,
            source: e.source,
            counted_from: from.to_string(),
            basis: e.basis,
            energy_per_token_j: e.total_j,
            energy_per_token_hi_j: e.total_hi_j,
            on_chip_per_token_j: e.on_chip_j,
            off_chip_per_token_j: e.off_chip_j,
            off_chip_share: e.off_chip_j / e.total_j.max(f64::MIN_POSITIVE),
            breakdown,
            unknowns: e.unknowns.clone(),
            assumptions: e.assumptions.clone(),
            baselines: e.baselines.clone(),
            run_total_j: e_run.total_j,
        }
    }
}

/// Counted events vs toggles for the FPGA, side by side.
#[derive(Clone, Debug, Serialize)]
pub struct ToggleComparison {
    pub counted: TechReport,
    pub toggles: TechReport,
    /// (toggles - counted) / counted, whole estimate.
    pub gap_total: f64,
    /// The same for the on-chip part (no off-chip DRAM).
    pub gap_on_chip: f64,
    /// The same for the logic classes only (no clock, static, DRAM): where they differ.
    pub counted_logic_per_token_j: f64,
    pub toggles_logic_per_token_j: f64,
    pub gap_logic: f64,
    pub attribution: toggles::Attribution,
    pub coverage_file: String,
}

pub fn compare_toggles(a: &Accel, run: &Run, tech: Tech, clock_hz: f64) -> Option<ToggleComparison> {
    let at = run.toggles.as_ref()?;
    let from = format!("{} (coverage build, same counters)", counted_from(run.backend));
    let counted = TechReport::new(&energy::estimate(a, &run.counters, clock_hz, tech), run.tokens, counted_from(run.backend));
    let toggled = TechReport::new(&energy::estimate_toggles(a, &run.counters, &at.classes, clock_hz, tech), run.tokens, &from);
    let logic = |r: &TechReport| -> f64 {
        r.breakdown
            .iter()
            .filter(|(c, _)| !matches!(**c, "clock_busy" | "clock_idle" | "static" | "dram_weights"))
            .filter_map(|(_, v)| v.joules_per_token)
            .sum()
    };
    let (cl, tl) = (logic(&counted), logic(&toggled));
    Some(ToggleComparison {
        gap_total: (toggled.energy_per_token_j - counted.energy_per_token_j) / counted.energy_per_token_j,
        gap_on_chip: (toggled.on_chip_per_token_j - counted.on_chip_per_token_j) / counted.on_chip_per_token_j,
        counted_logic_per_token_j: cl,
        toggles_logic_per_token_j: tl,
        gap_logic: (tl - cl) / cl,
        counted,
        toggles: toggled,
        attribution: at.clone(),
        coverage_file: run.coverage_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
    })
}

/// A whole `tern report`.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub preset: String,
    pub rows: u32,
    pub lanes: u32,
    pub backend: &'static str,
    pub workload: Workload,
    pub tokens: u64,
    pub cycles_per_token: f64,
    pub clock_hz: f64,
    /// Where `clock_hz` comes from (see [`clock`]).
    pub clock_source: String,
    pub counters: Counters,
    /// `estimate`, `tech`, `source`, `counted_from`, `energy_per_token_j`, `breakdown`, ...
    /// of the first table asked for, at the top level.
    #[serde(flatten)]
    pub primary: TechReport,
    /// Other tables asked for (`--tech all`).
    pub other_techs: Vec<TechReport>,
    pub toggle_comparison: Option<ToggleComparison>,
    pub svg: Option<String>,
}

pub fn build_report(a: &Accel, run: &Run, techs: &[Tech], clock: &Clock) -> Report {
    let clock_hz = clock.mhz * 1e6;
    let from = counted_from(run.backend);
    let mut reps: Vec<TechReport> =
        techs.iter().map(|&t| TechReport::new(&energy::estimate(a, &run.counters, clock_hz, t), run.tokens, from)).collect();
    let primary = reps.remove(0);
    let fpga = techs.iter().copied().find(|t| *t == Tech::Ice40Up5k).unwrap_or(Tech::Ice40Up5k);
    Report {
        preset: a.cfg.name.to_string(),
        rows: a.cfg.rows,
        lanes: a.cfg.lanes,
        backend: run.backend,
        workload: run.workload.clone(),
        tokens: run.tokens,
        cycles_per_token: run.counters.cycles as f64 / run.tokens.max(1) as f64,
        clock_hz,
        clock_source: clock.source.clone(),
        counters: run.counters,
        primary,
        other_techs: reps,
        toggle_comparison: compare_toggles(a, run, fpga, clock_hz),
        svg: None,
    }
}

fn pct(x: f64) -> String {
    format!("{:+.1}%", 100.0 * x)
}

fn class_table(title: &str, r: &TechReport, order: &[&'static str]) -> String {
    let mut s = format!("{title}\n");
    s.push_str(&format!("  {:<13} {:>16} {:>10} {:>13} {:>6}  source\n", "class", "events/token", "pJ each", "energy/token", "share"));
    for class in order {
        let Some(row) = r.breakdown.get(class) else { continue };
        let ev = format!("{:.0} {}", row.events_per_token, row.unit);
        let (pj, j, share) = match (row.pj_each, row.joules_per_token) {
            (Some(p), Some(j)) => {
                (format!("{p:.4}"), svg::si_j(j), format!("{:.1}%", 100.0 * j / r.energy_per_token_j.max(f64::MIN_POSITIVE)))
            }
            _ => ("-".into(), "not known".into(), "-".into()),
        };
        // the table's citation is in the header line; repeat only other sources
        let src = row.source.replace(&format!(", {}", r.source), "");
        s.push_str(&format!("  {class:<13} {ev:>16} {pj:>10} {j:>13} {share:>6}  {src}\n"));
    }
    s
}

fn order_of(r: &TechReport) -> Vec<&'static str> {
    let mut o: Vec<&'static str> = [
        "dram_weights",
        "link_io",
        "wmem_write",
        "wmem_read",
        "amem_write",
        "amem_read",
        "tree_add",
        "acc_add",
        "acc_write",
        "pipe_regs",
        "output",
        "control",
        "counters",
        "clock_busy",
        "clock_idle",
        "static",
    ]
    .to_vec();
    for k in r.breakdown.keys() {
        if !o.contains(k) {
            o.push(k);
        }
    }
    o
}

fn tech_text(rep: &TechReport) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "energy/token  {} ESTIMATE ({} table: {}; from {}, {})\n",
        svg::si_j(rep.energy_per_token_j),
        rep.tech,
        rep.source,
        rep.counted_from,
        match rep.basis {
            Basis::CountedEvents => "counted events",
            Basis::Toggles => "toggles",
        }
    ));
    s.push_str(&format!(
        "              DRAM at the high end of its range: {}; on-chip {}, off-chip memory {} ({:.1}% of the total{})\n",
        svg::si_j(rep.energy_per_token_hi_j),
        svg::si_j(rep.on_chip_per_token_j),
        svg::si_j(rep.off_chip_per_token_j),
        100.0 * rep.off_chip_share,
        if rep.off_chip_share > 0.5 { ": memory traffic dominates" } else { "" }
    ));
    s.push_str(&class_table("breakdown per token", rep, &order_of(rep)));
    if !rep.unknowns.is_empty() {
        s.push_str("not known (left out of the total: it is a lower bound):\n");
        for u in &rep.unknowns {
            match u.events {
                Some(n) => s.push_str(&format!("  - {}: {n:.0} {} per token, energy {}\n", u.class, u.unit, u.why)),
                None => s.push_str(&format!("  - {}: {}\n", u.class, u.why)),
            }
        }
    }
    if !rep.assumptions.is_empty() {
        s.push_str("assumptions:\n");
        for u in &rep.assumptions {
            s.push_str(&format!("  - {u}\n"));
        }
    }
    if let Some(b) = &rep.baselines {
        s.push_str(&format!(
            "baselines (same {} MACs per token, same table):\n  per operation: FP16 MAC / ternary add = {:.1}x, INT8 MAC / ternary add = {:.1}x (the BitNet paper's comparison)\n",
            b.macs, b.per_op_fp16_vs_ternary, b.per_op_int8_vs_ternary
        ));
        s.push_str(&format!(
            "  this design's arithmetic (adder-tree adds by width + accumulate adds): ternary {}, as FP16 MACs {} ({:.1}x), as INT8 MACs {} ({:.1}x)\n",
            svg::si_j(b.ternary_arith_j), svg::si_j(b.fp16_mac_arith_j), b.arith_ratio_fp16, svg::si_j(b.int8_mac_arith_j), b.arith_ratio_int8
        ));
        s.push_str(&format!(
            "  whole token, same events: FP16 MACs {} ({:.3}x), INT8 MACs {} ({:.3}x): memory dominates, the arithmetic saving barely shows\n",
            svg::si_j(b.whole_fp16_j),
            b.whole_ratio_fp16,
            svg::si_j(b.whole_int8_j),
            b.whole_ratio_int8
        ));
        s.push_str(&format!(
            "  whole token with FP16 MACs and 16-bit weights (8x the weight bits through the same memories): {} ({:.2}x)\n",
            svg::si_j(b.whole_fp16_weights16_j),
            b.whole_ratio_fp16_weights16
        ));
    }
    s
}

/// The human report.
pub fn text(rep: &Report) -> String {
    let mut s = String::from("tern report: energy per token (ESTIMATE)\n");
    s.push_str(&format!("preset        {} (R={} L={})\n", rep.preset, rep.rows, rep.lanes));
    s.push_str(&format!("workload      {}\n", rep.workload.describe()));
    s.push_str(&format!("counted from  {} (backend {})\n", rep.primary.counted_from, rep.backend));
    s.push_str(&format!(
        "cycles/token  {:.0} at {} MHz, {} (static energy uses this clock)\n",
        rep.cycles_per_token,
        rep.clock_hz / 1e6,
        rep.clock_source
    ));
    s.push('\n');
    s.push_str(&tech_text(&rep.primary));
    for o in &rep.other_techs {
        s.push('\n');
        s.push_str(&tech_text(o));
    }
    if let Some(t) = &rep.toggle_comparison {
        s.push_str(&format!(
            "\nFPGA activity refinement ({} table): counted events vs toggles (Verilator toggle coverage of the same run, {})\n",
            t.counted.tech, t.coverage_file
        ));
        s.push_str(&format!("  {:<13} {:>14} {:>14} {:>9}\n", "class", "counted", "toggles", "gap"));
        let mut classes = order_of(&t.toggles);
        for k in t.counted.breakdown.keys() {
            if !classes.contains(k) {
                classes.push(k);
            }
        }
        for c in classes {
            let get = |r: &TechReport| r.breakdown.get(c).and_then(|v| v.joules_per_token);
            let (a, b) = (get(&t.counted), get(&t.toggles));
            if a.is_none() && b.is_none() {
                continue;
            }
            let f = |v: Option<f64>| v.map(svg::si_j).unwrap_or_else(|| "-".into());
            let gap = match (a, b) {
                (Some(a), Some(b)) if a > 0.0 => pct((b - a) / a),
                _ => "".into(),
            };
            s.push_str(&format!("  {c:<13} {:>14} {:>14} {gap:>9}\n", f(a), f(b)));
        }
        s.push_str(&format!(
            "  {:<13} {:>14} {:>14} {:>9}\n",
            "logic",
            svg::si_j(t.counted_logic_per_token_j),
            svg::si_j(t.toggles_logic_per_token_j),
            pct(t.gap_logic)
        ));
        s.push_str(&format!(
            "  {:<13} {:>14} {:>14} {:>9}\n",
            "on-chip",
            svg::si_j(t.counted.on_chip_per_token_j),
            svg::si_j(t.toggles.on_chip_per_token_j),
            pct(t.gap_on_chip)
        ));
        s.push_str(&format!(
            "  {:<13} {:>14} {:>14} {:>9}\n",
            "total",
            svg::si_j(t.counted.energy_per_token_j),
            svg::si_j(t.toggles.energy_per_token_j),
            pct(t.gap_total)
        ));
        s.push_str(&format!(
            "  toggle points counted {}, skipped: {} input-port and {} alias toggles (each net once), clock {} changes\n",
            t.attribution.points_counted, t.attribution.skipped_inputs, t.attribution.skipped_aliases, t.attribution.clock_toggles
        ));
        let top: Vec<String> = t.attribution.top_signals.iter().take(5).map(|(n, c, cl)| format!("{n} {c} ({cl})")).collect();
        s.push_str(&format!("  busiest nets: {}\n", top.join(", ")));
    }
    if let Some(p) = &rep.svg {
        s.push_str(&format!("\npicture: {p}\n"));
    }
    s
}

/// The stacked bars of a report: one per table (plus counted vs toggles for the FPGA), the
/// whole token in one panel and the on-chip part alone in the other (off-chip weight traffic
/// dwarfs it).
pub fn picture(rep: &Report) -> String {
    let mut reps: Vec<&TechReport> = Vec::new();
    for r in std::iter::once(&rep.primary).chain(&rep.other_techs) {
        if rep.toggle_comparison.as_ref().is_none_or(|t| t.counted.tech != r.tech) {
            reps.push(r);
        }
    }
    if let Some(t) = &rep.toggle_comparison {
        reps.push(&t.counted);
        reps.push(&t.toggles);
    }
    let label = |r: &TechReport| format!("{}\n{}", r.tech, if r.basis == Basis::Toggles { "toggles" } else { "counted events" });
    let parts = |r: &TechReport, on_chip_only: bool| -> Vec<(&'static str, f64)> {
        order_of(r)
            .into_iter()
            .filter_map(|c| r.breakdown.get(c).filter(|v| v.on_chip || !on_chip_only).and_then(|v| v.joules_per_token).map(|j| (c, j)))
            .collect()
    };
    let whole: Vec<svg::Bar> = reps.iter().map(|r| (label(r), parts(r, false))).collect();
    let chip: Vec<svg::Bar> = reps.iter().map(|r| (label(r), parts(r, true))).collect();
    let title = format!("tern energy per token (ESTIMATE), preset {}: {}", rep.preset, rep.workload.short());
    let sub = format!("from {}; classes a table does not know are left out; DRAM at the low end of its range", rep.primary.counted_from);
    svg::stacked_panels(&title, &sub, &[("whole token".into(), whole), ("on-chip only".into(), chip)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_report_golden() {
        let a = tern_arch::config::TINY.validate().unwrap();
        let mut g = tern_arch::Golden::new(&a);
        let run = run_layer(&a, &mut g, 8, 64, 2, 1, None).unwrap();
        assert_eq!(run.tokens, 2);
        let rep = build_report(&a, &run, &Tech::ALL, &Clock { mhz: 50.0, source: "test".into() });
        assert_eq!(rep.primary.tech, "asic-45nm");
        assert_eq!(rep.other_techs.len(), 2);
        let v = serde_json::to_value(&rep).unwrap();
        for k in ["energy_per_token_j", "breakdown", "tech", "source", "estimate", "counted_from"] {
            assert!(v.get(k).is_some(), "{k}");
        }
        assert_eq!(v["estimate"], true);
        assert_eq!(v["counted_from"], "golden counters");
        assert!(v["breakdown"]["dram_weights"]["joules_per_token"].as_f64().unwrap() > 0.0);
        assert!(v["breakdown"]["acc_write"]["joules_per_token"].is_null());
        let t = text(&rep);
        assert!(t.contains("ESTIMATE") && t.contains("not known") && t.contains("memory"));
        assert!(picture(&rep).contains("<svg"));
        let line = token_summary(&a, &run.counters, run.tokens, "verilator");
        assert!(line.contains("estimate, asic-45nm table") && line.contains("RTL counters"), "{line}");
        assert_eq!(energy_per_token_j(&a, &run.counters, 0), None);
    }
}
