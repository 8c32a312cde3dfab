//! The analyzer pipeline end to end: the real binary on corpus traces with real guests built
//! from tests/guests/. `stream-trace` logs every call it receives (stream_trace.log), which
//! shows what reassembly, chunking and detection deliver; `hostile-analyzer` traps on some
//! connections.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use common::{analyse_with_modules, modules_dir, trace, tsv_rows};

type Row = HashMap<String, String>;

/// Runs the binary on a corpus trace with the named modules; returns the log directory.
fn run(trace_rel: &str, modules: &[&str], extra: &[&str]) -> tempfile::TempDir {
    run_file(&trace(trace_rel), modules, extra)
}

fn run_file(pcap: &Path, modules: &[&str], extra: &[&str]) -> tempfile::TempDir {
    let mods = modules_dir(modules);
    analyse_with_modules(pcap, mods.path(), extra)
}

fn calls(logdir: &Path) -> Vec<Row> {
    tsv_rows(&logdir.join("stream_trace.log"))
}

/// (what, is_orig, len, offset) of each call, in order.
fn shape(rows: &[Row]) -> Vec<(String, String, u64, u64)> {
    rows.iter()
        .map(|r| {
            (
                r["what"].clone(),
                r["is_orig"].clone(),
                r["len"].parse().unwrap(),
                r["offset"].parse().unwrap(),
            )
        })
        .collect()
}

fn conns(logdir: &Path) -> Vec<Row> {
    tsv_rows(&logdir.join("conn.log"))
}

fn call(what: &str, is_orig: &str, len: u64, offset: u64) -> (String, String, u64, u64) {
    (what.into(), is_orig.into(), len, offset)
}

#[test]
fn a_request_and_its_reply_arrive_as_one_chunk_each_then_the_ends() {
    let logs = run("http/get.pcap", &["stream-trace"], &[]);
    let rows = calls(logs.path());
    assert_eq!(
        shape(&rows),
        [
            call("data", "T", 136, 0),
            call("data", "F", 5007, 0),
            call("end", "T", 0, 136),
            call("end", "F", 0, 5007),
            call("finish", "-", 0, 0),
        ]
    );
    assert!(rows[0]["head"].starts_with("GET /download/"));
    assert!(rows[1]["head"].starts_with("HTTP/1.1 200 OK"));
    // A chunk's ts is its first packet's; the reply's five segments arrive later.
    assert!(rows[1]["ts"] > rows[0]["ts"]);
    let c = conns(logs.path());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["service"], "stream-trace");
    assert_eq!(c[0]["uid"], rows[0]["uid"]);
    // Delivered bytes equal conn.log's byte counts from sequence numbers.
    assert_eq!(c[0]["orig_bytes"], "136");
    assert_eq!(c[0]["resp_bytes"], "5007");
}

/// With `segments = true` in its manifest, an analyzer gets each in-order segment as it arrives
/// instead of the gathered chunk (what Zeek's SSH analyzer reads its size heuristics from).
#[test]
fn an_analyzer_that_asks_for_segments_gets_one_call_each() {
    let mods = modules_dir(&["stream-trace"]);
    let manifest = mods.path().join("stream-trace.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("[analyzer]\n", "[analyzer]\nsegments = true\n"),
    )
    .unwrap();
    let logdir = analyse_with_modules(&trace("http/get.pcap"), mods.path(), &[]);
    let rows = calls(logdir.path());
    // The request is one segment; the 5,007-byte reply came in four.
    let data: Vec<_> = shape(&rows)
        .into_iter()
        .filter(|c| c.0 == "data")
        .map(|c| (c.1, c.2))
        .collect();
    assert_eq!(
        data,
        [
            ("T".to_string(), 136),
            ("F".to_string(), 1448),
            ("F".to_string(), 1448),
            ("F".to_string(), 1448),
            ("F".to_string(), 663),
        ]
    );
}

#[test]
fn a_dropped_segment_is_a_gap_of_exactly_the_missed_bytes() {
    // The first reply's headers (238 bytes) were never captured; the client acks past them.
    // With no reassembly memory at all, the hole is given up at once: the same stream.
    for memory in ["256", "0"] {
        dropped_segment_case(&["-C", "--reassembly-memory", memory], memory != "0");
    }
}

