//! Cost of Storage, water-filling and nexus payments: pure integer functions.
//!
//! Units: credits are `u64` base units; space-time and data-time are byte-seconds (`u128`);
//! a Cost of Storage is credits per byte-second in unsigned fixed point with
//! [`COS_FRAC_BITS`] fractional bits (`Cos(1 << 64)` is one credit per byte-second).
//! No floats: every division below states its rounding, so two machines always agree.

use serde::{Deserialize, Serialize};

/// Fractional bits of the [`Cos`] fixed point.
pub const COS_FRAC_BITS: u32 = 64;

/// Cost of Storage: credits per byte-second, fixed point with 64 fractional bits.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
pub struct Cos(pub u128);

/// Cost of Storage `C / (S − D)`, or `None` when the network is full (`S ≤ D`).
///
/// `supply` is C (credits), `space_time` is S(t) and `data_time` is D(t), both in
/// byte-seconds. Rounding: `floor(C · 2^64 / (S − D))`. It never overflows: `C < 2^64` so the
/// numerator is below `2^128`, and the divisor is at least 1.
pub fn cost_of_storage(supply: u64, space_time: u128, data_time: u128) -> Option<Cos> {
    let free = space_time.checked_sub(data_time).filter(|f| *f > 0)?;
    Some(Cos((u128::from(supply) << COS_FRAC_BITS) / free))
}

/// S(t): Σ pledged_bytes × (interval end − t) over `(pledged_bytes, interval_end)` of valid
/// host contracts, in byte-seconds. Ended intervals count zero; the sum saturates.
pub fn space_time(hosts: impl IntoIterator<Item = (u64, u64)>, t: u64) -> u128 {
    hosts.into_iter().fold(0u128, |acc, (bytes, end)| {
        acc.saturating_add(u128::from(bytes) * u128::from(end.saturating_sub(t)))
    })
}

/// D(t): Σ bytes × (expiry − t) over `(bytes, expiry)` of data contracts, in byte-seconds.
/// Expired contracts count zero; the sum saturates.
pub fn data_time(contracts: impl IntoIterator<Item = (u128, u64)>, t: u64) -> u128 {
    contracts.into_iter().fold(0u128, |acc, (bytes, end)| {
        acc.saturating_add(bytes.saturating_mul(u128::from(end.saturating_sub(t))))
    })
}

/// Price in credits of reserving `bytes` for `seconds` at `cos`.
///
/// Rounding: `ceil(cos · bytes · seconds / 2^64)` (up, in the network's favour). `None` if the
/// price exceeds `u128`.
pub fn reservation_price(cos: Cos, bytes: u64, seconds: u64) -> Option<u128> {
    let data_time = u128::from(bytes) * u128::from(seconds);
    mul_div_ceil(cos.0, data_time, 1u128 << COS_FRAC_BITS)
}

/// Average CoS over `blocks` blocks from a rolling (prefix) sum of per-block CoS values.
///
/// Rounding: floor. Zero blocks gives zero.
pub fn average_cos(cos_sum: u128, blocks: u64) -> Cos {
    if blocks == 0 {
        return Cos(0);
    }
    Cos(cos_sum / u128::from(blocks))
}

/// The common fill level L of water-filling `stored` bytes into hosts with `sorted_pledges`
/// (ascending): the largest L with `Σ min(pledge_i, L) ≤ stored`.
///
/// Small hosts fill to capacity before large ones. If everything fits, L is the largest
/// pledge. Rounding: the level of the partially filled hosts is `floor(remaining / hosts_left)`,
/// so up to `hosts_left − 1` bytes stay unassigned. Empty input gives 0.
pub fn water_level(sorted_pledges: &[u64], stored: u64) -> u64 {
    let mut remaining = u128::from(stored);
    let n = sorted_pledges.len();
    for (i, &p) in sorted_pledges.iter().enumerate() {
        let left = (n - i) as u128;
        if u128::from(p) * left > remaining {
            // Every host from i on gets the same level, below its pledge: floor division.
            return u64::try_from(remaining / left).unwrap_or(u64::MAX);
        }
        remaining -= u128::from(p);
    }
    sorted_pledges.last().copied().unwrap_or(0)
}

