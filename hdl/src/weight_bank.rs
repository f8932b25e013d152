//! `tern_wbank`: one row's weight bank, `wmem_depth` words of L 2-bit codes (2L bits).
//!
//! One write port (the loader) and one registered read port (the issue stage) whose output
//! register holds during a freeze (`re` = advance), which maps to block RAM read enables.
//! `no_rw_check`: the sequencer never reads and writes one address in the same cycle, so
//! yosys need not add bypass logic.

use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    let w = a.wword_bits;
    let d = a.cfg.wmem_depth;
    let ab = crate::bits_for(d as u64 - 1);
    format!(
        "module tern_wbank (
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
        wm = w - 1,
        dm = d - 1
    )
}
