//! Forward propagation of the seven tables in memory, pruning, and the plot-ordered result.

use rayon::prelude::*;

use crate::constants::{EXTRA_BITS, EXTRA_BITS_POW, K_BC, MAX_PLOT_K, MIN_K};
use crate::error::PosError;
use crate::f1::F1;
use crate::fx::{fx, match_targets};
use crate::id::{Challenge, PlotId};
use crate::progress::{Phase, Progress, report};
use crate::proof::{Proof, Quality};
use crate::prover::{self, Layout};
use crate::sort::{bits_for, radix_sort};

/// x values per f1 work item: enough keystream per call to amortise the cipher setup.
const F1_CHUNK: usize = 1 << 14;

/// A complete plot in memory: the six pair tables and table 7, pruned and in plot order.
///
/// Table `t` (1..=6) holds, for each entry, the positions of its two children in table
/// `t - 1` (for table 1: the two x values), smaller first, and is sorted by (larger, smaller),
/// chiapos's line-point order. Table 7 holds each f7 value (its top k bits) with the position
/// of its entry in table 6, sorted by f7. Entries that do not lead to table 7 are gone.
#[derive(Clone, Debug)]
pub struct Tables {
    plot_id: PlotId,
    k: u8,
    pairs: [Vec<[u32; 2]>; 6],
    f7: Vec<u32>,
    p7: Vec<u32>,
}

/// One forward table while plotting: y sorted ascending, its metadata, and its children.
struct Level {
    ys: Vec<u32>,
    metas: Vec<u128>,
    back: Vec<[u32; 2]>,
}

impl Tables {
    /// Builds all seven tables for `plot_id` and `k` on one thread.
    pub fn generate(plot_id: &PlotId, k: u8) -> Result<Tables, PosError> {
        Tables::generate_with(plot_id, k, 1, &mut |_| {})
    }

    /// Builds all seven tables using `threads` worker threads (0 means all cores).
    pub fn generate_threads(plot_id: &PlotId, k: u8, threads: usize) -> Result<Tables, PosError> {
        Tables::generate_with(plot_id, k, threads, &mut |_| {})
    }

    /// Builds the tables on `threads` threads (0: all cores), reporting progress.
    pub fn generate_with(
        plot_id: &PlotId,
        k: u8,
        threads: usize,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Tables, PosError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| PosError::Threads(e.to_string()))?;
        pool.install(|| Tables::generate_in_current_pool(plot_id, k, progress))
    }

    /// Builds the tables on the rayon pool this is called from (the plotter's).
    pub(crate) fn generate_in_current_pool(
        plot_id: &PlotId,
        k: u8,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Tables, PosError> {
        if !(MIN_K..=MAX_PLOT_K).contains(&k) {
            return Err(PosError::UnsupportedK(k));
        }
        Ok(build(plot_id, k, progress))
    }

    /// The plot id these tables were built for.
    pub fn plot_id(&self) -> &PlotId {
        &self.plot_id
    }

    /// The space parameter.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// Number of entries in each table 1..=7 after pruning.
    pub fn table_sizes(&self) -> [usize; 7] {
        let mut out = [0; 7];
        for (o, t) in out.iter_mut().zip(self.pairs.iter()) {
            *o = t.len();
        }
        out[6] = self.f7.len();
        out
    }

    /// Quality strings of every proof this plot has for `challenge`, without building the proofs.
    pub fn qualities(&self, challenge: &Challenge) -> Vec<Quality> {
        // Tables built by `generate` are consistent by construction, so the prover cannot
        // fail here; an empty answer is the safe reading of an impossible error.
        prover::qualities(self, challenge).unwrap_or_default()
    }

    /// Every full proof this plot has for `challenge`, in the same order as [`Tables::qualities`].
    pub fn prove(&self, challenge: &Challenge) -> Vec<Proof> {
        prover::prove(self, challenge).unwrap_or_default()
    }
}

impl Tables {
    pub(crate) fn pair_tables(&self) -> &[Vec<[u32; 2]>; 6] {
        &self.pairs
    }

    pub(crate) fn table7(&self) -> (&[u32], &[u32]) {
        (&self.f7, &self.p7)
    }
}

impl Layout for Tables {
    fn k(&self) -> u8 {
        self.k
    }

    fn plot_id(&self) -> &PlotId {
        &self.plot_id
    }

