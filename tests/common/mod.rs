//! Helpers shared by the integration tests.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::PathBuf;

/// The shared/ folder that sits beside the repository (corpus, tools, bench).
pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared")
}

/// The folder of Zeek's corpus traces.
pub fn traces() -> PathBuf {
    shared().join("corpus/zeek/traces")
}

/// A corpus trace by its path under traces/; fails the test if it is missing.
pub fn trace(rel: &str) -> PathBuf {
    let p = traces().join(rel);
    assert!(p.is_file(), "corpus trace {} is missing", p.display());
    p
}
