//! `tern_counters`: the event counters the energy model and the cross-check read, in the
//! order of `tern_arch::golden::Counters::NAMES`. Each counts while the sequencer runs.
//!
//! The events are registered before they count (they come from all over the die; on iCE40
//! the unregistered event -> counter enable nets were the critical paths), so a counter
//! lags its events by one cycle: the exact count at any cycle is `counters + pending`, which
//! is what the simulator reads. One cycle after the sequencer stops `pending` is zero and
//! `counters` is final; the board wrapper sends its trailer later than that.
//!
//! With `CounterRead::Scan` (`Fabric::counter_read`: generic Verilog, and iCE40 counters that
//! are not whole bytes) the counters are also a scan chain:
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
//! With `CounterRead::Bank` (iCE40) the module is `bank_verilog`'s: low bytes in flip-flops,
//! the rest in a block RAM, read back a byte at a time. `CounterRead::Mux` (ECP5) is the plain
//! counter bus.

use crate::cells::CounterRead;
use tern_arch::config::Accel;
use tern_arch::golden::Counters;

/// Width of each carry chain of a counter, low half first. Counters of 32 bits or more count
/// in two halves, so no carry chain is longer than half the width: the high half steps on
/// the same edge as the low half wraps, from a flag registered one cycle ahead (`at_max`).
/// Exact on every cycle.
pub fn halves(cb: u32) -> Vec<u32> {
    if cb < 32 { vec![cb] } else { vec![cb / 2, cb - cb / 2] }
}

/// The wrap flag's next value: the low half `l` (of `lo` bits) is all ones after this cycle's
/// event `e`.
fn at_max(e: &str, l: &str, lo: u32) -> String {
    format!("{e} ? {l} == {lo}'d{} : {l} == {lo}'d{}", (1u64 << lo) - 2, (1u64 << lo) - 1)
}

/// The distinct `tern_cinc` widths the counters use (low half first).
pub fn chain_widths(a: &Accel, read: CounterRead) -> Vec<u32> {
    if read == CounterRead::Bank {
        return vec![8];
    }
    let mut w = halves(a.cfg.counter_bits);
    w.dedup();
    w
}

