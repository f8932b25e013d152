//! Toggle counts from a Verilator `--coverage-toggle` run, attributed to energy classes.
//!
//! Verilator counts every change of every bit of every signal, once per module (instances
//! of one module are summed: `hTOP.tern_top.array.row*`). A physical net appears several
//! times in that list: as the driver's output, as each reader's input port, and as the
//! wires that merely rename it. To count each net once, the emitted Verilog is read:
//! - input ports are skipped (their driver counts them), except the top module's, which are
//!   the chip's pins;
//! - "alias" signals are skipped: a wire connected to an instance's output port, or assigned
//!   pure wiring (identifiers, bit selects, concatenations, constants: no operator);
//! - clock and reset nets are skipped (the clock line of the estimate is per cycle).
//!
//! What remains (registers, logic outputs) is attributed to a class by module and name.

use std::collections::{HashMap, HashSet};

/// Port directions and alias signals of one module.
#[derive(Debug, Default, Clone)]
pub struct ModuleInfo {
    pub inputs: HashSet<String>,
    pub outputs: HashSet<String>,
    pub aliases: HashSet<String>,
}

/// Per-module facts read from Verilog text (the subset `tern_hdl::emit` writes).
#[derive(Debug, Default, Clone)]
pub struct Design {
    pub modules: HashMap<String, ModuleInfo>,
    pub top: String,
}

fn strip_comments(v: &str) -> String {
    v.lines().map(|l| l.split("//").next().unwrap_or("")).collect::<Vec<_>>().join("\n")
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '$'
}

/// The identifier at the start of `s` (after whitespace), and the rest.
fn ident(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_ident_char(c)).unwrap_or(s.len());
    (end > 0).then(|| (&s[..end], &s[end..]))
}

