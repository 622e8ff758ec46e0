//! CAM++ run once over a recording, its frames pooled into embeddings.
//!
//! CAM++ is a frame-level network (fbank, convolutions, TDNN blocks) ending
//! in statistics pooling (mean and standard deviation over frames) and one
//! linear layer. The model is split there (`models/diarize/split.py`):
//! `campplus-frames` gives 512 features every 20 ms, `campplus-pool` turns
//! pooled statistics into the 192-dim embedding. Running the frame part once
//! over the recording and pooling the frames of each stretch costs one pass
//! over the audio instead of one per overlapping window (each second of
//! speech used to go through CAM++ about four times in the 10 s windows and
//! three times in the 1.5 s ones). Pooling all frames of one input gives
//! the whole model's embedding exactly (`parity` test).
//!
//! The frames are not kept: one pass over the audio, 30 s at a time, adds
//! each frame to the statistics of every requested stretch it falls in and
//! to the running statistics of its 0.25 s cell, and drops it. Memory is the
//! open requests plus 4 KB per cell (about 60 MB an hour; the frames
//! themselves would be 370 MB an hour); past ten minutes the cells go to an
//! unnamed temporary file (`crate::spill`), so a 4-hour recording holds what
//! a 10-minute one does. Short windows are pooled from whole cells
//! (`Cells::stats`).

use super::*;

/// Samples between two feature frames (10 ms fbank hop, then stride 2).
const HOP: usize = 320;
/// A feature frame's centre, in samples from the start of its input.
const CENTRE: usize = 200;
/// Features per frame.
const DIM: usize = 512;
/// Samples per run of the frame model, and the context read on either side
/// (its receptive field is under a second; the context keeps chunk edges
/// from showing).
const CHUNK: usize = 30 * SAMPLE_RATE as usize;
const CONTEXT: usize = SAMPLE_RATE as usize;
/// The frame model's shortest input (its fbank and convolutions need 0.5 s).
const MIN_INPUT: usize = 8000;
/// Fewest frames pooled into an embedding (0.1 s, as the whole model's minimum).
const MIN_FRAMES: usize = 5;
/// Samples per cell of the short-window grid (0.25 s).
pub(super) const CELL: usize = 4000;
/// Rows per run of the pooling model.
const POOL_BLOCK: usize = 256;
/// Cells kept in memory before the rest go to a temporary file (10 minutes).
const SPILL_CELLS: usize = 10 * 60 * SAMPLE_RATE as usize / CELL;

/// One run of the frame model: its own samples `[start, end)` and the
/// samples it reads, `[a, b)`, with context on both sides on the frame grid
/// so rows line up.
#[derive(Clone, Copy)]
struct Chunk {
    start: usize,
    end: usize,
    a: usize,
    b: usize,
}

impl Chunk {
    fn new(start: usize, end: usize, len: usize) -> Self {
        let mut a = start.saturating_sub(CONTEXT) / HOP * HOP;
        let b = (end + CONTEXT).min(len);
        if b - a < MIN_INPUT {
            a = b.saturating_sub(MIN_INPUT) / HOP * HOP;
        }
        Self { start, end, a, b }
    }
}

/// Audio the frame model reads a stretch at a time: a recording's samples,
/// or a clip already in memory as f32 (read as it is, not rounded to 16 bits).
pub(super) trait Source {
    fn len(&self) -> usize;
    fn read(&self, range: std::ops::Range<usize>) -> Vec<f32>;
}

impl Source for Samples {
    fn len(&self) -> usize {
        Samples::len(self)
    }
    fn read(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        Samples::read(self, range)
    }
}

impl Source for [f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }
    fn read(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        self[range].to_vec()
    }
}

/// Running mean and sum of squared deviations of frames (Welford), merged
/// with Chan's formula; f64 so long stretches lose nothing.
#[derive(Clone)]
struct Acc {
    n: f64,
    mean: Vec<f64>,
    m2: Vec<f64>,
}

impl Acc {
    fn new() -> Self {
        Self {
            n: 0.0,
            mean: vec![0.0; DIM],
            m2: vec![0.0; DIM],
        }
    }

