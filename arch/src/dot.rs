//! The golden model's memories and its ternary dot products.
//!
//! A weight word is kept as two lane masks, `pos` (code 2, or the illegal code 3, which the
//! RTL's recode also reads as +1) and `neg` (code 0): still 2 bits per weight, like the banks.
//! An activation word is kept as its int8s, padded with zeros to whole 16-byte blocks. A row's
//! dot product uses
//!
//! ```text
//!   sum_j w_j * a_j  =  sum_j (w_j + 1) * a_j  -  sum_j a_j
//! ```
//!
//! The first term is x86's `pmaddubsw` (unsigned byte x signed byte, pairs added into i16;
//! a pair lies in [-512, 508], so it never saturates) on the bytes `w + 1 = 1 + pos - neg`,
//! expanded from the masks in registers. The second term depends only on the activation word,
//! so it is summed once when the word is loaded, not once per row. This is the model's
//! arithmetic only; the RTL's adder trees are described in `tern-hdl`.

/// Bytes per stored activation word: `lanes` rounded up to whole 16-byte blocks.
fn stride(lanes: u32) -> usize {
    (lanes as usize).div_ceil(16) * 16
}

/// Gather the even bits of `x` (bit 2i -> bit i), the software form of `pext(x, 0x5555..)`.
#[inline]
fn even_bits(x: u64) -> u64 {
    let mut x = x & 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0f0f_0f0f_0f0f_0f0f;
    x = (x | (x >> 4)) & 0x00ff_00ff_00ff_00ff;
    x = (x | (x >> 8)) & 0x0000_ffff_0000_ffff;
    (x | (x >> 16)) & 0x0000_0000_ffff_ffff
}

fn lanes_all(lanes: u32) -> u64 {
    if lanes == 64 { u64::MAX } else { (1u64 << lanes) - 1 }
}

/// The banks and the activation buffer as the golden model stores them.
pub struct Memories {
    rows: usize,
    lanes: u32,
    /// Bytes per stored activation word ([`stride`]).
    stride: usize,
    /// `[pos, neg]` lane masks of bank `row` at address `a`, at index a * rows + row.
    w: Vec<[u64; 2]>,
    /// Activation word `a` at bytes a * stride.
    x: Vec<i8>,
    /// Sum of the int8s of activation word `a`.
    xsum: Vec<i32>,
}

impl Memories {
    /// Reset contents: every weight code 0 and every activation 0, like the simulated RAMs.
    pub fn new(rows: u32, lanes: u32, wmem_depth: u32, amem_depth: u32) -> Memories {
        let st = stride(lanes);
        Memories {
            rows: rows as usize,
            lanes,
            stride: st,
            w: vec![[0, lanes_all(lanes)]; rows as usize * wmem_depth as usize],
            x: vec![0; amem_depth as usize * st],
            xsum: vec![0; amem_depth as usize],
        }
    }

    /// Write the little-endian weight word `word` (2-bit codes) into bank slot `slot`
    /// (= address * rows + row).
    #[inline]
    pub fn store_weights(&mut self, slot: usize, word: &[u64; 2]) {
        let hi = even_bits(word[0] >> 1) | (even_bits(word[1] >> 1) << 32);
        let lo = even_bits(word[0]) | (even_bits(word[1]) << 32);
        let all = lanes_all(self.lanes);
        self.w[slot] = [hi & all, !hi & !lo & all];
    }

    /// Write the little-endian word `word` of int8 activations at address `addr`.
    #[inline]
    pub fn store_activations(&mut self, addr: usize, word: &[u64; 8]) {
        let mut sum = 0i32;
        for (j, d) in self.x[addr * self.stride..][..self.lanes as usize].iter_mut().enumerate() {
            let v = (word[j / 8] >> (8 * (j % 8))) as u8 as i8;
            *d = v;
            sum += v as i32;
        }
        self.xsum[addr] = sum;
    }

