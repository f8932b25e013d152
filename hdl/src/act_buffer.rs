//! `tern_abuf`: the int8 activation buffer, `amem_depth` words of L activations (8L bits),
//! read once per issue slot and broadcast to every row. Same port scheme as `tern_wbank`.

use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    let w = a.xword_bits;
    let d = a.cfg.amem_depth;
    let ab = crate::bits_for(d as u64 - 1);
    format!(
        "module tern_abuf (
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
