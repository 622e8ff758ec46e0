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

/// CAM++ frame features of one recording: row `g` is centred on sample
/// `g * HOP + CENTRE`.
pub(super) struct Features {
    rows: Vec<f32>,
    n: usize,
    samples: usize,
}

impl Features {
    /// Length of the recording, in samples.
    pub(super) fn samples(&self) -> usize {
        self.samples
    }

    /// Feature frames whose centres fall in `[a, b)` (samples).
    fn frames_in(&self, a: usize, b: usize) -> std::ops::Range<usize> {
        let first = a.saturating_sub(CENTRE).div_ceil(HOP);
        let end = if b <= CENTRE {
            0
        } else {
            (b - CENTRE - 1) / HOP + 1
        };
        first.min(self.n)..end.min(self.n)
    }

    /// Mean and standard deviation (n − 1) of the frames centred in the
    /// given sample ranges (each frame once); `None` under `MIN_FRAMES`.
    pub(super) fn stats(&self, ranges: &[(usize, usize)]) -> Option<Vec<f32>> {
        let mut frames: Vec<usize> = ranges
            .iter()
            .flat_map(|&(a, b)| self.frames_in(a, b))
            .collect();
        frames.sort_unstable();
        frames.dedup();
        if frames.len() < MIN_FRAMES {
            return None;
        }
        let n = frames.len() as f64;
        let mut sum = vec![0f64; DIM];
        for &g in &frames {
            let row = &self.rows[g * DIM..(g + 1) * DIM];
            sum.iter_mut().zip(row).for_each(|(s, &x)| *s += x as f64);
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
        let mut var = vec![0f64; DIM];
        for &g in &frames {
            let row = &self.rows[g * DIM..(g + 1) * DIM];
            var.iter_mut()
                .zip(row.iter().zip(&mean))
                .for_each(|(v, (&x, m))| *v += (x as f64 - m).powi(2));
        }
        Some(
            mean.iter()
                .map(|&m| m as f32)
                .chain(var.iter().map(|v| (v / (n - 1.0)).sqrt() as f32))
                .collect(),
        )
    }
}

impl Diarizer {
    /// Runs the frame model over `mono` in 30 s chunks (with 1 s of
    /// context either side, whose frames are dropped).
    pub(super) fn features(&self, mono: &[f32]) -> Result<Features> {
        let wrap = |e: ort::Error| Error::Model {
            path: self.frames_path.clone(),
            detail: e.to_string(),
        };
        let n = if mono.len() >= 400 {
            (mono.len() - 400) / HOP + 1
        } else {
            0
        };
        let mut rows = vec![0f32; n * DIM];
        let mut session = self.frames.lock().expect("frame model session poisoned");
        let mut start = 0;
        while start < mono.len() && n > 0 {
            let end = (start + CHUNK).min(mono.len());
            // Read context on both sides, on the frame grid so rows line up.
            let mut a = start.saturating_sub(CONTEXT) / HOP * HOP;
            let b = (end + CONTEXT).min(mono.len());
            if b - a < MIN_INPUT {
                a = b.saturating_sub(MIN_INPUT) / HOP * HOP;
            }
            let mut input = mono[a..b].to_vec();
            input.resize(input.len().max(MIN_INPUT), 0.0);
            let len = input.len();
            let x = Tensor::from_array(([1, len], input)).map_err(wrap)?;
            let out = session.run(ort::inputs!["waveform" => x]).map_err(wrap)?;
            let (shape, f) = out["frames"].try_extract_tensor::<f32>().map_err(wrap)?;
            let t = shape[2] as usize;
            for i in 0..t {
                let centre = a + i * HOP + CENTRE;
                let g = (a / HOP) + i;
                if centre < start || centre >= end || g >= n {
                    continue;
                }
                for c in 0..DIM {
                    rows[g * DIM + c] = f[c * t + i];
                }
            }
            start = end;
        }
        Ok(Features {
            rows,
            n,
            samples: mono.len(),
        })
    }

    /// Embeddings (L2-normalised) of pooled statistics, in one run of the
    /// pooling model; `None` where it gave non-finite values.
    pub(super) fn pool(&self, stats: &[Vec<f32>]) -> Result<Vec<Option<Vec<f32>>>> {
        if stats.is_empty() {
            return Ok(Vec::new());
        }
        let wrap = |e: ort::Error| Error::Model {
            path: self.pool_path.clone(),
            detail: e.to_string(),
        };
        let flat: Vec<f32> = stats.iter().flatten().copied().collect();
        let x = Tensor::from_array(([stats.len(), 2 * DIM], flat)).map_err(wrap)?;
        let mut session = self.pool.lock().expect("pool model session poisoned");
        let out = session.run(ort::inputs!["stats" => x]).map_err(wrap)?;
        let (_, e) = out["embedding"].try_extract_tensor::<f32>().map_err(wrap)?;
        Ok(e.chunks(e.len() / stats.len())
            .map(|v| {
                let mut v = v.to_vec();
                v.iter().all(|x| x.is_finite()).then(|| {
                    normalise(&mut v);
                    v
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn features(values: &[f32]) -> Features {
        Features {
            rows: values
                .iter()
                .flat_map(|&v| std::iter::repeat_n(v, DIM))
                .collect(),
            n: values.len(),
            samples: values.len() * HOP,
        }
    }

    #[test]
    fn frames_are_those_centred_in_the_range() {
        let f = features(&[0.0; 10]);
        assert_eq!(f.frames_in(0, CENTRE), 0..0);
        assert_eq!(f.frames_in(0, CENTRE + 1), 0..1);
        assert_eq!(f.frames_in(HOP + CENTRE, HOP + CENTRE + 1), 1..2);
        assert_eq!(f.frames_in(CENTRE + 1, 3 * HOP + CENTRE), 1..3);
        assert_eq!(f.frames_in(0, 100 * HOP), 0..10);
    }

    #[test]
    fn stats_are_mean_then_sample_deviation_of_each_frame_once() {
        let f = features(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        // Overlapping ranges count each frame once: frames 0..5.
        let s = f.stats(&[(0, 3 * HOP), (2 * HOP, 5 * HOP)]).unwrap();
        assert_eq!(s.len(), 2 * DIM);
        assert!((s[0] - 3.0).abs() < 1e-6 && (s[DIM - 1] - 3.0).abs() < 1e-6);
        assert!((s[DIM] - 2.5f32.sqrt()).abs() < 1e-6);
        assert!(f.stats(&[(0, 4 * HOP)]).is_none(), "under MIN_FRAMES");
    }
}
