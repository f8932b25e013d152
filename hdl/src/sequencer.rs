//! `tern_seq`: the sequencer (fetch, decode, execute, data loading) and the array's issue stage.
//!
//! ```text
//!           fire            decode ok, no hazard
//!  FETCH ---------> EXEC ----------------------+--> LOADW --(last word)--> FETCH
//!    ^               |  \__ error __> DONE      +--> LOADX --(last word)--> FETCH
//!    +---------------+  (NOP, SETLEN, MATVEC accepted, SYNC drained)
//!                    +-- HALT drained --> DONE (status = halted)
//! ```
//! Decoding, status codes and field positions are generated from `tern_arch::isa`, so the
//! RTL cannot disagree with the golden model about what a word means. Illegal words and
//! out-of-range addresses set `status` and stop in DONE: no hang, no silent write.
//!
//! Timing: everything EXEC decides from the instruction word alone (decode errors, range
//! checks, the double-buffer halves it touches) is computed from `in_data` while FETCH takes
//! the word and registered with it (`ex_*`); `len` cannot change between FETCH and EXEC.
//! EXEC itself only combines those flags with the issue stage's registered state
//! (`iss_half`, `iss_last`), which keeps adders and comparators off the paths into the
//! sequencer's many enables (measured in `docs/synthesis.md`).

use crate::cells::{Step, step_name};
use tern_arch::config::{Accel, BCAST_GROUP_ROW_BITS};
use tern_arch::isa::{self, Opcode, Status};

/// Copies of the weight banks' read address: one per broadcast group (`Accel::bcast_groups`).
/// A single `iss_waddr` drove all 128 block RAMs of ecp5-85f: 24.6 ns of routing, the
/// critical path once the activation copies were real (docs/synthesis.md).
pub fn raddr_copies(a: &Accel) -> u32 {
    a.bcast_groups
}

/// The read-address copy row `i`'s bank reads.
pub fn raddr_copy_of(a: &Accel, i: u32) -> u32 {
    a.bcast_group_of(i)
}

/// `raddr_w`: `iss_waddr` itself, or `tern_copy` registers that equal `iss_waddr`'s address
/// bits on every cycle after a reset. `tern_copy`, because yosys merges plain registers with
/// equal inputs.
///
/// With `Accel::read_stages` = 2 (grouped arrays) the copies that step are a middle stage, one
/// per two groups (`Accel::mid_copies`), and each group's copy loads its middle copy on every
/// advancing cycle: from the sequencer a far group's stepping copy was 9.5-9.7 ns of routing
/// away on ecp5-85f (`gcrt29` s19, s24). The banks then read one advancing cycle later, which
/// the read window counts.
///
/// Each stepping copy steps itself: it takes `advance` straight from its global network on its enable
/// and loads `f_hi` on a MATVEC's accept (`mv_take`), its own value + 1 on an issue step
/// (`iss_step`), else itself. Both selects are one LUT of sequencer registers (`mv_pend` =
/// in EXEC with a MATVEC). Loaded with `iss_waddr`'s next value under an enable
/// `rst | advance & (iss_active | accept)`, the copies' enable and data were four LUTs from
/// `advance` and one shared incrementer away (79 endpoints after 8 ns on the 105.88 MHz
/// record, docs/synthesis.md). Like the token copies they clear in a reset cycle with
/// `advance` high, which holds from a reset's second cycle on (`tk_decl` in `mac_array`).
fn raddr_decl(a: &Accel, wab: u32) -> String {
    let n = raddr_copies(a);
    if n == 1 {
        return format!("  assign raddr_w = iss_waddr[{}:0];\n", wab - 1);
    }
    // only the banks' address bits: the copies are read by nothing else
    let m = wab - 1;
    let mut v = "  // with `advance` high: the issue stage steps, or a waiting MATVEC is accepted
  wire iss_step = iss_active | mv_pend;
  wire mv_take = mv_pend & (~iss_active | iss_last);
"
    .to_string();
    // with `read_stages` = 2 the stepping copies are a middle stage, one per two groups, and
    // each group's copy loads its middle copy on every advancing cycle
    let mid = a.read_stages >= 2;
    let stepping = if mid { a.mid_copies() } else { n };
    let name = |j: u32| if mid { format!("raddr_m{j}") } else { format!("raddr_c{j}") };
    for j in 0..stepping {
        let q = name(j);
        v.push_str(&format!(
            "  wire [{m}:0] {q};
  tern_copy #(.W({wab})) c_{q} (.clk(clk), .en(advance),
    .d(rst ? {wab}'d0 : mv_take ? f_hi[{m}:0] : iss_step ? {q} + {wab}'d1 : {q}), .q({q}));
"
        ));
    }
    for k in 0..n {
        if mid {
            v.push_str(&format!(
                "  wire [{m}:0] raddr_c{k};\n  tern_copy #(.W({wab})) c_raddr{k} (.clk(clk), .en(advance), .d({src}), .q(raddr_c{k}));\n",
                src = name(a.mid_copy_of(k))
            ));
        }
        v.push_str(&format!("  assign raddr_w[{}:{}] = raddr_c{k};\n", (k + 1) * wab - 1, k * wab));
    }
    v
}

/// `mv_pend` = `st == S_EXEC & ex_is_mv` on every cycle, as a register: set when FETCH takes
/// a MATVEC, cleared when EXEC leaves (an error, or the issue stage accepts it).
fn mv_pend_decl(a: &Accel, op_mv: &str) -> String {
    if raddr_copies(a) == 1 {
        return String::new();
    }
    format!(
        "  reg mv_pend = 1'b0;
  always @(posedge clk)
    if (rst) mv_pend <= 1'b0;
    else if (st == S_FETCH & fire) mv_pend <= d_op == {op_mv};
    else if (mv_pend & (~ex_ok | issue_free)) mv_pend <= 1'b0;
"
    )
}