/// `s` with every `[...]` removed.
fn without_selects(s: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in s.chars() {
        match c {
            '[' => depth += 1,
            ']' => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out
}

/// Pure wiring: identifiers, selects, concatenations, replications and constants only.
fn is_wiring(rhs: &str) -> bool {
    let r = without_selects(rhs);
    !r.chars().any(|c| "~&|^+-*/%<>=!?:()".contains(c))
}

/// A statement split at `;` may start with the `end`s of blocks that closed before it
/// (`... x <= y; end` then `assign z = w;` gives `end assign z = w`): skip them.
fn after_block_ends(mut s: &str) -> &str {
    loop {
        let Some((w, rest)) = ident(s) else { return s };
        if !matches!(w, "end" | "endcase" | "endgenerate") {
            return s;
        }
        s = rest.trim_start();
    }
}

/// Skip `signed` and a `[...]` range; the declared name and the text after it.
fn declared_name(s: &str) -> Option<(&str, &str)> {
    let mut s = s.trim_start();
    loop {
        if let Some(rest) = s.strip_prefix("signed") {
            s = rest.trim_start();
        } else if s.starts_with('[') {
            s = s[s.find(']')? + 1..].trim_start();
        } else {
            return ident(s);
        }
    }
}

impl Design {
    pub fn parse(verilog: &str) -> Design {
        let v = strip_comments(verilog);
        let mut d = Design::default();
        let mut rest = v.as_str();
        // first pass: headers (port directions) of every module
        let mut bodies: Vec<(String, String)> = Vec::new();
        while let Some(i) = rest.find("module ") {
            // `endmodule ` also contains "module ": skip matches inside a longer word
            if i > 0 && rest[..i].chars().next_back().is_some_and(is_ident_char) {
                rest = &rest[i + 7..];
                continue;
            }
            let after = &rest[i + 7..];
            let Some((name, tail)) = ident(after) else { break };
            let Some(hend) = tail.find(");") else { break };
            let header = &tail[..hend];
            let body_all = &tail[hend + 2..];
            let bend = body_all.find("endmodule").unwrap_or(body_all.len());
            let mut info = ModuleInfo::default();
            for item in header.trim_start().trim_start_matches('(').split(',') {
                let item = item.trim();
                let dir = item.split_whitespace().next().unwrap_or("");
                let Some(last) = item.rsplit(|c: char| !is_ident_char(c)).find(|t| !t.is_empty()) else { continue };
                match dir {
                    "input" => {
                        info.inputs.insert(last.to_string());
                    }
                    "output" | "inout" => {
                        info.outputs.insert(last.to_string());
                    }
                    _ => {}
                }
            }
            if d.top.is_empty() || name == "tern_top" {
                d.top = name.to_string();
            }
            d.modules.insert(name.to_string(), info);
            bodies.push((name.to_string(), body_all[..bend].to_string()));
            rest = &body_all[bend..];
        }
        // second pass: aliases (needs every module's outputs)
        let outputs: HashMap<String, HashSet<String>> = d.modules.iter().map(|(k, m)| (k.clone(), m.outputs.clone())).collect();
        let mut instantiated = HashSet::new();
        for (name, body) in &bodies {
            let mut aliases = HashSet::new();
            for stmt in body.split(';') {
                let s = after_block_ends(stmt.trim());
                if let Some(r) = s.strip_prefix("wire ") {
                    if let Some((n, after)) = declared_name(r)
                        && let Some(rhs) = after.trim_start().strip_prefix('=')
                        && is_wiring(rhs)
                    {
                        aliases.insert(n.to_string());
                    }
                } else if let Some(r) = s.strip_prefix("assign ") {
                    if let Some((n, after)) = ident(r) {
                        let after = without_selects(after);
                        if let Some(rhs) = after.trim_start().strip_prefix('=') {
                            // the rhs with its selects, from the original text
                            let orig_rhs = &r[r.find('=').map_or(r.len(), |i| i + 1)..];
                            if is_wiring(rhs) && is_wiring(orig_rhs) {
                                aliases.insert(n.to_string());
                            }
                        }
                    }
                } else if let Some((m, _)) = ident(s)
                    && let Some(child_out) = outputs.get(m)
                {
                    instantiated.insert(m.to_string());
                    // .port(expr) connections
                    let mut t = s;
                    while let Some(i) = t.find('.') {
                        t = &t[i + 1..];
                        let Some((port, after)) = ident(t) else { continue };
                        let Some(inner) = after.trim_start().strip_prefix('(') else { continue };
                        let mut depth = 1;
                        let mut end = inner.len();
                        for (k, c) in inner.char_indices() {
                            match c {
                                '(' => depth += 1,
                                ')' => {
                                    depth -= 1;
                                    if depth == 0 {
                                        end = k;
                                        break;
                                    }
                                }
                                _ => {}
                            }
                        }
                        let expr = &inner[..end];
                        if child_out.contains(port)
                            && let Some((sig, tail)) = ident(expr)
                            && without_selects(tail).trim().is_empty()
                        {
                            aliases.insert(sig.to_string());
                        }
                        t = &inner[end..];
                    }
                }
            }
            if let Some(m) = d.modules.get_mut(name) {
                m.aliases = aliases;
            }
        }
        // the top is the module nobody instantiates (tern_top when present)
        if !d.modules.contains_key("tern_top")
            && let Some(t) = d.modules.keys().find(|k| !instantiated.contains(*k))
        {
            d.top = t.clone();
        }
        d
    }
}

/// One toggle point of a coverage file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Point {
    pub module: String,
    /// Signal name without the bit index.
    pub signal: String,
    pub hier: String,
    pub count: u64,
}

/// Toggle points of a Verilator `coverage.dat` (`C '<\x01key\x02value...>' count` lines).
pub fn parse_coverage(text: &str) -> Vec<Point> {
    let mut pts = Vec::new();
    for line in text.lines() {
        let Some(body) = line.strip_prefix("C '") else { continue };
        let Some(q) = body.rfind('\'') else { continue };
        let (keys, count) = (&body[..q], body[q + 1..].trim());
        let Ok(count) = count.parse::<u64>() else { continue };
        let mut page = "";
        let mut o = "";
        let mut h = "";
        for kv in keys.split('\x01') {
            if let Some((k, v)) = kv.split_once('\x02') {
                match k {
                    "page" => page = v,
                    "o" => o = v,
                    "h" => h = v,
                    _ => {}
                }
            }
        }
        let Some(module) = page.strip_prefix("v_toggle/") else { continue };
        let signal = o.split('[').next().unwrap_or(o);
        pts.push(Point { module: module.to_string(), signal: signal.to_string(), hier: h.to_string(), count });
    }
    pts
}

/// The class of a counted (non-input, non-alias) signal. `load` is the beat-assembly
/// register shared by weight and activation loads (split by the caller). A module this table
/// does not know goes to `other` (reported, and a test keeps it empty for the shipped RTL).
pub fn class_of(module: &str, signal: &str, is_top_input: bool) -> &'static str {
    if is_top_input {
        return "link_io";
    }
    let digits_after = |p: &str| signal.strip_prefix(p).is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_digit()));
    match module {
        "tern_wbank" if signal == "rdata" => "wmem_read",
        "tern_abuf" if signal == "rdata" => "amem_read",
        "tern_row" if signal == "w2" => "pipe_regs",
        "tern_row" | "tern_term" => "tree_add",
        // a pair chain's stage cells, and the pair sums its rows share
        m if m.starts_with("tern_pstage_") => "tree_add",
        // a chain row's add cells (ECP5 chain trees)
        m if m.starts_with("tern_addt_") => "tree_add",
        // the register copies of grouped arrays (activations, addresses, tokens)
        "tern_copy" => "pipe_regs",
        "tern_array" if signal == "pm" => "tree_add",
        "tern_acc" => "acc_add",
        "tern_array" if signal == "x2" => "pipe_regs",
        "tern_array" if digits_after("acc") => "acc_add",
        "tern_array" if signal.starts_with("wdata") => "wmem_write",
        "tern_seq" if signal == "ld_sh" => "load",
        "tern_out" if signal == "obuf" => "output",
        "tern_counters" => "counters",
        m if m.starts_with("tern_cinc_") => "counters",
        // the sequencer's step cells and range compares
        m if m.starts_with("tern_sinc_") || m.starts_with("tern_sdec_") || m.starts_with("tern_gt_over_") => "control",
        // `advance` and reset on global networks (a wire in the simulated design)
        m if m.starts_with("tern_gbuf") => "control",
        "tern_wbank" | "tern_abuf" | "tern_array" | "tern_seq" | "tern_out" | "tern_top" => "control",
        _ => "other",
    }
}

