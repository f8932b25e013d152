//! Arithmetic cells with one behaviour and a body per FPGA fabric.
//!
//! `Fabric::Generic` is plain Verilog: what Verilator simulates, what the RTL == golden tests
//! check, and what iCE40 synthesis maps. `Fabric::Ecp5` builds the same functions from CCU2C
//! carry cells, because yosys maps every adder to CCU2Cs whose LUT4s only compute `a ^ b`:
//! the LUT4 of a CCU2C half has inputs to spare, so logic *in front of* an adder can ride
//! in it for free. A CCU2C half computes, from its inputs A B C D and the carry-in,
//!
//! ```text
//!  P = INIT(A,B,C,D)   S = P ^ CIN   COUT = P ? CIN : G,  G = INIT[3:0](A,B)  (INJECT1 = NO)
//! ```
//! so with the raw operand on B and G = B (INIT[3:0] = B, which needs P(A,B,0,0) = B):
//! - `tern_addt`: y + t + cin with the term t = nz ? (x ^ ng) : 0 made inside the half
//!   (A = x_i, B = y_i, C = nz, D = ng; P = (C & (A ^ D)) ^ B): a ternary MAC costs no LUT
//!   besides its share of the sum's carry chain.
//! - `tern_acc`: (keep ? acc : 0) + s + cy (A = s_i, B = acc_i, C = keep; P = (C & B) ^ A,
//!   G = A): the accumulator clear costs no LUT.
//!
//! A carry-in enters through an extra first half (P = 0, G = cin). Each ECP5 cell is proven
//! equal to its generic twin by yosys SAT over yosys' own CCU2C model (`tests/it/synth.rs`).
//!
//! `Fabric::Ice40` builds some cells from SB_LUT4 + SB_CARRY. The carry takes its operands
//! from the LUT's I1 and I2 pins (`CO = maj(I1, I2, CI)`), so logic in front of an adder costs
//! a LUT of its own; but I0 is free, and where an output may ignore the carries, a select on
//! I0 rides for free: `tern_acc` without a carry-in (`keep ? acc + s : s`), the counters'
//! `tern_cinc`, the sequencer's `tern_sinc`/`tern_sdec` (load or step by one) and the pair
//! chains' `tern_pstage` (the flip: `flip ? ~(y + v) : y + v`). Each is simulated against its
//! generic twin over yosys' iCE40 cell models (`tests/it/synth.rs`).

use tern_arch::config::{Accel, PAIR_VALUE_BITS};

/// An SB_LUT4's LUT_INIT from its output as a function of the pins (each 0 or 1): bit k is
/// the output for {I3, I2, I1, I0} = k. A macro, so the INITs stay constants.
macro_rules! lut4_init {
    (|$i0:ident, $i1:ident, $i2:ident, $i3:ident| $o:expr) => {{
        let mut init = 0u16;
        let mut k = 0;
        while k < 16 {
            let ($i0, $i1, $i2, $i3) = (k & 1, (k >> 1) & 1, (k >> 2) & 1, (k >> 3) & 1);
            init |= (($o) as u16) << k;
            k += 1;
        }
        init
    }};
}

/// One SB_LUT4 + SB_CARRY a bit, the carry chain `c` (its operands are the LUT's I1 and I2
/// pins, its carry in the LUT's I3): bit i's LUT takes `ins(i)` = [I0, I1, I2] and drives
/// `out[i]`; the top bit's carry out, where `co` names it, is one more SB_CARRY.
fn ice40_chain(v: &mut String, w: u32, init: u16, ins: impl Fn(u32) -> [String; 3], out: &str, co: Option<&str>) {
    for i in 0..w {
        let [i0, i1, i2] = ins(i);
        v.push_str(&format!(
            "  SB_LUT4 #(.LUT_INIT(16'h{init:04X})) l{i} (.I0({i0}), .I1({i1}), .I2({i2}), .I3(c[{i}]), .O({out}[{i}]));\n"
        ));
        if i + 1 < w {
            v.push_str(&format!("  SB_CARRY k{i} (.I0({i1}), .I1({i2}), .CI(c[{i}]), .CO(c[{}]));\n", i + 1));
        } else if let Some(co) = co {
            v.push_str(&format!("  SB_CARRY kout (.I0({i1}), .I1({i2}), .CI(c[{i}]), .CO({co}));\n"));
        }
    }
}

