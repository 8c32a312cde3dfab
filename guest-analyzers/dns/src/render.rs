//! The text dns.log shows for each record, as Zeek's base/protocols/dns/main.zeek builds it
//! (the `reply` string its `dns_*_reply` handlers hand to `DNS::do_reply`), and the rendering
//! of dynamic-update records.
//!
//! Types whose Zeek event has no handler in main.zeek (HINFO, CAA, OPT, TSIG, SVCB/HTTPS, TKEY,
//! NetBIOS NB/NBSTAT) add nothing to `answers` and do not set `rtt`; WKS hands over an empty
//! reply, which sets `rtt` but adds no answer; a type Zeek cannot parse (NAPTR, URI, TLSA, ...)
//! shows as `<unknown type=N>`.

use std::fmt::Write;
use std::net::Ipv6Addr;

use crate::consts::qtype_name;
use crate::parser::name::{text, text_cow};
use crate::parser::{rtype, Message, RData, Record, Section, CLASS_ANY, CLASS_NONE};

/// The records of a message that reach Zeek's `DNS::do_reply`, with their reply text: for a
/// response, the answer-section records main.zeek has a handler for; for a dynamic-update
/// response, its prerequisite and update records. Queries have none.
pub fn replies<'m, 'a>(
    msg: &'m Message<'a>,
) -> impl Iterator<Item = (&'m Record<'a>, String)> + 'm {
    let qr = msg.header.qr;
    let update = msg.update;
    msg.records
        .iter()
        .filter(move |_| qr)
        .filter_map(move |rec| {
            let text = if update {
                (rec.section != Section::Additional).then(|| update_text(rec))
            } else if rec.section == Section::Answer {
                reply_text(rec)
            } else {
                None
            };
            text.map(|t| (rec, t))
        })
}

/// The reply string main.zeek builds for a record, or None when it has no handler for it.
pub fn reply_text(rec: &Record<'_>) -> Option<String> {
    let s = match &rec.data {
        RData::A(a) => a.to_string(),
        RData::Aaaa(a) => zeek_addr6(a),
        RData::Name(n) => n.clone(),
        RData::Soa { mname, .. } => mname.clone(),
        RData::Mx { name, .. } => name.clone(),
        RData::Srv { target, .. } => target.clone(),
        RData::Txt(strings) => {
            let tag = if rec.rtype == rtype::SPF {
                "SPF"
            } else {
                "TXT"
            };
            let mut out = String::new();
            for (i, s) in strings.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                let _ = write!(out, "{tag} {} {}", s.len(), text_cow(s));
            }
            out
        }
        RData::Wks => String::new(),
        RData::Rrsig {
            type_covered,
            signer,
            ..
        } => {
            let signer = if signer.is_empty() {
                "<Root>"
            } else {
                signer.as_str()
            };
            format!("RRSIG {type_covered} {signer}")
        }
        RData::Dnskey { algorithm, .. } => format!("DNSKEY {algorithm}"),
        RData::Nsec { next, .. } => format!("NSEC {} {next}", rec.name),
        RData::Nsec3 { .. } => "NSEC3".to_string(),
        RData::Nsec3Param { .. } => "NSEC3PARAM".to_string(),
        RData::Ds {
            algorithm,
            digest_type,
            ..
        } => format!("DS {algorithm} {digest_type}"),
        RData::Binds { .. } => "BIND9 signing signal".to_string(),
        RData::Sshfp { fingerprint, .. } => format!("SSHFP: {}", hex(fingerprint)),
        RData::Loc {
            size,
            horiz_pre,
            vert_pre,
            ..
        } => {
            format!("LOC:  {size} {horiz_pre} {vert_pre}")
        }
        RData::Unknown(_) => format!("<unknown type={}>", rec.rtype),
        RData::Hinfo { .. }
        | RData::Caa { .. }
        | RData::Edns
        | RData::Tsig { .. }
        | RData::Svcb { .. }
        | RData::Tkey { .. }
        | RData::NetBios
        | RData::Empty => return None,
    };
    Some(s)
}

