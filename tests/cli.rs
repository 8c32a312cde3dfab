//! Command-line behaviour of the real `sandpiper` binary: help text, log
//! well-formedness (TSV and JSON), several `-r` files as one stream, error
//! reporting for bad input, truncated traces and reproducible `--seed` runs.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_sandpiper");

/// Zeek's conn.log fields (current Zeek, with local_orig/local_resp and
/// ip_proto), followed by community_id, which we always write.
const CONN_FIELDS: &[&str] = &[
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "service",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "conn_state",
    "local_orig",
    "local_resp",
    "missed_bytes",
    "history",
    "orig_pkts",
    "orig_ip_bytes",
    "resp_pkts",
    "resp_ip_bytes",
    "tunnel_parents",
    "ip_proto",
    "community_id",
];

mod common;
use common::trace;

fn run(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("cannot start the sandpiper binary")
}

/// Runs sandpiper with `-q --logdir DIR` plus `args`, asserting success.
fn analyse(dir: &Path, args: &[&std::ffi::OsStr]) -> Output {
    let mut all: Vec<&std::ffi::OsStr> = vec!["-q".as_ref(), "--logdir".as_ref(), dir.as_os_str()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert!(
        out.status.success(),
        "sandpiper {:?} failed: {:?}\nstderr: {}",
        all,
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn data_rows(log: &str) -> Vec<&str> {
    log.lines().filter(|l| !l.starts_with('#')).collect()
}

fn header<'a>(log: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let prefix = format!("#{name}\t");
    log.lines()
        .find(|l| l.starts_with(&prefix))
        .map(|l| l[prefix.len()..].split('\t').collect())
}

/// Checks the structure of a Zeek TSV log and returns its data rows.
fn check_tsv(log: &str, path: &str) -> usize {
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(
        lines.first(),
        Some(&"#separator \\x09"),
        "first line of {path}"
    );
    assert_eq!(header(log, "path"), Some(vec![path]));
    let fields = header(log, "fields").expect("#fields line");
    let types = header(log, "types").expect("#types line");
    assert_eq!(
        fields.len(),
        types.len(),
        "#fields and #types differ in length"
    );
    assert!(header(log, "open").is_some(), "#open missing");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("#close\t")),
        "last line of {path} is not #close: {:?}",
        lines.last()
    );
    let rows = data_rows(log);
    for (i, row) in rows.iter().enumerate() {
        let n = row.split('\t').count();
        assert_eq!(
            n,
            fields.len(),
            "row {i} has {n} columns, expected {}: {row:?}",
            fields.len()
        );
        assert!(
            row.split('\t').all(|c| !c.is_empty()),
            "empty column in row {i}: {row:?}"
        );
    }
    rows.len()
}

fn conn_rows(dir: &Path) -> usize {
    let log = read(&dir.join("conn.log"));
    check_tsv(&log, "conn")
}

/// Asserts the failure contract: non-zero exit, exactly one stderr line
/// starting "sandpiper: error:", no panic.
fn assert_clean_error(out: &Output, what: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{what}: exit status {:?}, expected failure",
        out.status
    );
    assert!(
        out.status.code().is_some(),
        "{what}: killed by a signal: {:?}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{what}: panicked:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one stderr line, got:\n{stderr}"
    );
    assert!(
        lines[0].starts_with("sandpiper: error:"),
        "{what}: stderr line does not start with 'sandpiper: error:': {:?}",
        lines[0]
    );
}

#[test]
fn help_mentions_every_option() {
    let out = run(&["--help".as_ref()]);
    assert!(out.status.success(), "--help failed: {:?}", out.status);
    let help = String::from_utf8_lossy(&out.stdout);
    for opt in [
        "-r",
        "--read",
        "-i",
        "--interface",
        "-f",
        "--filter",
        "-C",
        "--logdir",
        "--log-format",
        "tsv",
        "json",
        "--local-nets",
        "--seed",
        "--max-flows",
        "--tunnel-max-depth",
        "--snaplen",
        "-q",
        "--quiet",
        "--help",
        "--version",
    ] {
        assert!(help.contains(opt), "--help does not mention {opt}:\n{help}");
    }
}

