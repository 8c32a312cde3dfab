//! Parser tests on real messages from the corpus traces; hand-built messages only for
//! malformed input and for the RR types no corpus trace carries (MX, SRV, HINFO, CAA, NAPTR).

use super::*;
use crate::render::{reply_text, update_text};
use crate::testutil::{baseline_rows, dns_packets, udp_message, udp_messages};

/// Parses with every section (as Sandpiper does) and Zeek's port-53 options.
fn parse(msg: &[u8]) -> Parse<'_> {
    let opts = Options {
        skip_all_auth: false,
        skip_all_addl: false,
        ..Options::default()
    };
    parse_message(msg, &opts)
}

fn message(msg: &[u8]) -> Message<'_> {
    let p = parse(msg);
    assert!(p.weirds.is_empty(), "unexpected weirds {:?}", p.weirds);
    p.message.expect("a message")
}

/// The reply texts of one section's records.
fn replies(msg: &Message<'_>, section: Section) -> Vec<Option<String>> {
    msg.records
        .iter()
        .filter(|r| r.section == section)
        .map(reply_text)
        .collect()
}

fn some(v: &[&str]) -> Vec<Option<String>> {
    v.iter().map(|s| Some(s.to_string())).collect()
}

#[test]
fn header_and_question() {
    let q = udp_message("dnssec/rrsig.pcap", 17129, false);
    let m = message(&q);
    let h = m.header;
    assert_eq!(
        (h.id, h.qr, h.opcode, h.rd, h.z, h.qdcount, h.arcount),
        (17129, false, 0, false, 1, 1, 1)
    );
    assert_eq!(m.questions[0].name, "virgo.sas.upenn.edu");
    assert_eq!((m.questions[0].qtype, m.questions[0].qclass), (1, 1));
    assert!(m.confirmed);
    assert_eq!(m.records.len(), 1, "the OPT record");
    assert_eq!(m.records[0].data, RData::Edns);
    assert_eq!(reply_text(&m.records[0]), None);
}

#[test]
fn original_case_is_kept_beside_the_lowercased_query() {
    let q = &udp_messages("dns_original_case.pcap")[0];
    let m = message(q);
    assert_eq!(m.questions[0].original, "Us.V27.DiStRiBuTeD.NET");
    assert_eq!(m.questions[0].name, "us.v27.distributed.net");
}

#[test]
fn a_cname_rrsig() {
    let r = udp_message("dnssec/rrsig.pcap", 27118, true);
    let m = message(&r);
    assert_eq!(
        replies(&m, Section::Answer),
        some(&[
            "quasar.sas.upenn.edu",
            "RRSIG 5 upenn.edu",
            "128.91.234.145",
            "RRSIG 1 upenn.edu"
        ])
    );
    assert_eq!(m.records[0].name, "workfamily.sas.upenn.edu");
    assert_eq!(m.records[0].ttl, 900);
}

#[test]
fn aaaa_ns_and_additional_a() {
    let r = udp_message("tunnels/Teredo.pcap", 16995, true);
    let m = message(&r);
    assert_eq!(
        replies(&m, Section::Answer),
        some(&["ipv6.l.google.com", "2001:4860:0:2001::68"])
    );
    let ns = replies(&m, Section::Authority);
    assert_eq!(ns.len(), 7);
    assert_eq!(ns[0].as_deref(), Some("a.l.google.com"));
    let addl = replies(&m, Section::Additional);
    assert_eq!(addl[0].as_deref(), Some("209.85.139.9"));
}

#[test]
fn soa_renders_its_mname() {
    let r = udp_message("dns-zero-RRs.pcap", 17323, true);
    let m = message(&r);
    assert_eq!(replies(&m, Section::Answer), Vec::<Option<String>>::new());
    assert_eq!(replies(&m, Section::Authority), some(&["otc2.psu.edu"]));
    let RData::Soa { rname, serial, .. } = &m.records[0].data else {
        panic!("not a SOA")
    };
    assert_eq!(
        (rname.as_str(), *serial),
        ("hostmaster.psu.edu", 2012100310)
    );
}

