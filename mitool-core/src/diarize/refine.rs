//! Short-window refinement (stage 5 of [`super`]).

use super::*;

impl Diarizer {
    /// Re-checks who speaks wherever one person talks. The segmenter sees
    /// 10 s at a time and, with two similar voices trading short turns, can
    /// follow both as one local speaker (AMI dev00: 2.75 s of 22 s went to
    /// the wrong person). Short windows slide over the speech; each frame
    /// takes the voice its windows are nearest to, when that voice is
    /// clearly nearer than the one it had. Overlapped frames are left alone.
    ///
    /// The same short windows give a second opinion on the number of
    /// voices where it was estimated ([`recount`]): the 10 s windows'
    /// embeddings blur two similar voices that the segmenter followed as
    /// one local speaker, 1.5 s windows mostly hold one voice.
    ///
    /// `forced`: for a given count the estimate found all but one of, the
    /// long windows' own groups ([`super::count::reach`]).
    pub(super) fn refine(
        &self,
        cells: &frames::Cells,
        voices: &mut Voices,
        forced: Option<Voices>,
        count: &mut CountDecision,
        audio: &Audio,
        sink: &dyn Sink,
    ) -> Result<()> {
        let n_frames = voices.active.first().map_or(0, Vec::len);
        let samples = cells.samples();
        // Short windows lie on the 0.25 s cell grid (frames.rs keeps
        // statistics per cell, not per frame).
        let cell = frames::CELL;
        let n_cells = cells.len();
        let len = ((self.config.refine_window_s * SAMPLE_RATE as f32 / cell as f32).round()
            as usize)
            .clamp(1, n_cells.max(1));
        let hop = ((self.config.refine_hop_s * SAMPLE_RATE as f32) as usize).max(1);
        let speech: Vec<bool> = (0..n_frames)
            .map(|g| voices.active.iter().any(|a| a[g]))
            .collect();
        // Windows (first cell) over each stretch of speech, the last one
        // flush with its end; short stretches get one window centred on them.
        let mut windows: Vec<usize> = Vec::new();
        let on_grid =
            |start: f64| ((start / cell as f64).round().max(0.0) as usize).min(n_cells - len);
        for (a, b) in runs(&speech) {
            let (s0, s1) = (a * FRAME_STEP + FRAME_CENTRE, b * FRAME_STEP + FRAME_CENTRE);
            let span = len * cell;
            if s1 - s0 <= span {
                windows.push(on_grid((s0 + s1) as f64 / 2.0 - span as f64 / 2.0));
            } else {
                let n = (s1 - s0 - span).div_ceil(hop) + 1;
                let gap = (s1 - s0 - span) as f64 / (n - 1).max(1) as f64;
                windows.extend((0..n).map(|i| on_grid(s0 as f64 + gap * i as f64)));
            }
        }
        windows.dedup();
        let total = total_ms(samples);
        let mut shorts: Vec<Short> = Vec::with_capacity(windows.len());
        for batch in windows.chunks(256) {
            let stats: Vec<(usize, Vec<f32>)> = batch
                .iter()
                .filter_map(|&j| cells.stats(j..j + len).map(|s| (j * cell, s)))
                .collect();
            let (starts, stats): (Vec<usize>, Vec<Vec<f32>>) = stats.into_iter().unzip();
            for (&a, e) in starts.iter().zip(self.pool(&stats)?) {
                let Some(emb) = e else { continue };
                let end = (a + len * cell).min(samples);
                let first = a.saturating_sub(FRAME_CENTRE) / FRAME_STEP;
                let last = (end.saturating_sub(FRAME_CENTRE) / FRAME_STEP + 1).min(n_frames);
                shorts.push(Short {
                    frames: first..last,
                    emb,
                });
            }
            let done = batch.last().map_or(0, |&j| total_ms(j * cell));
            sink.advance(&audio.path, Stage::Diarize, 2 * total / 3 + done / 3);
        }
        if count.how == "estimated" {
            let (active, centroids) = (&mut voices.active, &mut voices.centroids);
            let evidence = super::count::recount(active, centroids, &shorts, &self.config);
            count.merge_short(&evidence, &self.config);
        } else if let Some(n) = count.fill {
            count.review = super::count::reach(voices, forced, &shorts, &self.config, n);
        }
        let Voices { active, centroids } = voices;
        // Each voice as the short windows hear it (they are compared with
        // short windows), else as the long ones do.
        let owners = owners(active, &shorts);
        for (c, centroid) in centroids.iter_mut().enumerate() {
            if let Some(m) = short_centroid(&owned(&shorts, &owners, c)) {
                *centroid = m;
            }
        }
        let k = active.len();
        let mut sim = vec![vec![0f32; k]; n_frames];
        let mut cover = vec![0u32; n_frames];
        for s in &shorts {
            let cos: Vec<f32> = centroids.iter().map(|c| cosine(c, &s.emb)).collect();
            for g in s.frames.clone() {
                sim[g].iter_mut().zip(&cos).for_each(|(t, x)| *t += x);
                cover[g] += 1;
            }
        }
        relabel(active, &sim, &cover, self.config.refine_margin);
        Ok(())
    }
}

