//! Ternary codes and 2-bit packing.
//!
//! A code is `w + 1` (0 = -1, 1 = 0, 2 = +1; 3 is invalid), the encoding of the Hugging Face
//! BitNet b1.58 checkpoints and of the accelerator's weight banks.

/// The 2-bit code of a ternary weight.
#[inline]
pub fn code(w: i8) -> u8 {
    debug_assert!((-1..=1).contains(&w));
    (w + 1) as u8
}

/// The weight of a 2-bit code, or `None` for the invalid code 3.
#[inline]
pub fn weight(code: u8) -> Option<i8> {
    match code & 3 {
        3 => None,
        c => Some(c as i8 - 1),
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PackError {
    #[error("packed weight holds the invalid code 3 at row {row}, column {col}")]
    InvalidCode { row: usize, col: usize },
    #[error("shape mismatch: {what}")]
    Shape { what: String },
}

/// Pack a row-major `out x inp` ternary matrix in the HF BitNet layout: U8 `[out/4, inp]`,
/// with R = out/4, bits 2i+1:2i of `packed[r, c]` hold `W[i*R + r, c] + 1`.
pub fn pack_hf(w: &[i8], out: usize, inp: usize) -> Result<Vec<u8>, PackError> {
    if !out.is_multiple_of(4) || w.len() != out * inp {
        return Err(PackError::Shape { what: format!("{} weights for a {out} x {inp} matrix (out must be a multiple of 4)", w.len()) });
    }
    let r4 = out / 4;
    let mut p = vec![0u8; r4 * inp];
    for i in 0..4 {
        for r in 0..r4 {
            for c in 0..inp {
                p[r * inp + c] |= code(w[(i * r4 + r) * inp + c]) << (2 * i);
            }
        }
    }
    Ok(p)
}

/// Unpack the HF BitNet layout to a row-major `out x inp` matrix of {-1, 0, 1}.
pub fn unpack_hf(p: &[u8], out: usize, inp: usize) -> Result<Vec<i8>, PackError> {
    if !out.is_multiple_of(4) || p.len() != out / 4 * inp {
        return Err(PackError::Shape { what: format!("{} packed bytes for a {out} x {inp} matrix", p.len()) });
    }
    let r4 = out / 4;
    let mut w = vec![0i8; out * inp];
    for r in 0..r4 {
        for c in 0..inp {
            let b = p[r * inp + c];
            for i in 0..4 {
                let row = i * r4 + r;
                w[row * inp + c] = weight(b >> (2 * i)).ok_or(PackError::InvalidCode { row, col: c })?;
            }
        }
    }
    Ok(w)
}

// The words the host sends are little-endian bit strings in u64s: a weight word holds lane j's
// 2-bit code at bits 2j+1:2j, an activation word lane j's int8 at bits 8j+7:8j.

/// Or lane `j`'s code into a weight word (its bits must be clear).
#[inline]
pub fn set_lane_code(word: &mut [u64], j: usize, code: u8) {
    word[j / 32] |= u64::from(code & 3) << (2 * (j % 32));
}

/// Lane `j`'s code in a weight word.
#[inline]
pub fn lane_code(word: &[u64], j: usize) -> u8 {
    ((word[j / 32] >> (2 * (j % 32))) & 3) as u8
}

/// Or lane `j`'s activation into an activation word (its bits must be clear).
#[inline]
pub fn set_lane_act(word: &mut [u64], j: usize, x: i8) {
    word[j / 8] |= u64::from(x as u8) << (8 * (j % 8));
}

/// Lane `j`'s activation in an activation word.
#[inline]
pub fn lane_act(word: &[u64], j: usize) -> i8 {
    (word[j / 8] >> (8 * (j % 8))) as u8 as i8
}

/// Pack ternary weights into a weight-bank word of `lanes` codes. Missing lanes (past
/// `w.len()`) hold code 1 (zero).
pub fn pack_lanes(w: &[i8], lanes: usize) -> Vec<u64> {
    let mut out = vec![0u64; (2 * lanes).div_ceil(64)];
    for j in 0..lanes {
        set_lane_code(&mut out, j, w.get(j).map_or(1, |&v| code(v)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lanes_by_hand() {
        let mut w = [0u64; 2];
        set_lane_code(&mut w, 33, 2);
        assert_eq!(w, [0, 0b1000]);
        assert_eq!(lane_code(&w, 33), 2);
        let mut x = [0u64; 2];
        set_lane_act(&mut x, 9, -2);
        assert_eq!(x, [0, 0xfe00]);
        assert_eq!(lane_act(&x, 9), -2);
    }
    #[test]
    fn hf_layout_by_hand() {
        // out = 4, in = 1: R = 1, packed[0,0] holds W[0..4,0] at bits 1:0, 3:2, 5:4, 7:6.
        let w = [1i8, 0, -1, 1];
        assert_eq!(pack_hf(&w, 4, 1).unwrap(), vec![0b10_00_01_10]);
        assert_eq!(unpack_hf(&[0b10_00_01_10], 4, 1).unwrap(), w.to_vec());
        assert_eq!(unpack_hf(&[0b11], 4, 1).unwrap_err().to_string(), "packed weight holds the invalid code 3 at row 0, column 0");
    }
    #[test]
    fn hf_roundtrip_8x3() {
        let w: Vec<i8> = (0..24).map(|i| (i % 3) as i8 - 1).collect();
        assert_eq!(unpack_hf(&pack_hf(&w, 8, 3).unwrap(), 8, 3).unwrap(), w);
    }
    #[test]
    fn lanes_pad_with_zero_code() {
        assert_eq!(pack_lanes(&[-1, 1], 4), vec![0b01_01_10_00]);
    }
}

/// A ternary matrix held in the HF packed layout (2 bits per weight, no unpacked copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TernaryMatrix {
    pub out: usize,
    pub inp: usize,
    /// HF layout, `[out/4, inp]`; validated to hold no code 3.
    pub packed: Vec<u8>,
}

impl TernaryMatrix {
    /// Validates shape and codes.
    pub fn from_packed(packed: Vec<u8>, out: usize, inp: usize) -> Result<TernaryMatrix, PackError> {
        if !out.is_multiple_of(4) || packed.len() != out / 4 * inp {
            return Err(PackError::Shape { what: format!("{} packed bytes for a {out} x {inp} matrix", packed.len()) });
        }
        let r4 = out / 4;
        for (idx, &b) in packed.iter().enumerate() {
            for i in 0..4 {
                if (b >> (2 * i)) & 3 == 3 {
                    return Err(PackError::InvalidCode { row: i * r4 + idx / inp, col: idx % inp });
                }
            }
        }
        Ok(TernaryMatrix { out, inp, packed })
    }

    /// Any `out`: rows are padded to a multiple of 4 with zero weights inside `packed`.
    pub fn from_weights(w: &[i8], out: usize, inp: usize) -> Result<TernaryMatrix, PackError> {
        if w.len() != out * inp {
            return Err(PackError::Shape { what: format!("{} weights for a {out} x {inp} matrix", w.len()) });
        }
        if let Some(i) = w.iter().position(|v| !(-1..=1).contains(v)) {
            return Err(PackError::Shape { what: format!("weight {} at index {i} is not ternary", w[i]) });
        }
        let padded = out.div_ceil(4) * 4;
        let mut wp = w.to_vec();
        wp.resize(padded * inp, 0);
        Ok(TernaryMatrix { out, inp, packed: pack_hf(&wp, padded, inp)? })
    }

    /// The 2-bit code of W[row, col].
    #[inline]
    pub fn code(&self, row: usize, col: usize) -> u8 {
        let (bytes, shift) = self.row_codes(row);
        (bytes[col] >> shift) & 3
    }

    /// Row `row`'s codes: code of column `col` = `(bytes[col] >> shift) & 3` (the HF layout:
    /// rows r, r + out/4, r + out/2, r + 3out/4 share a byte). Loops over a row call this once
    /// instead of `code` per weight, which divides by `out / 4` each time.
    #[inline]
    pub fn row_codes(&self, row: usize) -> (&[u8], u32) {
        let r4 = self.out.div_ceil(4);
        (&self.packed[(row % r4) * self.inp..][..self.inp], 2 * (row / r4) as u32)
    }

    #[inline]
    pub fn get(&self, row: usize, col: usize) -> i8 {
        self.code(row, col) as i8 - 1
    }
}