#[test]
fn mdns_ptr_and_aaaa_without_questions() {
    let msgs = udp_messages("dns/mdns.pcap");
    let r = msgs
        .iter()
        .find(|m| m.len() > 5 && m[2] & 0x80 != 0)
        .expect("an mDNS response");
    let m = message(r);
    assert!(m.questions.is_empty());
    let texts = replies(&m, Section::Answer);
    assert!(
        texts.contains(&Some("johanna-qemu-virtual-machine.local".into())),
        "{texts:?}"
    );
    assert!(texts.contains(&Some("fd52:429e:c03c:8235:883c:d6ff:fee1:4dc4".into())));
    // The cache-flush bit is part of the class.
    assert_eq!(m.records[0].class, 0x8001);
}

#[test]
fn nsec_in_authority() {
    let r = udp_message("dns/sshfp-trunc.pcap", 22044, true);
    let m = message(&r);
    let auth = replies(&m, Section::Authority);
    assert_eq!(auth[0].as_deref(), Some("nsx.lbl.gov"));
    assert_eq!(auth[1].as_deref(), Some("RRSIG 6 lbl.gov"));
    assert_eq!(
        auth[2].as_deref(),
        Some("NSEC lbl.gov biologic.sp200.000140.lbl.gov")
    );
    assert_eq!(
        auth[4].as_deref(),
        Some("NSEC www.savepower.lbl.gov savoy.lbl.gov")
    );
}

#[test]
fn nsec3_in_authority() {
    let msgs = udp_messages("dnssec/nsec3.pcap");
    let r = msgs.iter().find(|m| m[2] & 0x80 != 0).expect("a response");
    let m = message(r);
    let auth = replies(&m, Section::Authority);
    assert!(auth.contains(&Some("NSEC3".into())), "{auth:?}");
    assert!(
        auth.contains(&Some("RRSIG 50 sshfp.net".into())),
        "{auth:?}"
    );
}

#[test]
fn txt_with_several_strings_and_spf() {
    let r = udp_message("dns-txt-multiple.pcap", 28079, true);
    let m = message(&r);
    let a = replies(&m, Section::Answer);
    assert_eq!(a[0].as_deref(), Some("fa14._domainkey.flickr.com"));
    let txt = a[2].as_deref().expect("a TXT");
    assert!(txt.starts_with("TXT 127 k=rsa; p=MIGfMA0"), "{txt}");
    assert!(txt.contains("jn TXT 98 HSrDI23PU"), "{txt}");

    let r = udp_message("dns-spf.pcap", 64161, true);
    let m = message(&r);
    assert_eq!(
        replies(&m, Section::Answer),
        some(&["SPF 19 v=spf1 mx -all test", "SPF 14 v=spf1 mx -all"])
    );
}

#[test]
fn dnssec_records() {
    let r = udp_message("dnssec/dnskey.pcap", 22666, true);
    let m = message(&r);
    assert_eq!(
        replies(&m, Section::Answer),
        some(&[
            "DNSKEY 5",
            "DNSKEY 5",
            "DNSKEY 5",
            "RRSIG 48 upenn.edu",
            "RRSIG 48 upenn.edu"
        ])
    );
    let r = udp_message("dnssec/ds.pcap", 39080, true);
    assert_eq!(
        replies(&message(&r), Section::Answer),
        some(&["DS 5 1", "DS 5 2", "RRSIG 43 edu"])
    );
}

