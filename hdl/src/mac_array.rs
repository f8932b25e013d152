//! `tern_array`: R weight banks, the activation buffer, R row trees, the token pipeline and
//! the R accumulators.
//!
//! ```text
//! issue slot k:  raddr -> [bank RAM reg] -> [w2/x2 reg] -> [tree reg(s)] -> acc += sum
//! token:         tok_in -> tok1          -> tok2        -> tok3 (tok4)   -> (valid, first, last&store)
//!
//! grouped arrays (`Accel::grouped`), one register more at each `+`:
//! weights:       raddr middle copy -> +group copy -> +row copy (c_ra) -> [RAM reg]
//!                  -> [DP16KD out reg] -> +w1 -> w2 -> chains ...
//! activations:   raddr_x -> [abuf reg] -> x2 -> +x2_s1 -> +x2_s2 -> +x2_s3 -> group copy (x2_g)
//!                  -> chains ...  (x2_s1: 1 copy, x2_s2: 2, x2_s3: one per two groups: a
//!                  tree, no hop across the die)
//! token bits:    ... tok{p-2} -> group copy (tkg) -> row copy (tk{i}) = tok{p}[2:1]
//! ```
//! The middle (the sequencer's, one per two groups) and row copies of the read address make
//! the bank read two advancing cycles after the issue slot: the sequencer's read window
//! (`rd_sh`) keeps LOADW waiting for it.
//!
//! Inside a broadcast group (`Accel::group_hops`) rows pass their inputs on, row to row:
//! ```text
//!  group copy x2_g -> row 0 ----> xr1 -> row 1 ----> xr2 -> row 2 ... xr7 -> row 7 -> xt1_g
//!  group raddr     -> ra0 ------> ra1 ------------> ra2 ...         ra7
//!  group write port-> wa0/wd0/we0 -> wa1/wd1/we1 ...                 wa7/wd7/we7
//!  row k's sum -> (7 - k de-skew registers) -> its accumulator (all rows in one cycle)
//! ```
//! Row k runs k cycles behind row 0, with its own reads in row 0's order; its late lanes
//! (chain rows) read row k + 1's register, which holds the word one cycle older, and the
//! last row's the group's tail `xt1_g`. So no activation or read-address net spans a group's
//! rows (on ecp5-85f one such net crossed ~36 columns: the critical path's class).
//! Everything here advances only with `advance`; the output stream drops it while a finished
//! result waits for the output shifter, which freezes the array without losing a term.
//!
//! The banks store each 2-bit code recoded as (ng, nz) = (w == -1, w != 0): the write data
//! is recoded once here for all banks, so every row reads its term masks and carry-ins
//! straight from flip-flops (see `row_tree`). Still two bits per weight. Pair-chain arrays
//! (`Accel::pair_chain`, iCE40) recode each pair of codes to a select and a flip instead
//! (`pair_recode_decl`), and compute the pairs' sums a0 + a1 and a0 - a1 here once for all
//! rows (`pair_sums_decl`).