/// Like [`water_level`], over a multiset of pledges given as `(pledge, count)` in ascending
/// pledge order (how the chain state keeps them, so one block costs O(distinct pledges)).
pub fn water_level_grouped<'a>(
    pledges: impl IntoIterator<Item = (&'a u64, &'a u64)> + Clone,
    stored: u64,
) -> u64 {
    let mut left: u128 = pledges
        .clone()
        .into_iter()
        .map(|(_, c)| u128::from(*c))
        .sum();
    let mut remaining = u128::from(stored);
    let mut last = 0;
    for (&p, &count) in pledges {
        if left == 0 {
            break;
        }
        if u128::from(p) * left > remaining {
            return u64::try_from(remaining / left).unwrap_or(u64::MAX);
        }
        remaining -= u128::from(p) * u128::from(count);
        left -= u128::from(count);
        last = p;
    }
    last
}

/// The space a host with `pledge` bytes is taken to hold at fill level `level`.
pub fn utilised(pledge: u64, level: u64) -> u64 {
    pledge.min(level)
}

/// Nexus payment = average CoS × average utilised bytes × interval × (uptime / interval).
///
/// The interval cancels: the result is `floor(avg_cos · utilised · uptime_secs / 2^64)`, one
/// division, rounded down (in the nexus's favour). `uptime_secs` above `interval_secs` is
/// capped at the interval. `None` if the result exceeds `u128`.
pub fn nexus_payment(
    avg_cos: Cos,
    avg_utilised: u64,
    interval_secs: u64,
    uptime_secs: u64,
) -> Option<u128> {
    let uptime = uptime_secs.min(interval_secs);
    mul_div_floor(
        avg_cos.0,
        u128::from(avg_utilised) * u128::from(uptime),
        1u128 << COS_FRAC_BITS,
    )
}

/// `floor(a · b / d)` with a 256-bit intermediate; `None` if `d == 0` or the result overflows.
pub fn mul_div_floor(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p / d);
    }
    let (hi, lo) = mul_wide(a, b);
    div_wide(hi, lo, d).map(|(q, _)| q)
}

/// `ceil(a · b / d)` with a 256-bit intermediate; `None` if `d == 0` or the result overflows.
pub fn mul_div_ceil(a: u128, b: u128, d: u128) -> Option<u128> {
    if d == 0 {
        return None;
    }
    if let Some(p) = a.checked_mul(b) {
        return Some(p.div_ceil(d));
    }
    let (hi, lo) = mul_wide(a, b);
    let (q, r) = div_wide(hi, lo, d)?;
    if r == 0 { Some(q) } else { q.checked_add(1) }
}

/// Full 256-bit product of two u128 as (high, low).
fn mul_wide(a: u128, b: u128) -> (u128, u128) {
    const M: u128 = u64::MAX as u128;
    let (a1, a0) = (a >> 64, a & M);
    let (b1, b0) = (b >> 64, b & M);
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    // Middle column: carries cannot exceed 2 bits in 128.
    let mid = (p00 >> 64) + (p01 & M) + (p10 & M);
    let lo = (p00 & M) | (mid << 64);
    let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
    (hi, lo)
}

