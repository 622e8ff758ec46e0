//! Finding speech with Silero VAD (ONNX), so that Whisper never sees long
//! silences (where it hallucinates) and long recordings go in short chunks.
//!
//! The region logic follows Silero's own `get_speech_timestamps`: a region
//! opens when the speech probability reaches `threshold`, and closes after
//! `min_silence_ms` below `threshold - 0.15`.

use std::path::Path;

use ort::session::Session;
use ort::value::Tensor;

use crate::audio::{Samples, SAMPLE_RATE};
use crate::error::{Error, Result};

/// Samples Silero scores at a time at 16 kHz.
pub const WINDOW: usize = 512;
/// Samples of the previous window it sees as context.
const CONTEXT: usize = 64;
/// Pieces of a recording run side by side, at most (see [`Vad::probabilities`]).
const LANES: usize = 8;
/// The shortest piece (30 s of windows): short files keep fewer lanes.
const MIN_PIECE: usize = 30 * SAMPLE_RATE as usize / WINDOW;
/// Windows a piece starts early so its state has settled (1 s).
const WARM_UP: usize = SAMPLE_RATE as usize / WINDOW;

/// Options for [`Vad`].
#[derive(Debug, Clone)]
pub struct VadConfig {
    /// Probability above which a window is speech.
    pub threshold: f32,
    /// Regions shorter than this are dropped (clicks, coughs).
    pub min_speech_ms: u32,
    /// Silence must last this long to end a region.
    pub min_silence_ms: u32,
    /// Padding added at each side of a region, so word edges are kept.
    pub speech_pad_ms: u32,
    /// Regions longer than this are cut at their quietest point
    /// (a region must fit in one transcription chunk).
    pub max_region_s: f32,
}

impl Default for VadConfig {
    fn default() -> Self {
        // Silero's published defaults, with the region cap fitted to the
        // transcriber's 20 s chunks (`TranscribeConfig::max_chunk_s`).
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 100,
            speech_pad_ms: 30,
            max_region_s: 19.0,
        }
    }
}

impl VadConfig {
    /// Checks that the settings make sense.
    pub fn validate(&self) -> Result<()> {
        if !(0.15..1.0).contains(&self.threshold) {
            return Err(Error::Config(format!(
                "VAD threshold must be between 0.15 and 1, got {}",
                self.threshold
            )));
        }
        if !(1.0..=30.0).contains(&self.max_region_s) {
            return Err(Error::Config(format!(
                "VAD max_region_s must be between 1 and 30, got {}",
                self.max_region_s
            )));
        }
        Ok(())
    }
}

/// A stretch of speech, in samples at 16 kHz, `start..end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    pub start: usize,
    pub end: usize,
}

impl Region {
    /// Start in seconds.
    pub fn start_s(&self) -> f64 {
        self.start as f64 / SAMPLE_RATE as f64
    }
    /// End in seconds.
    pub fn end_s(&self) -> f64 {
        self.end as f64 / SAMPLE_RATE as f64
    }
    /// Length in samples.
    pub fn len(&self) -> usize {
        self.end - self.start
    }
    /// True for an empty region.
    pub fn is_empty(&self) -> bool {
        self.end <= self.start
    }
}

/// A loaded Silero model. One per thread: the session keeps recurrent state.
pub struct Vad {
    session: Session,
    config: VadConfig,
    model: std::path::PathBuf,
}

impl Vad {
    /// Loads the model at `path` (ONNX Runtime must be initialised).
    pub fn new(path: &Path, config: VadConfig) -> Result<Self> {
        config.validate()?;
        Ok(Self {
            session: crate::onnx::session(path, 1)?,
            config,
            model: path.to_path_buf(),
        })
    }