    fn f7_matches(&self, target: u64) -> Result<Vec<u32>, PosError> {
        let start = self.f7.partition_point(|&f| u64::from(f) < target);
        let end = self.f7.partition_point(|&f| u64::from(f) <= target);
        Ok(self.p7[start..end].to_vec())
    }

    fn first_f7_in(&self, lo: u64, hi: u64) -> Result<Option<u64>, PosError> {
        let i = self.f7.partition_point(|&f| u64::from(f) < lo);
        Ok(self.f7.get(i).map(|&f| u64::from(f)).filter(|&f| f < hi))
    }

    fn pair(&self, table: usize, pos: u32) -> Result<[u32; 2], PosError> {
        self.pairs
            .get(table.wrapping_sub(1))
            .and_then(|t| t.get(pos as usize))
            .copied()
            .ok_or(PosError::Corrupt("position out of range"))
    }
}

fn build(plot_id: &PlotId, k: u8, progress: &mut (dyn FnMut(Progress) + Send)) -> Tables {
    report(progress, Phase::Forward, 1);
    let (mut ys, xs) = table1(plot_id, k);
    let mut metas: Vec<u128> = xs.iter().map(|&x| u128::from(x)).collect();
    let mut backs: Vec<Vec<[u32; 2]>> = Vec::with_capacity(6);
    for t in 2..=7 {
        report(progress, Phase::Forward, t as u8);
        let level = next_table(k, t, &ys, &metas);
        ys = level.ys;
        metas = level.metas;
        backs.push(level.back);
    }
    drop(metas);
    report(progress, Phase::Prune, 0);
    let stored = prune(&xs, &backs);
    drop(backs);
    let mut pairs: [Vec<[u32; 2]>; 6] = Default::default();
    let mut map: Vec<u32> = Vec::new();
    let mut prev_len = 1u64 << k;
    for (s, table) in stored.into_iter().enumerate() {
        report(progress, Phase::Sort, s as u8 + 1);
        let (sorted, new_map) = plot_order(table, if s == 0 { None } else { Some(&map) }, prev_len);
        prev_len = sorted.len() as u64;
        pairs[s] = sorted;
        map = new_map;
    }
    report(progress, Phase::Sort, 7);
    // Table 7: every forward table-7 entry is stored table 6's entry of the same index.
    let pos_bits = bits_for(prev_len);
    let mut t7: Vec<u64> = ys
        .iter()
        .zip(map.iter())
        .map(|(&y, &p)| (u64::from(y >> EXTRA_BITS) << pos_bits) | u64::from(p))
        .collect();
    let mut tmp = Vec::new();
    radix_sort(&mut t7, &mut tmp, u32::from(k) + pos_bits, |v| *v);
    let mask = (1u64 << pos_bits) - 1;
    let f7 = t7.iter().map(|v| (v >> pos_bits) as u32).collect();
    let p7 = t7.iter().map(|v| (v & mask) as u32).collect();
    Tables {
        plot_id: *plot_id,
        k,
        pairs,
        f7,
        p7,
    }
}

/// f1 for every x, sorted by y: returns (y, x) columns.
fn table1(plot_id: &PlotId, k: u8) -> (Vec<u32>, Vec<u32>) {
    let f1 = F1::new(k, plot_id);
    let n = 1usize << k;
    let mut keys = vec![0u64; n];
    keys.par_chunks_mut(F1_CHUNK)
        .enumerate()
        .for_each_init(Vec::new, |buf, (ci, out)| {
            let first = (ci * F1_CHUNK) as u64;
            f1.eval_range(first, out, buf);
            for (i, v) in out.iter_mut().enumerate() {
                *v = (*v << 32) | (first + i as u64);
            }
        });
    let mut tmp = Vec::new();
    radix_sort_high(&mut keys, &mut tmp, u32::from(k) + EXTRA_BITS);
    let ys = keys.par_iter().map(|v| (v >> 32) as u32).collect();
    let xs = keys.par_iter().map(|v| *v as u32).collect();
    (ys, xs)
}

/// Sorts `(y << 32) | index` keys by y (stable, so equal ys keep index order).
fn radix_sort_high(keys: &mut Vec<u64>, tmp: &mut Vec<u64>, y_bits: u32) {
    radix_sort(keys, tmp, y_bits, |v| v >> 32);
}