/// (hi·2^128 + lo) / d as (quotient, remainder); `None` if the quotient exceeds u128.
fn div_wide(hi: u128, lo: u128, d: u128) -> Option<(u128, u128)> {
    if hi >= d {
        return None;
    }
    // Restoring long division, one bit at a time; the remainder stays below d, and the
    // shifted remainder needs 129 bits, tracked by `carry`.
    let mut rem = hi;
    let mut q = 0u128;
    for i in (0..128).rev() {
        let carry = rem >> 127;
        rem = (rem << 1) | ((lo >> i) & 1);
        q <<= 1;
        if carry == 1 || rem >= d {
            rem = rem.wrapping_sub(d);
            q |= 1;
        }
    }
    Some((q, rem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const GB: u64 = 1_000_000_000;

    #[test]
    fn worked_example_cos_small_network() {
        // Two hosts, one data contract, at time t:
        //   host A pledges 100 GB with 10 days (864,000 s) left in its interval,
        //   host B pledges  50 GB with 20 days (1,728,000 s) left.
        //   S = 100e9 · 864,000 + 50e9 · 1,728,000 = 8.64e16 + 8.64e16 = 1.728e17 byte-s.
        //   One client reserved 20 GB for 30 days (2,592,000 s): D = 5.184e16 byte-s.
        //   S − D = 1.2096e17 byte-s. Supply C = 1,209,600 credits.
        //   CoS = C / (S − D) = 1,209,600 / 1.2096e17 = 1e-11 credits per byte-second,
        //   i.e. 1e-11 · 1e9 · 2,592,000 = 25,920 credits per GB-month.
        let s = u128::from(100 * GB) * 864_000 + u128::from(50 * GB) * 1_728_000;
        assert_eq!(s, 172_800_000_000_000_000);
        let d = u128::from(20 * GB) * 2_592_000;
        let cos = cost_of_storage(1_209_600, s, d).unwrap();
        // Fixed point: floor(1,209,600 · 2^64 / 1.2096e17) = floor(2^64 / 1e11) = 184,467,440.
        assert_eq!(cos.0, (1u128 << 64) / 100_000_000_000);
        assert_eq!(cos.0, 184_467_440);
        // A GB-month at that CoS: ceil(184,467,440 · 1e9 · 2,592,000 / 2^64) = ceil(25,919.9999…)
        // = 25,920: the rounding up returns what the rounded-down CoS lost.
        assert_eq!(reservation_price(cos, GB, 2_592_000), Some(25_920));
        // Full network: no CoS.
        assert_eq!(cost_of_storage(1, d, d), None);
        assert_eq!(cost_of_storage(1, d, s), None);
    }

    #[test]
    fn worked_example_water_filling() {
        // Pledges 10, 20, 50, 100 GB; 90 GB stored.
        //   Level ≥ 10 for all four: 4 · 10 = 40 ≤ 90, host 10 full, 80 left for three hosts.
        //   Level ≥ 20 for the three: 3 · 20 = 60 ≤ 80, host 20 full, 60 left for two hosts.
        //   Level 50 for the two would need 100 > 60, so L = 60 / 2 = 30 GB.
        //   Utilised: 10, 20, 30, 30 GB; sum 90 GB = stored.
        let pledges = [10 * GB, 20 * GB, 50 * GB, 100 * GB];
        let level = water_level(&pledges, 90 * GB);
        assert_eq!(level, 30 * GB);
        let used: Vec<u64> = pledges.iter().map(|&p| utilised(p, level)).collect();
        assert_eq!(used, vec![10 * GB, 20 * GB, 30 * GB, 30 * GB]);
        assert_eq!(used.iter().sum::<u64>(), 90 * GB);
        // Same through the grouped form the state uses.
        let grouped: std::collections::BTreeMap<u64, u64> =
            pledges.iter().map(|&p| (p, 1)).collect();
        assert_eq!(water_level_grouped(&grouped, 90 * GB), 30 * GB);
        // Everything fits: level is the largest pledge.
        assert_eq!(water_level(&pledges, 500 * GB), 100 * GB);
        assert_eq!(water_level(&[], 5), 0);
    }

    #[test]
    fn worked_example_nexus_payment_two_thirds_uptime() {
        // Host pledging 30 GB, utilised 30 GB on average, 30-day interval (2,592,000 s),
        // online 20 of 30 days (1,728,000 s = 2/3 uptime), average CoS 1e-11 credits/byte-s
        // (fixed point 184,467,440 as in the CoS example).
        //   payment = 1e-11 · 30e9 · 2,592,000 · (2/3) = 0.3 · 1,728,000 = 518,400 credits.
        // With the fixed point: floor(184,467,440 · 30e9 · 1,728,000 / 2^64) = 518,399
        // (the CoS itself was rounded down, 184,467,440 < 2^64 / 1e11 = 184,467,440.737).
        let cos = Cos((1u128 << 64) / 100_000_000_000);
        let pay = nexus_payment(cos, 30 * GB, 2_592_000, 1_728_000).unwrap();
        assert_eq!(pay, 518_399);
        // Full uptime pays 3/2 as much (777,600 exactly, minus the same rounding).
        assert_eq!(
            nexus_payment(cos, 30 * GB, 2_592_000, 2_592_000),
            Some(777_599)
        );
        // Claimed uptime beyond the interval is capped.
        assert_eq!(
            nexus_payment(cos, 30 * GB, 2_592_000, 9_000_000),
            Some(777_599)
        );
    }

    #[test]
    fn wide_division_matches_known_values() {
        let a = u128::MAX;
        assert_eq!(mul_div_floor(a, a, a), Some(a));
        assert_eq!(mul_div_floor(a, 2, 4), Some(a / 2));
        assert_eq!(mul_div_floor(a, 3, 2), None);
        assert_eq!(mul_div_ceil(a, 3, 3), Some(a));
        assert_eq!(mul_div_floor(1 << 100, 1 << 100, 1 << 80), Some(1 << 120));
        // (2^100 + 1)^2 / 2^80 = 2^120 + 2^21 + 2^-80: floor drops the fraction, ceil adds one.
        let x = (1u128 << 100) + 1;
        assert_eq!(mul_div_floor(x, x, 1 << 80), Some((1 << 120) + (1 << 21)));
        assert_eq!(
            mul_div_ceil(x, x, 1 << 80),
            Some((1 << 120) + (1 << 21) + 1)
        );
        assert_eq!(mul_div_floor(1, 1, 0), None);
    }

    proptest! {
        #[test]
        fn cos_is_monotone_in_supply_and_data(c1 in 0u64..u64::MAX, dc in 0u64..1_000_000,
                s in 1u128..(1u128 << 90), d1 in 0u128..(1u128 << 90), dd in 0u128..(1u128 << 40)) {
            let c2 = c1.saturating_add(dc);
            let d2 = d1 + dd;
            if let (Some(a), Some(b)) = (cost_of_storage(c1, s, d1), cost_of_storage(c2, s, d1)) {
                prop_assert!(a <= b);
            }
            match (cost_of_storage(c1, s, d1), cost_of_storage(c1, s, d2)) {
                (Some(a), Some(b)) => prop_assert!(a <= b),
                // More data can fill the network, never free it.
                (None, Some(_)) => prop_assert!(false),
                _ => {}
            }
        }

        #[test]
        fn water_filling_never_exceeds_stored_and_leaves_less_than_one_byte_per_host(
                mut pledges in proptest::collection::vec(0u64..1_000_000, 0..40), stored in 0u64..50_000_000) {
            pledges.sort_unstable();
            let l = water_level(&pledges, stored);
            let used: u128 = pledges.iter().map(|&p| u128::from(utilised(p, l))).sum();
            let total: u128 = pledges.iter().map(|&p| u128::from(p)).sum();
            prop_assert!(used <= u128::from(stored));
            prop_assert!(used + pledges.len() as u128 >= u128::from(stored).min(total));
            let mut grouped = std::collections::BTreeMap::new();
            for p in &pledges { *grouped.entry(*p).or_insert(0u64) += 1; }
            prop_assert_eq!(water_level_grouped(&grouped, stored), l);
        }

        #[test]
        fn wide_mul_div_agrees_with_narrow(a in any::<u64>(), b in any::<u64>(), d in 1u128..u128::MAX) {
            let p = u128::from(a) * u128::from(b);
            prop_assert_eq!(mul_div_floor(u128::from(a), u128::from(b), d), Some(p / d));
            prop_assert_eq!(mul_div_ceil(u128::from(a), u128::from(b), d), Some(p.div_ceil(d)));
        }

        #[test]
        fn wide_mul_div_round_trips(a in any::<u128>(), b in 1u128..u128::MAX) {
            // (a · b) / b = a exactly, through the 256-bit path when the product is wide.
            prop_assert_eq!(mul_div_floor(a, b, b), Some(a));
            prop_assert_eq!(mul_div_ceil(a, b, b), Some(a));
        }
    }
}
