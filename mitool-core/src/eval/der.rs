//! Diarization error rate (DER) against reference turns.

use std::collections::BTreeMap;

use pathfinding::kuhn_munkres::kuhn_munkres;
use pathfinding::matrix::Matrix;
use serde::Serialize;

use crate::diarize::Turn;
use crate::eval::rttm::Rttm;

/// One file's diarization error (see [`der_by_file`]).
#[derive(Debug, Clone, PartialEq)]
pub struct FileDer {
    pub file: String,
    pub report: DerReport,
    pub reference_speakers: usize,
    pub hypothesis_speakers: usize,
}

/// DER of every reference file id that the hypothesis holds, in id order,
/// and the ids it lacks.
pub fn der_by_file(
    reference: &BTreeMap<String, Rttm>,
    hypothesis: &BTreeMap<String, Rttm>,
    collar_s: f64,
) -> (Vec<FileDer>, Vec<String>) {
    let mut scored = Vec::new();
    let mut missing = Vec::new();
    for (id, r) in reference {
        match hypothesis.get(id) {
            Some(h) => scored.push(FileDer {
                file: id.clone(),
                report: der(&r.turns, &h.turns, collar_s),
                reference_speakers: r.labels.len(),
                hypothesis_speakers: h.labels.len(),
            }),
            None => missing.push(id.clone()),
        }
    }
    (scored, missing)
}

/// Errors over all files' reference speech; `None` without any.
pub fn pooled_der(files: &[FileDer]) -> Option<f64> {
    let (err, total) = files.iter().fold((0.0, 0.0), |(e, t), f| {
        let r = &f.report;
        (e + r.missed + r.false_alarm + r.confusion, t + r.total_ref)
    });
    (total > 0.0).then(|| err / total)
}

/// Diarization error, in seconds of reference speech.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct DerReport {
    pub missed: f64,
    pub false_alarm: f64,
    pub confusion: f64,
    /// Scored reference speech (speaker-seconds, overlap counted per speaker).
    pub total_ref: f64,
    /// (missed + false alarm + confusion) / total_ref.
    pub der: f64,
}

/// Diarization error rate of `hyp` against `reference`, scored on 10 ms
/// frames. Frames within `collar_s` of a reference boundary are not scored;
/// overlapped speech is. Speakers are matched one-to-one to maximise the
/// time they share.
pub fn der(reference: &[Turn], hyp: &[Turn], collar_s: f64) -> DerReport {
    const STEP: f64 = 0.01;
    let end = reference
        .iter()
        .chain(hyp)
        .map(|t| t.end)
        .fold(0.0f64, f64::max);
    let n = (end / STEP).ceil() as usize + 1;
    let grid = |turns: &[Turn]| -> Vec<Vec<bool>> {
        let k = turns.iter().map(|t| t.speaker + 1).max().unwrap_or(0);
        let mut g = vec![vec![false; n]; k];
        for t in turns {
            let a = ((t.start / STEP) - 0.5).ceil().max(0.0) as usize;
            let b = (((t.end / STEP) - 0.5).ceil().max(0.0) as usize).min(n);
            g[t.speaker][a.min(b)..b].fill(true);
        }
        g
    };
    let (r, h) = (grid(reference), grid(hyp));
    let mut scored = vec![true; n];
    for t in reference {
        for b in [t.start, t.end] {
            let a = (((b - collar_s) / STEP) - 0.5).ceil().max(0.0) as usize;
            let z = ((((b + collar_s) / STEP) - 0.5).ceil().max(0.0) as usize).min(n);
            scored[a.min(n)..z].fill(false);
        }
    }
    let mut shared = vec![vec![0.0; h.len()]; r.len()];
    for (i, ri) in r.iter().enumerate() {
        for (j, hj) in h.iter().enumerate() {
            shared[i][j] = (0..n).filter(|&f| scored[f] && ri[f] && hj[f]).count() as f64;
        }
    }
    let map = best_mapping(&shared);
    let (mut missed, mut fa, mut conf, mut total) = (0usize, 0usize, 0usize, 0usize);
    for f in (0..n).filter(|&f| scored[f]) {
        let nr = r.iter().filter(|s| s[f]).count();
        let nh = h.iter().filter(|s| s[f]).count();
        let correct = map
            .iter()
            .enumerate()
            .filter(|(i, m)| m.is_some_and(|j| r[*i][f] && h[j][f]))
            .count();
        total += nr;
        missed += nr.saturating_sub(nh);
        fa += nh.saturating_sub(nr);
        conf += nr.min(nh) - correct;
    }
    let s = |x: usize| x as f64 * STEP;
    DerReport {
        missed: s(missed),
        false_alarm: s(fa),
        confusion: s(conf),
        total_ref: s(total),
        der: if total == 0 {
            if fa > 0 {
                1.0
            } else {
                0.0
            }
        } else {
            (missed + fa + conf) as f64 / total as f64
        },
    }
}

