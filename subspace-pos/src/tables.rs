//! Forward propagation of the seven tables in memory, and (once, on demand) pruning and the
//! plot-ordered form that proving and the plot file need.

use std::sync::OnceLock;

use rayon::prelude::*;

use crate::constants::{EXTRA_BITS, EXTRA_BITS_POW, K_BC, MAX_PLOT_K, MIN_K};
use crate::error::PosError;
use crate::f1::F1;
use crate::fx::{FxBatch, is_match, match_targets};
use crate::id::{Challenge, PlotId};
use crate::lanes::{LANES, Simd};
use crate::progress::{Phase, Progress, report};
use crate::proof::{Proof, Quality};
use crate::prover::{self, Layout};
use crate::sort::{bits_for, radix_sort};

/// Size of the matching map: a power of two above kBC = 15113.
const RMAP_LEN: usize = 1 << 14;
const RMAP_MASK: usize = RMAP_LEN - 1;
const _: () = assert!(RMAP_LEN as u64 >= K_BC);

/// x values per f1 work item: enough keystream per call to amortise the cipher setup.
const F1_CHUNK: usize = 1 << 14;

/// The seven tables of one plot in memory.
///
/// [`Tables::generate`] is forward propagation only, the part every implementation of the
/// construction does and benchmarks compare: f1 for every x, then matching and f2..f7, each
/// table keeping every match. Proving needs more: back-propagation drops the entries that do
/// not lead to table 7, and each table is re-sorted into plot order. That step runs once, on
/// the rayon pool it is called from: explicitly with [`Tables::finish`] (which also frees the
/// forward tables), or on the first call to [`Tables::qualities`], [`Tables::prove`] or
/// [`Tables::table_sizes`]. The [`crate::Plotter`] does both steps and writes the file.
#[derive(Clone, Debug)]
pub struct Tables {
    plot_id: PlotId,
    k: u8,
    /// Forward propagation's output; emptied by [`Tables::finish`].
    forward: Forward,
    /// The pruned, plot-ordered tables, built once from `forward`.
    stored: OnceLock<Stored>,
}

/// Every match of forward propagation, before pruning.
#[derive(Clone, Debug, Default)]
struct Forward {
    /// x of each table-1 entry, in the order table 2's children refer to.
    xs: Vec<u32>,
    /// `backs[i]`: the two children (positions in forward table i + 1) of each entry of
    /// forward table i + 2, for tables 2..=7.
    backs: Vec<Vec<[u32; 2]>>,
    /// The (k + 6)-bit y of each forward table-7 entry.
    y7: Vec<u32>,
}

/// The pruned tables in plot order.
///
/// Table `t` (1..=6) holds, for each entry, the positions of its two children in table
/// `t - 1` (for table 1: the two x values), smaller first, and is sorted by (larger, smaller),
/// chiapos's line-point order. Table 7 holds each f7 value (its top k bits) with the position
/// of its entry in table 6, sorted by f7. Entries that do not lead to table 7 are gone.
#[derive(Clone, Debug)]
struct Stored {
    pairs: [Vec<[u32; 2]>; 6],
    f7: Vec<u32>,
    p7: Vec<u32>,
}

/// One forward table while plotting: entries grouped by bucket (`y / kBC`), in no particular
/// order inside a bucket (matching only needs the groups), with metadata and children.
struct Level {
    ys: Vec<u32>,
    metas: Vec<u128>,
    back: Vec<[u32; 2]>,
    /// Bucket `b` holds entries `starts[b] .. starts[b + 1]`.
    starts: Vec<u32>,
}

/// A piece of a table as one worker produced it, before grouping.
#[derive(Default)]
struct Part {
    ys: Vec<u32>,
    metas: Vec<u128>,
    back: Vec<[u32; 2]>,
}

impl Tables {
    /// Forward propagation of all seven tables for `plot_id` and `k` on one thread.
    pub fn generate(plot_id: &PlotId, k: u8) -> Result<Tables, PosError> {
        Tables::generate_with(plot_id, k, 1, &mut |_| {})
    }

