//! Quantizers: ternary weights (absmean, absmax, median threshold) and per-token int8
//! activations (absmax), as BitNet b1.58 defines them.
//!
//! Rounding is half-to-even, like `torch.round`, so the host reproduces PyTorch exactly.

/// A quantized ternary tensor: `w ~= q / scale`... (we store `scale` as the multiplier that
/// maps float weights to the ternary grid, the BitNet training convention: q = round(w * s)).
#[derive(Clone, Debug, PartialEq)]
pub struct Ternary {
    pub q: Vec<i8>,
    /// Dequantize with `q / scale`.
    pub scale: f32,
}

const EPS: f32 = 1e-5;

fn round_clamp(v: f32, lo: f32, hi: f32) -> f32 {
    v.round_ties_even().clamp(lo, hi)
}

/// BitNet b1.58: s = 1 / mean|W|, q = clamp(round(W * s), -1, 1).
pub fn absmean(w: &[f32]) -> Ternary {
    let mean = w.iter().map(|v| v.abs()).sum::<f32>() / w.len().max(1) as f32;
    let s = 1.0 / mean.max(EPS);
    Ternary { q: w.iter().map(|&v| round_clamp(v * s, -1.0, 1.0) as i8).collect(), scale: s }
}

/// Absmax: s = 1 / max|W|, q = round(W * s): only weights above half the maximum survive.
pub fn absmax(w: &[f32]) -> Ternary {
    let max = w.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s = 1.0 / max.max(EPS);
    Ternary { q: w.iter().map(|&v| round_clamp(v * s, -1.0, 1.0) as i8).collect(), scale: s }
}

/// Median threshold: |w| > median(|W|) -> sign(w), else 0; the scale is 1 / mean of the
/// surviving magnitudes (least-squares optimal for the kept set).
pub fn median_threshold(w: &[f32]) -> Ternary {
    let mut mags: Vec<f32> = w.iter().map(|v| v.abs()).collect();
    mags.sort_by(|a, b| a.total_cmp(b));
    let n = mags.len();
    let median = if n == 0 {
        0.0
    } else if n % 2 == 1 {
        mags[n / 2]
    } else {
        0.5 * (mags[n / 2 - 1] + mags[n / 2])
    };
    let q: Vec<i8> = w.iter().map(|&v| if v.abs() > median { v.signum() as i8 } else { 0 }).collect();
    let kept: Vec<f32> = w.iter().filter(|v| v.abs() > median).map(|v| v.abs()).collect();
    let mean = kept.iter().sum::<f32>() / kept.len().max(1) as f32;
    Ternary { q, scale: 1.0 / mean.max(EPS) }
}

/// Per-token int8 absmax: s = 127 / max|x|, q = clamp(round(x * s), -128, 127).
pub fn act_int8(x: &[f32]) -> (Vec<i8>, f32) {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s = 127.0 / max.max(EPS);
    (x.iter().map(|&v| round_clamp(v * s, -128.0, 127.0) as i8).collect(), s)
}

/// Same as `act_int8` into a caller's buffer (the host's hot path).
pub fn act_int8_into(x: &[f32], q: &mut [i8]) -> f32 {
    let max = x.iter().fold(0f32, |m, v| m.max(v.abs()));
    let s = 127.0 / max.max(EPS);
    for (d, &v) in q.iter_mut().zip(x) {
        *d = round_clamp(v * s, -128.0, 127.0) as i8;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    const W: [f32; 6] = [0.8, -0.3, 0.05, -0.7, 0.2, -0.95];

    #[test]
    fn absmax_by_hand() {
        assert_eq!(absmax(&W).q, vec![1, 0, 0, -1, 0, -1]);
    }
    #[test]
    fn absmean_by_hand() {
        // mean|W| = 3.0 / 6 = 0.5, s = 2: [1.6, -0.6, 0.1, -1.4, 0.4, -1.9] -> [1, -1, 0, -1, 0, -1]
        let t = absmean(&W);
        assert_eq!(t.q, vec![1, -1, 0, -1, 0, -1]);
        assert!((t.scale - 2.0).abs() < 1e-6);
    }
    #[test]
    fn median_by_hand() {
        // |W| sorted: .05 .2 .3 .7 .8 .95 -> median 0.5
        assert_eq!(median_threshold(&W).q, vec![1, 0, 0, -1, 0, -1]);
    }
    #[test]
    fn act_by_hand_half_to_even() {
        // s = 127 / 2 = 63.5: 1.0 -> 63.5 -> 64 (even), -2 -> -127, 0.5 -> 31.75 -> 32
        let (q, s) = act_int8(&[1.0, -2.0, 0.5, 0.0]);
        assert_eq!(s, 63.5);
        assert_eq!(q, vec![64, -127, 32, 0]);
        let (q, _) = act_int8(&[0.0; 3]);
        assert_eq!(q, vec![0, 0, 0]);
    }
}
