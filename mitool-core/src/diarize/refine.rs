//! Short-window refinement (stage 5 of [`super`]).

use super::*;

impl Diarizer {
    /// Re-checks who speaks wherever one person talks. The segmenter sees
    /// 10 s at a time and, with two similar voices trading short turns, can
    /// follow both as one local speaker (AMI dev00: 2.75 s of 22 s went to
    /// the wrong person). Short windows slide over the speech; each frame
    /// takes the voice its windows are nearest to, when that voice is
    /// clearly nearer than the one it had. Overlapped frames are left alone.
    pub(super) fn refine(
        &self,
        mono: &[f32],
        active: &mut [Vec<bool>],
        centroids: &[Vec<f32>],
        audio: &Audio,
        sink: &dyn Sink,
    ) -> Result<()> {
        let n_frames = active.first().map_or(0, Vec::len);
        let len = ((self.config.refine_window_s * SAMPLE_RATE as f32) as usize).min(mono.len());
        let hop = (self.config.refine_hop_s * SAMPLE_RATE as f32) as usize;
        let speech: Vec<bool> = (0..n_frames).map(|g| active.iter().any(|a| a[g])).collect();
        // Window starts (samples) over each stretch of speech, the last one
        // flush with its end; short stretches get one window centred on them.
        let mut windows: Vec<usize> = Vec::new();
        for (a, b) in runs(&speech) {
            let (s0, s1) = (a * FRAME_STEP + FRAME_CENTRE, b * FRAME_STEP + FRAME_CENTRE);
            let fit = |start: usize| start.min(mono.len() - len);
            if s1 - s0 <= len {
                windows.push(fit(((s0 + s1) / 2).saturating_sub(len / 2)));
            } else {
                let n = (s1 - s0 - len).div_ceil(hop) + 1;
                let span = (s1 - s0 - len) as f64;
                windows.extend(
                    (0..n).map(|i| {
                        fit(s0 + (span * i as f64 / (n - 1).max(1) as f64).round() as usize)
                    }),
                );
            }
        }
        let k = centroids.len();
        let mut sim = vec![vec![0f32; k]; n_frames];
        let mut cover = vec![0u32; n_frames];
        let total = total_ms(mono.len());
        for batch in windows.chunks(8) {
            let stretches: Vec<&[f32]> = batch.iter().map(|&a| &mono[a..a + len]).collect();
            for (&a, e) in batch.iter().zip(self.embed_batch(&stretches)?) {
                let Some(e) = e else { continue };
                let s: Vec<f32> = centroids.iter().map(|c| cosine(c, &e)).collect();
                let first = a.saturating_sub(FRAME_CENTRE) / FRAME_STEP;
                let last = ((a + len).saturating_sub(FRAME_CENTRE) / FRAME_STEP + 1).min(n_frames);
                for g in first..last {
                    sim[g].iter_mut().zip(&s).for_each(|(t, x)| *t += x);
                    cover[g] += 1;
                }
            }
            let done = batch.last().map_or(0, |&a| total_ms(a));
            sink.advance(&audio.path, Stage::Diarize, 2 * total / 3 + done / 3);
        }
        relabel(active, &sim, &cover, self.config.refine_margin);
        Ok(())
    }
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
