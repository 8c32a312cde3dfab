//! Hot reload on a paced replay: a module is replaced while packets flow. Events after the swap
//! go to the new version and those before to the old, no packet is lost, and a broken
//! replacement leaves the old version running. `sandpiper ctl status` and `ctl reload` are
//! exercised on the same run.

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
    fs::copy(toml, modules.join("conn-rows.toml")).unwrap();
    fs::write(modules.join(".incoming"), wasm).unwrap();
    fs::rename(modules.join(".incoming"), modules.join("conn-rows.wasm")).unwrap();
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