#[test]
fn sshfp_loc_binds_wks() {
    let r = udp_message("dns/sshfp-trunc.pcap", 40916, true);
    let a = replies(&message(&r), Section::Answer);
    assert_eq!(
        a[0].as_deref(),
        Some("SSHFP: a6b95f9eba1104a7272a362e8bfbcbebd5726dcf")
    );
    assert_eq!(a[8].as_deref(), Some("RRSIG 44 lbl.gov"));

    let r = udp_message("dns/loc-29-trunc.pcap", 33295, true);
    assert_eq!(
        replies(&message(&r), Section::Answer),
        some(&["LOC:  18 21 19", "RRSIG 29 es.net"])
    );

    let r = udp_message("dns/dns-binds.pcap", 27571, true);
    let a = replies(&message(&r), Section::Answer);
    assert_eq!(a.len(), 16);
    assert!(a
        .iter()
        .all(|t| t.as_deref() == Some("BIND9 signing signal")));

    // WKS hands Zeek an empty reply: rtt is set, nothing is added to answers.
    let r = udp_message("dns/dns-wks.pcap", 63119, true);
    assert_eq!(replies(&message(&r), Section::Answer), some(&["", ""]));
}

#[test]
fn tsig_and_dynamic_update() {
    let r = udp_message("dns/dynamic-update.pcap", 47952, true);
    let m = message(&r);
    assert!(m.update);
    assert_eq!(m.questions[0].name, "stratolab.org", "the zone");
    let shown: Vec<String> = m
        .records
        .iter()
        .filter(|r| r.section != Section::Additional)
        .map(update_text)
        .collect();
    assert_eq!(
        shown,
        [
            "pre: NoRRSet CNAME nwin2.stratolab.org",
            "del: RRSet AAAA",
            "del: RRSet A",
            "add: A nwin2.stratolab.org 192.168.1.106"
        ]
    );
    let tsig = m.records.last().expect("a TSIG");
    assert_eq!(tsig.section, Section::Additional);
    assert_eq!(
        tsig.data,
        RData::Tsig {
            algorithm: "gss-tsig".into(),
            original_id: 47952,
            error: 0
        }
    );
}

#[test]
fn tkey_over_tcp() {
    let reply = dns_packets("dns/tkey.pcap")
        .into_iter()
        .find(|p| p.sport == 53)
        .expect("the reply");
    let m = message(&reply.payload[2..]);
    assert_eq!(m.header.id, 52640);
    let tkey = &m.records[0];
    assert_eq!(tkey.rtype, rtype::TKEY);
    assert!(
        matches!(&tkey.data, RData::Tkey { algorithm, mode: 3, error: 0 } if algorithm == "gss-tsig")
    );
    assert_eq!(reply_text(tkey), None, "no dns.log answer for TKEY");
    assert!(matches!(m.records[1].data, RData::Tsig { .. }));
}

#[test]
fn netbios_name_query() {
    let q = dns_packets("tunnels/Teredo.pcap")
        .into_iter()
        .find(|p| p.dport == 137)
        .expect("NetBIOS");
    let opts = Options {
        netbios: true,
        ..Options::default()
    };
    let p = parse_message(&q.payload, &opts);
    let m = p.message.expect("a message");
    assert_eq!(m.questions[0].original, "EJFAFGDGCOEHEPEPEHEMEFCOEDEPENAA");
    assert_eq!(
        crate::render::decode_netbios_name(&m.questions[0].name),
        "IPV6.GOOGLE.COM"
    );
}

/// The weirds of every message of a trace, as `name addl` strings.
fn trace_weirds(trace: &str) -> Vec<String> {
    let mut out = Vec::new();
    for msg in udp_messages(trace) {
        for w in parse(&msg).weirds {
            let addl = if w.addl.is_empty() {
                "-".to_string()
            } else {
                w.addl
            };
            out.push(format!("{} {addl}", w.name));
        }
    }
    out
}

/// Zeek's weird.log for a case, as `name addl` strings.
fn zeek_weirds(case: &str) -> Vec<String> {
    baseline_rows(case, "weird.log")
        .into_iter()
        .filter(|r| r.len() > 7 && r[0] != "ts")
        .map(|r| format!("{} {}", r[6], r[7]))
        .collect()
}

#[test]
fn edns_weirds_as_zeek() {
    assert_eq!(
        trace_weirds("dns-edns-ecs-weirds.pcap"),
        zeek_weirds("scripts.base.protocols.dns.dns-edns-ecs")
    );
    assert_eq!(
        trace_weirds("dns/dns-edns-bad-length.pcap"),
        zeek_weirds("scripts.base.protocols.dns.edns-bad-length")
    );
}

