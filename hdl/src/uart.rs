//! `tern_uart`: the board's byte link as a UART with hardware flow control, so a bitstream talks
//! to a PC through any USB-UART bridge (a Digilent PmodUSBUART on a PMOD, Pmod Type 4 UART pins)
//! with no other part. `tern_board` instantiates it as `link` when its spec says
//! `board::Link::Uart`.
//!
//! ```text
//!             +----------------------------- tern_uart ------------------------------+
//!  uart_rx -->| sync -> rx (8N1, mid-bit samples) -> FIFO 512 x 8 (a block RAM) -------|--> rx byte stream
//!             |   \-> 20 bit times low = break ---> brk (resets FIFO and core)       |    (valid/ready)
//!  uart_rts_n<| FIFO fill >= 512 - 32 (registered): "stop sending"                  |
//!  uart_tx  <-| tx (8N1) <- holding register <- byte (start when idle, uart_cts_n low) |<-- tx byte stream
//!             +----------------------------------------------------------------------+
//! ```
//! - Flow control: the FPGA deasserts `uart_rts_n` (high) while its FIFO has fewer than 32 free
//!   bytes (a USB-UART bridge stops within a few characters), and sends only while the host holds
//!   `uart_cts_n` low. The byte streams are those of the parallel link (`board`), so the bytes
//!   on the wire are the same: program beats little-endian in, result beats then the trailer out.
//! - Reset: a break (the line low for 20 bit times) resets the FIFO, the transmitter and the
//!   core; block RAM contents (weights, activations) stay, as with the button. So every run
//!   starts with a break, as `Backend::run` starts with a reset.
//! - Timing: `tx_ready`, `brk`, the FIFO's `ne`/`full` and `uart_rts_n` are flip-flops loaded
//!   with their next values (or a cycle late, for RTS), and the transmitter starts from a
//!   holding register: combinational, each was on the UP5K's critical path in turn.
//! - Lost bytes are never silent: a framing error or a byte arriving at a full FIFO (the host
//!   ignored `uart_rts_n`) sets `link_err`, which lights the error LED and stops feeding the
//!   core, so the run starves and sends no trailer instead of running a corrupted program.
//!   A break (or the button) clears it.

/// Bytes of the receive FIFO: one iCE40 SB_RAM40_4K as 512 x 8.
pub const FIFO_BYTES: u32 = 512;
/// Free bytes below which `uart_rts_n` asks the host to stop.
pub const FIFO_MARGIN: u32 = 32;
/// Bit times the line must stay low to count as a break.
pub const BREAK_BITS: u32 = 20;

/// The UART's timing: the core clock's cycles per bit (clock / baud, rounded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UartSpec {
    pub clks_per_bit: u32,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum UartError {
    #[error("a UART needs at least 4 clock cycles per bit, got {clks_per_bit} ({clock_hz} Hz / {baud} baud)")]
    TooFast { clks_per_bit: u32, clock_hz: u64, baud: u64 },
    #[error(
        "the baud rate {baud} is {error_pct:.2}% off {clock_hz} Hz / {clks_per_bit} (more than 2%): pick a baud rate that divides the clock"
    )]
    Inexact { baud: u64, clock_hz: u64, clks_per_bit: u32, error_pct: f64 },
    #[error("the baud rate must be > 0")]
    ZeroBaud,
    #[error("a UART needs at least 4 clock cycles per bit, got {clks_per_bit}")]
    TooFewClocks { clks_per_bit: u32 },
}

impl UartSpec {
    /// A divider given directly (a simulated line).
    pub fn new(clks_per_bit: u32) -> Result<UartSpec, UartError> {
        if clks_per_bit < 4 { Err(UartError::TooFewClocks { clks_per_bit }) } else { Ok(UartSpec { clks_per_bit }) }
    }

    /// The divider for `baud` at `clock_hz`: refused under 4 cycles a bit or beyond 2% off.
    pub fn for_baud(clock_hz: u64, baud: u64) -> Result<UartSpec, UartError> {
        if baud == 0 {
            return Err(UartError::ZeroBaud);
        }
        let cpb = ((clock_hz + baud / 2) / baud) as u32;
        if cpb < 4 {
            return Err(UartError::TooFast { clks_per_bit: cpb, clock_hz, baud });
        }
        let actual = clock_hz as f64 / cpb as f64;
        let error_pct = (actual - baud as f64).abs() / baud as f64 * 100.0;
        if error_pct > 2.0 {
            return Err(UartError::Inexact { baud, clock_hz, clks_per_bit: cpb, error_pct });
        }
        Ok(UartSpec { clks_per_bit: cpb })
    }
}

