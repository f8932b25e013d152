//! `tern_top`: wires the sequencer, the MAC array, the output stream and the counters.
//! Ports: clock, synchronous reset, the host input stream, the result stream, the status
//! register (`tern_arch::isa::Status` codes) and the event counters: flattened, or on the
//! iCE40 counter bank a byte at a time (`verilog`).

use crate::cells::CounterRead;
use tern_arch::config::Accel;
use tern_arch::golden::Counters;

/// Copies of the reset `tern_top` takes (`rst[k]`, all equal on every cycle). Grouped arrays
/// (`Accel::grouped`) take one per broadcast group (its rows' accumulators and token copies),
/// then one each for the rest of the array, the sequencer, the output stream and the counters:
/// one reset register fanned out to all of them was the critical path of the worst seeds on
/// ecp5-85f (9.3-12.9 ns of routing to an accumulator's LSR or a token copy). The board makes
/// them as a tree of `tern_copy` cells (`board::rst_tree`); the Verilator shim drives every
/// bit with the one reset. Pair-chain arrays on the UP5K take two (`seq_rst_copy`); elsewhere
/// one reset.
pub fn rst_copies(a: &Accel) -> u32 {
    if a.grouped() {
        a.bcast_groups + 4
    } else if seq_rst_copy(a) {
        2
    } else {
        1
    }
}

/// Pair-chain arrays on the UP5K give the sequencer a reset copy of its own (`rst[1]`;
/// `rst[0]` for the rest): on its fuller die the one reset register's net reached the
/// sequencer's load logic in 5.5-6.7 ns, the critical path of 10 of 16 seeds; with the copy
/// 10 of 16 seeds meet 50 MHz instead of 7. On the HX8K the same copy took the seeds meeting
/// 120 MHz from 13 of 16 to 7 (placement), so it keeps the one reset.
pub fn seq_rst_copy(a: &Accel) -> bool {
    !a.grouped() && a.pair_chain && a.cfg.device == Some(tern_arch::config::Device::Ice40Up5k)
}

/// The reset copy of one consumer on grouped arrays (indices into `rst`, see `rst_copies`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RstCopy {
    /// broadcast group `g`'s rows
    Group(u32),
    /// the token pipeline and the rest of `tern_array`
    Array,
    Seq,
    Out,
    Counters,
}

/// Index of `c` in `tern_top`'s `rst` on grouped arrays.
pub fn rst_index(a: &Accel, c: RstCopy) -> u32 {
    let g = a.bcast_groups;
    match c {
        RstCopy::Group(k) => k,
        RstCopy::Array => g,
        RstCopy::Seq => g + 1,
        RstCopy::Out => g + 2,
        RstCopy::Counters => g + 3,
    }
}

