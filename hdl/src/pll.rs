//! `tern_pll`: the board's clock made from its oscillator, so that a bitstream runs at the
//! clock its timing report was made for (`tern synth --pll`).
//!
//! ```text
//!  clk (oscillator pin) --> SB_PLL40_PAD | SB_PLL40_CORE | EHXPLLL --> clk_pll (global) --> the board
//!                               in / R x F / Q                  \---> lock --> the board's reset
//! ```
//! - The output is the one nearest the asked clock, as the vendors' tools pick it: `icepll`
//!   (iCE40, simple feedback) and `ecppll` (ECP5, feedback from CLKOP), their dividers searched
//!   in the tools' order within their limits, the first of equally near outputs kept (ECP5:
//!   the VCO nearest 600 MHz). That output, not the asked clock, is what nextpnr must meet,
//!   since it is the clock the board gets. `tests/it/synth.rs` runs both tools on the same
//!   requests and compares the dividers.
//! - `lock` is asynchronous to the output clock; the board's reset synchronizer takes it with
//!   the button (`board`), so the core stays in reset until the clock is stable.

/// Which PLL primitive the board's oscillator pin can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PllKind {
    /// iCE40, the oscillator on the PLL's own input pad (iCEBreaker: pin 35).
    Ice40Pad,
    /// iCE40, the oscillator on a global buffer pin that is not the PLL's pad (HX8K breakout: J3).
    Ice40Core,
    /// ECP5 EHXPLLL (ULX3S: the 25 MHz oscillator on G2).
    Ecp5,
}

/// The dividers of one PLL setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PllDividers {
    /// out = in / (DIVR + 1) x (DIVF + 1) / 2^DIVQ.
    Ice40 { divr: u32, divf: u32, divq: u32, filter_range: u32 },
    /// out = in / CLKI_DIV x CLKFB_DIV; VCO = out x CLKOP_DIV.
    Ecp5 { clki_div: u32, clkfb_div: u32, clkop_div: u32 },
}

/// A PLL setting: what it makes from what.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PllSpec {
    pub kind: PllKind,
    pub in_hz: u64,
    pub div: PllDividers,
}

#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PllError {
    #[error("the {primitive} makes {lo} to {hi} MHz, not {want_mhz} MHz")]
    OutOfRange { primitive: &'static str, want_mhz: f64, lo: f64, hi: f64 },
}

/// iCE40 PLL limits (Lattice iCE40 sysCLOCK PLL guide, as `icepll` applies them), MHz.
const ICE40_PFD: (f64, f64) = (10.0, 133.0);
const ICE40_VCO: (f64, f64) = (533.0, 1066.0);
const ICE40_OUT: (f64, f64) = (16.0, 275.0);
/// ECP5 EHXPLLL limits (as `ecppll` applies them), MHz.
const ECP5_PFD: (f64, f64) = (3.125, 400.0);
const ECP5_VCO: (f64, f64) = (400.0, 800.0);
const ECP5_OUT: (f64, f64) = (10.0, 400.0);

