//! Benchmarks for Sandpiper live in benches/; this crate has no library code.
