//! `tern_counters`: the event counters the energy model and the cross-check read, in the
//! order of `tern_arch::golden::Counters::NAMES`. Each counts while the sequencer runs.
//!
//! The events are registered before they count (they come from all over the die; on iCE40
//! the unregistered event -> counter enable nets were the critical paths), so a counter
//! lags its events by one cycle: the exact count at any cycle is `counters + pending`, which
//! is what the simulator reads. One cycle after the sequencer stops `pending` is zero and
//! `counters` is final; the board wrapper sends its trailer later than that.
//!
//! With `scan` (`Fabric::counter_scan`: all but ECP5) the counters are also a scan chain:
//! while `shift` is high every counter bit loads the bit 8 places above it in `counters`
//! (the top byte loads the lowest), so the whole vector rotates down by a byte per cycle and
//! the board sends its trailer from `counters[7:0]` alone, with no mux over 480 bits (about
//! 370 LUT4s of the iCE40 designs). The load rides in the increment's own LUT
//! (`cells::cinc`). `shift` is low whenever the core runs (the Verilator shim holds it at 0).
//!
//! ```text
//!  counters: [ insns | ... | stall_in | cycles ]   shift: each bit <- the bit 8 above it
//!              ^-----------------------------------------------+  (insns' top byte <- cycles[7:0])
//! ```

use tern_arch::config::Accel;
use tern_arch::golden::Counters;

/// Width of each carry chain of a counter, low half first. Counters of 32 bits or more count
/// in two halves, so no carry chain is longer than half the width: the high half steps on
/// the same edge as the low half wraps, from a flag registered one cycle ahead (`at_max`).
/// Exact on every cycle.
fn halves(cb: u32) -> Vec<u32> {
    if cb < 32 { vec![cb] } else { vec![cb / 2, cb - cb / 2] }
}

/// The wrap flag's next value: the low half `l` (of `lo` bits) is all ones after this cycle's
/// event `e`.
fn at_max(e: &str, l: &str, lo: u32) -> String {
    format!("{e} ? {l} == {lo}'d{} : {l} == {lo}'d{}", (1u64 << lo) - 2, (1u64 << lo) - 1)
}

/// The distinct `tern_cinc` widths the counters use (low half first).
pub fn chain_widths(a: &Accel) -> Vec<u32> {
    let mut w = halves(a.cfg.counter_bits);
    w.dedup();
    w
}

pub fn verilog(a: &Accel, scan: bool) -> String {
    let n = Counters::NAMES.len();
    let cb = a.cfg.counter_bits;
    let total = n as u32 * cb;
    let mut v = format!(
        "module tern_counters (
  input  wire clk,
  input  wire rst,
  input  wire running,
  input  wire [{em}:0] ev,{shift_port}
  output wire [{cm}:0] counters,
  output wire [{em}:0] pending
);
  reg [{em}:0] ev_r;
  always @(posedge clk) ev_r <= rst | ~running ? {n}'d0 : ev;
  assign pending = ev_r;
",
        n = n,
        em = n - 1,
        cm = total - 1,
        shift_port = if scan { "\n  input  wire shift," } else { "" },
    );
    if scan {
        v.push_str(&format!("  wire [{cm}:0] rot = {{counters[7:0], counters[{cm}:8]}};\n", cm = total - 1));
        for (i, name) in Counters::NAMES.iter().enumerate() {
            let lo_i = i as u32 * cb;
            let hs = halves(cb);
            // the low half counts every event; the high half (if any) when the low one wraps,
            // from a flag registered one cycle ahead, as below
            let mut start = lo_i;
            let mut regs = Vec::new();
            for (k, &w) in hs.iter().enumerate() {
                let r = format!("{}_{name}", if k == 0 { "l" } else { "h" });
                // the event enters as the increment's carry-in, not as an enable (`cells::cinc`)
                let en = if k == 0 { "1'b1".to_string() } else { format!("m_{name}") };
                v.push_str(&format!(
                    "  reg [{wm}:0] {r};
  wire [{wm}:0] {r}_d;
  {cell} {r}_inc (.q({r}), .ld(rot[{hi}:{start}]), .sh(shift), .ci(ev_r[{i}]), .en({en}), .d({r}_d));
  always @(posedge clk)
    if (rst) {r} <= {w}'d0;
    else {r} <= {r}_d;
",
                    wm = w - 1,
                    cell = crate::cells::cinc_name(w),
                    hi = start + w - 1,
                ));
                regs.push(r);
                start += w;
            }
            if hs.len() == 2 {
                v.push_str(&format!(
                    "  reg m_{name};
  always @(posedge clk)
    if (rst) m_{name} <= 1'b0;
    else m_{name} <= {};
",
                    at_max(&format!("ev_r[{i}]"), &format!("l_{name}"), hs[0]),
                ));
            }
            regs.reverse();
            v.push_str(&format!("  assign counters[{}:{lo_i}] = {{{}}};\n", lo_i + cb - 1, regs.join(", ")));
        }
        v.push_str("endmodule\n");
        return v;
    }
    let hs = halves(cb);
    for (i, name) in Counters::NAMES.iter().enumerate() {
        let (hi, lo_i) = ((i as u32 + 1) * cb - 1, i as u32 * cb);
        if hs.len() == 1 {
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
      m_{name} <= {flag};
    end
  assign counters[{hi}:{lo_i}] = {{h_{name}, l_{name}}};
",
                lo = hs[0],
                lom = hs[0] - 1,
                hw = hs[1],
                him = hs[1] - 1,
                flag = at_max(&format!("e_{name}"), &format!("l_{name}"), hs[0]),
            ));
        }
    }
    v.push_str("endmodule\n");
    v
}