    /// Forward propagation using `threads` worker threads (0 means all cores).
    pub fn generate_threads(plot_id: &PlotId, k: u8, threads: usize) -> Result<Tables, PosError> {
        Tables::generate_with(plot_id, k, threads, &mut |_| {})
    }

    /// Forward propagation on `threads` threads (0: all cores), reporting progress.
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

    /// Forward propagation on the rayon pool this is called from (the plotter's).
    pub(crate) fn generate_in_current_pool(
        plot_id: &PlotId,
        k: u8,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) -> Result<Tables, PosError> {
        if !(MIN_K..=MAX_PLOT_K).contains(&k) {
            return Err(PosError::UnsupportedK(k));
        }
        Ok(Tables {
            plot_id: *plot_id,
            k,
            forward: forward(plot_id, k, progress),
            stored: OnceLock::new(),
        })
    }

    /// Prunes and sorts into plot order now, on the current rayon pool, and frees the forward
    /// tables. Without it, the first [`Tables::qualities`] or [`Tables::prove`] does the same
    /// work (keeping the forward tables).
    pub fn finish(&mut self) {
        self.finish_with(&mut |_| {});
    }

    /// [`Tables::finish`], reporting the prune and sort phases.
    pub(crate) fn finish_with(&mut self, progress: &mut (dyn FnMut(Progress) + Send)) {
        if self.stored.get().is_none() {
            let stored = finish(self.k, &self.forward, progress);
            // Just checked empty, and `&mut self` keeps anyone else from filling it.
            let _ = self.stored.set(stored);
        }
        self.forward = Forward::default();
    }

    /// The pruned, plot-ordered tables, built on first use.
    fn stored(&self) -> &Stored {
        self.stored
            .get_or_init(|| finish(self.k, &self.forward, &mut |_| {}))
    }

    /// The plot id these tables were built for.
    pub fn plot_id(&self) -> &PlotId {
        &self.plot_id
    }

    /// The space parameter.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// Number of entries in each table 1..=7 after pruning (prunes first if not done yet).
    pub fn table_sizes(&self) -> [usize; 7] {
        let stored = self.stored();
        let mut out = [0; 7];
        for (o, t) in out.iter_mut().zip(stored.pairs.iter()) {
            *o = t.len();
        }
        out[6] = stored.f7.len();
        out
    }

    /// Quality strings of every proof this plot has for `challenge`, without building the
    /// proofs (prunes first if not done yet).
    pub fn qualities(&self, challenge: &Challenge) -> Vec<Quality> {
        // Tables built by `generate` are consistent by construction, so the prover cannot
        // fail here; an empty answer is the safe reading of an impossible error.
        prover::qualities(self, challenge).unwrap_or_default()
    }

    /// Every full proof this plot has for `challenge`, in the same order as
    /// [`Tables::qualities`] (prunes first if not done yet).
    pub fn prove(&self, challenge: &Challenge) -> Vec<Proof> {
        prover::prove(self, challenge).unwrap_or_default()
    }
}

impl Tables {
    pub(crate) fn pair_tables(&self) -> &[Vec<[u32; 2]>; 6] {
        &self.stored().pairs
    }

    pub(crate) fn table7(&self) -> (&[u32], &[u32]) {
        let s = self.stored();
        (&s.f7, &s.p7)
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
        let s = self.stored();
        let start = s.f7.partition_point(|&f| u64::from(f) < target);
        let end = s.f7.partition_point(|&f| u64::from(f) <= target);
        Ok(s.p7[start..end].to_vec())
    }

    fn first_f7_in(&self, lo: u64, hi: u64) -> Result<Option<u64>, PosError> {
        let f7 = &self.stored().f7;
        let i = f7.partition_point(|&f| u64::from(f) < lo);
        Ok(f7.get(i).map(|&f| u64::from(f)).filter(|&f| f < hi))
    }

