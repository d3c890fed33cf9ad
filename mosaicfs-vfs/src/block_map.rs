//! The block map of a block-mode cache entry: which byte ranges of a remote
//! file are present in its sparse cache file (plan 4.6).
//!
//! Present data is a sorted `Vec<Range<u64>>` of non-empty, non-overlapping,
//! non-touching intervals (touching ones are merged on insert), so presence
//! is a binary search and the interval count measures fragmentation. Above
//! [`PROMOTE_ABOVE`] intervals the entry should be promoted to a full-file
//! download.

use std::ops::Range;

/// Above this many intervals an entry is promoted to a full-file download.
pub const PROMOTE_ABOVE: usize = 1000;

/// Version byte of the serialized form.
const FORMAT_V1: u8 = 1;

/// Why a serialized block map could not be read.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum BlockMapError {
    /// The blob is empty or has an unknown version byte.
    #[error("unknown block map format {0:?}")]
    Format(Option<u8>),
    /// The blob ends inside a number.
    #[error("block map blob is truncated")]
    Truncated,
    /// The intervals are empty, overlapping, touching or overflow.
    #[error("block map intervals are not sorted and disjoint")]
    Invalid,
}

/// Sorted, disjoint, merged intervals of present bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlockMap {
    ranges: Vec<Range<u64>>,
}

impl BlockMap {
    /// An empty map (nothing present).
    pub fn new() -> BlockMap {
        BlockMap::default()
    }

    /// The present intervals, sorted.
    pub fn ranges(&self) -> &[Range<u64>] {
        &self.ranges
    }

    /// Number of intervals.
    pub fn interval_count(&self) -> usize {
        self.ranges.len()
    }

    /// Whether nothing is present.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// Total present bytes.
    pub fn present_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// Whether the entry is fragmented enough to be fetched whole instead.
    pub fn needs_promotion(&self) -> bool {
        self.ranges.len() > PROMOTE_ABOVE
    }

    /// Index of the first interval that ends after `offset`.
    fn first_ending_after(&self, offset: u64) -> usize {
        self.ranges.partition_point(|r| r.end <= offset)
    }

    /// Whether byte `offset` is present.
    pub fn contains_offset(&self, offset: u64) -> bool {
        self.ranges
            .get(self.first_ending_after(offset))
            .is_some_and(|r| r.start <= offset)
    }

    /// Whether every byte of `range` is present (an empty range always is).
    pub fn contains(&self, range: Range<u64>) -> bool {
        if range.is_empty() {
            return true;
        }
        self.ranges
            .get(self.first_ending_after(range.start))
            .is_some_and(|r| r.start <= range.start && range.end <= r.end)
    }

    /// The sub-ranges of `range` that are not present, sorted.
    pub fn missing(&self, range: Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        if range.is_empty() {
            return out;
        }
        let mut cursor = range.start;
        for r in &self.ranges[self.first_ending_after(range.start)..] {
            if r.start >= range.end {
                break;
            }
            if r.start > cursor {
                out.push(cursor..r.start);
            }
            cursor = cursor.max(r.end);
            if cursor >= range.end {
                return out;
            }
        }
        if cursor < range.end {
            out.push(cursor..range.end);
        }
        out
    }

    /// Marks `range` present, merging it with every interval it overlaps or
    /// touches.
    pub fn insert(&mut self, range: Range<u64>) {
        if range.is_empty() {
            return;
        }
        // Intervals [lo, hi) are the ones that overlap or touch `range`.
        let lo = self.ranges.partition_point(|r| r.end < range.start);
        let hi = self.ranges.partition_point(|r| r.start <= range.end);
        if lo == hi {
            self.ranges.insert(lo, range);
            return;
        }
        let start = range.start.min(self.ranges[lo].start);
        let end = range.end.max(self.ranges[hi - 1].end);
        self.ranges.splice(lo..hi, std::iter::once(start..end));
    }

