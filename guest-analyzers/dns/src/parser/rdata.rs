//! RDATA of each RR type, parsed as Zeek's `DNS_Interpreter::ParseRR_*` do.
//!
//! Each parser starts at the RDATA with the cursor on the whole message (names in RDATA may be
//! compressed) and returns what Zeek's event would carry, plus whether parsing goes on (`false`
//! stops the section and the message, as Zeek's `return false`). Like Zeek, several parsers
//! consume what their fields need rather than exactly `rdlength` (a name longer than the RDATA
//! only raises `DNS_RR_length_mismatch`), so a malformed record shifts the rest of the message
//! the same way it does in Zeek. Values borrow the message bytes where Zeek keeps raw strings.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::name::{extract_name, extract_name_into};
use super::{Cursor, Weirds};

/// RR types with a dedicated parser.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const WKS: u16 = 11;
    pub const PTR: u16 = 12;
    pub const HINFO: u16 = 13;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const LOC: u16 = 29;
    pub const NB: u16 = 32;
    pub const SRV: u16 = 33;
    pub const A6: u16 = 38;
    pub const OPT: u16 = 41;
    pub const DS: u16 = 43;
    pub const SSHFP: u16 = 44;
    pub const RRSIG: u16 = 46;
    pub const NSEC: u16 = 47;
    pub const DNSKEY: u16 = 48;
    pub const NSEC3: u16 = 50;
    pub const NSEC3PARAM: u16 = 51;
    pub const SVCB: u16 = 64;
    pub const HTTPS: u16 = 65;
    pub const SPF: u16 = 99;
    pub const TKEY: u16 = 249;
    pub const TSIG: u16 = 250;
    pub const ANY: u16 = 255;
    pub const CAA: u16 = 257;
    pub const BINDS: u16 = 65534;
}

/// What one record carries, as far as Sandpiper uses it.
#[derive(Clone, Debug, PartialEq)]
pub enum RData<'a> {
    A(Ipv4Addr),
    /// AAAA and A6 (Zeek reads both as a bare 16-byte address).
    Aaaa(Ipv6Addr),
    /// NS, CNAME and PTR.
    Name(String),
    Soa {
        mname: String,
        rname: String,
        serial: u32,
    },
    Mx {
        preference: u16,
        name: String,
    },
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    /// TXT and SPF character-strings.
    Txt(Vec<&'a [u8]>),
    Hinfo {
        cpu: Option<&'a [u8]>,
        os: Option<&'a [u8]>,
    },
    Caa {
        flags: u8,
        tag: &'a [u8],
        value: &'a [u8],
    },
    Wks,
    /// OPT: the options are checked (weirds) but not kept.
    Edns,
    Tsig {
        algorithm: String,
        original_id: u16,
        error: u16,
    },
    Rrsig {
        type_covered: u16,
        algorithm: u8,
        signer: String,
    },
    Dnskey {
        flags: u16,
        protocol: u8,
        algorithm: u8,
    },
    Nsec {
        next: String,
        bitmaps: Vec<&'a [u8]>,
    },
    Nsec3 {
        hash_algorithm: u8,
        iterations: u16,
    },
    Nsec3Param {
        hash_algorithm: u8,
        iterations: u16,
    },
    Ds {
        key_tag: u16,
        algorithm: u8,
        digest_type: u8,
    },
    Binds {
        algorithm: u8,
        key_id: u16,
    },
    Sshfp {
        algorithm: u8,
        fp_type: u8,
        fingerprint: &'a [u8],
    },
    Loc {
        version: u8,
        size: u8,
        horiz_pre: u8,
        vert_pre: u8,
    },
    /// SVCB and HTTPS.
    Svcb {
        priority: u16,
        target: String,
    },
    Tkey {
        algorithm: String,
        mode: u16,
        error: u16,
    },
    /// NetBIOS NB / NBSTAT records: skipped, as Zeek does.
    NetBios,
    /// A dynamic-update prerequisite or deletion without RDATA.
    Empty,
    /// A type Zeek has no parser for.
    Unknown(&'a [u8]),
}

/// How one RDATA is parsed: the record's type and RDATA length, and the message's context.
pub struct RdataCtx<'w> {
    pub rtype: u16,
    pub rdlength: usize,
    /// Resolver on port 137: NetBIOS name service.
    pub netbios: bool,
    /// The connection is UDP (EDNS TCP keepalive is then a weird).
    pub udp: bool,
    /// Zeek's `skip_event`: the section is parsed for its weirds only.
    pub skip_event: bool,
    pub weirds: &'w mut Weirds,
    /// The record is parsed for its weirds only (it is not kept): its names are decoded into
    /// this buffer and come out empty.
    pub discard: Option<&'w mut Vec<u8>>,
}

