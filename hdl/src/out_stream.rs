//! `tern_out`: the result path. When a MATVEC with `store` finishes (`ls_fire`), `snap` is set;
//! `snap` copies the R accumulators into the output shifter as soon as it is empty, which
//! then sends H/32 sign-extended int32 results per beat over a valid/ready stream.
//! While `snap` waits for a busy shifter, `advance` is low and the whole array freezes, so
//! back-pressure never loses or overwrites a result.
//!
//! `advance` = ~(snap & out_busy) enables nearly every flip-flop of the array, so it is a
//! register: computed from the next values of `snap` and `out_busy` one cycle early (equal
//! to the combinational form on every cycle), with one `(* keep *)` copy per row
//! (`adv_row`) meant to keep one net from driving the whole array. yosys merges those copies
//! back into `adv_r` (`opt_merge`, `keep` notwithstanding; docs/synthesis.md): real copies
//! need `tern_copy` (used for the banks' ports and the activation groups; for `adv_row` it
//! was tried only on branch `tc3`, before the banks' output register made copies routable:
//! docs/synthesis.md). `out_idle` (= ~snap & ~out_busy, for the sequencer's SYNC/HALT test) is
//! registered the same way, so that test starts at a flip-flop.

use tern_arch::config::Accel;

pub fn verilog(a: &Accel) -> String {
    let c = &a.cfg;
    let acc = c.acc_bits;
    let r = c.rows;
    let rpb = a.results_per_beat;
    let ob = crate::bits_for(a.out_beats as u64);
    let mut words = Vec::new();
    for i in (0..rpb).rev() {
        let top = i * acc + acc - 1;
        if acc < 32 {
            words.push(format!("{{{{{}{{obuf[{top}]}}}}, obuf[{top}:{}]}}", 32 - acc, i * acc));
        } else {
            words.push(format!("obuf[{top}:{}]", i * acc));
        }
    }
    format!(
        "module tern_out (
  input  wire clk,
  input  wire rst,
  input  wire [{am}:0] acc_flat,
  input  wire ls_fire,
  input  wire out_ready,
  output wire [{hm}:0] out_data,
  output wire out_valid,
  output wire advance,
  output wire [{rm}:0] adv_row,
  output reg  out_idle,
  output wire ev_out_beat,
  output wire ev_stall_out,
  output wire ev_freeze
);
  reg [{am}:0] obuf;
  reg [{obm}:0] left;
  reg snap, out_busy;
  wire snap_now = snap & ~out_busy;
  // next values of snap and out_busy (the always block below), for the registered advance
  wire snap_d = ~rst & ((snap & ~snap_now) | ls_fire);
  wire busy_d = ~rst & (snap_now | (out_busy & ~(out_ready & left == {ob}'d1)));
  reg adv_r = 1'b1;
  (* keep *) reg [{rm}:0] adv_rep = {{{r}{{1'b1}}}};
  initial out_idle = 1'b1;
  always @(posedge clk) begin
    adv_r <= ~(snap_d & busy_d);
    out_idle <= ~snap_d & ~busy_d;  // = ~snap & ~out_busy on every cycle, for SYNC/HALT
    adv_rep <= {{{r}{{~(snap_d & busy_d)}}}};
  end
  assign advance = adv_r;
  assign adv_row = adv_rep;
  assign out_valid = out_busy;
  assign out_data = {{{words}}};
  assign ev_out_beat = out_busy & out_ready;
  assign ev_stall_out = out_busy & ~out_ready;
  assign ev_freeze = ~advance;
  always @(posedge clk) begin
    if (rst) begin
      snap <= 1'b0; out_busy <= 1'b0; left <= {ob}'d0;
    end else begin
      if (snap_now) begin
        obuf <= acc_flat; out_busy <= 1'b1; left <= {ob}'d{beats};
      end else if (out_busy & out_ready) begin
        obuf <= obuf >> {shift};
        left <= left - {ob}'d1;
        if (left == {ob}'d1) out_busy <= 1'b0;
      end
      snap <= (snap & ~snap_now) | ls_fire;
    end
  end
endmodule
",
        am = r * acc - 1,
        rm = r - 1,
        r = r,
        hm = c.host_bits - 1,
        obm = ob - 1,
        beats = a.out_beats,
        shift = rpb * acc,
        words = words.join(", "),
    )
}