    /// Speech probability of every [`WINDOW`] of `samples`.
    ///
    /// The recording is cut into up to [`LANES`] pieces run side by side as
    /// one batch, each a window of the model's batch: Silero is recurrent,
    /// so one stream is one tiny run per 32 ms, and ONNX Runtime's overhead
    /// per run outweighs the work (164 us a window alone, 58 in a batch of
    /// eight). Every piece after the first starts [`WARM_UP`] windows early
    /// from an empty state, and those warm-up outputs are dropped. The
    /// pieces depend only on the length, never on threads.
    pub fn probabilities(
        &mut self,
        samples: &Samples,
        progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        self.probabilities_in_lanes(samples, LANES, progress)
    }

    /// As [`Vad::probabilities`] with at most `max_lanes` pieces; 1 is the
    /// plain one-stream pass, as Silero's own Python package runs it.
    pub fn probabilities_in_lanes(
        &mut self,
        samples: &Samples,
        max_lanes: usize,
        mut progress: impl FnMut(usize),
    ) -> Result<Vec<f32>> {
        let wrap = |e: ort::Error| Error::Model {
            path: self.model.clone(),
            detail: e.to_string(),
        };
        let n = samples.len().div_ceil(WINDOW);
        if n == 0 {
            return Ok(Vec::new());
        }
        let lanes = n.div_ceil(MIN_PIECE).clamp(1, max_lanes.max(1));
        let piece = n.div_ceil(lanes);
        // Lane k owns windows [k * piece, (k + 1) * piece) and reads from
        // `first[k]` (lane 0 from the start); all run `steps` windows in lockstep.
        let first: Vec<usize> = (0..lanes)
            .map(|k| (k * piece).saturating_sub(WARM_UP))
            .collect();
        let steps = piece + WARM_UP;
        let width = CONTEXT + WINDOW;
        let mut state = vec![0f32; 2 * lanes * 128];
        let mut input = vec![0f32; lanes * width];
        let mut probs = vec![0f32; n];
        let sr = Tensor::from_array(((), vec![SAMPLE_RATE as i64])).map_err(wrap)?;
        for step in 0..steps {
            for (k, row) in input.chunks_mut(width).enumerate() {
                // The new window follows the last CONTEXT samples of the previous one.
                row.copy_within(WINDOW.., 0);
                samples.read_into((first[k] + step) * WINDOW, &mut row[CONTEXT..]);
            }
            let x = Tensor::from_array(([lanes, width], input.clone())).map_err(wrap)?;
            let st = Tensor::from_array(([2usize, lanes, 128], state.clone())).map_err(wrap)?;
            let out = self
                .session
                .run(ort::inputs!["input" => x, "state" => st, "sr" => sr.clone()])
                .map_err(wrap)?;
            let (_, p) = out["output"].try_extract_tensor::<f32>().map_err(wrap)?;
            for (k, &pk) in p.iter().enumerate() {
                let w = first[k] + step;
                if (k * piece..((k + 1) * piece).min(n)).contains(&w) {
                    probs[w] = pk;
                }
            }
            let (_, st) = out["stateN"].try_extract_tensor::<f32>().map_err(wrap)?;
            state.copy_from_slice(st);
            if step % 256 == 0 {
                progress((step * lanes * WINDOW).min(samples.len()));
            }
        }
        Ok(probs)
    }

    /// Speech regions of `samples`.
    pub fn regions(
        &mut self,
        samples: &Samples,
        progress: impl FnMut(usize),
    ) -> Result<Vec<Region>> {
        let probs = self.probabilities(samples, progress)?;
        Ok(regions_from_probabilities(
            &probs,
            samples.len(),
            &self.config,
        ))
    }
}