    fn pair(&self, table: usize, pos: u32) -> Result<[u32; 2], PosError> {
        self.stored()
            .pairs
            .get(table.wrapping_sub(1))
            .and_then(|t| t.get(pos as usize))
            .copied()
            .ok_or(PosError::Corrupt("position out of range"))
    }
}

/// Forward propagation: table 1 from f1, then tables 2..=7 by matching and f2..f7.
fn forward(plot_id: &PlotId, k: u8, progress: &mut (dyn FnMut(Progress) + Send)) -> Forward {
    report(progress, Phase::Forward, 1);
    let mut level = table1(plot_id, k);
    let xs: Vec<u32> = level.metas.par_iter().map(|&x| x as u32).collect();
    let mut backs: Vec<Vec<[u32; 2]>> = Vec::with_capacity(6);
    let mut y7 = Vec::new();
    for t in 2..=7 {
        report(progress, Phase::Forward, t as u8);
        let parts = match_and_hash(k, t, &level);
        if t == 7 {
            y7 = parts.iter().flat_map(|p| p.ys.iter().copied()).collect();
            backs.push(parts.iter().flat_map(|p| p.back.iter().copied()).collect());
            break;
        }
        level = group_by_bucket(k, &parts, true);
        backs.push(std::mem::take(&mut level.back));
    }
    Forward { xs, backs, y7 }
}

/// Back-propagation and the plot-order sorts.
fn finish(k: u8, forward: &Forward, progress: &mut (dyn FnMut(Progress) + Send)) -> Stored {
    report(progress, Phase::Prune, 0);
    let stored = prune(&forward.xs, &forward.backs);
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
    let mut t7: Vec<u64> = forward
        .y7
        .iter()
        .zip(map.iter())
        .map(|(&y, &p)| (u64::from(y >> EXTRA_BITS) << pos_bits) | u64::from(p))
        .collect();
    sort_packed(&mut t7, u32::from(k) + pos_bits, 0);
    let mask = (1u64 << pos_bits) - 1;
    let f7 = t7.iter().map(|v| (v >> pos_bits) as u32).collect();
    let p7 = t7.iter().map(|v| (v & mask) as u32).collect();
    Stored { pairs, f7, p7 }
}

/// Number of buckets for (k + 6)-bit y values.
fn bucket_count(k: u8) -> usize {
    (((1u64 << (u32::from(k) + EXTRA_BITS)) - 1) / K_BC + 1) as usize
}

#[inline(always)]
fn bucket_of(y: u32) -> usize {
    (y / K_BC as u32) as usize
}

/// f1 for every x, grouped by bucket; the metadata is x.
fn table1(plot_id: &PlotId, k: u8) -> Level {
    let f1 = F1::new(k, plot_id);
    let n = 1usize << k;
    let mut ys = vec![0u32; n];
    ys.par_chunks_mut(F1_CHUNK).enumerate().for_each_init(
        || (Vec::new(), vec![0u64; F1_CHUNK]),
        |(buf, vals), (ci, out)| {
            let first = (ci * F1_CHUNK) as u64;
            f1.eval_range(first, &mut vals[..out.len()], buf);
            for (o, v) in out.iter_mut().zip(vals.iter()) {
                *o = *v as u32;
            }
        },
    );
    let part = Part {
        metas: (0..n as u128).collect(),
        ys,
        back: Vec::new(),
    };
    group_by_bucket(k, std::slice::from_ref(&part), false)
}

