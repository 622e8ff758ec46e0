//! What the fuzz targets share: feeding bytes to the transcript readers the
//! way `mitool code` and `mitool batch` do, and checking what comes out.

use std::path::Path;

use mitool_core::score::{self, ScoreConfig};
use mitool_core::transcripts::{self, RoleHints};
use mitool_core::utterance;

/// Reads `data` as a transcript file called `fuzz.<ext>` (the extension
/// picks the reader), once without role hints and once naming a
/// practitioner: the second gets past the unknown-speaker error, deeper into
/// each reader.
pub fn transcript(ext: &str, data: &[u8]) {
    let path = Path::new("fuzz").with_extension(ext);
    let hints = [
        RoleHints::default(),
        RoleHints {
            practitioner: vec!["A".into()],
        },
    ];
    for h in &hints {
        match transcripts::read_bytes(&path, data.to_vec(), h) {
            Ok(utts) => round_trip(&utts),
            Err(e) => names_the_file(&e, &path),
        }
    }
}

/// An error must say which file it is about: the person running a batch of
/// hundreds needs to find it.
pub fn names_the_file(e: &mitool_core::Error, path: &Path) {
    assert_eq!(e.path(), Some(path), "{e}");
    assert!(e.to_string().contains(&*path.to_string_lossy()), "{e}");
}

/// What happens next to utterances read from a file: they are scored per
/// session (`mitool score`, `mitool batch`), and they must survive the coded
/// CSV that `mitool code` writes and `mitool score` reads back.
pub fn round_trip(utts: &[utterance::Utterance]) {
    assert!(
        !utts.is_empty(),
        "a reader returned no utterances without an error"
    );
    for (id, session) in utterance::group_sessions(utts.to_vec()) {
        score::score(&id, "fuzz", &session, "fuzz", &ScoreConfig::default())
            .expect("the default scoring settings are valid");
    }
    let csv = utterance::to_csv(utts).expect("utterances write as CSV");
    let back = utterance::read_csv_from(Path::new("back.csv"), csv.as_slice())
        .unwrap_or_else(|e| panic!("the CSV written does not read back: {e}"));
    assert_eq!(back.len(), utts.len(), "the CSV round trip lost utterances");
}
