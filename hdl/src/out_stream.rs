//! `tern_out`: the result path. When a MATVEC with `store` finishes (`ls_fire`), `snap` is set;
//! `snap` copies the R accumulators into the output shifter as soon as it is empty, which
//! then sends H/32 sign-extended int32 results per beat over a valid/ready stream.
//! While `snap` waits for a busy shifter, `advance` is low and the whole array freezes, so
//! back-pressure never loses or overwrites a result.
//!
//! `advance` = ~(snap & out_busy) enables nearly every flip-flop of the array, so it is a
//! register: computed from the next values of `snap` and `out_busy` one cycle early (equal
//! to the combinational form on every cycle). Small arrays keep one `(* keep *)` copy per
//! row (`adv_row`), which yosys merges back into `adv_r` (`opt_merge`, `keep`
//! notwithstanding; docs/synthesis.md), so their Verilog and Fmax records stay as they were.
//! Large arrays (`Accel::grouped`) drive `advance` through a global buffer (`tern_gbuf`,
//! `adv_global`; copies per group or per row did not reach their enables in time), and the
//! output shifter's load flag and enable go through two more (`obuf_large`).
//! Their `advance` ignores `out_ready` (`adv_next`), at the price of one more frozen cycle
//! when a waiting snapshot meets the shifter's last beat. `out_idle` (= ~snap & ~out_busy,
//! for the sequencer's SYNC/HALT test) is registered the same way, so that test starts at a
//! flip-flop. Large arrays also take `ls_fire` as a flip-flop (`ls_registered`, from the
//! array's `ls_pre`: the token bits one stage before the last), so the shifter's copies load
//! from this block's flip-flops and `out_ready` only. Every array registers `left == 1`
//! (`last_r`): on iCE40 the compare behind `snap_now` was a recurring critical path.

use tern_arch::config::Accel;

/// The signal `tern_array` hands `tern_out` for a finished stored result, and so the port and
/// wire name in `tern_array`, `tern_out` and `tern_top`: `ls_fire` itself, or on grouped
/// arrays `ls_pre` (the token bits a stage earlier, registered here by `ls_registered`).
pub fn ls_port(a: &Accel) -> &'static str {
    if a.grouped() { "ls_pre" } else { "ls_fire" }
}

pub fn verilog(a: &Accel) -> String {
    let c = &a.cfg;
    let acc = c.acc_bits;
    let r = c.rows;
    let rpb = a.results_per_beat;
    let ob = crate::bits_for(a.out_beats as u64);
    let grouped = a.grouped();
    let ls_reg = if grouped { ls_registered(a) } else { last_registered(a) };
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
  input  wire {ls_port},
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
{ls_decl}  // next values of snap and out_busy (the always block below), for the registered advance
  wire snap_d = ~rst & ((snap & ~snap_now) | {ls});
  wire busy_d = ~rst & (snap_now | (out_busy & ~(out_ready & {last})));
  reg adv_r = 1'b1;
{ls_always}{adv_decl}  initial out_idle = 1'b1;
  always @(posedge clk) begin
    adv_r <= {adv_d};
    out_idle <= ~snap_d & ~busy_d;  // = ~snap & ~out_busy on every cycle, for SYNC/HALT
{adv_load}  end
  assign advance = {adv_out};
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
        {obuf_load}out_busy <= 1'b1; left <= {ob}'d{beats};
      end else if (out_busy & out_ready) begin
{obuf_shift}        left <= left - {ob}'d1;
        if (left == {ob}'d1) out_busy <= 1'b0;
      end
      snap <= (snap & ~snap_now) | {ls};
    end
  end
{obuf_groups}endmodule
",
        am = r * acc - 1,
        rm = r - 1,
        hm = c.host_bits - 1,
        obm = ob - 1,
        beats = a.out_beats,
        words = words.join(", "),
        ls_port = ls_port(a),
        ls = if grouped { "ls_f" } else { "ls_fire" },
        ls_decl = ls_reg.0,
        ls_always = ls_reg.1,
        last = "last_r",
        adv_decl = if grouped { adv_global(a) } else { format!("  (* keep *) reg [{}:0] adv_rep = {{{r}{{1'b1}}}};\n", r - 1) },
        adv_d = adv_next(a),
        adv_out = if grouped { "adv_glb" } else { "adv_r" },
        adv_load = if grouped { String::new() } else { format!("    adv_rep <= {{{r}{{{}}}}};\n", adv_next(a)) },
        obuf_load = if grouped { "" } else { "obuf <= acc_flat; " },
        obuf_shift = if grouped { String::new() } else { format!("        obuf <= obuf >> {};\n", rpb * acc) },
        obuf_groups = if grouped { obuf_large(a) } else { String::new() },
    )
}