/// Counting sort of the parts' entries by bucket, in one pass. Each worker owns a range of
/// buckets (so a contiguous range of the output) and picks its entries out of every part.
fn group_by_bucket(k: u8, parts: &[Part], keep_back: bool) -> Level {
    let nb = bucket_count(k);
    let counts = parts
        .par_iter()
        .map(|p| {
            let mut c = vec![0u32; nb];
            for &y in &p.ys {
                c[bucket_of(y)] += 1;
            }
            c
        })
        .reduce(
            || vec![0u32; nb],
            |mut a, b| {
                a.iter_mut().zip(b.iter()).for_each(|(x, y)| *x += y);
                a
            },
        );
    let mut starts = Vec::with_capacity(nb + 1);
    let mut sum = 0u32;
    starts.push(0);
    for c in &counts {
        sum += c;
        starts.push(sum);
    }
    let total = sum as usize;
    let keep_meta = parts.iter().any(|p| !p.metas.is_empty());
    let mut ys = vec![0u32; total];
    let mut metas = vec![0u128; if keep_meta { total } else { 0 }];
    let mut back = vec![[0u32; 2]; if keep_back { total } else { 0 }];
    // Bucket ranges of about equal entry counts, one per worker.
    let workers = rayon::current_num_threads().max(1);
    let mut ranges = Vec::with_capacity(workers);
    let mut lo = 0;
    for w in 1..=workers {
        let goal = (total as u64 * w as u64 / workers as u64) as u32;
        let hi = if w == workers {
            nb
        } else {
            starts.partition_point(|&s| s < goal).clamp(lo, nb)
        };
        ranges.push((lo, hi));
        lo = hi;
    }
    let mut jobs = Vec::with_capacity(workers);
    let (mut ry, mut rm, mut rb) = (&mut ys[..], &mut metas[..], &mut back[..]);
    for &(lo, hi) in &ranges {
        let n = (starts[hi] - starts[lo]) as usize;
        let (y, rest) = ry.split_at_mut(n);
        ry = rest;
        let (m, rest) = rm.split_at_mut(if keep_meta { n } else { 0 });
        rm = rest;
        let (b, rest) = rb.split_at_mut(if keep_back { n } else { 0 });
        rb = rest;
        jobs.push((lo, hi, y, m, b));
    }
    jobs.into_par_iter().for_each(|(lo, hi, oy, om, ob)| {
        let base = starts[lo];
        let mut pos: Vec<u32> = starts[lo..hi].iter().map(|s| s - base).collect();
        for p in parts {
            for (i, &y) in p.ys.iter().enumerate() {
                let b = bucket_of(y);
                if b < lo || b >= hi {
                    continue;
                }
                let d = pos[b - lo] as usize;
                pos[b - lo] += 1;
                oy[d] = y;
                if keep_meta {
                    om[d] = p.metas[i];
                }
                if keep_back {
                    ob[d] = p.back[i];
                }
            }
        }
    });
    Level {
        ys,
        metas,
        back,
        starts,
    }
}

