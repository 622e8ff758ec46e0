//! The `scores` example (a recording to MITI scores in five lines) runs and
//! gives what `mitool batch` gives for the same recording.

mod common;

#[allow(dead_code)]
#[path = "../examples/scores.rs"]
mod scores;

#[test]
fn the_example_scores_the_good_mi_demo_like_the_batch() {
    let s = scores::scores(&common::fixtures().join("demo/good-mi.wav")).unwrap();
    assert_eq!(s.session_id, "good-mi");
    // The good-MI demo reflects more than it asks, with open questions
    // (as `mitool-cli/tests/batch.rs` checks for the batch).
    assert!(s.r_to_q.unwrap() >= 1.0, "{s:?}");
    assert!(s.pct_open_questions.unwrap() > 0.5, "{s:?}");
}
