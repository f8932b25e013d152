//! `tern_top`: wires the sequencer, the MAC array, the output stream and the counters.
//! Ports: clock, synchronous reset, the host input stream, the result stream, the status
//! register (`tern_arch::isa::Status` codes) and the flattened event counters.

use tern_arch::config::Accel;
use tern_arch::golden::Counters;

pub fn verilog(a: &Accel) -> String {
    let c = &a.cfg;
    let (r, l) = (c.rows, c.lanes);
    let wab = a.waddr_bits;
    let xab = a.xaddr_bits;
    let n = Counters::NAMES.len() as u32;
    // event order must match Counters::NAMES
    let ev_order =
        ["running", "ev_stall_in", "ev_stall_out", "ev_issue", "ev_freeze", "ev_wword", "ev_xword", "acc_fire", "ev_out_beat", "ev_insn"];
    assert_eq!(ev_order.len(), Counters::NAMES.len());
    let ev: Vec<&str> = ev_order.iter().rev().copied().collect();
    format!(
        "module tern_top (
  input  wire clk,
  input  wire rst,
  input  wire [{hm}:0] in_data,
  input  wire in_valid,
  output wire in_ready,
  output wire [{hm}:0] out_data,
  output wire out_valid,
  input  wire out_ready,
  output wire [3:0] status,
  output wire running,
  output wire [{cm}:0] counters,
  output wire [{nm}:0] counters_pend
);
  wire advance, out_idle, pipe_empty, {ls}, acc_fire;
  wire [{rm}:0] adv_row;
  wire [2:0] tok;
  wire [{rm}:0] we_w;
{addr_wires}  wire [{wdm}:0] wdata_w;
  wire we_x;
  wire [{xam}:0] waddr_x, raddr_x;
  wire [{xm}:0] wdata_x;
  wire [{am}:0] acc_flat;
  wire ev_insn, ev_wword, ev_xword, ev_issue, ev_stall_in, ev_out_beat, ev_stall_out, ev_freeze;

  tern_seq seq (
    .clk(clk), .rst(rst), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
    .advance(advance), .pipe_empty(pipe_empty), .out_idle(out_idle),
    .we_w(we_w), .waddr_w(waddr_w), .wdata_w(wdata_w), .we_x(we_x), .waddr_x(waddr_x), .wdata_x(wdata_x),
    .raddr_w(raddr_w), .raddr_x(raddr_x), .tok(tok), .status(status), .running(running),
    .ev_insn(ev_insn), .ev_wword(ev_wword), .ev_xword(ev_xword), .ev_issue(ev_issue), .ev_stall_in(ev_stall_in)
  );
  tern_array array (
    .clk(clk), .rst(rst), .advance(advance), .adv_row(adv_row), .tok_in(tok), .raddr_w(raddr_w), .raddr_x(raddr_x),
    .we_w(we_w), .waddr_w(waddr_w), .wdata_w(wdata_w), .we_x(we_x), .waddr_x(waddr_x), .wdata_x(wdata_x),
    .acc_flat(acc_flat), .pipe_empty(pipe_empty), .{ls}({ls}), .acc_fire(acc_fire)
  );
  tern_out outs (
    .clk(clk), .rst(rst), .acc_flat(acc_flat), .{ls}({ls}), .out_ready(out_ready),
    .out_data(out_data), .out_valid(out_valid), .advance(advance), .adv_row(adv_row), .out_idle(out_idle),
    .ev_out_beat(ev_out_beat), .ev_stall_out(ev_stall_out), .ev_freeze(ev_freeze)
  );
  tern_counters cnt (
    .clk(clk), .rst(rst), .running(running), .ev({{{ev}}}), .counters(counters), .pending(counters_pend)
  );
endmodule
",
        hm = c.host_bits - 1,
        cm = n * c.counter_bits - 1,
        nm = n - 1,
        rm = r - 1,
        wdm = crate::sequencer::raddr_copies(a) * 2 * l - 1,
        addr_wires = if crate::sequencer::raddr_copies(a) > 1 {
            format!("  wire [{ram}:0] waddr_w;\n  wire [{ram}:0] raddr_w;\n", ram = crate::sequencer::raddr_copies(a) * wab - 1)
        } else {
            format!("  wire [{}:0] waddr_w, raddr_w;\n", wab - 1)
        },
        xam = xab - 1,
        xm = a.xword_bits - 1,
        am = r * c.acc_bits - 1,
        ev = ev.join(", "),
        ls = crate::out_stream::ls_port(a),
    )
}
