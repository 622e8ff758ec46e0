//! Rows of numbers that move to a temporary file once there are many, so
//! that a stage's memory does not grow with the recording's length.
//!
//! The file is unnamed and owner-only (`tempfile::tempfile`, in the
//! system's temporary folder, `TMPDIR`): the kernel removes it when the
//! last handle closes, a killed run included, and no other process can
//! open it by name. Reads go through the page cache, which the system
//! gives back under pressure, instead of the process's own memory.

use std::fs::File;
use std::io::Write;

/// Fixed-width rows of f32, appended in order and read by ranges.
#[derive(Debug)]
pub struct Rows {
    width: usize,
    /// Rows kept in memory before the rest go to the file.
    spill_at: usize,
    file: Option<File>,
    /// Rows in the file.
    written: usize,
    /// Rows not yet in the file (all of them until the spill).
    tail: Vec<f32>,
}

/// Rows written to the file at a time once spilled.
const FLUSH_ROWS: usize = 64;

impl Rows {
    /// Empty rows of `width` values; past `spill_at` rows they go to a file.
    pub fn new(width: usize, spill_at: usize) -> Self {
        Self {
            width,
            spill_at,
            file: None,
            written: 0,
            tail: Vec::new(),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.written + self.tail.len() / self.width
    }

    /// Whether the rows live in a temporary file.
    #[cfg(test)]
    pub fn is_spilled(&self) -> bool {
        self.file.is_some()
    }

    /// Appends one row (`width` values).
    pub fn push(&mut self, row: &[f32]) -> std::io::Result<()> {
        debug_assert_eq!(row.len(), self.width);
        self.tail.extend_from_slice(row);
        let rows = self.tail.len() / self.width;
        if self.file.is_none() && rows > self.spill_at {
            self.file = Some(tempfile::tempfile()?);
        }
        if self.file.is_some() && rows >= FLUSH_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes what is in memory to the file (where there is one).
    pub fn flush(&mut self) -> std::io::Result<()> {
        if let Some(file) = &mut self.file {
            let bytes: Vec<u8> = self.tail.iter().flat_map(|x| x.to_le_bytes()).collect();
            file.write_all(&bytes)?;
            self.written += self.tail.len() / self.width;
            self.tail.clear();
            self.tail.shrink_to(FLUSH_ROWS * self.width);
        }
        Ok(())
    }

    /// Rows `range` (cut at the end), one after another.
    ///
    /// # Panics
    /// When the temporary file cannot be read back (the system took it away
    /// or its disk failed); a batch turns that into this session's error.
    pub fn read(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        let end = range.end.min(self.len());
        let start = range.start.min(end);
        let mut out = Vec::with_capacity((end - start) * self.width);
        let from_file = self.written.saturating_sub(start).min(end - start);
        if let (Some(file), true) = (&self.file, from_file > 0) {
            let mut bytes = vec![0u8; from_file * self.width * 4];
            read_exact_at(file, &mut bytes, (start * self.width * 4) as u64).unwrap_or_else(|e| {
                panic!("cannot read back a temporary file of this recording's statistics: {e}")
            });
            out.extend(
                bytes
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            );
        }
        let t0 = (start + from_file).saturating_sub(self.written) * self.width;
        let t1 = (end.saturating_sub(self.written)) * self.width;
        if t1 > t0 {
            out.extend_from_slice(&self.tail[t0..t1]);
        }
        out
    }
}

/// Reads `buf.len()` bytes at `offset` without moving a shared cursor, so
/// that several threads can read one file.
pub(crate) fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut done, mut buf) = (0u64, buf);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset + done)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    done += n as u64;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_rows_read_as_rows_in_memory() {
        let row = |i: usize| [i as f32, -(i as f32), 0.5 * i as f32];
        let (mut memory, mut spilled) = (Rows::new(3, usize::MAX), Rows::new(3, 10));
        for i in 0..500 {
            memory.push(&row(i)).unwrap();
            spilled.push(&row(i)).unwrap();
        }
        assert!(spilled.is_spilled() && !memory.is_spilled());
        // Some rows are still in memory, then none.
        for flush in [false, true] {
            if flush {
                spilled.flush().unwrap();
            }
            assert_eq!(spilled.len(), 500);
            for r in [0..1, 5..20, 60..70, 440..500, 498..510, 600..700] {
                assert_eq!(spilled.read(r.clone()), memory.read(r.clone()), "{r:?}");
            }
            assert_eq!(spilled.read(7..8), row(7));
        }
    }
}
