//! `tern_counters`: the event counters the energy model and the cross-check read, in the
//! order of `tern_arch::golden::Counters::NAMES`. Each counts while the sequencer runs.

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
  output wire [{cm}:0] counters
);
",
        em = n - 1,
        cm = n as u32 * cb - 1
    );
    for (i, name) in Counters::NAMES.iter().enumerate() {
        v.push_str(&format!(
            "  reg [{cbm}:0] c_{name};
  always @(posedge clk)
    if (rst) c_{name} <= {cb}'d0;
    else if (running & ev[{i}]) c_{name} <= c_{name} + {cb}'d1;
  assign counters[{hi}:{lo}] = c_{name};
",
            cbm = cb - 1,
            hi = (i as u32 + 1) * cb - 1,
            lo = i as u32 * cb
        ));
    }
    v.push_str("endmodule\n");
    v
}
