//! From a recording to MITI scores with `mitool-core` alone:
//!
//! ```sh
//! cargo run --release -p mitool-core --example scores -- fixtures/demo/good-mi.wav
//! ```

use std::path::Path;

use mitool_core::audio;
use mitool_core::models::Store;
use mitool_core::progress::NullSink;
use mitool_core::score::SessionScores;
use mitool_core::session::{Session, SessionConfig};

/// The whole pipeline: models, recording, session, scores.
pub fn scores(path: &Path) -> mitool_core::Result<SessionScores> {
    let store = Store::open(None)?;
    let session = Session::new(&store, SessionConfig::default())?;
    let recording = audio::decode(path, &Default::default())?;
    Ok(session.run(&recording, &NullSink)?.scores)
}

fn main() -> mitool_core::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fixtures/demo/good-mi.wav".into());
    let s = scores(Path::new(&path))?;
    let show = |v: Option<f64>| v.map_or_else(|| "—".to_string(), |x| format!("{x:.2}"));
    println!(
        "{path}: R:Q {}, %CR {}, %OQ {}, relational (est.) {}, technical (est.) {}",
        show(s.r_to_q),
        show(s.pct_complex_reflections),
        show(s.pct_open_questions),
        show(s.relational),
        show(s.technical),
    );
    Ok(())
}