/// The next value of `advance`: ~(snap & out_busy) a cycle ahead. With
/// `Accel::advance_ignores_out_ready` (grouped arrays) `busy_d` is replaced by `snap | out_busy`
/// (busy next cycle unless the last beat leaves now), so `adv_r`'s inputs are this block's
/// flip-flops and `ls_fire`, never the link's `out_ready` (the board's `tx_empty`: 11.9 ns
/// into the eight group copies `advance` then had on ecp5-85f). The array then also freezes in the cycle after the last
/// beat leaves while a snapshot waits; the golden model counts that cycle.
fn adv_next(a: &Accel) -> &'static str {
    if a.advance_ignores_out_ready { "~(snap_d & (snap | out_busy))" } else { "~(snap_d & busy_d)" }
}

/// `advance` of a large array, through `tern_gbuf` (on ECP5 a DCCA: one of the global
/// networks, which reach every enable pin with low skew). One `adv_r` on fabric routing took
/// 12.6 ns across ecp5-85f's array; one `tern_copy` per 8-row group still took 12-13 ns from a
/// copy to its own group's enables, about an eighth of the array's flip-flops (branch `tc9`);
/// one copy per row (64, branch `tc6`) did not route.
fn adv_global(a: &Accel) -> String {
    format!(
        "  wire adv_glb;
  tern_gbuf g_adv (.i(adv_r), .o(adv_glb));
  wire [{rm}:0] adv_rep = {{{r}{{adv_glb}}}};
",
        r = a.cfg.rows,
        rm = a.cfg.rows - 1,
    )
}

/// `ls_fire` of a large array as a flip-flop (`ls_f`), and `left == 1` as one (`last_r`), so
/// the output shifter's load and busy copies load from this block's flip-flops and
/// `out_ready` only. The array's `ls_fire` = `advance` & the last token stage's valid and
/// store bits came from a register at row 0 through three LUTs to the copies (11.3-12.2 ns on
/// ecp5-85f). Here `ls_pre` (those bits one stage earlier), `ls_tok` (this block's own copy
/// of the last stage's bits) and `adv_r`'s next value give `ls_fire` one cycle ahead; the
/// cycle contract is unchanged.
/// Returns (declarations, before `snap_d`; their always block, after `busy_d`).
fn ls_registered(a: &Accel) -> (String, String) {
    let decl = "  wire ls_tok;
  tern_copy #(.W(1)) c_lstok (.clk(clk), .en(advance), .d(~rst & ls_pre), .q(ls_tok));
  reg ls_f = 1'b0, last_r = 1'b0;
"
    .to_string();
    let logic = format!(
        "  always @(posedge clk) begin
    ls_f <= ~rst & {adv_d} & (advance ? ls_pre : ls_tok);
{last}  end
",
        adv_d = adv_next(a),
        last = last_r_next(a),
    );
    (decl, logic)
}

/// `last_r` (= `left == 1` on every cycle) from its next value: set by a snapshot of a
/// one-beat result, then as a beat leaves with two left.
fn last_r_next(a: &Accel) -> String {
    let two_left = if a.out_beats < 2 { "1'b0".to_string() } else { format!("left == {}'d2", crate::bits_for(a.out_beats as u64)) };
    format!(
        "    if (rst) last_r <= 1'b0;
    else if (snap_now) last_r <= 1'b{};
    else if (out_busy & out_ready) last_r <= {two_left};
",
        u32::from(a.out_beats == 1)
    )
}

/// `left == 1` as a flip-flop (`last_r`) on a small array: the shifter's busy flag and
/// `advance`'s next value read it instead of a compare.
fn last_registered(a: &Accel) -> (String, String) {
    ("  reg last_r = 1'b0;\n".to_string(), format!("  always @(posedge clk)\n{}", last_r_next(a)))
}