/// Matches adjacent buckets of `prev` and evaluates f_t on every match, in parallel over
/// bucket ranges. Each part holds its matches' y, metadata (none for table 7) and children.
fn match_and_hash(k: u8, t: usize, prev: &Level) -> Vec<Part> {
    let nb = prev.starts.len() - 1;
    let tasks = (rayon::current_num_threads() * 8).max(1);
    let per = nb.div_ceil(tasks).max(1);
    let keep_meta = t < 7;
    let simd = Simd::detect();
    let fx = FxBatch::new(k, t, simd);
    let (ys, metas, starts) = (&prev.ys, &prev.metas, &prev.starts);
    (0..nb.div_ceil(per))
        .into_par_iter()
        .map(|task| {
            let (b0, b1) = (task * per, ((task + 1) * per).min(nb.saturating_sub(1)));
            let first = starts[b0.min(nb)] as usize;
            let last = starts[b1.max(b0).min(nb)] as usize;
            // About one match per left entry: reserve that much so the loop never regrows.
            let cap = (last - first) + (last - first) / 16 + 64;
            let mut out = Part {
                ys: Vec::with_capacity(cap),
                metas: Vec::with_capacity(if keep_meta { cap } else { 0 }),
                back: Vec::with_capacity(cap),
            };
            let back = &mut out.back;
            // rmap[y % kBC]: 1 + the first right-bucket entry with that value; chain links
            // further entries with the same value (rare, but possible). u16 keeps rmap in L1
            // (30 KB); buckets hold ~236 entries, and one too big for u16 (never seen, but
            // not impossible) goes through the direct check instead.
            // Indexed with `& RMAP_MASK` (a no-op: values of y % kBC are below 2^14), so the
            // 64 probes per left entry need no bounds checks and can be gathered in vectors.
            let mut rmap = Box::new([0u16; RMAP_LEN]);
            let mut chain: Vec<u16> = Vec::new();
            let mut targets = [0u16; EXTRA_BITS_POW];
            // Matching and hashing run compiled for the SIMD level, and each bucket's matches
            // are hashed (in whole groups of LANES) while its entries are still in cache.
            simd.run(
                #[inline(always)]
                || {
                    let mut hashed = 0;
                    for b in b0..b1 {
                        let (ls, rs, re) = (
                            starts[b] as usize,
                            starts[b + 1] as usize,
                            starts[b + 2] as usize,
                        );
                        if ls == rs || rs == re {
                            continue;
                        }
                        let base = (b as u32 + 1) * K_BC as u32;
                        if re - rs >= usize::from(u16::MAX) {
                            for (l, &yl) in ys.iter().enumerate().take(rs).skip(ls) {
                                for (r, &yr) in ys.iter().enumerate().take(re).skip(rs) {
                                    if is_match(u64::from(yl), u64::from(yr)) {
                                        back.push([l as u32, r as u32]);
                                    }
                                }
                            }
                            continue;
                        }
                        chain.clear();
                        chain.resize(re - rs, 0);
                        for (i, &y) in ys[rs..re].iter().enumerate() {
                            let slot = &mut rmap[(y - base) as usize & RMAP_MASK];
                            chain[i] = *slot;
                            *slot = i as u16 + 1;
                        }
                        for (l, &yl) in ys.iter().enumerate().take(rs).skip(ls) {
                            match_targets(u64::from(yl), &mut targets);
                            // All 64 probes first (branch-free), then only the hits (about
                            // one per left entry), in target order as before.
                            let mut hits = [0u16; EXTRA_BITS_POW];
                            for (h, &target) in hits.iter_mut().zip(targets.iter()) {
                                *h = rmap[usize::from(target) & RMAP_MASK];
                            }
                            let mut found = 0u64;
                            for (m, &h) in hits.iter().enumerate() {
                                found |= u64::from(h != 0) << m;
                            }
                            while found != 0 {
                                let m = found.trailing_zeros() as usize;
                                found &= found - 1;
                                let mut c = hits[m];
                                while c != 0 {
                                    back.push([l as u32, (rs + c as usize - 1) as u32]);
                                    c = chain[c as usize - 1];
                                }
                            }
                        }
                        for &y in &ys[rs..re] {
                            rmap[(y - base) as usize & RMAP_MASK] = 0;
                        }
                        // The next bucket is this one's right side: read its metadata in
                        // order now, so the hashing's scattered reads of it hit the cache
                        // (the hardware prefetcher follows a sequential scan, not those).
                        if let Some(next) = metas.get(re..starts[(b + 3).min(nb)] as usize) {
                            std::hint::black_box(next.iter().fold(0u128, |a, &m| a ^ m));
                        }
                        let ready = back.len() - (back.len() - hashed) % LANES;
                        fx.eval(ys, metas, &back[hashed..ready], &mut out.ys, &mut out.metas);
                        hashed = ready;
                    }
                    fx.eval(ys, metas, &back[hashed..], &mut out.ys, &mut out.metas);
                },
            );
            out
        })
        .collect()
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

/// Sorts `v` by `v >> low_bits`, a `key_bits`-bit key, on the current rayon pool: one
/// sequential pass splits by the key's top 8 bits, then the 256 groups (contiguous, so
/// disjoint slices) are radix-sorted in parallel. One thread: a plain radix sort.
fn sort_packed(v: &mut Vec<u64>, key_bits: u32, low_bits: u32) {
    const TOP: u32 = 8;
    let mut tmp = Vec::new();
    if rayon::current_num_threads() < 2 || key_bits <= TOP {
        radix_sort(v, &mut tmp, key_bits, |p| *p >> low_bits);
        return;
    }
    let shift = low_bits + key_bits - TOP;
    let mut counts = [0usize; 1 << TOP];
    for p in v.iter() {
        counts[(*p >> shift) as usize] += 1;
    }
    let mut starts = [0usize; 1 << TOP];
    let mut sum = 0;
    for (s, c) in starts.iter_mut().zip(counts.iter()) {
        *s = sum;
        sum += c;
    }
    tmp.resize(v.len(), 0);
    let mut at = starts;
    for p in v.iter() {
        let d = (*p >> shift) as usize;
        tmp[at[d]] = *p;
        at[d] += 1;
    }
    let mut groups = Vec::with_capacity(1 << TOP);
    let mut rest = &mut tmp[..];
    for c in counts {
        let (g, r) = rest.split_at_mut(c);
        groups.push(g);
        rest = r;
    }
    groups.into_par_iter().for_each_init(
        || (Vec::new(), Vec::new()),
        |(a, b), g| {
            a.clear();
            a.extend_from_slice(g);
            radix_sort(a, b, key_bits - TOP, |p| *p >> low_bits);
            g.copy_from_slice(a);
        },
    );
    core::mem::swap(v, &mut tmp);
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
    let iw = bits_for(table.len() as u64);
    let mut map = vec![0u32; table.len()];
    let mut sorted = Vec::with_capacity(table.len());
    if 2 * w + iw <= 64 {
        // (hi, lo, index) packed in one u64: half the bytes per radix pass (k <= 20).
        let mut order: Vec<u64> = table
            .par_iter()
            .enumerate()
            .map(|(i, e)| (((u64::from(e[1]) << w) | u64::from(e[0])) << iw) | i as u64)
            .collect();
        sort_packed(&mut order, 2 * w, iw);
        let mask = (1u64 << iw) - 1;
        sorted = order
            .par_iter()
            .map(|&p| table[(p & mask) as usize])
            .collect();
        for (new, &p) in order.iter().enumerate() {
            map[(p & mask) as usize] = new as u32;
        }
    } else {
        let mut order: Vec<(u64, u32)> = table
            .par_iter()
            .enumerate()
            .map(|(i, e)| ((u64::from(e[1]) << w) | u64::from(e[0]), i as u32))
            .collect();
        let mut tmp = Vec::new();
        radix_sort(&mut order, &mut tmp, 2 * w, |p| p.0);
        for (new, &(_, old)) in order.iter().enumerate() {
            map[old as usize] = new as u32;
            sorted.push(table[old as usize]);
        }
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
        assert_eq!(a.forward.backs, b.forward.backs);
        assert_eq!(a.forward.y7, b.forward.y7);
        let (sa, sb) = (a.stored(), b.stored());
        assert_eq!(sa.pairs, sb.pairs);
        assert_eq!(sa.f7, sb.f7);
        assert_eq!(sa.p7, sb.p7);
    }

    #[test]
    fn finish_and_first_use_store_the_same_tables() {
        let id = PlotId::from_bytes([5; 32]);
        let lazy = Tables::generate(&id, 13).unwrap();
        let mut eager = lazy.clone();
        assert!(
            eager.stored.get().is_none(),
            "generate is forward propagation only"
        );
        eager.finish();
        assert!(
            eager.forward.backs.is_empty(),
            "finish frees the forward tables"
        );
        let (a, b) = (lazy.stored(), eager.stored());
        assert_eq!(a.pairs, b.pairs);
        assert_eq!(a.f7, b.f7);
        assert_eq!(a.p7, b.p7);
        assert!(!lazy.forward.backs.is_empty());
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
