//! The plot file: writing it ([`Plotter`]), opening it with checksum verification ([`Plot`]),
//! and reading only the few parks a challenge needs.
//!
//! Format, version 3 (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `SSPOSPLT` |
//! | 8 | 2 | version, 3 |
//! | 10 | 1 | k |
//! | 11 | 1 | reserved, 0 |
//! | 12 | 32 | plot id |
//! | 44 | 7 × 64 | per table 1..=7: section offset u64, section bytes u64, entries u64, position width u8, Rice parameter u8, 6 zero bytes, BLAKE3 of the section |
//! | 492 | 32 | BLAKE3 of bytes 0..492 |
//! | 524 | … | the seven table sections |
//!
//! A table section is a park directory followed by the park bodies. Each table is cut into
//! parks of [`PARK`] entries; a directory entry is 24 bytes: the body's offset from the end of
//! the directory (u64), the park's first value (u64), and the first 8 bytes of
//! BLAKE3(body ‖ first value u64 ‖ table number u8 ‖ park index u64). Tables 1..=6 store each entry's children
//! as a line point (`hi·(hi−1)/2 + lo`, in which order the table is sorted); a park body holds
//! the Rice-coded deltas of its entries after the first. Table 7 is sorted by f7; a park body
//! holds the position in table 6 of every entry (fixed width), then the Rice-coded f7 deltas.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use crate::constants::{MAX_PLOT_K, MIN_K};
use crate::error::PosError;
use crate::id::{Challenge, PlotId};
use crate::park::{BitSink, BitSource, PARK, best_rice, line_point, line_point_pair};
use crate::progress::{Phase, Progress, report};
use crate::proof::{Proof, Quality};
use crate::prover::{self, Layout};
use crate::sort::bits_for;
use crate::tables::Tables;

const MAGIC: &[u8; 8] = b"SSPOSPLT";
const VERSION: u16 = 3;
const DESCRIPTOR: usize = 64;
const HEADER_BODY: usize = 44 + 7 * DESCRIPTOR;
/// Size of the header in bytes, including its checksum.
pub const HEADER_BYTES: usize = HEADER_BODY + 32;
/// Bytes of one park directory entry.
const DIR_ENTRY: usize = 24;
/// Largest Rice parameter a reader accepts (deltas of 2·25-bit line points need < 50).
const MAX_RICE: u32 = 56;

/// Plots to disk: `Plotter::new(k).threads(n).plot(&id, path, |p| ...)`.
#[derive(Clone, Debug)]
pub struct Plotter {
    k: u8,
    threads: usize,
}

/// What a finished plot is: where, for which id and k, and how big.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlotInfo {
    /// Path of the plot file.
    pub path: PathBuf,
    /// The plot's id.
    pub plot_id: PlotId,
    /// Space parameter.
    pub k: u8,
    /// File size in bytes.
    pub bytes: u64,
    /// Entries in tables 1..=7 after pruning.
    pub table_sizes: [u64; 7],
}

impl Plotter {
    /// A plotter for space parameter `k`, using all cores.
    pub fn new(k: u8) -> Plotter {
        Plotter { k, threads: 0 }
    }

    /// Uses `n` worker threads (0: all cores).
    pub fn threads(mut self, n: usize) -> Plotter {
        self.threads = n;
        self
    }

    /// Builds the plot for `plot_id` and writes it to `path` (through a `.tmp` file renamed
    /// at the end, so a crash never leaves a half plot under the final name).
    pub fn plot(
        &self,
        plot_id: &PlotId,
        path: impl AsRef<Path>,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<PlotInfo, PosError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(self.threads)
            .build()
            .map_err(|e| PosError::Threads(e.to_string()))?;
        let path = path.as_ref();
        pool.install(|| {
            let mut tables = Tables::generate_in_current_pool(plot_id, self.k, &mut progress)?;
            tables.finish_with(&mut progress);
            report(&mut progress, Phase::Write, 0);
            let info = write_plot(&tables, path)?;
            report(&mut progress, Phase::Done, 0);
            Ok(info)
        })
    }
}

