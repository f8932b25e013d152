//! `tern_row`: one row of the MAC array. No multiplier: each lane's 2-bit code selects +a,
//! -a or 0 of the broadcast int8 activation, and an adder tree sums the L terms.
//!
//! ```text
//!  code c  act a (int8)            -a is formed as (~a) + 1: the L "+1" carry-ins are
//!    |       |                     summed once as popcount(neg) instead of L adders with
//!  nz=c!=01  neg=c==00             carry-in, so the tree adds plain 9-bit XOR terms.
//!    |       |
//!  t = ({9{nz}} & sext(a)) ^ {9{neg}}
//!  sum = t0 + t1 + ... + t(L-1) + popcount(neg)   (registered; a middle register when L > 16)
//! ```
//! The row registers its weight word after the bank (the post-RAM register that lifts Fmax);
//! the activation word is registered once in the array and broadcast.

use tern_arch::config::Accel;

/// Lanes summed before the middle register when the tree has two stages.
pub const GROUP: u32 = 8;

pub fn verilog(a: &Accel) -> String {
    let l = a.cfg.lanes;
    let tb = a.tree_bits;
    let mut v = format!(
        "module tern_row (
  input  wire clk,
  input  wire en,
  input  wire [{wm}:0] wq,
  input  wire [{xm}:0] x2,
  output reg  signed [{tm}:0] sum
);
  reg [{wm}:0] w2;
  always @(posedge clk) if (en) w2 <= wq;
",
        wm = 2 * l - 1,
        xm = 8 * l - 1,
        tm = tb - 1
    );
    for j in 0..l {
        v.push_str(&format!(
            "  wire nz{j} = w2[{h}] | ~w2[{lo}];\n  wire ng{j} = ~w2[{h}] & ~w2[{lo}];\n  \
             wire signed [{tm}:0] t{j} = ({{{tb}{{nz{j}}}}} & {{{{{ext}{{x2[{s}]}}}}, x2[{s}:{b}]}}) ^ {{{tb}{{ng{j}}}}};\n",
            h = 2 * j + 1,
            lo = 2 * j,
            s = 8 * j + 7,
            b = 8 * j,
            tm = tb - 1,
            ext = tb - 8
        ));
    }
    let group_sum = |lo: u32, hi: u32| -> String {
        let terms: Vec<String> = (lo..hi).map(|j| format!("t{j}")).collect();
        let negs: Vec<String> = (lo..hi).map(|j| format!("{{{{{pad}{{1'b0}}}}, ng{j}}}", pad = tb - 1)).collect();
        format!("{} + $signed({})", terms.join(" + "), negs.join(" + "))
    };
    if a.tree_stages == 1 {
        v.push_str(&format!("  always @(posedge clk) if (en) sum <= {};\n", group_sum(0, l)));
    } else {
        let groups = l / GROUP;
        for g in 0..groups {
            v.push_str(&format!("  reg signed [{tm}:0] part{g};\n", tm = tb - 1));
        }
        v.push_str("  always @(posedge clk) if (en) begin\n");
        for g in 0..groups {
            v.push_str(&format!("    part{g} <= {};\n", group_sum(g * GROUP, (g + 1) * GROUP)));
        }
        let parts: Vec<String> = (0..groups).map(|g| format!("part{g}")).collect();
        v.push_str(&format!("    sum <= {};\n  end\n", parts.join(" + ")));
    }
    v.push_str("endmodule\n");
    v
}