fn dropped_segment_case(args: &[&str], chunked: bool) {
    let logs = run(
        "http/1000-requests-one-dropped-response.pcap",
        &["stream-trace"],
        args,
    );
    let rows = calls(logs.path());
    let gaps: Vec<_> = shape(&rows).into_iter().filter(|c| c.0 == "gap").collect();
    assert_eq!(gaps, [call("gap", "F", 238, 0)]);
    let c = conns(logs.path());
    assert_eq!(c[0]["missed_bytes"], "238");
    // Every byte of each direction is accounted for, in order: offsets are contiguous.
    for dir in ["T", "F"] {
        let mut at = 0;
        for (what, o, len, offset) in shape(&rows) {
            if o == dir && (what == "data" || what == "gap") {
                assert_eq!(offset, at, "{dir} stream is not contiguous");
                at += len;
            }
        }
        let total = if dir == "T" {
            "orig_bytes"
        } else {
            "resp_bytes"
        };
        assert_eq!(at.to_string(), c[0][total], "{dir} bytes delivered");
    }
    if !chunked {
        // Without memory each segment is delivered as it comes.
        return;
    }
    // Request/reply chunks alternate: 1000 each.
    let data = |d: &str| {
        rows.iter()
            .filter(|r| r["what"] == "data" && r["is_orig"] == d)
            .count()
    };
    assert_eq!((data("T"), data("F")), (1000, 1000));
}

#[test]
fn data_missing_before_a_fin_is_a_gap() {
    let logs = run("tcp/miss_end_data.pcap", &["stream-trace"], &[]);
    let rows = shape(&calls(logs.path()));
    assert!(rows.contains(&call("gap", "F", 2902, 0)), "{rows:?}");
    assert_eq!(conns(logs.path())[0]["missed_bytes"], "2902");
}

#[test]
fn a_payload_signature_finds_the_protocol_on_a_port_nobody_registered() {
    // stream-trace registers ports 80 and 53 only; its '^SSH-[0-9]' signature finds SSH.
    let logs = run("ssh/ssh.pcap", &["stream-trace"], &[]);
    let c = conns(logs.path());
    let ssh: Vec<_> = c.iter().filter(|r| r["id.resp_p"] == "22").collect();
    assert!(!ssh.is_empty());
    assert!(
        ssh.iter().all(|r| r["service"] == "stream-trace"),
        "{ssh:?}"
    );
    let rows = calls(logs.path());
    assert!(rows.iter().any(|r| r["head"].starts_with("SSH-")));
}

#[test]
fn udp_datagrams_are_delivered_one_per_call() {
    let logs = run("dns/dns-binds.pcap", &["stream-trace"], &[]);
    let rows = calls(logs.path());
    let c = conns(logs.path());
    let dns: Vec<_> = c.iter().filter(|r| r["proto"] == "udp").collect();
    assert!(!dns.is_empty());
    for conn in dns {
        let pkts: u64 =
            conn["orig_pkts"].parse::<u64>().unwrap() + conn["resp_pkts"].parse::<u64>().unwrap();
        let delivered = rows
            .iter()
            .filter(|r| r["uid"] == conn["uid"] && r["what"] == "data")
            .count() as u64;
        assert_eq!(delivered, pkts, "one call per datagram on {}", conn["uid"]);
        assert_eq!(conn["service"], "stream-trace");
    }
}

#[test]
fn an_analyzer_that_traps_loses_only_its_connection() {
    let logs = run(
        "http/methods.pcap",
        &["hostile-analyzer"],
        &["--quarantine-after", "0"],
    );
    let c = conns(logs.path());
    let failures = tsv_rows(&logs.path().join("analyzer_failed.log"));
    let with_data: Vec<_> = c
        .iter()
        .filter(|r| r["id.resp_p"] == "80" && r["orig_bytes"] != "0" && r["orig_bytes"] != "-")
        .collect();
    let odd: Vec<_> = with_data
        .iter()
        .filter(|r| r["id.orig_p"].parse::<u16>().unwrap() % 2 == 1)
        .collect();
    let even: Vec<_> = with_data
        .iter()
        .filter(|r| r["id.orig_p"].parse::<u16>().unwrap() % 2 == 0)
        .collect();
    assert!(!odd.is_empty() && !even.is_empty());
    // One failure row per odd-port connection, naming it; the even ones are confirmed.
    assert_eq!(failures.len(), odd.len(), "{failures:?}");
    for f in &failures {
        assert_eq!(f["cause"], "trap");
        assert_eq!(f["analyzer_name"], "hostile-analyzer");
        assert_eq!(f["failure_data"], "odd originator port");
        assert!(odd.iter().any(|r| r["uid"] == f["uid"]));
    }
    assert!(even.iter().all(|r| r["service"] == "hostile-analyzer"));
    assert!(odd.iter().all(|r| r["service"] == "-"));
}

#[test]
fn without_modules_nothing_is_analysed_and_conn_log_is_unchanged_apart_from_service() {
    let with = run("http/get.pcap", &["stream-trace"], &[]);
    let without = run("http/get.pcap", &[], &[]);
    let (mut a, b) = (conns(with.path()), conns(without.path()));
    a[0].insert("service".into(), "-".into());
    assert_eq!(a, b);
}