/// `ice40_chain` whose carry starts at the constant `cin` (`1'b0` or `1'b1`), the chain `c`
/// declared here.
fn ice40_chain_from(v: &mut String, cin: &str, w: u32, init: u16, ins: impl Fn(u32) -> [String; 3], out: &str) {
    v.push_str(&format!("  wire [{}:0] c;\n  assign c[0] = {cin};\n", w - 1));
    ice40_chain(v, w, init, ins, out, None);
}

/// Which implementation of the cells to emit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fabric {
    Generic,
    /// iCE40: the generic cells, except those built from SB_LUT4 + SB_CARRY (see the module
    /// doc: `tern_cinc`, `tern_sinc`/`tern_sdec`, `tern_pstage`, `tern_acc` without a
    /// carry-in), and the counters' block RAM bank (`CounterRead::Bank`).
    Ice40,
    Ecp5,
}

/// How the board reads the event counters back once the core stops (`crate::counters`,
/// `crate::board`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterRead {
    /// A registered two-stage byte mux over the counter bus (ECP5, whose recorded netlist and
    /// its Fmax, a placement lottery, predate the others, and whose counters are carry cells
    /// with no LUT input to spare for a load).
    Mux,
    /// The counters rotate a byte at a time as a scan chain; the board reads their lowest
    /// byte (generic: what Verilator simulates).
    Scan,
    /// Each counter's low byte counts in flip-flops and its higher bytes live in a block RAM
    /// that one shared adder updates (`crate::counters::bank_verilog`); the board reads a byte
    /// at a time (iCE40, counters of whole bytes).
    Bank,
}

impl Fabric {
    /// How this fabric's design reads its counters back: the bank on iCE40 where counters
    /// are whole bytes (else the scan chain), the scan chain in generic Verilog, the mux on
    /// ECP5.
    pub fn counter_read(self, a: &Accel) -> CounterRead {
        match self {
            Fabric::Ecp5 => CounterRead::Mux,
            Fabric::Generic => CounterRead::Scan,
            Fabric::Ice40 if tern_arch::config::AccelConfig::counter_bank(a.cfg.counter_bits) => CounterRead::Bank,
            Fabric::Ice40 => CounterRead::Scan,
        }
    }
}

/// `tern_cinc_{w}`: the next value of a `w`-bit counter, `d = sh ? ld : q + (ci & en)`.
pub fn cinc_name(w: u32) -> String {
    format!("tern_cinc_{w}")
}

/// The SB_LUT4 of one `tern_cinc` bit: O = I2 ? I0 : I1 ^ I3 (I0 = ld, I1 = q, I2 = sh,
/// I3 = carry in), bit k of LUT_INIT being the output for {I3, I2, I1, I0} = k.
pub const CINC_LUT_INIT: u16 = lut4_init!(|i0, i1, i2, i3| if i2 == 1 { i0 } else { i1 ^ i3 });

/// `tern_cinc_{w}`: a counter's increment that also loads (`sh`), so the counters can shift
/// out as a scan chain without a mux in front of their flip-flops. On iCE40 each bit is one
/// SB_LUT4 + SB_CARRY, as the plain increment is: the carry's operands are the LUT's I1 and
/// I2 pins, so I2 carries `sh` (0 while counting: CO = q & CI) and I0, the one pin the
/// increment leaves free, carries the loaded bit. Plain Verilog costs a second LUT4 per bit
/// (a 48-bit counter: 95 SB_LUT4 against 49, yosys 0.23).
///
/// The event is the chain's carry-in, not a flip-flop enable: a logic tile's 8 cells share
/// 32 local input tracks, and 8 cells of 4 inputs each plus an enable net need 33, so
/// nextpnr split every chain after 7 bits (a carry pass-out and feed-in, 3.6 ns of routing
/// between: the UP5K's critical path at 46 MHz, a 24-bit half in 21.8 ns). The carry-in is
/// `ci & en`, made by one more SB_CARRY in front of the chain (CO = maj(ci, en, 0)): with a
/// LUT for the AND and nextpnr's feed-in cell after it, a high half's carry-in was the
/// critical path of 4 of 12 UP5K seeds.
pub fn cinc(w: u32, fabric: Fabric) -> String {
    cinc_cell(w, fabric, false)
}

