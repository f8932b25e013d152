//! `tern_board`: the FPGA board wrapper around an unchanged `tern_top`.
//!
//! The core's ports fit no package (H-bit streams both ways plus a 10 x counter_bits counter
//! bus), so a board sees it through a narrow link: a byte-wide valid/ready stream in
//! each direction, a reset button and status LEDs.
//!
//! ```text
//!  rx_data[7:0] --+   +--------------+ in (H bits)  +----------+ out (H bits) +--------------+
//!  rx_valid ------+-->| rx: H/8 bytes|------------->| tern_top |------------->| tx: H/8 bytes|--> tx_data[7:0]
//!  rx_ready <-----+   | -> one beat  |  valid/ready | (as is)  |  valid/ready | -> bytes,    |--> tx_valid
//!                     +--------------+              +----+-----+              | then trailer |<-- tx_ready
//!                                                        | status, running,   +------^-------+
//!  rst_n -> synchronizer -> rst (copies)                | counters - scan or mux --+
//!  led_run, led_ok, led_err <----------------------------+
//! ```
//! - rx: bytes arrive little-endian; H/8 of them form one host beat, offered to the core
//!   until it takes it (one bubble per beat: the link, not the array, is the bottleneck). A
//!   grouped array's board takes the pins into flip-flops first (`rx_pins`).
//! - tx: each result beat is sent as H/8 bytes, little-endian. A grouped array's board
//!   (`Accel::grouped`) drives the pins from a two-entry skid stage (`TX_SKID`), so the
//!   `tx_ready` pin enables 18 flip-flops, not the whole shifter.
//! - trailer: once the core stops (HALT or an error) and every result byte has left, the
//!   board sends one trailer: the status byte (`tern_arch::isa::Status`), then the event
//!   counters in `Counters::NAMES` order, each `counter_bits` wide, packed little-endian into
//!   ceil(10 * counter_bits / 8) bytes. The counters stop counting when the core stops.
//!   How depends on `Fabric::counter_read`. With the scan chain (generic; iCE40 counters that
//!   are not whole bytes) the board reads the counters' lowest byte and rotates them down a
//!   byte per byte sent (`cnt_shift`), so no mux spans the 480 counter bits (about 370 LUT4s
//!   on the iCE40 presets); the trailer leaves the counters rotated by 8 x bytes bits (a
//!   whole turn for 48-bit counters), which nothing reads before the next reset clears
//!   them. With the iCE40 counter bank (block RAM) it waits for `cnt_ready`, then reads
//!   `cnt_byte` and steps it with `cnt_shift`, four cycles per byte (a RAM read). On ECP5 a
//!   registered two-stage byte mux reads them. Either way the pins are driven from
//!   flip-flops through one 2:1 mux.
//! - clock: the oscillator pin `clk`, or with `BoardSpec::pll` the PLL's output `clk_pll`
//!   (`crate::pll`); every register here and in the core, the UART and the copies runs on
//!   `BoardSpec::clock`, and the pin then feeds the PLL alone.
//! - reset: two flip-flops; on grouped arrays a flip-flop and two stages of copies, the
//!   last one copy per consumer region of the core (`rst_tree`), all equal on every cycle; on
//!   pair-chain arrays of the UP5K a second copy of the last stage for the sequencer
//!   (`seq_rst_copy_decl`). They load the button, with a UART a break on the line, and with a
//!   PLL its lock not yet up.
//! - LEDs (polarity per board): run = the core runs, ok = halted, err = stopped on an error.
//!   A grouped array's board drives them from two flip-flops (`leds`), two cycles late.
//!
//! Nothing here changes the core: `tern_top` is instantiated exactly as the Verilator
//! backend simulates it (the generic fabric's; its `cnt_shift` is low while it runs). The
//! wrapper's cost is reported with the core's (`tern synth`).

use crate::cells::CounterRead;
use tern_arch::config::Accel;
use tern_arch::golden::Counters;
use tern_arch::isa::Status;

/// How the board's LEDs are wired, and how it talks to the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardSpec {
    /// The LEDs light when driven low (iCEBreaker's on-board LEDs).
    pub leds_active_low: bool,
    pub link: Link,
    /// A PLL between the oscillator pin `clk` and the board (`crate::pll`): the board then
    /// runs on its output `clk_pll`, and its reset holds until the PLL locks. None: the
    /// board runs on the pin (the recorded designs: their Verilog is unchanged).
    pub pll: Option<crate::pll::PllSpec>,
}

