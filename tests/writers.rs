//! The logging framework with log-writer components, on the real binary:
//! - the component writers (guest-scripts/tsv-writer and json-writer) write every log of every
//!   corpus case byte for byte as the built-in writers do, apart from the #open/#close stamps;
//! - a writer that traps is quarantined and the built-in writer finishes its streams with
//!   every row, none lost and none twice (in the same file for a "tsv" writer, in
//!   `<path>-fallback.log` for a writer of another format), and reporter.log says so;
//! - several writers per stream (`--log-format tsv,json`), filters choosing columns, writer
//!   and file (`--log-config`);
//! - rotation every interval of network time (`--rotate`) and on demand (`sandpiper ctl
//!   rotate`), to Zeek's rotated file names, losing no row.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{modules_dir, shared, trace, tsv_rows};

/// Connections spread over 54 s of network time: many one-second flushes, so many writer
/// calls per stream.
const TRACE: &str = "http/methods.pcap";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sandpiper")
}

/// Runs the binary on `traces` with `modules` and extra options; returns its stderr.
fn run(traces: &[PathBuf], modules: &Path, logdir: &Path, extra: &[&str]) -> String {
    let mut cmd = Command::new(bin());
    for t in traces {
        cmd.arg("-r").arg(t);
    }
    let out = cmd
        .args(["--seed", "1", "--modules"])
        .arg(modules)
        .arg("--logdir")
        .arg(logdir)
        .args(extra)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "sandpiper failed: {stderr}");
    stderr
}

/// A log's text without the #open and #close lines (wall-clock stamps).
fn body(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The data lines of a log (TSV rows or JSON objects).
fn data_lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// Every `.log` file of a directory tree, relative path -> body.
fn logs(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "log") {
                let rel = p.strip_prefix(dir).unwrap().to_string_lossy().into_owned();
                out.insert(rel, body(&p));
            }
        }
    }
    out
}

const HANDLERS_AND_ANALYZERS: &[&str] = &[
    "dns",
    "http",
    "known-hosts",
    "scan",
    "http-bruteforce",
    "known-services",
];

/// Runs every corpus case through the corpus runner with `args` into `run_dir`.
fn corpus(run_dir: &Path, args: &str) {
    let runner = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/run.py");
    let out = Command::new("python3")
        .arg(&runner)
        .arg("--bin")
        .arg(bin())
        .arg("--manifest")
        .arg(shared().join("corpus/zeek/manifest.json"))
        .arg("--run-dir")
        .arg(run_dir)
        .args(["--all-cases", "--no-score", "--sandpiper-args", args])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "corpus runner failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn component_writers_write_what_the_builtin_writers_write_on_the_corpus() {
    let with: Vec<&str> = HANDLERS_AND_ANALYZERS
        .iter()
        .copied()
        .chain(["tsv-writer", "json-writer"])
        .collect();
    let components = modules_dir(&with);
    let builtin = modules_dir(HANDLERS_AND_ANALYZERS);
    // The components are what writes, and they say so.
    let logdir = tempfile::tempdir().unwrap();
    let stderr = run(&[trace(TRACE)], components.path(), logdir.path(), &[]);
    assert!(stderr.contains("log writers: tsv-writer 0.1.0"), "{stderr}");
    for format in ["tsv", "json"] {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        let args = |m: &Path| format!("--modules {} --log-format {format}", m.display());
        corpus(a.path(), &args(components.path()));
        corpus(b.path(), &args(builtin.path()));
        let (la, lb) = (logs(a.path()), logs(b.path()));
        assert_eq!(
            la.keys().collect::<Vec<_>>(),
            lb.keys().collect::<Vec<_>>(),
            "{format}: the same logs"
        );
        let mut bytes = 0;
        for (name, text) in &la {
            assert!(!name.ends_with("reporter.log"), "{format}: {name}: {text}");
            assert_eq!(text, &lb[name], "{format}: {name} differs");
            bytes += text.len();
        }
        assert!(la.len() > 300, "{format}: only {} logs", la.len());
        println!("{format}: {} logs, {bytes} bytes identical", la.len());
    }
}

/// The built-in writer's logs of the trace, as the reference.
fn builtin_logs(modules: &[&str], extra: &[&str]) -> tempfile::TempDir {
    let m = modules_dir(modules);
    let logdir = tempfile::tempdir().unwrap();
    run(&[trace(TRACE)], m.path(), logdir.path(), extra);
    logdir
}

/// A modules directory where the flaky test writer stands in for tsv-writer.
fn flaky_as_tsv_writer(others: &[&str]) -> tempfile::TempDir {
    let m = modules_dir(others);
    let built = sandpiper::wasm::modules::test_modules_dir();
    fs::copy(
        built.join("flaky-writer.wasm"),
        m.path().join("tsv-writer.wasm"),
    )
    .unwrap();
    let manifest = fs::read_to_string(built.join("flaky-writer.toml"))
        .unwrap()
        .replace("name = \"flaky-writer\"", "name = \"tsv-writer\"");
    fs::write(m.path().join("tsv-writer.toml"), manifest).unwrap();
    m
}

