//! `tern_row`: one row of the MAC array. No multiplier: each lane's weight selects +a, -a or
//! 0 of the broadcast int8 activation, and a tree of narrow adders sums the L terms.
//!
//! ```text
//!  bank word (recoded at write: per lane nz = w != 0, ng = w == -1)
//!    |  w2 register (after the block RAM)
//!  t_j = {8{nz_j}} & (a_j ^ {8{ng_j}})      8-bit term: +a, ~a (= -a - 1) or 0
//!  level 1:  n = t_0 + t_1 + ng_0           9 bits, one carry chain (the +1 of -a rides
//!  level 2:  n = n_0 + n_1 + ng_2          10 bits   in the chain's carry-in)
//!  ...       (a register after every `tree_levels_per_stage` levels, and after the last)
//!  out: sum (8 + log2 L bits) and cy = the last lane's ng, added by the accumulator
//! ```
//! Why this shape (each step measured in `docs/synthesis.md`):
//! - `-a` is `~a + 1`; the `+1`s are carry-ins of the tree's L-1 adders and of the
//!   accumulator, so a term is 8 bits and costs one LUT per bit.
//! - every node is exactly as wide as its range (8, 9, 10, ... bits); one wide expression
//!   makes yosys build every adder at the full width, or a `$macc` compressor.
//! - the bank stores each code recoded as (ng, nz), so the carry-ins and term masks are
//!   flip-flop outputs, not decode LUTs; `tern_array` recodes the write data once.

use tern_arch::config::{tree_levels_per_stage, Accel};

/// Width of a row's tree output `sum` (the last lane's carry is separate).
pub fn sum_bits(a: &Accel) -> u32 {
    8 + a.cfg.lanes.trailing_zeros()
}

pub fn verilog(a: &Accel) -> String {
    let l = a.cfg.lanes;
    let levels = l.trailing_zeros();
    let lps = tree_levels_per_stage(a.cfg.target_fmax_mhz);
    let sb = sum_bits(a);
    let mut v = format!(
        "module tern_row (
  input  wire clk,
  input  wire en,
  input  wire [{wm}:0] wq,
  input  wire [{xm}:0] x2,
  output wire signed [{sm}:0] sum,
  output wire cy
);
  reg [{wm}:0] w2;
  always @(posedge clk) if (en) w2 <= wq;
",
        wm = 2 * l - 1,
        xm = 8 * l - 1,
        sm = sb - 1,
    );
    // leaves: (name, width, pending carry-ins)
    let mut nodes: Vec<(String, u32, Vec<String>)> = Vec::new();
    for j in 0..l {
        v.push_str(&format!(
            "  wire signed [7:0] t{j} = {{8{{w2[{nz}]}}}} & (x2[{hi}:{lo}] ^ {{8{{w2[{ng}]}}}});\n",
            nz = 2 * j,
            ng = 2 * j + 1,
            hi = 8 * j + 7,
            lo = 8 * j
        ));
        nodes.push((format!("t{j}"), 8, vec![format!("w2[{}]", 2 * j + 1)]));
    }
    let mut stage_regs = Vec::new();
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
                stage_regs.push(format!("    {name} <= {expr};"));
                // pending carries cross the register with their node
                let regd: Vec<String> = carries
                    .iter()
                    .enumerate()
                    .map(|(k, c)| {
                        let cn = format!("{name}_c{k}");
                        v.push_str(&format!("  reg {cn};\n"));
                        stage_regs.push(format!("    {cn} <= {c};"));
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
            v.push_str(&stage_regs.join("\n"));
            v.push_str("\n  end\n");
            stage_regs.clear();
        }
        nodes = next;
    }
    let (root, w, carries) = &nodes[0];
    assert_eq!((*w, carries.len()), (sb, 1), "tree root");
    v.push_str(&format!("  assign sum = {root};\n  assign cy = {};\nendmodule\n", carries[0]));
    v
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
            // one always block for w2, one per tree stage
            assert_eq!(v.matches("always @(posedge clk)").count() as u32, 1 + a.tree_stages, "{}", cfg.name);
            assert!(!v.contains(" * "));
        }
    }
}