/// `tern_cinc` with a carry out `co` when `with_co`: the increment's carry out of its top bit
/// (`q` all ones and `ci & en`), defined while `sh` is low. The counter bank takes a low
/// byte's wrap from it (`counters::bank_verilog`); on iCE40 it is one more SB_CARRY at the end
/// of the chain, which nextpnr brings out through a pass-through cell.
pub fn cinc_cell(w: u32, fabric: Fabric, with_co: bool) -> String {
    let mut v = format!(
        "module {} (
  input  wire [{wm}:0] q,
  input  wire [{wm}:0] ld,
  input  wire sh,
  input  wire ci,
  input  wire en,
  output wire [{wm}:0] d{co_port}
);
",
        cinc_name(w),
        wm = w - 1,
        co_port = if with_co { ",\n  output wire co" } else { "" }
    );
    match fabric {
        Fabric::Generic | Fabric::Ecp5 if with_co => v.push_str(&format!(
            "  wire [{w}:0] s = {{1'b0, q}} + {{{w}'d0, ci & en}};\n  assign d = sh ? ld : s[{wm}:0];\n  assign co = s[{w}];\n",
            wm = w - 1
        )),
        Fabric::Generic | Fabric::Ecp5 => v.push_str(&format!("  assign d = sh ? ld : q + {{{}'d0, ci & en}};\n", w - 1)),
        Fabric::Ice40 => {
            v.push_str(&format!("  wire [{wm}:0] c;\n  SB_CARRY kin (.I0(ci), .I1(en), .CI(1'b0), .CO(c[0]));\n", wm = w - 1));
            let ins = |i: u32| [format!("ld[{i}]"), format!("q[{i}]"), "sh".to_string()];
            ice40_chain(&mut v, w, CINC_LUT_INIT, ins, "d", with_co.then_some("co"));
        }
    }
    v.push_str("endmodule\n");
    v
}

/// How a `step_cell` steps: +1 (`tern_sinc_{w}`) or -1 (`tern_sdec_{w}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Up,
    Down,
}

pub fn step_name(w: u32, step: Step) -> String {
    match step {
        Step::Up => format!("tern_sinc_{w}"),
        Step::Down => format!("tern_sdec_{w}"),
    }
}

/// The SB_LUT4 of one `tern_sdec` bit: O = I2 ? ~(I1 ^ I3) : I0 (I0 = ld, I1 = q, I2 = ~sh,
/// I3 = carry in).
pub const SDEC_LUT_INIT: u16 = lut4_init!(|i0, i1, i2, i3| if i2 == 1 { 1 - (i1 ^ i3) } else { i0 });

/// `tern_sinc_{w}` / `tern_sdec_{w}`: a sequencer counter's next value, `d = sh ? ld : q + 1`
/// (or `q - 1`): a count that loads or steps, the sequencer's addresses and remaining counts.
/// Plain Verilog costs two SB_LUT4s a bit on iCE40 (the adder's, and the load mux after it);
/// here each bit is one SB_LUT4 + SB_CARRY, as in `tern_cinc`: the carry's second operand is
/// the LUT's I2 pin, which carries `sh` (+1: 0 while stepping, carry in 1) or `~sh` (-1: all
/// ones while stepping, carry in 0), and I0 the loaded bit. The carries are wrong while `sh`
/// is high, but then no output reads them.
pub fn step_cell(w: u32, step: Step, fabric: Fabric) -> String {
    let mut v = format!(
        "module {} (
  input  wire [{wm}:0] q,
  input  wire [{wm}:0] ld,
  input  wire sh,
  output wire [{wm}:0] d
);
",
        step_name(w, step),
        wm = w - 1
    );
    let op = if step == Step::Up { "+" } else { "-" };
    match fabric {
        Fabric::Generic | Fabric::Ecp5 => v.push_str(&format!("  assign d = sh ? ld : q {op} {w}'d1;\n")),
        Fabric::Ice40 => {
            let (init, pin, c0) = match step {
                Step::Up => (CINC_LUT_INIT, "sh", "1'b1"),
                Step::Down => (SDEC_LUT_INIT, "cnt", "1'b0"),
            };
            if step == Step::Down {
                v.push_str("  wire cnt = ~sh;\n");
            }
            ice40_chain_from(&mut v, c0, w, init, |i| [format!("ld[{i}]"), format!("q[{i}]"), pin.to_string()], "d");
        }
    }
    v.push_str("endmodule\n");
    v
}

