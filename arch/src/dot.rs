//! The golden model's memories and its ternary dot products.
//!
//! A weight word is kept as two lane masks, `pos` (code 2, or the illegal code 3, which the
//! RTL's recode also reads as +1) and `neg` (code 0): still 2 bits per weight, like the banks.
//! The masks of all R banks at one address sit side by side in two bitsets (row r's L bits at
//! bit r * L, the two interleaved word by word), so one 64-bit word holds the masks of 64 / L
//! rows. An activation word is kept as
//! its int8s, padded with zeros to whole 16-byte blocks. A row's dot product uses
//!
//! ```text
//!   sum_j w_j * a_j  =  sum_j (w_j + 1) * a_j  -  sum_j a_j
//! ```
//!
//! The first term is x86's `pmaddubsw` (unsigned byte x signed byte, pairs added into i16;
//! a pair lies in [-512, 508], so it never saturates) on the bytes `w + 1 = 1 + pos - neg`,
//! expanded from the masks in registers only. The second term depends only on the activation
//! word, so it is summed once when the word is loaded, not once per row. Three kernels give the
//! same sums: AVX-512BW (masks straight into mask registers, 64 / L rows per instruction; used
//! where the CPU has it and BMI2, and L >= 16), SSSE3 (the x86-64-v2 baseline, one row at a time) and a
//! portable one. This is the model's arithmetic only; the RTL's adder trees are in `tern-hdl`.

/// Bytes per stored activation word: `lanes` rounded up to whole 16-byte blocks.
fn stride(lanes: u32) -> usize {
    (lanes as usize).div_ceil(16) * 16
}

/// Gather the even bits of `x` (bit 2i -> bit i), the software form of `pext(x, 0x5555..)`.
#[inline(always)]
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

/// A weight word's (pos, neg) lane masks: code 2 or 3 (high bit set) adds, code 0 subtracts.
#[inline(always)]
fn lane_masks(word: &[u64; 2], lanes: u32) -> (u64, u64) {
    let all = lanes_all(lanes);
    // each lane's bit at its code's even bit position
    let hi = |w: u64| (w >> 1) & 0x5555_5555_5555_5555;
    let zero = |w: u64| !(w | w >> 1) & 0x5555_5555_5555_5555;
    if lanes <= 16 {
        // both masks in one gather: pos from the low 32 bits, neg from the high ones
        let (h, z) = (hi(word[0]), zero(word[0]));
        let both = even_bits(h & 0xffff_ffff | z << 32);
        (both & all, (both >> 16) & all)
    } else {
        let (mut pos, mut neg) = (even_bits(hi(word[0])), even_bits(zero(word[0])));
        if lanes > 32 {
            pos |= even_bits(hi(word[1])) << 32;
            neg |= even_bits(zero(word[1])) << 32;
        }
        (pos & all, neg & all)
    }
}

/// Which dot-product kernel a [`Memories`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    Avx512,
    Ssse3,
    Portable,
}

impl Kernel {
    /// The kernels this machine can run for `lanes` lanes, fastest first.
    pub fn available(lanes: u32) -> Vec<Kernel> {
        let mut k = Vec::new();
        #[cfg(target_arch = "x86_64")]
        {
            // BMI2 (`pext`, for loading weights) comes with every AVX-512 CPU; it is fast
            // there, unlike on the AMD parts before Zen 3
            if lanes >= 16 && std::arch::is_x86_feature_detected!("avx512bw") && std::arch::is_x86_feature_detected!("bmi2") {
                k.push(Kernel::Avx512);
            }
            if std::arch::is_x86_feature_detected!("ssse3") {
                k.push(Kernel::Ssse3);
            }
        }
        k.push(Kernel::Portable);
        k
    }

    /// The kernel the golden model runs for `lanes` lanes on this machine.
    pub fn best(lanes: u32) -> Kernel {
        Kernel::available(lanes)[0]
    }
}