use crate::top::RstCopy;
use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    let c = &a.cfg;
    let (r, l) = (c.rows, c.lanes);
    let wab = a.waddr_bits;
    let xab = a.xaddr_bits;
    let acc = c.acc_bits;
    let tb = a.tree_bits;
    let p = a.pipeline_depth;
    let mut v = format!(
        "module tern_array (
  input  wire clk,
  input  wire {rst_port},
  input  wire advance,
  input  wire [{rm}:0] adv_row,
  input  wire [2:0] tok_in,
  input  wire [{ram}:0] raddr_w,
  input  wire [{xam}:0] raddr_x,
  input  wire [{wem}:0] we_w,
  input  wire [{ram}:0] waddr_w,
  input  wire [{wdm}:0] wdata_w,
  input  wire we_x,
  input  wire [{xam}:0] waddr_x,
  input  wire [{xm}:0] wdata_x,
  output wire [{am}:0] acc_flat,
  output wire pipe_empty,
  output wire {ls_port},
  output wire acc_fire
);
  wire [{xm}:0] xq;
  reg  [{xm}:0] x2;
  tern_abuf abuf (.clk(clk), .we(we_x), .waddr(waddr_x), .wdata(wdata_x), .re(advance), .raddr(raddr_x), .rdata(xq));
  always @(posedge clk) if (advance) x2 <= xq;
{xneg}{xstages}{xdelay}{recode}",
        ram = crate::sequencer::raddr_copies(a) * wab - 1,
        wem = crate::sequencer::we_bits(a) - 1,
        wdm = crate::sequencer::raddr_copies(a) * 2 * l - 1,
        recode = if a.grouped() {
            // the sequencer's write port recodes the word before its middle copies (`wport_decl`)
            format!("  wire [{wdm}:0] wdata_rc = wdata_w;\n", wdm = crate::sequencer::raddr_copies(a) * 2 * l - 1)
        } else if a.pair_chain {
            pair_recode_decl(a, "wdata_rc", "wdata_w") + &pair_sums_decl(a)
        } else {
            recode_decl("wdata_rc", "wdata_w", crate::sequencer::raddr_copies(a) * l, "g", "recode")
        },
        xam = xab - 1,
        rst_port = if a.grouped() { format!("[{}:0] rst", crate::top::rst_index(a, RstCopy::Array)) } else { "rst".to_string() },
        rm = r - 1,
        xm = a.xword_bits - 1,
        am = r * acc - 1,
        ls_port = crate::out_stream::ls_port(a),
        xneg = if a.exact_last_lane {
            // the last lane's -a, once for all rows, in step with x2 (`Accel::exact_last_lane`)
            format!(
                "  reg signed [8:0] xn2;\n  always @(posedge clk) if (advance) xn2 <= -{{xq[{hi}], xq[{hi}:{lo}]}};\n",
                hi = a.xword_bits - 1,
                lo = a.xword_bits - 8
            )
        } else {
            String::new()
        },
        xstages = x_stages_decl(a),
        xdelay = bcast_decl(a),
    );
    // token pipeline: bit 2 valid, bit 1 first (clear), bit 0 last-and-store
    for i in 1..=p {
        v.push_str(&format!("  reg [2:0] tok{i};\n"));
    }
    let rst_a = rst_net(a, RstCopy::Array);
    v.push_str(&format!("  always @(posedge clk) begin\n    if ({rst_a}) begin\n"));
    for i in 1..=p {
        v.push_str(&format!("      tok{i} <= 3'b000;\n"));
    }
    v.push_str("    end else if (advance) begin\n      tok1 <= tok_in;\n");
    for i in 2..=p {
        v.push_str(&format!("      tok{i} <= tok{};\n", i - 1));
    }
    v.push_str("    end\n  end\n");
    // pipe_empty is a register loaded with its next value (the valids one stage earlier), so
    // the sequencer's SYNC/HALT test reads a flip-flop, not an OR of the token stages
    let valids: Vec<String> = std::iter::once("tok_in[2]".to_string()).chain((1..p).map(|i| format!("tok{i}[2]"))).collect();
    v.push_str(&format!(
        "  reg pipe_empty_r = 1'b1;\n  always @(posedge clk)\n    if ({rst_a}) pipe_empty_r <= 1'b1;\n    else if (advance) pipe_empty_r <= ~({});\n  assign pipe_empty = pipe_empty_r;\n  assign acc_fire = advance & tok{p}[2];\n  {ls_assign}\n{unused}\n",
        valids.join(" | "),
        unused = if a.grouped() {
            format!("  wire [1:0] unused_tok = tok{p}[1:0]; // rows read their own copies (tk), tern_out its own (ls_tok)")
        } else {
            format!("  wire unused_first = tok{p}[1]; // each row reads its own copy (tk)")
        },
        ls_assign = if a.grouped() {
            // `tern_out` registers ls_fire itself from the stage before (`out_stream::ls_registered`)
            format!("assign ls_pre = tok{pm}[2] & tok{pm}[0];", pm = p - 1)
        } else {
            format!("assign ls_fire = acc_fire & tok{p}[0];")
        },
    ));
    v.push_str(&tk_decl(a));
    for i in 0..r {
        // this row's group copies of the banks' read address, write address and write data
        let k = crate::sequencer::raddr_copy_of(a, i);
        let raddr_g = format!("raddr_w{}", crate::sequencer::copy_slice(a, k, wab));
        let waddr_g = format!("waddr_w{}", crate::sequencer::copy_slice(a, k, wab));
        let wdata_g = format!("wdata_rc{}", crate::sequencer::copy_slice(a, k, a.wword_bits));
        // the row's sum (and carry) after its de-skew registers
        let ds = if deskew_regs(a, i) > 0 { format!("_d{}", deskew_regs(a, i)) } else { String::new() };
        let cy = crate::row_tree::has_cy(a);
        v.push_str(&format!(
            "  wire [{wm}:0] wq{i};
  wire signed [{tm}:0] sum{i};
{cy_decl}  reg  signed [{accm}:0] acc{i};
{tk}{ra}{wc}  tern_wbank bank{i} (.clk(clk), .we({we}), .waddr({waddr}), .wdata({wdata}), .re(adv_row[{i}]), .raddr({raddr}), .rdata(wq{i}));
  wire [{accm}:0] accq{i};
  tern_row row{i} (.clk(clk), .en(adv_row[{i}]), .wq(wq{i}), .x2({x2}),{xd}{xn}{pm} .sum(sum{i}){cy_row});
{deskew}  tern_acc accu{i} (.acc(acc{i}), .s(sum{i}{ds}),{cy_acc} .keep(~tk{i}[0]), .q(accq{i}));
  always @(posedge clk)
    if ({rst_g}) acc{i} <= {acc}'sd0;
    else if (adv_row[{i}] & tk{i}[1]) acc{i} <= accq{i};
  assign acc_flat[{hi}:{lo}] = acc{i};
",
            rst_g = rst_net(a, RstCopy::Group(a.bcast_group_of(i))),
            wm = 2 * l - 1,
            tm = tb - 1,
            accm = acc - 1,
            cy_decl = if cy { format!("  wire cy{i};\n") } else { String::new() },
            cy_row = if cy { format!(", .cy(cy{i})") } else { String::new() },
            cy_acc = if cy { format!(" .cy(cy{i}{ds}),") } else { String::new() },
            xn = if a.exact_last_lane {
                assert_eq!(row_act(a, i, 0), "x2", "xn2 is in step with x2 only");
                " .xn(xn2),"
            } else {
                ""
            },
            pm = if a.pair_chain { " .pm(pm)," } else { "" },
            xd = crate::row_tree::delay_ports(a).iter().map(|(d, _)| format!(" .xd{d}({}),", row_act(a, i, *d))).collect::<String>(),
            tk = if a.grouped() {
                format!(
                    "  // this row's copy of the last token stage, from its group's copy (`tk_decl`)\n  wire [1:0] tk{i};\n  tern_copy #(.W(2)) c_tk{i} (.clk(clk), .en(adv_row[{i}]), .d({rst_g} ? 2'b00 : tkg{g}), .q(tk{i}));\n",
                    g = a.bcast_group_of(i),
                    rst_g = rst_net(a, RstCopy::Group(a.bcast_group_of(i)))
                )
            } else {
                format!(
                    "  // this row's copies of advance and of the last token stage (fan-out)\n  (* keep *) reg [1:0] tk{i};\n  always @(posedge clk)\n    if (rst) tk{i} <= 2'b00;\n    else if (adv_row[{i}]) tk{i} <= tok{pm}[2:1];\n",
                    pm = p - 1
                )
            },
            x2 = row_act(a, i, 0),
            deskew = deskew_decl(a, i),
            hi = (i + 1) * acc - 1,
            lo = i * acc,
            ra = if a.read_stages > 0 {
                // the group's first row loads its group's copy, each further row the row before
                // (`group_hops`)
                let src = if a.group_hops > 0 && i != a.bcast_group_head(a.bcast_group_of(i)) { format!("ra{}", i - 1) } else { raddr_g.clone() };
                format!(
                    "  wire [{m}:0] ra{i};\n  tern_copy #(.W({wab})) c_ra{i} (.clk(clk), .en(adv_row[{i}]), .d({src}), .q(ra{i}));\n",
                    m = wab - 1
                )
            } else {
                String::new()
            },
            raddr = if a.read_stages > 0 { format!("ra{i}") } else { raddr_g.clone() },
            wc = if a.group_hops > 0 { write_chain_decl(a, i, &waddr_g, &wdata_g) } else { String::new() },
            we = if a.group_hops > 0 { format!("we{i}") } else { format!("we_w[{i}]") },
            waddr = if a.group_hops > 0 { format!("wa{i}") } else { waddr_g.clone() },
            wdata = if a.group_hops > 0 { format!("wd{i}") } else { wdata_g.clone() },
        ));
    }
    v.push_str("endmodule\n");
    v
}

