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

/// A modules directory holding copies of the named modules (built-in or test modules).
pub fn modules_dir(names: &[&str]) -> tempfile::TempDir {
    use sandpiper::wasm::modules::{builtin_dir, test_modules_dir};
    let dir = tempfile::tempdir().unwrap();
    for name in names {
        let from = [builtin_dir().unwrap_or_default(), test_modules_dir()]
            .into_iter()
            .find(|d| d.join(format!("{name}.wasm")).is_file())
            .unwrap_or_else(|| panic!("module {name} was not built"));
        for ext in ["wasm", "toml"] {
            let f = format!("{name}.{ext}");
            std::fs::copy(from.join(&f), dir.path().join(&f)).unwrap();
        }
    }
    dir
}

/// The data rows of a Zeek TSV log as field name -> value maps (empty if the log is absent).
pub fn tsv_rows(path: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut fields: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines() {
        if let Some(f) = line.strip_prefix("#fields\t") {
            fields = f.split('\t').map(str::to_string).collect();
        } else if !line.starts_with('#') {
            rows.push(
                fields
                    .iter()
                    .cloned()
                    .zip(line.split('\t').map(str::to_string))
                    .collect(),
            );
        }
    }
    rows
}

/// Runs the real binary on `pcap` with the modules in `modules` (and `extra` options), the
/// compiled components cached per test target; fails the test unless it succeeds. Returns the
/// log directory.
pub fn analyse_with_modules(
    pcap: &std::path::Path,
    modules: &std::path::Path,
    extra: &[&str],
) -> tempfile::TempDir {
    let logdir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sandpiper"))
        .arg("-r")
        .arg(pcap)
        .args(["--seed", "1", "-q", "--modules"])
        .arg(modules)
        .arg("--logdir")
        .arg(logdir.path())
        .arg("--cache-dir")
        .arg(std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sandpiper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    logdir
}
