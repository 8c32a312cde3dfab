//! Fidelity against Zeek: runs the real binary (with the analyzers built from
//! guest-analyzers/) over every corpus case that has a conn.log, dns.log, http.log, ssh.log or
//! weird.log baseline (with each case's options) and scores the logs with
//! ../shared/tools/zeek_compare.py. Fails below the floors reached so far; raise a floor
//! whenever its score improves.

use std::path::PathBuf;
use std::process::Command;

/// Scores reached per log (fraction of expected field values); the test fails below them.
const FLOORS: &[(&str, f64)] = &[
    ("conn", 0.977),
    ("dns", 0.997),
    ("http", 0.989),
    ("ssh", 0.986),
    // Many of Zeek's weirds come from analyzers Sandpiper does not have (SMTP, FTP, ...).
    ("weird", 0.592),
];
/// conn.log `service` (protocol detection) alone.
const SERVICE_FLOOR: f64 = 0.796;

mod common;
use common::shared;

#[test]
fn logs_match_zeek_on_the_corpus() {
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
        .arg("conn,dns,http,ssh,weird")
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
    let not_run = json["overall"]["cases_not_run"].as_u64().unwrap_or(0);
    assert_eq!(not_run, 0, "some corpus cases produced no logs");
    let mut low = Vec::new();
    for &(log, floor) in FLOORS {
        let score = json["per_log"][log]["score"].as_f64().unwrap_or(0.0);
        println!("{log}.log score: {score:.4} (floor {floor})");
        if score < floor {
            low.push(format!("{log}.log {score:.4} < {floor}"));
        }
    }
    let service = json["per_log"]["conn"]["fields"]["service"]["score"]
        .as_f64()
        .unwrap_or(0.0);
    println!("conn.log service score: {service:.4} (floor {SERVICE_FLOOR})");
    if service < SERVICE_FLOOR {
        low.push(format!("conn.log service {service:.4} < {SERVICE_FLOOR}"));
    }
    assert!(low.is_empty(), "below the floor: {}", low.join(", "));
}