/// The one-to-one assignment of rows (reference speakers) to columns
/// (hypothesis speakers) with the largest total weight (the Hungarian
/// method, exact for any number of speakers); rows left without a column
/// with any weight get `None`.
pub fn best_mapping(w: &[Vec<f64>]) -> Vec<Option<usize>> {
    let rows = w.len();
    let cols = w.first().map_or(0, Vec::len);
    let n = rows.max(cols);
    if n == 0 {
        return Vec::new();
    }
    // Square, padded with zero weight; microseconds as integers keep the
    // solver exact (weights are seconds of shared speech).
    let grid: Vec<Vec<i64>> = (0..n)
        .map(|i| {
            (0..n)
                .map(|j| {
                    w.get(i)
                        .and_then(|r| r.get(j))
                        .map_or(0, |x| (x * 1e6).round() as i64)
                })
                .collect()
        })
        .collect();
    let matrix = Matrix::from_rows(grid.clone()).expect("square rows");
    let (_, assignment) = kuhn_munkres(&matrix);
    (0..rows)
        .map(|i| {
            let j = assignment[i];
            (j < cols && grid[i][j] > 0).then_some(j)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_speakers_are_matched_exactly() {
        // 10 speakers: greedy would take the 9.0 first and lose 2·5.0.
        let mut w = vec![vec![0.0; 10]; 10];
        w[0][0] = 9.0;
        w[0][1] = 8.5;
        w[1][0] = 5.0;
        for (i, row) in w.iter_mut().enumerate().skip(2) {
            row[i] = 1.0;
        }
        w[9][9] = 0.0;
        let m = best_mapping(&w);
        assert_eq!(m[0], Some(1));
        assert_eq!(m[1], Some(0));
        assert_eq!(m[2], Some(2));
        assert_eq!(m[9], None);
        // More hypothesis speakers than reference ones, and the reverse.
        assert_eq!(best_mapping(&[vec![0.0, 2.0, 1.0]]), [Some(1)]);
        assert_eq!(best_mapping(&[vec![1.0], vec![3.0]]), [None, Some(0)]);
        assert!(best_mapping(&[]).is_empty());
    }

    fn t(start: f64, end: f64, speaker: usize) -> Turn {
        Turn {
            start,
            end,
            speaker,
        }
    }

    #[test]
    fn der_of_a_perfect_relabelled_hypothesis_is_zero() {
        let r = [t(0.0, 5.0, 0), t(5.0, 10.0, 1), t(9.0, 12.0, 0)];
        let h = [t(0.0, 5.0, 1), t(5.0, 10.0, 0), t(9.0, 12.0, 1)];
        let d = der(&r, &h, 0.0);
        assert!(d.der < 1e-9, "{d:?}");
        assert!((d.total_ref - 13.0).abs() < 0.02, "{d:?}");
    }

    #[test]
    fn der_counts_miss_false_alarm_and_confusion() {
        let r = [t(0.0, 10.0, 0), t(10.0, 20.0, 1)];
        // 2 s missed, 1 s false alarm (after 20 s), 3 s of speaker 1 called speaker 0.
        let h = [t(0.0, 8.0, 0), t(10.0, 13.0, 0), t(13.0, 21.0, 1)];
        let d = der(&r, &h, 0.0);
        assert!((d.missed - 2.0).abs() < 0.02, "{d:?}");
        assert!((d.false_alarm - 1.0).abs() < 0.02, "{d:?}");
        assert!((d.confusion - 3.0).abs() < 0.02, "{d:?}");
        assert!((d.der - 6.0 / 20.0).abs() < 0.002, "{d:?}");
        // The collar removes ±0.5 s around the reference boundaries 0, 10, 20.
        let c = der(&r, &h, 0.5);
        assert!((c.total_ref - 18.0).abs() < 0.03, "{c:?}");
        assert!((c.missed - 1.5).abs() < 0.02, "{c:?}");
        assert!((c.false_alarm - 0.5).abs() < 0.02 && (c.confusion - 2.5).abs() < 0.02);
    }

    #[test]
    fn der_scores_overlap_and_extra_speakers() {
        let r = [t(0.0, 10.0, 0), t(5.0, 10.0, 1)];
        let h = [t(0.0, 10.0, 0)];
        let d = der(&r, &h, 0.0);
        assert!((d.missed - 5.0).abs() < 0.02 && d.confusion < 0.02, "{d:?}");
        let h = [t(0.0, 5.0, 0), t(5.0, 10.0, 1), t(5.0, 10.0, 2)];
        let d = der(&r, &h, 0.0);
        assert!((d.confusion - 5.0).abs() < 0.02, "{d:?}");
    }
}