#[test]
fn an_http_server_on_port_8123_is_found_by_its_signature() {
    // The real get.pcap moved to port 8123 with tcprewrite (from tcpreplay, installed by
    // scripts/setup.sh): nothing registers 8123, the request signature finds HTTP.
    let dir = tempfile::tempdir().unwrap();
    let moved = dir.path().join("get-8123.pcap");
    let status = Command::new("tcprewrite")
        .args(["--portmap=80:8123", "--fixcsum", "-i"])
        .arg(trace("http/get.pcap"))
        .arg("-o")
        .arg(&moved)
        .status()
        .expect("tcprewrite (tcpreplay) is installed by scripts/setup.sh");
    assert!(status.success());
    let logs = run_file(&moved, &["http"], &[]);
    let c = conns(logs.path());
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["id.resp_p"], "8123");
    assert_eq!(c[0]["service"], "http");
    let http = tsv_rows(&logs.path().join("http.log"));
    assert_eq!(http.len(), 1);
    assert_eq!(http[0]["id.resp_p"], "8123");
    assert_eq!(http[0]["method"], "GET");
    assert_eq!(http[0]["status_code"], "200");
}

#[test]
fn a_request_typed_one_byte_per_packet_is_still_recognised() {
    // The client sends its request a byte at a time: detection collects the first bytes of
    // each direction and the analyzer found by the reply's signature gets them replayed.
    let logs = run("tcp-http-with-padding.pcap", &["http"], &["-C"]);
    let http = tsv_rows(&logs.path().join("http.log"));
    assert_eq!(http.len(), 1, "{http:?}");
    assert_eq!(http[0]["method"], "GET");
    assert_eq!(http[0]["uri"], "/");
    assert_eq!(conns(logs.path())[0]["service"], "http");
}

#[test]
fn connections_evicted_under_memory_pressure_are_analysed_and_logged_not_lost() {
    // One tracked connection at most: every new connection evicts the one before; its
    // analyzer session finishes then and logs what it had.
    let requests = |logs: &Path| {
        let mut v: Vec<(String, String)> = tsv_rows(&logs.join("http.log"))
            .into_iter()
            .map(|r| (r["method"].clone(), r["uri"].clone()))
            .collect();
        v.sort();
        v
    };
    let full = run("http/methods.pcap", &["http"], &[]);
    let tight = run("http/methods.pcap", &["http"], &["--max-flows", "1"]);
    assert_eq!(requests(tight.path()), requests(full.path()));
    assert_eq!(requests(full.path()).len(), 49);
    assert!(conns(tight.path()).len() >= conns(full.path()).len());
}

#[test]
fn a_udp_dns_connection_idle_for_ten_seconds_ends_and_the_next_query_starts_a_new_one() {
    // Teredo.pcap: a Windows host asks its resolver from the same source port twice, about
    // 20 s apart. Zeek's DNS analyzer expires the first session after dns_session_timeout
    // (10 s), so Zeek's conn.log has two connections for that 5-tuple; the generic 60 s UDP
    // timeout would have made one.
    let logs = run("tunnels/Teredo.pcap", &["dns"], &[]);
    let rows = conns(logs.path());
    let same_ports: Vec<&Row> = rows
        .iter()
        .filter(|r| r["id.orig_h"] == "192.168.2.16" && r["id.orig_p"] == "1920")
        .collect();
    let summary: Vec<(&str, &str, &str, &str)> = same_ports
        .iter()
        .map(|r| {
            (
                r["service"].as_str(),
                r["duration"].as_str(),
                r["history"].as_str(),
                r["orig_pkts"].as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("dns", "0.223055", "Dd", "2"),
            ("dns", "0.297723", "Dd", "3")
        ]
    );
    assert!(same_ports[0]["ts"] < same_ports[1]["ts"]);
    assert_ne!(same_ports[0]["uid"], same_ports[1]["uid"]);
}

#[test]
fn teredo_is_a_service_only_once_both_sides_sent_teredo() {
    // Teredo.pcap: the host talks Teredo to two servers on port 3544. 65.55.158.80 answers
    // (both directions decapsulate: Zeek's conn.log says teredo); from 65.55.158.81 only
    // replies are seen (history ^d), and Zeek's Tunnel::delay_teredo_confirmation (on by
    // default) waits for both sides, so that connection has no service.
    let logs = run("tunnels/Teredo.pcap", &[], &[]);
    let rows = conns(logs.path());
    let service_of = |server: &str| -> Vec<(String, String)> {
        rows.iter()
            .filter(|r| r["id.resp_h"] == server && r["id.resp_p"] == "3544")
            .map(|r| (r["service"].clone(), r["history"].clone()))
            .collect()
    };
    assert_eq!(
        service_of("65.55.158.80"),
        [("teredo".to_string(), "Dd".to_string())]
    );
    assert_eq!(
        service_of("65.55.158.81"),
        [("-".to_string(), "^d".to_string())]
    );
}
