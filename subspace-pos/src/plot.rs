//! The plot file: writing it ([`Plotter`]), opening it with checksum verification ([`Plot`]),
//! and reading only the few entries a challenge needs.
//!
//! Format, version 1 (all integers little-endian):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `SSPOSPLT` |
//! | 8 | 2 | version, 1 |
//! | 10 | 1 | k |
//! | 11 | 1 | reserved, 0 |
//! | 12 | 32 | plot id |
//! | 44 | 7 × 56 | per table 1..=7: offset u64, entries u64, field width u8, 7 zero bytes, BLAKE3 of the table's bytes |
//! | 436 | 32 | BLAKE3 of bytes 0..436 |
//! | 468 | … | tables, each bit-packed big-endian, padded to whole bytes |
//!
//! Tables 1..=6 hold two fields per entry (children, smaller first; table 1 holds x values
//! in k bits); table 7 holds f7 (k bits) then a position in table 6.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::constants::{MAX_PLOT_K, MIN_K};
use crate::error::PosError;
use crate::id::{Challenge, PlotId};
use crate::progress::{Phase, Progress, report};
use crate::proof::{Proof, Quality};
use crate::prover::{self, Layout};
use crate::sort::bits_for;
use crate::tables::Tables;

const MAGIC: &[u8; 8] = b"SSPOSPLT";
const VERSION: u16 = 1;
const DESCRIPTOR: usize = 56;
const HEADER_BODY: usize = 44 + 7 * DESCRIPTOR;
/// Size of the header in bytes, including its checksum.
pub const HEADER_BYTES: usize = HEADER_BODY + 32;
/// Table 7 entries between two in-memory index points.
const INDEX_STRIDE: u64 = 256;

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
        let tables = Tables::generate_with(plot_id, self.k, self.threads, &mut progress)?;
        report(&mut progress, Phase::Write, 0);
        let info = write_plot(&tables, path.as_ref())?;
        report(&mut progress, Phase::Done, 0);
        Ok(info)
    }
}

/// Packs big-endian bit fields into bytes.
struct Packer {
    out: Vec<u8>,
    acc: u128,
    bits: u32,
}

impl Packer {
    fn with_capacity(bytes: usize) -> Packer {
        Packer {
            out: Vec::with_capacity(bytes),
            acc: 0,
            bits: 0,
        }
    }