/// Zeek's per-type `ParseRR_*`: the parsed data (None when Zeek raises no event) and whether
/// parsing goes on.
pub fn parse_rdata<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    use rtype::*;
    // Types whose parser Zeek skips entirely when the section's events are not wanted.
    let skippable = matches!(
        ctx.rtype,
        WKS | HINFO
            | TXT
            | SPF
            | CAA
            | RRSIG
            | DNSKEY
            | NSEC
            | NSEC3
            | NSEC3PARAM
            | DS
            | BINDS
            | SSHFP
            | LOC
    );
    if skippable && ctx.skip_event {
        cur.skip(ctx.rdlength);
        return (None, true);
    }
    let (data, ok) = match ctx.rtype {
        A => a(cur, ctx),
        AAAA | A6 => (Some(RData::Aaaa(aaaa(cur))), true),
        NS | CNAME | PTR => name_rr(cur, ctx),
        SOA => soa(cur, ctx),
        WKS => {
            cur.skip(ctx.rdlength);
            (Some(RData::Wks), true)
        }
        HINFO => hinfo(cur, ctx),
        MX => mx(cur, ctx),
        TXT | SPF => txt(cur, ctx),
        CAA => caa(cur, ctx),
        NB => {
            cur.skip(ctx.rdlength);
            (None, true)
        }
        SRV if ctx.netbios => {
            // NBSTAT, which reuses SRV's number on port 137; Zeek does not parse it.
            cur.skip(ctx.rdlength);
            (Some(RData::NetBios), true)
        }
        SRV => srv(cur, ctx),
        OPT => edns(cur, ctx),
        TSIG => tsig(cur, ctx),
        RRSIG => rrsig(cur, ctx),
        DNSKEY => dnskey(cur, ctx),
        NSEC => nsec(cur, ctx),
        NSEC3 => nsec3(cur, ctx),
        NSEC3PARAM => nsec3param(cur),
        DS => ds(cur, ctx),
        BINDS => binds(cur, ctx),
        SSHFP => sshfp(cur, ctx),
        LOC => loc(cur, ctx),
        SVCB | HTTPS => svcb(cur, ctx),
        TKEY => tkey(cur, ctx),
        other => {
            ctx.weirds
                .add_with("DNS_RR_unknown_type", other.to_string());
            (Some(RData::Unknown(cur.stream(ctx.rdlength as i64))), true)
        }
    };
    (if ctx.skip_event { None } else { data }, ok)
}

fn name(cur: &mut Cursor<'_>, ctx: &mut RdataCtx<'_>) -> String {
    match ctx.discard.as_deref_mut() {
        Some(buf) => {
            extract_name_into(cur, true, ctx.netbios, ctx.weirds, buf);
            String::new()
        }
        None => super::name::into_text(extract_name(cur, true, ctx.netbios, ctx.weirds)),
    }
}

/// Zeek's `DNS_RR_length_mismatch` check for records that end with a name.
fn check_length(cur: &Cursor<'_>, start: usize, ctx: &mut RdataCtx<'_>) {
    if cur.pos - start != ctx.rdlength {
        ctx.weirds.add("DNS_RR_length_mismatch");
    }
}

fn a<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if ctx.rdlength != 4 {
        ctx.weirds.add("DNS_RR_bad_length");
        return (None, false);
    }
    (Some(RData::A(Ipv4Addr::from(cur.long()))), true)
}

/// Four lenient longs, whatever the RDATA length (Zeek does not check it).
fn aaaa(cur: &mut Cursor<'_>) -> Ipv6Addr {
    let mut bytes = [0u8; 16];
    for chunk in bytes.as_chunks_mut::<4>().0 {
        *chunk = cur.long().to_be_bytes();
    }
    Ipv6Addr::from(bytes)
}

fn name_rr<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let n = name(cur, ctx);
    check_length(cur, start, ctx);
    (Some(RData::Name(n)), true)
}

fn soa<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let mname = name(cur, ctx);
    let rname = name(cur, ctx);
    if cur.len() < 20 {
        return (None, false);
    }
    let serial = cur.long();
    cur.skip(16); // refresh, retry, expire, minimum
    check_length(cur, start, ctx);
    (
        Some(RData::Soa {
            mname,
            rname,
            serial,
        }),
        true,
    )
}

fn mx<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let preference = cur.short();
    let n = name(cur, ctx);
    check_length(cur, start, ctx);
    (
        Some(RData::Mx {
            preference,
            name: n,
        }),
        true,
    )
}