impl PllSpec {
    /// The setting of `kind` whose output from `in_hz` is nearest `want_hz`, refused outside
    /// the PLL's output range.
    pub fn nearest(kind: PllKind, in_hz: u64, want_hz: u64) -> Result<PllSpec, PllError> {
        let fin = in_hz as f64 / 1e6;
        let want_mhz = want_hz as f64 / 1e6;
        let (lo, hi) = if kind == PllKind::Ecp5 { ECP5_OUT } else { ICE40_OUT };
        let primitive = primitive(kind);
        if want_mhz < lo || want_mhz > hi {
            return Err(PllError::OutOfRange { primitive, want_mhz, lo, hi });
        }
        let within = |x: f64, (lo, hi): (f64, f64)| x >= lo && x <= hi;
        let mut best: Option<PllDividers> = None;
        match kind {
            // icepll's search, in its arithmetic (double): the first of equally near outputs
            // wins; outputs outside the datasheet's range are skipped (icepll checks only the
            // request)
            PllKind::Ice40Pad | PllKind::Ice40Core => {
                let mut best_out = 0.0f64;
                for divr in 0..=15u32 {
                    let pfd = fin / (divr + 1) as f64;
                    if !within(pfd, ICE40_PFD) {
                        continue;
                    }
                    for divf in 0..=127u32 {
                        let vco = pfd * (divf + 1) as f64;
                        if !within(vco, ICE40_VCO) {
                            continue;
                        }
                        for divq in 1..=6u32 {
                            let out = vco * 2f64.powi(-(divq as i32));
                            if !within(out, ICE40_OUT) {
                                continue;
                            }
                            if best.is_none() || (out - want_mhz).abs() < (best_out - want_mhz).abs() {
                                best_out = out;
                                best = Some(PllDividers::Ice40 { divr, divf, divq, filter_range: ice40_filter_range(pfd) });
                            }
                        }
                    }
                }
            }
            // ecppll's search, in its arithmetic (float): among equally near outputs the VCO
            // nearest 600 MHz wins
            PllKind::Ecp5 => {
                let (input, output) = (fin as f32, want_mhz as f32);
                let (mut error, mut best_vco) = (f32::MAX, 0.0f32);
                for clki_div in 1..=128u32 {
                    let pfd = input / clki_div as f32;
                    if !within(pfd as f64, ECP5_PFD) {
                        continue;
                    }
                    for clkfb_div in 1..=80u32 {
                        for clkop_div in 1..=128u32 {
                            let (vco, out) = ecp5_vco_out(input, clki_div, clkfb_div, clkop_div);
                            if !within(vco as f64, ECP5_VCO) {
                                continue;
                            }
                            let e = (out - output).abs();
                            if e < error || (e == error && (vco - 600.0).abs() < (best_vco - 600.0).abs()) {
                                (error, best_vco) = (e, vco);
                                best = Some(PllDividers::Ecp5 { clki_div, clkfb_div, clkop_div });
                            }
                        }
                    }
                }
            }
        }
        // every request inside the output range finds a setting from these oscillators
        best.map(|div| PllSpec { kind, in_hz, div }).ok_or(PllError::OutOfRange { primitive, want_mhz, lo, hi })
    }

    /// The output clock (MHz), exact to the dividers.
    pub fn out_mhz(&self) -> f64 {
        let (num, den) = self.ratio();
        self.in_hz as f64 * num as f64 / den as f64 / 1e6
    }

    /// The output clock in Hz, rounded (a UART divider's clock).
    pub fn out_hz(&self) -> u64 {
        let (num, den) = self.ratio();
        (self.in_hz * num + den / 2) / den
    }

    /// The VCO (MHz).
    pub fn vco_mhz(&self) -> f64 {
        let fin = self.in_hz as f64 / 1e6;
        match self.div {
            PllDividers::Ice40 { divr, divf, .. } => fin / (divr + 1) as f64 * (divf + 1) as f64,
            PllDividers::Ecp5 { clkop_div, .. } => self.out_mhz() * clkop_div as f64,
        }
    }

    /// out = in_hz x num / den.
    fn ratio(&self) -> (u64, u64) {
        match self.div {
            PllDividers::Ice40 { divr, divf, divq, .. } => ((divf + 1) as u64, ((divr + 1) << divq) as u64),
            PllDividers::Ecp5 { clki_div, clkfb_div, .. } => (clkfb_div as u64, clki_div as u64),
        }
    }

    /// The primitive's name.
    pub fn primitive(&self) -> &'static str {
        primitive(self.kind)
    }

    /// The primitive's divider parameters, by their names in its Verilog instance.
    pub fn parameters(&self) -> Vec<(&'static str, u32)> {
        match self.div {
            PllDividers::Ice40 { divr, divf, divq, filter_range } => {
                vec![("DIVR", divr), ("DIVF", divf), ("DIVQ", divq), ("FILTER_RANGE", filter_range)]
            }
            PllDividers::Ecp5 { clki_div, clkfb_div, clkop_div } => {
                vec![("CLKI_DIV", clki_div), ("CLKFB_DIV", clkfb_div), ("CLKOP_DIV", clkop_div)]
            }
        }
    }

    /// One line for reports: primitive, dividers, VCO.
    pub fn describe(&self) -> String {
        let fin = self.in_hz as f64 / 1e6;
        let dividers: Vec<String> = self.parameters().iter().map(|(name, v)| format!("{name} {v}")).collect();
        format!("{} {fin} MHz -> {:.3} MHz ({}; VCO {:.1} MHz)", self.primitive(), self.out_mhz(), dividers.join(", "), self.vco_mhz())
    }
}