    /// The compact binary form stored in SQLite: a version byte, then for
    /// each interval the gap since the previous interval's end and its
    /// length, as LEB128 varints.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(1 + self.ranges.len() * 4);
        out.push(FORMAT_V1);
        let mut prev_end = 0u64;
        for r in &self.ranges {
            put_varint(&mut out, r.start - prev_end);
            put_varint(&mut out, r.end - r.start);
            prev_end = r.end;
        }
        out
    }

    /// Reads the form written by [`BlockMap::to_bytes`], checking that the
    /// intervals are sorted, non-empty and disjoint.
    pub fn from_bytes(blob: &[u8]) -> Result<BlockMap, BlockMapError> {
        match blob.first() {
            Some(&FORMAT_V1) => {}
            other => return Err(BlockMapError::Format(other.copied())),
        }
        let mut pos = 1;
        let mut ranges = Vec::new();
        let mut prev_end = 0u64;
        while pos < blob.len() {
            let gap = get_varint(blob, &mut pos)?;
            let len = get_varint(blob, &mut pos)?;
            // The first interval may start at 0; later ones must leave a gap.
            if len == 0 || (!ranges.is_empty() && gap == 0) {
                return Err(BlockMapError::Invalid);
            }
            let start = prev_end.checked_add(gap).ok_or(BlockMapError::Invalid)?;
            let end = start.checked_add(len).ok_or(BlockMapError::Invalid)?;
            ranges.push(start..end);
            prev_end = end;
        }
        Ok(BlockMap { ranges })
    }
}

/// Merges sorted missing ranges into fewer requests: two ranges separated by
/// fewer than `gap` bytes (of present data) become one request that also
/// re-fetches the gap, trading a few bytes for a round trip. Touching ranges
/// always merge (also with `gap = 0`).
pub fn coalesce(missing: &[Range<u64>], gap: u64) -> Vec<Range<u64>> {
    let mut out: Vec<Range<u64>> = Vec::with_capacity(missing.len());
    for r in missing.iter().filter(|r| !r.is_empty()) {
        match out.last_mut() {
            Some(last) if r.start.saturating_sub(last.end) < gap.max(1) => {
                last.end = last.end.max(r.end);
            }
            _ => out.push(r.clone()),
        }
    }
    out
}

/// Widens `range` to multiples of `block` (at least 1), clamped to `size`.
pub fn align(range: Range<u64>, block: u64, size: u64) -> Range<u64> {
    let block = block.max(1);
    let start = range.start / block * block;
    let end = range.end.div_ceil(block).saturating_mul(block).min(size);
    start.min(end)..end
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(blob: &[u8], pos: &mut usize) -> Result<u64, BlockMapError> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *blob.get(*pos).ok_or(BlockMapError::Truncated)?;
        *pos += 1;
        let bits = u64::from(b & 0x7f);
        if shift == 63 && bits > 1 {
            return Err(BlockMapError::Invalid);
        }
        v |= bits << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(BlockMapError::Invalid)
}