/// Bucket boundaries of a sorted y column: `(bucket, start)` for each non-empty bucket,
/// then a sentinel `(u64::MAX, len)`.
fn buckets(ys: &[u32]) -> Vec<(u64, u32)> {
    let mut out = Vec::with_capacity(ys.len() / 200 + 2);
    let mut current = u64::MAX;
    for (i, &y) in ys.iter().enumerate() {
        let b = u64::from(y) / K_BC;
        if b != current {
            out.push((b, i as u32));
            current = b;
        }
    }
    out.push((u64::MAX, ys.len() as u32));
    out
}

/// Matches and evaluates one forward table from the previous one.
fn next_table(k: u8, t: usize, ys: &[u32], metas: &[u128]) -> Level {
    let groups = buckets(ys);
    let pairs = groups.len().saturating_sub(2);
    let tasks = (rayon::current_num_threads() * 8).max(1);
    let per = pairs.div_ceil(tasks).max(1);
    let keep_meta = t < 7;
    let parts: Vec<Level> = (0..pairs.div_ceil(per))
        .into_par_iter()
        .map(|task| {
            // About one match per left entry: reserve that much so the hot loop never regrows.
            let first = groups[task * per].1 as usize;
            let last = groups[((task + 1) * per).min(pairs)].1 as usize;
            let cap = (last - first) + (last - first) / 16 + 64;
            let mut out = Level {
                ys: Vec::with_capacity(cap),
                metas: Vec::with_capacity(if keep_meta { cap } else { 0 }),
                back: Vec::with_capacity(cap),
            };
            let mut rmap = vec![0u16; K_BC as usize];
            let mut targets = [0u16; EXTRA_BITS_POW];
            for g in task * per..((task + 1) * per).min(pairs) {
                let (bl, ls) = groups[g];
                let (br, rs) = groups[g + 1];
                let re = groups[g + 2].1;
                if br != bl + 1 {
                    continue;
                }
                let (ls, rs, re) = (ls as usize, rs as usize, re as usize);
                let base = br * K_BC;
                for (i, &y) in ys[rs..re].iter().enumerate() {
                    let slot = &mut rmap[(u64::from(y) - base) as usize];
                    if *slot == 0 {
                        *slot = (i + 1) as u16;
                    }
                }
                for l in ls..rs {
                    let yl = u64::from(ys[l]);
                    match_targets(yl, &mut targets);
                    for &target in &targets {
                        let first = rmap[usize::from(target)];
                        if first == 0 {
                            continue;
                        }
                        let mut r = rs + usize::from(first) - 1;
                        while r < re && u64::from(ys[r]) - base == u64::from(target) {
                            let (y, meta) = fx(k, t, yl, metas[l], metas[r]);
                            out.ys.push(y as u32);
                            if keep_meta {
                                out.metas.push(meta);
                            }
                            out.back.push([l as u32, r as u32]);
                            r += 1;
                        }
                    }
                }
                for &y in &ys[rs..re] {
                    rmap[(u64::from(y) - base) as usize] = 0;
                }
            }
            out
        })
        .collect();
    let total: usize = parts.iter().map(|p| p.ys.len()).sum();
    let mut keys: Vec<u64> = Vec::with_capacity(total);
    let mut flat_metas: Vec<u128> = Vec::with_capacity(if keep_meta { total } else { 0 });
    let mut flat_back: Vec<[u32; 2]> = Vec::with_capacity(total);
    for p in parts {
        let base = keys.len() as u64;
        keys.extend(
            p.ys.iter()
                .enumerate()
                .map(|(i, &y)| (u64::from(y) << 32) | (base + i as u64)),
        );
        flat_metas.extend_from_slice(&p.metas);
        flat_back.extend_from_slice(&p.back);
    }
    let mut tmp = Vec::new();
    radix_sort_high(&mut keys, &mut tmp, u32::from(k) + EXTRA_BITS);
    drop(tmp);
    let new_ys = keys.par_iter().map(|v| (v >> 32) as u32).collect();
    let new_metas = if keep_meta {
        keys.par_iter()
            .map(|v| flat_metas[(*v as u32) as usize])
            .collect()
    } else {
        Vec::new()
    };
    let new_back = keys
        .par_iter()
        .map(|v| flat_back[(*v as u32) as usize])
        .collect();
    Level {
        ys: new_ys,
        metas: new_metas,
        back: new_back,
    }
}