    fn push(&mut self, row: &[f32]) {
        self.n += 1.0;
        let inv = 1.0 / self.n;
        for ((m, s), &x) in self.mean.iter_mut().zip(&mut self.m2).zip(row) {
            let x = x as f64;
            let d = x - *m;
            *m += d * inv;
            *s += d * (x - *m);
        }
    }

    fn merge(&mut self, n: f64, mean: &[f32], m2: &[f32]) {
        if n == 0.0 {
            return;
        }
        let total = self.n + n;
        let (wa, wb) = (self.n * n / total, n / total);
        for (((m, s), &mb), &sb) in self.mean.iter_mut().zip(&mut self.m2).zip(mean).zip(m2) {
            let d = mb as f64 - *m;
            *m += d * wb;
            *s += sb as f64 + d * d * wa;
        }
        self.n = total;
    }

    /// Mean then standard deviation (n − 1); `None` under `MIN_FRAMES`.
    fn stats(&self) -> Option<Vec<f32>> {
        (self.n >= MIN_FRAMES as f64).then(|| {
            let var = |s: &f64| (s / (self.n - 1.0)).sqrt() as f32;
            self.mean
                .iter()
                .map(|&m| m as f32)
                .chain(self.m2.iter().map(var))
                .collect()
        })
    }
}

/// The speaker statistics of a long recording could not be kept in the
/// temporary folder.
fn spill_error(cause: std::io::Error) -> Error {
    Error::io(
        std::env::temp_dir(),
        "keep a long recording's speaker statistics (60 MB an hour) in this temporary folder; set TMPDIR to a folder with room",
        cause,
    )
}

/// Feature frames whose centres fall in `[a, b)` (samples).
fn frames_in(a: usize, b: usize) -> std::ops::Range<usize> {
    let first = a.saturating_sub(CENTRE).div_ceil(HOP);
    let end = if b <= CENTRE {
        0
    } else {
        (b - CENTRE - 1) / HOP + 1
    };
    first..end.max(first)
}

/// Frame statistics per 0.25 s cell of a recording, for short windows.
pub(super) struct Cells {
    n: Vec<u32>,
    /// Per cell, the mean then the sum of squared deviations (`2 * DIM`).
    rows: crate::spill::Rows,
    samples: usize,
}

impl Cells {
    /// Length of the recording, in samples.
    pub(super) fn samples(&self) -> usize {
        self.samples
    }

    /// Number of cells.
    pub(super) fn len(&self) -> usize {
        self.n.len()
    }

    /// Mean and standard deviation (n − 1) of the frames centred in the
    /// given cells; `None` under `MIN_FRAMES`.
    pub(super) fn stats(&self, cells: std::ops::Range<usize>) -> Option<Vec<f32>> {
        let cells = cells.start.min(self.len())..cells.end.min(self.len());
        let rows = self.rows.read(cells.clone());
        let mut acc = Acc::new();
        for (j, row) in cells.zip(rows.chunks_exact(2 * DIM)) {
            acc.merge(self.n[j] as f64, &row[..DIM], &row[DIM..]);
        }
        acc.stats()
    }

    /// Stores cell `j` (cells come in order; those skipped had no frames).
    fn store(&mut self, j: usize, acc: &Acc) -> std::io::Result<()> {
        self.pad(j)?;
        self.n[j] = acc.n as u32;
        let row: Vec<f32> = (acc.mean.iter().chain(&acc.m2))
            .map(|&x| x as f32)
            .collect();
        self.rows.push(&row)
    }

    /// Empty rows up to cell `j`.
    fn pad(&mut self, j: usize) -> std::io::Result<()> {
        let zeros = vec![0.0; 2 * DIM];
        while self.rows.len() < j.min(self.len()) {
            self.rows.push(&zeros)?;
        }
        Ok(())
    }
}

/// One pass over the frames: statistics of each requested set of sample
/// ranges, and of each cell.
struct Pass {
    /// Each request's frame ranges (sorted, disjoint), first frame, end frame.
    sets: Vec<(Vec<std::ops::Range<usize>>, usize, usize)>,
    open: Vec<Option<Acc>>,
    done: Vec<Option<Vec<f32>>>,
    cells: Cells,
    /// The cell frames are being added to (frames come in order, so each
    /// cell is finished before the next starts and is stored as f32).
    cell: (usize, Acc),
}

