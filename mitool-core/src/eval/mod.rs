//! Measuring mitool against references a person made: diarization error
//! against RTTM turns, and agreement between two codings. Not part of the
//! pipeline; used by `mitool der`, `mitool agree` and the tests.

pub mod agree;
pub mod der;
pub mod rttm;

pub use der::{best_mapping, der, der_by_file, pooled_der, DerReport, FileDer};
pub use rttm::{parse_rttm, parse_rttm_files, read_rttm, read_rttm_set, Rttm};