/// Turns per-window probabilities into padded, merged, length-capped regions.
pub fn regions_from_probabilities(probs: &[f32], n_samples: usize, cfg: &VadConfig) -> Vec<Region> {
    let ms = |m: u32| m as usize * SAMPLE_RATE as usize / 1000;
    let neg = (cfg.threshold - 0.15).max(0.01);
    let min_silence = ms(cfg.min_silence_ms);
    let min_speech = ms(cfg.min_speech_ms);
    let pad = ms(cfg.speech_pad_ms);

    let mut raw = Vec::new();
    let mut start: Option<usize> = None;
    let mut temp_end = 0usize;
    for (i, &p) in probs.iter().enumerate() {
        let cur = i * WINDOW;
        if p >= cfg.threshold {
            temp_end = 0;
            if start.is_none() {
                start = Some(cur);
            }
        } else if p < neg {
            if let Some(s) = start {
                if temp_end == 0 {
                    temp_end = cur;
                }
                if cur - temp_end >= min_silence {
                    if temp_end - s >= min_speech {
                        raw.push(Region {
                            start: s,
                            end: temp_end,
                        });
                    }
                    start = None;
                    temp_end = 0;
                }
            }
        }
    }
    if let Some(s) = start {
        let end = n_samples;
        if end - s >= min_speech {
            raw.push(Region { start: s, end });
        }
    }

    // Pad, then merge regions the padding made touch.
    let mut merged: Vec<Region> = Vec::new();
    for r in raw {
        let r = Region {
            start: r.start.saturating_sub(pad),
            end: (r.end + pad).min(n_samples),
        };
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }

    // Cut regions longer than the cap at their least speech-like window.
    let max = (cfg.max_region_s * SAMPLE_RATE as f32) as usize;
    let mut out = Vec::with_capacity(merged.len());
    for mut r in merged {
        while r.len() > max {
            let lo = (r.start + max / 2) / WINDOW;
            let hi = ((r.start + max) / WINDOW).min(probs.len().saturating_sub(1));
            let cut = (lo..=hi)
                .min_by(|&a, &b| probs[a].total_cmp(&probs[b]))
                .map_or(r.start + max, |w| w * WINDOW)
                .clamp(r.start + 1, r.start + max);
            out.push(Region {
                start: r.start,
                end: cut,
            });
            r.start = cut;
        }
        if !r.is_empty() {
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probs(pattern: &[(f32, usize)]) -> Vec<f32> {
        pattern
            .iter()
            .flat_map(|&(p, n)| std::iter::repeat_n(p, n))
            .collect()
    }

    #[test]
    fn one_region_with_padding() {
        // 1 s silence, 1 s speech, 1 s silence (31.25 windows per second).
        let p = probs(&[(0.01, 31), (0.9, 31), (0.01, 32)]);
        let r = regions_from_probabilities(&p, 94 * WINDOW, &VadConfig::default());
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].start, 31 * WINDOW - 480);
        assert_eq!(r[0].end, 62 * WINDOW + 480);
    }

    #[test]
    fn short_blips_are_dropped_and_short_pauses_bridged() {
        let cfg = VadConfig::default();
        let p = probs(&[(0.9, 3), (0.01, 40)]);
        assert!(regions_from_probabilities(&p, 43 * WINDOW, &cfg).is_empty());
        // A 64 ms pause inside speech does not split it.
        let p = probs(&[(0.9, 20), (0.01, 2), (0.9, 20), (0.01, 40)]);
        assert_eq!(regions_from_probabilities(&p, 82 * WINDOW, &cfg).len(), 1);
    }

    #[test]
    fn long_regions_are_cut_below_the_cap_at_the_quietest_point() {
        let cfg = VadConfig {
            max_region_s: 10.0,
            ..Default::default()
        };
        // 25 s of speech with one dip at ~8 s.
        let mut p = vec![0.9f32; 782];
        p[250] = 0.4;
        let r = regions_from_probabilities(&p, 782 * WINDOW, &cfg);
        assert!(r.len() >= 3);
        assert!(r.iter().all(|x| x.len() <= 160_000));
        assert_eq!(r[0].end, 250 * WINDOW);
        assert_eq!(r.last().unwrap().end, 782 * WINDOW);
    }

    #[test]
    fn silence_gives_no_regions() {
        let p = vec![0.02f32; 500];
        assert!(regions_from_probabilities(&p, 500 * WINDOW, &VadConfig::default()).is_empty());
    }
}