#[test]
fn corpus_trace_gives_well_formed_conn_log() {
    let dir = tempfile::tempdir().unwrap();
    analyse(dir.path(), &["-r".as_ref(), trace("smtp.pcap").as_os_str()]);
    let log = read(&dir.path().join("conn.log"));
    assert_eq!(header(&log, "fields"), Some(CONN_FIELDS.to_vec()));
    assert_eq!(header(&log, "set_separator"), Some(vec![","]));
    assert_eq!(header(&log, "empty_field"), Some(vec!["(empty)"]));
    assert_eq!(header(&log, "unset_field"), Some(vec!["-"]));
    let rows = check_tsv(&log, "conn");
    assert!(rows > 1, "smtp.pcap gave only {rows} connections");
    // Spot-check values: the uid looks like Zeek's, the ports are numbers.
    for row in data_rows(&log) {
        let c: Vec<&str> = row.split('\t').collect();
        assert!(c[0].parse::<f64>().is_ok(), "ts {:?}", c[0]);
        assert!(c[1].starts_with('C') && c[1].len() >= 15, "uid {:?}", c[1]);
        assert!(
            c[3].parse::<u16>().is_ok() && c[5].parse::<u16>().is_ok(),
            "ports in {row:?}"
        );
        assert!(["tcp", "udp", "icmp"].contains(&c[6]), "proto {:?}", c[6]);
    }
    // A weird.log, when written, is well-formed too.
    let weird = dir.path().join("weird.log");
    if weird.exists() {
        check_tsv(&read(&weird), "weird");
    }
}

#[test]
fn json_format_gives_parseable_lines_with_zeek_names() {
    let dir = tempfile::tempdir().unwrap();
    analyse(
        dir.path(),
        &[
            "--log-format".as_ref(),
            "json".as_ref(),
            "-r".as_ref(),
            trace("smtp.pcap").as_os_str(),
        ],
    );
    let log = read(&dir.path().join("conn.log"));
    let mut n = 0;
    for line in log.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
        let o = v.as_object().expect("each line is a JSON object");
        for k in [
            "ts",
            "uid",
            "id.orig_h",
            "id.orig_p",
            "id.resp_h",
            "id.resp_p",
            "proto",
            "conn_state",
        ] {
            assert!(o.contains_key(k), "JSON line lacks {k:?}: {line}");
        }
        assert!(o["id.orig_h"].is_string() && o["id.orig_p"].is_u64() && o["ts"].is_number());
        for k in o.keys() {
            assert!(
                CONN_FIELDS.contains(&k.as_str()),
                "unexpected JSON key {k:?}"
            );
        }
        n += 1;
    }
    // Same connections as the TSV run.
    let tsv = tempfile::tempdir().unwrap();
    analyse(tsv.path(), &["-r".as_ref(), trace("smtp.pcap").as_os_str()]);
    assert_eq!(
        n,
        conn_rows(tsv.path()),
        "JSON and TSV differ in number of connections"
    );
}

#[test]
fn two_files_are_read_as_one_stream() {
    let (a, b) = (trace("http/get.pcap"), trace("smtp.pcap"));
    let da = tempfile::tempdir().unwrap();
    analyse(da.path(), &["-r".as_ref(), a.as_os_str()]);
    let db = tempfile::tempdir().unwrap();
    analyse(db.path(), &["-r".as_ref(), b.as_os_str()]);
    let dab = tempfile::tempdir().unwrap();
    analyse(
        dab.path(),
        &["-r".as_ref(), a.as_os_str(), "-r".as_ref(), b.as_os_str()],
    );
    let (na, nb, nab) = (
        conn_rows(da.path()),
        conn_rows(db.path()),
        conn_rows(dab.path()),
    );
    assert!(
        nab > na && nab > nb,
        "both files: {nab} connections; alone: {na} and {nb}"
    );
    assert_eq!(nab, na + nb, "the two traces share no connections");
}

