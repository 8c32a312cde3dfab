//! Hot reload on a paced replay: a module is replaced while packets flow. Events after the swap
//! go to the new version and those before to the old, no packet is lost, and a broken
//! replacement leaves the old version running. `sandpiper ctl status` and `ctl reload` are
//! exercised on the same run. A protocol analyzer is replaced the same way: sessions already
//! running finish on the old version while new connections get the new one.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sandpiper::wasm::modules::test_modules_dir;

const TRACE: &str = "http/methods.pcap";
/// The trace spans 54 s; at 20x it replays in about 2.7 s.
const PACE: &str = "20";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sandpiper")
}

fn start(modules: &Path, logdir: &Path) -> Child {
    Command::new(bin())
        .arg("-r")
        .arg(common::trace(TRACE))
        .args(["--pace", PACE, "--event-batch", "1", "--seed", "3", "-q"])
        .arg("--modules")
        .arg(modules)
        .arg("--logdir")
        .arg(logdir)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn ctl(logdir: &Path, action: &str) -> String {
    let out = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(logdir.join("sandpiper.ctl"))
        .arg(action)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Waits until the control socket answers (modules loaded, first packets flowing).
fn wait_ready(logdir: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while !logdir.join("sandpiper.ctl").exists() {
        assert!(
            Instant::now() < until,
            "sandpiper never opened its control socket"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces `conn-rows` in `modules` atomically (write beside, then rename).
fn install(modules: &Path, wasm: &[u8], toml: &Path) {
    install_as(modules, "conn-rows", wasm, toml);
}

/// Replaces module `name` in `modules` atomically (write beside, then rename).
fn install_as(modules: &Path, name: &str, wasm: &[u8], toml: &Path) {
    fs::copy(toml, modules.join(format!("{name}.toml"))).unwrap();
    fs::write(modules.join(".incoming"), wasm).unwrap();
    fs::rename(
        modules.join(".incoming"),
        modules.join(format!("{name}.wasm")),
    )
    .unwrap();
}

fn versions(logdir: &Path) -> Vec<String> {
    fs::read_to_string(logdir.join("conn_rows.log"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.rsplit('\t').next().unwrap().to_string())
        .collect()
}

fn conn_rows(logdir: &Path) -> usize {
    fs::read_to_string(logdir.join("conn.log"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .count()
}

fn v1_modules() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let built = test_modules_dir();
    for ext in ["wasm", "toml"] {
        fs::copy(
            built.join(format!("conn-rows.{ext}")),
            dir.path().join(format!("conn-rows.{ext}")),
        )
        .unwrap();
    }
    (dir, built)
}

fn finish(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "{stderr}");
    stderr
}

#[test]
fn replacing_a_module_mid_run_switches_versions_without_losing_packets() {
    let (modules, built) = v1_modules();
    let logs = tempfile::tempdir().unwrap();
    let child = start(modules.path(), logs.path());
    wait_ready(logs.path());
    std::thread::sleep(Duration::from_millis(900));
    assert!(ctl(logs.path(), "status").contains("conn-rows 0.1.0"));

    let v2 = fs::read(built.join("conn-rows-v2.wasm")).unwrap();
    install(modules.path(), &v2, &built.join("conn-rows-v2.toml"));
    // The file watch would pick it up too; an explicit reload answers with what changed.
    let reply = ctl(logs.path(), "reload");
    assert!(
        reply.contains("conn-rows 0.1.0 replaced by 0.2.0") || reply.contains("no changes"),
        "{reply}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let status = ctl(logs.path(), "status");
    assert!(status.contains("conn-rows 0.2.0"), "{status}");
    assert!(status.contains("reloads applied: 1"), "{status}");
    finish(child);

    let v = versions(logs.path());
    let first_v2 = v
        .iter()
        .position(|x| x == "0.2.0")
        .expect("no row from 0.2.0");
    assert!(first_v2 > 0, "no row from 0.1.0: {v:?}");
    assert!(v[first_v2..].iter().all(|x| x == "0.2.0"), "{v:?}");
    // Every connection was logged by exactly one version, and no packet was lost: the
    // conn.log of an unpaced run without modules is the same size.
    assert_eq!(v.len(), conn_rows(logs.path()));
    let plain = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("-r")
        .arg(common::trace(TRACE))
        .args(["--no-modules", "--seed", "3"])
        .arg("--logdir")
        .arg(plain.path())
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("655 packets"), "{summary}");
    assert_eq!(conn_rows(plain.path()), conn_rows(logs.path()));
}

#[test]
fn a_broken_replacement_keeps_the_old_version_running() {
    let (modules, built) = v1_modules();
    let logs = tempfile::tempdir().unwrap();
    let child = start(modules.path(), logs.path());
    wait_ready(logs.path());
    std::thread::sleep(Duration::from_millis(700));
    install(
        modules.path(),
        b"\0asm\x0d\0\x01\0 this is not a component",
        &built.join("conn-rows-v2.toml"),
    );
    let reply = ctl(logs.path(), "reload");
    assert!(reply.contains("keeping conn-rows 0.1.0"), "{reply}");
    let stderr = finish(child);
    assert!(stderr.contains("keeping conn-rows 0.1.0"), "{stderr}");
    let v = versions(logs.path());
    assert_eq!(v.len(), conn_rows(logs.path()));
    assert!(v.iter().all(|x| x == "0.1.0"), "{v:?}");
}

#[test]
fn sighup_rescans_the_modules_directory() {
    let (modules, built) = v1_modules();
    let logs = tempfile::tempdir().unwrap();
    let child = start(modules.path(), logs.path());
    wait_ready(logs.path());
    std::thread::sleep(Duration::from_millis(700));
    let v2 = fs::read(built.join("conn-rows-v2.wasm")).unwrap();
    install(modules.path(), &v2, &built.join("conn-rows-v2.toml"));
    // SIGHUP must rescan, not terminate (its default action); the file watch may get there
    // first, which is fine: either way exactly one swap happens.
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let stderr = finish(child);
    assert_eq!(
        stderr.matches("conn-rows 0.1.0 replaced by 0.2.0").count(),
        1,
        "{stderr}"
    );
    let v = versions(logs.path());
    assert!(
        v.iter().any(|x| x == "0.1.0") && v.iter().any(|x| x == "0.2.0"),
        "{v:?}"
    );
}

/// `ctl status` that tolerates a finished run (its socket is gone): `None` then.
fn try_status(logdir: &Path) -> Option<String> {
    let out = Command::new(bin())
        .args(["ctl", "--socket"])
        .arg(logdir.join("sandpiper.ctl"))
        .arg("status")
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// The uids of conn.log, in order.
fn conn_uids(logdir: &Path) -> Vec<String> {
    common::tsv_rows(&logdir.join("conn.log"))
        .into_iter()
        .map(|r| r["uid"].clone())
        .collect()
}

#[test]
fn an_analyzer_swap_lets_running_sessions_finish_on_the_old_version() {
    // http/methods.pcap: 49 HTTP connections to port 80 over 62.6 s, a group every ~4.1 s (the
    // longest gap between two connections' first payloads is 4.12 s). Each connection's
    // session lives until the connection is removed, tcp_close_delay (5 s of network time)
    // after it closed, and gets its `finish` call then. So whenever the swap happens, the
    // session attached just before it is still alive when the first session of the new
    // version starts (4.12 s < 5 s): some old session always runs across the swap and
    // finishes after new-version sessions have started, which is what this test checks.
    //
    // At 10x the replay takes 6.3 s. The swap is asked for 2 s in (~20 s of trace, ~17
    // connections logged by 0.1.0) and applied on the next connection removal (at most ~4 s
    // of trace later); the new version is compiled beforehand into a test-local artifact
    // cache, so the reload only loads it (milliseconds). That leaves ~35 s of trace (3.5 s of
    // wall time) of margin before the last connection, so both versions get connections
    // even on a loaded machine; a slow machine only replays slower, which widens the margin.
    const TRACE: &str = "http/methods.pcap";
    const PACE: &str = "10";
    let built = test_modules_dir();
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache");

    // Compile 0.2.0 into the cache (a no-op when it is there already).
    let warm = tempfile::tempdir().unwrap();
    for ext in ["wasm", "toml"] {
        let f = format!("stream-trace-v2.{ext}");
        fs::copy(built.join(&f), warm.path().join(&f)).unwrap();
    }
    let out = Command::new(bin())
        .arg("-N")
        .arg("--modules")
        .arg(warm.path())
        .arg("--cache-dir")
        .arg(&cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let modules = common::modules_dir(&["stream-trace"]);
    let logs = tempfile::tempdir().unwrap();
    let child = Command::new(bin())
        .arg("-r")
        .arg(common::trace(TRACE))
        .args(["--pace", PACE, "--seed", "3", "-q"])
        .arg("--modules")
        .arg(modules.path())
        .arg("--logdir")
        .arg(logs.path())
        .arg("--cache-dir")
        .arg(&cache)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_ready(logs.path());
    std::thread::sleep(Duration::from_millis(2000));
    assert!(ctl(logs.path(), "status").contains("reloads applied: 0"));

    let v2 = fs::read(built.join("stream-trace-v2.wasm")).unwrap();
    install_as(
        modules.path(),
        "stream-trace",
        &v2,
        &built.join("stream-trace-v2.toml"),
    );
    let reply = ctl(logs.path(), "reload");
    assert!(
        reply.contains("stream-trace 0.1.0 replaced by 0.2.0") || reply.contains("no changes"),
        "{reply}"
    );
    // The packet thread applies the new set on the next connection removal.
    let until = Instant::now() + Duration::from_secs(3);
    let mut status = String::new();
    while let Some(s) = try_status(logs.path()) {
        status = s;
        if status.contains("reloads applied: 1") || Instant::now() > until {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(status.contains("reloads applied: 1"), "{status}");
    let stderr = finish(child);
    assert_eq!(
        stderr
            .matches("stream-trace 0.1.0 replaced by 0.2.0")
            .count(),
        1,
        "{stderr}"
    );

    // Every call the analyzers got, in the order they were made.
    let calls = common::tsv_rows(&logs.path().join("stream_trace.log"));
    let first_v2 = calls
        .iter()
        .position(|r| r["version"] == "0.2.0")
        .expect("no call reached 0.2.0");
    // uid -> (version, index of its first call, network time of its first call)
    let mut sessions: std::collections::BTreeMap<&str, (&str, usize, f64)> = Default::default();
    for (i, r) in calls.iter().enumerate() {
        let v = r["version"].as_str();
        let (seen, _, _) =
            *sessions
                .entry(r["uid"].as_str())
                .or_insert((v, i, r["ts"].parse().unwrap()));
        // (a) A session stays on the version it started with.
        assert_eq!(seen, v, "connection {} switched versions: {r:?}", r["uid"]);
    }
    // (b) Sessions that started before the first 0.2.0 session are 0.1.0, all later ones
    // 0.2.0 (no new session on the old version), by log order and by network time.
    let swap_ts = sessions
        .values()
        .filter(|s| s.0 == "0.2.0")
        .map(|s| s.2)
        .fold(f64::INFINITY, f64::min);
    for (uid, &(v, first, ts)) in &sessions {
        let before = first < first_v2;
        assert_eq!(before, ts < swap_ts, "{uid}: {ts} vs {swap_ts}");
        assert_eq!(v, if before { "0.1.0" } else { "0.2.0" }, "{uid}");
    }
    let old = sessions.values().filter(|s| s.0 == "0.1.0").count();
    let new = sessions.len() - old;
    assert!(old >= 3 && new >= 3, "0.1.0: {old}, 0.2.0: {new}");
    // Sessions that were running at the swap finished on the old version after the new one
    // had taken over: a 0.1.0 `finish` comes after the first 0.2.0 call.
    let finished_late: Vec<&str> = calls[first_v2..]
        .iter()
        .filter(|r| r["version"] == "0.1.0" && r["what"] == "finish")
        .map(|r| r["uid"].as_str())
        .collect();
    assert!(
        !finished_late.is_empty(),
        "no 0.1.0 session ran across the swap"
    );
    for uid in &finished_late {
        assert!(sessions[uid].1 < first_v2, "{uid}");
    }
    // Every session finished exactly once, with its last call.
    for uid in sessions.keys() {
        let mine: Vec<&str> = calls
            .iter()
            .filter(|r| r["uid"] == *uid)
            .map(|r| r["what"].as_str())
            .collect();
        assert_eq!(
            mine.iter().filter(|w| **w == "finish").count(),
            1,
            "{uid}: {mine:?}"
        );
        assert_eq!(mine.last(), Some(&"finish"), "{uid}: {mine:?}");
    }

    // (c) Nothing lost: conn.log has the same connections as an unpaced run without modules,
    // each analyzed by one version of stream-trace.
    let plain = tempfile::tempdir().unwrap();
    let out = Command::new(bin())
        .arg("-r")
        .arg(common::trace(TRACE))
        .args(["--no-modules", "--seed", "3", "-q"])
        .arg("--logdir")
        .arg(plain.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut expected = conn_uids(plain.path());
    assert_eq!(expected.len(), 49);
    let conns = common::tsv_rows(&logs.path().join("conn.log"));
    let mut got: Vec<String> = conns.iter().map(|r| r["uid"].clone()).collect();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(
        conns.iter().all(|r| r["service"] == "stream-trace"),
        "{conns:?}"
    );
    let mut analyzed: Vec<&str> = sessions.keys().copied().collect();
    analyzed.sort();
    assert_eq!(analyzed, got.iter().map(String::as_str).collect::<Vec<_>>());
}
