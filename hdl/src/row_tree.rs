//! `tern_row`: one row of the MAC array. No multiplier: each lane's weight selects +a, -a or
//! 0 of the broadcast int8 activation, and narrow adders sum the L terms.
//!
//! ```text
//!  bank word (recoded at write: per lane nz = w != 0, ng = w == -1)
//!    |  w2 register (after the block RAM)
//!  t_j = {8{nz_j}} & (a_j ^ {8{ng_j}})      8-bit term: +a, ~a (= -a - 1) or 0
//!
//!  tree rows (row_chain = 1):                chain rows (row_chain = 8, ECP5):
//!  n = t_0 + t_1 + ng_0        9 bits        y = t_0; y = y + t_1 + ng_0; ... + t_3 + ng_2
//!  n = n_0 + n_1 + ng_2       10 bits        | register (x3, w3: lanes 4..7 one cycle later)
//!  ...                                       y = y + t_4 + ng_3; ... + t_7 + ng_6
//!                                            | register; then a tree over the L/8 chains
//!  (a register after every `tree_levels_per_stage` levels, and after the last)
//!  out: sum (8 + log2 L bits) and cy = the one carry left, added by the accumulator
//! ```
//! Why this shape (each step measured in `docs/synthesis.md`):
//! - `-a` is `~a + 1`; the `+1`s are carry-ins of the adders and of the accumulator, so a
//!   term is 8 bits.
//! - every node is exactly as wide as its range; one wide expression makes yosys build every
//!   adder at the full width, or a `$macc` compressor.
//! - the bank stores each code recoded as (ng, nz), so carry-ins and masks are flip-flops.
//! - a chain add `y + t_j + cin` is one `tern_addt` cell. On ECP5 (`Fabric::Ecp5`) it is a
//!   CCU2C carry chain whose LUT4s compute the term and the sum bit together, so a term costs
//!   no LUTs of its own (`crate::cells`); elsewhere it is plain Verilog. Both are proven equal.

use crate::cells::addt_name;
use tern_arch::config::{tree_levels_per_stage, Accel};

/// Width of a row's tree output `sum` (the last lane's carry is separate).
pub fn sum_bits(a: &Accel) -> u32 {
    8 + a.cfg.lanes.trailing_zeros()
}

/// Bits that hold the sum of `n` 8-bit terms plus `n - 1` carries: [-128 n, 128 n - 1].
pub fn range_bits(n: u32) -> u32 {
    8 + n.next_power_of_two().trailing_zeros()
}

/// Lanes of a chain added in its second stage (from `x3` and `w3`, one cycle later).
pub fn late_lanes(a: &Accel) -> Vec<u32> {
    let k = a.row_chain;
    if k == 1 {
        return Vec::new();
    }
    (0..a.cfg.lanes).filter(|j| j % k >= k / 2).collect()
}

/// Lanes a row reads from `x2` (all of them, or a chain row's early lanes), in port order.
pub fn early_lanes(a: &Accel) -> Vec<u32> {
    let late = late_lanes(a);
    (0..a.cfg.lanes).filter(|j| !late.contains(j)).collect()
}

/// The chain adds of a chain row: (output width, y width) of every `tern_addt` cell used.
pub fn addt_widths(a: &Accel) -> Vec<(u32, u32)> {
    let mut w = Vec::new();
    for n in 2..=a.row_chain {
        let cell = (range_bits(n), range_bits(n - 1));
        if !w.contains(&cell) {
            w.push(cell);
        }
    }
    w
}

type Node = (String, u32, Vec<String>);

