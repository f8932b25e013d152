//! `tern_wbank`: one row's weight bank, `wmem_depth` words of L 2-bit codes (2L bits).
//!
//! One write port (the loader) and one registered read port (the issue stage) whose output
//! register holds during a freeze (`re` = advance), which maps to block RAM read enables.
//! `no_rw_check`: the sequencer never reads and writes one address in the same cycle, so
//! yosys need not add bypass logic.
//!
//! Arrays with activation group copies (`Accel::grouped`) read the weights through
//! two registers, to stay in step with the copies:
//!
//! ```text
//!  raddr -> [RAM read reg] -> [output reg] -> rdata        both enabled by `re`
//! ```
//! On ECP5 the second register is the DP16KD's own output register (`REGMODE_A` and
//! `REGMODE_B` = OUTREG, which yosys does not infer): no fabric flip-flops and no
//! pass-through LUTs for 2L bits per row, and on silicon the block RAM's clock-to-out is the
//! short registered one (nextpnr times it as unregistered). Elsewhere both registers are
//! plain Verilog.

use crate::cells::Fabric;
use tern_arch::config::Accel;

/// Width of one DP16KD in pseudo dual-port mode (512 x 36).
const DP16KD_BITS: u32 = 36;
/// Depth of one DP16KD at that width.
const DP16KD_DEPTH: u32 = 512;

pub fn verilog(a: &Accel, fabric: Fabric) -> String {
    let (width, depth) = (a.wword_bits, a.cfg.wmem_depth);
    if !a.grouped() {
        return sdp_ram("tern_wbank", width, depth);
    }
    match dp16kd_pieces(a, fabric) {
        Some(_) => dp16kd_outreg("tern_wbank", width, depth),
        None => sdp_ram_outreg("tern_wbank", width, depth),
    }
}

/// DP16KD instances per bank (`ram0`, `ram1`, ...) where the bank is built from them
/// (`dp16kd_outreg`), None where yosys infers its memory. `floorplan` places these.
pub(crate) fn dp16kd_pieces(a: &Accel, fabric: Fabric) -> Option<u32> {
    (a.grouped() && fabric == Fabric::Ecp5 && a.cfg.wmem_depth <= DP16KD_DEPTH).then(|| a.wword_bits.div_ceil(DP16KD_BITS))
}

/// A simple dual-port RAM (one write port, one registered read port with enable), the form
/// yosys maps to SB_RAM40_4K / DP16KD. `tern_abuf` uses it too.
pub(crate) fn sdp_ram(name: &str, width: u32, depth: u32) -> String {
    sdp_ram_body(name, width, depth, "    if (re) rdata <= mem[raddr];\n", "")
}

/// `sdp_ram` with a second read register after the RAM's (same enable).
fn sdp_ram_outreg(name: &str, width: u32, depth: u32) -> String {
    let wm = width - 1;
    sdp_ram_body(name, width, depth, "    if (re) begin rd1 <= mem[raddr]; rdata <= rd1; end\n", &format!("  reg [{wm}:0] rd1;\n"))
}

fn sdp_ram_body(name: &str, width: u32, depth: u32, read: &str, decl: &str) -> String {
    format!(
        "{head}  (* no_rw_check *) reg [{wm}:0] mem [0:{dm}];
{decl}  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
{read}  end
endmodule
",
        head = ports(name, width, depth, "reg "),
        wm = width - 1,
        dm = depth - 1
    )
}

fn ports(name: &str, width: u32, depth: u32, out: &str) -> String {
    let ab = crate::bits_for(depth as u64 - 1);
    format!(
        "module {name} (
  input  wire clk,
  input  wire we,
  input  wire [{am}:0] waddr,
  input  wire [{wm}:0] wdata,
  input  wire re,
  input  wire [{am}:0] raddr,
  output {out} [{wm}:0] rdata
);
",
        am = ab - 1,
        wm = width - 1,
    )
}