fn reporter_messages(logdir: &Path) -> Vec<String> {
    tsv_rows(&logdir.join("reporter.log"))
        .into_iter()
        .map(|r| r["message"].clone())
        .collect()
}

#[test]
fn a_failing_tsv_writer_is_replaced_in_the_same_file_without_losing_rows() {
    let reference = builtin_logs(&["dns", "http"], &[]);
    let m = flaky_as_tsv_writer(&["dns", "http"]);
    let logdir = tempfile::tempdir().unwrap();
    run(&[trace(TRACE)], m.path(), logdir.path(), &[]);
    // conn.log and http.log had more than one write call: each failed at its second one,
    // and the built-in writer went on in the same file from the rows that call held.
    for log in ["conn.log", "http.log"] {
        assert_eq!(
            body(&logdir.path().join(log)),
            body(&reference.path().join(log)),
            "{log}"
        );
        assert!(data_lines(&logdir.path().join(log)).len() > 10);
    }
    // The first stream whose writer trapped says why; the others (open ones, and streams
    // opened later) say the module is quarantined.
    let messages = reporter_messages(logdir.path());
    let failed: Vec<&String> = messages
        .iter()
        .filter(|m| m.contains("log writer tsv failed writing"))
        .collect();
    assert_eq!(failed.len(), 1, "{messages:?}");
    assert!(
        failed[0].contains("flaky writer fails on purpose")
            && failed[0].contains("quarantined")
            && failed[0].contains("built-in tsv writer takes over")
            && failed[0].contains("goes on in the same file"),
        "{messages:?}"
    );
    assert!(messages.len() >= 2, "{messages:?}");
    assert!(
        messages.iter().all(|m| m.contains("log writer tsv")),
        "{messages:?}"
    );
}

#[test]
fn a_failing_writer_of_another_format_falls_back_to_tsv_in_a_file_of_its_own() {
    let reference = builtin_logs(&[], &[]);
    let m = modules_dir(&["flaky-writer"]);
    let logdir = tempfile::tempdir().unwrap();
    run(
        &[trace(TRACE)],
        m.path(),
        logdir.path(),
        &["--log-format", "flaky"],
    );
    // The rows before the failure are in conn.log (the flaky writer's own file), the others
    // in conn-fallback.log: together, every row of the built-in run, once, in order.
    let mine = data_lines(&logdir.path().join("conn.log"));
    let fallback = data_lines(&logdir.path().join("conn-fallback.log"));
    assert!(
        !mine.is_empty() && !fallback.is_empty(),
        "{mine:?} {fallback:?}"
    );
    let all: Vec<String> = mine.into_iter().chain(fallback).collect();
    assert_eq!(all, data_lines(&reference.path().join("conn.log")));
    let messages = reporter_messages(logdir.path());
    assert!(
        messages
            .iter()
            .any(|m| m.contains("flaky failed") && m.contains("conn-fallback.log")),
        "{messages:?}"
    );
}

#[test]
fn tsv_and_json_side_by_side() {
    let tsv = builtin_logs(&["dns", "http"], &[]);
    let json = builtin_logs(&["dns", "http"], &["--log-format", "json"]);
    for writers in [
        &["dns", "http"][..],
        &["dns", "http", "tsv-writer", "json-writer"],
    ] {
        let m = modules_dir(writers);
        let logdir = tempfile::tempdir().unwrap();
        run(
            &[trace(TRACE)],
            m.path(),
            logdir.path(),
            &["--log-format", "tsv,json"],
        );
        for log in ["conn", "http"] {
            assert_eq!(
                body(&logdir.path().join(format!("{log}.log"))),
                body(&tsv.path().join(format!("{log}.log")))
            );
            assert_eq!(
                body(&logdir.path().join(format!("{log}-json.log"))),
                body(&json.path().join(format!("{log}.log")))
            );
        }
    }
}