pub fn verilog(a: &Accel) -> String {
    let l = a.cfg.lanes;
    let k = a.row_chain;
    let lps = tree_levels_per_stage(a.cfg.target_fmax_mhz, a.cfg.device);
    let sb = sum_bits(a);
    let late = late_lanes(a);
    let x3_port = if late.is_empty() {
        String::new()
    } else {
        format!("  input  wire [{}:0] x3,\n", 8 * late.len() - 1)
    };
    // w2: the bank's word after its block RAM (with activation group copies the bank adds
    // one more register, `weight_bank`, to stay in step with them)
    let mut v = format!(
        "module tern_row (
  input  wire clk,
  input  wire en,
  input  wire [{wm}:0] wq,
  input  wire [{xm}:0] x2,
{x3_port}  output wire signed [{sm}:0] sum,
  output wire cy
);
  reg [{wm}:0] w2;
  always @(posedge clk) if (en) w2 <= wq;
",
        wm = 2 * l - 1,
        xm = 8 * early_lanes(a).len() - 1,
        sm = sb - 1,
    );
    // each lane's term is the rust-hdl block `tern_term` (`ternary_term.rs`)
    let term = |v: &mut String, j: u32, x: &str, w: &str| {
        v.push_str(&format!(
            "  wire signed [7:0] t{j};\n  {m} lane{j} (.nz({w}[{nz}]), .ng({w}[{ng}]), .act({x}[{hi}:{lo}]), .term(t{j}));\n",
            m = crate::ternary_term::MODULE,
            nz = 2 * j,
            ng = 2 * j + 1,
            hi = 8 * j + 7,
            lo = 8 * j
        ));
    };
    let (leaves, levels) = if k == 1 {
        let mut leaves = Vec::new();
        for j in 0..l {
            term(&mut v, j, "x2", "w2");
            leaves.push((format!("t{j}"), 8, vec![format!("w2[{}]", 2 * j + 1)]));
        }
        (leaves, l.trailing_zeros())
    } else {
        (chains(a, &mut v, &late), (l / k).trailing_zeros())
    };
    let root = tree(&mut v, leaves, levels, lps);
    let (name, w, carries) = &root;
    assert_eq!((*w, carries.len()), (sb, 1), "tree root");
    v.push_str(&format!("  assign sum = {name};\n  assign cy = {};\nendmodule\n", carries[0]));
    v
}

/// The chains of a chain row, each registered after its two stages; returns the chain sums.
fn chains(a: &Accel, v: &mut String, late: &[u32]) -> Vec<Node> {
    let k = a.row_chain;
    let half = k / 2;
    let xlate = |j: u32| late.iter().position(|&x| x == j).unwrap() as u32;
    let early = early_lanes(a);
    let xearly = |j: u32| early.iter().position(|&x| x == j).unwrap() as u32;
    // w3: the late lanes' codes, one cycle after w2
    v.push_str(&format!("  reg [{}:0] w3;\n  always @(posedge clk) if (en) w3 <= {{", 2 * late.len() - 1));
    let parts: Vec<String> = late.iter().rev().map(|j| format!("w2[{}:{}]", 2 * j + 1, 2 * j)).collect();
    v.push_str(&parts.join(", "));
    v.push_str("};\n");
    let mut out = Vec::new();
    for c in 0..a.cfg.lanes / k {
        let j0 = c * k;
        // head term: plain logic
        v.push_str(&format!(
            "  wire signed [7:0] h{c};\n  {m} head{c} (.nz(w2[{nz}]), .ng(w2[{ng}]), .act(x2[{hi}:{lo}]), .term(h{c}));\n",
            m = crate::ternary_term::MODULE,
            nz = 2 * j0,
            ng = 2 * j0 + 1,
            hi = 8 * xearly(j0) + 7,
            lo = 8 * xearly(j0)
        ));
        let mut y = format!("h{c}");
        let mut cin = format!("w2[{}]", 2 * j0 + 1);
        for m in 1..k {
            let j = j0 + m;
            let (wo, wi) = (range_bits(m + 1), range_bits(m));
            let (x, nz, ng) = if m < half {
                let e = xearly(j);
                (format!("x2[{}:{}]", 8 * e + 7, 8 * e), format!("w2[{}]", 2 * j), format!("w2[{}]", 2 * j + 1))
            } else {
                let p = xlate(j);
                (format!("x3[{}:{}]", 8 * p + 7, 8 * p), format!("w3[{}]", 2 * p), format!("w3[{}]", 2 * p + 1))
            };
            if m == half {
                // the stage register: the partial sum and its pending carry
                v.push_str(&format!(
                    "  reg signed [{}:0] p{c};\n  reg pc{c};\n  always @(posedge clk) if (en) begin p{c} <= {y}; pc{c} <= {cin}; end\n",
                    wi - 1
                ));
                y = format!("p{c}");
                cin = format!("pc{c}");
            }
            let s = format!("a{c}_{m}");
            v.push_str(&format!(
                "  wire signed [{}:0] {s};\n  {} u{c}_{m} (.y({y}), .x({x}), .nz({nz}), .ng({ng}), .cin({cin}), .s({s}));\n",
                wo - 1,
                addt_name(wo, wi)
            ));
            y = s;
            cin = ng;
        }
        let w = range_bits(k);
        v.push_str(&format!(
            "  reg signed [{}:0] r{c};\n  reg rc{c};\n  always @(posedge clk) if (en) begin r{c} <= {y}; rc{c} <= {cin}; end\n",
            w - 1
        ));
        out.push((format!("r{c}"), w, vec![format!("rc{c}")]));
    }
    out
}