fn srv<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let priority = cur.short();
    let weight = cur.short();
    let port = cur.short();
    let target = name(cur, ctx);
    check_length(cur, start, ctx);
    (
        Some(RData::Srv {
            priority,
            weight,
            port,
            target,
        }),
        true,
    )
}

/// Zeek's `extract_char_string`: a length byte and that many bytes, within what is left of the
/// RDATA (`left`); None at the end of the RDATA or when the string overruns it.
fn char_string<'a>(
    cur: &mut Cursor<'a>,
    left: &mut usize,
    weirds: &mut Weirds,
) -> Option<&'a [u8]> {
    if *left == 0 {
        return None;
    }
    let size = usize::from(cur.byte()?);
    *left -= 1;
    if size > *left {
        weirds.add("DNS_TXT_char_str_past_rdlen");
        return None;
    }
    *left -= size;
    Some(cur.stream(size as i64))
}

fn txt<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let mut left = ctx.rdlength;
    let mut strings = Vec::new();
    while let Some(s) = char_string(cur, &mut left, ctx.weirds) {
        strings.push(s);
    }
    (Some(RData::Txt(strings)), left == 0)
}

fn hinfo<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let mut left = ctx.rdlength;
    let cpu = char_string(cur, &mut left, ctx.weirds);
    let os = char_string(cur, &mut left, ctx.weirds);
    (Some(RData::Hinfo { cpu, os }), left == 0)
}

fn caa<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let flags_tag = cur.short();
    let tag_len = usize::from(flags_tag & 0xff);
    let rest = ctx.rdlength as i64 - 2;
    if tag_len as i64 >= rest {
        ctx.weirds.add("DNS_CAA_char_str_past_rdlen");
        return (None, false);
    }
    let tag = cur.stream(tag_len as i64);
    let value = cur.stream(rest - tag_len as i64);
    let flags = (flags_tag >> 8) as u8;
    (Some(RData::Caa { flags, tag, value }), true)
}

/// EDNS option codes Zeek looks into.
const EDNS_ECS: u16 = 8;
const EDNS_COOKIE: u16 = 10;
const EDNS_TCP_KEEPALIVE: u16 = 11;

/// OPT: Zeek walks the options for their weirds. It bounds the walk by the message, not the
/// RDATA; Sandpiper bounds it by the RDATA, which is the same for the usual last-record OPT
/// and does not misread a following TSIG as options.
fn edns<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let mut opts = Cursor::new(cur.stream(ctx.rdlength as i64));
    while opts.len() >= 4 {
        let code = opts.short();
        let len = usize::from(opts.short());
        if len > opts.len() {
            break;
        }
        let mut value = Cursor::new(opts.stream(len as i64));
        match code {
            EDNS_ECS => ecs(&mut value, ctx.weirds),
            EDNS_TCP_KEEPALIVE if (len == 0 || len == 2) && ctx.udp => {
                ctx.weirds.add("EDNS_TCP_Keepalive_In_UDP");
            }
            EDNS_COOKIE | EDNS_TCP_KEEPALIVE => {}
            _ => {}
        }
    }
    if !opts.is_empty() {
        ctx.weirds.add("EDNS_truncated_option");
        return (Some(RData::Edns), false);
    }
    (Some(RData::Edns), true)
}

/// EDNS Client Subnet: family, prefix lengths and the truncated address.
fn ecs(value: &mut Cursor<'_>, weirds: &mut Weirds) {
    if value.len() <= 4 {
        weirds.add("EDNS_ECS_invalid_option_len");
        return;
    }
    let family = value.short();
    let source_prefix = value.short() >> 8;
    let (max, prefix_weird, addr_weird) = match family {
        1 => (
            32,
            "EDNS_ECS_invalid_addr_v4_prefix",
            "EDNS_ECS_invalid_addr_v4",
        ),
        2 => (
            128,
            "EDNS_ECS_invalid_addr_v6_prefix",
            "EDNS_ECS_invalid_addr_v6",
        ),
        _ => return,
    };
    if source_prefix > max {
        weirds.add_with(prefix_weird, format!("{source_prefix} bits"));
    } else if usize::from(source_prefix) > value.len() * 8 {
        let have = value.len() * 8;
        weirds.add_with(
            addr_weird,
            format!("need {source_prefix} bits, have {have} bits"),
        );
    }
}

