//! Live capture end to end: a veth pair whose one end sits in a network
//! namespace of our own; sandpiper captures on that end (inside the
//! namespace), tcpreplay replays a corpus trace into the other end, SIGINT
//! stops sandpiper, which must flush its logs and exit 0. The connections must
//! be those of an offline `-r` run of the same trace.
//!
//! Needs root (or CAP_NET_ADMIN) and the `ip` and `tcpreplay` tools. When the
//! machine does not allow creating namespaces the test prints "skipping: ..."
//! and returns; any other failure fails the test.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sandpiper");

mod common;
use common::trace;

fn cmd(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (is it installed?): {e}"))
}

fn must(program: &str, args: &[&str]) {
    let out = cmd(program, args);
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Owns the namespace and the veth pair; removes both when dropped.
struct Netns {
    ns: String,
    outer: String,
    inner: String,
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting either end of a veth pair deletes both; ignore errors, the
        // link may be gone already with the namespace.
        let _ = Command::new("ip")
            .args(["link", "del", &self.outer])
            .stderr(Stdio::null())
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.ns])
            .stderr(Stdio::null())
            .status();
    }
}

/// Creates the namespace; None (after printing why) if namespaces are not
/// allowed here.
fn setup() -> Option<Netns> {
    let pid = std::process::id();
    let ns = format!("sp-test-{pid}");
    // Interface names are limited to 15 bytes.
    let (outer, inner) = (
        format!("spo{}", pid % 1_000_000),
        format!("spi{}", pid % 1_000_000),
    );
    let out = cmd("ip", &["netns", "add", &ns]);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let lower = err.to_lowercase();
        if lower.contains("permission denied") || lower.contains("operation not permitted") {
            println!(
                "skipping: cannot create a network namespace here ({})",
                err.trim()
            );
            eprintln!(
                "skipping: cannot create a network namespace here ({})",
                err.trim()
            );
            return None;
        }
        panic!("ip netns add {ns} failed: {:?}\n{err}", out.status);
    }
    let guard = Netns { ns, outer, inner };
    let (ns, outer, inner) = (&guard.ns, &guard.outer, &guard.inner);
    must(
        "ip",
        &["link", "add", outer, "type", "veth", "peer", "name", inner],
    );
    must("ip", &["link", "set", inner, "netns", ns]);
    // No IPv6 on the pair, so the kernel sends no neighbour/router
    // solicitations that would show up as extra connections.
    let _ = cmd(
        "sysctl",
        &["-qw", &format!("net.ipv6.conf.{outer}.disable_ipv6=1")],
    );
    let _ = cmd(
        "ip",
        &[
            "netns",
            "exec",
            ns,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{inner}.disable_ipv6=1"),
        ],
    );
    must("ip", &["link", "set", outer, "mtu", "9000", "up"]);
    must(
        "ip",
        &["netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    );
    must(
        "ip",
        &[
            "netns", "exec", ns, "ip", "link", "set", inner, "mtu", "9000", "up",
        ],
    );
    Some(guard)
}

type Tuple = (String, String, String, String, String);

/// The (orig_h, orig_p, resp_h, resp_p, proto) tuples of a conn.log, which
/// must be well-formed and closed.
fn tuples(dir: &Path) -> BTreeSet<Tuple> {
    let log = fs::read_to_string(dir.join("conn.log"))
        .unwrap_or_else(|e| panic!("no conn.log in {}: {e}", dir.display()));
    assert!(
        log.lines()
            .last()
            .is_some_and(|l| l.starts_with("#close\t")),
        "conn.log in {} has no #close line:\n{log}",
        dir.display()
    );
    let fields: Vec<&str> = log
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("#fields")
        .split('\t')
        .collect();
    let col = |n: &str| fields.iter().position(|f| *f == n).unwrap();
    let (a, b, c, d, e) = (
        col("id.orig_h"),
        col("id.orig_p"),
        col("id.resp_h"),
        col("id.resp_p"),
        col("proto"),
    );
    log.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let v: Vec<&str> = l.split('\t').collect();
            (
                v[a].into(),
                v[b].into(),
                v[c].into(),
                v[d].into(),
                v[e].into(),
            )
        })
        .collect()
}

fn wait_with_timeout(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "sandpiper did not exit within {limit:?} after SIGINT (the interface was idle after the \
                 replay; a capture loop that only checks its stop flag between packets never sees it)"
            );
        }
        sleep(Duration::from_millis(50));
    }
}

#[test]
fn live_capture_on_veth_matches_offline_run() {
    let traces = [trace("http/get.pcap"), trace("smtp.pcap")];

    // Offline reference.
    let offline = tempfile::tempdir().unwrap();
    let mut off = Command::new(BIN);
    off.args(["-q", "--logdir"]).arg(offline.path());
    for t in &traces {
        off.arg("-r").arg(t);
    }
    let out = off.output().expect("cannot start sandpiper");
    assert!(
        out.status.success(),
        "offline run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = tuples(offline.path());
    assert!(!want.is_empty());

    let Some(net) = setup() else { return };

    // Fail clearly if tcpreplay is missing, before starting the capture.
    let probe = Command::new("tcpreplay").arg("--version").output();
    assert!(
        probe.is_ok(),
        "tcpreplay is required for this test but could not be run: {:?} (scripts/setup.sh installs it)",
        probe.err()
    );

    let live = tempfile::tempdir().unwrap();
    let stderr_path = live.path().join("sandpiper.stderr");
    let logdir = live.path().join("logs");
    // `ip netns exec` execs the program, so the child's pid is sandpiper's.
    let mut child = Command::new("ip")
        .args(["netns", "exec", &net.ns, BIN, "-i", &net.inner, "--logdir"])
        .arg(&logdir)
        .stdout(Stdio::null())
        .stderr(fs::File::create(&stderr_path).unwrap())
        .spawn()
        .expect("cannot start sandpiper in the namespace");

    // Let the capture start (and make sure it did not fail at once).
    sleep(Duration::from_millis(1500));
    if let Some(st) = child.try_wait().unwrap() {
        panic!(
            "sandpiper exited early ({st:?}): {}",
            fs::read_to_string(&stderr_path).unwrap_or_default()
        );
    }

    for t in &traces {
        let out = Command::new("tcpreplay")
            .args(["-q", "--topspeed", "-i", &net.outer])
            .arg(t)
            .output()
            .expect("cannot run tcpreplay");
        if !out.status.success() {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tcpreplay {} failed: {:?}\n{}{}",
                t.display(),
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    sleep(Duration::from_millis(1000));

    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "kill(SIGINT) failed");
    let status = wait_with_timeout(&mut child, Duration::from_secs(10));
    let stderr = fs::read_to_string(&stderr_path).unwrap_or_default();
    assert!(
        !stderr.contains("panicked"),
        "sandpiper panicked:\n{stderr}"
    );
    assert!(
        status.success(),
        "sandpiper exited with {status:?} after SIGINT:\n{stderr}"
    );

    let got = tuples(&logdir);
    assert_eq!(
        got,
        want,
        "live capture connections differ from the offline run\nonly live: {:?}\nonly offline: {:?}",
        got.difference(&want).collect::<Vec<_>>(),
        want.difference(&got).collect::<Vec<_>>()
    );
    drop(net);
}