/// libpcap 1.10 stops at the second interface of this pcapng ("an interface has a snapshot
/// length 8192 different from the snapshot length of the first interface"): before the native
/// pcapng reader, the run logged nothing and warned that the file was cut.
#[test]
fn a_pcapng_with_interfaces_of_different_snapshot_lengths_is_read_whole() {
    let t = trace("ldap/gap-data-missing.pcapng");
    let dir = tempfile::tempdir().unwrap();
    let out = analyse(dir.path(), &["-r".as_ref(), t.as_os_str()]);
    assert!(
        out.stderr.is_empty(),
        "no warning expected: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = common::tsv_rows(&dir.path().join("conn.log"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let c = &rows[0];
    assert_eq!(c["id.orig_h"], "2a00:6020:ad0b:8381:fd70:e2f9:f031:9dc4");
    assert_eq!(c["id.resp_p"], "389");
    assert_eq!(c["history"], "ShADadgtFr");
    assert_eq!(c["ts"], "1725966494.956327");
    // The BPF filter applies to the packets of every interface (these are 802.1Q-tagged).
    let none = tempfile::tempdir().unwrap();
    analyse(
        none.path(),
        &[
            "-r".as_ref(),
            t.as_os_str(),
            "-f".as_ref(),
            "port 80".as_ref(),
        ],
    );
    assert!(common::tsv_rows(&none.path().join("conn.log")).is_empty());
    let some = tempfile::tempdir().unwrap();
    analyse(
        some.path(),
        &[
            "-r".as_ref(),
            t.as_os_str(),
            "-f".as_ref(),
            "vlan and tcp port 389".as_ref(),
        ],
    );
    assert_eq!(conn_rows(some.path()), 1);
}

/// Zeek's VLAN-aware connection key: the same five-tuple on three VLAN contexts is three
/// connections, with the context logged as id.ctx.vlan and id.ctx.inner_vlan.
#[test]
fn the_vlan_aware_key_tells_vlans_apart() {
    let t = trace("vlan-collisions.pcap");
    let plain = tempfile::tempdir().unwrap();
    analyse(plain.path(), &["-r".as_ref(), t.as_os_str()]);
    let rows = common::tsv_rows(&plain.path().join("conn.log"));
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains_key("id.ctx.vlan"));
    let vlan = tempfile::tempdir().unwrap();
    analyse(
        vlan.path(),
        &[
            "-r".as_ref(),
            t.as_os_str(),
            "--conn-key".as_ref(),
            "vlan-five-tuple".as_ref(),
        ],
    );
    let rows = common::tsv_rows(&vlan.path().join("conn.log"));
    let mut ctx: Vec<_> = rows
        .iter()
        .map(|r| {
            (
                r["id.ctx.vlan"].clone(),
                r["id.ctx.inner_vlan"].clone(),
                r["orig_pkts"].clone(),
            )
        })
        .collect();
    ctx.sort();
    let own = |a: &str, b: &str| (a.to_string(), b.to_string(), "7".to_string());
    assert_eq!(ctx, [own("-", "-"), own("10", "20"), own("42", "-")]);
    check_tsv(&read(&vlan.path().join("conn.log")), "conn");
}

/// Zeek's Tunnel::max_depth: GRE inside GRE is followed with the default depth of 2; with a
/// depth of 1 the inner tunnel is not decapsulated, and Zeek's IP tunnel analyzer reports it
/// on the carrying packet: a flow weird (its addresses, ports 0) named with `_in_tunnel`, once
/// per address pair and direction (core.tunnels.gre-in-gre-min-depth).
#[test]
fn tunnels_beyond_the_max_depth_are_a_flow_weird_once_per_address_pair() {
    let t = trace("tunnels/gre-within-gre.pcap");
    let deep = tempfile::tempdir().unwrap();
    analyse(deep.path(), &["-r".as_ref(), t.as_os_str()]);
    let weird = deep.path().join("weird.log");
    assert!(
        !weird.exists() || !read(&weird).contains("exceeded_tunnel_max_depth"),
        "the default depth follows GRE in GRE"
    );
    let shallow = tempfile::tempdir().unwrap();
    analyse(
        shallow.path(),
        &[
            "-r".as_ref(),
            t.as_os_str(),
            "--tunnel-max-depth".as_ref(),
            "1".as_ref(),
        ],
    );
    let rows = common::tsv_rows(&shallow.path().join("weird.log"));
    let got: Vec<_> = rows
        .iter()
        .map(|r| {
            [
                "id.orig_h",
                "id.orig_p",
                "id.resp_h",
                "id.resp_p",
                "name",
                "source",
            ]
            .map(|f| r[f].clone())
        })
        .collect();
    let row = |a: &str, b: &str| {
        [
            a,
            "0",
            b,
            "0",
            "exceeded_tunnel_max_depth_in_tunnel",
            "IPTUNNEL",
        ]
        .map(String::from)
    };
    assert_eq!(
        got,
        [
            row("10.10.11.2", "10.10.13.2"),
            row("10.10.13.2", "10.10.11.2")
        ]
    );
    check_tsv(&read(&shallow.path().join("weird.log")), "weird");
}

/// Zeek's likely_server_ports decide who is the originator of a connection first seen from
/// the server. Here a SYN-ACK from port 443 whose header options were cut: with Zeek's
/// default scripts 443 is a server port (flipped, history "^"); with only the tunnel ports,
/// as in a bare Zeek run (core.vntag-in-vlan), it is not.
#[test]
fn likely_server_ports_decide_the_originator() {
    let t = trace("vntag_vlan_sandwich_clean.pcap");
    let first = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let mut args: Vec<&std::ffi::OsStr> = vec!["-C".as_ref(), "-r".as_ref(), t.as_os_str()];
        args.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
        analyse(dir.path(), &args);
        let rows = common::tsv_rows(&dir.path().join("conn.log"));
        assert_eq!(rows.len(), 1);
        (rows[0]["id.orig_p"].clone(), rows[0]["history"].clone())
    };
    assert_eq!(first(&[]), ("56960".to_string(), "^".to_string()));
    let tunnels = ["--likely-server-ports", "4789/udp,6081/udp"];
    assert_eq!(first(&tunnels), ("443".to_string(), "-".to_string()));
    let dir = tempfile::tempdir().unwrap();
    error_run(
        dir.path(),
        &[
            "--likely-server-ports".as_ref(),
            "443".as_ref(),
            "-r".as_ref(),
            t.as_os_str(),
        ],
        "--likely-server-ports",
    );
}

