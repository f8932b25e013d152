//! `tern_wbank`: one row's weight bank, `wmem_depth` words of L 2-bit codes (2L bits).
//!
//! One write port (the loader) and one registered read port (the issue stage) whose output
//! register holds during a freeze (`re` = advance), which maps to block RAM read enables.
//! `no_rw_check`: the sequencer never reads and writes one address in the same cycle, so
//! yosys need not add bypass logic.

use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    sdp_ram("tern_wbank", a.wword_bits, a.cfg.wmem_depth)
}

/// A simple dual-port RAM (one write port, one registered read port with enable), the form
/// yosys maps to SB_RAM40_4K / DP16KD. `tern_abuf` uses it too.
pub(crate) fn sdp_ram(name: &str, width: u32, depth: u32) -> String {
    let ab = crate::bits_for(depth as u64 - 1);
    format!(
        "module {name} (
  input  wire clk,
  input  wire we,
  input  wire [{am}:0] waddr,
  input  wire [{wm}:0] wdata,
  input  wire re,
  input  wire [{am}:0] raddr,
  output reg  [{wm}:0] rdata
);
  (* no_rw_check *) reg [{wm}:0] mem [0:{dm}];
  always @(posedge clk) begin
    if (we) mem[waddr] <= wdata;
    if (re) rdata <= mem[raddr];
  end
endmodule
",
        am = ab - 1,
        wm = width - 1,
        dm = depth - 1
    )
}