/// The output shifter of a large array. `obuf` is read only while `out_busy`, so it loads
/// `acc_flat` on every cycle it is free: the load flag is `~out_busy` (`ld_r`, a register
/// equal to it on every cycle: loaded with the next value `~busy_d`) and the enable
/// `~out_busy | out_ready`; the last free cycle is `snap_now`'s, so the snapshot is the one it
/// always was. Each reaches all of `obuf` through a global network (`tern_gbuf2`,
/// `tern_gbuf1`). The enable was `snap_now | out_busy & out_ready`: `out_busy` sits by the
/// DCCA on the left edge and the `snap` LUT by the board, and that path crossed the distance
/// twice (11 of 17 seeds of the 127.36 MHz netlist on ecp5-85f, up to 8.99 ns of routing).
/// Before that, as a LUT of fabric signals, the enable went through three LUT levels and a
/// net across the whole array (14 ns); per-group enables from copies of `out_busy` were
/// 10.2 ns; per-group copies of the load flag spent 5.9-7.7 ns of routing on one of their two
/// hops. `obuf` is not written under reset here, but nothing reads it until a load, which
/// reset cannot skip. A beat rotates `obuf` rather than shifting zeros in (the wrapped bits
/// reach the output only after the last beat, so they are never sent).
fn obuf_large(a: &Accel) -> String {
    let acc = a.cfg.acc_bits;
    // bits one beat shifts out (results_per_beat results)
    let shift = a.results_per_beat * acc;
    format!(
        "  reg ld_r = 1'b1;
  always @(posedge clk) ld_r <= ~busy_d;
  wire ld_glb;
  tern_gbuf2 g_ld (.i(ld_r), .o(ld_glb));
  // no copies of `out_busy`: all of obuf shifts on one enable (`ob_en_g`, below).
  // It rotates: shifted-in zeros made yosys turn the top slice's load into a synchronous
  // reset, a LUT of `ob_en_g` on 48 LSR pins (the critical path of the 99.34 MHz record)
  wire [{am}:0] obuf_sh = {{obuf[{sm}:0], obuf[{am}:{shift}]}};
  // one enable for all of obuf, on a global network: it loads whenever free, so `snap`
  // stays off this path
  wire ob_en, ob_en_g;
  assign ob_en = ~out_busy | out_ready;
  tern_gbuf1 g_ob (.i(ob_en), .o(ob_en_g));
  always @(posedge clk) if (ob_en_g) obuf <= ld_glb ? acc_flat : obuf_sh;
",
        am = a.cfg.rows * acc - 1,
        sm = shift - 1,
    )
}

#[cfg(test)]
mod tests {
    use super::verilog;
    use tern_arch::config::{ECP5_85F, ICE40_HX8K, ICE40_UP5K, TINY};

    /// Large arrays send the output shifter's load flag and enable and `advance` through
    /// global buffers; small arrays keep the one register.
    #[test]
    fn flags_on_global_buffers_only_on_large_arrays() {
        let a = ECP5_85F.validate().unwrap();
        let v = verilog(&a);
        assert!(v.contains("always @(posedge clk) ld_r <= ~busy_d;") && v.contains("tern_gbuf2 g_ld (.i(ld_r), .o(ld_glb));"), "{v}");
        assert!(!v.contains("c_ld") && !v.contains("ld_g["), "no copies of the load flag: {v}");
        // no copies of out_busy: nothing would read them (a lint failure, `busy_g`)
        assert!(!v.contains("busy_g") && !v.contains("c_busy"), "{v}");
        // advance reaches the array through one global buffer, not copies
        assert!(v.contains("tern_gbuf g_adv (.i(adv_r), .o(adv_glb));") && !v.contains("c_adv"), "{v}");
        assert!(v.contains("assign advance = adv_glb;"), "{v}");
        // the shifter rotates: no constant bits for yosys to turn into a synchronous reset
        let am = a.cfg.rows * a.cfg.acc_bits - 1;
        let shift = a.results_per_beat * a.cfg.acc_bits;
        assert!(v.contains(&format!("obuf_sh = {{obuf[{}:0], obuf[{am}:{shift}]}};", shift - 1)) && !v.contains("obuf >>"), "{v}");
        // one enable for all of obuf on the second global buffer, one load select on the third
        assert!(v.contains("assign ob_en = ~out_busy | out_ready;") && v.contains("tern_gbuf1 g_ob (.i(ob_en), .o(ob_en_g));"), "{v}");
        assert!(v.contains("always @(posedge clk) if (ob_en_g) obuf <= ld_glb ? acc_flat : obuf_sh;"), "{v}");
        // the token copy takes advance straight on its enable, rst through D
        assert!(v.contains("c_lstok (.clk(clk), .en(advance), .d(~rst & ls_pre), .q(ls_tok));"), "{v}");
        // ls_fire as this block's flip-flop, computed from ls_pre a cycle ahead
        assert!(
            v.contains("input  wire ls_pre,") && v.contains("ls_f <= ~rst & ~(snap_d & (snap | out_busy)) & (advance ? ls_pre : ls_tok);"),
            "{v}"
        );
        assert!(v.contains("wire snap_d = ~rst & ((snap & ~snap_now) | ls_f);") && v.contains("(out_ready & last_r)"), "{v}");
        for cfg in [TINY, ICE40_UP5K, ICE40_HX8K] {
            let v = verilog(&cfg.validate().unwrap());
            assert!(!v.contains("ls_f ") && v.contains("input  wire ls_fire,"), "{}", cfg.name);
            assert!(!v.contains("tern_copy") && !v.contains("tern_gbuf") && v.contains("obuf <= acc_flat;"), "{}", cfg.name);
        }
    }
}
