//! Benchmarks for mitool live in `benches/` (criterion) and `scripts/` (end to end).
//! Run them with `cargo bench -p mitool-benches`; results are reported as
//! real-time factors (processing time / audio time), not asserted in tests.