/// The same two-register bank from DP16KD primitives, pin for pin as yosys' own
/// 512 x 36 pseudo dual-port mapping (`share/lattice/brams_map_16kd.v`, `$__PDPW16KD_`:
/// write port A with its four byte enables on ADA0-3, data DIA0-17/DIB0-17, word address on
/// AD*5-13; read port B, data out DOA0-17/DOB0-17), except the output register: `REGMODE_A`
/// and `REGMODE_B` both `"OUTREG"`, enables OCEA = OCEB = `re`. In this 36-bit mode the low
/// half of the read word leaves on port A's pins (DOA), and Lattice's own PDPW16KD
/// configurations set both REGMODEs; with `REGMODE_A = "NOREG"` (as here before the 88.65 MHz
/// record) the DOA half could arrive a cycle before the DOB half on silicon. Simulation never
/// sees the difference (it runs the generic bank), nor does nextpnr's timing (it times every
/// DP16KD as NOREG/NOREG: the 5.6 ns clock-to-out of a weight word is the unregistered one).
fn dp16kd_outreg(name: &str, width: u32, depth: u32) -> String {
    let ab = crate::bits_for(depth as u64 - 1);
    let pieces = width.div_ceil(DP16KD_BITS);
    let padded = pieces * DP16KD_BITS;
    let mut v = ports(name, width, depth, "wire");
    // word address on AD5-13 (36-bit words), unused high bits 0
    v.push_str(&format!(
        "  wire [8:0] wa = {{{pad}waddr}};\n  wire [8:0] ra = {{{pad}raddr}};\n  wire [{pm}:0] di = {{{dpad}wdata}};\n  wire [{pm}:0] dout;\n  assign rdata = dout[{wm}:0];\n",
        pad = if ab < 9 { format!("{}'d0, ", 9 - ab) } else { String::new() },
        dpad = if padded > width { format!("{}'d0, ", padded - width) } else { String::new() },
        pm = padded - 1,
        wm = width - 1,
    ));
    for p in 0..pieces {
        let b = p * DP16KD_BITS;
        let mut pins = Vec::new();
        for i in 0..4 {
            pins.push(format!(".ADA{i}(we)"));
        }
        pins.push(".ADA4(1'b0)".into());
        for i in 0..5 {
            pins.push(format!(".ADB{i}(1'b0)"));
        }
        for i in 0..9 {
            pins.push(format!(".ADA{}(wa[{i}])", i + 5));
            pins.push(format!(".ADB{}(ra[{i}])", i + 5));
        }
        for i in 0..18 {
            pins.push(format!(".DIA{i}(di[{}])", b + i));
            pins.push(format!(".DIB{i}(di[{}])", b + 18 + i));
            pins.push(format!(".DOA{i}(dout[{}])", b + i));
            pins.push(format!(".DOB{i}(dout[{}])", b + 18 + i));
        }
        v.push_str(&format!(
            "  DP16KD #(.DATA_WIDTH_A(36), .DATA_WIDTH_B(36), .REGMODE_A(\"OUTREG\"), .REGMODE_B(\"OUTREG\"),
    .RESETMODE(\"SYNC\"), .ASYNC_RESET_RELEASE(\"SYNC\"), .CSDECODE_A(\"0b000\"), .CSDECODE_B(\"0b000\"),
    .WRITEMODE_A(\"NORMAL\"), .WRITEMODE_B(\"NORMAL\"), .GSR(\"DISABLED\")) ram{p} (
    .CLKA(clk), .WEA(1'b1), .CEA(1'b1), .OCEA(re), .RSTA(1'b0), .CSA0(1'b0), .CSA1(1'b0), .CSA2(1'b0),
    .CLKB(clk), .WEB(1'b0), .CEB(re), .OCEB(re), .RSTB(1'b0), .CSB0(1'b0), .CSB1(1'b0), .CSB2(1'b0),
    {});
",
            pins.join(", ")
        ));
    }
    v.push_str("endmodule\n");
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::{ECP5_85F, ICE40_UP5K, TINY};

    #[test]
    fn output_register_only_where_the_activations_take_one() {
        // small presets: one read register, the same text for every fabric
        for cfg in [TINY, ICE40_UP5K] {
            let a = cfg.validate().unwrap();
            assert_eq!(a.bcast_stages, 0);
            assert_eq!(verilog(&a, Fabric::Ecp5), verilog(&a, Fabric::Generic));
            assert!(!verilog(&a, Fabric::Generic).contains("rd1"));
        }
        let a = ECP5_85F.validate().unwrap();
        assert!(a.grouped());
        assert!(verilog(&a, Fabric::Generic).contains("rd1 <= mem[raddr]; rdata <= rd1;"));
        let e = verilog(&a, Fabric::Ecp5);
        let pieces = a.wword_bits.div_ceil(DP16KD_BITS) as usize;
        assert_eq!(e.matches("DP16KD #(").count(), pieces);
        // both halves of the 36-bit read word (DOA and DOB) through the output register
        assert_eq!(e.matches(".REGMODE_A(\"OUTREG\"), .REGMODE_B(\"OUTREG\")").count(), pieces);
        assert_eq!(e.matches(".OCEA(re)").count(), pieces);
        assert_eq!(e.matches(".CEB(re), .OCEB(re)").count(), pieces);
        // every data bit is written and read exactly once
        for bit in 0..a.wword_bits {
            assert_eq!(e.matches(&format!("(di[{bit}])")).count(), 1, "di {bit}");
            assert_eq!(e.matches(&format!("(dout[{bit}])")).count(), 1, "dout {bit}");
        }
        assert!(!e.contains("reg "), "no fabric registers");
    }
}
