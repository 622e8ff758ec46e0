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
    pub(super) fn refine(
        &self,
        cells: &frames::Cells,
        active: &mut Vec<Vec<bool>>,
        centroids: &mut Vec<Vec<f32>>,
        count: &mut CountDecision,
        audio: &Audio,
        sink: &dyn Sink,
    ) -> Result<()> {
        let n_frames = active.first().map_or(0, Vec::len);
        let samples = cells.samples();
        // Short windows lie on the 0.25 s cell grid (frames.rs keeps
        // statistics per cell, not per frame).
        let cell = frames::CELL;
        let n_cells = cells.len();
        let len = ((self.config.refine_window_s * SAMPLE_RATE as f32 / cell as f32).round()
            as usize)
            .clamp(1, n_cells.max(1));
        let hop = ((self.config.refine_hop_s * SAMPLE_RATE as f32) as usize).max(1);
        let speech: Vec<bool> = (0..n_frames).map(|g| active.iter().any(|a| a[g])).collect();
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
            let evidence = recount(active, centroids, &shorts, &self.config);
            count.merge_short(&evidence, &self.config);
        }
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
fn owners(active: &[Vec<bool>], shorts: &[Short]) -> Vec<Option<usize>> {
    shorts
        .iter()
        .map(|s| {
            let mut alone = vec![0usize; active.len()];
            for g in s.frames.clone() {
                let on: Vec<usize> = (0..active.len()).filter(|&c| active[c][g]).collect();
                if let [c] = on[..] {
                    alone[c] += 1;
                }
            }
            let (c, n) = alone.iter().enumerate().max_by_key(|(_, n)| **n)?;
            (*n * 5 >= s.frames.len() * 4 && *n > 0).then_some(c)
        })
        .collect()
}

/// The short windows voice `c` owns (see [`owners`]).
fn owned<'a>(shorts: &'a [Short], owners: &[Option<usize>], c: usize) -> Vec<&'a Short> {
    shorts
        .iter()
        .zip(owners)
        .filter(|(_, o)| **o == Some(c))
        .map(|(s, _)| s)
        .collect()
}

/// Normalised mean embedding of short windows; `None` for none.
fn short_centroid(windows: &[&Short]) -> Option<Vec<f32>> {
    let embs: Vec<&[f32]> = windows.iter().map(|s| s.emb.as_slice()).collect();
    (!embs.is_empty()).then(|| mean(&embs))
}

/// Normalised mean of embeddings.
fn mean(embs: &[&[f32]]) -> Vec<f32> {
    let mut m = vec![0f32; embs.first().map_or(0, |e| e.len())];
    for e in embs {
        m.iter_mut().zip(e.iter()).for_each(|(a, b)| *a += b);
    }
    normalise(&mut m);
    m
}

/// Spherical 2-means (farthest-point start, deterministic): a side per
/// embedding and the two centroids.
fn two_means(embs: &[&[f32]]) -> (Vec<usize>, [Vec<f32>; 2]) {
    let all = mean(embs);
    let far = |from: &[f32]| {
        (0..embs.len())
            .min_by(|&a, &b| cosine(embs[a], from).total_cmp(&cosine(embs[b], from)))
            .unwrap_or(0)
    };
    let a = far(&all);
    let b = far(embs[a]);
    let mut c = [embs[a].to_vec(), embs[b].to_vec()];
    let mut side = vec![0usize; embs.len()];
    for _ in 0..50 {
        let new: Vec<usize> = embs
            .iter()
            .map(|e| usize::from(cosine(&c[1], e) > cosine(&c[0], e)))
            .collect();
        let done = new == side;
        side = new;
        for (k, centre) in c.iter_mut().enumerate() {
            let members: Vec<&[f32]> = embs
                .iter()
                .zip(&side)
                .filter(|(_, s)| **s == k)
                .map(|(e, _)| *e)
                .collect();
            if !members.is_empty() {
                *centre = mean(&members);
            }
        }
        if done {
            break;
        }
    }
    (side, c)
}

/// What the short windows said of the count: the closest decisions to
/// their thresholds (see [`recount`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(super) struct ShortEvidence {
    /// Lowest cosine of two voices' short-window centroids merged.
    pub loosest_merged: Option<f32>,
    /// Highest cosine of two voices kept apart.
    pub closest_apart: Option<f32>,
    /// Lowest 2-means cosine of a voice split in two.
    pub loosest_split: Option<f32>,
    /// Lowest 2-means cosine of a voice left whole.
    pub tightest_whole: Option<f32>,
}