/// The write chain of row `i` (arrays whose groups form a chain, `Accel::group_hops` > 0):
/// like the read address, the write port hops row to row. The group's first row copies its
/// group copy of the write address, word and select (`sequencer::wsel_decl`), each further
/// row the row before, and each row registers its bank's enable from the select it copies
/// (the select goes no further than the group's last row). Row k of a group then writes k + 1
/// cycles after its group copy holds the word, as it reads k advancing cycles after the
/// group's first row, so the margin to the earliest read is the same in every row
/// (docs/decisions.md). One group copy fed its group's 16 DP16KDs across the group's slot:
/// 8.1-10.4 ns of routing on ecp5-85f (`gcrt29` s11, s14, s16, s23).
fn write_chain_decl(a: &Accel, i: u32, waddr_g: &str, wdata_g: &str) -> String {
    use tern_arch::config::BCAST_GROUP_ROW_BITS as gb;
    let k = a.bcast_group_of(i);
    let rows = a.bcast_group_rows(k);
    let j = i - rows.start;
    // the select's bus and its bit 0 in it: {row in the group, flag}
    let (src_a, src_d, sel, s0) = if j == 0 {
        (waddr_g.to_string(), wdata_g.to_string(), "we_w".to_string(), k * (gb + 1))
    } else {
        (format!("wa{}", i - 1), format!("wd{}", i - 1), format!("ws{}", i - 1), 0)
    };
    let src_s = format!("{sel}[{}:{s0}]", s0 + gb);
    let (flag, row) = (format!("{sel}[{s0}]"), format!("{sel}[{}:{}]", s0 + gb, s0 + 1));
    let mut v = format!(
        "  wire [{am}:0] wa{i};\n  wire [{dm}:0] wd{i};\n  wire we{i};\n  tern_copy #(.W({w})) c_wa{i} (.clk(clk), .en(1'b1), .d({src_a}), .q(wa{i}));\n  tern_copy #(.W({ww})) c_wd{i} (.clk(clk), .en(1'b1), .d({src_d}), .q(wd{i}));\n  tern_copy #(.W(1)) c_we{i} (.clk(clk), .en(1'b1), .d({flag} & ({row} == {gb}'d{j})), .q(we{i}));\n",
        am = a.waddr_bits - 1,
        dm = a.wword_bits - 1,
        w = a.waddr_bits,
        ww = a.wword_bits,
    );
    if i + 1 < rows.end {
        v.push_str(&format!(
            "  wire [{gb}:0] ws{i};\n  tern_copy #(.W({w})) c_ws{i} (.clk(clk), .en(1'b1), .d({src_s}), .q(ws{i}));\n",
            w = gb + 1
        ));
    }
    v
}

