//! DNS message parsing: pure functions from the bytes of one message to a view of it (names
//! decoded, RDATA borrowed from the message), plus the weirds Zeek would report. No SDK calls.
//!
//! The walk is Zeek's `DNS_Interpreter::ParseMessage`: the header, the questions, the answer
//! section, then (only when configured, see [`Options`]) the authority and additional sections.
//! A failure stops the walk where Zeek's does, keeping what was parsed before it, because Zeek
//! has by then raised the events that fill dns.log.

pub mod cursor;
pub mod name;
pub mod rdata;

use nom::number::complete::be_u16;
use nom::IResult;

pub use cursor::Cursor;
pub use rdata::{rtype, RData};

use name::{extract_name, extract_name_into, into_text};
use rdata::{parse_rdata, RdataCtx};

/// Zeek's `dns_max_queries`: a message with more questions is not DNS.
pub const MAX_QUERIES: u16 = 25;
/// Weirds kept per message (each record adds at most a few; this bounds hostile input).
pub const MAX_WEIRDS_PER_MESSAGE: usize = 64;

/// DNS header length.
pub const HEADER_LEN: usize = 12;
/// Opcode of a dynamic update (RFC 2136).
pub const OPCODE_UPDATE: u8 = 5;
/// CLASS values with a special meaning in dynamic updates.
pub const CLASS_NONE: u16 = 254;
pub const CLASS_ANY: u16 = 255;

/// The fixed 12-byte header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Header {
    pub id: u16,
    /// A response (QR bit).
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    /// The 3 reserved bits (including AD and CD), as Zeek's `Z`.
    pub z: u8,
    pub rcode: u8,
    pub qdcount: u16,
    pub ancount: u16,
    pub nscount: u16,
    pub arcount: u16,
}

/// nom parser for the header.
pub fn header(input: &[u8]) -> IResult<&[u8], Header> {
    let (input, id) = be_u16(input)?;
    let (input, flags) = be_u16(input)?;
    let (input, qdcount) = be_u16(input)?;
    let (input, ancount) = be_u16(input)?;
    let (input, nscount) = be_u16(input)?;
    let (input, arcount) = be_u16(input)?;
    let bit = |mask: u16| flags & mask != 0;
    let h = Header {
        id,
        qr: bit(0x8000),
        opcode: ((flags >> 11) & 0xf) as u8,
        aa: bit(0x0400),
        tc: bit(0x0200),
        rd: bit(0x0100),
        ra: bit(0x0080),
        z: ((flags >> 4) & 0x7) as u8,
        rcode: (flags & 0xf) as u8,
        qdcount,
        ancount,
        nscount,
        arcount,
    };
    Ok((input, h))
}

/// One question (for a dynamic update: the zone).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question {
    /// Lower-cased, as Zeek's `query`.
    pub name: String,
    /// As sent (Zeek's `original_query`).
    pub original: String,
    pub qtype: u16,
    pub qclass: u16,
}

/// The section a record was found in (Zeek's `answer_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    Answer,
    Authority,
    Additional,
}

/// One resource record whose event Zeek raises.
#[derive(Clone, Debug, PartialEq)]
pub struct Record<'a> {
    pub section: Section,
    /// Owner name, lower-cased (Zeek's `ans$query`).
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData<'a>,
}

/// A weird Zeek reports while parsing (`name`, `addl`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Weird {
    pub name: &'static str,
    pub addl: String,
}

/// The weirds of one message, bounded; it also carries the message's budget of compression
/// jumps, which every name of the message draws from.
#[derive(Clone, Debug)]
pub struct Weirds {
    pub list: Vec<Weird>,
    /// Compression jumps the rest of the message may follow.
    pub jump_budget: usize,
}

impl Default for Weirds {
    fn default() -> Self {
        Weirds {
            list: Vec::new(),
            jump_budget: name::MAX_JUMPS_PER_MESSAGE,
        }
    }
}

impl Weirds {
    /// A weird without `addl`.
    pub fn add(&mut self, name: &'static str) {
        self.add_with(name, String::new());
    }

    /// A weird with `addl`.
    pub fn add_with(&mut self, name: &'static str, addl: String) {
        if self.list.len() < MAX_WEIRDS_PER_MESSAGE {
            self.list.push(Weird { name, addl });
        }
    }
}

