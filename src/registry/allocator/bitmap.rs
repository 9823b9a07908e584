//! The allocation bitmap (upstream `pkg/registry/core/service/allocator/bitmap.go`): one bit per
//! offset of a [`Range`], its `big.Int` byte form, and the random scan for a free offset.

use super::errors::AllocError;
use super::range::Range;
use rand::Rng;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Bits {
    words: Vec<u64>,
    max: usize,
    count: usize,
}

impl Bits {
    pub(super) fn new(max: usize) -> Bits {
        Bits {
            words: vec![0; max.div_ceil(64)],
            max,
            count: 0,
        }
    }

    pub(super) fn get(&self, i: usize) -> bool {
        i < self.max && self.words.get(i / 64).is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    /// Set bit `i`; false when it was already set or out of range.
    pub(super) fn set(&mut self, i: usize) -> bool {
        if i >= self.max || self.get(i) {
            return false;
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
            self.count += 1;
            return true;
        }
        false
    }

    pub(super) fn clear(&mut self, i: usize) -> bool {
        if !self.get(i) {
            return false;
        }
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1u64 << (i % 64));
            self.count -= 1;
            return true;
        }
        false
    }

    pub(super) fn ones(&self) -> Vec<usize> {
        let mut out = Vec::with_capacity(self.count);
        for (wi, w) in self.words.iter().enumerate() {
            let mut w = *w;
            while w != 0 {
                let b = w.trailing_zeros() as usize;
                out.push(wi * 64 + b);
                w &= w - 1;
            }
        }
        out
    }

    /// Take a requested offset (`None`: the value is outside the range), as upstream's
    /// `Allocate`.
    pub(super) fn take(&mut self, off: Option<usize>) -> Result<usize, AllocError> {
        let off = off.ok_or(AllocError::NotInRange)?;
        if self.set(off) {
            Ok(off)
        } else {
            Err(AllocError::Allocated)
        }
    }

    /// Take a free offset, the dynamic band first (upstream's `AllocateNext`); None when the
    /// range is full. `skip_first` keeps offset 0 out of reach.
    pub(super) fn take_free(&mut self, range: &Range, skip_first: bool) -> Option<usize> {
        let off = next_free(self, range, skip_first)?;
        self.set(off);
        Some(off)
    }

    /// Big-endian bytes of the bitmap as an integer, without leading zeros (`big.Int.Bytes()`).
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.words.len() * 8);
        for w in self.words.iter().rev() {
            out.extend_from_slice(&w.to_be_bytes());
        }
        let first = out.iter().position(|b| *b != 0).unwrap_or(out.len());
        out.split_off(first)
    }
}

/// Positions of the set bits of a big-endian integer.
pub(super) fn bit_positions(bytes: &[u8]) -> Vec<usize> {
    let mut out = Vec::new();
    for (j, byte) in bytes.iter().rev().enumerate() {
        for b in 0..8 {
            if byte & (1 << b) != 0 {
                out.push(j * 8 + b);
            }
        }
    }
    out
}

/// `randomScanStrategyWithOffset`: a random start in the upper band, scanning forward and
/// wrapping; then the same in the lower band. `skip_first` keeps offset 0 out of reach.
fn next_free(bits: &Bits, range: &Range, skip_first: bool) -> Option<usize> {
    let max = range.max;
    if bits.count >= max {
        return None;
    }
    let offset = range.offset.min(max);
    let mut rng = rand::rng();
    let upper = max - offset;
    if upper > 0 {
        let start = rng.random_range(0..upper);
        for i in 0..upper {
            let at = offset + (start + i) % upper;
            if !bits.get(at) && (at != 0 || !skip_first) {
                return Some(at);
            }
        }
    }
    if offset > 0 {
        let start = rng.random_range(0..offset);
        for i in 0..offset {
            let at = (start + i) % offset;
            if !bits.get(at) && (at != 0 || !skip_first) {
                return Some(at);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitmap_bytes_match_big_int_bytes() {
        let mut b = Bits::new(300);
        b.set(0);
        b.set(9);
        b.set(257);
        let bytes = b.to_bytes();
        // 2^257 + 2^9 + 1 in big-endian, minimal.
        assert_eq!(bytes.len(), 33);
        assert_eq!(bytes[0], 0x02);
        assert_eq!(bytes[31], 0x02);
        assert_eq!(bytes[32], 0x01);
        let mut pos = bit_positions(&bytes);
        pos.sort_unstable();
        assert_eq!(pos, vec![0, 9, 257]);
        assert!(Bits::new(10).to_bytes().is_empty());
        assert_eq!(b.take(Some(9)), Err(AllocError::Allocated));
        assert_eq!(b.take(None), Err(AllocError::NotInRange));
        assert_eq!(b.take(Some(10)), Ok(10));
    }

    #[test]
    fn take_free_fills_the_upper_band_first_and_can_skip_offset_0() {
        let r = Range::ports("30000-30019").expect("ports");
        assert_eq!(r.offset, 16);
        let mut b = Bits::new(r.max);
        let mut got: Vec<usize> = (0..4).filter_map(|_| b.take_free(&r, true)).collect();
        got.sort_unstable();
        assert_eq!(got, vec![16, 17, 18, 19]);
        let rest: Vec<usize> = (0..20).filter_map(|_| b.take_free(&r, true)).collect();
        assert_eq!(rest.len(), 15);
        assert!(!b.get(0));
        assert_eq!(b.take_free(&r, false), Some(0));
        assert_eq!(b.take_free(&r, false), None);
    }
}