impl Pass {
    fn new(requests: &[Vec<(usize, usize)>], samples: usize) -> Self {
        let sets: Vec<_> = requests
            .iter()
            .map(|ranges| {
                let mut r: Vec<(usize, usize)> = ranges.clone();
                r.sort_unstable();
                // Overlapping ranges count each frame once.
                let mut frames: Vec<std::ops::Range<usize>> = Vec::new();
                for (a, b) in r {
                    let f = frames_in(a, b);
                    match frames.last_mut() {
                        Some(last) if f.start <= last.end => last.end = last.end.max(f.end),
                        _ if f.is_empty() => {}
                        _ => frames.push(f),
                    }
                }
                let first = frames.first().map_or(0, |f| f.start);
                let end = frames.last().map_or(0, |f| f.end);
                (frames, first, end)
            })
            .collect();
        let n_cells = samples.div_ceil(CELL);
        Self {
            open: vec![None; sets.len()],
            done: vec![None; sets.len()],
            sets,
            cells: Cells {
                n: vec![0; n_cells],
                rows: crate::spill::Rows::new(2 * DIM, SPILL_CELLS),
                samples,
            },
            cell: (0, Acc::new()),
        }
    }

    /// Stores the current cell's statistics and starts cell `next`.
    fn next_cell(&mut self, next: usize) -> std::io::Result<()> {
        let (j, acc) = std::mem::replace(&mut self.cell, (next, Acc::new()));
        if j < self.cells.len() && acc.n > 0.0 {
            self.cells.store(j, &acc)?;
        }
        Ok(())
    }

    /// Adds frames `g0..` (`rows`, one row of `DIM` per frame); frames
    /// come in order, each once.
    fn feed(&mut self, g0: usize, rows: &[f32]) -> std::io::Result<()> {
        let g1 = g0 + rows.len() / DIM;
        let row = |g: usize| &rows[(g - g0) * DIM..(g - g0 + 1) * DIM];
        for g in g0..g1 {
            let j = (g * HOP + CENTRE) / CELL;
            if j != self.cell.0 {
                self.next_cell(j)?;
            }
            self.cell.1.push(row(g));
        }
        for (i, (frames, first, end)) in self.sets.iter().enumerate() {
            if *end <= g0 || *first >= g1 {
                continue;
            }
            let acc = self.open[i].get_or_insert_with(Acc::new);
            for f in frames {
                for g in f.start.max(g0)..f.end.min(g1) {
                    acc.push(row(g));
                }
            }
            if *end <= g1 {
                self.done[i] = self.open[i].take().and_then(|a| a.stats());
            }
        }
        Ok(())
    }

    fn finish(mut self) -> std::io::Result<(Vec<Option<Vec<f32>>>, Cells)> {
        self.next_cell(usize::MAX)?;
        let n_cells = self.cells.len();
        self.cells.pad(n_cells)?;
        self.cells.rows.flush()?;
        let mut done = self.done;
        for (d, open) in done.iter_mut().zip(self.open) {
            if let Some(acc) = open {
                *d = acc.stats();
            }
        }
        Ok((done, self.cells))
    }
}

