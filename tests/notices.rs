//! Event handlers beyond logging, on the real binary with two test guests on a corpus trace
//! (http/methods.pcap: 49 HTTP connections to one server over 54 s):
//! - relay-handler raises a notice per connection (identifier: the responder), re-raises
//!   `relay_ping` three rounds deep, schedules `relay_timer` 10 s after each connection and
//!   starts an endless `loop_ping`;
//! - relay-listener logs every event it receives, in order (relay_listener.log).
//!
//! Checked: notice.log has Zeek's columns and suppresses repeats per note and identifier;
//! handler-raised events and timers reach the other handler in raise order with the right
//! times; the endless loop is cut at the depth limit and reported in reporter.log; a handler
//! that runs out of fuel on every batch costs the others no event.

mod common;

use std::collections::HashMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::{modules_dir, trace, tsv_rows};

type Row = HashMap<String, String>;

const TRACE: &str = "http/methods.pcap";

fn run(modules: &[&str], logdir: &Path) {
    let m = modules_dir(modules);
    let out = Command::new(env!("CARGO_BIN_EXE_sandpiper"))
        .arg("-r")
        .arg(trace(TRACE))
        .args(["--seed", "1", "-q", "--event-batch", "1", "--modules"])
        .arg(m.path())
        .arg("--logdir")
        .arg(logdir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn micros(s: &str) -> i64 {
    let (whole, frac) = s.split_once('.').unwrap();
    whole.parse::<i64>().unwrap() * 1_000_000 + frac.parse::<i64>().unwrap()
}

/// relay_listener.log events of one connection, in order: (name, ts, hop).
fn events_of<'a>(listener: &'a [Row], uid: &str) -> Vec<(&'a str, &'a str, &'a str)> {
    listener
        .iter()
        .filter(|r| r["uid"] == uid)
        .map(|r| (r["name"].as_str(), r["ts"].as_str(), r["hop"].as_str()))
        .collect()
}

#[test]
fn notices_have_zeeks_columns_and_repeats_are_suppressed() {
    let logdir = tempfile::tempdir().unwrap();
    run(&["relay-handler", "relay-listener"], logdir.path());
    let conns = tsv_rows(&logdir.path().join("conn.log"));
    assert_eq!(conns.len(), 49);
    let text = fs::read_to_string(logdir.path().join("notice.log")).unwrap();
    assert!(text.contains(
        "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tfuid\tfile_mime_type\t\
         file_desc\tproto\tnote\tmsg\tsub\tsrc\tdst\tp\tn\tpeer_descr\tactions\temail_dest\t\
         suppress_for\tremote_location.country_code\tremote_location.region\t\
         remote_location.city\tremote_location.latitude\tremote_location.longitude\n"
    ));
    // Every connection raised one; all have the same responder, so the identifier
    // suppresses all but the first for Zeek's default hour.
    let notices = tsv_rows(&logdir.path().join("notice.log"));
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    let listener = tsv_rows(&logdir.path().join("relay_listener.log"));
    let first_removed = listener
        .iter()
        .find(|r| r["name"] == "connection_state_remove")
        .unwrap();
    let c = conns
        .iter()
        .find(|c| c["uid"] == first_removed["uid"])
        .unwrap();
    // The notice's time is its call's network time: the event it was raised for.
    assert_eq!(n["ts"], first_removed["ts"]);
    assert_eq!(n["uid"], c["uid"]);
    for (k, v) in [
        ("id.orig_h", "id.orig_h"),
        ("id.orig_p", "id.orig_p"),
        ("id.resp_h", "id.resp_h"),
        ("id.resp_p", "id.resp_p"),
        ("src", "id.orig_h"),
        ("dst", "id.resp_h"),
        ("p", "id.resp_p"),
        ("proto", "proto"),
    ] {
        assert_eq!(n[k], c[v], "{k}");
    }
    let pkts: u64 = c["orig_pkts"].parse::<u64>().unwrap() + c["resp_pkts"].parse::<u64>().unwrap();
    assert_eq!(n["n"], pkts.to_string());
    assert_eq!(n["note"], "Test::Conn_Done");
    assert_eq!(
        n["msg"],
        format!("{} ended ({})", c["uid"], c["conn_state"])
    );
    assert_eq!(n["sub"], "test");
    assert_eq!(n["actions"], "Notice::ACTION_LOG");
    assert_eq!(n["email_dest"], "(empty)");
    assert_eq!(n["suppress_for"], "3600.000000");
    for k in ["fuid", "file_mime_type", "file_desc", "peer_descr"] {
        assert_eq!(n[k], "-", "{k}");
    }
}

#[test]
fn handlers_get_each_others_events_and_timers_in_order() {
    let logdir = tempfile::tempdir().unwrap();
    run(&["relay-handler", "relay-listener"], logdir.path());
    let conns = tsv_rows(&logdir.path().join("conn.log"));
    let listener = tsv_rows(&logdir.path().join("relay_listener.log"));
    for c in &conns {
        let ev = events_of(&listener, &c["uid"]);
        let names: Vec<&str> = ev.iter().map(|e| e.0).collect();
        // The core events, then the three relay rounds raised by the other handler, then the
        // timer it scheduled.
        assert_eq!(
            names,
            [
                "new_connection",
                "connection_established",
                "connection_state_remove",
                "relay_ping",
                "relay_ping",
                "relay_ping",
                "relay_timer"
            ],
            "{}",
            c["uid"]
        );
        assert_eq!(ev[0].1, c["ts"], "new_connection at the first packet");
        let hops: Vec<&str> = ev[3..6].iter().map(|e| e.2).collect();
        assert_eq!(hops, ["0", "1", "2"]);
        let removed = micros(ev[2].1);
        assert!(ev[3..6].iter().all(|e| micros(e.1) == removed));
        // The timer fires 10 s of network time later (those due after the last packet fire
        // at the end of input, with their due time).
        assert_eq!(micros(ev[6].1), removed + 10_000_000, "{}", c["uid"]);
    }
    // Events reach the listener in raise order: timestamps of core events never go back.
    let mut last = 0;
    for r in listener.iter().filter(|r| r["name"] == "new_connection") {
        let t = micros(&r["ts"]);
        assert!(t >= last);
        last = t;
    }
}

#[test]
fn an_endless_event_loop_is_cut_and_reported() {
    let logdir = tempfile::tempdir().unwrap();
    run(&["relay-handler", "relay-listener"], logdir.path());
    let reports = tsv_rows(&logdir.path().join("reporter.log"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0]["level"], "Reporter::WARNING");
    assert!(
        reports[0]["message"].contains("1 handler-raised events dropped (loop_ping)")
            && reports[0]["message"].contains("rounds deep"),
        "{reports:?}"
    );
    assert_eq!(reports[0]["location"], "event dispatch");
    // The loop did not stop anything else.
    let listener = tsv_rows(&logdir.path().join("relay_listener.log"));
    assert_eq!(
        listener
            .iter()
            .filter(|r| r["name"] == "relay_ping")
            .count(),
        3 * 49
    );
}

#[test]
fn a_handler_out_of_fuel_costs_the_others_no_event() {
    let clean = tempfile::tempdir().unwrap();
    run(&["relay-handler", "relay-listener"], clean.path());
    let hostile = tempfile::tempdir().unwrap();
    run(
        &["relay-handler", "relay-listener", "hostile-loop"],
        hostile.path(),
    );
    let body = |d: &Path, f: &str| -> String {
        fs::read_to_string(d.join(f))
            .unwrap()
            .lines()
            .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    for log in ["relay_listener.log", "notice.log", "conn.log"] {
        assert_eq!(body(clean.path(), log), body(hostile.path(), log), "{log}");
    }
    let failed = tsv_rows(&hostile.path().join("analyzer_failed.log"));
    assert!(failed
        .iter()
        .any(|r| r["cause"] == "fuel-exhausted" && r["analyzer_name"] == "hostile-loop"));
    assert!(failed.iter().any(|r| r["cause"] == "quarantined"));
}

#[test]
fn a_muted_handler_is_not_given_what_it_muted_and_others_are() {
    let logdir = tempfile::tempdir().unwrap();
    run(&["mute-repeats", "relay-listener"], logdir.path());
    // The listener (no mutes) gets every connection, in raise order.
    let listener = tsv_rows(&logdir.path().join("relay_listener.log"));
    let removed: Vec<(i64, &str)> = listener
        .iter()
        .filter(|r| r["name"] == "connection_state_remove")
        .map(|r| (micros(&r["ts"]), r["uid"].as_str()))
        .collect();
    assert_eq!(removed.len(), 49);
    // mute-repeats mutes the (single) responder for 20 s after each connection it is given:
    // it must get exactly the first connection and then each first one 20 s or more later.
    let mut expected = Vec::new();
    let mut muted_until = i64::MIN;
    for &(ts, uid) in &removed {
        if ts >= muted_until {
            expected.push(uid);
            muted_until = ts + 20_000_000;
        }
    }
    let delivered = tsv_rows(&logdir.path().join("mute_repeats.log"));
    let got: Vec<&str> = delivered.iter().map(|r| r["uid"].as_str()).collect();
    assert_eq!(got, expected);
    assert!(
        (2..49).contains(&got.len()),
        "the trace spans 54 s: some connections are muted and a mute expires ({got:?})"
    );
}

/// Every log of a run without its #open/#close lines (their times differ between runs).
fn logs_of(dir: &Path) -> Vec<(String, String)> {
    let mut logs: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let text = fs::read_to_string(&p).unwrap();
            let kept: Vec<&str> = text
                .lines()
                .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
                .collect();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                kept.join("\n"),
            )
        })
        .collect();
    logs.sort();
    logs
}

