//! `tern_row`: one row of the MAC array. No multiplier: each lane's weight selects +a, -a or
//! 0 of the broadcast int8 activation, and narrow adders sum the L terms.
//!
//! ```text
//!  bank word (recoded at write: per lane nz = w != 0, ng = w == -1)
//!    |  w2 register (after the block RAM)
//!  t_j = {8{nz_j}} & (a_j ^ {8{ng_j}})      8-bit term: +a, ~a (= -a - 1) or 0
//!
//!  tree rows (row_chain = 1):                chain rows (row_chain = 4 or 8, ECP5; A = chain_adds):
//!  n = t_0 + t_1 + ng_0        9 bits        y = t_0; y = y + t_1 + ng_0; ... (A - 1 adds)
//!  n = n_0 + n_1 + ng_2       10 bits        | register p_1 (lanes A..2A-1 arrive 1 cycle
//!  ...                                       |   later: xd1 and wd1)
//!                                            y = y + t_A + ng_{A-1}; ... (A adds)
//!                                            | register p_2 ... after the last lane: register r;
//!                                            then a tree over the L/row_chain chains
//!  (a register after every `tree_levels_per_stage` levels, and after the last)
//!  out: sum (8 + log2 L bits) and cy = the one carry left, added by the accumulator
//!
//!  pair chains (`Accel::pair_chain`: iCE40 arrays without broadcast groups; pair k = lanes
//!  2k, 2k + 1, the banks storing a select and a flip per pair):
//!  v_k <= one of 0, a0, a1, P = a0 + a1, M = a0 - a1   (P, M: `pm`, once per array)
//!  z_k = flip_k ? ~(z_(k-1) + v_k) : z_(k-1) + v_k     (`tern_pstage`; z_(-1) = {sg0})
//!  | register after every two pairs (later pairs arrive late: xd{d}, wd{d}); sum = z_(L/2-1)
//!
//!  tree rows of arrays without broadcast groups (`Accel::exact_last_lane`):
//!  t_(L-1) = nz ? (ng ? xn : a) : 0          9-bit term: xn = -a, negated once per array
//!  out: sum (9 + log2 L bits), no carry left: the accumulator's clear is free on iCE40
//! ```
//! Why this shape (each step measured in `docs/synthesis.md`):
//! - `-a` is `~a + 1`; the `+1`s are carry-ins of the adders and of the accumulator, so a
//!   term is 8 bits. Small arrays take the last lane's `-a` exact instead (one 9-bit term and
//!   one more bit on its path up the tree, 5 LUT4s a row on iCE40), so that the accumulator,
//!   left without a carry-in, folds its clear into its sum LUTs (24 LUT4s a row).
//! - every node is exactly as wide as its range; one wide expression makes yosys build every
//!   adder at the full width, or a `$macc` compressor.
//! - the bank stores each code recoded as (ng, nz), so carry-ins and masks are flip-flops.
//! - a chain add `y + t_j + cin` is one `tern_addt` cell. On ECP5 (`Fabric::Ecp5`) it is a
//!   CCU2C carry chain whose LUT4s compute the term and the sum bit together, so a term costs
//!   no LUTs of its own (`crate::cells`); elsewhere it is plain Verilog. Both are proven equal.

use crate::cells::addt_name;
use tern_arch::config::{Accel, tree_levels_per_stage};

/// The row hands the accumulator a carry-in `cy` (the last lane's `+1`).
pub fn has_cy(a: &Accel) -> bool {
    !a.exact_last_lane && !a.pair_chain
}

pub use tern_arch::config::{PAIR_VALUE_BITS, pair_stage_bits};

/// The stage cells of a pair chain: (output width, y width) of every `tern_pstage` used
/// (stage 0 adds its value to the replicated first sign, one bit).
pub fn pstage_widths(a: &Accel) -> Vec<(u32, u32)> {
    let mut w = Vec::new();
    if !a.pair_chain {
        return w;
    }
    for k in 0..a.cfg.lanes / 2 {
        let cell = (pair_stage_bits(k), if k == 0 { 1 } else { pair_stage_bits(k - 1) });
        if !w.contains(&cell) {
            w.push(cell);
        }
    }
    w
}