/// Verilog of `tern_uart`.
pub fn verilog(u: UartSpec) -> String {
    let cpb = u.clks_per_bit;
    let cw = crate::bits_for(cpb as u64);
    let brk = (BREAK_BITS * cpb) as u64;
    let bw = crate::bits_for(brk);
    let fb = crate::bits_for(FIFO_BYTES as u64); // pointers with a wrap bit
    let ab = fb - 1;
    format!(
        "module tern_uart (
  input  wire clk,
  input  wire rst,
  input  wire uart_rx,
  output reg  uart_tx,
  input  wire uart_cts_n,
  output reg  uart_rts_n,
  output wire brk,
  output reg  link_err,
  output reg  [7:0] rx_data,
  output reg  rx_valid,
  input  wire rx_ready,
  input  wire [7:0] tx_data,
  input  wire tx_valid,
  output wire tx_ready
);
  // {cpb} clock cycles per bit; the pins through two flip-flops (asynchronous to clk)
  reg [2:0] rx_s = 3'b111;
  reg [1:0] cts_s = 2'b11;
  always @(posedge clk) begin rx_s <= {{rx_s[1:0], uart_rx}}; cts_s <= {{cts_s[0], uart_cts_n}}; end
  wire rxd = rx_s[2];

  // break: the line low for {BREAK_BITS} bit times ({brk} cycles); a flip-flop, as it resets
  // the link (a compare here was the head of the UP5K's critical path)
  reg [{bwm}:0] low_cnt = {bw}'d0;
  reg brk_r = 1'b0;
  assign brk = brk_r;
  always @(posedge clk)
    if (rxd) begin
      low_cnt <= {bw}'d0; brk_r <= 1'b0;
    end else if (~brk_r) begin
      low_cnt <= low_cnt + {bw}'d1; brk_r <= low_cnt == {bw}'d{brkm};
    end
  wire clr = rst | brk;

  // rx, 8N1: st 0 idle, 1 in a frame (bit 0 start .. 9 stop), 2 wait for the line high
  reg [1:0] rx_st = 2'd2;
  reg [{cwm}:0] rx_tmr;
  reg [3:0] rx_bit;
  reg [7:0] rx_shf;
  reg push = 1'b0, frame_err = 1'b0;
  always @(posedge clk) begin
    push <= 1'b0; frame_err <= 1'b0;
    if (clr) rx_st <= 2'd2;
    else case (rx_st)
      2'd0: if (~rxd) begin rx_st <= 2'd1; rx_tmr <= {cw}'d{half}; rx_bit <= 4'd0; end
      2'd1: if (rx_tmr == {cw}'d0) begin
          rx_tmr <= {cw}'d{cpbm};
          rx_bit <= rx_bit + 4'd1;
          if (rx_bit == 4'd0) begin if (rxd) rx_st <= 2'd0; end  // a glitch, not a start bit
          else if (rx_bit == 4'd9) begin
            if (rxd) begin push <= 1'b1; rx_st <= 2'd0; end
            else begin frame_err <= 1'b1; rx_st <= 2'd2; end  // a bad stop bit (or a break)
          end else rx_shf <= {{rxd, rx_shf[7:1]}};
        end else rx_tmr <= rx_tmr - {cw}'d1;
      default: if (rxd) rx_st <= 2'd0;
    endcase
  end

  // the FIFO: one block RAM, written by rx, read into the rx_data register. Its fill level is
  // a counter and `ne` (not empty) and `full` flip-flops, so a pop depends on flip-flops and
  // the board's `rx_ready` alone (a pointer compare there, then the next level's compares,
  // were the UP5K's critical path).
  (* no_rw_check *) reg [7:0] fifo [0:{fdm}];
  reg [{abm}:0] wp = {ab}'d0, rp = {ab}'d0;
  reg [{fbm}:0] fill = {fb}'d0;
  reg ne = 1'b0, full = 1'b0;
  wire push_ok = push & ~full;
  wire pop = ne & (~rx_valid | rx_ready) & ~link_err;
  wire [{fbm}:0] fill_d = fill + {{{{{fbm}{{pop & ~push_ok}}}}, pop ^ push_ok}};  // +1, -1 or 0
  initial begin uart_rts_n = 1'b1; link_err = 1'b0; rx_valid = 1'b0; end
  always @(posedge clk) begin
    if (push_ok) fifo[wp] <= rx_shf;
    if (pop) rx_data <= fifo[rp];
    if (clr) begin
      wp <= {ab}'d0; rp <= {ab}'d0; fill <= {fb}'d0; ne <= 1'b0; full <= 1'b0; rx_valid <= 1'b0;
    end else begin
      if (push_ok) wp <= wp + {ab}'d1;
      if (pop) rp <= rp + {ab}'d1;
      // the flags from the present level and the pop, not from `fill_d` (an adder, then a compare)
      fill <= fill_d;
      ne <= push_ok | (pop ? fill != {fb}'d1 : ne);
      full <= ~pop & (full | (push_ok & fill == {fb}'d{fdm}));
      if (pop) rx_valid <= 1'b1; else if (rx_ready) rx_valid <= 1'b0;
    end
    // a break's own bad stop bit comes before brk, which clears it
    if (clr) link_err <= 1'b0;
    else if ((push & full) | frame_err) link_err <= 1'b1;
    uart_rts_n <= clr | (fill >= {fb}'d{stop_at});  // a cycle late: the margin covers it
  end

  // tx, 8N1. The board's byte is taken into `tx_hold` (its enable one LUT after the board's
  // `tx_valid`; `tx_ready` a flip-flop), and the shifter starts from there when it is idle and
  // the host's uart_cts_n is low: no path runs from the board's transmit logic into the
  // shifter (one did, the UP5K's critical path).
  reg [7:0] tx_hold;
  reg [8:0] tx_shf;
  reg [3:0] tx_cnt;
  reg [{cwm}:0] tx_tmr;
  reg tx_busy = 1'b0, tx_full = 1'b0, tx_rdy = 1'b0;
  initial uart_tx = 1'b1;
  assign tx_ready = tx_rdy;
  wire tx_take = tx_valid & tx_rdy;
  wire tx_start = ~tx_busy & tx_full & ~cts_s[1];
  wire tx_full_d = tx_take | (tx_full & ~tx_start);
  always @(posedge clk) begin
    if (tx_take) tx_hold <= tx_data;
    tx_full <= ~clr & tx_full_d;
    tx_rdy <= ~clr & ~tx_full_d;
  end
  always @(posedge clk)
    if (clr) begin
      tx_busy <= 1'b0; uart_tx <= 1'b1;
    end else if (~tx_busy) begin
      if (tx_start) begin
        uart_tx <= 1'b0; tx_shf <= {{1'b1, tx_hold}}; tx_cnt <= 4'd0; tx_tmr <= {cw}'d{cpbm}; tx_busy <= 1'b1;
      end
    end else if (tx_tmr != {cw}'d0) tx_tmr <= tx_tmr - {cw}'d1;
    else if (tx_cnt == 4'd9) tx_busy <= 1'b0;  // the stop bit has had its time
    else begin
      uart_tx <= tx_shf[0]; tx_shf <= {{1'b1, tx_shf[8:1]}}; tx_cnt <= tx_cnt + 4'd1; tx_tmr <= {cw}'d{cpbm};
    end
endmodule
",
        bwm = bw - 1,
        brkm = brk - 1,
        cwm = cw - 1,
        half = cpb / 2 - 1,
        cpbm = cpb - 1,
        fdm = FIFO_BYTES - 1,
        fbm = fb - 1,
        abm = ab - 1,
        stop_at = FIFO_BYTES - FIFO_MARGIN,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baud_divider_is_checked() {
        assert_eq!(UartSpec::for_baud(50_000_000, 1_000_000), Ok(UartSpec { clks_per_bit: 50 }));
        assert_eq!(UartSpec::for_baud(12_000_000, 3_000_000), Ok(UartSpec { clks_per_bit: 4 }));
        assert_eq!(
            UartSpec::for_baud(12_000_000, 6_000_000).unwrap_err().to_string(),
            "a UART needs at least 4 clock cycles per bit, got 2 (12000000 Hz / 6000000 baud)"
        );
        // 50 MHz / 3 Mbaud = 16.67: 17 gives 2.94 Mbaud, 1.96% off, accepted; 12 MHz / 921600 = 13.02
        assert_eq!(UartSpec::for_baud(50_000_000, 3_000_000), Ok(UartSpec { clks_per_bit: 17 }));
        assert!(UartSpec::for_baud(12_000_000, 921_600).is_ok());
        let e = UartSpec::for_baud(12_000_000, 2_200_000).unwrap_err();
        assert!(matches!(e, UartError::Inexact { clks_per_bit: 5, .. }), "{e}");
        assert_eq!(UartSpec::for_baud(1, 0), Err(UartError::ZeroBaud));
        assert_eq!(UartSpec::new(3).unwrap_err().to_string(), "a UART needs at least 4 clock cycles per bit, got 3");
    }

    #[test]
    fn widths_follow_the_divider() {
        let v = verilog(UartSpec { clks_per_bit: 50 });
        // 20 bit times of 50 cycles, and the FIFO's stop mark 32 bytes before full
        assert!(v.contains("brk_r <= low_cnt == 10'd999;"), "{v}");
        assert!(v.contains("uart_rts_n <= clr | (fill >= 10'd480);"), "{v}");
        assert!(v.contains("rx_tmr <= 6'd24;") && v.contains("tx_tmr <= 6'd49;"), "{v}");
        assert!(v.contains("reg [7:0] fifo [0:511];"));
    }
}
