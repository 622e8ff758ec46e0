//! Channel mode: one microphone per person, the speaker is the loudest channel.

use super::*;

impl Diarizer {
    pub(super) fn by_channel(
        &self,
        audio: &Audio,
        mono: &Samples,
        speech: Option<&[Region]>,
    ) -> Result<Diarization> {
        let duration_s = audio.duration_s();
        if is_silent(mono) {
            return Ok(empty("channels", duration_s));
        }
        let regions = match speech {
            Some(r) => r.to_vec(),
            None => Vad::new(&self.vad_path, VadConfig::default())?.regions(mono, |_| {})?,
        };
        // Loudest channel per 30 ms frame inside speech, smoothed by a majority
        // over ±150 ms so that a cough in the other microphone does not flip it.
        const HOP: usize = 480;
        let n = mono.len().div_ceil(HOP);
        let mut owner: Vec<Option<usize>> = vec![None; n];
        for r in &regions {
            for (f, slot) in owner
                .iter_mut()
                .enumerate()
                .take(r.end.div_ceil(HOP))
                .skip(r.start / HOP)
            {
                let (a, b) = (f * HOP, ((f + 1) * HOP).min(mono.len()));
                let loudness = |c: usize| energy(audio.channels[c].iter_range(a..b));
                *slot =
                    (0..audio.channels.len()).max_by(|&x, &y| loudness(x).total_cmp(&loudness(y)));
            }
        }
        let smoothed: Vec<Option<usize>> = (0..n)
            .map(|f| {
                owner[f]?;
                let mut votes = [0usize; 16];
                for o in owner[f.saturating_sub(5)..(f + 6).min(n)].iter().flatten() {
                    votes[(*o).min(15)] += 1;
                }
                (0..16).max_by_key(|&c| (votes[c], std::cmp::Reverse(c)))
            })
            .collect();
        let mut turns = Vec::new();
        let mut f = 0;
        while f < n {
            let Some(c) = smoothed[f] else {
                f += 1;
                continue;
            };
            let a = f;
            while f < n && smoothed[f] == Some(c) {
                f += 1;
            }
            turns.push(Turn {
                start: (a * HOP) as f64 / SAMPLE_RATE as f64,
                end: ((f * HOP) as f64 / SAMPLE_RATE as f64).min(duration_s),
                speaker: c,
            });
        }
        // A centroid per channel, from up to 60 s of its own speech.
        let mut centroids = Vec::new();
        for c in 0..audio.channels.len() {
            let mut own = Vec::new();
            for t in turns.iter().filter(|t| t.speaker == c) {
                let a = (t.start * SAMPLE_RATE as f64) as usize;
                let b = ((t.end * SAMPLE_RATE as f64) as usize).min(mono.len());
                own.extend(audio.channels[c].iter_range(a..b));
                if own.len() > 60 * SAMPLE_RATE as usize {
                    break;
                }
            }
            centroids.push(self.embed(&own)?.unwrap_or_default());
        }
        Ok(finish(
            turns,
            centroids,
            "channels",
            duration_s,
            &self.config,
        ))
    }
}

/// Whether each voice dominates its own channel: in most loud frames one
/// channel is at least 10 dB above the others, and at least two channels
/// take turns at dominating.
pub fn channels_look_like_speakers(channels: &[Samples]) -> bool {
    const HOP: usize = 480;
    let n = channels.first().map_or(0, Samples::len) / HOP;
    if channels.len() < 2 || n == 0 {
        return false;
    }
    let db =
        |x: &Samples, r: std::ops::Range<usize>| 10.0 * (energy(x.iter_range(r)) + 1e-10).log10();
    let frames: Vec<Vec<f32>> = (0..n)
        .map(|f| {
            channels
                .iter()
                .map(|c| db(c, f * HOP..(f + 1) * HOP))
                .collect()
        })
        .collect();
    let mut loudest: Vec<f32> = frames
        .iter()
        .map(|v| v.iter().copied().fold(f32::MIN, f32::max))
        .collect();
    loudest.sort_by(f32::total_cmp);
    // Speech frames: well above the recording's noise floor.
    let floor = loudest[loudest.len() / 10];
    let peak = loudest[loudest.len() * 95 / 100];
    let gate = (floor + 15.0).min(peak - 20.0).max(-60.0);
    let mut wins = vec![0usize; channels.len()];
    let (mut loud, mut dominant) = (0usize, 0usize);
    for v in &frames {
        let mut order: Vec<usize> = (0..v.len()).collect();
        order.sort_by(|&a, &b| v[b].total_cmp(&v[a]));
        if v[order[0]] < gate {
            continue;
        }
        loud += 1;
        if v[order[0]] - v[order[1]] >= 10.0 {
            dominant += 1;
            wins[order[0]] += 1;
        }
    }
    let takers = wins.iter().filter(|&&w| w * 20 >= dominant.max(1)).count();
    loud > 0 && dominant * 10 >= loud * 7 && takers >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_dominance_is_detected() {
        let tone = |f: f32, on: bool| -> Vec<f32> {
            (0..16_000)
                .map(|n| {
                    if on {
                        0.3 * (n as f32 * f / 16_000.0 * std::f32::consts::TAU).sin()
                    } else {
                        0.0
                    }
                })
                .collect()
        };
        // Left talks, then right; each is silent (plus faint bleed) while the other talks.
        let mut l = tone(300.0, true);
        l.extend(tone(300.0, false));
        let mut r = tone(500.0, false);
        r.extend(tone(500.0, true));
        for (i, x) in r.iter_mut().enumerate().take(16_000) {
            *x += 0.003 * l[i];
        }
        let (l, r) = (Samples::from(l), Samples::from(r));
        assert!(channels_look_like_speakers(&[l.clone(), r]));
        assert!(!channels_look_like_speakers(&[l.clone(), l]));
    }
}
