//! Host-stream stall patterns shared by every backend's test bench.
//!
//! Whether the host offers a beat, or accepts a result, on cycle `c` is a pure function of
//! (seed, c), so the golden model and the Verilator bench see exactly the same stalls without
//! sharing state. A source that has offered a beat keeps it valid until it is taken (AXI rule).

/// Stall knobs: probabilities that the host withholds an input beat / refuses an output beat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stalls {
    pub seed: u64,
    /// P(no new input offered this cycle) in units of 1/2^16.
    pub in_stall: u32,
    /// P(out_ready low this cycle) in units of 1/2^16.
    pub out_stall: u32,
}

/// The draw's constants: `z = seed ^ cycle * C0 ^ stream * C1`, then
/// `z = (z ^ z >> S0) * C2`, `z = (z ^ z >> S1) * C3`, `z ^= z >> S2` (the splitmix64
/// finaliser), its low 16 bits. Public so that a testbench can draw the same pattern
/// (`tern_host::testbench`, in Verilog).
pub const DRAW_MUL: [u64; 4] = [0x9E37_79B9_7F4A_7C15, 0xD1B5_4A32_D192_ED03, 0xBF58_476D_1CE4_E5B9, 0x94D0_49BB_1331_11EB];
pub const DRAW_SHIFT: [u32; 3] = [30, 27, 31];
/// The draw's stream of input offers and of output readiness.
pub const IN_STREAM: u64 = 1;
pub const OUT_STREAM: u64 = 2;

/// A stall probability outside [0, 1).
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[error("the {which} stall probability must lie in [0, 1), not {p}")]
pub struct StallError {
    pub which: &'static str,
    pub p: f64,
}

impl Stalls {
    pub const NONE: Stalls = Stalls { seed: 0, in_stall: 0, out_stall: 0 };

    /// Probabilities outside [0, 1] are clamped (tests pass literals); `try_new` refuses them.
    pub fn new(seed: u64, p_in: f64, p_out: f64) -> Stalls {
        let q = |p: f64| (p.clamp(0.0, 1.0) * 65536.0).round().min(65535.0) as u32;
        Stalls { seed, in_stall: q(p_in), out_stall: q(p_out) }
    }

    /// `new` for probabilities from outside (a command line): each must lie in [0, 1), since a
    /// stream stalled on every cycle never moves.
    pub fn try_new(seed: u64, p_in: f64, p_out: f64) -> Result<Stalls, StallError> {
        for (which, p) in [("input", p_in), ("output", p_out)] {
            if !(0.0..1.0).contains(&p) {
                return Err(StallError { which, p });
            }
        }
        Ok(Stalls::new(seed, p_in, p_out))
    }

    pub fn is_none(&self) -> bool {
        self.in_stall == 0 && self.out_stall == 0
    }

    fn draw(&self, cycle: u64, stream: u64) -> u32 {
        // splitmix64 finaliser of (seed, cycle, stream)
        let mut z = self.seed ^ cycle.wrapping_mul(DRAW_MUL[0]) ^ stream.wrapping_mul(DRAW_MUL[1]);
        z = (z ^ (z >> DRAW_SHIFT[0])).wrapping_mul(DRAW_MUL[2]);
        z = (z ^ (z >> DRAW_SHIFT[1])).wrapping_mul(DRAW_MUL[3]);
        z ^= z >> DRAW_SHIFT[2];
        (z & 0xFFFF) as u32
    }

    /// The host would offer a new beat on this cycle (if it has one).
    #[inline]
    pub fn in_offer(&self, cycle: u64) -> bool {
        self.in_stall == 0 || self.draw(cycle, IN_STREAM) >= self.in_stall
    }

    /// The host accepts an output beat on this cycle.
    #[inline]
    pub fn out_ready(&self, cycle: u64) -> bool {
        self.out_stall == 0 || self.draw(cycle, OUT_STREAM) >= self.out_stall
    }

    /// Bit masks for `n` cycles from `start` (bit i = cycle start+i), for the Verilator bench.
    pub fn masks(&self, start: u64, n: usize) -> (Vec<u64>, Vec<u64>) {
        let words = n.div_ceil(64);
        let (mut a, mut b) = (vec![0u64; words], vec![0u64; words]);
        for i in 0..n {
            let c = start + i as u64;
            a[i / 64] |= u64::from(self.in_offer(c)) << (i % 64);
            b[i / 64] |= u64::from(self.out_ready(c)) << (i % 64);
        }
        (a, b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_new_refuses_what_new_would_clamp() {
        assert_eq!(Stalls::try_new(1, 0.5, 0.0), Ok(Stalls::new(1, 0.5, 0.0)));
        assert_eq!(Stalls::try_new(1, 0.0, 1.0).unwrap_err().to_string(), "the output stall probability must lie in [0, 1), not 1");
        assert_eq!(Stalls::try_new(1, -0.1, 0.0).unwrap_err().to_string(), "the input stall probability must lie in [0, 1), not -0.1");
        assert!(Stalls::try_new(1, f64::NAN, 0.0).is_err());
    }
    #[test]
    fn probabilities_are_roughly_right() {
        let s = Stalls::new(3, 0.25, 0.5);
        let n = 100_000u64;
        let offers = (0..n).filter(|&c| s.in_offer(c)).count() as f64 / n as f64;
        let readies = (0..n).filter(|&c| s.out_ready(c)).count() as f64 / n as f64;
        assert!((offers - 0.75).abs() < 0.01, "{offers}");
        assert!((readies - 0.5).abs() < 0.01, "{readies}");
        assert!((0..1000).all(|c| Stalls::NONE.in_offer(c) && Stalls::NONE.out_ready(c)));
    }
}