#[test]
fn svcb_weirds_as_zeek() {
    assert_eq!(
        trace_weirds("dns/svcb-port-malformed.pcap"),
        zeek_weirds("scripts.base.protocols.dns.svcb-port-malformed")
    );
    assert_eq!(
        trace_weirds("dns-svcb-rdlength-mismatch.pcap"),
        zeek_weirds("scripts.base.protocols.dns.svcb-rdlength-mismatch")
    );
    let r = udp_message("dns/svcb-port-malformed.pcap", 4660, true);
    let m = parse(&r).message.expect("a message");
    assert_eq!(
        m.records[0].data,
        RData::Svcb {
            priority: 1,
            target: ".".into()
        }
    );
    assert_eq!(reply_text(&m.records[0]), None);
}

#[test]
fn answers_are_parsed_by_default_other_sections_only_on_request() {
    let r = udp_message("tunnels/Teredo.pcap", 16995, true);
    let m = parse_message(&r, &Options::default())
        .message
        .expect("a message");
    assert!(m.records.iter().all(|r| r.section == Section::Answer));
    assert_eq!(m.records.len(), 2);
}

/// Records that reach nothing (authority and additional sections of a response, every
/// section of a query) are parsed for their weirds but not built: on real messages with all
/// kinds of sections, the weirds and what `render::replies` sees are the same as when every
/// record is kept, and only the records it uses are kept.
#[test]
fn unused_records_give_the_same_weirds_and_replies() {
    let traces = [
        "tunnels/Teredo.pcap",
        "dnssec/nsec3.pcap",
        "dnssec/rrsig.pcap",
        "dnssec/dnskey.pcap",
        "dns-edns-ecs-weirds.pcap",
        "dns/dns-edns-bad-length.pcap",
        "dns/svcb-port-malformed.pcap",
        "dns/dynamic-update.pcap",
        "dns/mdns.pcap",
        "dns-txt-multiple.pcap",
    ];
    let (mut messages, mut dropped) = (0, 0);
    for trace in traces {
        for msg in udp_messages(trace) {
            let opts = |keep_all_records| Options {
                skip_all_auth: false,
                skip_all_addl: false,
                keep_all_records,
                ..Options::default()
            };
            let (all, used) = (
                parse_message(&msg, &opts(true)),
                parse_message(&msg, &opts(false)),
            );
            assert_eq!(all.weirds, used.weirds, "{trace}");
            let (Some(all), Some(used)) = (all.message, used.message) else {
                continue;
            };
            let texts = |m: &Message<'_>| {
                crate::render::replies(m)
                    .map(|(r, t)| (r.name.clone(), t))
                    .collect::<Vec<_>>()
            };
            assert_eq!(texts(&all), texts(&used), "{trace}");
            let wanted = |r: &&Record<'_>| {
                all.header.qr
                    && (r.section == Section::Answer
                        || all.update && r.section != Section::Additional)
            };
            let kept: Vec<_> = all.records.iter().filter(wanted).cloned().collect();
            assert_eq!(kept, used.records, "{trace}");
            messages += 1;
            dropped += all.records.len() - used.records.len();
        }
    }
    assert!(
        messages > 20 && dropped > 20,
        "{messages} messages, {dropped} records dropped"
    );
}

/// A real reply (Teredo, "www.wireshark.org A 67.228.110.120") with its one answer's type and
/// RDATA replaced: the RR types no corpus trace carries.
fn with_answer(rtype: u16, rdata: &[u8]) -> Vec<u8> {
    let mut r = udp_message("tunnels/Teredo.pcap", 34278, true);
    let rdata_at = r.len() - 4;
    r.truncate(rdata_at - 10);
    r.extend_from_slice(&rtype.to_be_bytes());
    r.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
    r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
    r.extend_from_slice(rdata);
    r
}