fn tsig<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let algorithm = name(cur, ctx);
    cur.long(); // time signed, high part
    cur.short(); // time signed, low part
    cur.short(); // fudge
    cur.octets(); // MAC
    let original_id = cur.short();
    let error = cur.short();
    cur.octets(); // other data
    (
        Some(RData::Tsig {
            algorithm,
            original_id,
            error,
        }),
        true,
    )
}

/// DNSSEC algorithm numbers Zeek knows; others are a weird (`DNSSEC_RRSIG_*` or
/// `DNSSEC_DNSKEY_*`).
fn algorithm_weird(rrsig: bool, algorithm: u8, weirds: &mut Weirds) {
    let names = if rrsig {
        [
            "DNSSEC_RRSIG_NotRecommended_ZoneSignAlgo",
            "DNSSEC_RRSIG_Indirect_ZoneSignAlgo",
            "DNSSEC_RRSIG_PrivateDNS_ZoneSignAlgo",
            "DNSSEC_RRSIG_PrivateOID_ZoneSignAlgo",
            "DNSSEC_RRSIG_unknown_ZoneSignAlgo",
        ]
    } else {
        [
            "DNSSEC_DNSKEY_NotRecommended_ZoneSignAlgo",
            "DNSSEC_DNSKEY_Indirect_ZoneSignAlgo",
            "DNSSEC_DNSKEY_PrivateDNS_ZoneSignAlgo",
            "DNSSEC_DNSKEY_PrivateOID_ZoneSignAlgo",
            "DNSSEC_DNSKEY_unknown_ZoneSignAlgo",
        ]
    };
    let name = match algorithm {
        1 => names[0],
        2..=8 | 10 | 12..=16 => return,
        252 => names[1],
        253 => names[2],
        254 => names[3],
        _ => names[4],
    };
    weirds.add_with(name, algorithm.to_string());
}

fn rrsig<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 18 {
        return (None, false);
    }
    let type_covered = cur.short();
    let algorithm = (cur.short() >> 8) as u8; // then labels
    cur.skip(14); // original TTL, expiration, inception, key tag
    let start = cur.pos;
    let signer = name(cur, ctx);
    let sig_len = ctx.rdlength as i64 - ((cur.pos - start) as i64 + 18);
    cur.stream(sig_len);
    algorithm_weird(true, algorithm, ctx.weirds);
    (
        Some(RData::Rrsig {
            type_covered,
            algorithm,
            signer,
        }),
        true,
    )
}

fn dnskey<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 4 {
        return (None, false);
    }
    let flags = cur.short();
    let proto_algo = cur.short();
    let (protocol, algorithm) = ((proto_algo >> 8) as u8, proto_algo as u8);
    cur.stream(ctx.rdlength as i64 - 4);
    if flags & 0xfe7e != 0 {
        ctx.weirds
            .add_with("DNSSEC_DNSKEY_Invalid_Flag", flags.to_string());
    }
    if flags & 0x0181 == 0x0181 {
        ctx.weirds
            .add_with("DNSSEC_DNSKEY_Revoked_KSK", flags.to_string());
    }
    if protocol != 3 {
        ctx.weirds
            .add_with("DNSSEC_DNSKEY_Invalid_Protocol", protocol.to_string());
    }
    algorithm_weird(false, algorithm, ctx.weirds);
    (
        Some(RData::Dnskey {
            flags,
            protocol,
            algorithm,
        }),
        true,
    )
}

/// NSEC/NSEC3 type bitmaps: (window, length) pairs over what is left of the RDATA.
fn bitmaps<'a>(
    cur: &mut Cursor<'a>,
    mut left: i64,
    weird: &'static str,
    weirds: &mut Weirds,
) -> Vec<&'a [u8]> {
    let mut maps = Vec::new();
    while left > 0 && !cur.is_empty() {
        let block = cur.short();
        let len = block & 0xff;
        if len == 0 {
            weirds.add_with(weird, (block >> 8).to_string());
            break;
        }
        maps.push(cur.stream(i64::from(len)));
        left -= 2 + i64::from(len);
    }
    maps
}

fn nsec<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let next = name(cur, ctx);
    let left = ctx.rdlength as i64 - (cur.pos - start) as i64;
    let bitmaps = bitmaps(cur, left, "DNSSEC_NSEC_bitmapLen0", ctx.weirds);
    (Some(RData::Nsec { next, bitmaps }), true)
}

