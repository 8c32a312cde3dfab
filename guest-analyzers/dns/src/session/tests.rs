//! One connection end to end (without the host): confirmation, events, weirds, violations.

use super::*;
use crate::log;
use crate::testutil::{connections, run, tsv, udp_message, Conn};

/// The rrsig.pcap connection of transaction 17129 (a query and its reply).
fn rrsig_conn() -> Conn {
    connections("dnssec/rrsig.pcap", true)
        .into_iter()
        .find(|c| c.packets[0].2[..2] == 17129u16.to_be_bytes())
        .expect("transaction 17129")
}

#[test]
fn confirms_once_and_raises_one_event_per_message() {
    let conn = rrsig_conn();
    let mut s = Session::new(false, 53);
    let mut confirms = 0;
    let mut events = Vec::new();
    for (is_orig, ts, data) in &conn.packets {
        let fx = s.deliver(*is_orig, data, *ts);
        confirms += usize::from(fx.confirm);
        events.extend(fx.events);
    }
    assert_eq!(confirms, 1);
    assert_eq!(events.len(), conn.packets.len());
    let DnsEvent::Request {
        trans_id,
        query,
        qtype,
        qclass,
        ..
    } = &events[0]
    else {
        panic!("a request first: {events:?}")
    };
    assert_eq!(
        (*trans_id, query.as_str(), *qtype, *qclass),
        (17129, "virgo.sas.upenn.edu", 1, 1)
    );
    let DnsEvent::Reply {
        rcode,
        answers,
        ttls,
        ..
    } = &events[1]
    else {
        panic!("then a reply")
    };
    assert_eq!(*rcode, 0);
    assert_eq!(answers, &["128.91.234.142", "RRSIG 1 upenn.edu"]);
    assert_eq!(ttls, &[30.0, 30.0]);
}

#[test]
fn events_carry_flat_values() {
    let conn = rrsig_conn();
    let (_, fx) = run(&conn);
    let ev = log::event(&conn.info, &fx.events[1]);
    assert_eq!(ev.name, "dns_reply");
    // trans_id, rcode, query, opcode, then the answers and TTLs vectors.
    assert_eq!(ev.args.len(), 4 + 1 + 2 + 1 + 2);
    let ev = log::event(&conn.info, &fx.events[0]);
    assert_eq!(ev.name, "dns_request");
    assert_eq!(ev.args.len(), 5);
    assert!(ev.conn.is_some());
}

#[test]
fn too_many_questions_is_a_violation_and_flushes() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let mut bogus = q.clone();
    bogus[4..6].copy_from_slice(&40u16.to_be_bytes());
    let mut s = Session::new(false, 53);
    let fx = s.deliver(true, &q, 1.0);
    assert!(fx.confirm && fx.rows.is_empty());
    let fx = s.deliver(true, &bogus, 2.0);
    let (reason, data) = fx.violation.expect("a violation");
    assert_eq!(reason, "DNS_Conn_count_too_large");
    assert_eq!(data.len(), 40);
    assert_eq!(
        fx.weirds,
        vec![("DNS_Conn_count_too_large".to_string(), String::new())]
    );
    // Both pending queries are logged at once; nothing is analysed afterwards.
    assert_eq!(fx.rows.len(), 2);
    let r = udp_message("dnssec/rrsig.pcap", 17129, true);
    let fx = s.deliver(false, &r, 3.0);
    assert!(fx.rows.is_empty() && fx.events.is_empty());
    assert!(s.finish().rows.is_empty());
}

#[test]
fn weirds_are_sampled_per_name() {
    let mut s = Session::new(false, 53);
    let mut n = 0;
    for i in 0..2000 {
        n += s.deliver(true, b"\x00\x01", f64::from(i)).weirds.len();
    }
    // The first 25, then one in 1000.
    assert_eq!(n, 25 + 1);
}

#[test]
fn a_gap_stops_a_tcp_direction() {
    let conn = connections("dns/tkey.pcap", true).remove(0);
    let mut s = Session::new(true, 53);
    let (_, t, first) = &conn.packets[0];
    s.deliver(true, first, *t);
    s.gap(true);
    for (is_orig, t, data) in &conn.packets[1..] {
        s.deliver(*is_orig, data, *t);
    }
    // Only the reply was parsed: a reply without query, logged at the end.
    let rows = s.finish().rows;
    assert_eq!(rows.len(), 1);
    assert_eq!((rows[0].rcode, rows[0].qtype), (Some(0), None));
}

#[test]
fn netbios_rows_decode_names_and_opcodes() {
    let conn = connections("tunnels/Teredo.pcap", false)
        .into_iter()
        .find(|c| c.info.id.resp_p.number == 137)
        .expect("the NetBIOS connection");
    let (s, fx) = run(&conn);
    assert!(s.netbios());
    let row = tsv(&log::row(&conn.info, &fx.rows[0], true));
    // query, qclass, qclass_name, qtype, qtype_name ... opcode, opcode_name
    assert_eq!(
        &row[9..14],
        ["IPV6.GOOGLE.COM", "1", "C_INTERNET", "32", "NIMLOC"]
    );
    assert_eq!(&row[24..], ["0", "netbios-query"]);
    // Three broadcasts of the same query id: one record each.
    assert_eq!(fx.rows.len(), 3);
}

#[test]
fn partial_tcp_message_is_parsed_at_the_end() {
    let conn = connections("dns/tkey.pcap", true).remove(0);
    let mut s = Session::new(true, 53);
    // Only the first segment of the 3245-byte query.
    let (_, t, first) = &conn.packets[0];
    s.deliver(true, first, *t);
    let fx = s.finish();
    assert_eq!(
        fx.rows.len(),
        1,
        "Zeek's Flush: the partial query is parsed"
    );
    assert_eq!(fx.rows[0].trans_id, 52640);
}

/// Events no handler wants are not built, and nothing else changes: the same rows and weirds,
/// and the kinds that are wanted exactly as when every event is built.
#[test]
fn unwanted_events_are_not_built() {
    for trace in [
        "dnssec/rrsig.pcap",
        "dns/dynamic-update.pcap",
        "tunnels/Teredo.pcap",
    ] {
        for conn in connections(trace, true) {
            let effects = |want: &dyn Fn(EventKind) -> bool| {
                let mut s = Session::new(conn.tcp, conn.info.id.resp_p.number);
                let mut asked = Vec::new();
                let mut wants = |k: EventKind| {
                    asked.push(k);
                    want(k)
                };
                let mut out = Vec::new();
                for (is_orig, ts, data) in &conn.packets {
                    out.push(s.deliver_with(*is_orig, data, *ts, &mut wants));
                }
                out.push(s.finish_with(&mut wants));
                let rows: Vec<_> = out.iter().flat_map(|fx| fx.rows.clone()).collect();
                let weirds: Vec<_> = out.iter().flat_map(|fx| fx.weirds.clone()).collect();
                let events: Vec<_> = out.into_iter().flat_map(|fx| fx.events).collect();
                (rows, weirds, events, asked.len())
            };
            let all = effects(&|_| true);
            let none = effects(&|_| false);
            let replies = effects(&|k| k == EventKind::Reply);
            assert_eq!((&none.0, &none.1), (&all.0, &all.1), "{trace}");
            assert!(none.2.is_empty(), "{trace}");
            let all_replies: Vec<_> = all
                .2
                .iter()
                .filter(|e| matches!(e, DnsEvent::Reply { .. }))
                .cloned()
                .collect();
            assert_eq!(replies.2, all_replies, "{trace}");
            // Asked once per message.
            assert_eq!(all.3, all.2.len(), "{trace}");
        }
    }
}
