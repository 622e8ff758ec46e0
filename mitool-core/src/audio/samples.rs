//! A recording's samples at 16 kHz, held so that memory does not grow with
//! its length.
//!
//! Samples are kept as 16-bit PCM: half the memory of f32, exact for 16-bit
//! recordings, and its rounding (-96 dBFS) far below any recording's own
//! noise. Past [`SPILL_AT`] (ten minutes) they move to an unnamed temporary
//! file (owner-only, in the system's temporary folder, `TMPDIR`): the
//! kernel removes it when the last handle closes, so nothing is left
//! behind even when a run is killed, and no other process can open it by
//! name. Stages read the stretch they work on as f32 ([`Samples::read`],
//! [`Samples::read_into`]); reads of the file go through the page cache,
//! which the system gives back under pressure, so a 4-hour recording costs
//! the process what a 10-minute one does (an hour in memory would be 115 MB).

use std::fs::File;
use std::io::Write;
use std::sync::Arc;

use crate::spill::read_exact_at;

/// Samples kept in memory before the rest goes to a temporary file (ten
/// minutes at 16 kHz: 19 MB).
pub const SPILL_AT: usize = 10 * 60 * super::SAMPLE_RATE as usize;

/// Samples read from the file at a time by the iterators.
const BLOCK: usize = 1 << 14;

/// Samples at [`SAMPLE_RATE`](super::SAMPLE_RATE), in memory or spilled to
/// an unnamed temporary file (see the module's note).
#[derive(Debug, Clone)]
pub struct Samples {
    store: Store,
    /// Samples in memory before spilling (tests make it small).
    spill_at: usize,
}

#[derive(Debug, Clone)]
enum Store {
    Memory(Vec<i16>),
    /// `file` holds `written` samples; `tail` the ones not yet written. The
    /// samples seen are `[start, start + len)` of file and tail together
    /// (the decoder cuts the resampler's delay from the front).
    Spilled {
        file: Arc<File>,
        written: usize,
        tail: Vec<i16>,
        start: usize,
        len: usize,
    },
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            store: Store::Memory(Vec::new()),
            spill_at: SPILL_AT,
        }
    }
}

/// Equal when the samples are (whichever way they are held).
impl PartialEq for Samples {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for Samples {}

pub(super) fn to_f32(x: i16) -> f32 {
    x as f32 / 32_768.0
}

pub(super) fn to_pcm(x: f32) -> i16 {
    (x * 32_768.0).round().clamp(-32_768.0, 32_767.0) as i16
}

impl Samples {
    /// Samples in [-1, 1] (clipped beyond), in memory whatever their length
    /// (tests, short clips already in memory).
    pub fn from_f32(x: &[f32]) -> Self {
        let mut s = Self {
            store: Store::Memory(Vec::new()),
            spill_at: usize::MAX,
        };
        s.extend_f32(x)
            .expect("samples in memory never touch a file");
        s
    }