/// Handlers on their own thread see the same sequence of events, batches and timers as on the
/// packet thread, so every log is the same. Run over the whole corpus as one stream (thousands
/// of events, so many chunks cross the thread boundary) with every shipped handler plus the
/// relay guests (raised events, timers, the cut endless loop in reporter.log).
#[test]
fn handlers_on_their_own_thread_write_the_same_logs_as_inline() {
    let pcaps = conn_traces();
    assert!(pcaps.len() > 100, "corpus traces: {}", pcaps.len());
    let m = modules_dir(&[
        "dns",
        "http",
        "known-hosts",
        "known-services",
        "scan",
        "http-bruteforce",
        "relay-handler",
        "relay-listener",
    ]);
    let run = |inline: bool| {
        let logdir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_sandpiper"));
        for p in &pcaps {
            cmd.arg("-r").arg(p);
        }
        cmd.args(["--seed", "1", "-q", "-C", "--local-nets", "0.0.0.0/0,::/0"])
            .arg("--modules")
            .arg(m.path())
            .arg("--logdir")
            .arg(logdir.path())
            .arg("--cache-dir")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("wasm-cache"));
        if inline {
            cmd.arg("--inline-handlers");
        }
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        logs_of(logdir.path())
    };
    let threaded = run(false);
    let inline = run(true);
    let names: Vec<&str> = threaded.iter().map(|(n, _)| n.as_str()).collect();
    for expected in [
        "conn.log",
        "known_services.log",
        "known_hosts.log",
        "relay_listener.log",
        "notice.log",
        "reporter.log",
    ] {
        assert!(names.contains(&expected), "no {expected} in {names:?}");
    }
    let events = threaded
        .iter()
        .find(|(n, _)| n == "relay_listener.log")
        .map(|(_, t)| t.lines().filter(|l| !l.starts_with('#')).count())
        .unwrap();
    assert!(
        events > 2_000,
        "only {events} events reached relay-listener"
    );
    for ((name, a), (name_b, b)) in threaded.iter().zip(&inline) {
        assert_eq!(name, name_b);
        assert!(
            a == b,
            "{name} differs between threaded and inline handlers"
        );
    }
    assert_eq!(threaded.len(), inline.len());
}

/// The corpus traces of every case with a conn.log baseline (traces the fast path reads),
/// each once, in a fixed order.
fn conn_traces() -> Vec<std::path::PathBuf> {
    let manifest = common::shared().join("corpus/zeek/manifest.json");
    let json: serde_json::Value = serde_json::from_slice(&fs::read(manifest).unwrap()).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for case in json["cases"].as_array().unwrap() {
        let has_conn = case["baselines"]
            .as_array()
            .is_some_and(|b| b.iter().any(|b| b["log"] == "conn"));
        if !has_conn {
            continue;
        }
        for t in case["traces"].as_array().into_iter().flatten() {
            names.insert(t["path"].as_str().unwrap().to_string());
        }
    }
    let base = common::shared().join("corpus/zeek");
    names.into_iter().map(|n| base.join(n)).collect()
}