    fn push(&mut self, v: u64, n: u32) {
        self.acc = (self.acc << n) | u128::from(v);
        self.bits += n;
        while self.bits >= 8 {
            self.out.push((self.acc >> (self.bits - 8)) as u8);
            self.bits -= 8;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        if self.bits > 0 {
            self.out.push((self.acc << (8 - self.bits)) as u8);
        }
        self.out
    }
}

/// Serialises tables into the version-1 format at `path`.
pub(crate) fn write_plot(tables: &Tables, path: &Path) -> Result<PlotInfo, PosError> {
    let k = tables.k();
    let pairs = tables.pair_tables();
    let (f7, p7) = tables.table7();
    let mut bodies: Vec<(Vec<u8>, u64, u8)> = Vec::with_capacity(7);
    let mut prev = 1u64 << k;
    for table in pairs.iter() {
        let w = if bodies.is_empty() {
            u32::from(k)
        } else {
            bits_for(prev)
        };
        let mut p = Packer::with_capacity(table.len() * 2 * w as usize / 8 + 1);
        for e in table {
            p.push(u64::from(e[0]), w);
            p.push(u64::from(e[1]), w);
        }
        bodies.push((p.finish(), table.len() as u64, w as u8));
        prev = table.len() as u64;
    }
    let w = bits_for(prev);
    let mut p = Packer::with_capacity(f7.len() * (usize::from(k) + w as usize) / 8 + 1);
    for (f, pos) in f7.iter().zip(p7.iter()) {
        p.push(u64::from(*f), u32::from(k));
        p.push(u64::from(*pos), w);
    }
    bodies.push((p.finish(), f7.len() as u64, w as u8));

    let mut header = Vec::with_capacity(HEADER_BYTES);
    header.extend_from_slice(MAGIC);
    header.extend_from_slice(&VERSION.to_le_bytes());
    header.push(k);
    header.push(0);
    header.extend_from_slice(tables.plot_id().as_bytes());
    let mut offset = HEADER_BYTES as u64;
    let mut table_sizes = [0u64; 7];
    for (i, (body, count, width)) in bodies.iter().enumerate() {
        header.extend_from_slice(&offset.to_le_bytes());
        header.extend_from_slice(&count.to_le_bytes());
        header.push(*width);
        header.extend_from_slice(&[0; 7]);
        header.extend_from_slice(blake3::hash(body).as_bytes());
        offset += body.len() as u64;
        table_sizes[i] = *count;
    }
    let sum = blake3::hash(&header);
    header.extend_from_slice(sum.as_bytes());

    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::io::BufWriter::new(File::create(&tmp)?);
    file.write_all(&header)?;
    for (body, _, _) in &bodies {
        file.write_all(body)?;
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

/// Where one table lives in the file.
#[derive(Clone, Copy, Debug)]
struct TableRef {
    offset: u64,
    count: u64,
    width: u32,
}

impl TableRef {
    fn entry_bits(&self, table: usize, k: u8) -> u64 {
        if table == 7 {
            u64::from(k) + u64::from(self.width)
        } else {
            2 * u64::from(self.width)
        }
    }
}

/// An open plot file. Opening verifies every checksum; proving reads a few entries per
/// challenge and re-verifies each proof, so damage is reported, never turned into a proof.
#[derive(Debug)]
pub struct Plot {
    file: File,
    path: PathBuf,
    plot_id: PlotId,
    k: u8,
    tables: [TableRef; 7],
    /// Every `INDEX_STRIDE`-th f7 value of table 7.
    index: Vec<u32>,
    bytes: u64,
}

impl Plot {
    /// Opens a plot, checking its header and the BLAKE3 checksum of every table.
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
        let mut tables = [TableRef {
            offset: 0,
            count: 0,
            width: 0,
        }; 7];
        let mut expected_offset = HEADER_BYTES as u64;
        let mut prev = 1u64 << k;
        for (i, t) in tables.iter_mut().enumerate() {
            let d = &header[44 + i * DESCRIPTOR..44 + (i + 1) * DESCRIPTOR];
            let le = |b: &[u8]| {
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                u64::from_le_bytes(a)
            };
            *t = TableRef {
                offset: le(&d[..8]),
                count: le(&d[8..16]),
                width: u32::from(d[16]),
            };
            let want_width = if i == 0 { u32::from(k) } else { bits_for(prev) };
            if t.offset != expected_offset || t.width != want_width || t.count > 2 << k {
                return Err(PosError::Corrupt("table descriptor"));
            }
            let size = (t.count * t.entry_bits(i + 1, k)).div_ceil(8);
            let end = t
                .offset
                .checked_add(size)
                .ok_or(PosError::Corrupt("table descriptor"))?;
            if end > len {
                return Err(PosError::Corrupt("file truncated"));
            }
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut at = t.offset;
            while at < end {
                let n = ((end - at) as usize).min(buf.len());
                file.read_exact_at(&mut buf[..n], at)?;
                hasher.update(&buf[..n]);
                at += n as u64;
            }
            if hasher.finalize().as_bytes()[..] != d[24..56] {
                return Err(PosError::Corrupt("table checksum"));
            }
            expected_offset = end;
            prev = t.count;
        }
        if expected_offset != len {
            return Err(PosError::Corrupt("trailing bytes"));
        }
        let mut plot = Plot {
            file,
            path,
            plot_id: PlotId::from_bytes(id),
            k,
            tables,
            index: Vec::new(),
            bytes: len,
        };
        let mut index = Vec::with_capacity((tables[6].count / INDEX_STRIDE + 1) as usize);
        let mut i = 0;
        while i < tables[6].count {
            index.push(plot.entry7(i)?.0);
            i += INDEX_STRIDE;
        }
        if index.windows(2).any(|w| w[0] > w[1]) {
            return Err(PosError::Corrupt("table 7 not sorted"));
        }
        plot.index = index;
        Ok(plot)
    }

    /// Quality strings of every proof this plot has for `challenge` (reads about 7 entries each).
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

    /// Reads the raw bits of entry `i` of `table` (1..=7) as two fields.
    fn fields(&self, table: usize, i: u64) -> Result<(u64, u64), PosError> {
        let t = self.tables[table - 1];
        if i >= t.count {
            return Err(PosError::Corrupt("position out of range"));
        }
        let eb = t.entry_bits(table, self.k);
        let start = i * eb;
        let first_byte = start / 8;
        let last_byte = (start + eb).div_ceil(8);
        let mut buf = [0u8; 16];
        let n = (last_byte - first_byte) as usize;
        self.file
            .read_exact_at(&mut buf[..n], t.offset + first_byte)?;
        let w1 = if table == 7 {
            u32::from(self.k)
        } else {
            t.width
        };
        let bit = start % 8;
        let a = crate::bits::read_bits(&buf, bit, w1);
        let b = crate::bits::read_bits(&buf, bit + u64::from(w1), t.width);
        Ok((a, b))
    }

    /// Reads table 7 entries `first .. first + n` (clamped to the table) in one read.
    fn block7(&self, first: u64, n: u64) -> Result<Vec<(u64, u32)>, PosError> {
        let t = self.tables[6];
        let end = (first + n).min(t.count);
        if first >= end {
            return Ok(Vec::new());
        }
        let eb = t.entry_bits(7, self.k);
        let (start_bit, end_bit) = (first * eb, end * eb);
        let first_byte = start_bit / 8;
        let mut buf = vec![0u8; (end_bit.div_ceil(8) - first_byte) as usize];
        self.file.read_exact_at(&mut buf, t.offset + first_byte)?;
        let k = u32::from(self.k);
        let mut bit = start_bit % 8;
        let mut out = Vec::with_capacity((end - first) as usize);
        for _ in first..end {
            let f = crate::bits::read_bits(&buf, bit, k);
            let p = crate::bits::read_bits(&buf, bit + u64::from(k), t.width) as u32;
            out.push((f, p));
            bit += eb;
        }
        Ok(out)
    }

    /// Table 7 entries from the index block that may hold `target`, until f7 exceeds `hi`.
    fn scan7(
        &self,
        target: u64,
        hi: u64,
        mut visit: impl FnMut(u64, u32) -> bool,
    ) -> Result<(), PosError> {
        let mut at = self.index_start(target);
        loop {
            let block = self.block7(at, INDEX_STRIDE)?;
            if block.is_empty() {
                return Ok(());
            }
            for &(f, p) in &block {
                if f > hi || !visit(f, p) {
                    return Ok(());
                }
            }
            at += INDEX_STRIDE;
        }
    }

    fn entry7(&self, i: u64) -> Result<(u32, u32), PosError> {
        let (f, p) = self.fields(7, i)?;
        Ok((f as u32, p as u32))
    }

    fn first_f7_in_file(&self, lo: u64, hi: u64) -> Result<Option<u64>, PosError> {
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

    /// A table 7 position at or before the first entry with f7 >= `target`.
    fn index_start(&self, target: u64) -> u64 {
        let block = self.index.partition_point(|&f| u64::from(f) < target);
        block.saturating_sub(1) as u64 * INDEX_STRIDE
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
        self.first_f7_in_file(lo, hi)
    }

    fn pair(&self, table: usize, pos: u32) -> Result<[u32; 2], PosError> {
        let (a, b) = self.fields(table, u64::from(pos))?;
        Ok([a as u32, b as u32])
    }
}
