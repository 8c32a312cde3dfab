//! known-services (guest-scripts/known-services, a C handler built with clang and wasi-libc)
//! end to end: the real binary with the DNS and HTTP analyzers on corpus traces. Every run is
//! made again with its Python twin (tests/guests/known-services-py, componentize-py), which must
//! write the same known_services.log: one rule, two languages, the same rows.
//!
//! Zeek's rule (policy/protocols/conn/known-services.zeek; the guest's README has the details):
//! a connection names a service when its responder is local, the responder is active (TCP: it
//! sent a SYN-ACK, history `h`, or ended ESTABLISHED/CLOSED/PARTIAL; UDP: it sent a datagram),
//! and its service is not a lone `DNS` whose server sent no bytes. The row holds the confirmed
//! protocols as Zeek's analyzer names (upper case), or the single name "" (TSV `(empty)`) when
//! none was confirmed, which Zeek commits 5 minutes later. Each (host, port) logs each name once,
//! until the entry expires a day after it was created.
//!
//! The expected rows are worked out below from conn.log of the same run: which connections
//! qualify, and their times. `ts` follows the handler's documented rule: the connection's start
//! when a protocol other than a lone DNS was confirmed (Zeek: the confirming packet, in the first
//! exchanges), else the connection's last packet (Zeek: the removal time).

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{modules_dir, trace, tsv_rows};

type Row = HashMap<String, String>;

/// A known_services.log row: (ts, host, port_num, port_proto, service).
type Known = (String, String, String, String, String);

/// Runs the binary on corpus traces (read in order as one stream) with the DNS and HTTP
/// analyzers and the known-services handler; returns the log directory. The same run with the
/// Python twin of the handler must give the same known_services.log.
fn run(traces: &[&str], extra: &[&str]) -> tempfile::TempDir {
    let logdir = run_with("known-services", traces, extra);
    let twin = run_with("known-services-py", traces, extra);
    assert_eq!(
        log_body(&twin.path().join("known_services.log")),
        log_body(&logdir.path().join("known_services.log")),
        "the Python twin's known_services.log differs from the C handler's"
    );
    logdir
}

/// A log's lines without #open and #close (None if there is no log).
fn log_body(path: &Path) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
            .map(str::to_string)
            .collect(),
    )
}

fn run_with(handler: &str, traces: &[&str], extra: &[&str]) -> tempfile::TempDir {
    let mods = modules_dir(&["dns", "http", handler]);
    let logdir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandpiper"));
    for t in traces {
        cmd.arg("-r").arg(trace(t));
    }
    let out = cmd
        .args(["--seed", "1", "-q", "--modules"])
        .arg(mods.path())
        .arg("--logdir")
        .arg(logdir.path())
        .arg("--cache-dir")
        .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache"))
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "sandpiper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A handler failure would lose rows silently otherwise.
    let failures = tsv_rows(&logdir.path().join("analyzer_failed.log"));
    assert!(failures.is_empty(), "{handler} failures: {failures:?}");
    logdir
}

fn known_services(logdir: &Path) -> Vec<Known> {
    tsv_rows(&logdir.join("known_services.log"))
        .into_iter()
        .map(|r| {
            (
                r["ts"].clone(),
                r["host"].clone(),
                r["port_num"].clone(),
                r["port_proto"].clone(),
                r["service"].clone(),
            )
        })
        .collect()
}

/// conn.log rows in the order they were written, which is the order of the
/// connection_state_remove events the handler sees.
fn conns(logdir: &Path) -> Vec<Row> {
    tsv_rows(&logdir.join("conn.log"))
}

/// The connections to one server port, in conn.log order.
fn to_server<'a>(conns: &'a [Row], host: &str, port: &str, proto: &str) -> Vec<&'a Row> {
    conns
        .iter()
        .filter(|c| c["id.resp_h"] == host && c["id.resp_p"] == port && c["proto"] == proto)
        .collect()
}

/// Microseconds from a TSV time or interval with six decimals ("1668774216.062868").
fn micros(s: &str) -> u64 {
    let (secs, frac) = s.split_once('.').unwrap_or((s, "0"));
    let frac = format!("{frac:0<6}");
    secs.parse::<u64>().unwrap() * 1_000_000 + frac[..6].parse::<u64>().unwrap()
}