/// `dst` = the weight codes of `src` recoded for the banks: code c (0 = -1, 1 = 0, 2 = +1)
/// -> {ng, nz}, `codes` codes (declares `dst`), in a generate loop over genvar `gv` named `block`.
pub(crate) fn recode_decl(dst: &str, src: &str, codes: u32, gv: &str, block: &str) -> String {
    format!(
        "  // code c (0 = -1, 1 = 0, 2 = +1) -> {{ng, nz}}
  wire [{m}:0] {dst};
  genvar {gv};
  generate for ({gv} = 0; {gv} < {codes}; {gv} = {gv} + 1) begin : {block}
    assign {dst}[2*{gv}] = {src}[2*{gv}+1] | ~{src}[2*{gv}];
    assign {dst}[2*{gv}+1] = ~{src}[2*{gv}+1] & ~{src}[2*{gv}];
  end endgenerate
",
        m = 2 * codes - 1
    )
}

/// The banks' recode for pair chains (`Accel::pair_chain`): the codes (0 = -1, 1 = 0,
/// 2 = +1) of lanes 2k and 2k + 1 become pair k's select {s2, s1, s0} and the flip between
/// its sign and the next pair's (`tern_hdl::row_tree::PAIR_S0`..`PAIR_FLIP`), once for all
/// banks. A pair's sign is that of its first nonzero weight: a0 - a1 is M, -a0 + a1 is -M.
fn pair_recode_decl(a: &Accel, dst: &str, src: &str) -> String {
    use crate::row_tree::{PAIR_FLIP, PAIR_S0, PAIR_S1, PAIR_S2};
    let pairs = a.cfg.lanes / 2;
    let mut v = format!("  // lane codes (0 = -1, 1 = 0, 2 = +1) -> per pair {{flip, s2, s1, s0}}\n  wire [{}:0] {dst};\n", 4 * pairs - 1);
    // pr_sg[k]: pair k's sign; the chain ends in polarity 0 (pr_sg[pairs])
    v.push_str(&format!("  wire [{pairs}:0] pr_sg;\n  assign pr_sg[{pairs}] = 1'b0;\n"));
    for k in 0..pairs {
        let (c0, c1) = (4 * k, 4 * k + 2);
        v.push_str(&format!(
            "  wire pr_nz0_{k} = {src}[{c0h}] | ~{src}[{c0}], pr_ng0_{k} = ~{src}[{c0h}] & ~{src}[{c0}];
  wire pr_nz1_{k} = {src}[{c1h}] | ~{src}[{c1}], pr_ng1_{k} = ~{src}[{c1h}] & ~{src}[{c1}];
  wire pr_same_{k} = pr_ng0_{k} == pr_ng1_{k};
  assign pr_sg[{k}] = pr_nz0_{k} ? pr_ng0_{k} : pr_ng1_{k};
  assign {dst}[{b0}] = pr_nz0_{k} & (~pr_nz1_{k} | pr_same_{k});
  assign {dst}[{b1}] = pr_nz1_{k} & (~pr_nz0_{k} | pr_same_{k});
  assign {dst}[{b2}] = pr_nz0_{k} & pr_nz1_{k};
  assign {dst}[{bf}] = pr_sg[{k}] ^ pr_sg[{k1}];
",
            c0h = c0 + 1,
            c1h = c1 + 1,
            b0 = 4 * k + PAIR_S0,
            b1 = 4 * k + PAIR_S1,
            b2 = 4 * k + PAIR_S2,
            bf = 4 * k + PAIR_FLIP,
            k1 = k + 1,
        ));
    }
    v
}

