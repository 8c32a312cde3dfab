//! The `scan` handler (Zeek's policy/misc/scan.zeek) end to end: real nmap connect scans
//! against closed ports on loopback (every address of 127.0.0.0/8 answers on Linux, with a
//! RST for a closed port), captured with tcpdump, read by the binary with the module.
//!
//! The expected notices follow scan.zeek: each SYN answered by a RST is a
//! `connection_rejected`, observed at the RST's time; `Scan::Port_Scan` fires when a scanner
//! reaches 15 unique ports on one host, `Scan::Address_Scan` when it reaches 25 unique hosts
//! on one port; the message's duration is `duration_to_mins_secs` of the time between the
//! first observation and the one that crosses the threshold. Those times are read from the
//! capture with tcpdump, independently of Sandpiper. Without the right to capture (not root)
//! these tests print "skipping: ..." and return.
//!
//! Each run uses its own /16 of 127.0.0.0/8 (from the process id) and each test its own /24
//! of it, so concurrent loopback tests do not land in a capture.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::{mpsc, Mutex, MutexGuard};
use std::thread::sleep;
use std::time::Duration;

use common::{modules_dir, trace, tsv_rows};

type Row = HashMap<String, String>;

/// Scan.zeek's thresholds.
const PORT_SCAN_THRESHOLD: usize = 15;
const ADDR_SCAN_THRESHOLD: usize = 25;

/// Kills a child process of this test when dropped (the test may fail half-way).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// tcpdump capturing on loopback into a file. Captures of this file's tests run one at a time
/// (the guard), so their bursts do not compete for the CPU and the capture buffers.
struct Capture {
    tcpdump: Reaped,
    stderr: ChildStderr,
    _one_at_a_time: MutexGuard<'static, ()>,
}

static CAPTURING: Mutex<()> = Mutex::new(());

/// Starts tcpdump with `filter` and waits until it captures; None (after saying why) if
/// capturing is not allowed here.
fn start_capture(filter: &str, pcap: &Path) -> Option<Capture> {
    let guard = CAPTURING.lock().unwrap_or_else(|e| e.into_inner());
    let mut child = Command::new("tcpdump")
        // Immediate mode: without it packets wait in the kernel ring for up to a second, and
        // those still there at SIGINT are lost.
        // A large buffer (KiB), as nmap sends in bursts.
        .args(["-i", "lo", "--immediate-mode", "-B", "32768", "-U", "-w"])
        .arg(pcap)
        .arg(filter)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot run tcpdump (is it installed?)");
    let mut stderr = child.stderr.take().unwrap();
    // tcpdump says "listening on lo, ..." once the capture is open, or exits with an error.
    let (tx, rx) = mpsc::channel();
    let mut reader = BufReader::new(stderr);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = tx.send((line, reader));
    });
    let (first, reader) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("tcpdump neither started nor failed within 10 s");
    stderr = reader.into_inner();
    if !first.contains("listening on") {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        let _ = child.wait();
        let why = format!("{first}{rest}");
        let lower = why.to_lowercase();
        if lower.contains("permission") || lower.contains("not permitted") {
            println!("skipping: tcpdump cannot capture here ({})", why.trim());
            eprintln!("skipping: tcpdump cannot capture here ({})", why.trim());
            return None;
        }
        panic!("tcpdump failed: {why}");
    }
    Some(Capture {
        tcpdump: Reaped(child),
        stderr,
        _one_at_a_time: guard,
    })
}

impl Capture {
    /// Stops tcpdump with SIGINT, as a user would, so it writes out the capture and exits.
    fn stop(mut self) {
        // Let the last packets pass before stopping.
        sleep(Duration::from_millis(500));
        let pid = self.tcpdump.0.id() as libc::pid_t;
        let rc = unsafe { libc::kill(pid, libc::SIGINT) };
        assert_eq!(rc, 0, "kill(SIGINT) failed");
        let status = self.tcpdump.0.wait().unwrap();
        let mut stderr = String::new();
        let _ = self.stderr.read_to_string(&mut stderr);
        assert!(status.success(), "tcpdump exited with {status:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .any(|l| l.trim() == "0 packets dropped by kernel"),
            "tcpdump dropped packets: {stderr}"
        );
    }
}