#[test]
fn crafted_types_without_corpus_samples() {
    let answer = |rtype: u16, rdata: &[u8]| {
        let msg = with_answer(rtype, rdata);
        let p = parse(&msg);
        let m = p.message.expect("a message");
        let w: Vec<&str> = p.weirds.iter().map(|w| w.name).collect();
        (
            replies(&m, Section::Answer),
            w,
            m.records.first().map(|r| r.data.clone().to_owned_debug()),
        )
    };
    // MX: preference and a name compressed against the question ("www.wireshark.org" at 12).
    assert_eq!(
        answer(15, b"\x00\x0a\x04mail\xc0\x10").0,
        some(&["mail.wireshark.org"])
    );
    // NS and PTR carry a name.
    assert_eq!(answer(2, b"\x02ns\xc0\x10").0, some(&["ns.wireshark.org"]));
    // SRV: priority, weight, port, target.
    assert_eq!(
        answer(33, b"\x00\x01\x00\x02\x01\xbb\x03srv\xc0\x10").0,
        some(&["srv.wireshark.org"])
    );
    // HINFO and CAA have no handler in Zeek's main.zeek: nothing in answers.
    let (a, w, d) = answer(13, b"\x03x86\x05Linux");
    assert_eq!((a, w), (vec![None], vec![]));
    assert_eq!(d.as_deref(), Some("Hinfo"));
    let (a, w, _) = answer(257, b"\x00\x05issueletsencrypt.org");
    assert_eq!((a, w), (vec![None], vec![]));
    // NAPTR is not parsed by Zeek: an unknown type, with a weird.
    let (a, w, _) = answer(35, b"\x00\x0a\x00\x64\x01u\x07E2U+sip\x00\x00");
    assert_eq!(a, some(&["<unknown type=35>"]));
    assert_eq!(w, vec!["DNS_RR_unknown_type"]);
    // A name longer than its RDATA is read anyway, with a weird (as in Zeek).
    let mut m = with_answer(5, b"\x04mail\x00");
    let at = m.len() - 8;
    m[at..at + 2].copy_from_slice(&3u16.to_be_bytes());
    let p = parse(&m);
    assert_eq!(
        p.weirds.iter().map(|w| w.name).collect::<Vec<_>>(),
        vec!["DNS_RR_length_mismatch"]
    );
    assert_eq!(
        replies(&p.message.expect("a message"), Section::Answer),
        some(&["mail"])
    );
}

/// A short name for an RData variant, for the checks above.
trait Variant {
    fn to_owned_debug(self) -> String;
}
impl Variant for RData<'_> {
    fn to_owned_debug(self) -> String {
        let s = format!("{self:?}");
        s.split([' ', '(', '{'])
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

// ---- malformed input (hand-built) ----

fn weird_names(msg: &[u8]) -> Vec<&'static str> {
    parse(msg).weirds.iter().map(|w| w.name).collect()
}

const QUERY_HDR: &[u8] = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00";

#[test]
fn short_messages() {
    assert!(parse(b"\x12\x34\x01").message.is_none());
    assert_eq!(
        weird_names(b"\x12\x34\x01"),
        vec!["DNS_truncated_len_lt_hdr_len"]
    );
    // A header announcing a question that is not there.
    let p = parse(QUERY_HDR);
    assert_eq!(p.weirds[0].name, "DNS_truncated_quest_too_short");
    assert!(!p.message.expect("a message").confirmed);
}

#[test]
fn compression_loop_in_question() {
    // The question name points at itself.
    let mut m = QUERY_HDR.to_vec();
    m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01");
    let p = parse(&m);
    assert_eq!(p.weirds[0].name, "DNS_label_forward_compress_offset");
    let msg = p.message.expect("a message");
    assert_eq!(msg.questions[0].name, "");
    assert_eq!(msg.questions[0].qtype, 1);
}

#[test]
fn too_many_questions_is_a_violation() {
    let mut m = QUERY_HDR.to_vec();
    m[4..6].copy_from_slice(&26u16.to_be_bytes());
    let p = parse(&m);
    assert_eq!(weird_names(&m), vec!["DNS_Conn_count_too_large"]);
    assert!(p.message.expect("a message").too_many_queries);
}