/// Back-propagation: keeps only entries that lead to table 7. Returns the six stored pair
/// tables (table 1 holds x pairs; table s >= 2 holds positions in the compacted table s - 1).
fn prune(xs: &[u32], backs: &[Vec<[u32; 2]>]) -> Vec<Vec<[u32; 2]>> {
    // live[i] marks entries of forward table i + 2 that some kept parent uses.
    let mut live: Vec<Vec<bool>> = backs.iter().map(|b| vec![false; b.len()]).collect();
    if let Some(last) = live.last_mut() {
        last.iter_mut().for_each(|l| *l = true);
    }
    for i in (1..backs.len()).rev() {
        let (lower, upper) = live.split_at_mut(i);
        for (entry, keep) in backs[i].iter().zip(upper[0].iter()) {
            if *keep {
                lower[i - 1][entry[0] as usize] = true;
                lower[i - 1][entry[1] as usize] = true;
            }
        }
    }
    let mut stored = Vec::with_capacity(6);
    let mut new_index: Vec<u32> = Vec::new();
    for (i, (back, keep)) in backs.iter().zip(live.iter()).enumerate() {
        let mut table = Vec::with_capacity(keep.iter().filter(|k| **k).count());
        let mut index = vec![u32::MAX; back.len()];
        for (j, (entry, kept)) in back.iter().zip(keep.iter()).enumerate() {
            if *kept {
                index[j] = table.len() as u32;
                table.push(if i == 0 {
                    [xs[entry[0] as usize], xs[entry[1] as usize]]
                } else {
                    [new_index[entry[0] as usize], new_index[entry[1] as usize]]
                });
            }
        }
        stored.push(table);
        new_index = index;
    }
    stored
}

/// Remaps children through the previous table's new order, puts the smaller child first,
/// and sorts by (larger, smaller). Returns the table and the old-to-new position map.
fn plot_order(
    mut table: Vec<[u32; 2]>,
    child_map: Option<&[u32]>,
    child_count: u64,
) -> (Vec<[u32; 2]>, Vec<u32>) {
    table.par_iter_mut().for_each(|e| {
        if let Some(map) = child_map {
            *e = [map[e[0] as usize], map[e[1] as usize]];
        }
        if e[0] > e[1] {
            e.swap(0, 1);
        }
    });
    let w = bits_for(child_count);
    let mut order: Vec<(u64, u32)> = table
        .iter()
        .enumerate()
        .map(|(i, e)| ((u64::from(e[1]) << w) | u64::from(e[0]), i as u32))
        .collect();
    let mut tmp = Vec::new();
    radix_sort(&mut order, &mut tmp, 2 * w, |p| p.0);
    let mut map = vec![0u32; table.len()];
    let mut sorted = Vec::with_capacity(table.len());
    for (new, &(_, old)) in order.iter().enumerate() {
        map[old as usize] = new as u32;
        sorted.push(table[old as usize]);
    }
    (sorted, map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify;

    #[test]
    fn small_plot_proves_and_verifies() {
        let id = PlotId::from_bytes([3; 32]);
        let tables = Tables::generate(&id, 14).unwrap();
        let sizes = tables.table_sizes();
        // At small k every table is smaller than the last (few buckets, so more entries fall
        // at the edges); at k = 14 table 7 keeps about half of 2^14.
        assert!(sizes[6] > 6000 && sizes[6] < 10000, "table 7: {sizes:?}");
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        let mut found = 0;
        for i in 0..60u8 {
            let c = Challenge::from_bytes([i; 32]);
            let qs = tables.qualities(&c);
            let ps = tables.prove(&c);
            assert_eq!(qs.len(), ps.len());
            for (q, p) in qs.iter().zip(ps.iter()) {
                assert_eq!(verify(&id, 14, &c, p).unwrap(), *q);
                found += 1;
            }
        }
        assert!(found > 15, "{found}");
    }

    #[test]
    fn threads_do_not_change_the_plot() {
        let id = PlotId::from_bytes([9; 32]);
        let a = Tables::generate(&id, 13).unwrap();
        let b = Tables::generate_threads(&id, 13, 2).unwrap();
        assert_eq!(a.pairs, b.pairs);
        assert_eq!(a.f7, b.f7);
        assert_eq!(a.p7, b.p7);
    }

    #[test]
    fn rejects_unsupported_k() {
        assert!(matches!(
            Tables::generate(&PlotId::from_bytes([0; 32]), 11),
            Err(PosError::UnsupportedK(11))
        ));
        assert!(matches!(
            Tables::generate(&PlotId::from_bytes([0; 32]), 26),
            Err(PosError::UnsupportedK(26))
        ));
    }
}
