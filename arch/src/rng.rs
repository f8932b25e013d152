//! splitmix64: the one deterministic stream behind random layers, random models, the sampler and
//! tests. Its exact sequence is part of recorded results (`Model::random`, seeded sampling), so it
//! must not change.

/// splitmix64 (Steele, Lea, Flood 2014): each draw adds the golden-ratio increment and mixes.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_reference_sequence() {
        // splitmix64.c (Vigna) from seed 1234567: 6457827717110365317, 3203168211198807973
        let mut r = SplitMix64::new(1234567);
        assert_eq!((r.next_u64(), r.next_u64()), (6457827717110365317, 3203168211198807973));
    }
}
