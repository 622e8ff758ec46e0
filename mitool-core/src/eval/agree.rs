//! Agreement between two coders of the same utterances (mitool against a
//! person, or two people): what researchers report.
//!
//! - per task (practitioner behaviour, the 9 fine codes, client talk, each
//!   MITI code present/absent): Cohen's κ over the utterances both coded,
//!   and per-label F1 taking coder A as the reference;
//! - per summary score across sessions: ICC(2,1) (two-way random effects,
//!   absolute agreement, single rater; Shrout & Fleiss 1979) and the mean
//!   absolute difference.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::score::SessionScores;
use crate::utterance::{Codes, Main, Miti, Role, Utterance};

/// Agreement on one categorical task.
#[derive(Debug, Clone, Serialize)]
pub struct TaskAgreement {
    pub task: String,
    pub n: usize,
    pub kappa: Option<f64>,
    pub accuracy: Option<f64>,
    /// (label, support in A, F1 of B against A)
    pub per_label: Vec<(String, usize, Option<f64>)>,
}

/// Agreement on one summary score across sessions.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreAgreement {
    pub score: String,
    pub n_sessions: usize,
    pub icc_2_1: Option<f64>,
    pub mean_abs_diff: Option<f64>,
}

/// Cohen's κ and per-label F1 for paired labels.
pub fn task_agreement(task: &str, pairs: &[(String, String)]) -> TaskAgreement {
    let n = pairs.len();
    let labels: BTreeSet<&String> = pairs.iter().flat_map(|(a, b)| [a, b]).collect();
    let mut per_label = Vec::new();
    let mut pa: HashMap<&String, usize> = HashMap::new();
    let mut pb: HashMap<&String, usize> = HashMap::new();
    let mut agree = 0usize;
    for (a, b) in pairs {
        *pa.entry(a).or_default() += 1;
        *pb.entry(b).or_default() += 1;
        agree += (a == b) as usize;
    }
    for l in &labels {
        let tp = pairs.iter().filter(|(a, b)| a == *l && b == *l).count();
        let support = pa.get(l).copied().unwrap_or(0);
        let predicted = pb.get(l).copied().unwrap_or(0);
        let f1 = (support + predicted > 0).then(|| 2.0 * tp as f64 / (support + predicted) as f64);
        per_label.push((l.to_string(), support, f1));
    }
    let (kappa, accuracy) = if n == 0 {
        (None, None)
    } else {
        let po = agree as f64 / n as f64;
        let pe: f64 = labels
            .iter()
            .map(|l| {
                pa.get(l).copied().unwrap_or(0) as f64 * pb.get(l).copied().unwrap_or(0) as f64
                    / (n * n) as f64
            })
            .sum();
        let kappa = if (1.0 - pe).abs() < 1e-12 {
            // Both coders used one and the same label throughout.
            (po == 1.0).then_some(1.0)
        } else {
            Some((po - pe) / (1.0 - pe))
        };
        (kappa, Some(po))
    };
    TaskAgreement {
        task: task.to_string(),
        n,
        kappa,
        accuracy,
        per_label,
    }
}

/// ICC(2,1) for n subjects rated by 2 raters. `None` below 3 subjects or
/// when there is no variance at all.
pub fn icc_2_1(pairs: &[(f64, f64)]) -> Option<f64> {
    let n = pairs.len();
    if n < 3 {
        return None;
    }
    let k = 2.0;
    let nf = n as f64;
    let grand = pairs.iter().map(|(a, b)| a + b).sum::<f64>() / (nf * k);
    let row_means: Vec<f64> = pairs.iter().map(|(a, b)| (a + b) / 2.0).collect();
    let col_a = pairs.iter().map(|p| p.0).sum::<f64>() / nf;
    let col_b = pairs.iter().map(|p| p.1).sum::<f64>() / nf;
    let ss_rows = k * row_means.iter().map(|m| (m - grand).powi(2)).sum::<f64>();
    let ss_cols = nf * ((col_a - grand).powi(2) + (col_b - grand).powi(2));
    let ss_total: f64 = pairs
        .iter()
        .map(|(a, b)| (a - grand).powi(2) + (b - grand).powi(2))
        .sum();
    let ss_err = ss_total - ss_rows - ss_cols;
    let msr = ss_rows / (nf - 1.0);
    let msc = ss_cols / (k - 1.0);
    let mse = ss_err / ((nf - 1.0) * (k - 1.0));
    let den = msr + (k - 1.0) * mse + k * (msc - mse) / nf;
    (den.abs() > 1e-12).then(|| (msr - mse) / den)
}

fn fine(c: &Codes) -> Option<String> {
    let main = c.main?;
    Some(match main {
        Main::Question => format!("question_{}", c.question.map_or("n/a", |q| q.as_str())),
        Main::Reflection => format!("reflection_{}", c.reflection.map_or("n/a", |r| r.as_str())),
        Main::Input => format!("input_{}", c.input.map_or("n/a", |i| i.as_str())),
        Main::Other => "other".into(),
    })
}