/// The banks and the activation buffer as the golden model stores them.
pub struct Memories {
    rows: usize,
    lanes: u32,
    /// 64-bit words per address in each bitset: ceil(R * L / 64).
    words: usize,
    /// `[pos, neg]` bitset words, address-major: address `a` at a * words.. (interleaved: as
    /// two arrays, weight loading ran at one of two speeds, 1.5x apart, from one process to
    /// the next; 4 KiB aliasing of the two read-modify-writes is the likely cause)
    w: Vec<[u64; 2]>,
    /// Bytes per stored activation word ([`stride`]).
    stride: usize,
    /// Activation word `a` at bytes a * stride.
    x: Vec<i8>,
    /// Sum of the int8s of activation word `a`.
    xsum: Vec<i32>,
    kernel: Kernel,
}

impl Memories {
    /// Reset contents: every weight code 0 and every activation 0, like the simulated RAMs.
    pub fn new(rows: u32, lanes: u32, wmem_depth: u32, amem_depth: u32) -> Memories {
        let words = (rows as usize * lanes as usize).div_ceil(64);
        let mut w = vec![[0u64; 2]; words * wmem_depth as usize];
        for a in 0..wmem_depth as usize {
            for r in 0..rows as usize {
                let bit = r * lanes as usize;
                w[a * words + bit / 64][1] |= lanes_all(lanes) << (bit % 64);
            }
        }
        Memories {
            rows: rows as usize,
            lanes,
            words,
            w,
            stride: stride(lanes),
            x: vec![0; amem_depth as usize * stride(lanes)],
            xsum: vec![0; amem_depth as usize],
            kernel: Kernel::best(lanes),
        }
    }

    /// The same memories computing with `kernel` (one of [`Kernel::available`]).
    pub fn with_kernel(mut self, kernel: Kernel) -> Memories {
        assert!(Kernel::available(self.lanes).contains(&kernel), "{kernel:?} does not run here");
        self.kernel = kernel;
        self
    }

    /// Word index and shift of row `r`'s masks at address `a`.
    #[inline]
    fn at(&self, a: usize, r: usize) -> (usize, u32) {
        let bit = r * self.lanes as usize;
        (a * self.words + bit / 64, (bit % 64) as u32)
    }

    /// Row `r`'s (pos, neg) lane masks at address `a`.
    #[inline]
    fn masks(&self, a: usize, r: usize) -> (u64, u64) {
        let (i, sh) = self.at(a, r);
        let all = lanes_all(self.lanes);
        let [pos, neg] = self.w[i];
        ((pos >> sh) & all, (neg >> sh) & all)
    }

    /// Write the little-endian weight word `word` (2-bit codes) into bank `row` at `addr`.
    #[inline(always)]
    pub fn store_weights(&mut self, addr: usize, row: usize, word: &[u64; 2]) {
        let (pos, neg) = match self.kernel {
            // SAFETY: the AVX-512 kernel is picked only where BMI2 is present too (`available`)
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::lane_masks(word, self.lanes) },
            _ => lane_masks(word, self.lanes),
        };
        let all = lanes_all(self.lanes);
        let (i, sh) = self.at(addr, row);
        // a row's L bits never straddle two words: L is a power of two <= 64
        let keep = !(all << sh);
        let [p, n] = &mut self.w[i];
        *p = (*p & keep) | pos << sh;
        *n = (*n & keep) | neg << sh;
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
        let rows = self.rows;
        assert!((waddr + len) * self.words <= self.w.len() && xaddr + len <= self.xsum.len() && out.len() >= rows);
        // the activation words' sums, subtracted as each row's sum is written
        let xs: i64 = self.xsum[xaddr..xaddr + len].iter().map(|&s| s as i64).sum();
        match self.kernel {
            // SAFETY: `with_kernel` and `new` pick only kernels the CPU has; bounds checked above
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx512 => unsafe { avx512::row_sums(self, waddr, xaddr, len, xs, out) },
            #[cfg(target_arch = "x86_64")]
            Kernel::Ssse3 => unsafe { ssse3::row_sums(self, waddr, xaddr, len, xs, out) },
            _ => self.row_sums_portable(waddr, xaddr, len, xs, out),
        }
    }

    /// Each row's `sum (w + 1) * a - xs`, one lane at a time.
    fn row_sums_portable(&self, waddr: usize, xaddr: usize, len: usize, xs: i64, out: &mut [i64]) {
        for (r, o) in out[..self.rows].iter_mut().enumerate() {
            let mut s = 0i64;
            for k in 0..len {
                let (pos, neg) = self.masks(waddr + k, r);
                let x = &self.x[(xaddr + k) * self.stride..][..self.lanes as usize];
                for (j, &a) in x.iter().enumerate() {
                    s += (1 + (pos >> j & 1) as i64 - (neg >> j & 1) as i64) * a as i64;
                }
            }
            *o = s - xs;
        }
    }
}