    /// Empty samples that move to a temporary file past `spill_at` samples.
    pub(super) fn spilling_at(spill_at: usize) -> Self {
        Self {
            store: Store::Memory(Vec::new()),
            spill_at,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        match &self.store {
            Store::Memory(v) => v.len(),
            Store::Spilled { len, .. } => *len,
        }
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the samples live in a temporary file.
    pub fn is_spilled(&self) -> bool {
        matches!(self.store, Store::Spilled { .. })
    }

    /// The samples of `range` (cut at the end), as f32 in [-1, 1].
    pub fn read(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let mut out = vec![0.0; end - start];
        self.read_into(start, &mut out);
        out
    }

    /// Fills `out` with the samples from `start` on; zeros past the end.
    ///
    /// # Panics
    /// When the temporary file cannot be read back (the system took it away
    /// or its disk failed); a batch turns that into this session's error.
    pub fn read_into(&self, start: usize, out: &mut [f32]) {
        let have = self.len().saturating_sub(start).min(out.len());
        let (head, rest) = out.split_at_mut(have);
        rest.fill(0.0);
        match &self.store {
            Store::Memory(v) => {
                for (o, &x) in head.iter_mut().zip(&v[start.min(v.len())..]) {
                    *o = to_f32(x);
                }
            }
            Store::Spilled {
                file,
                written,
                tail,
                start: first,
                ..
            } => {
                let at = first + start;
                // From the file, then from the tail.
                let from_file = written.saturating_sub(at).min(have);
                if from_file > 0 {
                    let mut bytes = vec![0u8; from_file * 2];
                    read_exact_at(file, &mut bytes, at as u64 * 2).unwrap_or_else(|e| {
                        panic!("cannot read the decoded audio back from its temporary file: {e}")
                    });
                    for (o, b) in head.iter_mut().zip(bytes.chunks_exact(2)) {
                        *o = to_f32(i16::from_le_bytes([b[0], b[1]]));
                    }
                }
                if from_file < have {
                    let t0 = at + from_file - written;
                    for (o, &x) in head[from_file..].iter_mut().zip(&tail[t0..]) {
                        *o = to_f32(x);
                    }
                }
            }
        }
    }

    /// The samples of `range` (cut at the end), one by one.
    pub fn iter_range(&self, range: std::ops::Range<usize>) -> Iter<'_> {
        let end = range.end.min(self.len());
        Iter {
            samples: self,
            next: range.start.min(end),
            end,
            buf: Vec::new(),
            at: 0,
        }
    }

    /// All samples, one by one.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_range(0..self.len())
    }

    /// All samples as f32 (short clips; a long recording should be read in parts).
    pub fn to_vec(&self) -> Vec<f32> {
        self.read(0..self.len())
    }

    /// Appends samples in [-1, 1] (clipped beyond); past the spill point
    /// they go to the temporary file.
    pub(super) fn extend_f32(&mut self, x: &[f32]) -> std::io::Result<()> {
        self.extend_pcm(x.iter().map(|&v| to_pcm(v)))
    }

    fn extend_pcm(&mut self, x: impl Iterator<Item = i16>) -> std::io::Result<()> {
        match &mut self.store {
            Store::Memory(v) => {
                v.extend(x);
                if v.len() > self.spill_at {
                    let v = std::mem::take(v);
                    let file = tempfile::tempfile()?;
                    self.store = Store::Spilled {
                        file: Arc::new(file),
                        written: 0,
                        start: 0,
                        len: v.len(),
                        tail: v,
                    };
                    self.flush(false)?;
                }
            }
            Store::Spilled { tail, len, .. } => {
                let before = tail.len();
                tail.extend(x);
                *len += tail.len() - before;
                self.flush(false)?;
            }
        }
        Ok(())
    }

    /// Writes the tail to the file once it is a block long (or now, when `all`).
    fn flush(&mut self, all: bool) -> std::io::Result<()> {
        if let Store::Spilled {
            file,
            written,
            tail,
            ..
        } = &mut self.store
        {
            if tail.len() >= BLOCK * 16 || (all && !tail.is_empty()) {
                let bytes: Vec<u8> = tail.iter().flat_map(|x| x.to_le_bytes()).collect();
                (&**file).write_all(&bytes)?;
                *written += tail.len();
                tail.clear();
            }
        }
        Ok(())
    }

    /// Keeps the samples `[skip, skip + keep)` (the decoder's delay and
    /// padding cut) and writes out what is left in memory.
    pub(super) fn finish(&mut self, skip: usize, keep: usize) -> std::io::Result<()> {
        match &mut self.store {
            Store::Memory(v) => {
                v.drain(..skip.min(v.len()));
                v.truncate(keep);
            }
            Store::Spilled { start, len, .. } => {
                let skip = skip.min(*len);
                *start += skip;
                *len = (*len - skip).min(keep);
            }
        }
        self.flush(true)?;
        if let Store::Spilled { tail, .. } = &mut self.store {
            tail.shrink_to_fit();
        }
        Ok(())
    }
}

impl From<Vec<f32>> for Samples {
    fn from(x: Vec<f32>) -> Self {
        Self::from_f32(&x)
    }
}

/// Samples one by one, read a block at a time (see [`Samples::iter_range`]).
pub struct Iter<'a> {
    samples: &'a Samples,
    next: usize,
    end: usize,
    buf: Vec<f32>,
    at: usize,
}