/// The count, checked on short windows: voices whose short-window
/// centroids are alike (cosine > `short_merge_cosine`) are merged; a voice
/// whose short windows fall in two clearly different groups (2-means
/// centroids' cosine < `short_split_cosine`, each with at least
/// `MIN_SPLIT_WINDOWS`) is split, the frames of the new voice going to it
/// in [`relabel`]. The thresholds and what they were set on:
/// [`DiarizeConfig::default`].
pub(super) fn recount(
    active: &mut Vec<Vec<bool>>,
    centroids: &mut Vec<Vec<f32>>,
    shorts: &[Short],
    cfg: &DiarizeConfig,
) -> ShortEvidence {
    let mut ev = ShortEvidence::default();
    // A voice no short window hears alone has under about a second of
    // speech of its own: where its long-window centroid is like another
    // voice's (cosine > `fold_cosine`), a fragment of that voice, folded in.
    let mut kept = 0;
    loop {
        let owners = owners(active, shorts);
        let heard = |c: usize| owners.contains(&Some(c));
        let Some(lost) = (kept..active.len()).find(|&c| !heard(c)) else {
            break;
        };
        let Some(into) = (0..active.len())
            .filter(|&c| c != lost && heard(c))
            .max_by(|&a, &b| {
                cosine(&centroids[a], &centroids[lost])
                    .total_cmp(&cosine(&centroids[b], &centroids[lost]))
            })
            .filter(|&c| {
                let speech_s = active[lost].iter().filter(|&&a| a).count() as f64 * FRAME_S;
                speech_s < FOLD_BELOW_S || cosine(&centroids[c], &centroids[lost]) > cfg.fold_cosine
            })
        else {
            // Unlike every other voice: a person heard only in overlap
            // (far-field meetings), kept.
            kept = lost + 1;
            continue;
        };
        centroids.remove(lost);
        let gone = active.remove(lost);
        let into = if into > lost { into - 1 } else { into };
        for (g, on) in gone.into_iter().enumerate() {
            active[into][g] |= on;
        }
    }
    // Merge.
    loop {
        let owners = owners(active, shorts);
        let cents: Vec<Option<Vec<f32>>> = (0..active.len())
            .map(|c| short_centroid(&owned(shorts, &owners, c)))
            .collect();
        let mut best: Option<(f32, usize, usize)> = None;
        for i in 0..cents.len() {
            for j in i + 1..cents.len() {
                if let (Some(a), Some(b)) = (&cents[i], &cents[j]) {
                    let c = cosine(a, b);
                    if best.is_none_or(|(x, _, _)| c > x) {
                        best = Some((c, i, j));
                    }
                }
            }
        }
        let Some((c, i, j)) = best else { break };
        if c <= cfg.short_merge_cosine || active.len() <= cfg.min_speakers {
            ev.closest_apart = Some(c);
            break;
        }
        ev.loosest_merged = Some(ev.loosest_merged.map_or(c, |m| m.min(c)));
        centroids.remove(j);
        let gone = active.remove(j);
        for (g, on) in gone.into_iter().enumerate() {
            active[i][g] |= on;
        }
    }
    // Split.
    let owners = owners(active, shorts);
    let mut splits: Vec<(usize, Vec<usize>)> = Vec::new();
    for c in 0..active.len() {
        if active.len() + splits.len() >= cfg.max_speakers {
            break;
        }
        let mine = owned(shorts, &owners, c);
        if mine.len() < 2 * MIN_SPLIT_WINDOWS {
            continue;
        }
        // The tenth of windows least like the voice (overlap, a
        // back-channel, breath) is left out: 2-means would split it off.
        let all: Vec<&[f32]> = mine.iter().map(|s| s.emb.as_slice()).collect();
        let centre = mean(&all);
        let mut by_fit: Vec<usize> = (0..mine.len()).collect();
        by_fit.sort_by(|&a, &b| cosine(&centre, all[b]).total_cmp(&cosine(&centre, all[a])));
        by_fit.truncate(mine.len() - mine.len() / 10);
        by_fit.sort_unstable();
        let mine: Vec<&Short> = by_fit.iter().map(|&i| mine[i]).collect();
        let embs: Vec<&[f32]> = mine.iter().map(|s| s.emb.as_slice()).collect();
        let (side, cents) = two_means(&embs);
        let cos = cosine(&cents[0], &cents[1]);
        let second = side.iter().filter(|&&s| s == 1).count();
        let smaller = second.min(side.len() - second);
        // Too few windows on one side is a handful of odd windows, not a
        // person: no evidence either way.
        if smaller < MIN_SPLIT_WINDOWS || smaller * 5 < side.len() {
            continue;
        }
        if cos < cfg.short_split_cosine {
            ev.loosest_split = Some(ev.loosest_split.map_or(cos, |m| m.max(cos)));
            // The frames of the second group's windows, where this voice
            // speaks, start as the new voice's.
            let frames: Vec<usize> = mine
                .iter()
                .zip(&side)
                .filter(|(_, s)| **s == 1)
                .flat_map(|(w, _)| w.frames.clone())
                .collect();
            splits.push((c, frames));
        } else {
            ev.tightest_whole = Some(ev.tightest_whole.map_or(cos, |m| m.min(cos)));
        }
    }
    for (c, frames) in splits {
        let n = active[c].len();
        let mut new = vec![false; n];
        for g in frames {
            if active[c][g] {
                new[g] = true;
            }
        }
        for (g, on) in new.iter().enumerate() {
            if *on {
                active[c][g] = false;
            }
        }
        active.push(new);
        centroids.push(centroids[c].clone());
    }
    ev
}