/// A connection's last packet, `ts + duration`: the time of its connection_state_remove event.
fn last_packet(c: &Row) -> String {
    let us = micros(&c["ts"]) + micros(&c["duration"]);
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn row(ts: &str, host: &str, port: &str, proto: &str, service: &str) -> Known {
    (
        ts.into(),
        host.into(),
        port.into(),
        proto.into(),
        service.into(),
    )
}

#[test]
fn a_server_gets_one_row_per_protocol_and_one_for_unidentified_connections() {
    let logs = run(&["http/http_09.pcap"], &[]);
    let all = conns(logs.path());
    // Five connections from 127.0.0.1 to the local server 127.0.0.1:80, all with a full
    // handshake (history `h`). The HTTP analyzer confirmed the first two; it recognised none of
    // the other three (HTTP/0.9 replies without a status line).
    let web = to_server(&all, "127.0.0.1", "80", "tcp");
    assert_eq!(web.len(), 5, "{all:?}");
    assert!(web
        .iter()
        .all(|c| c["local_resp"] == "T" && c["history"].contains('h')));
    let services: Vec<&str> = web.iter().map(|c| c["service"].as_str()).collect();
    assert_eq!(services, ["http", "http", "-", "-", "-"]);

    // The first HTTP connection logs HTTP (the second finds it known). The first unidentified
    // one logs the name "" five minutes after its removal: the timer is still pending when the
    // trace ends and fires then, so that row comes last; the other two find "" known.
    assert_eq!(
        known_services(logs.path()),
        [
            row(&web[0]["ts"], "127.0.0.1", "80", "tcp", "HTTP"),
            row(&last_packet(web[2]), "127.0.0.1", "80", "tcp", "(empty)"),
        ]
    );
}

#[test]
fn dns_servers_over_tcp_and_udp_are_two_services() {
    // tkey.pcap: DNS over TCP to 192.168.1.108:53; dynamic-update.pcap, 45 minutes later: two
    // DNS exchanges over UDP with the same server, 8 hours apart. Every one was answered.
    let logs = run(&["dns/tkey.pcap", "dns/dynamic-update.pcap"], &[]);
    let all = conns(logs.path());
    let tcp = to_server(&all, "192.168.1.108", "53", "tcp");
    let udp = to_server(&all, "192.168.1.108", "53", "udp");
    assert_eq!((tcp.len(), udp.len()), (1, 2), "{all:?}");
    for c in tcp.iter().chain(&udp) {
        assert_eq!(
            (c["service"].as_str(), c["local_resp"].as_str()),
            ("dns", "T")
        );
        assert_ne!(c["resp_bytes"], "0", "the server answered");
    }
    // The port includes its transport: 53/tcp and 53/udp are two keys, each logged once (the
    // second UDP exchange is the same day). A lone DNS service is decided at removal: ts is the
    // connection's last packet.
    assert_eq!(
        known_services(logs.path()),
        [
            row(&last_packet(tcp[0]), "192.168.1.108", "53", "tcp", "DNS"),
            row(&last_packet(udp[0]), "192.168.1.108", "53", "udp", "DNS"),
        ]
    );
}

#[test]
fn a_known_service_is_logged_again_after_a_day() {
    // Three HTTP connections to 127.0.0.1:80: two on 2018-04-13, 70 minutes apart, then one in
    // 2024. Zeek's Known::services is `&create_expire=1day`: the second connection finds the
    // service known, the third finds the entry expired.
    let logs = run(
        &[
            "http/content-range-less-than-len.pcap",
            "http/fake-content-length.pcap",
            "http/iso-download.pcap",
        ],
        &[],
    );
    let all = conns(logs.path());
    let web = to_server(&all, "127.0.0.1", "80", "tcp");
    assert_eq!(web.len(), 3, "{all:?}");
    assert!(web
        .iter()
        .all(|c| c["service"] == "http" && c["local_resp"] == "T" && c["history"].contains('h')));
    assert!(micros(&web[1]["ts"]) - micros(&web[0]["ts"]) < 86_400_000_000);
    assert!(micros(&web[2]["ts"]) - micros(&web[0]["ts"]) > 86_400_000_000);
    assert_eq!(
        known_services(logs.path()),
        [
            row(&web[0]["ts"], "127.0.0.1", "80", "tcp", "HTTP"),
            row(&web[2]["ts"], "127.0.0.1", "80", "tcp", "HTTP"),
        ]
    );
}

#[test]
fn only_local_servers_are_tracked() {
    // get.pcap: one HTTP exchange with 192.150.187.43:80, a public address: not local by
    // default, so no row and no file.
    let logs = run(&["http/get.pcap"], &[]);
    let all = conns(logs.path());
    assert_eq!(all.len(), 1);
    assert_eq!(
        (all[0]["service"].as_str(), all[0]["local_resp"].as_str()),
        ("http", "F")
    );
    assert!(!logs.path().join("known_services.log").exists());

    // The same trace with that network declared local: the server is tracked.
    let logs = run(&["http/get.pcap"], &["--local-nets", "192.150.187.0/24"]);
    let all = conns(logs.path());
    assert_eq!(all[0]["local_resp"], "T");
    assert_eq!(
        known_services(logs.path()),
        [row(&all[0]["ts"], "192.150.187.43", "80", "tcp", "HTTP")]
    );
}

#[test]
fn servers_that_never_answer_are_not_services() {
    // mdns.pcap: mDNS queries to the local multicast groups 224.0.0.251 and ff02::fb port 5353
    // (confirmed DNS) that nobody answered, and an IGMP packet: no responder was active (and a
    // lone DNS service needs the server to have sent bytes), so nothing is logged.
    let logs = run(&["dns/mdns.pcap"], &[]);
    let all = conns(logs.path());
    let mdns = to_server(&all, "224.0.0.251", "5353", "udp");
    assert_eq!(mdns.len(), 1, "{all:?}");
    assert_eq!(
        (
            mdns[0]["service"].as_str(),
            mdns[0]["local_resp"].as_str(),
            mdns[0]["resp_pkts"].as_str()
        ),
        ("dns", "T", "0")
    );
    assert!(all.iter().all(|c| c["resp_pkts"] == "0"));
    assert_eq!(known_services(logs.path()), []);
    assert!(!logs.path().join("known_services.log").exists());
}