/// How the connection and configuration shape parsing.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// The responder port is 137 (NetBIOS name service).
    pub netbios: bool,
    /// The connection is UDP.
    pub udp: bool,
    /// Zeek's `dns_skip_all_auth` (default T): do not parse the authority section.
    pub skip_all_auth: bool,
    /// Zeek's `dns_skip_all_addl` (default T): do not parse the additional section.
    pub skip_all_addl: bool,
    /// Keep every record parsed in [`Message::records`]. When false, only the records that
    /// reach Zeek's `DNS::do_reply` are kept (a response's answers; a dynamic update's
    /// prerequisites and updates, see [`crate::render::replies`]); the others are still
    /// parsed, for their weirds, but their names and data are not built. A response's
    /// authority and additional sections often hold more names than its answers.
    pub keep_all_records: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            netbios: false,
            udp: true,
            skip_all_auth: true,
            skip_all_addl: true,
            keep_all_records: true,
        }
    }
}

/// One parsed message: what Zeek's events for it carry.
#[derive(Clone, Debug, PartialEq)]
pub struct Message<'a> {
    pub header: Header,
    /// Questions parsed (for a dynamic update: the zone section).
    pub questions: Vec<Question>,
    /// Records whose events Zeek raises, in message order.
    pub records: Vec<Record<'a>>,
    /// The questions and the answer section parsed: Zeek confirms the protocol.
    pub confirmed: bool,
    /// More questions than [`MAX_QUERIES`]: Zeek reports a protocol violation.
    pub too_many_queries: bool,
    /// A dynamic update (zone, prerequisite and update sections), not a query.
    pub update: bool,
}

/// The result of parsing one message: the message (None when shorter than a header) and the
/// weirds, in the order Zeek reports them.
#[derive(Clone, Debug)]
pub struct Parse<'a> {
    pub message: Option<Message<'a>>,
    pub weirds: Vec<Weird>,
}

/// Parses one DNS message.
pub fn parse_message<'a>(msg: &'a [u8], opts: &Options) -> Parse<'a> {
    let mut weirds = Weirds::default();
    let Ok((_, header)) = header(msg) else {
        weirds.add("DNS_truncated_len_lt_hdr_len");
        return Parse {
            message: None,
            weirds: weirds.list,
        };
    };
    // NetBIOS name registration reuses opcode 5; only real DNS has dynamic updates.
    let update = header.opcode == OPCODE_UPDATE && !opts.netbios;
    let mut m = Message {
        header,
        questions: Vec::new(),
        records: Vec::new(),
        confirmed: false,
        too_many_queries: false,
        update,
    };
    if header.qdcount > MAX_QUERIES {
        weirds.add("DNS_Conn_count_too_large");
        m.too_many_queries = true;
        return Parse {
            message: Some(m),
            weirds: weirds.list,
        };
    }
    let mut walk = Walk {
        cur: Cursor {
            msg,
            pos: HEADER_LEN,
        },
        opts,
        weirds: &mut weirds,
        update,
        scratch: Vec::new(),
    };
    walk.sections(&mut m);
    Parse {
        message: Some(m),
        weirds: weirds.list,
    }
}

/// The walk over one message's sections.
struct Walk<'a, 'o> {
    cur: Cursor<'a>,
    opts: &'o Options,
    weirds: &'o mut Weirds,
    update: bool,
    /// Where the names of records that are not kept are decoded (one buffer per message).
    scratch: Vec<u8>,
}

