//! Scoring AnnoMI's human codes reproduces counts checked independently
//! (a separate script over AnnoMI-full.csv following docs/scoring.md's
//! volley rule, first annotator of each transcript).

mod common;

use mitool_core::score::{score, ScoreConfig};
use mitool_core::utterance::{group_sessions, read_csv};

#[test]
fn dev_transcripts_reproduce_hand_checked_counts() {
    let Some(csv) = common::annomi_csv() else {
        return;
    };
    let sessions = group_sessions(read_csv(&csv).unwrap());
    assert_eq!(sessions.len(), 106);
    // id: practitioner utts, client utts, Q, open, closed, SR, CR, GI, change, sustain
    let expected: [(&str, [u32; 10]); 3] = [
        ("7", [33, 33, 16, 4, 12, 3, 6, 4, 5, 4]),
        ("130", [11, 11, 6, 3, 3, 0, 3, 2, 3, 3]),
        ("2", [18, 18, 16, 15, 1, 8, 0, 5, 12, 1]),
    ];
    for (id, e) in expected {
        let (_, utts) = sessions.iter().find(|(s, _)| s == id).unwrap();
        let s = score(
            id,
            "AnnoMI-full.csv",
            utts,
            "human",
            &ScoreConfig::default(),
        )
        .unwrap();
        let got = [
            s.practitioner_utterances,
            s.client_utterances,
            s.questions as u32,           // human codes: whole counts
            s.open_questions as u32,      // human codes: whole counts
            s.closed_questions as u32,    // human codes: whole counts
            s.simple_reflections as u32,  // human codes: whole counts
            s.complex_reflections as u32, // human codes: whole counts
            s.giving_information,
            s.change_talk,
            s.sustain_talk,
        ];
        assert_eq!(got, e, "transcript {id}");
        let r = (e[5] + e[6]) as f64;
        assert_eq!(s.r_to_q, Some(r / e[2] as f64));
        assert_eq!(
            s.pct_complex_reflections,
            (r > 0.0).then(|| e[6] as f64 / r)
        );
    }
}