/// With `Accel::read_window` the banks read an issued address up to that many advancing
/// cycles after its slot (`read_stages`, the row copies of the read address, then one more
/// cycle per row of a broadcast group, `group_hops`): `rd_sh` holds the newest `read_window` - 1
/// slots of the window (the flags read the next window, `{rd_sh, iss_active}`), `rd_hs` their halves, and `rd_lo`/`rd_up` (registered from their next values, so the
/// hazard reads two flip-flops) say a read in the lower/upper half is still to come. LOADW
/// waits for them too and never overwrites a word before its last read (a freeze can hold
/// the reads back for many cycles).
fn rd_pend_decl(a: &Accel) -> String {
    let w = a.read_window;
    if w == 1 {
        return "  reg rd_lo = 1'b0, rd_up = 1'b0;
  always @(posedge clk)
    if (rst) begin rd_lo <= 1'b0; rd_up <= 1'b0; end
    else if (advance) begin rd_lo <= iss_active & ~iss_half; rd_up <= iss_active & iss_half; end
"
        .to_string();
    }
    // the window's next value is {rd_sh, iss_active}: the oldest slot leaves it, so the shift
    // registers hold w - 1 slots
    format!(
        "  reg [{sm}:0] rd_sh = {s}'d0, rd_hs = {s}'d0;
  reg rd_lo = 1'b0, rd_up = 1'b0;
  wire [{wm}:0] rd_win = {{rd_sh, iss_active}};
  wire [{wm}:0] rd_win_h = {{rd_hs, iss_half}};
  always @(posedge clk)
    if (rst) begin rd_sh <= {s}'d0; rd_lo <= 1'b0; rd_up <= 1'b0; end
    else if (advance) begin rd_sh <= rd_win[{sm}:0]; rd_hs <= rd_win_h[{sm}:0]; rd_lo <= |(rd_win & ~rd_win_h); rd_up <= |(rd_win & rd_win_h); end
",
        s = w - 1,
        sm = w - 2,
        wm = w - 1
    )
}

/// `[hi:lo]` of copy `copy` in a bus of `width`-bit copies, or nothing with a single copy (the
/// small presets' Verilog stays as it was).
pub fn copy_slice(a: &Accel, copy: u32, width: u32) -> String {
    if raddr_copies(a) > 1 { format!("[{}:{}]", (copy + 1) * width - 1, copy * width) } else { String::new() }
}

/// The banks' write port, `waddr_w` and `wdata_w`: `wr_addr` and `ld_sh`'s weight word, or one
/// `tern_copy` of each per group (like the read address): one register drove the address and
/// data pins of all 128 block RAMs of ecp5-85f (20.0 ns, the critical path). No enable: each
/// copy is loaded on every cycle (`ld_sh`'s enable follows `in_valid` from the board's
/// receiver, and as the copies' enable it was a 512-sink net across the array, 14.6 ns).
///
/// The group copies load from middle copies, one per two groups (`Accel::write_stages` = 1),
/// which load what `ld_sh` and `ld_addr` will hold next (`wword_next` = `ld_sh`'s next weight
/// word if a beat is taken): with the group copies loading `wword_next` straight from the
/// core's input register, that hop crossed half the die (10.96 ns on ecp5-85f). So two cycles
/// after a word's last beat, the only cycle `we_w` (delayed to match, `we_decl`) can be high,
/// the group copies hold that word: the write lands then (docs/decisions.md).
fn wport_decl(a: &Accel, wab: u32, shw: u32, h: u32, bpw: u32) -> String {
    let n = raddr_copies(a);
    let ww = 2 * a.cfg.lanes;
    let (lo, hi) = (shw - bpw * h, shw - bpw * h + ww - 1);
    if n == 1 {
        return format!("  assign waddr_w = wr_addr[{}:0];\n  assign wdata_w = ld_sh[{hi}:{lo}];\n", wab - 1);
    }
    assert_eq!(a.write_stages, 1, "grouped arrays write through one middle stage");
    assert!(a.group_hops > 0, "grouped arrays write through the rows' chain (the enables ride it)");
    // the weight word's bits of ld_sh's next value {in_data, ld_sh[shw-1:h]}
    let top = shw - h;
    let next = if lo >= top {
        format!("in_data[{}:{}]", hi - top, lo - top)
    } else if hi < top {
        format!("ld_sh[{}:{}]", hi + h, lo + h)
    } else {
        format!("{{in_data[{}:0], ld_sh[{}:{}]}}", hi - top, shw - 1, lo + h)
    };
    let mut v = format!("  wire [{}:0] wword_next = {next};\n", ww - 1);
    // recoded once here, not after every group copy: the recode LUTs sat between a group copy
    // and its 16 block RAMs' data inputs (10.1 ns on ecp5-85f)
    v.push_str(&crate::mac_array::recode_decl("wword_rc", "wword_next", a.cfg.lanes, "gw", "recode_w"));
    let mid = a.mid_copies();
    let (am, wm) = (wab - 1, ww - 1);
    for m in 0..mid {
        v.push_str(&format!(
            "  wire [{am}:0] wa_mid{m};\n  wire [{wm}:0] wd_mid{m};\n  tern_copy #(.W({wab})) c_wa_mid{m} (.clk(clk), .en(1'b1), .d(ld_addr[{am}:0]), .q(wa_mid{m}));\n  tern_copy #(.W({ww})) c_wd_mid{m} (.clk(clk), .en(1'b1), .d(wword_rc), .q(wd_mid{m}));\n"
        ));
    }
    for k in 0..n {
        v.push_str(&format!(
            "  tern_copy #(.W({wab})) c_waddr{k} (.clk(clk), .en(1'b1), .d(wa_mid{mk}), .q(waddr_w[{}:{}]));\n  tern_copy #(.W({ww})) c_wdata{k} (.clk(clk), .en(1'b1), .d(wd_mid{mk}), .q(wdata_w[{}:{}]));\n",
            (k + 1) * wab - 1,
            k * wab,
            (k + 1) * ww - 1,
            k * ww,
            mk = a.mid_copy_of(k),
        ));
    }
    v.push_str(&wsel_decl(a));
    v
}

/// Bits of the write-enable port `we_w`: one enable per row, or with the write chain
/// (`wsel_decl`) a select per group copy, {row in the group, flag}.
pub fn we_bits(a: &Accel) -> u32 {
    if a.group_hops > 0 { raddr_copies(a) * (1 + BCAST_GROUP_ROW_BITS) } else { a.cfg.rows }
}

/// The write chain's select (arrays whose groups form a chain, `Accel::group_hops` > 0): the
/// middle copies hold {`ld_row`, write flag} beside the word, and each group copy {row in the
/// group, flag & the row is in this group}; the rows pass it on with the word (`tern_array`),
/// and each row registers its own enable from it. The 64 per-row enables `wr_w` were
/// registers loaded from the state and the link's `rx_valid` through a LUT, placed by the
/// banks: 7.7-8.7 ns of routing on ecp5-85f (`gcrt29` s4, s13, s18).
fn wsel_decl(a: &Accel) -> String {
    let rb = crate::bits_for((a.cfg.rows - 1) as u64);
    let gb = BCAST_GROUP_ROW_BITS;
    let mut v = String::new();
    for m in 0..a.mid_copies() {
        v.push_str(&format!(
            "  wire [{rb}:0] ws_mid{m};\n  tern_copy #(.W({w})) c_ws_mid{m} (.clk(clk), .en(1'b1), .d({{ld_row, ~rst & w_word}}), .q(ws_mid{m}));\n",
            w = rb + 1
        ));
    }
    for k in 0..raddr_copies(a) {
        let mk = a.mid_copy_of(k);
        v.push_str(&format!(
            "  tern_copy #(.W({w})) c_wsel{k} (.clk(clk), .en(1'b1), .d({{ws_mid{mk}[{gb}:1], ws_mid{mk}[0] & (ws_mid{mk}[{rb}:{gb1}] == {gw}'d{k})}}), .q(we_w[{hi}:{lo}]));\n",
            w = gb + 1,
            gb1 = gb + 1,
            gw = rb - gb,
            hi = (k + 1) * (gb + 1) - 1,
            lo = k * (gb + 1),
        ));
    }
    v
}