impl<'a> Walk<'a, '_> {
    fn sections(&mut self, m: &mut Message<'a>) {
        let h = m.header;
        // Room for what the message can hold (a question takes at least 5 bytes, a record 11),
        // so that the vectors are allocated once.
        let left = self.cur.len();
        m.questions
            .reserve_exact(usize::from(h.qdcount).min(left / 5));
        let kept = |section, count: u16| usize::from(count) * usize::from(self.keeps(h, section));
        let records = kept(Section::Answer, h.ancount)
            + kept(Section::Authority, h.nscount)
            + kept(Section::Additional, h.arcount);
        m.records.reserve_exact(records.min(left / 11));
        for _ in 0..h.qdcount {
            match self.question() {
                Some(q) => m.questions.push(q),
                None => return,
            }
        }
        if !self.records(h, Section::Answer, false, &mut m.records) {
            return;
        }
        m.confirmed = true;

        let (mut skip_auth, mut skip_addl) = (self.opts.skip_all_auth, self.opts.skip_all_addl);
        if h.ancount > 0 {
            skip_auth |= h.nscount == 0;
            skip_addl |= h.arcount == 0;
        }
        // A dynamic update's changes are in the authority section: always wanted.
        if self.update {
            skip_auth = false;
        }
        if skip_auth && skip_addl {
            return;
        }
        if !self.records(h, Section::Authority, skip_auth, &mut m.records) || skip_addl {
            return;
        }
        self.records(h, Section::Additional, false, &mut m.records);
    }

    /// Zeek's `ParseQuestion`.
    fn question(&mut self) -> Option<Question> {
        let raw = extract_name(&mut self.cur, false, self.opts.netbios, self.weirds);
        if self.cur.len() < 4 {
            self.weirds.add("DNS_truncated_quest_too_short");
            return None;
        }
        let qtype = self.cur.short();
        let qclass = self.cur.short();
        let original = into_text(raw);
        // Lower-casing ASCII bytes commutes with the UTF-8 repair of `into_text`.
        let name = original.to_ascii_lowercase();
        Some(Question {
            name,
            original,
            qtype,
            qclass,
        })
    }

    /// Whether the records of `section` go into [`Message::records`] (see
    /// [`Options::keep_all_records`]).
    fn keeps(&self, h: Header, section: Section) -> bool {
        self.opts.keep_all_records
            || h.qr && (section == Section::Answer || self.update && section != Section::Additional)
    }

    /// Zeek's `ParseAnswers`: the section's records; false when one failed.
    fn records(
        &mut self,
        h: Header,
        section: Section,
        skip_event: bool,
        out: &mut Vec<Record<'a>>,
    ) -> bool {
        let n = match section {
            Section::Answer => h.ancount,
            Section::Authority => h.nscount,
            Section::Additional => h.arcount,
        };
        let keep = self.keeps(h, section);
        for _ in 0..n {
            if !self.record(section, skip_event, keep, out) {
                return false;
            }
        }
        true
    }

    /// Zeek's `ParseAnswer`.
    /// `keep`: whether the record goes into `out` (else it is parsed for its weirds only).
    fn record(
        &mut self,
        section: Section,
        skip_event: bool,
        keep: bool,
        out: &mut Vec<Record<'a>>,
    ) -> bool {
        let (netbios, downcase) = (self.opts.netbios, true);
        let owner = if keep {
            extract_name(&mut self.cur, downcase, netbios, self.weirds)
        } else {
            extract_name_into(
                &mut self.cur,
                downcase,
                netbios,
                self.weirds,
                &mut self.scratch,
            );
            Vec::new()
        };
        if self.cur.len() < 4 {
            self.weirds.add("DNS_truncated_ans_too_short");
            return false;
        }
        let rtype = self.cur.short();
        let class = self.cur.short();
        let ttl = self.cur.long();
        let rdlength = usize::from(self.cur.short());
        // Dynamic updates carry RDATA-less records (deletions, prerequisites).
        let empty_ok = self.update
            && section != Section::Additional
            && matches!(class, CLASS_ANY | CLASS_NONE);
        if rdlength > self.cur.len() {
            self.weirds.add("DNS_truncated_RR_rdlength_lt_len");
            return false;
        } else if rdlength == 0 && empty_ok {
            if !skip_event && keep {
                out.push(Record {
                    section,
                    name: into_text(owner),
                    rtype,
                    class,
                    ttl,
                    data: RData::Empty,
                });
            }
            return true;
        } else if rdlength == 0 && !self.cur.is_empty() {
            self.weirds.add("DNS_zero_rdlength");
            return false;
        }
        let mut ctx = RdataCtx {
            rtype,
            rdlength,
            netbios: self.opts.netbios,
            udp: self.opts.udp,
            skip_event,
            weirds: self.weirds,
            discard: (!keep).then_some(&mut self.scratch),
        };
        let (data, ok) = parse_rdata(&mut self.cur, &mut ctx);
        if let (Some(data), true) = (data, keep) {
            out.push(Record {
                section,
                name: into_text(owner),
                rtype,
                class,
                ttl,
                data,
            });
        }
        ok
    }
}

#[cfg(test)]
mod tests;