impl BoardSpec {
    /// The board's clock net: the oscillator pin, or the PLL's output.
    pub fn clock(&self) -> &'static str {
        if self.pll.is_some() { "clk_pll" } else { "clk" }
    }
}

/// The host link's pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// A byte-wide valid/ready stream each way (18 pins; a host-side FIFO chip or MCU).
    Parallel,
    /// A serial line with RTS/CTS (4 pins; any USB-UART bridge): `crate::uart::verilog`'s
    /// `tern_uart` turns it into the same byte streams inside the board, so the bytes on the
    /// wire are the parallel link's. A break on the line resets the board like the button.
    Uart(crate::uart::UartSpec),
}

/// The parallel link's ports, and the UART's that replace them.
const PARALLEL_PORTS: &str = "  input  wire [7:0] rx_data,
  input  wire rx_valid,
  output wire rx_ready,
  output wire [7:0] tx_data,
  output wire tx_valid,
  input  wire tx_ready,
";
const UART_PORTS: &str = "  input  wire uart_rx,
  output wire uart_tx,
  input  wire uart_cts_n,
  output wire uart_rts_n,
";
/// The UART's break and error, declared before the reset that uses the break.
const UART_WIRES: &str = "  wire brk, link_err;  // from the UART (tern_uart, below)
";
/// The UART in front of the byte streams, which become wires.
fn uart_link(ck: &str) -> String {
    format!(
        "  // the host link: a UART (tern_uart) that offers and takes the bytes
  wire [7:0] rx_data, tx_data;
  wire rx_valid, rx_ready, tx_valid, tx_ready;
  tern_uart link (
    .clk({ck}), .rst(rst), .uart_rx(uart_rx), .uart_tx(uart_tx), .uart_cts_n(uart_cts_n),
    .uart_rts_n(uart_rts_n), .brk(brk), .link_err(link_err),
    .rx_data(rx_data), .rx_valid(rx_valid), .rx_ready(rx_ready),
    .tx_data(tx_data), .tx_valid(tx_valid), .tx_ready(tx_ready)
  );
"
    )
}

/// The PLL (`crate::pll`): the oscillator pin in, the board's clock out.
const PLL_INST: &str = "  // the board's clock: a PLL from the oscillator pin (tern_pll); its lock holds the reset
  wire clk_pll, pll_lock;
  tern_pll pll (.osc(clk), .clk(clk_pll), .lock(pll_lock));
";

/// Bytes of the trailer: the status byte, then the packed counters.
pub fn trailer_bytes(a: &Accel) -> u32 {
    1 + (Counters::NAMES.len() as u32 * a.cfg.counter_bits).div_ceil(8)
}