fn primitive(kind: PllKind) -> &'static str {
    match kind {
        PllKind::Ice40Pad => "SB_PLL40_PAD",
        PllKind::Ice40Core => "SB_PLL40_CORE",
        PllKind::Ecp5 => "EHXPLLL",
    }
}

/// ecppll's VCO and output (MHz) for one setting, in its float arithmetic.
fn ecp5_vco_out(input_mhz: f32, clki_div: u32, clkfb_div: u32, clkop_div: u32) -> (f32, f32) {
    let pfd = input_mhz / clki_div as f32;
    let vco = pfd * clkfb_div as f32 * clkop_div as f32;
    (vco, vco / clkop_div as f32)
}

/// CLKOP_CPHASE as ecppll writes it: half an output period in VCO cycles ("Lattice seems to do
/// this"), truncated from its float arithmetic, so one lower than the divider's half at some
/// dividers (6 -> 2). The feedback from CLKOP takes this shift inside the loop.
fn ecp5_cphase(in_hz: u64, clki_div: u32, clkfb_div: u32, clkop_div: u32) -> u32 {
    let (vco, out) = ecp5_vco_out((in_hz as f64 / 1e6) as f32, clki_div, clkfb_div, clkop_div);
    let half_period_us = (1.0 / (out as f64 * 1e6) * 0.5) as f32;
    (half_period_us as f64 * (vco as f64 * 1e6)) as u32
}

/// The loop filter setting for a phase detector frequency (`icepll`'s table).
fn ice40_filter_range(pfd_mhz: f64) -> u32 {
    match pfd_mhz {
        f if f < 17.0 => 1,
        f if f < 26.0 => 2,
        f if f < 44.0 => 3,
        f if f < 66.0 => 4,
        f if f < 101.0 => 5,
        _ => 6,
    }
}