/// A pair's stored code, 4 bits (those of its two lanes): the select {s2, s1, s0} of its
/// value and the chain's flip after it. Values: 0 = 000, a0 = 001, a1 = 010, P = 111, M = 100.
pub const PAIR_S0: u32 = 0;
pub const PAIR_S1: u32 = 1;
pub const PAIR_S2: u32 = 2;
pub const PAIR_FLIP: u32 = 3;

/// Bits of the pair sums bus `pm` (`mac_array` writes it, the rows read it): two values a pair.
pub fn pair_sums_bits(a: &Accel) -> u32 {
    2 * PAIR_VALUE_BITS * (a.cfg.lanes / 2)
}

/// Pair `k`'s slices of `pm`: (P = a0 + a1, M = a0 - a1), `PAIR_VALUE_BITS` each.
pub fn pair_sum_slices(k: u32) -> (String, String) {
    let (w, lo) = (PAIR_VALUE_BITS, 2 * PAIR_VALUE_BITS * k);
    (format!("pm[{}:{lo}]", lo + w - 1), format!("pm[{}:{}]", lo + 2 * w - 1, lo + w))
}

/// Bits that hold the sum of `n` 8-bit terms plus `n - 1` carries: [-128 n, 128 n - 1].
pub fn range_bits(n: u32) -> u32 {
    8 + n.next_power_of_two().trailing_zeros()
}

/// Lanes of a chain row that enter their chain exactly `d` cycles late, in lane order (all
/// lanes of a tree row are at `d = 0`).
pub fn lanes_at(a: &Accel, d: u32) -> Vec<u32> {
    (0..a.cfg.lanes).filter(|&j| a.lane_delay(j) == d).collect()
}

/// Lanes at least `d` cycles late: what the `d`-th delay register of a chain row carries.
pub fn lanes_from(a: &Accel, d: u32) -> Vec<u32> {
    (0..a.cfg.lanes).filter(|&j| a.lane_delay(j) >= d).collect()
}

/// Activation ports of a row beyond `x2` (lanes at delay 0): `xd{d}`, the lanes at delay `d`.
pub fn delay_ports(a: &Accel) -> Vec<(u32, Vec<u32>)> {
    (1..a.chain_stages).map(|d| (d, lanes_at(a, d))).collect()
}