/// Verilog of the board wrapper modules (top `tern_board`); append it to `crate::emit`.
pub fn verilog(a: &Accel, spec: BoardSpec, fabric: crate::Fabric) -> String {
    let read = fabric.counter_read(a);
    // the counters step under the board's `cnt_shift` (a scan chain or the bank), else a mux
    let steps = read != CounterRead::Mux;
    let bank = read == CounterRead::Bank;
    // cycles from a byte taken to the next offered: the scan chain moves in one, a RAM word of
    // the bank arrives in three (`counters::bank_verilog`)
    let twait = if bank { 4 } else { 2 };
    // the wait's bits: a count to `twait`, or with the bank a thermometer of `twait` bits
    let tw = if bank { twait as u32 } else { crate::bits_for(twait) };
    let take = if a.grouped() { "tx_take" } else { "tx_ready" };
    let rxv = if a.grouped() { "rx_v" } else { "rx_valid" };
    let c = &a.cfg;
    let h = c.host_bits;
    let nb = h / 8;
    let cb = Counters::NAMES.len() as u32 * c.counter_bits;
    let tb = trailer_bytes(a);
    let bb = crate::bits_for(nb as u64);
    let ib = crate::bits_for(tb as u64);
    let uart = matches!(spec.link, Link::Uart(_));
    let ck = spec.clock();
    let led = |e: &str| if spec.leds_active_low { format!("~({e})") } else { e.to_string() };
    // the trailer, padded to whole 64-bit words for the word stage of the mux
    let words = tb.div_ceil(8);
    let pad = words * 64 - 8 - cb;
    let trailer = if pad > 0 { format!("{{{pad}'d0, counters, 4'd0, status}}") } else { "{counters, 4'd0, status}".to_string() };
    let ibm = ib - 1;
    // the core sees a flip-flop, not rx_cnt's compare (equal to it on every cycle: the next
    // value of `rx_cnt == nb`): on a large array it sits far from the pins, and on the UP5K
    // the compare was the first of four LUT levels into the sequencer's fetch, the critical
    // path of 6 of 8 seeds (`tern_synth` sweep, docs/synthesis.md)
    let in_valid = format!(
        "  reg in_valid = 1'b0;\n  always @(posedge {ck}) in_valid <= ~rst & (in_valid ? ~in_ready : {rxv} & rx_cnt == {bb}'d{});\n",
        nb - 1,
    );
    let tx_shift = format!("{{8'd0, tx_sh[{}:8]}}", h - 1);
    format!(
        "module tern_board (
  input  wire clk,
  input  wire rst_n,
{ports}  output wire led_run,
  output wire led_ok,
  output wire led_err
);
{pll}{uart_wires}{rst_decl}{link}
  // rx: {nb} bytes -> one {h}-bit beat
  reg [{hm}:0] rx_sh;
  reg [{bbm}:0] rx_cnt;
{in_valid}  wire in_ready;
{rx_stage}  always @(posedge {ck})
    if (rst) rx_cnt <= {bb}'d0;
    else if (in_valid) begin
      if (in_ready) rx_cnt <= {bb}'d0;
    end else if ({rxv}) begin
      rx_sh <= {rx_shift};
      rx_cnt <= rx_cnt + {bb}'d1;
    end

  wire [{hm}:0] out_data;
  wire out_valid, out_ready;
  wire [3:0] status;
  wire running;
{cnt_wires}  tern_top core (
    .clk({ck}), .rst({rst_core}), .in_data(rx_sh), .in_valid(in_valid), .in_ready(in_ready),
    .out_data(out_data), .out_valid(out_valid), .out_ready(out_ready),
    .status(status), .running(running), {cnt_conn}
  );

  // tx: one {h}-bit result beat -> {nb} bytes, then the trailer once the core has stopped.
{trailer_doc}  reg [{hm}:0] tx_sh;
  reg [{bbm}:0] tx_left;
  reg tx_empty;
  reg [{ibm}:0] tr_idx;
  reg [{twm}:0] tr_wait;
{tr_word_decl}  reg [7:0] tr_byte;
{trailer_decl}  assign out_ready = tx_empty;
  // the core's `running` through a register: it feeds only the trailer and the LEDs here
  reg run_r;
  always @(posedge {ck}) run_r <= rst | running;
  // bytes left, registered: one cycle late, which the two-cycle wait between bytes covers{more_doc}
  reg tr_more;
  always @(posedge {ck}) tr_more <= tr_idx != {ib}'d{tb}{cnt_ready};
  wire tr_on = {tr_on};
{tx_port}{trailer_src}  always @(posedge {ck})
    if (rst) begin
      tx_left <= {bb}'d0; tx_empty <= 1'b1; tr_idx <= {ib}'d0; tr_wait <= {tw}'d0;
    end else begin
      if (run_r | (tr_on & {take})) tr_wait <= {tw}'d0;
      else {tr_wait_step}
      if (tx_empty) begin
        if (out_valid) begin tx_sh <= out_data; tx_left <= {bb}'d{nb}; tx_empty <= 1'b0; end
        else if (tr_on & {take}) tr_idx <= tr_idx + {ib}'d1;
      end else if ({take}) begin
        tx_sh <= {tx_shift};
        tx_left <= tx_left - {bb}'d1;
        tx_empty <= tx_left == {bb}'d1;
      end
    end

{leds}endmodule
",
        hm = h - 1,
        bbm = bb - 1,
        pll = if spec.pll.is_some() { PLL_INST } else { "" },
        twm = tw - 1,
        // with the bank the wait is a thermometer (its top bit: `twait` cycles passed) and
        // `~run_r` rides in `tr_more` (a cycle earlier: `run_r` is `rst | running` one cycle
        // late), so `tr_on` is one LUT4: the trailer's path into `tr_wait` was 5 LUT levels,
        // the critical path of 9 of 16 UP5K seeds with pair chains
        cnt_ready = if bank { " & cnt_ready & ~(rst | running)" } else { "" },
        tr_on = if bank {
            format!("tx_empty & ~out_valid & tr_more & tr_wait[{}]", twait - 1)
        } else {
            format!("~run_r & tx_empty & ~out_valid & tr_more & (tr_wait == {tw}'d{twait})")
        },
        tr_wait_step = if bank {
            format!("tr_wait <= {{tr_wait[{}:0], 1'b1}};", twait - 2)
        } else {
            format!("if (tr_wait != {tw}'d{twait}) tr_wait <= tr_wait + {tw}'d1;")
        },
        // (the bank's `ready`, once up, stays up until reset: a cycle late only delays the
        // trailer's first byte; from the core's far side it was the UP5K's critical path with
        // pair chains, 9 of 16 seeds below 50 MHz)
        more_doc = if bank { "; with the bank's `cnt_ready`, which stays up once up" } else { "" },
        cnt_wires = if bank {
            "  wire [7:0] cnt_byte;\n  wire cnt_ready;\n".to_string()
        } else {
            format!(
                "  wire [{}:0] counters;\n  wire [{}:0] unused_pend;  // zero by the time the trailer is sent (see tern_counters)\n",
                cb - 1,
                Counters::NAMES.len() - 1
            )
        },
        cnt_conn = match read {
            CounterRead::Bank => ".cnt_byte(cnt_byte), .cnt_ready(cnt_ready),\n    .cnt_shift(cnt_shift)",
            CounterRead::Scan => ".counters(counters), .counters_pend(unused_pend),\n    .cnt_shift(cnt_shift)",
            CounterRead::Mux => ".counters(counters), .counters_pend(unused_pend)",
        },
        trailer_doc = if bank {
            "  // The trailer: the status byte, then the counters a byte at a time from their bank
  // (`tern_counters`, once `cnt_ready`), stepped by `cnt_shift`; a byte that comes from the
  // bank's block RAM arrives three cycles after the step, so a byte is offered four cycles
  // after the index moves.\n"
        } else if steps {
            "  // The trailer: the status byte, then the counters' lowest byte while the core rotates
  // them down a byte per `cnt_shift` (`tern_counters`' scan chain), registered, so a byte is
  // offered two cycles after the index moves (the counters moved in between).\n"
        } else {
            "  // The trailer byte comes through a two-stage registered mux (8-byte word, then byte), so
  // the pins are driven by flip-flops through one 2:1 mux; a byte is offered two cycles
  // after the index moves (and after the core stopped, so the counters are final).\n"
        },
        tr_word_decl = if steps { "" } else { "  reg [63:0] tr_word;\n" },
        trailer_decl =
            if steps { "  reg cnt_shift;\n".to_string() } else { format!("  wire [{}:0] trailer = {trailer};\n", words * 64 - 1) },
        trailer_src = if steps {
            scan_trailer(a, tb, ib, take, bank, ck)
        } else {
            format!(
                "  always @(posedge {ck}) begin
    tr_word <= trailer[{{tr_idx[{ibm}:3], 6'b000000}} +: 64];
    tr_byte <= tr_word[{{tr_idx[2:0], 3'b000}} +: 8];
  end
"
            )
        },
        in_valid = in_valid,
        ports = if uart { UART_PORTS } else { PARALLEL_PORTS },
        link = if uart { uart_link(ck) } else { String::new() },
        uart_wires = if uart { UART_WIRES } else { "" },
        rst_decl = {
            // what asserts the reset: the button, and with a UART a break on the line (`brk` is
            // synchronous already)
            // what asserts the reset: the button, with a UART a break on the line (`brk` is
            // synchronous already), and with a PLL its lock not yet up
            let held = match (uart, spec.pll.is_some()) {
                (false, false) => "~rst_n",
                (true, false) => "~(rst_n & ~brk)",
                (false, true) => "~(rst_n & pll_lock)",
                (true, true) => "~(rst_n & ~brk & pll_lock)",
            };
            if a.grouped() {
                rst_tree(a, held, ck)
            } else if crate::top::seq_rst_copy(a) {
                rst_sync(held, ck) + &seq_rst_copy_decl(fabric, ck)
            } else {
                rst_sync(held, ck)
            }
        },
        rst_core = if a.grouped() {
            "rst_core"
        } else if crate::top::seq_rst_copy(a) {
            "{rst_seq, rst}"
        } else {
            "rst"
        },
        tx_port = if a.grouped() { tx_skid(ck) } else { TX_DIRECT.to_string() },
        take = take,
        rx_stage = if a.grouped() { rx_pin_stage(a, ck) } else { "  assign rx_ready = ~in_valid & ~rst;\n".to_string() },
        rx_shift = {
            let d = if a.grouped() { "rx_d" } else { "rx_data" };
            if nb == 1 { d.to_string() } else { format!("{{{d}, rx_sh[{}:8]}}", h - 1) }
        },
        tx_shift = tx_shift,
        leds = leds(
            a,
            ck,
            [
                led("run_r"),
                led(&format!("status == 4'd{}", Status::Halted as u32)),
                led(&if uart {
                    format!("(~run_r & status != 4'd{}) | link_err", Status::Halted as u32)
                } else {
                    format!("~run_r & status != 4'd{}", Status::Halted as u32)
                }),
            ]
        ),
    )
}

/// The trailer byte from the status, then from the counters' scan chain or bank (`tern_counters`):
/// each counter byte taken rotates the counters down a byte, one cycle later; the byte
/// register reads them a cycle after that, before the next byte can be offered
/// (`tr_wait`). A last byte holding fewer than 8 counter bits has the rest cleared.
fn scan_trailer(a: &Accel, tb: u32, ib: u32, take: &str, bank: bool, ck: &str) -> String {
    let cb = Counters::NAMES.len() as u32 * a.cfg.counter_bits;
    let byte = match cb % 8 {
        _ if bank => "cnt_byte".to_string(),
        0 => "counters[7:0]".to_string(),
        r => format!("(tr_idx == {ib}'d{} ? {{{}'d0, counters[{}:0]}} : counters[7:0])", tb - 1, 8 - r, r - 1),
    };
    format!(
        "  always @(posedge {ck}) begin
    tr_byte <= tr_idx == {ib}'d0 ? {{4'd0, status}} : {byte};
    cnt_shift <= ~rst & tr_on & {take} & tr_idx != {ib}'d0;
  end
"
    )
}

/// The LED pins (run, ok, err). A grouped array's board drives them from two flip-flops, one
/// beside the status logic and one beside the pins: as LUTs of the core's status register
/// they crossed the die to the pins on its left edge, the critical path of 7 of 16 seeds on
/// ecp5-85f (branch `obe`, docs/synthesis.md). Two cycles late, which no one can see.
fn leds(a: &Accel, ck: &str, [run, ok, err]: [String; 3]) -> String {
    if a.grouped() {
        format!(
            "  // LEDs: two flip-flops, beside the status logic and beside the pins
  reg [2:0] led_q = 3'b000, led_p = 3'b000;
  always @(posedge {ck}) begin
    led_q <= {{{run}, {ok}, {err}}};
    led_p <= led_q;
  end
  assign led_run = led_p[2];
  assign led_ok = led_p[1];
  assign led_err = led_p[0];
"
        )
    } else {
        format!("  assign led_run = {run};\n  assign led_ok = {ok};\n  assign led_err = {err};\n")
    }
}

/// The receive pins of a grouped array's board: a flip-flop stage beside them (`rx_v`,
/// `rx_d`), so no pin reaches the 64-bit beat register's enable (`rx_valid` -> `rx_sh`'s CE
/// across the die: 8.4 and 9.3 ns, the critical paths of two of 18 seeds on ecp5-85f). The
/// pins' side counts the bytes it takes for the beat (`rx_pins`), so `rx_ready` is a flip-flop
/// too: it drops once a whole beat has been taken and rises two cycles after the core took
/// that beat (`rx_took`). A byte taken at the pins is therefore always shifted in the next
/// cycle: `in_valid` is never high while one is in flight. Same protocol on the pins.
fn rx_pin_stage(a: &Accel, ck: &str) -> String {
    let nb = a.cfg.host_bits / 8;
    let bb = crate::bits_for(nb as u64);
    format!(
        "  // rx pins: a flip-flop stage beside them; the ready pin is a flip-flop (`rx_pins`)
  reg rx_v = 1'b0, rx_rdy = 1'b0, rx_took = 1'b0;
  reg [7:0] rx_d;
  reg [{bbm}:0] rx_pins = {bb}'d0;
  wire rx_hs = rx_valid & rx_rdy;
  assign rx_ready = rx_rdy;
  always @(posedge {ck}) begin
    rx_v <= rx_hs;
    rx_d <= rx_data;
    rx_took <= ~rst & in_valid & in_ready;
    if (rst | rx_took) rx_pins <= {bb}'d0;
    else if (rx_hs) rx_pins <= rx_pins + {bb}'d1;
    // rx_rdy is `~rst & rx_pins != {nb}` one cycle ahead; rst_m[{m}] is rst's next value
    rx_rdy <= ~rst_m[{m}] & (rst | rx_took | (rx_hs ? rx_pins != {bb}'d{nbm} : rx_pins != {bb}'d{nb}));
  end
",
        bbm = bb - 1,
        nbm = nb - 1,
        m = a.mid_copies(),
    )
}

/// The reset of a small array's board: two flip-flops, loading `rst_on` (asserted high).
fn rst_sync(rst_on: &str, ck: &str) -> String {
    format!(
        "  // reset: the button is asynchronous; two flops make a synchronous, glitch-free reset
  reg [1:0] rst_sync = 2'b11;
  always @(posedge {ck}) rst_sync <= {{rst_sync[0], {rst_on}}};
  wire rst = rst_sync[1];
"
    )
}

/// The sequencer's own reset copy (`top::seq_rst_copy`): a flip-flop loaded, like `rst`, from
/// the synchronizer's first stage and starting high like it, so the two are equal on every
/// cycle. yosys merges a plain Verilog copy back into `rst` (equal inputs), so on iCE40 it is
/// an SB_DFF primitive holding the inverse (iCE40 flip-flops start low).
fn seq_rst_copy_decl(fabric: crate::Fabric, ck: &str) -> String {
    match fabric {
        crate::Fabric::Ice40 => {
            format!("  wire rst_seq_n;\n  SB_DFF c_rst_seq (.C({ck}), .D(~rst_sync[0]), .Q(rst_seq_n));\n  wire rst_seq = ~rst_seq_n;\n")
        }
        _ => format!("  reg rst_seq = 1'b1;\n  always @(posedge {ck}) rst_seq <= rst_sync[0];\n"),
    }
}

/// The reset of a grouped array's board: a synchronizer whose later stages are trees of
/// `tern_copy` cells, so that no reset register reaches the whole array. The first flop takes
/// the button; a middle stage has one copy per two broadcast groups plus one for the rest
/// (`Accel::mid_copies` + 1); the last stage has `top::rst_copies` copies for the core (each
/// group's from its middle copy) and one for the board itself. Every copy of a stage loads
/// the same value, so all of the last stage equal one reset on every cycle, the one the
/// Verilator shim drives; the button reaches them after three cycles, not two.
fn rst_tree(a: &Accel, rst_on: &str, ck: &str) -> String {
    use crate::top::{RstCopy, rst_copies, rst_index};
    let k = rst_copies(a);
    let m = a.mid_copies();
    // bit i of the last stage loads from its middle copy: a group's, or the shared one (m)
    let src: Vec<String> = (0..=k)
        .rev()
        .map(|i| {
            let mid = (0..a.bcast_groups).find(|&g| i < k && rst_index(a, RstCopy::Group(g)) == i).map_or(m, |g| a.mid_copy_of(g));
            format!("rst_m[{mid}]")
        })
        .collect();
    format!(
        "  // reset: the button is asynchronous; a flop takes it, then two stages of copies (a tree,
  // so no one register reaches the whole array) make a synchronous, glitch-free reset
  reg rst_s0 = 1'b1;
  always @(posedge {ck}) rst_s0 <= {rst_on};
  wire [{m}:0] rst_m;
  tern_copy #(.W({mw}), .INIT(1'b1)) c_rst_m (.clk({ck}), .en(1'b1), .d({{{mw}{{rst_s0}}}}), .q(rst_m));
  wire [{k}:0] rst_c;
  tern_copy #(.W({kw}), .INIT(1'b1)) c_rst (.clk({ck}), .en(1'b1), .d({{{src}}}), .q(rst_c));
  wire [{km}:0] rst_core = rst_c[{km}:0];
  wire rst = rst_c[{k}];
",
        mw = m + 1,
        kw = k + 1,
        km = k - 1,
        src = src.join(", "),
    )
}

/// The transmit pins driven by the byte source (`tx_sh` or the trailer) directly: the
/// `tx_ready` pin moves the source (enables the whole shifter).
const TX_DIRECT: &str = "  assign tx_valid = ~rst & (~tx_empty | tr_on);
  assign tx_data = tx_empty ? tr_byte : tx_sh[7:0];
";

/// The transmit pins of a grouped array's board: a two-entry skid stage (`tx_q` on the pins,
/// `tx_s` behind it). The byte source moves on `tx_take` = `~tx_sv`, a flip-flop, so the
/// `tx_ready` pin reaches only these 18 flip-flops, not the 64-bit shifter (11.1 ns from the
/// pin on ecp5-85f). Same valid/ready protocol on the pins, one cycle later, no bubbles.
fn tx_skid(ck: &str) -> String {
    format!(
        "  wire src_valid = ~rst & (~tx_empty | tr_on);
  wire [7:0] src_data = tx_empty ? tr_byte : tx_sh[7:0];
  reg [7:0] tx_q, tx_s;
  reg tx_qv = 1'b0, tx_sv = 1'b0;
  wire tx_take = ~tx_sv;
  assign tx_valid = tx_qv;
  assign tx_data = tx_q;
  always @(posedge {ck}) begin
    if (~tx_sv) tx_s <= src_data;
    if (~tx_qv | tx_ready) tx_q <= tx_sv ? tx_s : src_data;
    if (rst) begin
      tx_qv <= 1'b0; tx_sv <= 1'b0;
    end else if (~tx_qv | tx_ready) begin
      tx_qv <= tx_sv | src_valid; tx_sv <= 1'b0;
    end else if (~tx_sv) tx_sv <= src_valid;
  end
"
    )
}

/// The whole design with the board wrapper: `crate::emit_for` plus `tern_board` (and with a
/// UART link, `tern_uart`).
pub fn emit(a: &Accel, spec: BoardSpec, fabric: crate::Fabric) -> String {
    let mut v = emit_without_pll(a, spec, fabric);
    if let Some(p) = &spec.pll {
        v.push_str(&crate::pll::verilog(p));
    }
    v
}

/// `emit` without the PLL's module: a simulation supplies its own `tern_pll` (the vendor
/// primitives have no behaviour there).
pub fn emit_without_pll(a: &Accel, spec: BoardSpec, fabric: crate::Fabric) -> String {
    let mut v = crate::emit_for(a, fabric);
    v.push_str("\n`default_nettype none\n");
    if let Link::Uart(u) = spec.link {
        v.push_str(&crate::uart::verilog(u));
    }
    v.push_str(&verilog(a, spec, fabric));
    v.push_str("`default_nettype wire\n");
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use tern_arch::config::{ECP5_85F, TINY};

    #[test]
    fn trailer_holds_status_and_every_counter_bit() {
        let a = TINY.validate().unwrap();
        // 10 counters x 48 bits = 60 bytes, plus the status byte
        assert_eq!(trailer_bytes(&a), 61);
        let v = verilog(&a, BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert!(v.contains("wire [511:0] trailer = {24'd0, counters, 4'd0, status};"), "{v}");
        assert!(v.contains("assign led_run = ~(run_r);"));
        let b = ECP5_85F.validate().unwrap();
        let v = verilog(&b, BoardSpec { leds_active_low: false, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert!(v.contains("rx_v & rx_cnt == 4'd7") && v.contains("reg in_valid"), "{v}");
        // LEDs from two flip-flops on grouped arrays only
        assert!(
            v.contains("led_q <= {run_r, status == 4'd1, ~run_r & status != 4'd1};") && v.contains("assign led_err = led_p[0];"),
            "{v}"
        );
        assert!(!verilog(&a, BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5).contains("led_q"));
        // the receive pins into flip-flops, the ready pin a flip-flop, on grouped arrays only
        assert!(
            v.contains("assign rx_ready = rx_rdy;") && v.contains("rx_v & rx_cnt == 4'd7") && v.contains("rx_sh <= {rx_d, rx_sh[63:8]};"),
            "{v}"
        );
        assert!(v.contains("rx_rdy <= ~rst_m[4] & (rst | rx_took | (rx_hs ? rx_pins != 4'd7 : rx_pins != 4'd8));"), "{v}");
        let t = verilog(&a, BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert!(
            t.contains("assign rx_ready = ~in_valid & ~rst;") && t.contains("else if (rx_valid) begin") && !t.contains("rx_pins"),
            "{t}"
        );
        assert!(
            verilog(&a, BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5)
                .contains("in_valid <= ~rst & (in_valid ? ~in_ready : rx_valid & rx_cnt == 3'd3);")
        );
        // the skid stage, and no path from the tx_ready pin to the shifter, on grouped arrays only
        assert!(v.contains("assign tx_data = tx_q;") && v.contains("end else if (tx_take) begin"), "{v}");
        let t = verilog(&a, BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert!(!t.contains("tx_q") && t.contains("end else if (tx_ready) begin"), "{t}");
    }

    /// A grouped array's core takes one reset copy per region, from a two-stage tree whose
    /// group copies load from their groups' middle copies; a small array keeps the two flops.
    #[test]
    fn grouped_core_reset_comes_from_a_tree_of_copies() {
        let b = ECP5_85F.validate().unwrap();
        let v = verilog(&b, BoardSpec { leds_active_low: false, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert_eq!(crate::top::rst_copies(&b), 12);
        assert!(v.contains("c_rst_m (.clk(clk), .en(1'b1), .d({5{rst_s0}}), .q(rst_m));"), "{v}");
        // bit 12 (the board's own) .. 8 from the shared middle copy, groups 7..0 from theirs
        assert!(
            v.contains(".d({rst_m[4], rst_m[4], rst_m[4], rst_m[4], rst_m[4], rst_m[3], rst_m[3], rst_m[2], rst_m[2], rst_m[1], rst_m[1], rst_m[0], rst_m[0]}), .q(rst_c));"),
            "{v}"
        );
        assert!(v.contains(".rst(rst_core)") && v.contains("wire rst = rst_c[12];"), "{v}");
        let t =
            verilog(&TINY.validate().unwrap(), BoardSpec { leds_active_low: true, link: Link::Parallel, pll: None }, crate::Fabric::Ecp5);
        assert!(t.contains("wire rst = rst_sync[1];") && t.contains(".rst(rst)") && !t.contains("rst_c"), "{t}");
        // the button alone, or with a UART the button or a break, into both reset forms
        assert!(v.contains("rst_s0 <= ~rst_n;") && t.contains("rst_sync <= {rst_sync[0], ~rst_n};"));
        let uart = BoardSpec { leds_active_low: false, link: Link::Uart(crate::uart::UartSpec { clks_per_bit: 8 }), pll: None };
        assert!(verilog(&b, uart, crate::Fabric::Ecp5).contains("rst_s0 <= ~(rst_n & ~brk);"));
        assert!(verilog(&TINY.validate().unwrap(), uart, crate::Fabric::Ecp5).contains("rst_sync <= {rst_sync[0], ~(rst_n & ~brk)};"));
    }

    /// With a PLL the oscillator pin feeds the PLL alone: every register of the board, the
    /// core, the UART and the reset copies runs on `clk_pll`, and the reset holds until lock.
    #[test]
    fn a_pll_board_runs_everything_on_the_pll_clock() {
        use crate::pll::{PllKind, PllSpec};
        let pll = Some(PllSpec::nearest(PllKind::Ice40Pad, 12_000_000, 50_000_000).unwrap());
        let u = Link::Uart(crate::uart::UartSpec { clks_per_bit: 50 });
        for (cfg, fabric) in
            [(&TINY, crate::Fabric::Ecp5), (&tern_arch::config::ICE40_UP5K, crate::Fabric::Ice40), (&ECP5_85F, crate::Fabric::Ecp5)]
        {
            let a = cfg.validate().unwrap();
            for link in [Link::Parallel, u] {
                let v = verilog(&a, BoardSpec { leds_active_low: true, link, pll }, fabric);
                // the pin as a connection (an instance's port or a flip-flop's C) or a clock edge
                assert_eq!(v.matches("(clk)").count(), 1, "{}: the pin feeds the PLL only\n{v}", cfg.name);
                assert!(!v.contains("posedge clk)"), "{}: a register on the pin\n{v}", cfg.name);
                assert!(v.contains("tern_pll pll (.osc(clk), .clk(clk_pll), .lock(pll_lock));"), "{v}");
                assert!(v.contains("posedge clk_pll)") && v.contains(".clk(clk_pll), .rst("), "{v}");
                let held = if link == u { "~(rst_n & ~brk & pll_lock)" } else { "~(rst_n & pll_lock)" };
                assert!(v.contains(&format!("<= {held};")) || v.contains(&format!("rst_sync[0], {held}}};")), "{held}\n{v}");
            }
        }
        let whole = emit(&TINY.validate().unwrap(), BoardSpec { leds_active_low: true, link: Link::Parallel, pll }, crate::Fabric::Ice40);
        assert!(whole.contains("module tern_pll (") && whole.contains("SB_PLL40_PAD #("));
    }
}