/// Pair chains' shared pair sums `pm` (pair k: P = a0 + a1 in bits 18k..18k+8, M = a0 - a1
/// above), once for all rows. Each pair's sums are registered in step with its lanes'
/// activations (`xd{d}`), from the register those load from (`xq` for the pairs of delay 0),
/// so no flip-flop delays a sum.
fn pair_sums_decl(a: &Accel) -> String {
    use crate::row_tree::lanes_from;
    let pairs = a.cfg.lanes / 2;
    let all: Vec<u32> = (0..a.cfg.lanes).collect();
    let mut v = format!("  reg [{}:0] pm;\n  always @(posedge clk) if (advance) begin\n", crate::row_tree::pair_sums_bits(a) - 1);
    for k in 0..pairs {
        let d = a.lane_delay(2 * k);
        let (src, held) = match d {
            0 => ("xq".to_string(), all.clone()),
            1 => ("x2".to_string(), all.clone()),
            _ => (format!("xq{}", d - 1), lanes_from(a, d - 1)),
        };
        let lane = |j: u32| {
            let p = held.iter().position(|&x| x == j).unwrap() as u32;
            format!("$signed({{{src}[{hi}], {src}[{hi}:{lo}]}})", hi = 8 * p + 7, lo = 8 * p)
        };
        v.push_str(&format!(
            "    {p} <= {a0} + {a1};\n    {m} <= {a0} - {a1};\n",
            p = crate::row_tree::pair_sum_slices(k).0,
            m = crate::row_tree::pair_sum_slices(k).1,
            a0 = lane(2 * k),
            a1 = lane(2 * k + 1)
        ));
    }
    v.push_str("  end\n");
    v
}

/// Large arrays: the last token stage's valid and first bits reach each row through two
/// levels of `tern_copy` (one per group, loaded from the stage before the last but one; one
/// per row, `tk{i}`), equal to `tok{p}[2:1]` on every cycle. The plain `(* keep *)` row copies
/// of small arrays are merged by yosys into one register, which on ecp5-85f fed all 64
/// accumulators' clear inputs (9.5-10.5 ns of routing, the critical path of two seeds).
///
/// The copies take `advance` straight from its global network on their enable and `rst`
/// through their D input. With `rst | advance` on the enable, yosys shared that one LUT, whose
/// output then reached every copy's enable over fabric routing (10.38 ns, the critical path of
/// the 96.30 MHz record). They clear in any reset cycle with `advance` high, and `advance` is
/// high from a reset's second cycle on (`adv_r`'s next value is 1 under `rst`), so on grouped
/// arrays reset lasts at least two cycles (`tern_reset` holds it for two).
fn tk_decl(a: &Accel) -> String {
    if !a.grouped() {
        return String::new();
    }
    let p = a.pipeline_depth;
    (0..a.bcast_groups)
        .map(|g| {
            format!(
                "  wire [1:0] tkg{g};\n  tern_copy #(.W(2)) c_tkg{g} (.clk(clk), .en(adv_row[{h}]), .d({rst_g} ? 2'b00 : tok{pm2}[2:1]), .q(tkg{g}));\n",
                rst_g = rst_net(a, RstCopy::Group(g)),
                h = a.bcast_group_head(g),
                pm2 = p - 2
            )
        })
        .collect()
}

/// The reset a part of the array reads: its copy in `rst` on grouped arrays (`top::rst_copies`;
/// a broadcast group's rows read their group's, the token pipeline the array's), else `rst`.
fn rst_net(a: &Accel, c: RstCopy) -> String {
    if a.grouped() { format!("rst[{}]", crate::top::rst_index(a, c)) } else { "rst".to_string() }
}

/// Suffix of row `i`'s activation signals: its group's copy (`_g{n}`), or the shared one.
fn gsuf(a: &Accel, i: u32) -> String {
    if a.grouped() { format!("_g{}", a.bcast_group_of(i)) } else { String::new() }
}

/// The activation stages that match the weights' `read_stages` (the row copies of the read
/// address) and `bank_out_stages` (`w1`), after `x2`, before the group copies. On grouped
/// arrays they form a tree of `tern_copy` cells that doubles at each stage and ends with one
/// copy per two groups (`x_stage_copies`), so no hop of the broadcast spans the whole array;
/// the cycle count is the same. Elsewhere plain registers.
fn x_stages_decl(a: &Accel) -> String {
    let n = x_stages(a);
    let w = a.xword_bits;
    let xm = w - 1;
    let mut v = String::new();
    for k in 1..=n {
        let copies = x_stage_copies(a, k);
        if copies == 1 && !a.grouped() {
            let prev = if k == 1 { "x2".to_string() } else { format!("x2_s{}", k - 1) };
            v.push_str(&format!(
                "  reg  [{xm}:0] x2_s{k};
  always @(posedge clk) if (advance) x2_s{k} <= {prev};
"
            ));
            continue;
        }
        for j in 0..copies {
            let prev = if k == 1 { "x2".to_string() } else { x_stage_name(a, k - 1, j * x_stage_copies(a, k - 1) / copies) };
            let name = x_stage_name(a, k, j);
            v.push_str(&format!(
                "  wire [{xm}:0] {name};
  tern_copy #(.W({w})) c_{name} (.clk(clk), .en(advance), .d({prev}), .q({name}));
"
            ));
        }
    }
    v
}

