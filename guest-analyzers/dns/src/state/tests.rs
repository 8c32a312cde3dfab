//! dns.log against Zeek's own logs: every corpus case whose DNS traffic is plain UDP/TCP over
//! Ethernet (tunnelled and fragmented traces are covered by the end-to-end run instead).

use crate::log;
use crate::testutil::{baseline_rows, connections, run, tsv};

/// The dns.log rows of a trace, without `ts` and `uid` (compared separately), sorted.
fn our_rows(trace: &str, ignore_checksums: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for conn in connections(trace, ignore_checksums) {
        let (session, fx) = run(&conn);
        for info in &fx.rows {
            let mut cols = tsv(&log::row(&conn.info, info, session.netbios()));
            cols.drain(..2);
            rows.push(cols);
        }
    }
    rows.sort();
    rows
}

/// Zeek's rows for a case, cut to the default dns.log columns, without `ts` and `uid`.
fn zeek_rows(case: &str) -> Vec<Vec<String>> {
    let mut rows: Vec<Vec<String>> = baseline_rows(case, "dns.log")
        .into_iter()
        .map(|mut r| {
            r.truncate(26);
            r.drain(..2);
            r
        })
        .collect();
    rows.sort();
    rows
}

/// Cases run with Zeek's -C (the others drop packets with bad checksums).
const IGNORE_CHECKSUMS: &[&str] = &[
    "binds",
    "dnskey",
    "ds",
    "dynamic-update",
    "loc",
    "nsec3",
    "rrsig",
    "sshfp",
    "tkey",
    "wks",
];

fn check(case: &str, trace: &str) {
    let short = case.rsplit('.').next().unwrap_or(case);
    let ours = our_rows(trace, IGNORE_CHECKSUMS.contains(&short));
    let zeek = zeek_rows(case);
    assert_eq!(ours, zeek, "{case}");
}

#[test]
fn baseline_binds() {
    check("scripts.base.protocols.dns.binds", "dns/dns-binds.pcap");
}
#[test]
fn baseline_dns_key() {
    check("scripts.base.protocols.dns.dns-key", "dnssec/dnskey2.pcap");
}
#[test]
fn baseline_dnskey() {
    check("scripts.base.protocols.dns.dnskey", "dnssec/dnskey.pcap");
}
#[test]
fn baseline_ds() {
    check("scripts.base.protocols.dns.ds", "dnssec/ds.pcap");
}
#[test]
fn baseline_dynamic_update() {
    check(
        "scripts.base.protocols.dns.dynamic-update",
        "dns/dynamic-update.pcap",
    );
}
#[test]
fn baseline_loc() {
    check("scripts.base.protocols.dns.loc", "dns/loc-29-trunc.pcap");
}
#[test]
fn baseline_multiple_txt_strings() {
    check(
        "scripts.base.protocols.dns.multiple-txt-strings",
        "dns-txt-multiple.pcap",
    );
}
#[test]
fn baseline_nsec3() {
    check("scripts.base.protocols.dns.nsec3", "dnssec/nsec3.pcap");
}
#[test]
fn baseline_rrsig() {
    check("scripts.base.protocols.dns.rrsig", "dnssec/rrsig.pcap");
}
#[test]
fn baseline_spf() {
    check("scripts.base.protocols.dns.spf", "dns-spf.pcap");
}
#[test]
fn baseline_sshfp() {
    check("scripts.base.protocols.dns.sshfp", "dns/sshfp-trunc.pcap");
}
#[test]
fn baseline_tkey_over_tcp() {
    check("scripts.base.protocols.dns.tkey", "dns/tkey.pcap");
}
#[test]
fn baseline_wks() {
    check("scripts.base.protocols.dns.wks", "dns/dns-wks.pcap");
}
#[test]
fn baseline_zero_responses() {
    check(
        "scripts.base.protocols.dns.zero-responses",
        "dns-zero-RRs.pcap",
    );
}
#[test]
fn baseline_original_case() {
    check(
        "scripts.policy.protocols.dns.original_case",
        "dns_original_case.pcap",
    );
}

// ---- matching, on real messages ----

use super::{Info, Transactions, MAX_PENDING_QUERY_IDS};
use crate::parser::{parse_message, Options};
use crate::testutil::udp_message;

/// Feeds (message, time) pairs to one connection's transactions; returns the records logged
/// while feeding and those logged at the end.
fn feed(msgs: &[(&[u8], f64)]) -> (Vec<Info>, Vec<Info>) {
    let mut tx = Transactions::default();
    let mut during = Vec::new();
    for (m, t) in msgs {
        let p = parse_message(m, &Options::default());
        tx.on_message(&p.message.expect("a message"), *t, false, &mut during);
    }
    let mut end = Vec::new();
    tx.finish(&mut end);
    (during, end)
}

fn with_id(msg: &[u8], id: u16) -> Vec<u8> {
    let mut m = msg.to_vec();
    m[..2].copy_from_slice(&id.to_be_bytes());
    m
}

#[test]
fn query_then_reply() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let r = udp_message("dnssec/rrsig.pcap", 17129, true);
    let (during, end) = feed(&[(&q, 100.0), (&r, 100.25)]);
    assert!(end.is_empty());
    let [info] = &during[..] else {
        panic!("one record: {during:?}")
    };
    assert_eq!(info.ts, 100.0);
    assert_eq!(info.rtt, Some(0.25));
    assert_eq!(info.query.as_deref(), Some("virgo.sas.upenn.edu"));
    assert_eq!(info.answers.as_ref().map(Vec::len), Some(2));
    assert_eq!(info.ttls, Some(vec![30.0, 30.0]));
    assert_eq!(
        (info.aa, info.rd, info.ra, info.z, info.rcode),
        (true, false, false, 1, Some(0))
    );
}