fn nsec3<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 6 {
        return (None, false);
    }
    let start = cur.pos;
    let hash_algorithm = (cur.short() >> 8) as u8; // then flags
    let iterations = cur.short();
    let salt_len = cur.byte().unwrap_or(0);
    cur.stream(i64::from(salt_len));
    let hash_len = cur.byte().unwrap_or(0);
    cur.stream(i64::from(hash_len));
    let left = ctx.rdlength as i64 - (cur.pos - start) as i64;
    bitmaps(cur, left, "DNSSEC_NSEC3_bitmapLen0", ctx.weirds);
    (
        Some(RData::Nsec3 {
            hash_algorithm,
            iterations,
        }),
        true,
    )
}

fn nsec3param<'a>(cur: &mut Cursor<'a>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 5 {
        return (None, false);
    }
    let hash_algorithm = (cur.short() >> 8) as u8;
    let iterations = cur.short();
    let salt_len = cur.byte().unwrap_or(0);
    cur.stream(i64::from(salt_len));
    (
        Some(RData::Nsec3Param {
            hash_algorithm,
            iterations,
        }),
        true,
    )
}

fn ds<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 4 {
        return (None, false);
    }
    let key_tag = cur.short();
    let algo_type = cur.short();
    let (algorithm, digest_type) = ((algo_type >> 8) as u8, algo_type as u8);
    cur.stream(ctx.rdlength as i64 - 4);
    match digest_type {
        0 => ctx
            .weirds
            .add_with("DNSSEC_DS_ReservedDigestType", digest_type.to_string()),
        1..=4 => {}
        _ => ctx
            .weirds
            .add_with("DNSSEC_DS_unknown_DigestType", digest_type.to_string()),
    }
    (
        Some(RData::Ds {
            key_tag,
            algorithm,
            digest_type,
        }),
        true,
    )
}

fn binds<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 5 {
        return (None, false);
    }
    let v = cur.long();
    cur.stream(ctx.rdlength as i64 - 4);
    let algorithm = (v >> 24) as u8;
    let key_id = (v >> 8) as u16;
    (Some(RData::Binds { algorithm, key_id }), true)
}

fn sshfp<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 2 {
        return (None, false);
    }
    let v = cur.short();
    let fingerprint = cur.stream(ctx.rdlength as i64 - 2);
    let (algorithm, fp_type) = ((v >> 8) as u8, v as u8);
    (
        Some(RData::Sshfp {
            algorithm,
            fp_type,
            fingerprint,
        }),
        true,
    )
}

fn loc<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    if cur.len() < 15 {
        return (None, false);
    }
    let [version, size] = cur.short().to_be_bytes();
    let [horiz_pre, vert_pre] = cur.short().to_be_bytes();
    cur.long(); // latitude
    cur.long(); // longitude
    cur.long(); // altitude
    if version != 0 {
        ctx.weirds
            .add_with("DNS_LOC_version_unrecognized", version.to_string());
    }
    (
        Some(RData::Loc {
            version,
            size,
            horiz_pre,
            vert_pre,
        }),
        true,
    )
}

/// SvcParamKey `port`, whose value must be two bytes.
const SVC_PARAM_PORT: u16 = 3;

fn svcb<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    // The smallest SVCB RDATA is a priority and the root target.
    if ctx.rdlength < 3 || cur.len() < 3 {
        ctx.weirds.add("DNS_SVCB_wrong_length");
        return (None, false);
    }
    let start = cur.pos;
    let priority = cur.short();
    let target = super::name::into_text(extract_name(cur, false, ctx.netbios, ctx.weirds));
    let target = if target.is_empty() {
        ".".to_string()
    } else {
        target
    };
    let used = cur.pos - start;
    if used > ctx.rdlength {
        ctx.weirds.add("DNS_SVCB_wrong_length");
        return (None, false);
    }
    let mut params = Cursor::new(cur.stream((ctx.rdlength - used) as i64));
    while params.len() >= 4 {
        let key = params.short();
        let len = usize::from(params.short());
        let value = params.stream(len as i64);
        if key == SVC_PARAM_PORT && value.len() != 2 {
            ctx.weirds.add("DNS_SVCB_port_length_invalid");
        }
    }
    (Some(RData::Svcb { priority, target }), true)
}

fn tkey<'a>(cur: &mut Cursor<'a>, ctx: &mut RdataCtx<'_>) -> (Option<RData<'a>>, bool) {
    let start = cur.pos;
    let algorithm = name(cur, ctx);
    cur.long(); // inception
    cur.long(); // expiration
    let mode = cur.short();
    let error = cur.short();
    cur.octets(); // key
    cur.octets(); // other data
                  // Whatever the fields said, the record ends where its RDATA does.
    let end = start + ctx.rdlength;
    if cur.pos < end {
        cur.seek(end);
    }
    (
        Some(RData::Tkey {
            algorithm,
            mode,
            error,
        }),
        true,
    )
}