/// `tern_pstage_{wo}_{wi}`: one stage of a pair chain (`Accel::pair_chain`).
pub fn pstage_name(wo: u32, wi: u32) -> String {
    format!("tern_pstage_{wo}_{wi}")
}

/// The SB_LUT4 of one `tern_pstage` bit: O = I0 ^ I1 ^ I2 ^ I3 (I0 = flip, I1 = v, I2 = y,
/// I3 = carry in).
pub const PSTAGE_LUT_INIT: u16 = lut4_init!(|i0, i1, i2, i3| i0 ^ i1 ^ i2 ^ i3);

/// `tern_pstage_{wo}_{wi}`: z = flip ? ~(y + v) : y + v, y (`wi` bits) and v (`PAIR_VALUE_BITS`)
/// sign-extended to `wo`. A stage of a pair chain: the chain's value arrives in the polarity
/// of the pair's sign, so `~y + v = ~(y' - v)` subtracts where the sign is negative, and
/// `flip` turns the result into the next pair's polarity. On iCE40 each bit is one SB_LUT4 +
/// SB_CARRY, the flip on I0, the pin the adder leaves free; plain Verilog costs a second
/// LUT4 a bit (the XOR after the adder).
pub fn pstage(wo: u32, wi: u32, fabric: Fabric) -> String {
    let mut v = format!(
        "module {} (
  input  wire [{ym}:0] y,
  input  wire [{vm}:0] v,
  input  wire flip,
  output wire [{zm}:0] z
);
",
        pstage_name(wo, wi),
        ym = wi - 1,
        vm = PAIR_VALUE_BITS - 1,
        zm = wo - 1
    );
    match fabric {
        Fabric::Generic | Fabric::Ecp5 => {
            v.push_str(&format!("  assign z = {{{wo}{{flip}}}} ^ ({} + {});\n", sext("y", wi, wo), sext("v", PAIR_VALUE_BITS, wo)))
        }
        Fabric::Ice40 => {
            let ins = |i: u32| ["flip".to_string(), format!("v[{}]", i.min(PAIR_VALUE_BITS - 1)), format!("y[{}]", i.min(wi - 1))];
            ice40_chain_from(&mut v, "1'b0", wo, PSTAGE_LUT_INIT, ins, "z");
        }
    }
    v.push_str("endmodule\n");
    v
}

pub fn addt_name(wo: u32, wi: u32) -> String {
    format!("tern_addt_{wo}_{wi}")
}

/// `{n{sig[msb]}}, sig` sign extension from `from` to `to` bits (no-op when equal).
fn sext(sig: &str, from: u32, to: u32) -> String {
    if to == from { sig.to_string() } else { format!("{{{{{}{{{sig}[{}]}}}}, {sig}}}", to - from, from - 1) }
}

/// One half of a CCU2C: its four LUT inputs and INIT, and the net its sum drives.
struct Half {
    ins: [String; 4],
    init: u16,
    s: Option<String>,
}

fn init_of(f: impl Fn(u16, u16, u16, u16) -> u16) -> u16 {
    (0..16u16).map(|i| f(i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1) << i).fold(0, |x, y| x | y)
}

fn inject(cin: &str) -> Half {
    // D = 1: P = 0 (INIT[11:8] = 0); G = INIT[3:0] = A = cin
    Half { ins: [cin.to_string(), "1'b0".into(), "1'b0".into(), "1'b1".into()], init: 0x000A, s: None }
}

/// A carry chain of CCU2C cells over `halves` (first half first), CIN tied low.
fn ccu2c_chain(v: &mut String, halves: Vec<Half>) {
    let mut halves = halves;
    if halves.len() % 2 == 1 {
        halves.push(Half { ins: ["1'b0".into(), "1'b0".into(), "1'b0".into(), "1'b0".into()], init: 0, s: None });
    }
    let n = halves.len() / 2;
    v.push_str(&format!("  wire [{n}:0] co;\n  assign co[0] = 1'b0;\n"));
    for (k, p) in halves.chunks(2).enumerate() {
        let s = |h: &Half| h.s.clone().unwrap_or_default();
        v.push_str(&format!(
            "  CCU2C #(.INIT0(16'h{:04X}), .INIT1(16'h{:04X}), .INJECT1_0(\"NO\"), .INJECT1_1(\"NO\")) c{k} (\n    \
             .CIN(co[{k}]), .A0({}), .B0({}), .C0({}), .D0({}), .A1({}), .B1({}), .C1({}), .D1({}),\n    \
             .S0({}), .S1({}), .COUT(co[{}]));\n",
            p[0].init,
            p[1].init,
            p[0].ins[0],
            p[0].ins[1],
            p[0].ins[2],
            p[0].ins[3],
            p[1].ins[0],
            p[1].ins[1],
            p[1].ins[2],
            p[1].ins[3],
            s(&p[0]),
            s(&p[1]),
            k + 1
        ));
    }
}

