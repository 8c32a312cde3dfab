//! Fidelity against Zeek: runs the real binary over every corpus case that has a
//! conn.log baseline (with each case's options) and scores the logs with
//! ../shared/tools/zeek_compare.py. Fails below the floor reached so far; raise
//! the floor whenever the score improves.

use std::path::PathBuf;
use std::process::Command;

/// conn.log overall score reached (fraction of expected field values); the test
/// fails below it. Service detection (issue 4) and tunnels lift it further.
const CONN_FLOOR: f64 = 0.90;

mod common;
use common::shared;

#[test]
fn conn_log_matches_zeek_on_the_corpus() {
    let manifest = shared().join("corpus/zeek/manifest.json");
    assert!(
        manifest.exists(),
        "corpus manifest missing at {} (shared/ must sit beside the repository)",
        manifest.display()
    );
    let run_dir = tempfile::tempdir().expect("tempdir");
    let result = run_dir.path().join("score.json");
    let runner = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/run.py");
    let out = Command::new("python3")
        .arg(&runner)
        .arg("--bin")
        .arg(env!("CARGO_BIN_EXE_sandpiper"))
        .arg("--manifest")
        .arg(&manifest)
        .arg("--compare")
        .arg(shared().join("tools/zeek_compare.py"))
        .arg("--run-dir")
        .arg(run_dir.path().join("runs"))
        .arg("--logs")
        .arg("conn")
        .arg("--json")
        .arg(&result)
        .output()
        .expect("python3 runs the corpus runner");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The per-field table is the useful part of the report.
    if let Some(i) = stdout.find("per log type:") {
        println!("{}", &stdout[i..]);
    }
    assert!(
        out.status.success(),
        "corpus runner failed:\n{stdout}\n{stderr}"
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&result).expect("score file")).expect("score JSON");
    let score = json["overall"]["score"].as_f64().expect("overall score");
    let not_run = json["overall"]["cases_not_run"].as_u64().unwrap_or(0);
    println!("conn.log overall score: {score:.4} (floor {CONN_FLOOR})");
    assert_eq!(not_run, 0, "some corpus cases produced no logs");
    assert!(
        score >= CONN_FLOOR,
        "conn.log score {score:.4} fell below the floor {CONN_FLOOR}"
    );
}