/// Verilog of `tern_pll` (`osc` in, `clk` and `lock` out).
pub fn verilog(p: &PllSpec) -> String {
    let head = format!("// {}\nmodule tern_pll (\n  input  wire osc,\n  output wire clk,\n  output wire lock\n);\n", p.describe());
    let body = match p.div {
        PllDividers::Ice40 { divr, divf, divq, filter_range } => {
            let input = if p.kind == PllKind::Ice40Pad { ".PACKAGEPIN(osc)" } else { ".REFERENCECLK(osc)" };
            let select = if p.kind == PllKind::Ice40Core { "    .PLLOUT_SELECT(\"GENCLK\"),\n" } else { "" };
            format!(
                "  {prim} #(
    .FEEDBACK_PATH(\"SIMPLE\"),
{select}    .DIVR(4'd{divr}),
    .DIVF(7'd{divf}),
    .DIVQ(3'd{divq}),
    .FILTER_RANGE(3'd{filter_range})
  ) pll (
    {input}, .PLLOUTGLOBAL(clk), .LOCK(lock), .RESETB(1'b1), .BYPASS(1'b0)
  );
",
                prim = p.primitive()
            )
        }
        PllDividers::Ecp5 { clki_div, clkfb_div, clkop_div } => format!(
            "  (* FREQUENCY_PIN_CLKI=\"{fin}\" *)
  (* FREQUENCY_PIN_CLKOP=\"{fout}\" *)
  (* ICP_CURRENT=\"12\" *) (* LPF_RESISTOR=\"8\" *) (* MFG_ENABLE_FILTEROPAMP=\"1\" *) (* MFG_GMCREF_SEL=\"2\" *)
  EHXPLLL #(
    .PLLRST_ENA(\"DISABLED\"), .INTFB_WAKE(\"DISABLED\"), .STDBY_ENABLE(\"DISABLED\"), .DPHASE_SOURCE(\"DISABLED\"),
    .OUTDIVIDER_MUXA(\"DIVA\"), .OUTDIVIDER_MUXB(\"DIVB\"), .OUTDIVIDER_MUXC(\"DIVC\"), .OUTDIVIDER_MUXD(\"DIVD\"),
    .CLKI_DIV({clki_div}), .CLKOP_ENABLE(\"ENABLED\"), .CLKOP_DIV({clkop_div}), .CLKOP_CPHASE({cphase}), .CLKOP_FPHASE(0),
    .FEEDBK_PATH(\"CLKOP\"), .CLKFB_DIV({clkfb_div})
  ) pll (
    .RST(1'b0), .STDBY(1'b0), .CLKI(osc), .CLKOP(clk), .CLKFB(clk), .CLKINTFB(),
    .PHASESEL0(1'b0), .PHASESEL1(1'b0), .PHASEDIR(1'b1), .PHASESTEP(1'b1), .PHASELOADREG(1'b1),
    .PLLWAKESYNC(1'b0), .ENCLKOP(1'b0), .LOCK(lock)
  );
",
            fin = p.in_hz as f64 / 1e6,
            fout = p.out_mhz(),
            cphase = ecp5_cphase(p.in_hz, clki_div, clkfb_div, clkop_div),
        ),
    };
    head + &body + "endmodule\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ice40(mhz: f64) -> PllSpec {
        PllSpec::nearest(PllKind::Ice40Pad, 12_000_000, (mhz * 1e6) as u64).unwrap()
    }

    #[test]
    fn ice40_settings_are_icepll_s() {
        // icepll -i 12 -o 50 / -o 120: DIVR 0, DIVF 66 / 79, DIVQ 4 / 3, FILTER_RANGE 1
        assert_eq!(ice40(50.0).div, PllDividers::Ice40 { divr: 0, divf: 66, divq: 4, filter_range: 1 });
        assert_eq!(ice40(50.0).out_mhz(), 50.25);
        assert_eq!(ice40(49.5).out_mhz(), 49.5);
        assert_eq!(ice40(120.0).div, PllDividers::Ice40 { divr: 0, divf: 79, divq: 3, filter_range: 1 });
        assert_eq!(ice40(120.0).out_hz(), 120_000_000);
    }

    #[test]
    fn the_nearest_output_is_taken() {
        // from 12 MHz the PFD allows DIVR 0 only, so outputs are 12 x (DIVF + 1) / 2^DIVQ: steps
        // of 0.75 MHz up to 66 MHz (DIVQ >= 4), 1.5 up to 133, 3 above; none is further than half
        for (want, step) in [(17.0, 0.75), (33.3, 0.75), (49.99, 0.75), (53.75, 0.75), (99.0, 1.5), (134.52, 3.0), (250.0, 3.0)] {
            let p = ice40(want);
            assert!((p.out_mhz() - want).abs() <= step / 2.0, "{want}: {}", p.describe());
        }
        let e = PllSpec::nearest(PllKind::Ecp5, 25_000_000, 125_000_000).unwrap();
        // ecppll -i 25 -o 125: CLKI_DIV 1, CLKFB_DIV 5, CLKOP_DIV 5 (VCO 625)
        assert_eq!(e.div, PllDividers::Ecp5 { clki_div: 1, clkfb_div: 5, clkop_div: 5 });
        assert_eq!((e.out_hz(), e.vco_mhz()), (125_000_000, 625.0));
        let e = PllSpec::nearest(PllKind::Ecp5, 25_000_000, 133_000_000).unwrap();
        assert!((e.out_mhz() - 133.0).abs() < 0.5, "{}", e.describe());
    }

    #[test]
    fn a_clock_outside_the_pll_range_is_refused() {
        let e = PllSpec::nearest(PllKind::Ice40Core, 12_000_000, 12_000_000).unwrap_err();
        assert_eq!(e.to_string(), "the SB_PLL40_CORE makes 16 to 275 MHz, not 12 MHz");
        let e = PllSpec::nearest(PllKind::Ecp5, 25_000_000, 500_000_000).unwrap_err();
        assert_eq!(e.to_string(), "the EHXPLLL makes 10 to 400 MHz, not 500 MHz");
    }

    #[test]
    fn verilog_names_the_primitive_and_its_dividers() {
        let v = verilog(&ice40(50.0));
        assert!(v.contains("SB_PLL40_PAD #(") && v.contains(".DIVF(7'd66)") && v.contains(".PACKAGEPIN(osc)"), "{v}");
        let core = PllSpec { kind: PllKind::Ice40Core, ..ice40(120.0) };
        let v = verilog(&core);
        assert!(v.contains("SB_PLL40_CORE #(") && v.contains(".REFERENCECLK(osc)") && v.contains("GENCLK"), "{v}");
        let e = PllSpec::nearest(PllKind::Ecp5, 25_000_000, 125_000_000).unwrap();
        let v = verilog(&e);
        assert!(v.contains(".CLKOP_DIV(5), .CLKOP_CPHASE(2)") && v.contains("FREQUENCY_PIN_CLKOP=\"125\""), "{v}");
    }
}