/// `{src[hi:lo], ...}` of `lanes` (highest first) from a register holding `held` lanes.
pub fn select(src: &str, held: &[u32], lanes: &[u32], bits: u32) -> String {
    let parts: Vec<String> = lanes
        .iter()
        .rev()
        .map(|j| {
            let p = held.iter().position(|x| x == j).expect("a held lane") as u32;
            format!("{src}[{}:{}]", bits * p + bits - 1, bits * p)
        })
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// The chain adds of a chain row: (output width, y width) of every `tern_addt` cell used.
pub fn addt_widths(a: &Accel) -> Vec<(u32, u32)> {
    let mut w = Vec::new();
    if a.pair_chain {
        return w;
    }
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
    let sb = a.tree_bits;
    let x_ports: String = delay_ports(a).iter().map(|(d, lanes)| format!("  input  wire [{}:0] xd{d},\n", 8 * lanes.len() - 1)).collect();
    // w2: the bank's word after its block RAM (with activation group copies the bank adds
    // one more register, `weight_bank`, to stay in step with them; with `bank_out_stages`
    // `w1` comes between)
    let mut v = format!(
        "module tern_row (
  input  wire clk,
  input  wire en,
  input  wire [{wm}:0] wq,
  input  wire [{xm}:0] x2,
{x_ports}{xn_port}{pm_port}  output wire signed [{sm}:0] sum{cy_port}
);
{w2}",
        wm = 2 * l - 1,
        xm = 8 * lanes_at(a, 0).len() - 1,
        sm = sb - 1,
        xn_port = if a.exact_last_lane { "  input  wire signed [8:0] xn,\n" } else { "" },
        pm_port = if a.pair_chain { format!("  input  wire [{}:0] pm,\n", pair_sums_bits(a) - 1) } else { String::new() },
        cy_port = if has_cy(a) { ",\n  output wire cy" } else { "" },
        w2 = if a.bank_out_stages > 0 {
            // `w1` sits by the block RAM: its output net ends at one flip-flop, not at the
            // 2L terms spread over the row
            format!("  reg [{wm}:0] w1, w2;\n  always @(posedge clk) if (en) begin w1 <= wq; w2 <= w1; end\n", wm = 2 * l - 1)
        } else {
            format!("  reg [{wm}:0] w2;\n  always @(posedge clk) if (en) w2 <= wq;\n", wm = 2 * l - 1)
        },
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
    if a.pair_chain {
        pair_chain(a, &mut v);
        v.push_str("endmodule\n");
        return v;
    }
    let (leaves, levels) = if k == 1 {
        let mut leaves = Vec::new();
        let exact = if a.exact_last_lane { 1 } else { 0 };
        for j in 0..l - exact {
            term(&mut v, j, "x2", "w2");
            leaves.push((format!("t{j}"), 8, vec![format!("w2[{}]", 2 * j + 1)]));
        }
        if exact == 1 {
            // the last lane: +a, -a (`xn`, the array's) or 0, nine bits and no carry-in
            let j = l - 1;
            v.push_str(&format!(
                "  wire signed [8:0] t{j} = w2[{nz}] ? (w2[{ng}] ? xn : {{x2[{hi}], x2[{hi}:{lo}]}}) : 9'sd0;\n",
                nz = 2 * j,
                ng = 2 * j + 1,
                hi = 8 * j + 7,
                lo = 8 * j
            ));
            leaves.push((format!("t{j}"), 9, vec![]));
        }
        (leaves, l.trailing_zeros())
    } else {
        (chains(a, &mut v), (l / k).trailing_zeros())
    };
    let root = tree(&mut v, leaves, levels, lps);
    let (name, w, carries) = &root;
    assert_eq!((*w, carries.len()), (sb, usize::from(has_cy(a))), "tree root");
    v.push_str(&format!("  assign sum = {name};\n"));
    if let Some(c) = carries.first() {
        v.push_str(&format!("  assign cy = {c};\n"));
    }
    v.push_str("endmodule\n");
    v
}

/// The code registers of a chain row's late lanes: `wd{d}` holds the codes of the lanes at
/// least `d` cycles late, `d` cycles after `w2`.
fn code_delay_decl(a: &Accel, v: &mut String) {
    let wreg = |d: u32| if d == 0 { "w2".to_string() } else { format!("wd{d}") };
    for d in 1..a.chain_stages {
        v.push_str(&format!(
            "  reg [{}:0] wd{d};\n  always @(posedge clk) if (en) wd{d} <= {};\n",
            2 * lanes_from(a, d).len() - 1,
            select(&wreg(d - 1), &lanes_from(a, d - 1), &lanes_from(a, d), 2)
        ));
    }
}

/// Bit `bit` of lane `j`'s code as its chain stage reads it: from `w2`, or from the
/// `code_delay_decl` register of the lane's delay.
fn lane_code(a: &Accel, j: u32, bit: u32) -> String {
    let d = a.lane_delay(j);
    let p = lanes_from(a, d).iter().position(|&x| x == j).unwrap() as u32;
    let reg = if d == 0 { "w2".to_string() } else { format!("wd{d}") };
    format!("{reg}[{}]", 2 * p + bit)
}

/// The chains of a chain row, a register after every `chain_adds` adds and after the last;
/// returns the chain sums.
fn chains(a: &Accel, v: &mut String) -> Vec<Node> {
    let k = a.row_chain;
    code_delay_decl(a, v);
    let code = |j: u32, bit: u32| lane_code(a, j, bit);
    let act = |j: u32| {
        let d = a.lane_delay(j);
        let p = lanes_at(a, d).iter().position(|&x| x == j).unwrap() as u32;
        let port = if d == 0 { "x2".to_string() } else { format!("xd{d}") };
        format!("{port}[{}:{}]", 8 * p + 7, 8 * p)
    };
    let mut out = Vec::new();
    for c in 0..a.cfg.lanes / k {
        let j0 = c * k;
        // head term: plain logic
        v.push_str(&format!(
            "  wire signed [7:0] h{c};\n  {m} head{c} (.nz({nz}), .ng({ng}), .act({x}), .term(h{c}));\n",
            m = crate::ternary_term::MODULE,
            nz = code(j0, 0),
            ng = code(j0, 1),
            x = act(j0)
        ));
        let mut y = format!("h{c}");
        let mut cin = code(j0, 1);
        for m in 1..k {
            let j = j0 + m;
            let (wo, wi) = (range_bits(m + 1), range_bits(m));
            let d = a.lane_delay(j);
            if d > a.lane_delay(j - 1) {
                // a stage register: the partial sum and its pending carry
                v.push_str(&format!(
                    "  reg signed [{}:0] p{c}_{d};\n  reg pc{c}_{d};\n  always @(posedge clk) if (en) begin p{c}_{d} <= {y}; pc{c}_{d} <= {cin}; end\n",
                    wi - 1
                ));
                y = format!("p{c}_{d}");
                cin = format!("pc{c}_{d}");
            }
            let s = format!("a{c}_{m}");
            v.push_str(&format!(
                "  wire signed [{}:0] {s};\n  {} u{c}_{m} (.y({y}), .x({}), .nz({}), .ng({}), .cin({cin}), .s({s}));\n",
                wo - 1,
                addt_name(wo, wi),
                act(j),
                code(j, 0),
                code(j, 1)
            ));
            y = s;
            cin = code(j, 1);
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

/// A pair chain's body (`Accel::pair_chain`): per pair a select of its value, registered
/// (so a chain stage starts at a flip-flop: two select LUT levels plus two stages made
/// 41.9-47.5 MHz on the UP5K, where the target is 50), and a `tern_pstage`
/// (z = flip ? ~(y + v) : y + v); a register where the next pair arrives a cycle later and
/// after the last.
///
/// ```text
///  l = {0, a0, a1, -1}[s1 s0]       v <= s2 ? (l ? P : M) : l      (two LUT4s a bit)
///  y0 = {sg0}  ->  z0 = y0 + v0 (^ flip0)  ->  z1 = z0 + v1 (^ flip1)  -> | reg | -> ...
/// ```
/// The chain holds the partial sum S in the polarity of the next pair's sign s: s ? ~S : S,
/// since ~S + v = ~(S - v). flip_k = s_k ^ s_(k+1), stored by the banks' recode; the last
/// pair's next sign is 0, so the chain ends in the sum itself. The first sign `sg0` is the
/// parity of all flips, registered beside the values. The flip-flops of `v` share their
/// select LUT's logic cell, so on iCE40 the stage costs no cells.
fn pair_chain(a: &Accel, v: &mut String) {
    let l = a.cfg.lanes;
    code_delay_decl(a, v);
    // bit b of pair k's code: bit b % 2 of lane 2k + b / 2
    let code = |k: u32, b: u32| lane_code(a, 2 * k + b / 2, b % 2);
    let act = |j: u32| {
        let d = a.lane_delay(j);
        let p = lanes_at(a, d).iter().position(|&x| x == j).unwrap() as u32;
        let port = if d == 0 { "x2".to_string() } else { format!("xd{d}") };
        format!("{{{port}[{hi}], {port}[{hi}:{lo}]}}", hi = 8 * p + 7, lo = 8 * p)
    };
    // in step with the registered values (`v{k}`), a cycle after w2
    let flips: Vec<String> = (0..l / 2).map(|k| format!("w2[{}]", 4 * k + PAIR_FLIP)).collect();
    v.push_str(&format!("  reg sg0;\n  always @(posedge clk) if (en) sg0 <= ^{{{}}};\n", flips.join(", ")));
    let (mut y, mut wy) = ("sg0".to_string(), 1);
    for k in 0..l / 2 {
        let d = a.lane_delay(2 * k);
        if k > 0 && d > a.lane_delay(2 * k - 1) {
            v.push_str(&format!("  reg [{}:0] p{d};\n  always @(posedge clk) if (en) p{d} <= {y};\n", wy - 1));
            y = format!("p{d}");
        }
        let wo = pair_stage_bits(k);
        v.push_str(&format!(
            "  wire [{vm}:0] l{k} = {s1} ? ({s0} ? {vw}'h{ones:x} : {a1}) : ({s0} ? {a0} : {vw}'h0);
  reg  [{vm}:0] v{k};
  reg  f{k};
  always @(posedge clk) if (en) begin
    v{k} <= {s2} ? ((l{k} & {p}) | (~l{k} & {m})) : l{k};
    f{k} <= {flip};
  end
  wire [{zm}:0] z{k};
  {cell} s{k} (.y({y}), .v(v{k}), .flip(f{k}), .z(z{k}));
",
            s0 = code(k, PAIR_S0),
            s1 = code(k, PAIR_S1),
            s2 = code(k, PAIR_S2),
            flip = code(k, PAIR_FLIP),
            a0 = act(2 * k),
            a1 = act(2 * k + 1),
            p = pair_sum_slices(k).0,
            m = pair_sum_slices(k).1,
            zm = wo - 1,
            vm = PAIR_VALUE_BITS - 1,
            vw = PAIR_VALUE_BITS,
            ones = (1u32 << PAIR_VALUE_BITS) - 1,
            cell = crate::cells::pstage_name(wo, wy),
        ));
        y = format!("z{k}");
        wy = wo;
    }
    assert_eq!(wy, a.tree_bits, "pair chain sum");
    v.push_str(&format!("  reg signed [{}:0] r;\n  always @(posedge clk) if (en) r <= {y};\n  assign sum = r;\n", wy - 1));
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

    /// An iCE40 row is one pair chain: a stage cell per pair, no lane term, no tree node,
    /// and its last stage as wide as the sum.
    #[test]
    fn ice40_rows_are_pair_chains() {
        let a = tern_arch::config::ICE40_UP5K.validate().unwrap();
        let v = verilog(&a);
        assert_eq!(v.matches(" tern_pstage_").count() as u32, a.cfg.lanes / 2);
        assert!(!v.contains(crate::ternary_term::MODULE) && !v.contains(" n1_0"), "{v}");
        assert_eq!(pstage_widths(&a).last().unwrap().0, a.tree_bits);
        assert!(pstage_widths(&TINY.validate().unwrap()).is_empty() && addt_widths(&a).is_empty());
    }

    #[test]
    fn stages_follow_the_config() {
        for cfg in [TINY, ECP5_85F, AccelConfig { lanes: 64, host_bits: 64, target_fmax_mhz: 200, ..TINY }] {
            let a = cfg.validate().unwrap();
            let v = verilog(&a);
            // one always block for w2, one per tree stage
            // chain rows: one per delayed code register, one per chain stage of every chain
            let s = a.chain_stages;
            let chain_regs = if a.row_chain > 1 { (s - 1) + s * (a.cfg.lanes / a.row_chain) - s } else { 0 };
            assert_eq!(v.matches("always @(posedge clk)").count() as u32, 1 + chain_regs + a.tree_stages, "{}", cfg.name);
            assert!(!v.contains(" * "));
        }
        let a = ECP5_85F.validate().unwrap();
        assert_eq!((a.row_chain, a.chain_adds, a.chain_stages), (4, 2, 2));
        assert_eq!(addt_widths(&a), vec![(9, 8), (10, 9), (10, 10)]);
        // grouped arrays register the bank's word twice (w1 beside the block RAM, then w2)
        assert!(verilog(&a).contains("begin w1 <= wq; w2 <= w1; end"));
        assert!(verilog(&TINY.validate().unwrap()).contains("if (en) w2 <= wq;"));
        let slow = AccelConfig { target_fmax_mhz: 50, ..ECP5_85F }.validate().unwrap();
        assert_eq!((slow.row_chain, slow.chain_adds, slow.chain_stages), (8, 4, 2));
        assert_eq!(addt_widths(&slow), vec![(9, 8), (10, 9), (10, 10), (11, 10), (11, 11)]);
    }
}