/// Registers the activations pass after `x2` to stay in step with the weights' extra stages.
fn x_stages(a: &Accel) -> u32 {
    a.read_stages + a.bank_out_stages
}

/// Copies of activation stage `k` (1-based): the last stage has `Accel::mid_copies` (one per
/// two broadcast groups), each earlier stage half as many as the next (at least one).
fn x_stage_copies(a: &Accel, k: u32) -> u32 {
    let down = x_stages(a) - k;
    a.mid_copies().div_ceil(1 << down.min(31)).max(1)
}

/// Name of copy `j` of activation stage `k`.
fn x_stage_name(a: &Accel, k: u32, j: u32) -> String {
    if x_stage_copies(a, k) == 1 { format!("x2_s{k}") } else { format!("x2_s{k}_{j}") }
}

/// What group `g`'s copy loads: `x2`, or its copy of the last of `x_stages_decl`'s stages.
fn x_bcast_src(a: &Accel, g: u32) -> String {
    let n = x_stages(a);
    if n == 0 { "x2".to_string() } else { x_stage_name(a, n, a.mid_copy_of(g)) }
}

/// The activation copies rows read: x2 itself, or one register per group of rows
/// (`tern_copy` cells: yosys merges plain registers with equal inputs back into one, see
/// docs/synthesis.md "Copies are merged"); plus the chains' late lanes (`xd{d}`, d cycles
/// later, loaded from the group's own copy) and early lanes (x2e) of each copy.
fn bcast_decl(a: &Accel) -> String {
    let xm = a.xword_bits - 1;
    if !a.grouped() {
        return delay_decl(a, "x2", "", "advance");
    }
    let mut v = String::new();
    for g in 0..a.bcast_groups {
        let s = format!("_g{g}");
        v.push_str(&format!(
            "  wire [{xm}:0] x2{s};\n  tern_copy #(.W({w})) c_x2{s} (.clk(clk), .en(adv_row[{r}]), .d({src}), .q(x2{s}));\n",
            w = xm + 1,
            src = x_bcast_src(a, g),
            r = a.bcast_group_head(g)
        ));
        if a.group_hops == 0 {
            v.push_str(&delay_decl(a, &format!("x2{s}"), &s, &format!("adv_row[{}]", a.bcast_group_head(g))));
        } else {
            v.push_str(&hops_decl(a, g));
        }
    }
    v
}

/// Row `i`'s activation register on arrays with `group_hops`: the group's copy for its first
/// row, then `xr{i}`, loaded from the row before.
fn row_xreg(a: &Accel, i: u32) -> String {
    let g = a.bcast_group_of(i);
    if i == a.bcast_group_head(g) { format!("x2_g{g}") } else { format!("xr{i}") }
}

/// `group_hops`: the activation word passes from row to row inside group `g` (`xr{i}`), so
/// each of its nets reaches one row, not the group's 8. Row i + d holds what row i held d
/// cycles ago, so a row's late lanes read a later row's register; the last row's late lanes
/// read the group's tail registers `xt{m}_g{g}` (lanes at least m late, m cycles after it).
fn hops_decl(a: &Accel, g: u32) -> String {
    use crate::row_tree::{lanes_from, select};
    let xm = a.xword_bits - 1;
    let rows = a.bcast_group_rows(g);
    let mut v = String::new();
    for i in rows.clone().skip(1) {
        v.push_str(&format!("  reg  [{xm}:0] xr{i};\n  always @(posedge clk) if (adv_row[{i}]) xr{i} <= {};\n", row_xreg(a, i - 1)));
    }
    let last = rows.end - 1;
    let all: Vec<u32> = (0..a.cfg.lanes).collect();
    for m in 1..a.chain_stages {
        let (prev, held) = if m == 1 { (row_xreg(a, last), all.clone()) } else { (format!("xt{}_g{g}", m - 1), lanes_from(a, m - 1)) };
        let lanes = lanes_from(a, m);
        v.push_str(&format!(
            "  reg  [{}:0] xt{m}_g{g};\n  always @(posedge clk) if (adv_row[{last}]) xt{m}_g{g} <= {};\n",
            8 * lanes.len() - 1,
            select(&prev, &held, &lanes, 8)
        ));
    }
    v
}

