//! Choosing the next token: greedy (argmax, ties to the lowest id, like `numpy.argmax`), or
//! temperature sampling restricted to the top k, from a seeded generator (same seed, same text).

use tern_arch::rng::SplitMix64;

/// A seeded sampler. `temperature <= 0` is greedy.
#[derive(Clone, Debug)]
pub struct Sampler {
    pub temperature: f32,
    /// 0: no restriction.
    pub top_k: usize,
    rng: SplitMix64,
}

/// Index of the largest logit; the lowest index wins ties (NaN never wins).
pub fn argmax(logits: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in logits.iter().enumerate() {
        if v > logits[best] || logits[best].is_nan() && !v.is_nan() {
            best = i;
        }
    }
    best as u32
}

impl Sampler {
    pub fn greedy() -> Sampler {
        Sampler { temperature: 0.0, top_k: 0, rng: SplitMix64::new(0) }
    }

    pub fn new(temperature: f32, top_k: usize, seed: u64) -> Sampler {
        Sampler { temperature, top_k, rng: SplitMix64::new(seed) }
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature.is_nan() || self.temperature <= 0.0 || self.top_k == 1
    }

    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        if self.is_greedy() {
            return argmax(logits);
        }
        let mut idx: Vec<usize> = (0..logits.len()).filter(|&i| !logits[i].is_nan()).collect();
        // descending by logit, ties to the lower id (stable sort)
        idx.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
        if self.top_k > 0 {
            idx.truncate(self.top_k);
        }
        let Some(&first) = idx.first() else { return 0 };
        let mx = logits[first] as f64;
        let t = self.temperature as f64;
        let w: Vec<f64> = idx.iter().map(|&i| ((logits[i] as f64 - mx) / t).exp()).collect();
        let total: f64 = w.iter().sum();
        let mut u = self.rng.next_f64() * total;
        for (k, &wi) in w.iter().enumerate() {
            if u < wi {
                return idx[k] as u32;
            }
            u -= wi;
        }
        idx[idx.len() - 1] as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn argmax_ties_to_lowest() {
        assert_eq!(argmax(&[1.0, 3.0, 3.0, -1.0]), 1);
        assert_eq!(argmax(&[f32::NAN, 0.5]), 1);
    }
    #[test]
    fn top_k_one_is_greedy_and_seeded_is_reproducible() {
        let l = [0.1f32, 2.0, 1.9, -3.0];
        assert_eq!(Sampler::new(1.0, 1, 5).sample(&l), 1);
        let a: Vec<u32> = {
            let mut s = Sampler::new(1.0, 0, 42);
            (0..50).map(|_| s.sample(&l)).collect()
        };
        let b: Vec<u32> = {
            let mut s = Sampler::new(1.0, 0, 42);
            (0..50).map(|_| s.sample(&l)).collect()
        };
        assert_eq!(a, b);
        assert!(a.contains(&1) && a.contains(&2), "both likely tokens drawn: {a:?}");
        let mut s = Sampler::new(1.0, 2, 7);
        assert!((0..200).all(|_| s.sample(&l) <= 2 && s.sample(&l) >= 1));
    }
}
