//! Chia's proof-of-space parameters (chiapos `pos_constants.hpp` / `calculate_bucket.hpp`).

/// Extra output bits of f1..f6 beyond k, which reduce collisions in matching.
pub const EXTRA_BITS: u32 = 6;
/// Size of a B group in the matching function.
pub const K_B: u64 = 119;
/// Size of a C group in the matching function.
pub const K_C: u64 = 127;
/// Size of a bucket (BC group): two entries match only from adjacent buckets.
pub const K_BC: u64 = K_B * K_C;
/// Number of match targets per left entry (`1 << EXTRA_BITS`).
pub const EXTRA_BITS_POW: usize = 1 << EXTRA_BITS;
/// Metadata length, in multiples of k, carried into table i (chiapos `kVectorLens`).
pub const VECTOR_LENS: [u32; 8] = [0, 0, 1, 2, 4, 4, 3, 2];
/// Smallest supported space parameter.
pub const MIN_K: u8 = 12;
/// Largest k that [`crate::verify`] accepts (chiapos's own maximum for verification here).
pub const MAX_K: u8 = 32;
/// Largest k this crate plots (tables are built in memory with 32-bit y values).
pub const MAX_PLOT_K: u8 = 25;
/// Number of x values in a proof.
pub const PROOF_XS: usize = 64;