/// A tree of narrow adders over `nodes` (each with its pending carry-ins), a register after
/// every `lps` levels and after the last.
fn tree(v: &mut String, mut nodes: Vec<Node>, levels: u32, lps: u32) -> Node {
    let mut regs = Vec::new();
    for level in 1..=levels {
        let registered = level % lps == 0 || level == levels;
        let mut next = Vec::new();
        for (i, pair) in nodes.chunks(2).enumerate() {
            let (x, wx, cx) = &pair[0];
            let (y, wy, cy) = &pair[1];
            let w = wx.max(wy) + 1;
            let mut carries: Vec<String> = cx.iter().chain(cy).cloned().collect();
            let cin = carries.remove(0);
            let sext = |n: &str, from: u32| format!("{{{{{}{{{n}[{}]}}}}, {n}}}", w - from, from - 1);
            let expr = format!("{} + {} + {{{}'d0, {cin}}}", sext(x, *wx), sext(y, *wy), w - 1);
            let name = format!("n{level}_{i}");
            if registered {
                v.push_str(&format!("  reg signed [{}:0] {name};\n", w - 1));
                regs.push(format!("    {name} <= {expr};"));
                // pending carries cross the register with their node
                let regd: Vec<String> = carries
                    .iter()
                    .enumerate()
                    .map(|(k, c)| {
                        let cn = format!("{name}_c{k}");
                        v.push_str(&format!("  reg {cn};\n"));
                        regs.push(format!("    {cn} <= {c};"));
                        cn
                    })
                    .collect();
                next.push((name, w, regd));
            } else {
                v.push_str(&format!("  wire signed [{}:0] {name} = {expr};\n", w - 1));
                next.push((name, w, carries));
            }
        }
        if registered {
            v.push_str("  always @(posedge clk) if (en) begin\n");
            v.push_str(&regs.join("\n"));
            v.push_str("\n  end\n");
            regs.clear();
        }
        nodes = next;
    }
    nodes.remove(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::{AccelConfig, ECP5_85F, TINY};

    #[test]
    fn stages_follow_the_config() {
        for cfg in [TINY, ECP5_85F, AccelConfig { lanes: 64, host_bits: 64, target_fmax_mhz: 200, ..TINY }] {
            let a = cfg.validate().unwrap();
            let v = verilog(&a);
            // one always block for w2 (and w3), one per tree stage (chains: two per chain)
            let chain_regs = if a.row_chain > 1 { 1 + 2 * (a.cfg.lanes / a.row_chain) - 2 } else { 0 };
            assert_eq!(v.matches("always @(posedge clk)").count() as u32, 1 + chain_regs + a.tree_stages, "{}", cfg.name);
            assert!(!v.contains(" * "));
        }
        assert_eq!(ECP5_85F.validate().unwrap().row_chain, 8);
        assert_eq!(addt_widths(&ECP5_85F.validate().unwrap()), vec![(9, 8), (10, 9), (10, 10), (11, 10), (11, 11)]);
    }
}