    /// A MATVEC's row sums: for each row r, sum over k < `len` of dot(bank r at `waddr + k`,
    /// activation word `xaddr + k`), into `out[..rows]`.
    #[inline]
    pub fn matvec(&self, waddr: usize, xaddr: usize, len: usize, out: &mut [i64]) {
        #[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
        // SAFETY: SSSE3 is enabled at compile time (the cfg above)
        unsafe {
            row_sums_ssse3(self, waddr, xaddr, len, out)
        }
        #[cfg(not(all(target_arch = "x86_64", target_feature = "ssse3")))]
        self.row_sums_scalar(waddr, xaddr, len, out);
        let xs: i64 = self.xsum[xaddr..xaddr + len].iter().map(|&s| s as i64).sum();
        for o in &mut out[..self.rows] {
            *o -= xs;
        }
    }

    /// The portable form of the SIMD row sums (`sum (w + 1) * a`, before the correction);
    /// also the reference the unit test checks the SIMD against.
    pub fn row_sums_scalar(&self, waddr: usize, xaddr: usize, len: usize, out: &mut [i64]) {
        for (r, o) in out[..self.rows].iter_mut().enumerate() {
            let mut s = 0i64;
            for k in 0..len {
                let [pos, neg] = self.w[(waddr + k) * self.rows + r];
                let x = &self.x[(xaddr + k) * self.stride..][..self.lanes as usize];
                for (j, &a) in x.iter().enumerate() {
                    s += (1 + (pos >> j & 1) as i64 - (neg >> j & 1) as i64) * a as i64;
                }
            }
            *o = s;
        }
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
#[target_feature(enable = "ssse3")]
unsafe fn row_sums_ssse3(m: &Memories, waddr: usize, xaddr: usize, len: usize, out: &mut [i64]) {
    let rows = m.rows;
    if len == 0 {
        out[..rows].fill(0);
        return;
    }
    // every load lies inside these two ranges
    assert!((waddr + len) * rows <= m.w.len() && (xaddr + len) * m.stride <= m.x.len());
    // SAFETY: bounds checked above; SSSE3 is enabled for this function
    unsafe {
        match m.stride {
            16 => rows_blocks::<1>(m, waddr, xaddr, len, out),
            32 => rows_blocks::<2>(m, waddr, xaddr, len, out),
            64 => rows_blocks::<4>(m, waddr, xaddr, len, out),
            st => unreachable!("stride {st}: lanes are a power of two <= 64"),
        }
    }
}

/// [`row_sums_ssse3`] for words of `B` 16-lane blocks. The caller checks the bounds.
#[cfg(all(target_arch = "x86_64", target_feature = "ssse3"))]
#[target_feature(enable = "ssse3")]
unsafe fn rows_blocks<const B: usize>(m: &Memories, waddr: usize, xaddr: usize, len: usize, out: &mut [i64]) {
    use std::arch::x86_64::*;
    let (rows, stride) = (m.rows, m.stride);
    // i16 partial sums: each pmaddubsw lane is in [-512, 508], so 64 of them fit
    let kchunk = 64 / B;
    let ones16 = _mm_set1_epi16(1);
    let ones8 = _mm_set1_epi8(1);
    // lane j of a block tests bit j % 8 of its mask byte
    let bits = _mm_set_epi8(-128, 64, 32, 16, 8, 4, 2, 1, -128, 64, 32, 16, 8, 4, 2, 1);
    // [pos, neg] in one register: pos's bytes 2b, 2b + 1 (neg's: 8 more) hold block b's lanes
    let spread = |b: usize, base: i8| {
        let (lo, hi) = (base + 2 * b as i8, base + 2 * b as i8 + 1);
        _mm_set_epi8(hi, hi, hi, hi, hi, hi, hi, hi, lo, lo, lo, lo, lo, lo, lo, lo)
    };
    let pos_idx: [__m128i; B] = std::array::from_fn(|b| spread(b, 0));
    let neg_idx: [__m128i; B] = std::array::from_fn(|b| spread(b, 8));
    for (r, o) in out[..rows].iter_mut().enumerate() {
        let mut acc32 = _mm_setzero_si128();
        // SAFETY (pointer arithmetic and loads): inside the ranges the caller checked
        let mut wp = unsafe { m.w.as_ptr().add(waddr * rows + r) };
        let mut xp = unsafe { m.x.as_ptr().add(xaddr * stride) };
        let mut left = len;
        while left > 0 {
            let n = left.min(kchunk);
            left -= n;
            let mut acc16 = _mm_setzero_si128();
            for _ in 0..n {
                let pn = unsafe { _mm_loadu_si128(wp as *const __m128i) };
                for b in 0..B {
                    let p = _mm_cmpeq_epi8(_mm_and_si128(_mm_shuffle_epi8(pn, pos_idx[b]), bits), bits);
                    let n = _mm_cmpeq_epi8(_mm_and_si128(_mm_shuffle_epi8(pn, neg_idx[b]), bits), bits);
                    // p, n are -1 where set: w + 1 = 1 - p + n
                    let w1 = _mm_sub_epi8(_mm_add_epi8(ones8, n), p);
                    let xv = unsafe { _mm_loadu_si128(xp.add(16 * b) as *const __m128i) };
                    acc16 = _mm_add_epi16(acc16, _mm_maddubs_epi16(w1, xv));
                }
                wp = wp.wrapping_add(rows);
                xp = xp.wrapping_add(stride);
            }
            acc32 = _mm_add_epi32(acc32, _mm_madd_epi16(acc16, ones16));
        }
        let s2 = _mm_add_epi32(acc32, _mm_unpackhi_epi64(acc32, acc32));
        let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0b01));
        *o = _mm_cvtsi128_si32(s1) as i64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// The reference: decode codes and int8s one by one and multiply.
    fn plain_dot(wword: &[u64; 2], xword: &[u64; 8], lanes: u32) -> i64 {
        (0..lanes as usize)
            .map(|j| {
                let code = (wword[j / 32] >> (2 * (j % 32))) & 3;
                let w = [-1i64, 0, 1, 1][code as usize];
                w * ((xword[j / 8] >> (8 * (j % 8))) as u8 as i8) as i64
            })
            .sum()
    }

    #[test]
    fn stored_dot_products_equal_plain_ones() {
        let mut seed = 7;
        for lanes in [2u32, 4, 8, 16, 32, 64] {
            let (rows, depth) = (3usize, 150usize);
            let mut m = Memories::new(rows as u32, lanes, depth as u32, depth as u32);
            let mut words = Vec::new();
            let mut xwords = Vec::new();
            for a in 0..depth {
                // extremes: -128 and 127 in every lane of some words; code 3 in some
                let xw: [u64; 8] = std::array::from_fn(|_| match a % 5 {
                    0 => 0x8080_8080_8080_8080,
                    1 => 0x7f7f_7f7f_7f7f_7f7f,
                    _ => rng(&mut seed),
                });
                m.store_activations(a, &xw);
                xwords.push(xw);
                for r in 0..rows {
                    let ww: [u64; 2] = std::array::from_fn(|_| if a % 7 == 0 { 0 } else { rng(&mut seed) });
                    m.store_weights(a * rows + r, &ww);
                    words.push(ww);
                }
            }
            // lengths across the 64-step i16 chunks, and a word at the memories' ends
            for (waddr, xaddr, len) in [(0usize, 0usize, 1usize), (3, 10, 64), (20, 0, 130), (0, 5, 145), (149, 149, 1)] {
                let mut got = vec![0i64; rows];
                let mut scalar = vec![0i64; rows];
                m.matvec(waddr, xaddr, len, &mut got);
                m.row_sums_scalar(waddr, xaddr, len, &mut scalar);
                let corr: i64 = m.xsum[xaddr..xaddr + len].iter().map(|&s| s as i64).sum();
                for r in 0..rows {
                    let want: i64 = (0..len).map(|k| plain_dot(&words[(waddr + k) * rows + r], &xwords[xaddr + k], lanes)).sum();
                    let what = format!("lanes {lanes} row {r} waddr {waddr} xaddr {xaddr} len {len}");
                    assert_eq!(got[r], want, "{what}");
                    assert_eq!(scalar[r] - corr, want, "scalar, {what}");
                }
            }
        }
    }
}