#[test]
fn bad_records_stop_the_message() {
    let base = udp_message("tunnels/Teredo.pcap", 34278, true);
    // RDATA length beyond the message.
    let mut m = base.clone();
    let at = m.len() - 6;
    m[at..at + 2].copy_from_slice(&100u16.to_be_bytes());
    assert_eq!(weird_names(&m), vec!["DNS_truncated_RR_rdlength_lt_len"]);
    assert!(!parse(&m).message.expect("a message").confirmed);
    // An A record of 3 bytes.
    let mut m = base.clone();
    m[at..at + 2].copy_from_slice(&3u16.to_be_bytes());
    assert_eq!(weird_names(&m), vec!["DNS_RR_bad_length"]);
    // Zero RDATA length with bytes after it.
    let mut m = base.clone();
    m[at..at + 2].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(weird_names(&m), vec!["DNS_zero_rdlength"]);
    // A TXT whose character-string overruns the RDATA: the strings before it are kept.
    let m = with_answer(16, b"\x02ok\x09abc");
    let p = parse(&m);
    assert_eq!(p.weirds[0].name, "DNS_TXT_char_str_past_rdlen");
    assert_eq!(
        reply_text(&p.message.expect("a message").records[0]).as_deref(),
        Some("TXT 2 ok")
    );
    // CAA whose tag overruns the RDATA.
    assert_eq!(
        weird_names(&with_answer(257, b"\x00\x09issue")),
        vec!["DNS_CAA_char_str_past_rdlen"]
    );
}

#[test]
fn every_prefix_and_mutation_of_real_messages_parses() {
    let traces = [
        "dnssec/rrsig.pcap",
        "dns/dynamic-update.pcap",
        "dns-txt-multiple.pcap",
        "dns/sshfp-trunc.pcap",
    ];
    for t in traces {
        for msg in udp_messages(t) {
            for n in 0..=msg.len() {
                let _ = parse(&msg[..n]);
            }
            for i in 0..msg.len() {
                for b in [0x00, 0x3f, 0x40, 0xc0, 0xff] {
                    let mut m = msg.clone();
                    m[i] = b;
                    let p = parse(&m);
                    assert!(p.weirds.len() <= MAX_WEIRDS_PER_MESSAGE);
                }
            }
        }
    }
}

/// The costliest message the parser can be handed: a full-size message of minimal records,
/// each name a long backward chain of pointers. Parsing it must stay far inside one call's
/// fuel (50 M instructions by default): a few tens of milliseconds natively at most.
#[test]
fn worst_case_message_is_cheap() {
    let mut m = b"\x00\x01\x80\x00\x00\x00\xff\xff\x00\x00\x00\x00".to_vec();
    // First record: unknown type whose RDATA holds a label then a chain of 200 pointers, each
    // to the previous one.
    let mut chain = b"\x01a\x00".to_vec();
    let rdata_at = 12 + 11;
    let mut prev = rdata_at;
    for _ in 0..200 {
        let here = rdata_at + chain.len();
        chain.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
        prev = here;
    }
    m.extend_from_slice(b"\x00\xff\x00\x00\x01\x00\x00\x00\x00");
    m.extend_from_slice(&(chain.len() as u16).to_be_bytes());
    m.extend_from_slice(&chain);
    // Then records whose name is the end of the chain, unknown type, 1 byte of RDATA.
    while m.len() + 13 <= 65535 {
        m.extend_from_slice(&[0xc0 | (prev >> 8) as u8, prev as u8]);
        m.extend_from_slice(b"\xff\x00\x00\x01\x00\x00\x00\x00\x00\x01x");
    }
    let start = std::time::Instant::now();
    let p = parse(&m);
    let took = start.elapsed();
    let msg = p.message.expect("a message");
    assert!(
        msg.records.len() > 4000,
        "{} {:?}",
        msg.records.len(),
        &p.weirds[..3.min(p.weirds.len())]
    );
    assert!(took.as_millis() < 2000, "{took:?}");
    eprintln!("worst case: {} records in {took:?}", msg.records.len());
}