/// This run's /16 of loopback: 127.<net>.0.0/16, away from the 127.0.0.x other tests use.
fn loopback_net() -> u8 {
    (100 + std::process::id() % 150) as u8
}

/// Whether a TCP connection to addr:port is refused (nothing listens there).
fn refused(addr: &str, port: u16) -> bool {
    let sa: SocketAddr = format!("{addr}:{port}").parse().unwrap();
    matches!(
        TcpStream::connect_timeout(&sa, Duration::from_secs(2)),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused
    )
}

/// The first `count` ports from 1 up that are closed on every address in `addrs`.
fn closed_ports(addrs: &[String], count: usize) -> Vec<u16> {
    let ports: Vec<u16> = (1..=2000u16)
        .filter(|&p| addrs.iter().all(|a| refused(a, p)))
        .take(count)
        .collect();
    assert_eq!(ports.len(), count, "not enough closed ports on {addrs:?}");
    ports
}

/// Runs an nmap TCP connect scan (no ping, no DNS) of `ports` on `targets`.
fn nmap(ports: &[u16], targets: &[String]) {
    let list: Vec<String> = ports.iter().map(u16::to_string).collect();
    let out = Command::new("nmap")
        .args(["-sT", "-Pn", "-n", "-p", &list.join(",")])
        .args(targets)
        .output()
        .expect("cannot run nmap (is it installed?)");
    assert!(
        out.status.success(),
        "nmap failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the binary on a trace with the scan module; returns the log directory. Fails on any
/// module failure, which would lose the handler's state silently.
fn run(traces: &[PathBuf], local_nets: Option<&str>) -> tempfile::TempDir {
    let mods = modules_dir(&["scan"]);
    let logdir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandpiper"));
    for t in traces {
        cmd.arg("-r").arg(t);
    }
    if let Some(nets) = local_nets {
        cmd.args(["--local-nets", nets]);
    }
    // -C: loopback captures carry checksums the kernel never filled in.
    let out = cmd
        .args(["--seed", "1", "-q", "-C", "--modules"])
        .arg(mods.path())
        .arg("--logdir")
        .arg(logdir.path())
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sandpiper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let failures = tsv_rows(&logdir.path().join("analyzer_failed.log"));
    assert!(failures.is_empty(), "module failures: {failures:?}");
    logdir
}

/// A RST seen in the capture: when, from which address and port, to which address.
#[derive(Debug, Clone)]
struct Rst {
    micros: u64,
    from: String,
    port: u16,
    to: String,
    to_port: u16,
}

/// The RSTs in the capture, in capture order, read by tcpdump. Each answers one SYN of the
/// scan: a `connection_rejected` at that time.
fn rsts(pcap: &Path) -> Vec<Rst> {
    let out = Command::new("tcpdump")
        .arg("-r")
        .arg(pcap)
        .args(["-tt", "-n", "tcp[tcpflags] & tcp-rst != 0"])
        .output()
        .expect("cannot run tcpdump");
    assert!(out.status.success(), "tcpdump -r failed: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            // "1700000000.123456 IP 127.1.0.2.80 > 127.0.0.1.41234: Flags [R.], ..."
            let mut words = line.split_whitespace();
            let time = words.next().unwrap();
            assert_eq!(words.next(), Some("IP"), "{line}");
            let (from, port) = words.next().unwrap().rsplit_once('.').unwrap();
            assert_eq!(words.next(), Some(">"), "{line}");
            let to = words.next().unwrap().trim_end_matches(':');
            let (to, to_port) = to.rsplit_once('.').unwrap();
            Rst {
                micros: micros(time).unwrap_or_else(|| panic!("no time in {line}")),
                from: from.to_string(),
                port: port.parse().unwrap(),
                to: to.to_string(),
                to_port: to_port.parse().unwrap(),
            }
        })
        .collect()
}

/// Microseconds from "<seconds>.<six digits>".
fn micros(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.')?;
    if frac.len() != 6 {
        return None;
    }
    Some(secs.parse::<u64>().ok()? * 1_000_000 + frac.parse::<u64>().ok()?)
}

/// Zeek's duration_to_mins_secs of the time between two observations.
fn mins_secs(from_us: u64, to_us: u64) -> String {
    let secs = (to_us - from_us) / 1_000_000;
    format!("{}m{}s", secs / 60, secs % 60)
}

/// Where a SumStats UNIQUE count over `observations` (time, value), in time order, reaches
/// `threshold`: the first observation's time and the crossing one's.
fn crossing<T: Ord + Clone>(observations: &[(u64, T)], threshold: usize) -> Option<(u64, u64)> {
    let mut seen = BTreeSet::new();
    for (t, v) in observations {
        seen.insert(v.clone());
        if seen.len() == threshold {
            return Some((observations[0].0, *t));
        }
    }
    None
}

/// notice.log's network time as microseconds.
fn notice_micros(n: &Row) -> u64 {
    micros(&n["ts"]).unwrap_or_else(|| panic!("bad ts in {n:?}"))
}

/// The columns scan.zeek's notices leave unset (no `$conn`, `$id`, `$n`).
fn assert_unset(n: &Row, columns: &[&str]) {
    for c in columns {
        assert_eq!(n[*c], "-", "{c} in {n:?}");
    }
}

/// The conn.log rows, which must all be rejected connection attempts.
fn assert_all_rejected(logdir: &Path, expected: usize) {
    let conns = tsv_rows(&logdir.join("conn.log"));
    assert_eq!(conns.len(), expected, "{conns:?}");
    for c in &conns {
        assert_eq!(
            (c["conn_state"].as_str(), c["history"].as_str()),
            ("REJ", "Sr"),
            "{c:?}"
        );
    }
}

#[test]
fn port_scans_of_closed_ports_raise_one_port_scan() {
    let net = loopback_net();
    let victims = [format!("127.{net}.0.2"), format!("127.{net}.0.3")];
    let ports = closed_ports(&victims, 20);
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("port-scan.pcap");
    let Some(capture) = start_capture(&format!("tcp and net 127.{net}.0.0/24"), &pcap) else {
        return;
    };
    nmap(&ports, &victims);
    capture.stop();

    // Default local networks: private and reserved space, so loopback is local.
    let logs = run(std::slice::from_ref(&pcap), None);
    assert_all_rejected(logs.path(), 40);

    // Both victims cross the threshold; the notice framework drops the second Port_Scan,
    // whose identifier (the scanner) is the same, within the hour: one notice, for the
    // victim whose 15th port was refused first.
    let rsts = rsts(&pcap);
    assert_eq!(rsts.len(), 40, "{rsts:?}");
    let scanner = rsts[0].to.clone();
    let crossings: Vec<(u64, u64, &String)> = victims
        .iter()
        .map(|v| {
            let obs: Vec<(u64, u16)> = rsts
                .iter()
                .filter(|r| &r.from == v)
                .map(|r| (r.micros, r.port))
                .collect();
            let (begin, end) = crossing(&obs, PORT_SCAN_THRESHOLD).expect("15 ports refused");
            (end, begin, v)
        })
        .collect();
    let &(end, begin, victim) = crossings.iter().min().unwrap();

    let rows = tsv_rows(&logs.path().join("notice.log"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = &rows[0];
    println!("notice: {n:?}");
    assert_eq!(n["note"], "Scan::Port_Scan");
    assert_eq!(
        n["msg"],
        format!(
            "{scanner} scanned at least 15 unique ports of host {victim} in {}",
            mins_secs(begin, end)
        )
    );
    assert_eq!(n["sub"], "local");
    assert_eq!(n["src"], scanner);
    assert_eq!(&n["dst"], victim);
    assert_eq!(n["actions"], "Notice::ACTION_LOG");
    assert_eq!(n["suppress_for"], "3600.000000");
    // No $p, so no proto either.
    assert_unset(n, &["uid", "id.orig_h", "id.resp_p", "proto", "p", "n"]);
    // Zeek logs the notice at the crossing RST; the handler sees connections when they are
    // removed, which is not earlier and (tcp_close_delay) at most 5 s later or at the end of
    // the input.
    let last = rsts.iter().map(|r| r.micros).max().unwrap();
    let ts = notice_micros(n);
    assert!(
        ts >= end && ts <= last + 5_000_000,
        "ts {ts} vs crossing {end}, last {last}"
    );
}

#[test]
fn address_scan_of_thirty_hosts_raises_one_address_scan() {
    let net = loopback_net();
    let victims: Vec<String> = (1..=30).map(|i| format!("127.{net}.1.{i}")).collect();
    let port = closed_ports(&victims, 1)[0];
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("addr-scan.pcap");
    let Some(capture) = start_capture(&format!("tcp and net 127.{net}.1.0/24"), &pcap) else {
        return;
    };
    nmap(&[port], &victims);
    capture.stop();

    // Local networks that leave loopback out: the scanner is "remote".
    let logs = run(std::slice::from_ref(&pcap), Some("192.0.2.0/24"));
    assert_all_rejected(logs.path(), 30);

    let rsts = rsts(&pcap);
    assert_eq!(rsts.len(), 30, "{rsts:?}");
    let scanner = rsts[0].to.clone();
    let obs: Vec<(u64, String)> = rsts.iter().map(|r| (r.micros, r.from.clone())).collect();
    let (begin, end) = crossing(&obs, ADDR_SCAN_THRESHOLD).expect("25 hosts refused");

    let rows = tsv_rows(&logs.path().join("notice.log"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = &rows[0];
    println!("notice: {n:?}");
    assert_eq!(n["note"], "Scan::Address_Scan");
    assert_eq!(
        n["msg"],
        format!(
            "{scanner} scanned at least 25 unique hosts on port {port}/tcp in {}",
            mins_secs(begin, end)
        )
    );
    assert_eq!(n["sub"], "remote");
    assert_eq!(n["src"], scanner);
    assert_eq!(n["p"], port.to_string());
    // Zeek's Notice::apply_policy sets proto from $p (`if ( n?$p ) n$proto =
    // get_port_transport_proto(n$p)`), also when the notice has no $id.
    assert_eq!(
        n["proto"], "tcp",
        "notice.log proto must come from p when the notice has no id, as in Zeek"
    );
    assert_eq!(n["actions"], "Notice::ACTION_LOG");
    assert_eq!(n["suppress_for"], "3600.000000");
    assert_unset(n, &["uid", "id.orig_h", "id.resp_p", "dst", "n"]);
    let last = rsts.iter().map(|r| r.micros).max().unwrap();
    let ts = notice_micros(n);
    assert!(
        ts >= end && ts <= last + 5_000_000,
        "ts {ts} vs crossing {end}, last {last}"
    );
}

/// Listens on `count` ports of `addr` chosen by the system, never accepting (the kernel
/// completes handshakes into the backlog); prints the ports, then waits to be killed.
const LISTENER: &str = r#"
import socket, sys, time
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.bind((sys.argv[1], 0))
    s.listen(64)
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks), flush=True)
time.sleep(600)
"#;

#[test]
fn connect_scan_counts_reset_handshakes_of_open_ports() {
    let net = loopback_net();
    let victim = format!("127.{net}.4.1");
    let mut listener = Command::new("python3")
        .arg("-c")
        .arg(LISTENER)
        .args([victim.as_str(), "8"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot run python3");
    let mut line = String::new();
    BufReader::new(listener.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _listener = Reaped(listener);
    let open: Vec<u16> = line
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert_eq!(open.len(), 8, "the listener printed {line:?}");
    let closed = closed_ports(std::slice::from_ref(&victim), 8);
    let ports: Vec<u16> = open.iter().chain(&closed).copied().collect();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("connect-scan.pcap");
    let Some(capture) = start_capture(&format!("tcp and net 127.{net}.4.0/24"), &pcap) else {
        return;
    };
    nmap(&ports, std::slice::from_ref(&victim));
    capture.stop();
    let logs = run(std::slice::from_ref(&pcap), None);

    // nmap completes the handshake with an open port and resets it without data: ShAR,
    // a connection_reset that is_failed_conn accepts. Closed ports are REJ as before.
    let conns = tsv_rows(&logs.path().join("conn.log"));
    let mut states: Vec<(u16, String, String)> = conns
        .iter()
        .map(|c| {
            let port: u16 = c["id.resp_p"].parse().unwrap();
            (port, c["conn_state"].clone(), c["history"].clone())
        })
        .collect();
    states.sort();
    let mut expected: Vec<(u16, String, String)> = open
        .iter()
        .map(|&p| (p, "RSTO".to_string(), "ShAR".to_string()))
        .chain(closed.iter().map(|&p| (p, "REJ".into(), "Sr".into())))
        .collect();
    expected.sort();
    assert_eq!(states, expected);

    // Every connection ends with one RST (the victim's for a closed port, the scanner's for
    // an open one), when Zeek observes it. 16 ports: the 15th crosses the threshold.
    let rsts = rsts(&pcap);
    assert_eq!(rsts.len(), 16, "{rsts:?}");
    let scanner = rsts.iter().find(|r| r.from == victim).unwrap().to.clone();
    let obs: Vec<(u64, u16)> = rsts
        .iter()
        .map(|r| {
            let port = if r.from == victim { r.port } else { r.to_port };
            (r.micros, port)
        })
        .collect();
    let (begin, end) = crossing(&obs, PORT_SCAN_THRESHOLD).expect("15 ports");
    let rows = tsv_rows(&logs.path().join("notice.log"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = &rows[0];
    assert_eq!(n["note"], "Scan::Port_Scan");
    assert_eq!(
        n["msg"],
        format!(
            "{scanner} scanned at least 15 unique ports of host {victim} in {}",
            mins_secs(begin, end)
        )
    );
    assert_eq!(n["src"], scanner);
    assert_eq!(n["dst"], victim);
    assert_eq!(n["sub"], "local");
}

#[test]
fn below_the_thresholds_nothing_is_noticed() {
    let net = loopback_net();
    // 14 ports of one host and 24 hosts on one port: one short of each threshold.
    let host = format!("127.{net}.2.1");
    let hosts: Vec<String> = (1..=24).map(|i| format!("127.{net}.3.{i}")).collect();
    // Ports closed everywhere; the one the 24 hosts are scanned on is not among the 14, so no
    // key gets a 25th host.
    let everywhere: Vec<String> = hosts.iter().chain([&host]).cloned().collect();
    let mut ports = closed_ports(&everywhere, PORT_SCAN_THRESHOLD);
    let port = ports.pop().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("below.pcap");
    let filter = format!("tcp and (net 127.{net}.2.0/24 or net 127.{net}.3.0/24)");
    let Some(capture) = start_capture(&filter, &pcap) else {
        return;
    };
    nmap(&ports, std::slice::from_ref(&host));
    nmap(&[port], &hosts);
    capture.stop();
    let logs = run(std::slice::from_ref(&pcap), None);
    assert_all_rejected(logs.path(), 14 + 24);
    let rows = tsv_rows(&logs.path().join("notice.log"));
    assert!(rows.is_empty(), "{rows:?}");
}

#[test]
fn normal_traffic_raises_no_notice() {
    let traces: Vec<PathBuf> = [
        "http/get.pcap",
        "http/methods.pcap",
        "http/cooper-grill-dvwa.pcapng",
        "http/1000-requests-one-dropped-response.pcap",
        "dns/dns-binds.pcap",
        "smtp.pcap",
    ]
    .iter()
    .map(|t| trace(t))
    .collect();
    for t in &traces {
        let logs = run(std::slice::from_ref(t), None);
        let conns = tsv_rows(&logs.path().join("conn.log"));
        assert!(!conns.is_empty(), "{} logged no connection", t.display());
        let rows = tsv_rows(&logs.path().join("notice.log"));
        assert!(rows.is_empty(), "{}: {rows:?}", t.display());
    }
}