/// The banks' write enables: `wr_w`, or with the write chain nothing here: its select carries
/// them (`wsel_decl`).
fn we_decl(a: &Accel) -> String {
    if a.group_hops == 0 { "  assign we_w = wr_w;\n".to_string() } else { String::new() }
}

/// Address registers and fields: ADDR_BITS plus a zero top bit, so a field sum cannot wrap.
const ADDR_REG_BITS: u32 = isa::ADDR_BITS + 1;

pub fn verilog(a: &Accel) -> String {
    // the signed limits one bit more than the address registers
    let (aw, sw) = (ADDR_REG_BITS, isa::ADDR_BITS + 2);
    let (awm, swm) = (aw - 1, sw - 1);
    let c = &a.cfg;
    let h = c.host_bits;
    let (r, l) = (c.rows, c.lanes);
    let wab = a.waddr_bits;
    let xab = a.xaddr_bits;
    let rb = crate::bits_for((r - 1) as u64);
    let bpw = a.beats_per_wword;
    let bpx = a.beats_per_xword;
    let bb = crate::bits_for((bpw.max(bpx) - 1) as u64);
    // ld_sh holds the last `max(bpw, bpx)` beats: the word just completed is written from it
    // one cycle after its last beat (see `wr_*`)
    let shw = bpw.max(bpx) * h;
    // Small arrays step the load address a cycle after the beat that ends its last word
    // (`wr_x`, `w_end`), from flip-flops, not from `fire` in that beat: `rdy` -> `fire` -> the
    // word-end decode -> `ld_addr`'s enable was the critical path of 6 of 16 UP5K seeds
    // (docs/synthesis.md). The write port's `wr_addr` takes the stepped address in that cycle
    // (`ld_addr + 1`), so a word that ends in it is written where it belongs.
    let defer_ld = !a.grouped();
    // small arrays take the next values of the counters that load or step from `step_cells`
    let steps = !step_cells(a).is_empty();
    // with the step cells and a power-of-two half, an address's half is one of its bits
    let half_bit = (steps && c.double_buffer && a.half_depth.is_power_of_two()).then(|| a.half_depth.trailing_zeros());
    // the step at a word's last beat, where it is not deferred
    let ld_inc = if defer_ld { String::new() } else { format!("ld_addr <= ld_addr + {aw}'d1; ") };
    let f = isa::ADDR_BITS;
    let op = |o: Opcode| format!("4'd{}", o as u32);
    let st = |s: Status| format!("4'd{}", s as u32);
    let db = if c.double_buffer { "1'b1" } else { "1'b0" };
    let asm = |n: u32| {
        if n == 1 { "in_data".to_string() } else { format!("{{in_data, ld_sh[{}:{}]}}", shw - 1, shw - (n - 1) * h) }
    };
    // the word of `n` beats after its last beat shifted in, `bits` wide
    let done_word = |n: u32, bits: u32| format!("ld_sh[{}:{}]", shw - n * h + bits - 1, shw - n * h);
    let half = |x: &str| {
        if c.double_buffer { format!("({x} >= {aw}'d{})", a.half_depth) } else { "1'b0".to_string() }
    };
    let mut rsv_cases = String::new();
    for o in Opcode::ALL {
        rsv_cases.push_str(&format!("      {}: begin op_known = 1'b1; rsv_mask = 32'h{:08x}; end\n", op(o), o.reserved_mask()));
    }
    // the checks of the incoming word, in priority order (first set wins), with the status
    // each one stops with: one list makes both the flag vector and the priority decode
    let mv_cross = if c.double_buffer { format!("d_whi > lim_h && d_fhi < {aw}'d{}", a.half_depth) } else { "1'b0".to_string() };
    // MATVEC's range checks on arrays without broadcast groups: the compare alone is
    // registered, and EXEC masks it with `ex_is_mv` (the check's third field, `ex_fl`), so no
    // opcode LUT follows its carry chain (the UP5K's critical path with pair chains, 42-48 MHz)
    let mask_mv = !a.grouped();
    let mv_range = |cmp: String, status| {
        if mask_mv { (cmp, status, true) } else { (format!("d_op == {} & ({cmp})", op(Opcode::MatVec)), status, false) }
    };
    let checks: [(String, Status, bool); 10] = [
        ("d_hi".into(), Status::ReservedBits, false),
        ("~op_known".into(), Status::IllegalOpcode, false),
        ("rsv_hit".into(), Status::ReservedBits, false),
        ("zero_cnt".into(), Status::ZeroCount, false),
        (format!("d_op == {} & over_w", op(Opcode::LoadW)), Status::WeightRange, false),
        (format!("d_op == {} & over_x", op(Opcode::LoadX)), Status::ActRange, false),
        (format!("d_op == {} & len_zero", op(Opcode::MatVec)), Status::NoLength, false),
        mv_range("d_whi > lim_w".into(), Status::WeightRange),
        mv_range("d_xlo > lim_x".into(), Status::ActRange),
        mv_range(mv_cross.clone(), Status::HalfCross),
    ];
    // the masked flags, the last of the list (the low bits of `ex_flags`)
    let masked = checks.iter().rev().take_while(|k| k.2).count();
    assert_eq!(masked, checks.iter().filter(|k| k.2).count(), "masked checks end the list");
    let nf = checks.len();
    let flag_list = checks.iter().map(|(c, _, _)| format!("    {c}")).collect::<Vec<_>>().join(",\n");
    let flag_cases: String =
        (0..nf).map(|i| format!("      {nf}'b{}1{}: exec_err = {};\n", "0".repeat(i), "?".repeat(nf - 1 - i), st(checks[i].1))).collect();
    let gt_w = sum_exceeds("over_w", c.wmem_depth);
    let gt_x = sum_exceeds("over_x", c.amem_depth);
    let gt_h = if c.double_buffer { sum_exceeds("over_h", a.half_depth) } else { (String::new(), String::new()) };
    let mut v = format!(
        "module tern_seq (
  input  wire clk,
  input  wire rst,
  input  wire [{hm}:0] in_data,
  input  wire in_valid,
  output wire in_ready,
  input  wire advance,
  input  wire pipe_empty,
  input  wire out_idle,
  output wire [{wem}:0] we_w,
  output wire [{ram}:0] waddr_w,
  output wire [{wpdm}:0] wdata_w,
  output wire we_x,
  output wire [{xam}:0] waddr_x,
  output wire [{xm}:0] wdata_x,
  output wire [{ram}:0] raddr_w,
  output wire [{xam}:0] raddr_x,
  output wire [2:0] tok,
  output wire [3:0] status,
  output wire running,
  output wire ev_insn,
  output wire ev_wword,
  output wire ev_xword,
  output wire ev_issue,
  output wire ev_stall_in
);
  localparam S_FETCH = 3'd0, S_EXEC = 3'd1, S_LOADW = 3'd2, S_LOADX = 3'd3, S_DONE = 3'd4;
  reg [2:0] st;
  reg [31:0] ir;
  reg [{fm}:0] len;
  // limits that SETLEN precomputes (signed): MATVEC at waddr w / xaddr x is in range iff
  // w <= lim_w and x <= lim_x, and crosses the double-buffer half iff lim_h < w < HALF
  reg signed [{swm}:0] lim_w, lim_x{lim_h_decl};
  reg len_zero;
  reg [{awm}:0] ld_addr;
  reg [{fm}:0] ld_left;
  reg [{rbm}:0] ld_row;
  reg [{bbm}:0] ld_beat;
  reg [{shm}:0] ld_sh;
  reg iss_active, iss_first, iss_store;
  reg [{fm}:0] iss_rem;
  reg [{awm}:0] iss_waddr, iss_xaddr;
  reg iss_half, iss_last;
  reg [{nfm}:0] ex_flags;
  reg ex_is_sl, ex_is_mv;
  reg ex_h_lo, ex_h_hi;

  // a bad weight code stops the sequencer through its own flag, not through `st` and
  // `status`: it comes from the incoming word, and the enables of `st` and `status` were an
  // UP5K critical path
  reg bad_st;
  reg [3:0] status_r;
  assign status = bad_st ? {s_bad} : status_r;
  assign running = st != S_DONE && !bad_st;
{in_ready}  wire fire = in_valid & in_ready;

  // ---- the instruction register's fields, used by EXEC ----
  wire [3:0] op = ir[31:{ops}];
  wire [{awm}:0] f_hi = {{1'b0, ir[{him}:{his}]}};
  wire [{awm}:0] f_lo = {{1'b0, ir[{fm}:0]}};
  wire f_acc = ir[{accb}];
  wire f_store = ir[{stb}];

  // ---- pre-decode of the word FETCH takes (tables generated from tern_arch::isa) ----
  wire [31:0] d = in_data[31:0];
  wire d_hi = {hi_nz};
  wire [3:0] d_op = d[31:{ops}];
  wire [{awm}:0] d_fhi = {{1'b0, d[{him}:{his}]}};
  wire [{awm}:0] d_flo = {{1'b0, d[{fm}:0]}};
  reg op_known;
  reg [31:0] rsv_mask;
  always @* begin
    op_known = 1'b0; rsv_mask = 32'h0;
    case (d_op)
{rsv_cases}      default: begin op_known = 1'b0; rsv_mask = 32'h0; end
    endcase
  end
  wire zero_cnt = (d_op == {op_lw} || d_op == {op_lx} || d_op == {op_sl}) && d_flo == {aw}'d0;
  wire rsv_hit = |(d & rsv_mask);
{over_w}{over_x}{over_h}  wire signed [{swm}:0] d_whi = {{1'b0, d_fhi}};
  wire signed [{swm}:0] d_xlo = {{1'b0, d_flo}};
  // every check as its own flag, in parallel, registered by FETCH: at most one LUT follows
  // a carry chain. EXEC ORs them (`ex_ok`) only for `st` and `status`: the other registers
  // EXEC loads (the issue stage on MATVEC, `len` and limits on SETLEN, `ld_*`) load on the
  // opcode alone, since after an error the sequencer is in DONE for good and the issue
  // stage's token output is gated with `running`, so a speculative load is never seen.
  wire [{nfm}:0] pre_flags = {{
{flag_list}
  }};

  // ---- EXEC: registered pre-decode + the issue stage's registered state ----
{ex_fl_decl}  wire ex_ok = ~|{ex_fl};
  reg [3:0] exec_err;
  always @* begin
    casez ({ex_fl})
{flag_cases}      default: exec_err = 4'd0;
    endcase
  end
{rd_pend}  wire hazard_w = iss_active & (~{db} | (ex_h_lo == iss_half) | (ex_h_hi == iss_half)){rd_hazard};
  wire issue_free = advance & (~iss_active | iss_last);
  // `pipe_empty` and `out_idle` are registers (from next-state values): one LUT to `st`
  wire drained = ~iss_active & pipe_empty & out_idle;
  wire in_exec = st == S_EXEC;
  wire accept = in_exec & ex_is_mv & issue_free;
{mv_pend}{step_decl}
  // ---- data loading: beats assemble little-endian into words ----
  wire last_w_beat = ld_beat == {bbw}'d{bpwm};
  wire last_x_beat = ld_beat == {bbw}'d{bpxm};
  wire [{wm}:0] asm_w = {asm_w};
  wire bad_code = |(asm_w & (asm_w >> 1) & {{{l}{{2'b01}}}});
  wire w_word = st == S_LOADW & fire & last_w_beat;
  wire x_word = st == S_LOADX & fire & last_x_beat;
{bad_alw}  // memory writes land one cycle after a word's last beat, from registers: the enables no
  // longer follow `in_valid` through the beat logic to every RAM (an HX8K critical path).
  // Safe: a MATVEC reading the word is accepted two cycles after that beat at the earliest,
  // and the halves/buffer a load writes are not being read (the EXEC interlocks).
{wr_w_decl}  reg wr_x;{w_end_decl}
  reg [{wrm}:0] wr_addr;
{we_decl}{wport}  assign we_x = wr_x;
  assign waddr_x = wr_addr[{xam}:0];
  assign wdata_x = {done_x};
",
        hm = h - 1,
        ram = raddr_copies(a) * wab - 1,
        wpdm = raddr_copies(a) * 2 * l - 1,
        we_decl = we_decl(a),
        wem = we_bits(a) - 1,
        wr_w_decl = if a.group_hops > 0 { String::new() } else { format!("  reg [{}:0] wr_w;\n", r - 1) },
        wport = wport_decl(a, wab, shw, h, bpw),
        xam = xab - 1,
        wm = 2 * l - 1,
        xm = a.xword_bits - 1,
        fm = f - 1,
        rbm = rb - 1,
        bbm = bb - 1,
        bbw = bb,
        shm = shw.max(1) - 1,
        ops = isa::OPCODE_SHIFT,
        him = isa::HI_SHIFT + f - 1,
        his = isa::HI_SHIFT,
        accb = isa::ACC_BIT,
        stb = isa::STORE_BIT,
        op_lw = op(Opcode::LoadW),
        op_lx = op(Opcode::LoadX),
        op_sl = op(Opcode::SetLen),
        s_bad = st(Status::BadWeightCode),
        rd_pend = if a.read_window > 0 { rd_pend_decl(a) } else { String::new() },
        mv_pend = mv_pend_decl(a, &op(Opcode::MatVec)),
        step_decl = if steps { step_decl(a) } else { String::new() },
        rd_hazard = if a.read_window > 0 {
            format!("\n    | rd_lo & (~{db} | ~ex_h_lo | ~ex_h_hi) | rd_up & (~{db} | ex_h_lo | ex_h_hi)")
        } else {
            String::new()
        },
        hi_nz = if h > 32 { format!("|in_data[{}:32]", h - 1) } else { "1'b0".to_string() },
        lim_h_decl = if c.double_buffer { ", lim_h" } else { "" },
        // small arrays: `bad_st` without an enable, so the code check (three LUT levels from
        // the beat) meets `w_word` in its D LUT instead of running through the enable's
        // decode (the critical path of 11 of 16 UP5K seeds with pair chains)
        bad_alw = if a.grouped() { "" } else { "  always @(posedge clk) bad_st <= ~rst & (bad_st | w_word & bad_code);\n" },
        ex_fl = if masked == 0 { "ex_flags" } else { "ex_fl" },
        ex_fl_decl = if masked == 0 {
            String::new()
        } else {
            format!(
                "  wire [{nfm}:0] ex_fl = ex_flags & {{{}'b{}, {{{masked}{{ex_is_mv}}}}}};\n",
                nf - masked,
                "1".repeat(nf - masked),
                nfm = nf - 1
            )
        },
        bpwm = bpw - 1,
        bpxm = bpx - 1,
        nfm = nf - 1,
        flag_list = flag_list,
        flag_cases = flag_cases,
        over_w = gt_w.0,
        over_x = gt_x.0,
        over_h = gt_h.0,
        wrm = wab.max(xab) - 1,
        done_x = done_word(bpx, a.xword_bits),
        asm_w = asm(bpw),
        w_end_decl = if defer_ld { " reg w_end;" } else { "" },
        in_ready = if a.grouped() {
            "  assign in_ready = !bad_st && (st == S_FETCH || st == S_LOADW || st == S_LOADX);\n".to_string()
        } else {
            "  // a flip-flop, equal on every cycle to !bad_st && st is FETCH, LOADW or LOADX (`rdy_next`)\n  reg rdy;\n  assign in_ready = rdy;\n".to_string()
        },
    );
    if a.group_hops == 0 {
        for i in 0..r {
            v.push_str(&format!("  always @(posedge clk) wr_w[{i}] <= ~rst & w_word & (ld_row == {rb}'d{i});\n"));
        }
    }
    if defer_ld {
        v.push_str(&format!("  always @(posedge clk) w_end <= ~rst & w_word & (ld_row == {rb}'d{});\n", r - 1));
    }
    let wrm = wab.max(xab) - 1;
    v.push_str(&format!(
        "  always @(posedge clk) wr_x <= ~rst & x_word;\n{}  always @(posedge clk) wr_addr <= {}[{wrm}:0];\n",
        if defer_ld {
            // `ld_addr_d` is `ld_addr + 1` outside EXEC, and `wr_x | w_end` never holds in EXEC
            format!("  wire [{wrm}:0] ld_now = wr_x | w_end ? ld_addr_d[{wrm}:0] : ld_addr[{wrm}:0];\n")
        } else {
            String::new()
        },
        if defer_ld { "ld_now" } else { "ld_addr" },
    ));
    let shift_all = if shw == h { "ld_sh <= in_data;".to_string() } else { format!("ld_sh <= {{in_data, ld_sh[{}:{}]}};", shw - 1, h) };
    // Large arrays shift `ld_sh` on every beat the link offers (`in_valid`, a board flip-flop),
    // not only on the load states' `fire`: its 256 enables were a LUT of the sequencer's state
    // (10.35 ns on ecp5-85f). Within LOADW/LOADX `in_ready` is 1, so there `in_valid` = `fire`;
    // beats shifted in elsewhere are shifted out again by the `max(bpw, bpx)` beats of every
    // word before it is written.
    let (shift, shift_on_valid) = if a.grouped() {
        (String::new(), format!("  always @(posedge clk) if (in_valid) {shift_all}\n"))
    } else {
        (format!("          {shift_all}\n"), String::new())
    };
    v.push_str(&shift_on_valid);
    v.push_str(&format!(
        "
  // ---- issue stage: one token per cycle while a MATVEC runs ----
{raddr}  assign raddr_x = iss_xaddr[{xam}:0];
  wire iss_on = iss_active & running;  // see `ex_ok`
  assign tok = {{iss_on, iss_on & iss_first, iss_on & iss_store & iss_last}};

  assign ev_insn = st == S_FETCH & fire;
  assign ev_wword = w_word;
  assign ev_xword = x_word;
  assign ev_issue = advance & iss_active;
  assign ev_stall_in = in_ready & ~in_valid;

  always @(posedge clk) begin
    if (rst) begin
      st <= S_FETCH; ir <= 32'h0; len <= {fb}'d0; status_r <= {s_run};{bad_rst}
      len_zero <= 1'b1; lim_w <= {sw}'sd{wd}; lim_x <= {sw}'sd{ad};{lim_h_rst}
      ld_addr <= {aw}'d0; ld_left <= {fb}'d0; ld_row <= {rb}'d0; ld_beat <= {bbw}'d0;
      iss_active <= 1'b0; iss_first <= 1'b0; iss_store <= 1'b0; iss_rem <= {fb}'d0;
      iss_waddr <= {aw}'d0; iss_xaddr <= {aw}'d0; iss_half <= 1'b0; iss_last <= 1'b0;
      ex_flags <= {nf}'d0; ex_is_sl <= 1'b0; ex_is_mv <= 1'b0; ex_h_lo <= 1'b0; ex_h_hi <= 1'b0;
    end else begin
      case (st)
        S_FETCH: if (fire) begin
          ir <= in_data[31:0];
          ex_flags <= pre_flags;
          ex_is_sl <= d_op == {op_sl}; ex_is_mv <= d_op == {op_mv};
          ex_h_lo <= {h_lo}; ex_h_hi <= {h_hi};
          st <= S_EXEC;
        end
        S_EXEC: begin
          // loaded on every EXEC cycle: only a LOADW/LOADX leaves EXEC for a state that reads
          // them, so their enables need no decode
          ld_addr <= {ld_addr_exec}; ld_left <= {ld_left_exec}; ld_row <= {rb}'d0; ld_beat <= {bbw}'d0;
          if (ex_is_sl) begin
            len <= f_lo[{fm}:0]; len_zero <= f_lo == {aw}'d0;
            lim_w <= {sw}'sd{wd} - {{1'b0, f_lo}}; lim_x <= {sw}'sd{ad} - {{1'b0, f_lo}};{lim_h_set}
          end
          if (!ex_ok) begin
            status_r <= exec_err;
            st <= S_DONE;
          end else begin
            case (op)
{exec_case}              default: ;
            endcase
          end
        end
        S_LOADW: if (fire) begin
{shift}          if (last_w_beat) begin
            ld_beat <= {bbw}'d0;
            if (ld_row == {rb}'d{rlast}) begin
              ld_row <= {rb}'d0; {w_inc}ld_left <= {ld_left_dec};
              if (ld_left == {fb}'d1) st <= S_FETCH;
            end else ld_row <= ld_row + {rb}'d1;
{bad_set}          end else ld_beat <= ld_beat + {bbw}'d1;
        end
        S_LOADX: if (fire) begin
{shift}          if (last_x_beat) begin
            ld_beat <= {bbw}'d0; {x_inc}ld_left <= {ld_left_dec};
            if (ld_left == {fb}'d1) st <= S_FETCH;
          end else ld_beat <= ld_beat + {bbw}'d1;
        end
        default: ;
      endcase
{ld_step}      if (advance) begin
        if (iss_active) begin
          iss_rem <= {rem_dec}; iss_waddr <= {wa_inc}; iss_xaddr <= {xa_inc};
          iss_half <= {ih_next}; iss_last <= iss_rem == {fb}'d2;
          iss_first <= 1'b0;
          if (iss_last) iss_active <= 1'b0;
        end
        if (accept) begin
          iss_active <= 1'b1; iss_rem <= {rem_load}; iss_waddr <= {wa_load}; iss_xaddr <= {xa_load};
          iss_half <= ex_h_lo; iss_last <= len == {fb}'d1;
          iss_first <= ~f_acc; iss_store <= f_store;
        end
      end
    end
  end
{rdy_next}endmodule
",
        xam = xab - 1,
        raddr = raddr_decl(a, wab),
        fb = f,
        fm = f - 1,
        rb = rb,
        bbw = bb,
        rlast = r - 1,
        s_run = st(Status::Running),
        h_lo = match half_bit {
            // an in-range address's half is its bit log2(half_depth); out of range, the
            // instruction stops in EXEC before anything reads `ex_h_lo`
            Some(b) => format!("d_fhi[{b}]"),
            None => half("d_fhi"),
        },
        // half(ld_end - 1) without the subtraction (a LOADW count is at least 1)
        h_hi = if c.double_buffer { "over_h" } else { "1'b0" },
        wd = c.wmem_depth,
        ad = c.amem_depth,
        bad_rst = if a.grouped() { " bad_st <= 1'b0;" } else { "" },
        bad_set = if a.grouped() { "            if (bad_code) bad_st <= 1'b1;\n" } else { "" },
        lim_h_rst = if c.double_buffer { format!(" lim_h <= {sw}'sd{};", a.half_depth) } else { String::new() },
        lim_h_set = if c.double_buffer { format!(" lim_h <= {sw}'sd{} - {{1'b0, f_lo}};", a.half_depth) } else { String::new() },
        ih_next = match half_bit {
            // the next slot's half: a bit of `iss_waddr + 1` (in range while another slot
            // follows; after the last slot `iss_half` is not read until an accept loads it)
            Some(b) => format!("iss_waddr_d[{b}]"),
            None if c.double_buffer => format!("(iss_waddr >= {aw}'d{})", a.half_depth - 1),
            None => "1'b0".to_string(),
        },
        op_sl = op(Opcode::SetLen),
        op_mv = op(Opcode::MatVec),
        exec_case = exec_case(op, &st(Status::Halted)),
        rdy_next = if a.grouped() { String::new() } else { rdy_next(op) },
        w_inc = ld_inc,
        x_inc = ld_inc,
        ld_addr_exec = if steps { "ld_addr_d".to_string() } else { "f_hi".to_string() },
        ld_left_exec = if steps { "ld_left_d".to_string() } else { format!("f_lo[{}:0]", f - 1) },
        ld_left_dec = if steps { "ld_left_d".to_string() } else { format!("ld_left - {f}'d1") },
        rem_dec = if steps { "iss_rem_d".to_string() } else { format!("iss_rem - {f}'d1") },
        rem_load = if steps { "iss_rem_d" } else { "len" },
        wa_inc = if steps { "iss_waddr_d".to_string() } else { format!("iss_waddr + {aw}'d1") },
        wa_load = if steps { "iss_waddr_d" } else { "f_hi" },
        xa_inc = if steps { "iss_xaddr_d".to_string() } else { format!("iss_xaddr + {aw}'d1") },
        xa_load = if steps { "iss_xaddr_d" } else { "f_lo" },
        ld_step = if defer_ld {
            "      if (wr_x | w_end) ld_addr <= ld_addr_d;  // a cycle after the word's last beat\n".to_string()
        } else {
            String::new()
        },
    ));
    for m in [gt_w.1, gt_x.1, gt_h.1] {
        v.push_str(&m);
    }
    v
}

/// The step cells (`cells::step_cell`) `tern_seq` instantiates: on arrays without broadcast
/// groups, one `+1` cell width for the addresses and one `-1` width for the remaining counts.
/// Grouped arrays keep plain adders, so that ecp5-85f's recorded netlist stays as it is.
pub fn step_cells(a: &Accel) -> Vec<(u32, Step)> {
    if a.grouped() { Vec::new() } else { vec![(ADDR_REG_BITS, Step::Up), (isa::ADDR_BITS, Step::Down)] }
}

/// The next values of `ld_addr`, `ld_left` (which load in EXEC) and of the issue stage's
/// counters (which load as a MATVEC is accepted), each from one step cell.
fn step_decl(a: &Accel) -> String {
    let [(aw, Step::Up), (f, Step::Down)] = step_cells(a)[..] else { unreachable!("an up and a down cell") };
    let (up, down) = (step_name(aw, Step::Up), step_name(f, Step::Down));
    format!(
        "  // the next values of the counters that load or step: one SB_LUT4 + SB_CARRY a bit on iCE40
  wire [{awm}:0] ld_addr_d, iss_waddr_d, iss_xaddr_d;
  wire [{fm}:0] ld_left_d, iss_rem_d;
  {up} s_ld_addr (.q(ld_addr), .ld(f_hi), .sh(in_exec), .d(ld_addr_d));
  {down} s_ld_left (.q(ld_left), .ld(f_lo[{fm}:0]), .sh(in_exec), .d(ld_left_d));
  // the issue stage's counters load wherever they may: in an enabled cycle (`advance` and
  // `iss_active | accept`) that is an accept, or the last slot, after which they are not read
  // until the next accept loads them. `accept` itself reached every bit through the carry
  // chain: the critical path of all 16 UP5K seeds (41.4-49.8 MHz); so did the LUT
  // `~iss_active | iss_last` (45.4-50.9). `iss_load` is a flip-flop equal to it on every
  // cycle, loaded with its next value (the issue stage's updates below).
  reg iss_load;
  always @(posedge clk)
    if (rst) iss_load <= 1'b1;
    else if (advance) begin
      if (iss_active) iss_load <= iss_last | (iss_rem == {f}'d2);
      if (accept) iss_load <= len == {f}'d1;
    end
  {down} s_iss_rem (.q(iss_rem), .ld(len), .sh(iss_load), .d(iss_rem_d));
  {up} s_iss_waddr (.q(iss_waddr), .ld(f_hi), .sh(iss_load), .d(iss_waddr_d));
  {up} s_iss_xaddr (.q(iss_xaddr), .ld(f_lo), .sh(iss_load), .d(iss_xaddr_d));
",
        awm = aw - 1,
        fm = f - 1,
    )
}

/// A way out of EXEC for a valid instruction: on `op`, once `when` holds (the signal, and
/// whether it must be high), to state `next`.
struct ExecExit {
    op: Opcode,
    when: Option<(&'static str, bool)>,
    next: &'static str,
}

/// EXEC's exits, the one list that `tern_seq`'s EXEC case (`exec_case`) and the registered
/// `in_ready` (`rdy_next`) are both written from. HALT also sets the halted status.
const EXEC_EXITS: [ExecExit; 7] = [
    ExecExit { op: Opcode::Nop, when: None, next: "S_FETCH" },
    ExecExit { op: Opcode::SetLen, when: None, next: "S_FETCH" },
    ExecExit { op: Opcode::LoadW, when: Some(("hazard_w", false)), next: "S_LOADW" },
    ExecExit { op: Opcode::LoadX, when: Some(("iss_active", false)), next: "S_LOADX" },
    ExecExit { op: Opcode::MatVec, when: Some(("issue_free", true)), next: "S_FETCH" },
    ExecExit { op: Opcode::Sync, when: Some(("drained", true)), next: "S_FETCH" },
    ExecExit { op: Opcode::Halt, when: Some(("drained", true)), next: "S_DONE" },
];

/// The arms of EXEC's `case (op)` from `EXEC_EXITS` (`halted`: the halted status code).
fn exec_case(op: impl Fn(Opcode) -> String, halted: &str) -> String {
    EXEC_EXITS
        .iter()
        .map(|e| {
            let go =
                if e.next == "S_DONE" { format!("begin status_r <= {halted}; st <= S_DONE; end") } else { format!("st <= {};", e.next) };
            match e.when {
                None => format!("              {}: {go}\n", op(e.op)),
                Some((sig, high)) => format!("              {}: if ({}{sig}) {go}\n", op(e.op), if high { "" } else { "!" }),
            }
        })
        .collect()
}

/// Small arrays' `in_ready` is a flip-flop (`rdy`), loaded with the value `!bad_st && st in
/// {FETCH, LOADW, LOADX}` takes after the edge, from the conditions that move `st` and
/// `bad_st`. As a LUT of `st` and `bad_st` it was the first of four LUT levels from `bad_st`
/// to the FETCH registers' enables through `fire` (and the board's `in_valid`), the critical
/// path of 12 of 16 seeds on each iCE40 part (docs/synthesis.md). Grouped
/// arrays keep the LUT: their recorded netlist (ecp5-85f) predates this.
fn rdy_next(op: impl Fn(Opcode) -> String) -> String {
    // the EXEC exits to FETCH, LOADW or LOADX this cycle (all but HALT's)
    let exec_ready: Vec<String> = EXEC_EXITS
        .iter()
        .filter(|e| e.next != "S_DONE")
        .map(|e| match e.when {
            None => format!("op == {}", op(e.op)),
            Some((sig, high)) => format!("op == {} & {}{sig}", op(e.op), if high { "" } else { "~" }),
        })
        .collect();
    let exec_ready = format!("{}\n                              || {}", exec_ready[..4].join(" || "), exec_ready[4..].join(" || "));
    format!(
        "  always @(posedge clk)
    if (rst) rdy <= 1'b1;
    else rdy <= ~(bad_st | st == S_LOADW & fire & last_w_beat & bad_code) & (
      st == S_FETCH ? ~fire :
      st == S_LOADW || st == S_LOADX ? 1'b1 :
      st == S_EXEC ? ex_ok & ({exec_ready}) :
      1'b0);
"
    )
}

/// Verilog for `name = d_fhi + d_flo > k` (14-bit fields, top bit 0) in one carry chain of
/// `bits(k) + 2` bits with no compare after it. With n = bits(k): a field bit at n or above
/// exceeds k on its own; below, `a + b > k` iff `a + b + (2^(n+1) - 1 - k)` carries out of
/// n + 1 bits, and the constant enters as a carry-save step (one LUT per bit), so the sum and
/// the compare are one chain. (`a + b > k` as written is an adder chain, then a compare chain:
/// it was the UP5K critical path.) Returns (the wires in `tern_seq`, the chain's module): the
/// module is kept as a hierarchy level because the chains of two limits share their inputs,
/// and yosys otherwise derives one chain's carry-save bits from the other's (two LUT levels).
fn sum_exceeds(name: &str, k: u32) -> (String, String) {
    let n = crate::bits_for(k as u64);
    assert!(n <= isa::ADDR_BITS, "{name}: a depth below 2^ADDR_BITS");
    let w = n + 1;
    let c = (1u32 << w) - 1 - k;
    let wires = format!(
        "  wire {name}_t;
  tern_gt_{name} {name}_gt (.a(d_fhi[{nm}:0]), .b(d_flo[{nm}:0]), .gt({name}_t));
  wire {name} = |d_fhi[13:{n}] | |d_flo[13:{n}] | {name}_t;
",
        nm = n - 1
    );
    let module = format!(
        "
// a + b > {k} for {n}-bit a, b: the carry out of a + b + {c} ({w} bits), see `tern_seq`
(* keep_hierarchy *)
module tern_gt_{name} (
  input  wire [{nm}:0] a,
  input  wire [{nm}:0] b,
  output wire gt
);
  wire [{n}:0] s = {{1'b0, a}} ^ {{1'b0, b}} ^ {w}'d{c};
  wire [{n}:0] k = ({{1'b0, a}} & {{1'b0, b}}) | ({w}'d{c} & ({{1'b0, a}} | {{1'b0, b}}));
  // only the carry out (bit {w}) is used
  /* verilator lint_off UNUSEDSIGNAL */
  wire [{w}:0] t = {{1'b0, s}} + {{k, 1'b0}};
  /* verilator lint_on UNUSEDSIGNAL */
  assign gt = t[{w}];
endmodule
",
        nm = n - 1
    );
    (wires, module)
}

#[cfg(test)]
mod tests {
    /// The banks' read and write ports are copied once per 8-row group (the write port through
    /// a middle stage) on large arrays only:
    /// the small presets' Verilog (and so their Fmax records) must not change.
    #[test]
    fn bank_port_copies_only_on_large_arrays() {
        use tern_arch::config::{ECP5_85F, ICE40_HX8K, ICE40_UP5K, TINY};
        for cfg in [TINY, ICE40_UP5K, ICE40_HX8K] {
            let v = crate::emit(&cfg.validate().unwrap());
            assert!(!v.contains("tern_copy") && !v.contains("rd_sh") && v.contains("assign we_w = wr_w;"), "{}", cfg.name);
            assert!(!v.contains("if (in_valid) ld_sh") && !v.contains("wword_rc"), "{}", cfg.name);
        }
        let a = ECP5_85F.validate().unwrap();
        let v = crate::emit(&a);
        assert_eq!(super::raddr_copies(&a), 8);
        for port in ["c_raddr", "c_waddr", "c_wdata"] {
            assert_eq!(v.matches(&format!(") {port}")).count() - v.matches(&format!(") {port}_m")).count(), 8, "{port}");
        }
        // the read address (`read_stages` = 2): the middle copies, one per two groups, step
        // themselves; each group's copy loads its middle copy on every advancing cycle
        assert_eq!((a.read_stages, v.matches(") c_raddr_m").count()), (2, 4));
        assert!(v.contains("c_raddr_m3 (.clk(clk), .en(advance),\n    .d(rst ? 9'd0 : mv_take ? f_hi[8:0] : iss_step ? raddr_m3 + 9'd1 : raddr_m3), .q(raddr_m3));"), "{v}");
        assert!(v.contains("c_raddr7 (.clk(clk), .en(advance), .d(raddr_m3), .q(raddr_c7));"), "{v}");
        // the write port's middle stage (`write_stages`): one copy per two groups, with the
        // select {ld_row, flag} beside the word; each group copy of the select keeps its own
        // group's flag and the row in the group (the rows' write chain decodes it)
        assert_eq!(a.write_stages, 1);
        for port in ["c_wa_mid", "c_wd_mid", "c_ws_mid", "c_wsel"] {
            assert_eq!(v.matches(&format!(") {port}")).count(), if port == "c_wsel" { 8 } else { 4 }, "{port}");
        }
        assert!(v.contains(".d(wd_mid3), .q(wdata_w[511:448])"), "{v}");
        assert!(v.contains("c_ws_mid3 (.clk(clk), .en(1'b1), .d({ld_row, ~rst & w_word}), .q(ws_mid3));"), "{v}");
        assert!(
            v.contains("c_wsel7 (.clk(clk), .en(1'b1), .d({ws_mid3[3:1], ws_mid3[0] & (ws_mid3[6:4] == 3'd7)}), .q(we_w[31:28]));"),
            "{v}"
        );
        assert!(!v.contains("wr_w") && v.contains("output wire [31:0] we_w,"), "no per-row enables in the sequencer: {v}");
        // the word is recoded once, before the middle copies; ld_sh shifts on every offered beat
        assert!(v.contains(".d(wword_rc), .q(wd_mid0)") && v.contains("always @(posedge clk) if (in_valid) ld_sh <= "), "{v}");
        // the banks read up to `read_window` advancing cycles after issue: LOADW also waits
        assert_eq!(a.read_window, 9);
        assert!(v.contains("wire [8:0] rd_win = {rd_sh, iss_active};"), "{v}");
        assert!(
            v.contains("rd_sh <= rd_win[7:0]; rd_hs <= rd_win_h[7:0]; rd_lo <= |(rd_win & ~rd_win_h); rd_up <= |(rd_win & rd_win_h); end"),
            "{v}"
        );
        assert!(v.contains("| rd_lo & (~1'b1 | ~ex_h_lo | ~ex_h_hi) | rd_up & (~1'b1 | ex_h_lo | ex_h_hi);"), "{v}");
    }

    /// Small arrays take every counter that loads or steps from a step cell (none of them
    /// keeps a `+ 1` or `- 1` of its own); grouped arrays keep their adders.
    #[test]
    fn step_cells_only_on_small_arrays() {
        use super::{Step, isa, step_cells, verilog};
        use tern_arch::config::{ECP5_85F, ICE40_HX8K, ICE40_UP5K, TINY};
        for cfg in [TINY, ICE40_UP5K, ICE40_HX8K] {
            let a = cfg.validate().unwrap();
            let v = verilog(&a);
            for r in ["ld_addr", "ld_left", "iss_rem", "iss_waddr", "iss_xaddr"] {
                assert!(v.contains(&format!(" s_{r} (.q({r}),")), "{}: {r}", cfg.name);
                assert!(!v.contains(&format!("{r} + ")) && !v.contains(&format!("{r} - ")), "{}: {r} has an adder", cfg.name);
            }
            assert_eq!(step_cells(&a), vec![(isa::ADDR_BITS + 1, Step::Up), (isa::ADDR_BITS, Step::Down)]);
            // the cells' widths are the registers' (a mismatch would not even elaborate)
            assert!(
                v.contains(&format!("  reg [{}:0] ld_addr;", isa::ADDR_BITS))
                    && v.contains(&format!("  reg [{}:0] ld_left;", isa::ADDR_BITS - 1))
            );
            // a power-of-two half: an address's half is its bit log2(half_depth), no compare
            let b = a.half_depth.trailing_zeros();
            assert!(a.half_depth.is_power_of_two(), "{}", cfg.name);
            assert!(
                v.contains(&format!("iss_half <= iss_waddr_d[{b}];")) && v.contains(&format!("ex_h_lo <= d_fhi[{b}];")),
                "{}",
                cfg.name
            );
        }
        let big = ECP5_85F.validate().unwrap();
        assert!(step_cells(&big).is_empty() && verilog(&big).contains("iss_rem <= iss_rem - "));
    }

    /// The carry-save identity `sum_exceeds` relies on, exhaustively for small depths.
    #[test]
    fn sum_exceeds_is_a_plus_b_greater_than_k() {
        for k in [1u32, 2, 3, 5, 8, 255, 256, 300, 512] {
            let n = super::super::bits_for(k as u64);
            let c = (1u32 << (n + 1)) - 1 - k;
            let mask = (1u32 << (n + 1)) - 1;
            for a in 0..(1u32 << n) {
                for b in 0..(1u32 << n) {
                    let (s, kk) = ((a ^ b ^ c) & mask, ((a & b) | (c & (a | b))) & mask);
                    let t = s + (kk << 1);
                    assert_eq!((t >> (n + 1)) & 1 == 1, a + b > k, "k={k} a={a} b={b}");
                }
            }
        }
    }
}