/// Toggles per class, plus what was skipped, for the report.
#[derive(Debug, Default, Clone, serde::Serialize)]
pub struct Attribution {
    /// (class, toggles), `load` not yet split.
    pub classes: Vec<(&'static str, u64)>,
    /// Toggle points counted / skipped as input ports / aliases / clock and reset.
    pub points_counted: usize,
    pub skipped_inputs: u64,
    pub skipped_aliases: u64,
    pub clock_toggles: u64,
    /// The ten signals with the most toggles: (module.signal, toggles, class).
    pub top_signals: Vec<(String, u64, &'static str)>,
}

/// Attribute the toggle points of a run to classes, counting each net once.
pub fn attribute(design: &Design, points: &[Point]) -> Attribution {
    let mut by_class: Vec<(&'static str, u64)> = Vec::new();
    let mut by_signal: HashMap<(String, String), (u64, &'static str)> = HashMap::new();
    let mut at = Attribution::default();
    let empty = ModuleInfo::default();
    for p in points {
        let m = design.modules.get(&p.module).unwrap_or(&empty);
        if p.signal == "clk" {
            if p.module == design.top {
                at.clock_toggles = p.count;
            }
            continue;
        }
        if p.signal == "rst" {
            continue;
        }
        let top_input = p.module == design.top && m.inputs.contains(&p.signal);
        if m.inputs.contains(&p.signal) && !top_input {
            at.skipped_inputs += p.count;
            continue;
        }
        if m.aliases.contains(&p.signal) {
            at.skipped_aliases += p.count;
            continue;
        }
        let cl = class_of(&p.module, &p.signal, top_input);
        at.points_counted += 1;
        match by_class.iter_mut().find(|(c, _)| *c == cl) {
            Some(e) => e.1 += p.count,
            None => by_class.push((cl, p.count)),
        }
        by_signal.entry((p.module.clone(), p.signal.clone())).or_insert((0, cl)).0 += p.count;
    }
    let mut sigs: Vec<(String, u64, &'static str)> = by_signal.into_iter().map(|((m, s), (n, c))| (format!("{m}.{s}"), n, c)).collect();
    sigs.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    sigs.truncate(10);
    at.top_signals = sigs;
    at.classes = by_class;
    at
}

/// Split the `load` class (the beat-assembly register) into `wmem_write` / `amem_write` in
/// proportion to the beats each kind of load shifted through it: the caller passes words x
/// (beats per word - 1), falling back to all beats when neither kind needs the register.
pub fn split_load(classes: &[(&'static str, u64)], w_beats: u64, x_beats: u64) -> Vec<(&'static str, u64)> {
    let mut out: Vec<(&'static str, u64)> = classes.iter().filter(|(c, _)| *c != "load").copied().collect();
    let load: u64 = classes.iter().filter(|(c, _)| *c == "load").map(|(_, n)| n).sum();
    let total = w_beats + x_beats;
    let w = if total == 0 { 0 } else { (load as u128 * w_beats as u128 / total as u128) as u64 };
    out.push(("wmem_write", w));
    out.push(("amem_write", load - w));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: &str = "module leaf (
  input  wire clk,
  input  wire [3:0] d,
  output reg  [3:0] q
);
  always @(posedge clk) q <= d;
endmodule
module tern_top (
  input  wire clk,
  input  wire [3:0] in_data,
  output wire [3:0] out_data
);
  wire [3:0] q0;
  wire [3:0] sum = q0 + in_data; // logic
  wire [7:0] cat = {q0, in_data[3:0]};
  leaf l0 (.clk(clk), .d(in_data), .q(q0));
  assign out_data = q0;
endmodule
";

    #[test]
    fn ports_and_aliases() {
        let d = Design::parse(V);
        assert_eq!(d.top, "tern_top");
        let t = &d.modules["tern_top"];
        assert!(t.inputs.contains("in_data") && t.outputs.contains("out_data"));
        for a in ["q0", "cat", "out_data"] {
            assert!(t.aliases.contains(a), "{a}");
        }
        assert!(!t.aliases.contains("sum"));
        assert!(d.modules["leaf"].inputs.contains("d"));
    }

    #[test]
    fn coverage_lines_and_attribution() {
        let line =
            |m: &str, o: &str, h: &str, n: u64| format!("C '\x01f\x02x.v\x01l\x023\x01page\x02v_toggle/{m}\x01o\x02{o}\x01h\x02{h}' {n}\n");
        let text = String::from("# SystemC::Coverage-3\n")
            + &line("tern_top", "clk", "TOP.tern_top", 20)
            + &line("tern_top", "in_data[0]", "TOP.tern_top", 3)
            + &line("tern_top", "q0[1]", "TOP.tern_top", 5)
            + &line("tern_top", "sum[2]", "TOP.tern_top", 7)
            + &line("leaf", "d[0]", "TOP.tern_top.l0", 3)
            + &line("leaf", "q[1]", "TOP.tern_top.l0", 5);
        let pts = parse_coverage(&text);
        assert_eq!(pts.len(), 6);
        assert_eq!(pts[1], Point { module: "tern_top".into(), signal: "in_data".into(), hier: "TOP.tern_top".into(), count: 3 });
        let at = attribute(&Design::parse(V), &pts);
        // in_data: pins (3); q0: alias of leaf.q (skipped); sum: logic (7); leaf.d: input
        // (skipped); leaf.q: counted (5, module unknown to the class table: "other")
        assert_eq!(at.classes, vec![("link_io", 3), ("control", 7), ("other", 5)]);
        assert_eq!((at.skipped_inputs, at.skipped_aliases, at.clock_toggles), (3, 5, 20));
    }

    #[test]
    fn load_split() {
        let s = split_load(&[("load", 100), ("tree_add", 5)], 3, 1);
        assert_eq!(s, vec![("tree_add", 5), ("wmem_write", 75), ("amem_write", 25)]);
    }

    /// Regression: an `assign` right after a `begin ... end` block was not seen as an alias.
    #[test]
    fn alias_after_a_block() {
        let d = Design::parse(
            "module m (input wire clk, input wire a, output wire z);\n  reg x;\n  always @(posedge clk) begin x <= a; end\n  assign z = x;\nendmodule\n",
        );
        assert!(d.modules["m"].aliases.contains("z"), "{:?}", d.modules["m"].aliases);
    }

    /// Every module of every preset's simulated design has a class, so no net of a shipped
    /// design lands in `other` (pair chains' `tern_pstage_*` cells once did), and a pair
    /// chain's shared sums `pm` count as its adds.
    #[test]
    fn every_module_of_every_preset_has_a_class() {
        for cfg in tern_arch::config::PRESETS {
            let a = cfg.validate().unwrap();
            let d = Design::parse(&tern_hdl::emit(&a));
            for m in d.modules.keys() {
                assert_ne!(class_of(m, "x", false), "other", "{}: module {m}", cfg.name);
            }
        }
        assert_eq!(class_of("tern_array", "pm", false), "tree_add");
        assert_eq!(class_of("tern_pstage_13_12", "z", false), "tree_add");
    }

    #[test]
    fn tern_design_aliases() {
        let a = tern_arch::config::TINY.validate().unwrap();
        let d = Design::parse(&tern_hdl::emit(&a));
        assert_eq!(d.top, "tern_top");
        let arr = &d.modules["tern_array"];
        for s in ["wq0", "sum3", "xq", "acc_flat"] {
            assert!(arr.aliases.contains(s), "tern_array.{s}");
        }
        assert!(!arr.aliases.contains("acc0") && !arr.aliases.contains("acc_fire"));
        let seq = &d.modules["tern_seq"];
        for s in ["asm_w", "wdata_w", "op", "raddr_w"] {
            assert!(seq.aliases.contains(s), "tern_seq.{s}");
        }
        // small arrays register `in_ready` (`rdy`), so the port is an alias of that register
        assert!(!seq.aliases.contains("ld_sh") && !seq.aliases.contains("rdy") && seq.aliases.contains("in_ready"));
        assert!(d.modules["tern_out"].aliases.contains("out_data"));
        assert!(d.modules["tern_top"].inputs.contains("in_data"));
        assert!(d.modules["tern_wbank"].outputs.contains("rdata"));
    }
}