/// `tern_addt_{wo}_{wi}`: s = y + (nz ? x ^ {8{ng}} : 0) + cin, y sign-extended from wi bits.
pub fn addt(wo: u32, wi: u32, fabric: Fabric) -> String {
    let mut v = format!(
        "module {} (
  input  wire [{wim}:0] y,
  input  wire [7:0] x,
  input  wire nz,
  input  wire ng,
  input  wire cin,
  output wire [{wom}:0] s
);
",
        addt_name(wo, wi),
        wim = wi - 1,
        wom = wo - 1
    );
    match fabric {
        Fabric::Generic | Fabric::Ice40 => {
            v.push_str(&format!(
                "  wire [7:0] t = {{8{{nz}}}} & (x ^ {{8{{ng}}}});\n  assign s = {} + {} + {{{}'d0, cin}};\n",
                sext("y", wi, wo),
                sext("t", 8, wo),
                wo - 1
            ));
        }
        Fabric::Ecp5 => {
            let init = init_of(|a, b, c, d| (c & (a ^ d)) ^ b);
            let mut halves = vec![inject("cin")];
            for i in 0..wo {
                halves.push(Half {
                    ins: [format!("x[{}]", i.min(7)), format!("y[{}]", i.min(wi - 1)), "nz".into(), "ng".into()],
                    init,
                    s: Some(format!("s[{i}]")),
                });
            }
            ccu2c_chain(&mut v, halves);
        }
    }
    v.push_str("endmodule\n");
    v
}

/// `tern_acc`: q = (keep ? acc : 0) + s + cy, s sign-extended from `Accel::tree_bits` to acc_bits.
/// Where the row has no carry left (`row_tree::has_cy`: `Accel::exact_last_lane` or
/// `Accel::pair_chain`) there is no `cy` port: q = keep ? acc + s : s.
pub fn acc(a: &Accel, fabric: Fabric) -> String {
    let ab = a.cfg.acc_bits;
    let sb = a.tree_bits;
    let cy = crate::row_tree::has_cy(a);
    let mut v = format!(
        "module tern_acc (
  input  wire [{am}:0] acc,
  input  wire [{sm}:0] s,
{cy_port}  input  wire keep,
  output wire [{am}:0] q
);
",
        am = ab - 1,
        sm = sb - 1,
        cy_port = if cy { "  input  wire cy,\n" } else { "" }
    );
    match fabric {
        Fabric::Generic | Fabric::Ice40 if cy => {
            v.push_str(&format!("  assign q = ({{{ab}{{keep}}}} & acc) + {} + {{{}'d0, cy}};\n", sext("s", sb, ab), ab - 1));
        }
        Fabric::Generic => v.push_str(&format!("  assign q = keep ? acc + {s} : {s};\n", s = sext("s", sb, ab))),
        Fabric::Ice40 => {
            // the carry's operands are the LUT's I1 and I2 (acc and s), I3 the carry in, and I0
            // (keep) picks the sum or s alone: the carries are wrong when keep is low, but then
            // no output reads them
            let ins = |i: u32| ["keep".to_string(), format!("acc[{i}]"), format!("s[{}]", i.min(sb - 1))];
            ice40_chain_from(&mut v, "1'b0", ab, ACC_LUT_INIT, ins, "q");
        }
        Fabric::Ecp5 => {
            let init = init_of(|a, b, c, _d| (c & b) ^ a);
            let mut halves = if cy { vec![inject("cy")] } else { Vec::new() };
            for i in 0..ab {
                halves.push(Half {
                    ins: [format!("s[{}]", i.min(sb - 1)), format!("acc[{i}]"), "keep".into(), "1'b0".into()],
                    init,
                    s: Some(format!("q[{i}]")),
                });
            }
            ccu2c_chain(&mut v, halves);
        }
    }
    v.push_str("endmodule\n");
    v
}