#[test]
fn filters_choose_columns_writer_and_file() {
    let reference = builtin_logs(&["http"], &[]);
    let m = modules_dir(&["http", "tsv-writer", "json-writer"]);
    let logdir = tempfile::tempdir().unwrap();
    let config = logdir.path().join("filters.toml");
    fs::write(
        &config,
        r#"
[[filter]]
stream = "http"
path = "http_min"
include = ["ts", "uid", "host", "uri"]

[[filter]]
stream = "conn"
writer = "json"
exclude = ["community_id", "tunnel_parents"]
replace-default = true
"#,
    )
    .unwrap();
    run(
        &[trace(TRACE)],
        m.path(),
        logdir.path(),
        &["--log-config", config.to_str().unwrap()],
    );
    // http.log keeps its default filter; http_min.log has the four columns.
    assert_eq!(
        body(&logdir.path().join("http.log")),
        body(&reference.path().join("http.log"))
    );
    let full = tsv_rows(&reference.path().join("http.log"));
    let min = tsv_rows(&logdir.path().join("http_min.log"));
    assert_eq!(min.len(), full.len());
    for (a, b) in min.iter().zip(&full) {
        assert_eq!(a.len(), 4);
        for k in ["ts", "uid", "host", "uri"] {
            assert_eq!(a[k], b[k]);
        }
    }
    let text = fs::read_to_string(logdir.path().join("http_min.log")).unwrap();
    assert!(text.contains("#path\thttp\n#open"), "{text}");
    // conn.log is JSON now, without the excluded columns.
    let conn = data_lines(&logdir.path().join("conn.log"));
    let reference_conn = tsv_rows(&reference.path().join("conn.log"));
    assert_eq!(conn.len(), reference_conn.len());
    for (line, r) in conn.iter().zip(&reference_conn) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(v.get("community_id").is_none() && v.get("tunnel_parents").is_none());
        assert_eq!(v["uid"].as_str(), Some(r["uid"].as_str()));
    }
    // A filter naming a writer that does not exist stops the run at the start.
    fs::write(&config, "[[filter]]\nstream = \"conn\"\nwriter = \"xml\"\n").unwrap();
    let out = Command::new(bin())
        .arg("-r")
        .arg(trace(TRACE))
        .arg("--modules")
        .arg(m.path())
        .arg("--logdir")
        .arg(logdir.path())
        .args(["--log-config", config.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no log writer \"xml\""), "{err}");
}

/// Rotated files of a log in `dir`: name -> data lines, sorted by name (= open time).
fn rotated(dir: &Path, log: &str) -> BTreeMap<String, Vec<String>> {
    fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            n.starts_with(&format!("{log}.")) && n.ends_with(".log") && n != &format!("{log}.log")
        })
        .map(|n| {
            let lines = data_lines(&dir.join(&n));
            (n, lines)
        })
        .collect()
}

#[test]
fn logs_rotate_every_interval_of_network_time() {
    let reference = builtin_logs(&["http"], &[]);
    for modules in [&["http"][..], &["http", "tsv-writer"]] {
        let m = modules_dir(modules);
        let logdir = tempfile::tempdir().unwrap();
        run(
            &[trace(TRACE)],
            m.path(),
            logdir.path(),
            &["--rotate", "10s"],
        );
        // The trace spans 54 s: several files, no current conn.log left (rotated at exit).
        assert!(!logdir.path().join("conn.log").exists());
        let files = rotated(logdir.path(), "conn");
        assert!(files.len() >= 5, "{:?}", files.keys());
        for name in files.keys() {
            let text = fs::read_to_string(logdir.path().join(name)).unwrap();
            assert!(
                text.starts_with("#separator") && text.contains("\n#close\t"),
                "{name}"
            );
            // conn.2009-11-18-18-10-10.log: the stamp of its open time.
            let stamp = &name["conn.".len()..name.len() - ".log".len()];
            assert_eq!(stamp.len(), 19, "{name}");
        }
        let all: Vec<String> = files.into_values().flatten().collect();
        let mut expected = data_lines(&reference.path().join("conn.log"));
        let mut got = all.clone();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "every row once over the rotated files");
    }
}

#[test]
fn ctl_rotate_rotates_now() {
    let m = modules_dir(&["http", "tsv-writer"]);
    let logdir = tempfile::tempdir().unwrap();
    let mut child = Command::new(bin())
        .arg("-r")
        .arg(trace(TRACE))
        .args(["--pace", "20", "--seed", "1", "-q", "--modules"])
        .arg(m.path())
        .arg("--logdir")
        .arg(logdir.path())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let socket = logdir.path().join("sandpiper.ctl");
    let until = Instant::now() + Duration::from_secs(20);
    while !socket.exists() {
        assert!(Instant::now() < until, "no control socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    // Half-way through the 2.7 s replay.
    std::thread::sleep(Duration::from_millis(1200));
    let out = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(&socket)
        .arg("rotate")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("rotated with the next packet"));
    assert!(child.wait().unwrap().success());
    // Without --rotate the last files are not rotated at exit: one rotated conn.log (the
    // first half) and the current one (the rest).
    let files = rotated(logdir.path(), "conn");
    assert_eq!(files.len(), 1, "{:?}", files.keys());
    let first: Vec<String> = files.into_values().flatten().collect();
    let rest = data_lines(&logdir.path().join("conn.log"));
    assert!(!first.is_empty() && !rest.is_empty());
    let reference = builtin_logs(&["http"], &[]);
    let mut all: Vec<String> = first.into_iter().chain(rest).collect();
    let mut expected = data_lines(&reference.path().join("conn.log"));
    all.sort();
    expected.sort();
    assert_eq!(all, expected);
}