/// `tern_top`. How the counters leave it follows `Fabric::counter_read`: the counter bus and
/// the pending events (what the Verilator shim reads), plus with `CounterRead::Scan` the input
/// `cnt_shift`, the counters' scan shift (`crate::counters`), low whenever the core runs; with
/// `CounterRead::Bank` the readout byte `cnt_byte`, `cnt_ready` and `cnt_shift` instead.
pub fn verilog(a: &Accel, fabric: crate::Fabric) -> String {
    let c = &a.cfg;
    let read = fabric.counter_read(a);
    let grouped = a.grouped();
    // the `rst` each block instance gets: its copy on grouped arrays, `rst[1]` for the
    // sequencer and `rst[0]` for the rest with `seq_rst_copy`, the one reset elsewhere
    let split = seq_rst_copy(a);
    let rst_of = |copy: RstCopy| {
        if grouped {
            format!("rst[{}]", rst_index(a, copy))
        } else if split {
            if copy == RstCopy::Seq { "rst[1]" } else { "rst[0]" }.to_string()
        } else {
            "rst".to_string()
        }
    };
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
  input  wire {rst_port},
  input  wire [{hm}:0] in_data,
  input  wire in_valid,
  output wire in_ready,
  output wire [{hm}:0] out_data,
  output wire out_valid,
  input  wire out_ready,
  output wire [3:0] status,
  output wire running,
{cnt_ports}
);
  wire advance, out_idle, pipe_empty, {ls}, acc_fire;
  wire [{rm}:0] adv_row;
  wire [2:0] tok;
  wire [{wem}:0] we_w;
{addr_wires}  wire [{wdm}:0] wdata_w;
  wire we_x;
  wire [{xam}:0] waddr_x, raddr_x;
  wire [{xm}:0] wdata_x;
  wire [{am}:0] acc_flat;
  wire ev_insn, ev_wword, ev_xword, ev_issue, ev_stall_in, ev_out_beat, ev_stall_out, ev_freeze;

  tern_seq seq (
    .clk(clk), .rst({rst_seq}), .in_data(in_data), .in_valid(in_valid), .in_ready(in_ready),
    .advance(advance), .pipe_empty(pipe_empty), .out_idle(out_idle),
    .we_w(we_w), .waddr_w(waddr_w), .wdata_w(wdata_w), .we_x(we_x), .waddr_x(waddr_x), .wdata_x(wdata_x),
    .raddr_w(raddr_w), .raddr_x(raddr_x), .tok(tok), .status(status), .running(running),
    .ev_insn(ev_insn), .ev_wword(ev_wword), .ev_xword(ev_xword), .ev_issue(ev_issue), .ev_stall_in(ev_stall_in)
  );
  tern_array array (
    .clk(clk), .rst({rst_array}), .advance(advance), .adv_row(adv_row), .tok_in(tok), .raddr_w(raddr_w), .raddr_x(raddr_x),
    .we_w(we_w), .waddr_w(waddr_w), .wdata_w(wdata_w), .we_x(we_x), .waddr_x(waddr_x), .wdata_x(wdata_x),
    .acc_flat(acc_flat), .pipe_empty(pipe_empty), .{ls}({ls}), .acc_fire(acc_fire)
  );
  tern_out outs (
    .clk(clk), .rst({rst_out}), .acc_flat(acc_flat), .{ls}({ls}), .out_ready(out_ready),
    .out_data(out_data), .out_valid(out_valid), .advance(advance), .adv_row(adv_row), .out_idle(out_idle),
    .ev_out_beat(ev_out_beat), .ev_stall_out(ev_stall_out), .ev_freeze(ev_freeze)
  );
  tern_counters cnt (
    .clk(clk), .rst({rst_cnt}), .running(running), .ev({{{ev}}}),{cnt_conn}
  );
endmodule
",
        hm = c.host_bits - 1,
        rst_port = if grouped || split { format!("[{}:0] rst", rst_copies(a) - 1) } else { "rst".to_string() },
        rst_seq = rst_of(RstCopy::Seq),
        rst_array = if grouped { format!("rst[{}:0]", rst_index(a, RstCopy::Array)) } else { rst_of(RstCopy::Array) },
        rst_out = rst_of(RstCopy::Out),
        rst_cnt = rst_of(RstCopy::Counters),
        rm = r - 1,
        wem = crate::sequencer::we_bits(a) - 1,
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
        cnt_ports = match read {
            CounterRead::Bank => "  output wire [7:0] cnt_byte,\n  output wire cnt_ready,\n  input  wire cnt_shift".to_string(),
            _ => format!(
                "  output wire [{}:0] counters,\n  output wire [{}:0] counters_pend{}",
                n * c.counter_bits - 1,
                n - 1,
                if read == CounterRead::Scan { ",\n  input  wire cnt_shift" } else { "" }
            ),
        },
        cnt_conn = match read {
            CounterRead::Bank => " .shift(cnt_shift), .cnt_byte(cnt_byte), .ready(cnt_ready)",
            CounterRead::Scan => " .shift(cnt_shift), .counters(counters), .pending(counters_pend)",
            CounterRead::Mux => " .counters(counters), .pending(counters_pend)",
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::{ECP5_85F, TINY};

    /// Grouped arrays hand each block its own reset copy (`rst_copies`); small arrays one reset.
    #[test]
    fn each_block_reads_its_own_reset_copy_on_grouped_arrays() {
        let a = ECP5_85F.validate().unwrap();
        let v = verilog(&a, crate::Fabric::Ecp5);
        assert!(v.contains("input  wire [11:0] rst,"), "{v}");
        for (block, rst) in [("seq", "rst[9]"), ("array", "rst[8:0]"), ("outs", "rst[10]"), ("cnt", "rst[11]")] {
            assert!(v.contains(&format!("{block} (\n    .clk(clk), .rst({rst}),")), "{block}: {v}");
        }
        let t = verilog(&TINY.validate().unwrap(), crate::Fabric::Generic);
        assert!(t.contains("input  wire rst,") && t.matches(".rst(rst),").count() == 4, "{t}");
    }
}