/// One short window: the frames it covers and its embedding.
pub(super) struct Short {
    pub frames: std::ops::Range<usize>,
    pub emb: Vec<f32>,
}

/// The voice each short window belongs to: the one speaking alone in at
/// least 80% of its frames.
pub(super) fn owners(active: &[Vec<bool>], shorts: &[Short]) -> Vec<Option<usize>> {
    shorts
        .iter()
        .map(|s| {
            let (c, n, _) = most_alone(active, s)?;
            (n * 5 >= s.frames.len() * 4 && n > 0).then_some(c)
        })
        .collect()
}

/// The voice heard alone in most of a short window's frames: (voice, its
/// frames alone, frames with any speech).
pub(super) fn most_alone(active: &[Vec<bool>], s: &Short) -> Option<(usize, usize, usize)> {
    let mut alone = vec![0usize; active.len()];
    let mut speech = 0;
    for g in s.frames.clone() {
        let on: Vec<usize> = (0..active.len()).filter(|&c| active[c][g]).collect();
        speech += usize::from(!on.is_empty());
        if let [c] = on[..] {
            alone[c] += 1;
        }
    }
    let (c, n) = alone.into_iter().enumerate().max_by_key(|&(_, n)| n)?;
    Some((c, n, speech))
}

/// The short windows voice `c` owns (see [`owners`]).
pub(super) fn owned<'a>(shorts: &'a [Short], owners: &[Option<usize>], c: usize) -> Vec<&'a Short> {
    shorts
        .iter()
        .zip(owners)
        .filter(|(_, o)| **o == Some(c))
        .map(|(s, _)| s)
        .collect()
}

/// Normalised mean embedding of short windows; `None` for none.
pub(super) fn short_centroid(windows: &[&Short]) -> Option<Vec<f32>> {
    let embs: Vec<&[f32]> = windows.iter().map(|s| s.emb.as_slice()).collect();
    (!embs.is_empty()).then(|| mean(&embs))
}

/// Normalised mean of embeddings.
pub(super) fn mean(embs: &[&[f32]]) -> Vec<f32> {
    let mut m = vec![0f32; embs.first().map_or(0, |e| e.len())];
    for e in embs {
        m.iter_mut().zip(e.iter()).for_each(|(a, b)| *a += b);
    }
    normalise(&mut m);
    m
}

/// Moves each frame with exactly one active speaker to the voice its short
/// windows are nearest to (`sim`: summed cosines, `cover`: how many
/// windows), when that beats the current speaker by more than `margin`.
pub(super) fn relabel(active: &mut [Vec<bool>], sim: &[Vec<f32>], cover: &[u32], margin: f32) {
    for (g, (s, &n)) in sim.iter().zip(cover).enumerate() {
        let on: Vec<usize> = (0..active.len()).filter(|&c| active[c][g]).collect();
        if n == 0 || on.len() != 1 {
            continue;
        }
        let cur = on[0];
        let best = (0..s.len())
            .max_by(|&a, &b| s[a].total_cmp(&s[b]).then(b.cmp(&a)))
            .unwrap_or(cur);
        if best != cur && (s[best] - s[cur]) / n as f32 > margin {
            active[cur][g] = false;
            active[best][g] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relabel_moves_only_clear_single_speaker_frames() {
        // Frame 0: speaker 0 alone, windows favour 1 clearly -> moves.
        // Frame 1: favour 1 by less than the margin -> stays.
        // Frame 2: both speak (overlap) -> untouched.
        // Frame 3: no window covers it -> untouched.
        let mut active = vec![
            vec![true, true, true, true],
            vec![false, false, true, false],
        ];
        let sim = vec![
            vec![0.4, 1.6], // two windows: means 0.2 vs 0.8
            vec![0.5, 0.52],
            vec![0.0, 1.0],
            vec![0.0, 0.0],
        ];
        relabel(&mut active, &sim, &[2, 1, 1, 0], 0.05);
        assert_eq!(active[0], vec![false, true, true, true]);
        assert_eq!(active[1], vec![true, false, true, false]);
    }
}
