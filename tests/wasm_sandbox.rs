//! Hostile guests: real components built from tests/guests/ run beside two well-behaved
//! handlers (guest-scripts/known-hosts and tests/guests/conn-rows) on a real trace. For each
//! hostile guest the process must finish normally, analyzer_failed.log must name the right
//! cause, the well-behaved handlers' logs must be byte-identical to a run without the hostile
//! guest, and repeated failures must quarantine the hostile module.

mod common;
use common::modules_dir;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const WELL_BEHAVED_LOGS: &[&str] = &["known_hosts.log", "conn_rows.log"];

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sandpiper")
}

fn run(modules: &Path, logdir: &Path, extra: &[&str]) {
    let out = Command::new(bin())
        .args(["-r"])
        .arg(common::trace("http/methods.pcap"))
        .args([
            "--seed",
            "7",
            "-q",
            "--event-batch",
            "8",
            "--quarantine-window",
            "1e9",
        ])
        // The trace is CMU's network: make it local so known-hosts has something to log.
        .args(["--local-nets", "128.2.0.0/16"])
        .arg("--modules")
        .arg(modules)
        .arg("--logdir")
        .arg(logdir)
        .arg("--cache-dir")
        .arg(cache_dir())
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sandpiper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache")
}

/// A log without its #open/#close lines (they carry wall-clock times).
fn body(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Rows of analyzer_failed.log as (cause, analyzer_name, failure_reason).
fn failures(logdir: &Path) -> Vec<(String, String, String)> {
    let Ok(text) = fs::read_to_string(logdir.join("analyzer_failed.log")) else {
        return Vec::new();
    };
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (f[1].to_string(), f[3].to_string(), f[10].to_string())
        })
        .collect()
}

fn baseline() -> tempfile::TempDir {
    let modules = modules_dir(&["known-hosts", "conn-rows"]);
    let logs = tempfile::tempdir().unwrap();
    run(modules.path(), logs.path(), &[]);
    assert!(
        failures(logs.path()).is_empty(),
        "{:?}",
        failures(logs.path())
    );
    let rows = body(&logs.path().join("conn_rows.log"));
    assert!(
        rows.lines().filter(|l| !l.starts_with('#')).count() > 40,
        "{rows}"
    );
    logs
}

fn check_hostile(module: &str, cause: &str, reason_has: &str) {
    let base = baseline();
    let modules = modules_dir(&["known-hosts", "conn-rows", module]);
    let logs = tempfile::tempdir().unwrap();
    run(modules.path(), logs.path(), &[]);
    for log in WELL_BEHAVED_LOGS {
        assert_eq!(
            body(&base.path().join(log)),
            body(&logs.path().join(log)),
            "{log} changed because of {module}"
        );
    }
    let rows = failures(logs.path());
    let mine: Vec<_> = rows.iter().filter(|r| r.1 == module).collect();
    assert_eq!(rows.len(), mine.len(), "only {module} fails: {rows:?}");
    // The default quarantine policy: the fifth failure disables the module.
    assert_eq!(mine.len(), 6, "{mine:?}");
    for r in &mine[..5] {
        assert_eq!(r.0, cause, "{r:?}");
        assert!(r.2.contains(reason_has), "{r:?}");
    }
    assert_eq!(mine[5].0, "quarantined");
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    check_hostile("hostile-loop", "fuel-exhausted", "fuel budget of 10000000");
}

#[test]
fn unlimited_fuel_loop_hits_the_wall_clock() {
    check_hostile("hostile-sleep", "timeout", "50 ms");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    check_hostile("hostile-memory", "memory-limit", "32 MiB");
}

#[test]
fn deep_recursion_overflows_the_stack() {
    check_hostile("hostile-recursion", "trap", "stack overflow");
}

#[test]
fn panic_is_a_trap_with_its_message() {
    check_hostile("hostile-panic", "trap", "unreachable");
    let modules = modules_dir(&["hostile-panic"]);
    let logs = tempfile::tempdir().unwrap();
    run(modules.path(), logs.path(), &[]);
    let text = fs::read_to_string(logs.path().join("analyzer_failed.log")).unwrap();
    assert!(text.contains("hostile guest panicked on purpose"), "{text}");
}

#[test]
fn aliased_import_arguments_hit_the_host_budget() {
    check_hostile("hostile-import", "host-limit", "bytes of strings");
}

#[test]
fn event_flood_hits_the_host_budget() {
    check_hostile("hostile-flood", "host-limit", "events in one call");
}

#[test]
fn quarantine_can_be_disabled() {
    let modules = modules_dir(&["hostile-panic"]);
    let logs = tempfile::tempdir().unwrap();
    run(modules.path(), logs.path(), &["--quarantine-after", "0"]);
    let rows = failures(logs.path());
    assert!(rows.len() > 5, "{rows:?}");
    assert!(rows.iter().all(|r| r.0 == "trap"));
}