fn error_run(dir: &Path, args: &[&std::ffi::OsStr], what: &str) {
    let mut all: Vec<&std::ffi::OsStr> = vec!["--logdir".as_ref(), dir.as_os_str()];
    all.extend_from_slice(args);
    let out = run(&all);
    assert_clean_error(&out, what);
}

#[test]
fn missing_file_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file.pcap");
    error_run(
        dir.path(),
        &["-r".as_ref(), missing.as_os_str()],
        "missing file",
    );
}

#[test]
fn directory_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("adir");
    fs::create_dir(&sub).unwrap();
    error_run(
        dir.path(),
        &["-r".as_ref(), sub.as_os_str()],
        "directory as -r",
    );
}

#[test]
fn text_file_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let txt = dir.path().join("notes.txt");
    fs::write(&txt, "this is not a packet capture\nat all\n").unwrap();
    error_run(dir.path(), &["-r".as_ref(), txt.as_os_str()], "text file");
}

#[test]
fn unsupported_link_type_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    let pcap = dir.path().join("linktype147.pcap");
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes()); // magic, microseconds
    b.extend_from_slice(&2u16.to_le_bytes()); // version major
    b.extend_from_slice(&4u16.to_le_bytes()); // version minor
    b.extend_from_slice(&0i32.to_le_bytes()); // thiszone
    b.extend_from_slice(&0u32.to_le_bytes()); // sigfigs
    b.extend_from_slice(&65535u32.to_le_bytes()); // snaplen
    b.extend_from_slice(&147u32.to_le_bytes()); // LINKTYPE_USER0
                                                // One 8-byte packet.
    for v in [1_000_000_000u32, 0, 8, 8] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    b.extend_from_slice(b"\x45\0\0\x08abcd");
    fs::write(&pcap, b).unwrap();
    error_run(
        dir.path(),
        &["-r".as_ref(), pcap.as_os_str()],
        "link type 147",
    );
}

#[test]
fn bad_bpf_filter_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    error_run(
        dir.path(),
        &[
            "-r".as_ref(),
            trace("http/get.pcap").as_os_str(),
            "-f".as_ref(),
            "tcp port ((( nonsense".as_ref(),
        ],
        "bad BPF filter",
    );
}

#[test]
fn missing_interface_is_a_clean_error() {
    let dir = tempfile::tempdir().unwrap();
    error_run(
        dir.path(),
        &["-i".as_ref(), "does-not-exist0".as_ref()],
        "missing interface",
    );
}

#[test]
fn truncated_trace_is_analysed_up_to_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let full = fs::read(trace("smtp.pcap")).unwrap();
    let cut = dir.path().join("cut.pcap");
    fs::write(&cut, &full[..full.len() - 37]).unwrap();
    let logs = dir.path().join("logs");
    let out = run(&[
        "--logdir".as_ref(),
        logs.as_os_str(),
        "-r".as_ref(),
        cut.as_os_str(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "truncated trace: {:?}\n{stderr}",
        out.status
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("warning"),
        "no warning about the truncation:\n{stderr}"
    );
    let rows = conn_rows(&logs); // includes the #close check
    assert!(rows > 0, "no connections from the truncated trace");
}

fn logs_without_open_close(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| {
            let body: String = read(p)
                .lines()
                .filter(|l| !l.starts_with("#open\t") && !l.starts_with("#close\t"))
                .map(|l| format!("{l}\n"))
                .collect();
            (p.file_name().unwrap().to_string_lossy().into_owned(), body)
        })
        .collect()
}

#[test]
fn seed_makes_runs_identical() {
    let t = trace("smtp.pcap");
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let d = tempfile::tempdir().unwrap();
            analyse(
                d.path(),
                &[
                    "--seed".as_ref(),
                    "42".as_ref(),
                    "-r".as_ref(),
                    t.as_os_str(),
                ],
            );
            let logs = logs_without_open_close(d.path());
            assert!(logs.iter().any(|(n, _)| n == "conn.log"), "no conn.log");
            logs
        })
        .collect();
    assert_eq!(runs[0], runs[1], "two runs with --seed 42 differ");
    // A different seed gives different uids.
    let d = tempfile::tempdir().unwrap();
    analyse(
        d.path(),
        &[
            "--seed".as_ref(),
            "43".as_ref(),
            "-r".as_ref(),
            t.as_os_str(),
        ],
    );
    assert_ne!(
        logs_without_open_close(d.path()),
        runs[0],
        "--seed 43 gave the same uids as 42"
    );
}
