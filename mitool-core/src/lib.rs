//! # mitool-core
//!
//! Motivational-interviewing fidelity feedback from recorded conversations,
//! computed locally. Each module is one stage, with plain data flowing
//! between them:
//!
//! | stage | module | in → out |
//! |---|---|---|
//! | the whole pipeline | [`session`] | audio or utterances → [`session::SessionResult`] in memory |
//! | read audio | [`audio`] | file → 16 kHz samples per channel |
//! | find speech | [`vad`] | samples → speech regions |
//! | transcribe | [`transcribe`] | samples + regions → [`transcript::Transcript`] |
//! | diarize | [`diarize`] | samples → speaker turns |
//! | roles | [`roles`] | words + turns → [`utterance::Utterance`]s, the practitioner |
//! | | [`role_text`] | utterance text → how practitioner-like it reads (word model trained on AnnoMI) |
//! | code | [`code`], [`miti`] | utterances → AnnoMI labels and MITI codes |
//! | score | [`score`] | codes → MITI counts, summary scores, bands |
//! | report | [`report`] | scores → HTML report, WebVTT, session JSON |
//! | batch | [`batch`] | folders → per-session outputs and the study table |
//! | | [`manifest`] | a trial's sessions list (CSV) → what is known per session, its own columns |
//!
//! Measuring against a person's reference (DER, coding agreement) is in
//! [`eval`]. Transcripts without audio are read by [`transcripts`]; every output file
//! is written through [`outfile`] (owner-only, temporary file then rename); what would
//! grow with a recording's length (its samples, speaker statistics) moves to an unnamed
//! temporary file past ten minutes (`spill`).
//! Models are found, checked and installed by [`models`] (and converted by
//! [`models::convert`]); progress and per-file outcomes go to a [`progress::Sink`]
//! that the caller implements: the library never prints.

pub mod audio;
pub mod batch;
pub mod blas;
pub mod claim;
pub mod code;
pub mod diarize;
pub mod error;
pub mod eval;
pub mod manifest;
mod mem;
pub mod miti;
pub mod models;
pub mod onnx;
pub mod outfile;
pub mod panic;
pub mod progress;
pub mod report;
pub mod review;
pub mod role_text;
pub mod roles;
pub mod score;
pub mod session;
mod spill;
pub mod transcribe;
pub mod transcript;
pub mod transcripts;
pub mod utterance;
pub mod vad;

pub use error::{Error, Result};
