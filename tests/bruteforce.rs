//! http-bruteforce (guest-scripts/http-bruteforce, a JavaScript handler built with
//! componentize-js) end to end: the real binary with the HTTP analyzer and the handler.
//!
//! The rule is Zeek's policy/protocols/ftp/detect-bruteforcing.zeek applied to HTTP (the guest's
//! README has the details): every 401 reply is a failed login of the client address; SumStats
//! checks the threshold (20) after each observation, so the notice fires at the 20th failure
//! with `num` = 20, and the address takes no more observations in that epoch. The message counts
//! the distinct servers ("server" for one, "servers" otherwise) and the time from the first to
//! the 20th failure as Zeek's duration_to_mins_secs (whole seconds, truncated).
//!
//! The positive traces are made here: a Python HTTP server with Basic authentication on
//! loopback, curl guessing passwords, tcpdump capturing. The expected duration is read from the
//! capture with tcpdump, independently of Sandpiper. Without the right to capture (not root)
//! those tests print "skipping: ..." and return.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::thread::sleep;
use std::time::Duration;

use common::{modules_dir, trace, tsv_rows};

type Row = std::collections::HashMap<String, String>;

/// Zeek's FTP::bruteforce_threshold, which the handler keeps for HTTP.
const THRESHOLD: usize = 20;

/// An HTTP server with Basic authentication for `admin:s3cret`, listening on every address given
/// as an argument, all on one port chosen by the system, which it prints first. Replies are
/// HTTP/1.0, so each request is one connection.
const SERVER: &str = r#"
import base64, http.server, sys, threading
GOOD = "Basic " + base64.b64encode(b"admin:s3cret").decode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.headers.get("Authorization") == GOOD:
            self.send_response(200)
            body = b"welcome\n"
        else:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            body = b"denied\n"
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
servers = []
port = 0
for addr in sys.argv[1:]:
    servers.append(http.server.HTTPServer((addr, port), Handler))
    port = servers[0].server_address[1]
print(port, flush=True)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
"#;

/// Kills a child process of this test when dropped (the test may fail half-way).
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the HTTP server on `addrs`; returns it and its port.
fn start_server(addrs: &[&str]) -> (Reaped, u16) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SERVER)
        .args(addrs)
        .stdout(Stdio::piped())
        .spawn()
        .expect("cannot run python3");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("the server printed {line:?}, not its port"));
    (Reaped(child), port)
}

/// tcpdump capturing `port` on loopback into a file.
struct Capture {
    tcpdump: Reaped,
    stderr: ChildStderr,
}

/// Starts tcpdump and waits until it captures; None (after saying why) if capturing is not
/// allowed here.
fn start_capture(port: u16, pcap: &Path) -> Option<Capture> {
    let mut child = Command::new("tcpdump")
        // --immediate-mode: without it libpcap hands packets over in blocks, and the packets of
        // the last block would be lost when SIGINT stops the capture.
        .args(["-i", "lo", "--immediate-mode", "-U", "-w"])
        .arg(pcap)
        .arg(format!("tcp port {port}"))
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
    })
}

