//! `tern_pll`: the board's clock made from its oscillator, so that a bitstream runs at the
//! clock its timing report was made for (`tern synth --pll`).
//!
//! ```text
//!  clk (oscillator pin) --> SB_PLL40_PAD | SB_PLL40_CORE | EHXPLLL --> clk_pll (global) --> the board
//!                               in / R x F / Q                  \---> lock --> the board's reset
//! ```
//! - The output is the fastest the PLL can make that is not above the requested clock, so the
//!   timing constraint nextpnr checks is the clock the board really gets.
//! - Dividers are chosen as the vendors' tools choose them: `icepll` (iCE40, simple feedback)
//!   and `ecppll` (ECP5, feedback from CLKOP), searched in their order, the first exact hit
//!   kept (ECP5: the VCO nearest 600 MHz among equal outputs). `tests/it/synth.rs` runs both
//!   tools on the chosen frequencies and compares the dividers.
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
    #[error(
        "no {kind:?} setting makes {max_mhz} MHz or less from {in_mhz} MHz (outputs range from {min_out_mhz} MHz up): ask for a faster clock"
    )]
    TooSlow { kind: PllKind, in_mhz: f64, max_mhz: f64, min_out_mhz: f64 },
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
    /// The fastest setting of `kind` whose output from `in_hz` is at most `max_hz`.
    pub fn fastest_at_most(kind: PllKind, in_hz: u64, max_hz: u64) -> Result<PllSpec, PllError> {
        let mhz = |hz: u64| hz as f64 / 1e6;
        let fin = mhz(in_hz);
        let within = |x: f64, (lo, hi): (f64, f64)| x >= lo && x <= hi;
        // out = in_hz * num / den, compared exactly: out <= max  <=>  in_hz * num <= max_hz * den
        let mut best: Option<(PllDividers, u64, u64, f64)> = None;
        let mut consider = |div: PllDividers, num: u64, den: u64, vco: f64| {
            if (in_hz as u128) * (num as u128) > (max_hz as u128) * (den as u128) {
                return;
            }
            let better = match best {
                None => true,
                Some((_, bn, bd, bvco)) => {
                    let (l, r) = ((num as u128) * (bd as u128), (bn as u128) * (den as u128));
                    l > r || (l == r && kind == PllKind::Ecp5 && (vco - 600.0).abs() < (bvco - 600.0).abs())
                }
            };
            if better {
                best = Some((div, num, den, vco));
            }
        };
        match kind {
            PllKind::Ice40Pad | PllKind::Ice40Core => {
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
                            if !within(vco / (1u32 << divq) as f64, ICE40_OUT) {
                                continue;
                            }
                            let filter_range = ice40_filter_range(pfd);
                            let div = PllDividers::Ice40 { divr, divf, divq, filter_range };
                            consider(div, (divf + 1) as u64, ((divr + 1) << divq) as u64, vco);
                        }
                    }
                }
            }
            PllKind::Ecp5 => {
                for clki_div in 1..=128u32 {
                    let pfd = fin / clki_div as f64;
                    if !within(pfd, ECP5_PFD) {
                        continue;
                    }
                    for clkfb_div in 1..=80u32 {
                        let out = pfd * clkfb_div as f64;
                        if !within(out, ECP5_OUT) {
                            continue;
                        }
                        for clkop_div in 1..=128u32 {
                            let vco = out * clkop_div as f64;
                            if !within(vco, ECP5_VCO) {
                                continue;
                            }
                            let div = PllDividers::Ecp5 { clki_div, clkfb_div, clkop_div };
                            consider(div, clkfb_div as u64, clki_div as u64, vco);
                        }
                    }
                }
            }
        }
        let min_out = match kind {
            PllKind::Ecp5 => ECP5_OUT.0,
            _ => ICE40_OUT.0,
        };
        best.map(|(div, ..)| PllSpec { kind, in_hz, div }).ok_or(PllError::TooSlow {
            kind,
            in_mhz: fin,
            max_mhz: mhz(max_hz),
            min_out_mhz: min_out,
        })
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
        match self.kind {
            PllKind::Ice40Pad => "SB_PLL40_PAD",
            PllKind::Ice40Core => "SB_PLL40_CORE",
            PllKind::Ecp5 => "EHXPLLL",
        }
    }

    /// One line for reports: primitive, dividers, VCO.
    pub fn describe(&self) -> String {
        let fin = self.in_hz as f64 / 1e6;
        let dividers = match self.div {
            PllDividers::Ice40 { divr, divf, divq, filter_range } => {
                format!("DIVR {divr}, DIVF {divf}, DIVQ {divq}, FILTER_RANGE {filter_range}")
            }
            PllDividers::Ecp5 { clki_div, clkfb_div, clkop_div } => {
                format!("CLKI_DIV {clki_div}, CLKFB_DIV {clkfb_div}, CLKOP_DIV {clkop_div}")
            }
        };
        format!("{} {fin} MHz -> {:.3} MHz ({dividers}; VCO {:.1} MHz)", self.primitive(), self.out_mhz(), self.vco_mhz())
    }
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
            // zero phase: half the output divider, as ecppll writes it (it truncates a float, so
            // it is one lower at some dividers, e.g. 6 -> 2); the feedback from CLKOP takes this
            // shift inside the loop, so the output stays aligned to the input either way
            cphase = clkop_div / 2,
        ),
    };
    head + &body + "endmodule\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ice40(max_mhz: f64) -> PllSpec {
        PllSpec::fastest_at_most(PllKind::Ice40Pad, 12_000_000, (max_mhz * 1e6) as u64).unwrap()
    }

    #[test]
    fn ice40_settings_are_icepll_s() {
        // icepll -i 12 -o 49.5 / -o 120: DIVR 0, DIVF 65 / 79, DIVQ 4 / 3, FILTER_RANGE 1
        assert_eq!(ice40(50.0).div, PllDividers::Ice40 { divr: 0, divf: 65, divq: 4, filter_range: 1 });
        assert_eq!(ice40(50.0).out_mhz(), 49.5);
        assert_eq!(ice40(120.0).div, PllDividers::Ice40 { divr: 0, divf: 79, divq: 3, filter_range: 1 });
        assert_eq!(ice40(120.0).out_hz(), 120_000_000);
        assert_eq!(ice40(48.0).out_mhz(), 48.0);
    }

    #[test]
    fn never_above_the_request_and_nothing_faster_fits() {
        // from 12 MHz the PFD allows DIVR 0 only, so outputs are 12 x (DIVF + 1) / 2^DIVQ: steps
        // of 0.75 MHz up to 66 MHz (DIVQ >= 4), 1.5 up to 133, 3 above
        for (max, step) in
            [(17.0, 0.75), (33.3, 0.75), (49.99, 0.75), (50.0, 0.75), (53.75, 0.75), (99.0, 1.5), (134.52, 3.0), (250.0, 3.0)]
        {
            let p = ice40(max);
            assert!(p.out_mhz() <= max && max - p.out_mhz() < step, "{max}: {}", p.describe());
        }
        let e = PllSpec::fastest_at_most(PllKind::Ecp5, 25_000_000, 125_000_000).unwrap();
        // ecppll -i 25 -o 125: CLKI_DIV 1, CLKFB_DIV 5, CLKOP_DIV 5 (VCO 625)
        assert_eq!(e.div, PllDividers::Ecp5 { clki_div: 1, clkfb_div: 5, clkop_div: 5 });
        assert_eq!((e.out_hz(), e.vco_mhz()), (125_000_000, 625.0));
        let e = PllSpec::fastest_at_most(PllKind::Ecp5, 25_000_000, 133_000_000).unwrap();
        assert!(e.out_mhz() <= 133.0 && e.out_mhz() > 132.0, "{}", e.describe());
    }

    #[test]
    fn a_clock_below_the_pll_range_is_refused() {
        let e = PllSpec::fastest_at_most(PllKind::Ice40Core, 12_000_000, 12_000_000).unwrap_err();
        assert_eq!(
            e.to_string(),
            "no Ice40Core setting makes 12 MHz or less from 12 MHz (outputs range from 16 MHz up): ask for a faster clock"
        );
    }

    #[test]
    fn verilog_names_the_primitive_and_its_dividers() {
        let v = verilog(&ice40(50.0));
        assert!(v.contains("SB_PLL40_PAD #(") && v.contains(".DIVF(7'd65)") && v.contains(".PACKAGEPIN(osc)"), "{v}");
        let core = PllSpec { kind: PllKind::Ice40Core, ..ice40(120.0) };
        let v = verilog(&core);
        assert!(v.contains("SB_PLL40_CORE #(") && v.contains(".REFERENCECLK(osc)") && v.contains("GENCLK"), "{v}");
        let e = PllSpec::fastest_at_most(PllKind::Ecp5, 25_000_000, 125_000_000).unwrap();
        let v = verilog(&e);
        assert!(v.contains(".CLKOP_DIV(5), .CLKOP_CPHASE(2)") && v.contains("FREQUENCY_PIN_CLKOP=\"125\""), "{v}");
    }
}