/// A dynamic-update record (RFC 2136) as dns.log shows it: prerequisites (answer section) as
/// `pre: ...`, updates (authority section) as `add: ...` or `del: ...`. Zeek's logs show
/// `pre: NoRRSet CNAME <name>`, `del: RRSet <type>` and `add: <type> <name> <rdata>`; the other
/// forms follow the same pattern.
pub fn update_text(rec: &Record<'_>) -> String {
    let t = qtype_name(rec.rtype);
    let name = &rec.name;
    let with_rdata = |prefix: &str| match reply_text(rec).filter(|r| !r.is_empty()) {
        Some(r) => format!("{prefix}: {t} {name} {r}"),
        None => format!("{prefix}: {t} {name}"),
    };
    let any_type = rec.rtype == rtype::ANY;
    if rec.section == Section::Answer {
        match rec.class {
            CLASS_ANY if any_type => format!("pre: NameInUse {name}"),
            CLASS_ANY => format!("pre: RRSet {t} {name}"),
            CLASS_NONE if any_type => format!("pre: NameNotInUse {name}"),
            CLASS_NONE => format!("pre: NoRRSet {t} {name}"),
            _ => with_rdata("pre"),
        }
    } else {
        match rec.class {
            CLASS_ANY if any_type => "del: AllRRSets".to_string(),
            CLASS_ANY => format!("del: RRSet {t}"),
            CLASS_NONE => with_rdata("del"),
            _ => with_rdata("add"),
        }
    }
}

/// An IPv6 address as Zeek prints it: IPv4-mapped addresses are IPv4 addresses in Zeek, and
/// glibc's `inet_ntop` writes IPv4-compatible ones as `::a.b.c.d`.
pub fn zeek_addr6(a: &Ipv6Addr) -> String {
    if let Some(v4) = a.to_ipv4_mapped() {
        return v4.to_string();
    }
    let s = a.segments();
    if s[..6].iter().all(|&w| w == 0) && s[6] != 0 {
        let [_, _, _, _, _, _, _, _, _, _, _, _, b0, b1, b2, b3] = a.octets();
        return format!("::{b0}.{b1}.{b2}.{b3}");
    }
    a.to_string()
}

/// Lower-case hex, as Zeek's `bytestring_to_hexstr`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Zeek's `decode_netbios_name`: a 32-letter first-level encoded NetBIOS name decoded to its
/// 15 visible characters (the suffix byte dropped, stopping at the padding); empty when the
/// name is not such an encoding.
pub fn decode_netbios_name(name: &str) -> String {
    let b = name.as_bytes();
    if b.len() != 32 {
        return String::new();
    }
    let mut decoded = [0u8; 16];
    for (i, pair) in b.as_chunks::<2>().0.iter().enumerate() {
        let (c0, c1) = (pair[0].to_ascii_uppercase(), pair[1].to_ascii_uppercase());
        if !(b'A'..=b'P').contains(&c0) || !(b'A'..=b'P').contains(&c1) {
            return String::new();
        }
        decoded[i] = ((c0 - b'A') << 4) | (c1 - b'A');
    }
    // Zeek keeps alphanumerics, punctuation and bytes below 3 (with a signed char, also bytes
    // from 0x80 up) and stops at the first other byte, usually the space padding.
    let kept = decoded[..15]
        .iter()
        .take_while(|&&c| {
            c.is_ascii_alphanumeric() || c.is_ascii_punctuation() || !(3..0x80).contains(&c)
        })
        .count();
    text(&decoded[..kept])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_like_zeek() {
        let p = |s: &str| s.parse::<Ipv6Addr>().unwrap();
        assert_eq!(zeek_addr6(&p("2001:db8::1")), "2001:db8::1");
        assert_eq!(zeek_addr6(&p("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(zeek_addr6(&p("::192.0.2.1")), "::192.0.2.1");
        assert_eq!(zeek_addr6(&p("::1")), "::1");
        assert_eq!(zeek_addr6(&p("::")), "::");
        assert_eq!(zeek_addr6(&p("c01f:1:ff::c01f:1")), "c01f:1:ff::c01f:1");
    }

    #[test]
    fn netbios_names() {
        // "WORKGROUP" padded with spaces, suffix 0x1d.
        assert_eq!(
            decode_netbios_name("FHEPFCELEHFCEPFFFACACACACACACABN"),
            "WORKGROUP"
        );
        assert_eq!(
            decode_netbios_name("fhepfcelehfcepfffacacacacacacabn"),
            "WORKGROUP"
        );
        assert_eq!(decode_netbios_name("short"), "");
        assert_eq!(decode_netbios_name("ZZEPFCELEHFCEPFFFACACACACACACABN"), "");
    }

    #[test]
    fn hex_is_lowercase() {
        assert_eq!(hex(&[0xa6, 0x0b, 0xff]), "a60bff");
    }
}