/// The SB_LUT4 of one iCE40 `tern_acc` bit without a carry-in port: O = I0 ? I1 ^ I2 ^ I3 : I2
/// (I0 = keep, I1 = acc, I2 = s, I3 = carry in), bit k of LUT_INIT being the output for
/// {I3, I2, I1, I0} = k.
pub const ACC_LUT_INIT: u16 = lut4_init!(|i0, i1, i2, i3| if i0 == 1 { i1 ^ i2 ^ i3 } else { i2 });

/// `tern_copy`: W flip-flops with an enable, `q <= d`, that stay W flip-flops. Copies of one
/// register (fan-out trees: the banks' read and write ports of each 8-row group) have equal inputs, and yosys'
/// `opt_merge` merges equal flip-flops back into one, `(* keep *)` or not (measured: the
/// per-group activation copies and the per-row `advance` copies of ecp5-85f were one
/// register each). On ECP5 each bit is an FD1P3AX/FD1P3AY primitive, which `opt_merge`
/// leaves alone (the ECP5 cells `tern_copy` replaces are then separate flip-flops); elsewhere
/// plain Verilog (iCE40 netlists merge them as before).
pub fn copy_cell(fabric: Fabric) -> String {
    let body = match fabric {
        Fabric::Generic | Fabric::Ice40 => "  output reg  [W-1:0] q
);
  initial q = {W{INIT}};
  always @(posedge clk) if (en) q <= d;
"
        .to_string(),
        Fabric::Ecp5 => "  output wire [W-1:0] q
);
  genvar i;
  generate for (i = 0; i < W; i = i + 1) begin : b
    if (INIT) begin : s
      FD1P3AY #(.GSR(\"ENABLED\")) f (.D(d[i]), .SP(en), .CK(clk), .Q(q[i]));
    end else begin : r
      FD1P3AX #(.GSR(\"ENABLED\")) f (.D(d[i]), .SP(en), .CK(clk), .Q(q[i]));
    end
  end endgenerate
"
        .to_string(),
    };
    format!(
        "module tern_copy #(
  parameter integer W = 1,
  parameter [0:0] INIT = 1'b0
) (
  input  wire clk,
  input  wire en,
  input  wire [W-1:0] d,
{body}endmodule
"
    )
}

/// `tern_gbuf`: a net that reaches the whole array. On ECP5 a DCCA puts it on one of the
/// global (clock) networks, which also drive the fabric's enable and logic inputs: one
/// low-skew tree instead of copies. Elsewhere a wire.
///
/// The DCCA is pinned to the LFE5U-85F's left-edge site `X3/Y46/LDCC0` (only the grouped
/// arrays have one, and those are sized for the 85F). Unpinned, nextpnr places it before
/// placement, at the first site (`X67/Y0/TDCC0`), and for some seeds router2 could then find
/// no path into it (`Failed to route arc 0.0 of net 'core.outs.adv_r'`,
/// docs/synthesis.md).
pub fn gbuf_cell(fabric: Fabric) -> String {
    gbuf_cell_at(fabric, 0)
}

/// Global buffers of a large array, one module per DCCA site (a `BEL` attribute cannot take a
/// parameter): `tern_gbuf` (`advance`), `tern_gbuf1` (the output shifter's enable) and
/// `tern_gbuf2` (its load flag). All on the left edge; never `LDCC1`, which nextpnr gives the
/// clock's own global buffer.
pub const GBUF_SITES: [&str; 3] = ["X3/Y46/LDCC0", "X3/Y46/LDCC5", "X3/Y46/LDCC2"];

fn gbuf_cell_at(fabric: Fabric, k: usize) -> String {
    let body = match fabric {
        Fabric::Generic | Fabric::Ice40 => "  assign o = i;\n".to_string(),
        Fabric::Ecp5 => format!("  (* BEL=\"{}\" *) DCCA d (.CLKI(i), .CE(1'b1), .CLKO(o));\n", GBUF_SITES[k]),
    };
    let name = if k == 0 { "tern_gbuf".to_string() } else { format!("tern_gbuf{k}") };
    format!("module {name} (\n  input  wire i,\n  output wire o\n);\n{body}endmodule\n")
}