#[test]
fn retransmitted_query_pairs_the_first_and_logs_the_second_at_the_end() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let r = udp_message("dnssec/rrsig.pcap", 17129, true);
    let (during, end) = feed(&[(&q, 10.0), (&q, 15.0), (&r, 15.1)]);
    assert_eq!(during.len(), 1);
    assert_eq!(during[0].ts, 10.0);
    assert!((during[0].rtt.unwrap_or_default() - 5.1).abs() < 1e-9);
    let [unanswered] = &end[..] else {
        panic!("one pending: {end:?}")
    };
    assert_eq!(
        (unanswered.ts, unanswered.rcode, unanswered.rtt),
        (15.0, None, None)
    );
    assert_eq!(unanswered.query.as_deref(), Some("virgo.sas.upenn.edu"));
}

#[test]
fn reply_first_then_query() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let r = udp_message("dnssec/rrsig.pcap", 17129, true);
    let (during, end) = feed(&[(&r, 20.0), (&q, 20.5)]);
    assert!(end.is_empty());
    let info = &during[0];
    // The record starts with the reply: no rtt, and the query fields come from the query.
    assert_eq!((info.ts, info.rtt, info.rcode), (20.0, None, Some(0)));
    assert_eq!((info.qtype, info.qclass), (Some(1), Some(1)));
}

#[test]
fn reply_without_query_and_query_without_reply() {
    let r = udp_message("dns-spf.pcap", 64161, true);
    let (during, end) = feed(&[(&r, 1.0)]);
    assert!(during.is_empty());
    let info = &end[0];
    assert_eq!(
        info.query.as_deref(),
        Some("mail.vladg.net"),
        "from the first answer"
    );
    assert_eq!((info.qtype, info.rtt), (None, None));

    let q = udp_message("dnssec/rrsig.pcap", 62809, false);
    let (during, end) = feed(&[(&q, 1.0)]);
    assert!(during.is_empty());
    assert_eq!((end[0].trans_id, end[0].rcode), (62809, None));
}

#[test]
fn replies_without_records_are_rejected() {
    for id in [26746, 38477] {
        let q = udp_message("tunnels/Teredo.pcap", id, false);
        let r = udp_message("tunnels/Teredo.pcap", id, true);
        let (during, _) = feed(&[(&q, 1.0), (&r, 2.0)]);
        assert!(during[0].rejected, "{id}");
        // No answer: neither rtt nor AA/RA (only do_reply sets them).
        assert_eq!((during[0].rtt, during[0].aa), (None, false));
    }
    let q = udp_message("tunnels/Teredo.pcap", 34278, false);
    let r = udp_message("tunnels/Teredo.pcap", 34278, true);
    assert!(!feed(&[(&q, 1.0), (&r, 2.0)]).0[0].rejected);
}

#[test]
fn pending_ids_overflow_to_the_log() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let msgs: Vec<Vec<u8>> = (0..=MAX_PENDING_QUERY_IDS as u16 + 2)
        .map(|i| with_id(&q, 1000 + i))
        .collect();
    let feed_in: Vec<(&[u8], f64)> = msgs.iter().map(|m| (m.as_slice(), 1.0)).collect();
    let (during, end) = feed(&feed_in);
    // The first query waits on the fast path; the table holds 51 ids when the 52nd arrives.
    assert_eq!(during.len(), MAX_PENDING_QUERY_IDS + 1);
    assert_eq!(during.len() + end.len(), msgs.len());
}

#[test]
fn many_queries_with_one_id_overflow_to_the_log() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let feed_in: Vec<(&[u8], f64)> = (0..60).map(|_| (q.as_slice(), 1.0)).collect();
    let (during, end) = feed(&feed_in);
    assert_eq!(
        during.len(),
        51,
        "the queue of 51 is flushed when the 52nd arrives"
    );
    assert_eq!(during.len() + end.len(), 60);
}

// ---- TCP ----

use crate::session::Session;

#[test]
fn tcp_stream_split_at_every_byte_gives_the_same_log() {
    let conn = connections("dns/tkey.pcap", true).remove(0);
    let expected = our_rows("dns/tkey.pcap", true);
    // The two directions' streams, as the reassembler delivers them.
    let stream = |orig: bool| -> Vec<u8> {
        conn.packets
            .iter()
            .filter(|p| p.0 == orig)
            .flat_map(|p| p.2.clone())
            .collect()
    };
    let (query, reply) = (stream(true), stream(false));
    assert_eq!(
        query.len(),
        3247,
        "one 3245-byte message over three segments"
    );
    let t = conn.packets[0].1;
    for cut in (1..query.len())
        .step_by(7)
        .chain([1, 2, 3, query.len() - 1])
    {
        let mut s = Session::new(true, 53);
        let mut infos = Vec::new();
        infos.extend(s.deliver(true, &query[..cut], t).rows);
        infos.extend(s.deliver(true, &query[cut..], t).rows);
        for chunk in reply.chunks(cut % 50 + 1) {
            infos.extend(s.deliver(false, chunk, t + 0.001).rows);
        }
        infos.extend(s.finish().rows);
        let mut rows: Vec<Vec<String>> = infos
            .iter()
            .map(|i| {
                let mut c = tsv(&log::row(&conn.info, i, false));
                c.drain(..2);
                c
            })
            .collect();
        rows.sort();
        assert_eq!(rows, expected, "cut at {cut}");
    }
}