/// Checksum of one park: its body and first value, bound to its table and place.
fn park_check(table: u8, park: u64, first: u64, body: &[u8]) -> [u8; 8] {
    // The body first, so BLAKE3 reads it in place rather than through its block buffer.
    let mut h = blake3::Hasher::new();
    h.update(body);
    h.update(&first.to_le_bytes());
    h.update(&[table]);
    h.update(&park.to_le_bytes());
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

/// One encoded table section: directory and bodies.
struct Section {
    bytes: Vec<u8>,
    count: u64,
    width: u32,
    rice: u32,
}

/// Builds a section from per-park (first value, body) pairs.
fn section(table: u8, parks: Vec<(u64, Vec<u8>)>, count: u64, width: u32, rice: u32) -> Section {
    let dir_len = parks.len() * DIR_ENTRY;
    let body_len: usize = parks.iter().map(|p| p.1.len()).sum();
    let mut bytes = Vec::with_capacity(dir_len + body_len);
    let mut at = 0u64;
    for (i, (first, body)) in parks.iter().enumerate() {
        bytes.extend_from_slice(&at.to_le_bytes());
        bytes.extend_from_slice(&first.to_le_bytes());
        bytes.extend_from_slice(&park_check(table, i as u64, *first, body));
        at += body.len() as u64;
    }
    for (_, body) in &parks {
        bytes.extend_from_slice(body);
    }
    Section {
        bytes,
        count,
        width,
        rice,
    }
}

/// Tables 1..=6: line points in parks, deltas Rice-coded.
fn pair_section(table: u8, entries: &[[u32; 2]], width: u32) -> Section {
    let points: Vec<u64> = entries.par_iter().map(|e| line_point(*e)).collect();
    debug_assert!(points.windows(2).all(|w| w[0] < w[1]));
    let deltas = || {
        points
            .chunks(PARK)
            .flat_map(|c| c.windows(2).map(|w| w[1] - w[0]))
    };
    let rice = best_rice(deltas(), 2 * width);
    let parks = points
        .par_chunks(PARK)
        .map(|c| {
            let mut s = BitSink::with_capacity(c.len() * (rice as usize + 2) / 8 + 8);
            for w in c.windows(2) {
                s.rice(w[1] - w[0], rice);
            }
            (c[0], s.finish())
        })
        .collect();
    section(table, parks, entries.len() as u64, width, rice)
}

/// Table 7: per park, the table-6 positions at fixed width, then the f7 deltas Rice-coded.
fn table7_section(f7: &[u32], p7: &[u32], width: u32) -> Section {
    let deltas = || {
        f7.chunks(PARK)
            .flat_map(|c| c.windows(2).map(|w| u64::from(w[1] - w[0])))
    };
    let rice = best_rice(deltas(), 32);
    let parks = f7
        .par_chunks(PARK)
        .zip(p7.par_chunks(PARK))
        .map(|(f, p)| {
            let mut s = BitSink::with_capacity(f.len() * (width as usize + rice as usize + 2) / 8);
            for &pos in p {
                s.push(u64::from(pos), width);
            }
            for w in f.windows(2) {
                s.rice(u64::from(w[1] - w[0]), rice);
            }
            (u64::from(f[0]), s.finish())
        })
        .collect();
    section(7, parks, f7.len() as u64, width, rice)
}

/// Serialises tables into the version-3 format at `path`.
pub(crate) fn write_plot(tables: &Tables, path: &Path) -> Result<PlotInfo, PosError> {
    let k = tables.k();
    let pairs = tables.pair_tables();
    let (f7, p7) = tables.table7();
    // Position widths: table 1 holds x values (k bits), table t positions in table t - 1.
    let mut widths = [u32::from(k); 7];
    for i in 1..7 {
        widths[i] = bits_for(pairs[i - 1].len() as u64);
    }
    // The seven sections are independent: encode them side by side.
    let sections: Vec<Section> = (0..7usize)
        .into_par_iter()
        .map(|i| match pairs.get(i) {
            Some(table) => pair_section(i as u8 + 1, table, widths[i]),
            None => table7_section(f7, p7, widths[6]),
        })
        .collect();

    let mut header = Vec::with_capacity(HEADER_BYTES);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.push(k);
    header.push(0);
    header.extend_from_slice(tables.plot_id().as_bytes());
    let hashes: Vec<blake3::Hash> = sections
        .par_iter()
        .map(|s| blake3::hash(&s.bytes))
        .collect();
    let mut offset = HEADER_BYTES as u64;
    let mut table_sizes = [0u64; 7];
    for (i, (s, hash)) in sections.iter().zip(hashes.iter()).enumerate() {
        header.extend_from_slice(&offset.to_le_bytes());
        header.extend_from_slice(&(s.bytes.len() as u64).to_le_bytes());
        header.extend_from_slice(&s.count.to_le_bytes());
        header.push(s.width as u8);
        header.push(s.rice as u8);
        header.extend_from_slice(&[0; 6]);
        header.extend_from_slice(hash.as_bytes());
        offset += s.bytes.len() as u64;
        table_sizes[i] = s.count;
    }
    let sum = blake3::hash(&header);
    header.extend_from_slice(sum.as_bytes());

    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::io::BufWriter::new(File::create(&tmp)?);
    file.write_all(&header)?;
    for s in &sections {
        file.write_all(&s.bytes)?;
    }
    file.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(PlotInfo {
        path: path.to_path_buf(),
        plot_id: *tables.plot_id(),
        k,
        bytes: offset,
        table_sizes,
    })
}

/// Where one park lives and what it must hash to.
#[derive(Clone, Copy, Debug)]
struct ParkRef {
    /// File offset of the body.
    start: u64,
    /// File offset just past the body.
    end: u64,
    /// The park's first value (line point, or f7 for table 7).
    first: u64,
    check: [u8; 8],
}

/// One table as read from the header and its directory.
#[derive(Clone, Debug, Default)]
struct TableRef {
    count: u64,
    width: u32,
    rice: u32,
    /// Values of this table's entries must stay below this (children positions or x).
    limit: u64,
    /// File offset of the park directory.
    dir: u64,
    /// File offsets of the first park body and of the section's end.
    body_start: u64,
    end: u64,
    /// Table 7's directory, kept in memory as the f7 index (about 200 KB at k = 20); the
    /// directories of tables 1..=6 are read with the park, so an open plot costs little memory.
    parks: Vec<ParkRef>,
}

/// An open plot file. Opening verifies every checksum; every park read later is checked
/// against its own checksum, and every proof is verified before it is returned, so damage
/// is reported, never turned into a proof or a quality.
#[derive(Debug)]
pub struct Plot {
    file: File,
    path: PathBuf,
    plot_id: PlotId,
    k: u8,
    tables: [TableRef; 7],
    bytes: u64,
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

impl Plot {
    /// Opens a plot, checking its header, the BLAKE3 checksum of every table section and the
    /// consistency of every park directory.
    pub fn open(path: impl AsRef<Path>) -> Result<Plot, PosError> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path)?;
        let len = file.metadata()?.len();
        let mut header = [0u8; HEADER_BYTES];
        if len < HEADER_BYTES as u64 {
            return Err(PosError::NotAPlot);
        }
        file.read_exact_at(&mut header, 0)?;
        if &header[..8] != MAGIC || header[8..10] != VERSION.to_le_bytes() {
            return Err(PosError::NotAPlot);
        }
        if blake3::hash(&header[..HEADER_BODY]).as_bytes()[..] != header[HEADER_BODY..] {
            return Err(PosError::Corrupt("header checksum"));
        }
        let k = header[10];
        if !(MIN_K..=MAX_PLOT_K).contains(&k) {
            return Err(PosError::Corrupt("k out of range"));
        }
        let mut id = [0u8; 32];
        id.copy_from_slice(&header[12..44]);
        let mut tables: [TableRef; 7] = Default::default();
        let mut expected_offset = HEADER_BYTES as u64;
        let mut prev = 1u64 << k;
        let mut buf = vec![0u8; 1 << 20];
        for (i, t) in tables.iter_mut().enumerate() {
            let d = &header[44 + i * DESCRIPTOR..44 + (i + 1) * DESCRIPTOR];
            let (offset, size, count) = (le64(&d[..8]), le64(&d[8..16]), le64(&d[16..24]));
            let (width, rice) = (u32::from(d[24]), u32::from(d[25]));
            let want_width = if i == 0 { u32::from(k) } else { bits_for(prev) };
            let parks = count.div_ceil(PARK as u64);
            let dir_len = parks * DIR_ENTRY as u64;
            if offset != expected_offset
                || width != want_width
                || rice > MAX_RICE
                || count > 2 << k
                || size < dir_len
            {
                return Err(PosError::Corrupt("table descriptor"));
            }
            let end = offset
                .checked_add(size)
                .filter(|&e| e <= len)
                .ok_or(PosError::Corrupt("file truncated"))?;
            let mut dir = Vec::with_capacity(dir_len as usize);
            let mut hasher = blake3::Hasher::new();
            let mut at = offset;
            while at < end {
                let n = ((end - at) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], at)?;
                hasher.update(&buf[..n]);
                let want = (dir_len as usize).saturating_sub(dir.len()).min(n);
                dir.extend_from_slice(&buf[..want]);
                at += n as u64;
            }
            if hasher.finalize().as_bytes()[..] != d[32..64] {
                return Err(PosError::Corrupt("table checksum"));
            }
            let body_start = offset + dir_len;
            let mut refs: Vec<ParkRef> = Vec::with_capacity(parks as usize);
            for (p, e) in dir.chunks_exact(DIR_ENTRY).enumerate() {
                let start = body_start
                    .checked_add(le64(&e[..8]))
                    .ok_or(PosError::Corrupt("park directory"))?;
                let end_p = match dir.get((p + 1) * DIR_ENTRY..(p + 2) * DIR_ENTRY) {
                    Some(next) => body_start
                        .checked_add(le64(next))
                        .ok_or(PosError::Corrupt("park directory"))?,
                    None => end,
                };
                let mut check = [0u8; 8];
                check.copy_from_slice(&e[16..24]);
                let first = le64(&e[8..16]);
                let sorted = refs.last().is_none_or(|r: &ParkRef| r.first <= first);
                if start > end_p || end_p > end || (p == 0 && start != body_start) || !sorted {
                    return Err(PosError::Corrupt("park directory"));
                }
                refs.push(ParkRef {
                    start,
                    end: end_p,
                    first,
                    check,
                });
            }
            if i < 6 {
                refs = Vec::new();
            }
            *t = TableRef {
                count,
                width,
                rice,
                limit: prev,
                dir: offset,
                body_start,
                end,
                parks: refs,
            };
            expected_offset = end;
            prev = count;
        }
        if expected_offset != len {
            return Err(PosError::Corrupt("trailing bytes"));
        }
        Ok(Plot {
            file,
            path,
            plot_id: PlotId::from_bytes(id),
            k,
            tables,
            bytes: len,
        })
    }

    /// Quality strings of every proof this plot has for `challenge` (reads 7 parks each).
    pub fn qualities(&self, challenge: &Challenge) -> Result<Vec<Quality>, PosError> {
        prover::qualities(self, challenge)
    }

    /// Every full proof for `challenge`, each verified before it is returned.
    pub fn prove(&self, challenge: &Challenge) -> Result<Vec<Proof>, PosError> {
        prover::prove(self, challenge)
    }

    /// The plot's id.
    pub fn plot_id(&self) -> &PlotId {
        &self.plot_id
    }

    /// Space parameter.
    pub fn k(&self) -> u8 {
        self.k
    }

    /// File size in bytes.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Path the plot was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Directory entry of park `p` of a table whose directory stays on disk: read with the
    /// next entry's offset, which is where this park's body ends.
    fn park_ref(&self, t: &TableRef, p: usize) -> Result<ParkRef, PosError> {
        if p as u64 >= t.count.div_ceil(PARK as u64) {
            return Err(PosError::Corrupt("position out of range"));
        }
        let last = p as u64 + 1 == t.count.div_ceil(PARK as u64);
        let mut e = [0u8; DIR_ENTRY + 8];
        let n = if last { DIR_ENTRY } else { DIR_ENTRY + 8 };
        self.file
            .read_exact_at(&mut e[..n], t.dir + (p * DIR_ENTRY) as u64)?;
        let start = t.body_start.checked_add(le64(&e[..8]));
        let end = if last {
            Some(t.end)
        } else {
            t.body_start.checked_add(le64(&e[DIR_ENTRY..]))
        };
        let mut check = [0u8; 8];
        check.copy_from_slice(&e[16..24]);
        match (start, end) {
            (Some(start), Some(end)) if start <= end && end <= t.end => Ok(ParkRef {
                start,
                end,
                first: le64(&e[8..16]),
                check,
            }),
            _ => Err(PosError::Corrupt("park directory")),
        }
    }

    /// Reads park `p` of `table` (1..=7) and checks it against its checksum.
    fn park(&self, table: usize, p: usize) -> Result<(&TableRef, ParkRef, Vec<u8>), PosError> {
        let t = &self.tables[table - 1];
        let r = if table == 7 {
            *t.parks
                .get(p)
                .ok_or(PosError::Corrupt("position out of range"))?
        } else {
            self.park_ref(t, p)?
        };
        let mut body = vec![0u8; (r.end - r.start) as usize];
        self.file.read_exact_at(&mut body, r.start)?;
        if park_check(table as u8, p as u64, r.first, &body) != r.check {
            return Err(PosError::Corrupt("park checksum"));
        }
        Ok((t, r, body))
    }

    /// Entry `i` of pair table `table` (1..=6): its children, smaller first.
    fn entry(&self, table: usize, i: u64) -> Result<[u32; 2], PosError> {
        if i >= self.tables[table - 1].count {
            return Err(PosError::Corrupt("position out of range"));
        }
        let (t, r, body) = self.park(table, (i / PARK as u64) as usize)?;
        let mut src = BitSource::new(&body);
        let mut point = r.first;
        for _ in 0..i % PARK as u64 {
            point = point
                .checked_add(src.rice(t.rice)?)
                .ok_or(PosError::Corrupt("line point out of range"))?;
        }
        match line_point_pair(point) {
            Some(pair) if u64::from(pair[1]) < t.limit => Ok(pair),
            _ => Err(PosError::Corrupt("line point out of range")),
        }
    }

    /// Decodes table 7's park `p` in f7 order, handing each (f7, position in table 6) to
    /// `visit` until it returns false; positions are read only for entries visited.
    /// Returns whether `visit` asked to go on.
    fn park7(&self, p: usize, visit: &mut impl FnMut(u64, u32) -> bool) -> Result<bool, PosError> {
        let (t, r, body) = self.park(7, p)?;
        let n = (t.count - (p * PARK) as u64).min(PARK as u64);
        let width = u64::from(t.width);
        let mut deltas = BitSource::new(&body);
        deltas.seek(n * width);
        let mut positions = BitSource::new(&body);
        let mut f = r.first;
        for j in 0..n {
            if j > 0 {
                f = f
                    .checked_add(deltas.rice(t.rice)?)
                    .ok_or(PosError::Corrupt("f7 out of range"))?;
            }
            positions.seek(j * width);
            let pos = positions.read(t.width)?;
            if pos >= t.limit {
                return Err(PosError::Corrupt("position out of range"));
            }
            if !visit(f, pos as u32) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Table 7 entries from the park that may hold `lo` on, until f7 exceeds `hi` or `visit`
    /// says stop.
    fn scan7(
        &self,
        lo: u64,
        hi: u64,
        mut visit: impl FnMut(u64, u32) -> bool,
    ) -> Result<(), PosError> {
        let parks = &self.tables[6].parks;
        let mut p = parks.partition_point(|r| r.first < lo).saturating_sub(1);
        let mut go_on = |f: u64, pos: u32| f <= hi && visit(f, pos);
        while p < parks.len() && self.park7(p, &mut go_on)? {
            p += 1;
        }
        Ok(())
    }
}

impl Layout for Plot {
    fn k(&self) -> u8 {
        self.k
    }

    fn plot_id(&self) -> &PlotId {
        &self.plot_id
    }

    fn f7_matches(&self, target: u64) -> Result<Vec<u32>, PosError> {
        let mut out = Vec::new();
        self.scan7(target, target, |f, p| {
            if f == target {
                out.push(p);
            }
            true
        })?;
        Ok(out)
    }

    fn first_f7_in(&self, lo: u64, hi: u64) -> Result<Option<u64>, PosError> {
        let mut found = None;
        self.scan7(lo, hi.saturating_sub(1), |f, _| {
            if f >= lo {
                found = Some(f);
                return false;
            }
            true
        })?;
        Ok(found.filter(|&f| f < hi))
    }

    fn pair(&self, table: usize, pos: u32) -> Result<[u32; 2], PosError> {
        if !(1..=6).contains(&table) {
            return Err(PosError::Corrupt("position out of range"));
        }
        self.entry(table, u64::from(pos))
    }
}