pub fn verilog(a: &Accel, read: CounterRead) -> String {
    if read == CounterRead::Bank {
        return bank_verilog(a);
    }
    let scan = read == CounterRead::Scan;
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

/// RAM slots per counter in the bank (`{ptr, j}` addresses them, `j` 2 bits): enough 16-bit
/// words for the widest counter `AccelConfig::validate` allows (64 bits: 8 in flip-flops, 56
/// in 4 words).
const BANK_SLOTS: u32 = 4;

/// Words of the bank's RAM (`tern_cbank`, 16 bits wide): `BANK_SLOTS` per counter, addressed
/// `{ptr, j}`, `ptr` wide enough to count one past the last counter.
pub fn bank_ram_depth() -> u32 {
    BANK_SLOTS << crate::bits_for(Counters::NAMES.len() as u64)
}

/// Block RAM words per counter in the bank: the bits above the low byte, 16 to a word.
pub fn bank_words(a: &Accel) -> u32 {
    (a.cfg.counter_bits - 8).div_ceil(16)
}

/// `tern_counters` as a bank (`CounterRead::Bank`, iCE40): each counter's low byte is an
/// 8-bit counter in flip-flops; the bits above it live in a block RAM (`tern_cbank`, 16-bit
/// words, four slots per counter) that one shared 16-bit adder updates. A low byte that wraps
/// sets its counter's pending flag `p`; a service walks every counter's slots one per cycle
/// (`{ptr, j}`, 40 cycles a round, fewer than the 256 events a low byte needs to wrap again),
/// takes the flag at slot 0 and adds it, word by word, through a read-add-write pipeline:
///
/// ```text
///  {ptr,j} -> [RAM read] -> rd_q -> +cin -> RAM write at {ptr,j} two cycles later
///     |                              ^ cin: slot 0: p[ptr] (taken, cleared); else the
///     +-- p[ptr] at slot 0 ----------+      previous word's carry out
/// ```
/// A counter's value is `ram words . low byte` plus what is pending. 48-bit counters cost
/// 8 LUT4s per counter for the low byte (whose carry out is the wrap) and a pending flag each,
/// and one adder for all, instead of 48 LUT4s per counter (`docs/synthesis.md`, "The counters in block RAM").
///
/// - After a reset the first round writes zeros to every word (`fresh`): the block RAM holds
///   what the last run left. No low byte can wrap within a round.
/// - Once the core stops and nothing is pending (`settled`), the service rests at slot
///   {0, 0} (`home`, a flip-flop kept beside `ptr` and `j`) and `ready` rises. The board
///   then reads the trailer a byte at a time from `cnt_byte`, pulsing `shift` after each:
///   byte 0 of a counter is its low byte (the low bytes
///   rotate as a ring, one counter per turn, as in the scan chain), bytes 1.. come from the RAM
///   word the readout points at, three cycles after the shift (the step, the RAM read and
///   `rd_q`; the board waits four).
/// - Exactness: each address is written two cycles after it is read and read again only a
///   round later, and the service rests only when no increment is in flight. While `ready`
///   (at rest or reading out) the RAM is not written.
///
/// The simulator never sees this module: Verilator runs the generic fabric (`CounterRead::Scan`),
/// and the bank is checked against the generic counters (`tests/it/synth.rs`,
/// `counter_bank_equals_generic_counters`) and by the board link test.
pub fn bank_verilog(a: &Accel) -> String {
    let n = Counters::NAMES.len() as u32;
    let cb = a.cfg.counter_bits;
    assert!(tern_arch::config::AccelConfig::counter_bank(cb), "the counter bank holds whole bytes");
    let nb = cb / 8;
    let kb = crate::bits_for(nb as u64 - 1);
    let words = bank_words(a);
    assert!(words <= BANK_SLOTS, "{cb}-bit counters need {words} RAM words, the bank has {BANK_SLOTS} slots");
    // a round visits every slot (and the pipeline drains) before a low byte can wrap again
    assert!(n * BANK_SLOTS + 3 < 256, "a service round of {n} counters is longer than a low byte's wrap");
    // `ptr` also counts one past the last counter at the end of a readout
    let pb = crate::bits_for(n as u64);
    let lowm = n * 8 - 1;
    let mut v = format!(
        "module tern_counters (
  input  wire clk,
  input  wire rst,
  input  wire running,
  input  wire [{em}:0] ev,
  input  wire shift,
  output wire [7:0] cnt_byte,
  output reg  ready
);
  reg [{em}:0] ev_r;
  always @(posedge clk) ev_r <= rst | ~running ? {n}'d0 : ev;
  // the service walks slot j of counter ptr, one per cycle; `shift` steps it in readout (rd)
  reg [{pbm}:0] ptr;
  reg [1:0] j;
  reg [{kbm}:0] k;
  reg rd, fresh, settled, run_q;
  // `home` = the service is at slot {{0, 0}}, kept beside `ptr` and `j` so that `step` is one
  // LUT (a compare there put `settled` -> `ptr` on the UP5K's critical path); it is not
  // read in readout (`rd`), where `step` is off and `ready` high
  reg home;
  wire last_byte = k == {kb}'d{kl};
  wire turn = shift & last_byte;
  wire sel = ~rd & j == 2'd0;
  wire step = ~rd & (fresh | ~settled | ~home);
  always @(posedge clk)
    if (rst) begin
      ptr <= {pb}'d0; j <= 2'd0; rd <= 1'b0; k <= {kb}'d0; fresh <= 1'b1; home <= 1'b1;
    end else if (shift) begin
      rd <= 1'b1;
      home <= 1'b0;
      k <= last_byte ? {kb}'d0 : k + {kb}'d1;
      j <= last_byte ? 2'd0 : {jk};
      if (last_byte) ptr <= ptr + {pb}'d1;
    end else if (step) begin
      j <= j + 2'd1;
      home <= j == 2'd3 & ptr == {pb}'d{nl};
      if (j == 2'd3) begin
        ptr <= ptr == {pb}'d{nl} ? {pb}'d0 : ptr + {pb}'d1;
        if (ptr == {pb}'d{nl}) fresh <= 1'b0;
      end
    end
  // low bytes: one ring, rotated a counter per `turn` in readout
  wire [{lowm}:0] low;
  wire [{lowm}:0] rot = {{low[7:0], low[{lowm}:8]}};
  reg [{em}:0] p;
",
        em = n - 1,
        kbm = kb - 1,
        kl = nb - 1,
        nl = n - 1,
        pbm = pb - 1,
        jk = if kb == 1 { "2'd0".to_string() } else { format!("{{{}k[{}:1]}}", if kb == 2 { "1'b0, " } else { "" }, kb - 1) },
    );
    for (i, name) in Counters::NAMES.iter().enumerate() {
        let lo = i * 8;
        v.push_str(&format!(
            "  reg [7:0] l_{name};
  wire [7:0] l_{name}_d;
  wire l_{name}_co;  // the low byte wraps (its increment's carry out; not while `turn` loads)
  {cell} l_{name}_inc (.q(l_{name}), .ld(rot[{hi}:{lo}]), .sh(turn), .ci(ev_r[{i}]), .en(1'b1), .d(l_{name}_d), .co(l_{name}_co));
  always @(posedge clk)
    if (rst) begin
      l_{name} <= 8'd0; p[{i}] <= 1'b0;
    end else begin
      l_{name} <= l_{name}_d;
      p[{i}] <= l_{name}_co & ~turn | p[{i}] & ~(sel & ptr == {pb}'d{i});
    end
  assign low[{hi}:{lo}] = l_{name};
",
            cell = crate::cells::cinc_name(8),
            hi = lo + 7,
        ));
    }
    v.push_str(&format!(
        "  // read at {{ptr, j}}, add the carry-in two cycles later, write back where it was read
  reg [{am}:0] b_a, c_a;
  reg b_inc, b_fresh, c_cin;
  reg [15:0] rd_q;
  wire [15:0] rdata;
  wire [16:0] sum = {{1'b0, rd_q}} + {{16'd0, c_cin}};
  always @(posedge clk) begin
    b_a <= {{ptr, j}};
    b_inc <= ~rst & sel & p[ptr];
    b_fresh <= rst | fresh;
    c_a <= b_a;
    rd_q <= b_fresh ? 16'd0 : rdata;
    c_cin <= ~rst & (b_a[1:0] == 2'd0 ? b_inc : sum[16]);
    run_q <= running;
    settled <= ~rst & ~running & ~run_q & ~|p & ~b_inc & ~c_cin;
    // (after `fresh`'s last write: `b_fresh` is `fresh` a cycle late, the write two)
    ready <= ~rst & (rd | settled & ~b_fresh & home);
  end
  tern_cbank ram (.clk(clk), .we({we}), .waddr(c_a), .wdata(sum[15:0]), .re(1'b1), .raddr({{ptr, j}}), .rdata(rdata));
  assign cnt_byte = k == {kb}'d0 ? low[7:0] : k[0] ? rd_q[7:0] : rd_q[15:8];
endmodule

",
        // once `ready` (at rest, or reading out) every write would write back what was read
        am = pb + 1,
        we = if words == BANK_SLOTS { "~ready".to_string() } else { format!("~ready & c_a[1:0] < 2'd{words}") },
    ));
    v.push_str(&crate::weight_bank::sdp_ram("tern_cbank", 16, bank_ram_depth()));
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::Device;

    /// The block RAMs `validate()` charges the iCE40 designs for their counters
    /// (`Device::counter_brams`) are the ones the bank's RAM takes.
    #[test]
    fn the_bank_takes_the_block_rams_arch_counts() {
        for dev in [Device::Ice40Up5k, Device::Ice40Hx8k] {
            assert_eq!(dev.brams_for(16, bank_ram_depth()), dev.counter_brams(48), "{dev:?}");
        }
    }
}
