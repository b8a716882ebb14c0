//! Stable LSD radix sort on an integer key, the sort every plotting phase uses.

/// Bits per radix digit: 2048 counters stay in L1.
const DIGIT_BITS: u32 = 11;

/// Sorts `items` stably by the low `key_bits` bits of `key(item)`, using `tmp` as scratch.
pub(crate) fn radix_sort<T: Copy + Default>(
    items: &mut Vec<T>,
    tmp: &mut Vec<T>,
    key_bits: u32,
    key: impl Fn(&T) -> u64,
) {
    tmp.clear();
    tmp.resize(items.len(), T::default());
    let mut shift = 0;
    while shift < key_bits {
        let digit_bits = DIGIT_BITS.min(key_bits - shift);
        let mask = (1u64 << digit_bits) - 1;
        let mut counts = vec![0usize; 1 << digit_bits];
        for item in items.iter() {
            counts[((key(item) >> shift) & mask) as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for item in items.iter() {
            let d = ((key(item) >> shift) & mask) as usize;
            tmp[counts[d]] = *item;
            counts[d] += 1;
        }
        core::mem::swap(items, tmp);
        shift += digit_bits;
    }
}

/// Bits needed to represent every value below `n` (at least 1).
pub(crate) fn bits_for(n: u64) -> u32 {
    (64 - n.saturating_sub(1).leading_zeros()).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn matches_std_stable_sort(mut v in proptest::collection::vec((0u64..1 << 30, any::<u32>()), 0..3000)) {
            let mut want = v.clone();
            want.sort_by_key(|p| p.0);
            let mut tmp = Vec::new();
            radix_sort(&mut v, &mut tmp, 30, |p| p.0);
            prop_assert_eq!(v, want);
        }
    }

    #[test]
    fn bits_for_sizes() {
        assert_eq!(bits_for(0), 1);
        assert_eq!(bits_for(1), 1);
        assert_eq!(bits_for(2), 1);
        assert_eq!(bits_for(3), 2);
        assert_eq!(bits_for(1 << 20), 20);
        assert_eq!(bits_for((1 << 20) + 1), 21);
    }
}