/// Utterance-level agreement of two codings, matched on (session, utterance id).
pub fn utterance_agreement(a: &[Utterance], b: &[Utterance]) -> Vec<TaskAgreement> {
    let key = |u: &Utterance| (u.session_id.clone(), u.id.clone());
    let bmap: HashMap<(String, String), &Utterance> = b.iter().map(|u| (key(u), u)).collect();
    let mut tasks: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let mut miti: BTreeMap<Miti, Vec<(String, String)>> = BTreeMap::new();
    for ua in a {
        let Some(ub) = bmap.get(&key(ua)) else {
            continue;
        };
        let (ca, cb) = (&ua.codes, &ub.codes);
        match ua.role {
            Role::Practitioner => {
                if let (Some(x), Some(y)) = (ca.main, cb.main) {
                    tasks
                        .entry("practitioner_behaviour")
                        .or_default()
                        .push((x.to_string(), y.to_string()));
                }
                if let (Some(x), Some(y)) = (fine(ca), fine(cb)) {
                    tasks.entry("practitioner_fine").or_default().push((x, y));
                }
                if let (Some(x), Some(y)) = (&ca.miti, &cb.miti) {
                    for m in Miti::ALL {
                        let yes =
                            |v: &Vec<Miti>| if v.contains(m) { "yes" } else { "no" }.to_string();
                        miti.entry(*m).or_default().push((yes(x), yes(y)));
                    }
                }
            }
            Role::Client => {
                if let (Some(x), Some(y)) = (ca.talk, cb.talk) {
                    tasks
                        .entry("client_talk")
                        .or_default()
                        .push((x.to_string(), y.to_string()));
                }
            }
        }
    }
    let mut out: Vec<TaskAgreement> = tasks.iter().map(|(t, p)| task_agreement(t, p)).collect();
    out.extend(
        miti.iter()
            .map(|(m, p)| task_agreement(&format!("miti_{}", m.as_str()), p)),
    );
    out
}

/// The summary scores compared across sessions.
pub const COMPARED_SCORES: &[&str] = &[
    "r_to_q",
    "pct_complex_reflections",
    "pct_open_questions",
    "mi_adherent",
    "mi_non_adherent",
    "change_talk_share",
    "relational",
    "technical",
];

fn value(s: &SessionScores, name: &str) -> Option<f64> {
    match name {
        "r_to_q" => s.r_to_q,
        "pct_complex_reflections" => s.pct_complex_reflections,
        "pct_open_questions" => s.pct_open_questions,
        "mi_adherent" => Some(s.mi_adherent as f64),
        "mi_non_adherent" => Some(s.mi_non_adherent as f64),
        "change_talk_share" => s.change_talk_share,
        "relational" => s.relational,
        "technical" => s.technical,
        _ => None,
    }
}

/// Session-level agreement of summary scores, matched on session id.
pub fn session_agreement(a: &[SessionScores], b: &[SessionScores]) -> Vec<ScoreAgreement> {
    let bmap: HashMap<&str, &SessionScores> =
        b.iter().map(|s| (s.session_id.as_str(), s)).collect();
    COMPARED_SCORES
        .iter()
        .map(|name| {
            let pairs: Vec<(f64, f64)> = a
                .iter()
                .filter_map(|sa| {
                    let sb = bmap.get(sa.session_id.as_str())?;
                    Some((value(sa, name)?, value(sb, name)?))
                })
                .collect();
            let mad = (!pairs.is_empty()).then(|| {
                pairs.iter().map(|(x, y)| (x - y).abs()).sum::<f64>() / pairs.len() as f64
            });
            ScoreAgreement {
                score: name.to_string(),
                n_sessions: pairs.len(),
                icc_2_1: icc_2_1(&pairs),
                mean_abs_diff: mad,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &[(&str, &str)]) -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn kappa_matches_a_hand_computed_example() {
        // 50 items: A yes/B yes 20, A yes/B no 5, A no/B yes 10, A no/B no 15.
        let mut v = Vec::new();
        v.extend(std::iter::repeat_n(("yes", "yes"), 20));
        v.extend(std::iter::repeat_n(("yes", "no"), 5));
        v.extend(std::iter::repeat_n(("no", "yes"), 10));
        v.extend(std::iter::repeat_n(("no", "no"), 15));
        let t = task_agreement("x", &p(&v));
        // po = 0.7; pe = 0.5*0.6 + 0.5*0.4 = 0.5; κ = 0.4.
        assert!((t.kappa.unwrap() - 0.4).abs() < 1e-12);
        let yes = t.per_label.iter().find(|l| l.0 == "yes").unwrap();
        // F1(yes) = 2*20 / (25 + 30).
        assert!((yes.2.unwrap() - 40.0 / 55.0).abs() < 1e-12);
    }

    #[test]
    fn icc_matches_shrout_fleiss_reference() {
        // Shrout & Fleiss (1979) table 2, judges 1 and 3. Mean squares by hand:
        // MSR = 4.6, MSC = 33.333, MSE = 0.7333; ICC(2,1) = (MSR − MSE) /
        // (MSR + MSE + 2(MSC − MSE)/6) = 3.8667 / 16.2 = 0.23868.
        let j1 = [9.0, 6.0, 8.0, 7.0, 10.0, 6.0];
        let j3 = [5.0, 3.0, 6.0, 2.0, 6.0, 4.0];
        let pairs: Vec<(f64, f64)> = j1.iter().zip(j3.iter()).map(|(a, b)| (*a, *b)).collect();
        let icc = icc_2_1(&pairs).unwrap();
        assert!((icc - 0.23868).abs() < 1e-4, "{icc}");
        // Perfect agreement is 1.
        let same: Vec<(f64, f64)> = j1.iter().map(|a| (*a, *a)).collect();
        assert!((icc_2_1(&same).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(icc_2_1(&pairs[..2]), None);
    }
}