impl Diarizer {
    /// Runs the frame model over `mono` in 30 s chunks (with 1 s of context
    /// either side, whose frames are dropped) and pools the frames of each
    /// requested set of sample ranges (`None` where under 0.1 s) and of
    /// each 0.25 s cell. `advance` hears how many samples are done.
    ///
    /// Chunks are dealt round-robin to the frame model's sessions, one
    /// worker each, and their frames pooled in order as they come back:
    /// two one-thread runs side by side do a chunk in 0.12 s where one
    /// two-thread run takes 0.17 s (CAM++ int8, 32 s, 2 cores).
    pub(super) fn frame_stats(
        &self,
        mono: &(impl Source + Sync + ?Sized),
        requests: &[Vec<(usize, usize)>],
        mut advance: impl FnMut(usize),
    ) -> Result<(Vec<Option<Vec<f32>>>, Cells)> {
        let n = if mono.len() >= 400 {
            (mono.len() - 400) / HOP + 1
        } else {
            0
        };
        let mut pass = Pass::new(requests, mono.len());
        if n == 0 {
            return pass.finish().map_err(spill_error);
        }
        let chunks: Vec<Chunk> = (0..mono.len())
            .step_by(CHUNK)
            .map(|start| Chunk::new(start, (start + CHUNK).min(mono.len()), mono.len()))
            .collect();
        let workers = self.frames.len().min(chunks.len()).max(1);
        let (tx, rx) = std::sync::mpsc::channel::<(usize, Result<(usize, Vec<f32>)>)>();
        let stop = AtomicBool::new(false);
        std::thread::scope(|s| -> Result<()> {
            for me in 0..workers {
                let (tx, chunks, stop) = (tx.clone(), &chunks, &stop);
                s.spawn(move || {
                    let mut session = crate::panic::lock(&self.frames[me]);
                    let mine: Vec<usize> = (me..chunks.len()).step_by(workers).collect();
                    for (k, &i) in mine.iter().enumerate() {
                        if stop.load(Ordering::SeqCst) {
                            return;
                        }
                        // The arena's memory goes back after this worker's last run.
                        let last = k + 1 == mine.len();
                        let rows = self.chunk_frames(&mut session, mono, &chunks[i], n, last);
                        if tx.send((i, rows)).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(tx);
            // Frames are pooled in order; chunks that come back early wait.
            let mut early = std::collections::BTreeMap::new();
            let mut next = 0;
            for (i, rows) in rx {
                let rows = rows.inspect_err(|_| stop.store(true, Ordering::SeqCst))?;
                early.insert(i, rows);
                while let Some((g0, rows)) = early.remove(&next) {
                    if !rows.is_empty() {
                        pass.feed(g0, &rows).map_err(spill_error)?;
                    }
                    advance(chunks[next].end);
                    next += 1;
                }
            }
            Ok(())
        })?;
        pass.finish().map_err(spill_error)
    }

    /// One chunk's own frames (centres in `[start, end)`), as rows of
    /// `DIM`, and the index of the first.
    fn chunk_frames(
        &self,
        session: &mut Session,
        mono: &(impl Source + ?Sized),
        chunk: &Chunk,
        n: usize,
        last: bool,
    ) -> Result<(usize, Vec<f32>)> {
        let wrap = |e: ort::Error| Error::Model {
            path: self.frames_path.clone(),
            detail: e.to_string(),
        };
        let Chunk { start, end, a, b } = *chunk;
        let mut input = mono.read(a..b);
        input.resize(input.len().max(MIN_INPUT), 0.0);
        let len = input.len();
        let x = Tensor::from_array(([1, len], input)).map_err(wrap)?;
        let shrink = last
            .then(|| crate::onnx::shrink_after(&self.frames_path))
            .transpose()?;
        let out = if let Some(shrink) = &shrink {
            session.run_with_options(ort::inputs!["waveform" => x], shrink)
        } else {
            session.run(ort::inputs!["waveform" => x])
        }
        .map_err(wrap)?;
        let (shape, f) = out["frames"].try_extract_tensor::<f32>().map_err(wrap)?;
        let t = shape[2] as usize;
        let own = |i: &usize| {
            let centre = a + i * HOP + CENTRE;
            centre >= start && centre < end && a / HOP + i < n
        };
        let mut rows = Vec::new();
        let Some(i0) = (0..t).find(own) else {
            return Ok((0, rows));
        };
        let i1 = (i0..t).take_while(own).last().map_or(i0, |i| i + 1);
        rows.reserve((i1 - i0) * DIM);
        for i in i0..i1 {
            rows.extend((0..DIM).map(|c| f[c * t + i]));
        }
        Ok((a / HOP + i0, rows))
    }

    /// Embeddings (L2-normalised) of pooled statistics; `None` where the
    /// pooling model gave non-finite values. Runs in blocks of
    /// [`POOL_BLOCK`] rows: the model works row by row, and one run over an
    /// hour's requests would copy their statistics twice more (about 80 MB).
    pub(super) fn pool(&self, stats: &[Vec<f32>]) -> Result<Vec<Option<Vec<f32>>>> {
        let wrap = |e: ort::Error| Error::Model {
            path: self.pool_path.clone(),
            detail: e.to_string(),
        };
        let mut session = crate::panic::lock(&self.pool);
        let mut embeddings = Vec::with_capacity(stats.len());
        for block in stats.chunks(POOL_BLOCK) {
            let flat: Vec<f32> = block.iter().flatten().copied().collect();
            let x = Tensor::from_array(([block.len(), 2 * DIM], flat)).map_err(wrap)?;
            let out = session.run(ort::inputs!["stats" => x]).map_err(wrap)?;
            let (_, e) = out["embedding"].try_extract_tensor::<f32>().map_err(wrap)?;
            embeddings.extend(e.chunks(e.len() / block.len()).map(|v| {
                let mut v = v.to_vec();
                v.iter().all(|x| x.is_finite()).then(|| {
                    normalise(&mut v);
                    v
                })
            }));
        }
        Ok(embeddings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames whose every feature is the given value.
    fn rows(values: &[f32]) -> Vec<f32> {
        values
            .iter()
            .flat_map(|&v| std::iter::repeat_n(v, DIM))
            .collect()
    }

    fn direct(values: &[f32]) -> (f32, f32) {
        let n = values.len() as f32;
        let m = values.iter().sum::<f32>() / n;
        let v = values.iter().map(|x| (x - m).powi(2)).sum::<f32>() / (n - 1.0);
        (m, v.sqrt())
    }

    /// Many sets over varied frames, fed in uneven chunks, against pooling
    /// each set's frames directly.
    #[test]
    fn streamed_sets_match_pooling_their_frames_directly() {
        let n = 300;
        let mut seed = 7u64;
        let mut rnd = |m: usize| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as usize % m
        };
        let all: Vec<f32> = (0..n * DIM).map(|_| rnd(1000) as f32 / 100.0).collect();
        let requests: Vec<Vec<(usize, usize)>> = (0..40)
            .map(|_| {
                (0..1 + rnd(5))
                    .map(|_| {
                        let a = rnd(n * HOP);
                        (a, a + rnd(60 * HOP))
                    })
                    .collect()
            })
            .collect();
        let samples = n * HOP + 400;
        let mut pass = Pass::new(&requests, samples);
        let mut g = 0;
        while g < n {
            let end = (g + 1 + rnd(70)).min(n);
            pass.feed(g, &all[g * DIM..end * DIM]).unwrap();
            g = end;
        }
        let (sets, _) = pass.finish().unwrap();
        for (req, got) in requests.iter().zip(&sets) {
            let mut frames: Vec<usize> = req
                .iter()
                .flat_map(|&(a, b)| frames_in(a, b))
                .filter(|&g| g < n)
                .collect();
            frames.sort_unstable();
            frames.dedup();
            let mut acc = Acc::new();
            frames
                .iter()
                .for_each(|&g| acc.push(&all[g * DIM..(g + 1) * DIM]));
            match (acc.stats(), got) {
                (None, None) => {}
                (Some(want), Some(got)) => {
                    for (w, x) in want.iter().zip(got) {
                        assert!((w - x).abs() < 1e-4, "{req:?}: {w} vs {x}");
                    }
                }
                (w, g) => panic!("{req:?}: {} vs {}", w.is_some(), g.is_some()),
            }
        }
    }

    #[test]
    fn frames_are_those_centred_in_the_range() {
        assert_eq!(frames_in(0, CENTRE), 0..0);
        assert_eq!(frames_in(0, CENTRE + 1), 0..1);
        assert_eq!(frames_in(HOP + CENTRE, HOP + CENTRE + 1), 1..2);
        assert_eq!(frames_in(CENTRE + 1, 3 * HOP + CENTRE), 1..3);
        assert_eq!(frames_in(0, 10 * HOP), 0..10);
    }

    #[test]
    fn a_set_fed_in_pieces_gets_the_mean_and_sample_deviation_of_each_frame_once() {
        let values: Vec<f32> = (0..40).map(|i| ((i * 7) % 11) as f32).collect();
        let samples = values.len() * HOP;
        // Overlapping ranges: frames 2..30 once.
        let requests = vec![
            vec![(2 * HOP, 20 * HOP), (10 * HOP, 30 * HOP)],
            vec![(0, 4 * HOP)],
        ];
        let mut pass = Pass::new(&requests, samples);
        let all = rows(&values);
        // Chunks that split the first set twice.
        pass.feed(0, &all[..7 * DIM]).unwrap();
        pass.feed(7, &all[7 * DIM..25 * DIM]).unwrap();
        pass.feed(25, &all[25 * DIM..]).unwrap();
        let (sets, cells) = pass.finish().unwrap();
        let s = sets[0].as_ref().unwrap();
        let (m, sd) = direct(&values[2..30]);
        assert_eq!(s.len(), 2 * DIM);
        assert!((s[0] - m).abs() < 1e-5 && (s[DIM - 1] - m).abs() < 1e-5);
        assert!((s[DIM] - sd).abs() < 1e-5);
        assert!(sets[1].is_none(), "4 frames is under MIN_FRAMES");

        // Cells pool the same as the frames they hold.
        // A frame belongs to the cell holding its centre.
        let held = (0..values.len())
            .take_while(|g| (g * HOP + CENTRE) / CELL < 2)
            .count();
        assert!(held >= MIN_FRAMES && held < values.len());
        let c = cells.stats(0..2).unwrap();
        let (m, sd) = direct(&values[..held]);
        assert!((c[0] - m).abs() < 1e-5 && (c[DIM] - sd).abs() < 1e-5);
        assert_eq!(cells.len(), samples.div_ceil(CELL));
    }

    /// Cells moved to a temporary file pool as the ones kept in memory.
    #[test]
    fn cells_in_a_file_pool_as_cells_in_memory() {
        let values: Vec<f32> = (0..400).map(|i| ((i * 13) % 17) as f32).collect();
        let samples = values.len() * HOP;
        let all = rows(&values);
        let run = |spill_at: usize| {
            let mut pass = Pass::new(&[], samples);
            pass.cells.rows = crate::spill::Rows::new(2 * DIM, spill_at);
            // Frames 100..150 missing: their cells stay empty.
            pass.feed(0, &all[..100 * DIM]).unwrap();
            pass.feed(150, &all[150 * DIM..]).unwrap();
            pass.finish().unwrap().1
        };
        let (memory, file) = (run(usize::MAX), run(3));
        assert!(file.rows.is_spilled() && !memory.rows.is_spilled());
        assert_eq!(file.len(), memory.len());
        for r in [0..2, 5..11, 7..9, 25..31, 30..usize::MAX] {
            assert_eq!(file.stats(r.clone()), memory.stats(r.clone()), "{r:?}");
        }
        assert!(memory.stats(9..12).is_none(), "cells 9-11 got no frames");
    }

    /// Pooling in blocks gives each row the embedding it gets alone.
    #[test]
    fn pooling_in_blocks_matches_pooling_each_row_alone() {
        let store = crate::models::Store::open(None).expect("models installed (bash scripts/test)");
        let d = Diarizer::new(&store, Default::default()).expect("diarization models load");
        let n = POOL_BLOCK + 3;
        let stats: Vec<Vec<f32>> = (0..n)
            .map(|r| {
                (0..2 * DIM)
                    .map(|c| ((r * 31 + c * 7) % 97) as f32 / 97.0)
                    .collect()
            })
            .collect();
        let all = d.pool(&stats).unwrap();
        assert_eq!(all.len(), n);
        for r in [0, POOL_BLOCK - 1, POOL_BLOCK, n - 1] {
            let alone = d.pool(&stats[r..r + 1]).unwrap().pop().flatten().unwrap();
            let cos = crate::diarize::cosine(all[r].as_ref().unwrap(), &alone);
            assert!(cos > 0.99999, "row {r}: cosine {cos}");
        }
        assert!(d.pool(&[]).unwrap().is_empty());
    }
}