impl Capture {
    /// Stops tcpdump with SIGINT, as a user would, so it writes out the capture and exits.
    fn stop(mut self) {
        // Let the last packets (FINs, ACKs) pass before stopping.
        sleep(Duration::from_millis(300));
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

/// One login attempt with curl; returns the reply code.
fn login(addr: &str, port: u16, password: &str) -> u16 {
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "--noproxy",
            "*",
        ])
        .args(["--max-time", "10", "-u"])
        .arg(format!("admin:{password}"))
        .arg(format!("http://{addr}:{port}/private"))
        .output()
        .expect("cannot run curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("curl failed: {out:?}"))
}

/// Captures a password-guessing session from 127.0.0.1: `failures` wrong passwords spread over
/// the servers in `servers` (round robin, 100 ms apart), then the right one on the first server.
/// None if capturing is not allowed here.
fn guessing_trace(dir: &Path, servers: &[&str], failures: usize) -> Option<PathBuf> {
    let (_server, port) = start_server(servers);
    let pcap = dir.join("guessing.pcap");
    let capture = start_capture(port, &pcap)?;
    for i in 0..failures {
        let addr = servers[i % servers.len()];
        assert_eq!(login(addr, port, &format!("guess{i}")), 401);
        sleep(Duration::from_millis(100));
    }
    assert_eq!(login(servers[0], port, "s3cret"), 200);
    capture.stop();
    Some(pcap)
}

/// Runs the binary on traces (read in order as one stream) with the HTTP analyzer and the
/// handler; returns the log directory. Fails on any module failure, which would lose the
/// handler's state silently.
fn run(traces: &[PathBuf]) -> tempfile::TempDir {
    let mods = modules_dir(&["http", "http-bruteforce"]);
    let logdir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandpiper"));
    for t in traces {
        cmd.arg("-r").arg(t);
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

/// Times (microseconds) of the packets that start an HTTP reply with `code`, read from the
/// capture by tcpdump: the network time of each http_reply event.
fn reply_times(pcap: &Path, code: u16) -> Vec<u64> {
    let out = Command::new("tcpdump")
        .args(["-r"])
        .arg(pcap)
        .args(["-tt", "-n", "-A"])
        .output()
        .expect("cannot run tcpdump");
    assert!(out.status.success(), "tcpdump -r failed: {out:?}");
    let status_line = format!("HTTP/1.0 {code} ");
    let mut times = Vec::new();
    let mut packet_time = None;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // A packet's summary line starts with its time ("1700000000.123456 IP ..."); its
        // payload follows as text.
        if let Some((first, _)) = line.split_once(" IP ") {
            if let Some(us) = micros(first) {
                packet_time = Some(us);
                continue;
            }
        }
        if line.contains(&status_line) {
            times.push(packet_time.expect("payload before any packet line"));
        }
    }
    times
}

/// Microseconds from "<seconds>.<six digits>".
fn micros(s: &str) -> Option<u64> {
    let (secs, frac) = s.split_once('.')?;
    if frac.len() != 6 {
        return None;
    }
    Some(secs.parse::<u64>().ok()? * 1_000_000 + frac.parse::<u64>().ok()?)
}

/// Zeek's duration_to_mins_secs of the time between two packets.
fn mins_secs(from_us: u64, to_us: u64) -> String {
    let secs = (to_us - from_us) / 1_000_000;
    format!("{}m{}s", secs / 60, secs % 60)
}

fn notices(logdir: &Path) -> Vec<Row> {
    tsv_rows(&logdir.join("notice.log"))
}

/// The http.log status codes, in order.
fn status_codes(logdir: &Path) -> Vec<String> {
    tsv_rows(&logdir.join("http.log"))
        .into_iter()
        .map(|r| r["status_code"].clone())
        .collect()
}

/// Checks the one notice a guessing session must produce.
fn assert_one_bruteforcing_notice(logdir: &Path, pcap: &Path, servers: usize) {
    let failed = reply_times(pcap, 401);
    assert!(
        failed.len() >= THRESHOLD,
        "only {} 401 replies",
        failed.len()
    );
    let duration = mins_secs(failed[0], failed[THRESHOLD - 1]);
    let plural = if servers > 1 { "s" } else { "" };
    let rows = notices(logdir);
    assert_eq!(rows.len(), 1, "{rows:?}");
    let n = &rows[0];
    assert_eq!(n["note"], "HTTP::Bruteforcing");
    assert_eq!(
        n["msg"],
        format!("127.0.0.1 had 20 failed logins on {servers} HTTP server{plural} in {duration}")
    );
    assert_eq!(n["src"], "127.0.0.1");
    // Like Zeek's FTP notice, it names no connection, destination, port or count.
    for unset in ["uid", "id.orig_h", "dst", "p", "n", "sub"] {
        assert_eq!(n[unset], "-", "{unset} in {n:?}");
    }
}

#[test]
fn twenty_failed_logins_on_one_server_raise_one_notice() {
    let dir = tempfile::tempdir().unwrap();
    // 25 failures then a success: the notice comes at the 20th failure; the 5 after it and the
    // success change nothing (the address takes no more observations this epoch, and Zeek's
    // script ignores successful logins).
    let Some(pcap) = guessing_trace(dir.path(), &["127.0.0.1"], 25) else {
        return;
    };
    let logs = run(std::slice::from_ref(&pcap));
    let mut expected = vec!["401".to_string(); 25];
    expected.push("200".into());
    assert_eq!(status_codes(logs.path()), expected);
    assert_one_bruteforcing_notice(logs.path(), &pcap, 1);
}

#[test]
fn failures_spread_over_two_servers_count_together() {
    let dir = tempfile::tempdir().unwrap();
    // 127.0.0.1 and 127.0.0.2 are both loopback; the client alternates between them. The key is
    // the client address, so the 20th failure overall raises the notice, on 2 servers.
    let Some(pcap) = guessing_trace(dir.path(), &["127.0.0.1", "127.0.0.2"], 22) else {
        return;
    };
    let logs = run(std::slice::from_ref(&pcap));
    assert_eq!(status_codes(logs.path()).len(), 23);
    assert_one_bruteforcing_notice(logs.path(), &pcap, 2);
}

#[test]
fn nineteen_failed_logins_are_below_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let Some(pcap) = guessing_trace(dir.path(), &["127.0.0.1"], THRESHOLD - 1) else {
        return;
    };
    let logs = run(std::slice::from_ref(&pcap));
    assert_eq!(reply_times(&pcap, 401).len(), THRESHOLD - 1);
    assert_eq!(status_codes(logs.path()).len(), THRESHOLD);
    assert_eq!(notices(logs.path()), []);
}

#[test]
fn ordinary_http_traffic_raises_no_notice() {
    // The corpus HTTP traces with replies (none of them a 401), read as one stream in time order
    // (2009 to 2024): among them a request with Basic credentials that succeeded
    // (basic-auth-with-extra-space), SQL injection attempts against DVWA (cooper-grill-dvwa),
    // and a thousand requests from one client whose replies were not captured
    // (1000-requests-one-dropped-response).
    let traces: Vec<PathBuf> = [
        "http/pipelined-requests.pcap",
        "http/vnd.ms-cab-compressed-multi-conn.pcap",
        "http/methods.pcap",
        "http/no_crlf.pcap",
        "http/basic-auth-with-extra-space.pcap",
        "http/1000-requests-one-dropped-response.pcap",
        "http/http-desync-request-response-5.pcap",
        "http/cooper-grill-dvwa.pcapng",
    ]
    .iter()
    .map(|t| trace(t))
    .collect();
    let logs = run(&traces);
    let codes = status_codes(logs.path());
    let replies: Vec<&String> = codes.iter().filter(|c| *c != "-").collect();
    assert!(codes.len() > 1000, "{} http.log rows", codes.len());
    assert!(replies.len() > 50, "{} replies", replies.len());
    assert!(!replies.iter().any(|c| *c == "401"));
    assert_eq!(notices(logs.path()), []);
}