/// What row `i` reads for its lanes `d` cycles late (`d` = 0: its early lanes, port `x2`).
fn row_act(a: &Accel, i: u32, d: u32) -> String {
    use crate::row_tree::{lanes_at, lanes_from, select};
    if a.row_chain == 1 {
        return if a.group_hops == 0 { format!("x2{}", gsuf(a, i)) } else { row_xreg(a, i) };
    }
    if a.group_hops == 0 {
        return if d == 0 { format!("x2e{}", gsuf(a, i)) } else { format!("xd{d}{}", gsuf(a, i)) };
    }
    let all: Vec<u32> = (0..a.cfg.lanes).collect();
    let g = a.bcast_group_of(i);
    let last = a.bcast_group_rows(g).end - 1;
    if i + d <= last {
        select(&row_xreg(a, i + d), &all, &lanes_at(a, d), 8)
    } else {
        let m = i + d - last;
        select(&format!("xt{m}_g{g}"), &lanes_from(a, m), &lanes_at(a, d), 8)
    }
}

/// De-skew registers row `i`'s sum passes (`group_hops` - its place in its group), so every
/// accumulator sees its sum in the same cycle.
fn deskew_regs(a: &Accel, i: u32) -> u32 {
    if a.group_hops == 0 { 0 } else { a.group_hops - (i - a.bcast_group_head(a.bcast_group_of(i))) }
}

fn deskew_decl(a: &Accel, i: u32) -> String {
    let n = deskew_regs(a, i);
    if n == 0 {
        return String::new();
    }
    let tm = a.tree_bits - 1;
    let mut v = String::new();
    let mut loads = Vec::new();
    for k in 1..=n {
        let prev = if k == 1 { String::new() } else { format!("_d{}", k - 1) };
        v.push_str(&format!("  reg signed [{tm}:0] sum{i}_d{k};\n  reg cy{i}_d{k};\n"));
        loads.push(format!("sum{i}_d{k} <= sum{i}{prev}; cy{i}_d{k} <= cy{i}{prev};"));
    }
    v.push_str(&format!("  always @(posedge clk) if (adv_row[{i}]) begin {} end\n", loads.join(" ")));
    v
}

/// The activations of the chains' late lanes (shared by `src`'s rows): `xq{d}` holds the lanes
/// at least `d` cycles late, `d` cycles after `src`; a row's port `xd{d}` takes the lanes
/// exactly `d` late from it, and `x2e` the lanes of delay 0 from `src`.
fn delay_decl(a: &Accel, src: &str, s: &str, en: &str) -> String {
    use crate::row_tree::{lanes_at, lanes_from, select};
    if a.row_chain == 1 {
        return String::new();
    }
    let all: Vec<u32> = (0..a.cfg.lanes).collect();
    let mut v = String::new();
    for d in 1..a.chain_stages {
        let (prev, held) = if d == 1 { (src.to_string(), all.clone()) } else { (format!("xq{}{s}", d - 1), lanes_from(a, d - 1)) };
        let lanes = lanes_from(a, d);
        v.push_str(&format!(
            "  reg  [{m}:0] xq{d}{s};\n  always @(posedge clk) if ({en}) xq{d}{s} <= {};\n",
            select(&prev, &held, &lanes, 8),
            m = 8 * lanes.len() - 1,
        ));
        let exact = lanes_at(a, d);
        v.push_str(&format!("  wire [{}:0] xd{d}{s} = {};\n", 8 * exact.len() - 1, select(&format!("xq{d}{s}"), &lanes, &exact, 8)));
    }
    let early = lanes_at(a, 0);
    v.push_str(&format!("  wire [{}:0] x2e{s} = {};\n", 8 * early.len() - 1, select(src, &all, &early, 8)));
    v
}

#[cfg(test)]
mod tests {
    use super::verilog;
    use tern_arch::config::{ECP5_85F, ICE40_HX8K, ICE40_UP5K, TINY};

    /// `group_hops`: inside a group each row loads the activations and the read address from
    /// the row before, a row's late lanes read the next row's register (the last row the
    /// group's tail `xt1_g`), and row k's sum passes 7 - k de-skew registers.
    #[test]
    fn rows_of_a_group_pass_activations_and_read_address_on() {
        let a = ECP5_85F.validate().unwrap();
        assert_eq!((a.group_hops, a.bcast_group_rows(1)), (7, 8..16));
        let v = verilog(&a);
        assert!(v.contains("if (adv_row[9]) xr9 <= x2_g1;") && v.contains("if (adv_row[10]) xr10 <= xr9;"), "{v}");
        assert!(!v.contains("xr8 ") && !v.contains("xd1_g"), "the group's first row reads its copy; no shared late-lane register");
        assert!(v.contains("c_ra8 (.clk(clk), .en(adv_row[8]), .d(raddr_w[17:9]), .q(ra8));"), "{v}");
        assert!(v.contains("c_ra9 (.clk(clk), .en(adv_row[9]), .d(ra8), .q(ra9));"), "{v}");
        assert!(v.contains("row8 (.clk(clk), .en(adv_row[8]), .wq(wq8), .x2({x2_g1[239:232]"), "{v}");
        assert!(v.contains(".xd1({xr9[255:248]"), "row 8's late lanes read row 9's register: {v}");
        assert!(v.contains("if (adv_row[15]) xt1_g1 <= {xr15[255:248]") && v.contains(".xd1({xt1_g1[127:120]"), "{v}");
        assert!(v.contains(".s(sum8_d7), .cy(cy8_d7)") && !v.contains("sum8_d8"), "{v}");
        assert!(v.contains(".s(sum15), .cy(cy15)") && !v.contains("sum15_d1"), "{v}");
    }