/// A voice never heard alone in a short window with less speech than this
/// (seconds, overlap included) is a fragment of another voice, folded in.
const FOLD_BELOW_S: f64 = 2.0;

/// Short windows each side of a split needs (0.5 s apart: about 4 s of
/// speech), and at least a fifth of the voice's windows.
const MIN_SPLIT_WINDOWS: usize = 8;

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

    /// A unit vector near axis `v` (of 8), jittered by `seed`.
    fn voice(v: usize, seed: usize) -> Vec<f32> {
        let mut e: Vec<f32> = (0..8)
            .map(|d| {
                if d == v {
                    1.0
                } else {
                    0.15 * (((seed * 7 + d * 13) % 10) as f32 / 10.0)
                }
            })
            .collect();
        normalise(&mut e);
        e
    }

    /// Short windows, one per 10 frames; `who[i]` is the voice of window i.
    fn shorts(who: &[usize]) -> Vec<Short> {
        who.iter()
            .enumerate()
            .map(|(i, &v)| Short {
                frames: i * 10..i * 10 + 10,
                emb: voice(v, i),
            })
            .collect()
    }

    #[test]
    fn two_voices_followed_as_one_are_split() {
        // The segmenter gave one voice; its short windows are two people
        // taking turns of 5 windows.
        let who: Vec<usize> = (0..40).map(|i| (i / 5) % 2).collect();
        let sh = shorts(&who);
        let mut active = vec![vec![true; 400]];
        let mut centroids = vec![voice(0, 0)];
        let cfg = DiarizeConfig::default();
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 2);
        assert_eq!(centroids.len(), 2);
        assert!(ev.loosest_split.is_some_and(|c| c < cfg.short_split_cosine));
        // The second voice's frames moved, each frame to one voice (the
        // tenth of windows least like the voice is left where it was).
        let new_is = who[(0..40).find(|&i| active[1][i * 10 + 5]).expect("moved")];
        let mut right = 0;
        for (i, &v) in who.iter().enumerate() {
            let g = i * 10 + 5;
            assert!(active[0][g] ^ active[1][g]);
            right += usize::from(active[1][g] == (v == new_is));
        }
        assert!(right >= 36, "{right} of 40");
    }

    #[test]
    fn one_voice_stays_whole_and_a_voice_split_in_two_is_merged() {
        let sh = shorts(&[0; 40]);
        let mut active = vec![vec![true; 400]];
        let mut centroids = vec![voice(0, 0)];
        let cfg = DiarizeConfig::default();
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 1);
        assert!(ev
            .tightest_whole
            .is_some_and(|c| c > cfg.short_split_cosine));
        // The long windows made two voices of one: merged back.
        let mut active = vec![
            (0..400).map(|g| g < 200).collect::<Vec<bool>>(),
            (0..400).map(|g| g >= 200).collect(),
        ];
        let mut centroids = vec![voice(0, 1), voice(1, 1)];
        let ev = recount(&mut active, &mut centroids, &sh, &cfg);
        assert_eq!(active.len(), 1);
        assert!(active[0].iter().all(|&a| a));
        assert!(ev.loosest_merged.is_some());
    }

    #[test]
    fn a_voice_no_short_window_hears_alone_is_folded_in() {
        let sh = shorts(&[0; 20]);
        // Voice 1 speaks only under voice 0 (overlap): no window of its own.
        let mut active = vec![vec![true; 200], (0..200).map(|g| g % 10 == 0).collect()];
        let mut centroids = vec![voice(0, 0), voice(0, 3)];
        recount(&mut active, &mut centroids, &sh, &DiarizeConfig::default());
        assert_eq!(active.len(), 1);
    }

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
