//! `tern_counters`: the event counters the energy model and the cross-check read, in the
//! order of `tern_arch::golden::Counters::NAMES`. Each counts while the sequencer runs.
//!
//! The events are registered before they count (they come from all over the die; on iCE40
//! the unregistered event -> counter enable nets were the critical paths), so a counter
//! lags its events by one cycle: the exact count at any cycle is `counters + pending`, which
//! is what the simulator reads. One cycle after the sequencer stops `pending` is zero and
//! `counters` is final; the board wrapper sends its trailer later than that.

use tern_arch::config::Accel;
use tern_arch::golden::Counters;

pub fn verilog(a: &Accel) -> String {
    let n = Counters::NAMES.len();
    let cb = a.cfg.counter_bits;
    let mut v = format!(
        "module tern_counters (
  input  wire clk,
  input  wire rst,
  input  wire running,
  input  wire [{em}:0] ev,
  output wire [{cm}:0] counters,
  output wire [{em}:0] pending
);
  reg [{em}:0] ev_r;
  always @(posedge clk) ev_r <= rst | ~running ? {n}'d0 : ev;
  assign pending = ev_r;
",
        n = n,
        em = n - 1,
        cm = n as u32 * cb - 1
    );
    // Wide counters count in two halves so no carry chain is longer than half the width: the
    // high half steps on the same edge as the low half wraps, from a flag registered one
    // cycle ahead (`at_max`: the low half's next value is all ones). Exact on every cycle.
    let lo = cb / 2;
    for (i, name) in Counters::NAMES.iter().enumerate() {
        let (hi, lo_i) = ((i as u32 + 1) * cb - 1, i as u32 * cb);
        if cb < 32 {
            v.push_str(&format!(
                "  reg [{cbm}:0] c_{name};
  always @(posedge clk)
    if (rst) c_{name} <= {cb}'d0;
    else if (ev_r[{i}]) c_{name} <= c_{name} + {cb}'d1;
  assign counters[{hi}:{lo_i}] = c_{name};
",
                cbm = cb - 1,
            ));
        } else {
            v.push_str(&format!(
                "  reg [{lom}:0] l_{name};
  reg [{him}:0] h_{name};
  reg m_{name};
  wire e_{name} = ev_r[{i}];
  always @(posedge clk)
    if (rst) begin
      l_{name} <= {lo}'d0; h_{name} <= {hw}'d0; m_{name} <= 1'b0;
    end else begin
      if (e_{name}) l_{name} <= l_{name} + {lo}'d1;
      if (e_{name} & m_{name}) h_{name} <= h_{name} + {hw}'d1;
      m_{name} <= e_{name} ? l_{name} == {lo}'d{max1} : l_{name} == {lo}'d{max};
    end
  assign counters[{hi}:{lo_i}] = {{h_{name}, l_{name}}};
",
                lom = lo - 1,
                hw = cb - lo,
                him = cb - lo - 1,
                max = (1u64 << lo) - 1,
                max1 = (1u64 << lo) - 2,
            ));
        }
    }
    v.push_str("endmodule\n");
    v
}