    /// Grouped arrays: every bank reads through its own copy of its group's read address, the
    /// activations pass `x_stages` registers before the group copies (a tree of copies that
    /// doubles at each stage), the token bits reach each row through a group copy and a row
    /// copy, and `ls_pre` leaves for `tern_out`. Small arrays have none of it (their Verilog
    /// and Fmax records are older than these stages).
    #[test]
    fn grouped_arrays_copy_read_address_activation_stages_and_token_bits_per_row() {
        let a = ECP5_85F.validate().unwrap();
        let v = verilog(&a);
        let (r, g) = (a.cfg.rows as usize, a.bcast_groups as usize);
        assert_eq!((a.read_stages, a.bank_out_stages), (2, 1));
        assert_eq!(v.matches(") c_ra").count(), r);
        assert!(v.contains(".raddr(ra63), .rdata(wq63)"), "bank 63 reads its own copy");
        assert_eq!(v.matches(") c_tkg").count(), g);
        assert_eq!(v.matches(") c_tk").count(), r + g);
        assert!(
            v.contains(&format!("c_tkg0 (.clk(clk), .en(adv_row[0]), .d(rst[0] ? 2'b00 : tok{}[2:1]), .q(tkg0)", a.pipeline_depth - 2)),
            "{v}"
        );
        // advance straight on the copies' enables (no shared `rst | advance` LUT)
        assert!(
            v.contains("c_tk63 (.clk(clk), .en(adv_row[63]), .d(rst[7] ? 2'b00 : tkg7), .q(tk63));") && !v.contains("rst | adv_row"),
            "{v}"
        );
        // the activation stages: 1 copy of x2_s1, 2 of x2_s2, 4 of x2_s3 (one per two of the
        // 8 groups)
        assert_eq!((1..=3).map(|k| super::x_stage_copies(&a, k)).collect::<Vec<_>>(), [1, 2, 4]);
        assert_eq!(v.matches(".d(x2), .q(x2_s1)").count(), 1);
        assert!(v.contains(".d(x2_s1), .q(x2_s2_1)") && v.contains(".d(x2_s2_1), .q(x2_s3_3)") && !v.contains("x2_s4"), "{v}");
        assert!(v.contains(".d(x2_s3_0), .q(x2_g1)") && v.contains(".d(x2_s3_3), .q(x2_g7)"), "{v}");
        assert!(v.contains(&format!("assign ls_pre = tok{p}[2] & tok{p}[0];", p = a.pipeline_depth - 1)));
        assert!(!v.contains("(* keep *) reg [1:0] tk"), "plain copies are merged by yosys");
        // the banks write through the rows' write chain (`write_chain_decl`): a group's first
        // row copies its group's copies, each further row the row before; each row registers
        // its enable from the select, which stops at the group's last row
        assert!(v.contains("c_wa56 (.clk(clk), .en(1'b1), .d(waddr_w[71:63]), .q(wa56));"), "{v}");
        assert!(v.contains("c_wd56 (.clk(clk), .en(1'b1), .d(wdata_rc[511:448]), .q(wd56));"), "{v}");
        assert!(v.contains("c_we56 (.clk(clk), .en(1'b1), .d(we_w[28] & (we_w[31:29] == 3'd0)), .q(we56));"), "{v}");
        assert!(
            v.contains("c_wa63 (.clk(clk), .en(1'b1), .d(wa62), .q(wa63));")
                && v.contains("c_wd63 (.clk(clk), .en(1'b1), .d(wd62), .q(wd63));"),
            "{v}"
        );
        assert!(v.contains("c_we63 (.clk(clk), .en(1'b1), .d(ws62[0] & (ws62[3:1] == 3'd7)), .q(we63));"), "{v}");
        assert!(v.contains(") c_ws62 (") && !v.contains(") c_ws63 ("), "{v}");
        assert!(v.contains(".we(we63), .waddr(wa63), .wdata(wd63),"), "{v}");
        for cfg in [TINY, ICE40_UP5K, ICE40_HX8K] {
            let v = verilog(&cfg.validate().unwrap());
            assert!(v.contains(".we(we_w[0]), .waddr(waddr_w), .wdata(wdata_rc),"), "{}", cfg.name);
            assert!(!v.contains("c_ra") && !v.contains("c_tk") && !v.contains("x2_s1") && !v.contains("ls_pre"), "{}", cfg.name);
            assert!(v.contains(".raddr(raddr_w)") && v.contains("assign ls_fire = acc_fire"), "{}", cfg.name);
        }
    }
}