/// Each i16 lane of a `pmaddubsw` result is in [-512, 508]: 64 of them fit an i16.
#[cfg(target_arch = "x86_64")]
const K_PER_I16: usize = 64;

#[cfg(target_arch = "x86_64")]
mod ssse3 {
    use super::{K_PER_I16, Memories};
    use std::arch::x86_64::*;

    /// Each row's `sum (w + 1) * a - xs`, one row and 16 lanes per instruction. Caller:
    /// bounds checked.
    #[target_feature(enable = "ssse3")]
    pub(super) unsafe fn row_sums(m: &Memories, waddr: usize, xaddr: usize, len: usize, xs: i64, out: &mut [i64]) {
        // SAFETY: the caller checked the bounds; SSSE3 is enabled for this function
        unsafe {
            match m.stride {
                16 => blocks::<1>(m, waddr, xaddr, len, xs, out),
                32 => blocks::<2>(m, waddr, xaddr, len, xs, out),
                64 => blocks::<4>(m, waddr, xaddr, len, xs, out),
                st => unreachable!("stride {st}: lanes are a power of two <= 64"),
            }
        }
    }

    /// [`row_sums`] for words of `B` 16-lane blocks.
    #[target_feature(enable = "ssse3")]
    unsafe fn blocks<const B: usize>(m: &Memories, waddr: usize, xaddr: usize, len: usize, xs: i64, out: &mut [i64]) {
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
        for (r, o) in out[..m.rows].iter_mut().enumerate() {
            let mut acc32 = _mm_setzero_si128();
            let mut k = 0;
            while k < len {
                let end = (k + K_PER_I16 / B).min(len);
                let mut acc16 = _mm_setzero_si128();
                for kk in k..end {
                    let (pos, neg) = m.masks(waddr + kk, r);
                    let pn = _mm_set_epi64x(neg as i64, pos as i64);
                    // SAFETY: activation word xaddr + kk is in bounds (caller)
                    let xp = unsafe { m.x.as_ptr().add((xaddr + kk) * m.stride) };
                    for b in 0..B {
                        let p = _mm_cmpeq_epi8(_mm_and_si128(_mm_shuffle_epi8(pn, pos_idx[b]), bits), bits);
                        let n = _mm_cmpeq_epi8(_mm_and_si128(_mm_shuffle_epi8(pn, neg_idx[b]), bits), bits);
                        // p, n are -1 where set: w + 1 = 1 - p + n
                        let w1 = _mm_sub_epi8(_mm_add_epi8(ones8, n), p);
                        let xv = unsafe { _mm_loadu_si128(xp.add(16 * b) as *const __m128i) };
                        acc16 = _mm_add_epi16(acc16, _mm_maddubs_epi16(w1, xv));
                    }
                }
                acc32 = _mm_add_epi32(acc32, _mm_madd_epi16(acc16, ones16));
                k = end;
            }
            let s2 = _mm_add_epi32(acc32, _mm_unpackhi_epi64(acc32, acc32));
            let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32(s2, 0b01));
            *o = _mm_cvtsi128_si32(s1) as i64 - xs;
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{K_PER_I16, Memories};
    use std::arch::x86_64::*;

    /// Each row's `sum (w + 1) * a - xs`, 64 / L rows and 64 lanes per instruction: a bitset word is
    /// a 64-bit mask register as it is. Needs L >= 16. Caller: bounds checked.
    #[target_feature(enable = "avx512f,avx512bw")]
    pub(super) unsafe fn row_sums(m: &Memories, waddr: usize, xaddr: usize, len: usize, xs: i64, out: &mut [i64]) {
        // SAFETY: the caller checked the bounds; AVX-512BW is enabled for this function
        unsafe {
            match m.lanes {
                16 => lanes::<16>(m, waddr, xaddr, len, xs, out),
                32 => lanes::<32>(m, waddr, xaddr, len, xs, out),
                64 => lanes::<64>(m, waddr, xaddr, len, xs, out),
                l => unreachable!("the AVX-512 kernel takes 16, 32 or 64 lanes, not {l}"),
            }
        }
    }

    /// A weight word's (pos, neg) lane masks with `pext`.
    #[target_feature(enable = "bmi2")]
    pub(super) unsafe fn lane_masks(word: &[u64; 2], lanes: u32) -> (u64, u64) {
        let all = super::lanes_all(lanes);
        let masks = |w: u64| {
            let (hi, lo) = (_pext_u64(w, 0xaaaa_aaaa_aaaa_aaaa), _pext_u64(w, 0x5555_5555_5555_5555));
            (hi, !(hi | lo) & 0xffff_ffff)
        };
        let (mut pos, mut neg) = masks(word[0]);
        if lanes > 32 {
            let (p1, n1) = masks(word[1]);
            (pos, neg) = (pos | p1 << 32, neg | n1 << 32);
        }
        (pos & all, neg & all)
    }

    /// [`row_sums`] for `L` lanes.
    #[target_feature(enable = "avx512f,avx512bw")]
    unsafe fn lanes<const L: usize>(m: &Memories, waddr: usize, xaddr: usize, len: usize, xs: i64, out: &mut [i64]) {
        let ones8 = _mm512_set1_epi8(1);
        let twos8 = _mm512_set1_epi8(2);
        let ones16 = _mm512_set1_epi16(1);
        for g in 0..m.words {
            let mut acc32 = _mm512_setzero_si512();
            // SAFETY (pointer arithmetic and loads): inside the ranges the caller checked
            let mut wp = unsafe { m.w.as_ptr().add(waddr * m.words + g) };
            let mut xp = unsafe { m.x.as_ptr().add(xaddr * m.stride) };
            let mut left = len;
            while left > 0 {
                let n = left.min(K_PER_I16);
                left -= n;
                let mut acc16 = _mm512_setzero_si512();
                for _ in 0..n {
                    let [pos, neg] = unsafe { *wp };
                    let w1 = _mm512_maskz_mov_epi8(!neg, _mm512_mask_blend_epi8(pos, ones8, twos8));
                    // the activation word's L bytes, repeated for each row of the group
                    let xv = unsafe {
                        match L {
                            16 => _mm512_broadcast_i32x4(_mm_loadu_si128(xp as *const __m128i)),
                            32 => _mm512_broadcast_i64x4(_mm256_loadu_si256(xp as *const __m256i)),
                            _ => _mm512_loadu_si512(xp as *const __m512i),
                        }
                    };
                    acc16 = _mm512_add_epi16(acc16, _mm512_maddubs_epi16(w1, xv));
                    wp = wp.wrapping_add(m.words);
                    xp = xp.wrapping_add(m.stride);
                }
                acc32 = _mm512_add_epi32(acc32, _mm512_madd_epi16(acc16, ones16));
            }
            // row g * 64 / L + j owns the i32 lanes j * L/4 .. (j + 1) * L/4
            let mut lanes32 = [0i32; 16];
            // SAFETY: 64 bytes into a 64-byte array
            unsafe { _mm512_storeu_si512(lanes32.as_mut_ptr() as *mut __m512i, acc32) };
            for (j, chunk) in lanes32.chunks(L / 4).enumerate() {
                if let Some(o) = out[..m.rows].get_mut(g * (64 / L) + j) {
                    *o = chunk.iter().map(|&v| v as i64).sum::<i64>() - xs;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A code's weight as the banks read it: `pack::weight`, and the illegal code 3 as +1 (the
    /// RTL's recode; a run that loads it stops with BadWeightCode, but the word stays).
    fn rtl_weight(code: u8) -> i64 {
        crate::pack::weight(code).unwrap_or(1) as i64
    }

    /// The reference: decode codes and int8s one by one and multiply.
    fn plain_dot(wword: &[u64; 2], xword: &[u64; 8], lanes: u32) -> i64 {
        (0..lanes as usize)
            .map(|j| {
                let code = (wword[j / 32] >> (2 * (j % 32))) & 3;
                let w = rtl_weight(code as u8);
                w * ((xword[j / 8] >> (8 * (j % 8))) as u8 as i8) as i64
            })
            .sum()
    }

    #[test]
    fn every_kernel_gives_the_plain_dot_products() {
        let mut rng = crate::rng::SplitMix64::new(7);
        for lanes in [2u32, 4, 8, 16, 32, 64] {
            for (rows, kernel) in [1usize, 3, 5].into_iter().flat_map(|r| Kernel::available(lanes).into_iter().map(move |k| (r, k))) {
                let depth = 150usize;
                // the kernel stores the weights too (its lane masks), so it is set first
                let mut m = Memories::new(rows as u32, lanes, depth as u32, depth as u32).with_kernel(kernel);
                let mut words = Vec::new();
                let mut xwords = Vec::new();
                for a in 0..depth {
                    // extremes: -128 and 127 in every lane of some words; code 3 in some; a
                    // few addresses left at their reset codes (all -1)
                    let xw: [u64; 8] = std::array::from_fn(|_| match a % 5 {
                        0 => 0x8080_8080_8080_8080,
                        1 => 0x7f7f_7f7f_7f7f_7f7f,
                        _ => rng.next_u64(),
                    });
                    m.store_activations(a, &xw);
                    xwords.push(xw);
                    for r in 0..rows {
                        let ww: [u64; 2] = if a % 11 == 3 { [0; 2] } else { std::array::from_fn(|_| rng.next_u64()) };
                        if a % 11 != 3 {
                            m.store_weights(a, r, &ww);
                        }
                        words.push(ww);
                    }
                }
                // lengths across the 64-step i16 chunks, and words at the memories' ends
                for (waddr, xaddr, len) in [(0usize, 0usize, 1usize), (3, 10, 64), (20, 0, 130), (0, 5, 145), (149, 149, 1)] {
                    let want: Vec<i64> = (0..rows)
                        .map(|r| (0..len).map(|k| plain_dot(&words[(waddr + k) * rows + r], &xwords[xaddr + k], lanes)).sum())
                        .collect();
                    let mut got = vec![0i64; rows];
                    m.matvec(waddr, xaddr, len, &mut got);
                    assert_eq!(got, want, "{kernel:?} lanes {lanes} rows {rows} waddr {waddr} xaddr {xaddr} len {len}");
                }
            }
        }
    }

    #[test]
    fn lane_masks_agree_with_the_codes() {
        let mut rng = crate::rng::SplitMix64::new(3);
        for lanes in [2u32, 4, 8, 16, 32, 64] {
            for _ in 0..2000 {
                let word: [u64; 2] = std::array::from_fn(|_| rng.next_u64());
                let code = |j: usize| (word[j / 32] >> (2 * (j % 32))) & 3;
                let pos: u64 = (0..lanes as usize).filter(|&j| rtl_weight(code(j) as u8) == 1).map(|j| 1 << j).sum();
                let neg: u64 = (0..lanes as usize).filter(|&j| rtl_weight(code(j) as u8) == -1).map(|j| 1 << j).sum();
                assert_eq!(lane_masks(&word, lanes), (pos, neg), "portable, lanes {lanes} word {word:x?}");
                #[cfg(target_arch = "x86_64")]
                if Kernel::available(lanes).contains(&Kernel::Avx512) {
                    // SAFETY: BMI2 is present where the AVX-512 kernel is available
                    assert_eq!(unsafe { avx512::lane_masks(&word, lanes) }, (pos, neg), "pext, lanes {lanes} word {word:x?}");
                }
            }
        }
    }

    /// The kernels this test machine runs (CI's has all three): a kernel that is silently never
    /// run would leave the test above checking less than it says.
    #[test]
    fn kernels_available_here() {
        let k = Kernel::available(16);
        eprintln!("dot kernels here: {k:?}");
        assert_eq!(k.last(), Some(&Kernel::Portable));
        #[cfg(target_arch = "x86_64")]
        assert!(k.contains(&Kernel::Ssse3), "x86-64-v2 has SSSE3");
    }
}