#[cfg(test)]
// Lists of one interval are interval lists here, not ranges to collect.
#[allow(clippy::single_range_in_vec_init)]
pub(crate) mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    /// A map holding `ranges` (also used by the block fetcher's tests).
    pub(crate) fn map(ranges: &[Range<u64>]) -> BlockMap {
        let mut m = BlockMap::new();
        for r in ranges {
            m.insert(r.clone());
        }
        m
    }

    #[track_caller]
    fn check_insert(ranges: &[Range<u64>], expected: &[Range<u64>]) {
        assert_eq!(map(ranges).ranges(), expected, "inserting {ranges:?}");
    }

    #[test]
    fn insert_merges_overlapping_and_touching_intervals() {
        check_insert(&[], &[]);
        check_insert(&[5..5], &[]);
        check_insert(&[0..10], &[0..10]);
        check_insert(&[20..30, 0..10], &[0..10, 20..30]);
        check_insert(&[0..10, 10..20], &[0..20]);
        check_insert(&[10..20, 0..10], &[0..20]);
        check_insert(&[0..10, 5..15], &[0..15]);
        check_insert(&[0..10, 20..30, 40..50, 5..45], &[0..50]);
        check_insert(&[0..10, 20..30, 40..50, 10..20], &[0..30, 40..50]);
        check_insert(&[0..10, 20..30, 12..18], &[0..10, 12..18, 20..30]);
        check_insert(&[0..100, 20..30], &[0..100]);
        check_insert(&[20..30, 0..100], &[0..100]);
        check_insert(&[0..10, 20..30, 30..40, 50..60], &[0..10, 20..40, 50..60]);
        check_insert(
            &[u64::MAX - 1..u64::MAX, 0..1],
            &[0..1, u64::MAX - 1..u64::MAX],
        );
    }

    #[test]
    fn presence_checks() {
        let m = map(&[10..20, 30..40]);
        for (off, present) in [(0, false), (9, false), (10, true), (19, true), (20, false)] {
            assert_eq!(m.contains_offset(off), present, "offset {off}");
        }
        assert!(m.contains_offset(35) && !m.contains_offset(40));
        assert!(m.contains(10..20) && m.contains(12..18) && m.contains(30..40));
        assert!(!m.contains(10..21) && !m.contains(15..35) && !m.contains(0..5));
        assert!(m.contains(50..50), "an empty range is always present");
        assert!(!BlockMap::new().contains(0..1));
    }

    #[track_caller]
    fn check_missing(present: &[Range<u64>], want: Range<u64>, expected: &[Range<u64>]) {
        assert_eq!(
            map(present).missing(want.clone()),
            expected,
            "missing of {want:?} with {present:?} present"
        );
    }

    #[test]
    fn missing_sub_ranges() {
        check_missing(&[], 0..10, &[0..10]);
        check_missing(&[], 5..5, &[]);
        check_missing(&[0..10], 0..10, &[]);
        check_missing(&[0..10], 2..8, &[]);
        check_missing(&[10..20], 0..30, &[0..10, 20..30]);
        check_missing(&[10..20], 0..15, &[0..10]);
        check_missing(&[10..20], 15..30, &[20..30]);
        check_missing(&[10..20, 30..40], 0..50, &[0..10, 20..30, 40..50]);
        check_missing(&[10..20, 30..40], 20..30, &[20..30]);
        check_missing(&[10..20, 30..40], 40..45, &[40..45]);
        check_missing(&[10..20, 30..40], 0..5, &[0..5]);
        check_missing(&[10..20, 30..40], 45..50, &[45..50]);
    }

    #[test]
    fn coalescing_merges_ranges_closer_than_the_gap() {
        let m = [0..10, 12..20, 30..40, 100..110];
        assert_eq!(coalesce(&m, 0), m.to_vec());
        assert_eq!(coalesce(&[0..10, 10..20], 0), vec![0..20]);
        assert_eq!(
            coalesce(&m, 2),
            m.to_vec(),
            "a gap of exactly 2 is not fewer than 2"
        );
        assert_eq!(coalesce(&m, 3), vec![0..20, 30..40, 100..110]);
        assert_eq!(coalesce(&m, 11), vec![0..40, 100..110]);
        assert_eq!(coalesce(&m, 61), vec![0..110]);
        assert_eq!(coalesce(&[], 60), Vec::<Range<u64>>::new());
        assert_eq!(coalesce(&[3..3, 5..6], 0), vec![5..6]);
    }

    #[test]
    fn alignment_widens_to_blocks_within_the_file() {
        assert_eq!(align(5..10, 4, 100), 4..12);
        assert_eq!(align(0..4, 4, 100), 0..4);
        assert_eq!(align(95..99, 8, 99), 88..99);
        assert_eq!(align(5..10, 0, 100), 5..10);
    }

    #[test]
    fn promotion_flag_above_the_limit() {
        let mut m = BlockMap::new();
        for i in 0..PROMOTE_ABOVE as u64 {
            m.insert(i * 10..i * 10 + 5);
        }
        assert_eq!(m.interval_count(), PROMOTE_ABOVE);
        assert!(!m.needs_promotion());
        m.insert(1_000_000..1_000_001);
        assert!(m.needs_promotion());
        // Filling the gaps defragments it again.
        m.insert(0..2_000_000);
        assert!(!m.needs_promotion());
        assert_eq!(m.interval_count(), 1);
    }

    #[test]
    fn serialization_round_trips_and_rejects_bad_blobs() {
        for m in [
            BlockMap::new(),
            map(&[0..1]),
            map(&[5..10, 1 << 40..(1 << 40) + 4096, u64::MAX - 3..u64::MAX]),
        ] {
            assert_eq!(BlockMap::from_bytes(&m.to_bytes()).unwrap(), m);
        }
        // Compact: small gaps and lengths take a byte each.
        assert_eq!(map(&[0..10, 20..30]).to_bytes(), vec![1, 0, 10, 10, 10]);
        assert_eq!(BlockMap::from_bytes(&[]), Err(BlockMapError::Format(None)));
        assert_eq!(
            BlockMap::from_bytes(&[9]),
            Err(BlockMapError::Format(Some(9)))
        );
        assert_eq!(
            BlockMap::from_bytes(&[1, 0x80]),
            Err(BlockMapError::Truncated)
        );
        assert_eq!(
            BlockMap::from_bytes(&[1, 0, 0]),
            Err(BlockMapError::Invalid)
        );
        assert_eq!(
            BlockMap::from_bytes(&[1, 0, 5, 0, 5]),
            Err(BlockMapError::Invalid),
            "touching intervals are never stored unmerged"
        );
        let mut overflow = vec![1];
        put_varint(&mut overflow, u64::MAX);
        put_varint(&mut overflow, 2);
        assert_eq!(BlockMap::from_bytes(&overflow), Err(BlockMapError::Invalid));
    }

    /// Random inserts and queries against a plain bitmap.
    #[test]
    fn randomized_against_a_bitmap_model() {
        const SIZE: u64 = 600;
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x5eed_b10c);
        for _round in 0..200 {
            let mut m = BlockMap::new();
            let mut bits = vec![false; SIZE as usize];
            for _ in 0..rng.random_range(0..40) {
                let a = rng.random_range(0..SIZE);
                let b = rng.random_range(a..=SIZE.min(a + 80));
                m.insert(a..b);
                bits[a as usize..b as usize].fill(true);

                // Invariants: sorted, non-empty, disjoint, not touching.
                for w in m.ranges().windows(2) {
                    assert!(w[0].end < w[1].start, "{:?}", m.ranges());
                }
                assert!(m.ranges().iter().all(|r| !r.is_empty()));
                // Same content as the bitmap.
                let from_model: Vec<Range<u64>> = runs(&bits, true, 0..SIZE);
                assert_eq!(m.ranges(), from_model.as_slice());
                assert_eq!(BlockMap::from_bytes(&m.to_bytes()).unwrap(), m);

                let qa = rng.random_range(0..SIZE);
                let qb = rng.random_range(qa..=SIZE);
                assert_eq!(m.missing(qa..qb), runs(&bits, false, qa..qb), "{qa}..{qb}");
                assert_eq!(
                    m.contains(qa..qb),
                    bits[qa as usize..qb as usize].iter().all(|&b| b)
                );
                assert_eq!(m.contains_offset(qa), bits[qa as usize]);
                let gap = rng.random_range(0..20);
                let merged = coalesce(&m.missing(qa..qb), gap);
                // Coalesced requests cover every missing byte, stay inside the
                // query and are separated by at least `gap` present bytes.
                for r in runs(&bits, false, qa..qb) {
                    assert!(merged.iter().any(|c| c.start <= r.start && r.end <= c.end));
                }
                for w in merged.windows(2) {
                    assert!(w[1].start >= w[0].end + gap.max(1));
                }
                assert!(merged.iter().all(|c| qa <= c.start && c.end <= qb));
            }
        }
    }

    /// Maximal runs of `value` in `bits` within `within`.
    fn runs(bits: &[bool], value: bool, within: Range<u64>) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut start = None;
        for i in within.clone() {
            match (bits[i as usize] == value, start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    out.push(s..i);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push(s..within.end);
        }
        out
    }
}