/// Every cell module the design of `a` instantiates.
pub fn verilog(a: &Accel, fabric: Fabric) -> String {
    // only where used: the small presets' Verilog stays as it was
    let mut v = if crate::sequencer::raddr_copies(a) > 1 { copy_cell(fabric) + "\n" } else { String::new() };
    if a.grouped() {
        for k in 0..GBUF_SITES.len() {
            v.push_str(&gbuf_cell_at(fabric, k));
            v.push('\n');
        }
    }
    for (wo, wi) in crate::row_tree::addt_widths(a) {
        v.push_str(&addt(wo, wi, fabric));
        v.push('\n');
    }
    for (wo, wi) in crate::row_tree::pstage_widths(a) {
        v.push_str(&pstage(wo, wi, fabric));
        v.push('\n');
    }
    v.push_str(&acc(a, fabric));
    for (w, step) in crate::sequencer::step_cells(a) {
        v.push('\n');
        v.push_str(&step_cell(w, step, fabric));
    }
    let read = fabric.counter_read(a);
    if read != CounterRead::Mux {
        for w in crate::counters::chain_widths(a, read) {
            v.push('\n');
            v.push_str(&cinc_cell(w, fabric, read == CounterRead::Bank));
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bank only on iCE40 and only for counters of whole bytes; Verilator's generic design
    /// keeps the scan chain, ECP5 its mux.
    #[test]
    fn counter_read_follows_fabric_and_width() {
        let with_bits = |bits| tern_arch::config::AccelConfig { counter_bits: bits, ..tern_arch::config::TINY }.validate().unwrap();
        let (whole, odd) = (with_bits(48), with_bits(20));
        assert_eq!(Fabric::Ice40.counter_read(&whole), CounterRead::Bank);
        assert_eq!(Fabric::Ice40.counter_read(&odd), CounterRead::Scan);
        for a in [&whole, &odd] {
            assert_eq!(Fabric::Generic.counter_read(a), CounterRead::Scan);
            assert_eq!(Fabric::Ecp5.counter_read(a), CounterRead::Mux);
        }
        // the bank's cell is the only one with a carry out
        assert!(verilog(&whole, Fabric::Ice40).contains("SB_CARRY kout"));
        assert!(!verilog(&whole, Fabric::Generic).contains("output wire co"));
    }

    /// The INIT words against the CCU2C equations, evaluated in Rust.
    #[test]
    fn ccu2c_inits_compute_the_cells() {
        let lut = |init: u16, a: u16, b: u16, c: u16, d: u16| (init >> (a | b << 1 | c << 2 | d << 3)) & 1;
        let addt = init_of(|a, b, c, d| (c & (a ^ d)) ^ b);
        let acc = init_of(|a, b, c, _| (c & b) ^ a);
        for i in 0..16u16 {
            let (a, b, c, d) = (i & 1, (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1);
            let t = c & (a ^ d);
            let p = lut(addt, a, b, c, d);
            assert_eq!(p, t ^ b);
            // when P = 0 the operands are equal and the carry is either of them: G = B
            if p == 0 {
                assert_eq!(lut(addt, a, b, 0, 0), b);
            }
            let pa = lut(acc, a, b, c, d);
            assert_eq!(pa, (c & b) ^ a);
            assert_eq!(lut(acc, a, b, 0, 0), a);
        }
        // inject: P = 0 with D = 1, G = A
        assert_eq!(lut(0x000A, 1, 0, 0, 1), 0);
        assert_eq!((lut(0x000A, 1, 0, 0, 0), lut(0x000A, 0, 0, 0, 0)), (1, 0));
    }

    /// The global buffer is a DCCA on ECP5, a wire elsewhere, and only grouped arrays have one.
    #[test]
    fn global_buffer_only_on_grouped_arrays() {
        assert!(gbuf_cell(Fabric::Ecp5).contains("(* BEL=\"X3/Y46/LDCC0\" *) DCCA d (.CLKI(i), .CE(1'b1), .CLKO(o));"));
        assert!(gbuf_cell(Fabric::Generic).contains("assign o = i;"));
        let big = tern_arch::config::ECP5_85F.validate().unwrap();
        let e = verilog(&big, Fabric::Ecp5);
        assert!(e.contains("module tern_gbuf (") && e.contains("module tern_gbuf1 ("));
        assert!(e.contains("(* BEL=\"X3/Y46/LDCC5\" *) DCCA d"));
        let small = tern_arch::config::ICE40_HX8K.validate().unwrap();
        assert!(!verilog(&small, Fabric::Generic).contains("tern_gbuf"));
    }
}