impl Iterator for Iter<'_> {
    type Item = f32;

    fn next(&mut self) -> Option<f32> {
        if self.at == self.buf.len() {
            if self.next >= self.end {
                return None;
            }
            let n = BLOCK.min(self.end - self.next);
            self.buf.resize(n, 0.0);
            self.samples.read_into(self.next, &mut self.buf);
            self.next += n;
            self.at = 0;
        }
        self.at += 1;
        Some(self.buf[self.at - 1])
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next + self.buf.len() - self.at;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Builds spilling samples from f32 blocks (the mix of several channels).
pub(super) fn collect_blocks(
    len: usize,
    spill_at: usize,
    mut block: impl FnMut(std::ops::Range<usize>) -> Vec<f32>,
) -> std::io::Result<Samples> {
    let mut out = Samples::spilling_at(spill_at);
    for a in (0..len).step_by(BLOCK) {
        out.extend_f32(&block(a..(a + BLOCK).min(len)))?;
    }
    out.finish(0, len)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| ((i % 2000) as f32 - 1000.0) / 1024.0)
            .collect()
    }

    #[test]
    fn spilled_samples_read_as_the_ones_in_memory() {
        let x = ramp(BLOCK * 40 + 123);
        let memory = Samples::from_f32(&x);
        let mut spilled = Samples::spilling_at(1000);
        // Appended in uneven pieces, as a decoder does.
        for piece in x.chunks(7777) {
            spilled.extend_f32(piece).unwrap();
        }
        assert!(spilled.is_spilled() && !memory.is_spilled());
        // Before and after the tail is written out.
        for s in [&spilled, &{
            let mut f = spilled.clone();
            f.finish(0, usize::MAX).unwrap();
            f
        }] {
            assert_eq!(s.len(), x.len());
            assert_eq!(s, &memory);
            for r in [
                0..10,
                999..1001,
                BLOCK * 16 - 5..BLOCK * 16 + 5,
                x.len() - 3..x.len() + 9,
            ] {
                assert_eq!(s.read(r.clone()), memory.read(r));
            }
            let mut out = [9.0f32; 8];
            s.read_into(x.len() - 2, &mut out);
            assert_eq!(out[..2], memory.read(x.len() - 2..x.len())[..]);
            assert_eq!(out[2..], [0.0; 6]);
            // Wholly past the end: zeros.
            s.read_into(x.len() + 50, &mut out);
            assert_eq!(out, [0.0; 8]);
            assert_eq!(s.iter_range(5..BLOCK * 3).len(), BLOCK * 3 - 5);
        }
    }

    #[test]
    fn the_decoders_cut_applies_to_spilled_samples() {
        let x = ramp(50_000);
        let mut spilled = Samples::spilling_at(100);
        spilled.extend_f32(&x).unwrap();
        spilled.finish(300, 40_000).unwrap();
        let mut memory = Samples::from_f32(&x);
        memory.finish(300, 40_000).unwrap();
        assert_eq!(spilled.len(), 40_000);
        assert_eq!(spilled.to_vec(), x[300..40_300]);
        assert_eq!(spilled, memory);
    }

    #[test]
    fn collected_blocks_spill_past_the_point() {
        let x = ramp(BLOCK * 3);
        let s = collect_blocks(x.len(), BLOCK, |r| x[r].to_vec()).unwrap();
        assert!(s.is_spilled());
        assert_eq!(s.to_vec(), Samples::from_f32(&x).to_vec());
    }
}
