//! One connection's DNS analysis, free of host calls: bytes in, [`Effects`] out (dns.log
//! records, events, weirds, confirmation, violation). `lib.rs` turns the effects into host
//! calls, so everything here runs in native unit tests.

use crate::parser::{parse_message, Message, Options, Record, Weird};
use crate::render::replies;
use crate::state::{Info, Transactions};
use crate::tcp::Framer;

/// Zeek's `weird_sampling_threshold` and `weird_sampling_rate`: the first 25 weirds of a name
/// per connection are reported, then one in 1000.
const WEIRD_THRESHOLD: u64 = 25;
const WEIRD_RATE: u64 = 1000;
/// Weirds per host call (the host allows 1,024 and fails the call beyond).
const MAX_WEIRDS_PER_CALL: usize = 512;
/// Answers carried by one `dns_reply` event (dns.log keeps them all).
const MAX_EVENT_ANSWERS: usize = 256;
/// Violation data kept (the host logs at most 40 bytes).
const VIOLATION_DATA: usize = 40;

/// Zeek's `dns_skip_all_auth` and `dns_skip_all_addl`. Zeek's defaults (T) leave the authority
/// and additional sections unparsed; Sandpiper parses them (as Zeek does with
/// policy/protocols/dns/auth-addl), so the weirds of EDNS options, TSIG and the like are
/// reported. dns.log is the same either way: only the answer section feeds it.
pub const SKIP_ALL_AUTH: bool = false;
pub const SKIP_ALL_ADDL: bool = false;

/// An event raised for a message (one per message).
#[derive(Clone, Debug, PartialEq)]
pub enum DnsEvent {
    /// A query (QR=0): its first question (an empty query and types 0 when it has none).
    Request {
        ts: f64,
        trans_id: u16,
        opcode: u8,
        query: String,
        qtype: u16,
        qclass: u16,
    },
    /// A response (QR=1): rcode, first question if any, and what dns.log's `answers` and `TTLs`
    /// get from it.
    Reply {
        ts: f64,
        trans_id: u16,
        opcode: u8,
        rcode: u8,
        query: Option<String>,
        answers: Vec<String>,
        ttls: Vec<f64>,
    },
}

/// The two kinds of [`DnsEvent`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Request,
    Reply,
}

impl EventKind {
    /// The host's event name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Request => "dns_request",
            EventKind::Reply => "dns_reply",
        }
    }
}

/// Which events to build: asked once per message that could raise one. The guest asks the
/// host whether any handler subscribes (once per kind per call); an event nobody wants is not
/// built, which spares copying a reply's answers.
pub type Wants<'w> = dyn FnMut(EventKind) -> bool + 'w;

/// What a call produced.
#[derive(Debug, Default)]
pub struct Effects {
    /// dns.log records to write, in order.
    pub rows: Vec<Info>,
    pub events: Vec<DnsEvent>,
    /// Weirds (`name`, `addl`), already sampled.
    pub weirds: Vec<(String, String)>,
    /// The first well-formed message: confirm the protocol.
    pub confirm: bool,
    /// The data is not DNS (reason, offending bytes); the analyzer is done.
    pub violation: Option<(String, Vec<u8>)>,
}

/// The analysis state of one connection.
#[derive(Debug)]
pub struct Session {
    opts: Options,
    tx: Transactions,
    /// TCP framing for the originator and responder directions (unused for UDP).
    framers: [Framer; 2],
    tcp: bool,
    confirmed: bool,
    /// After a violation nothing more is analysed.
    detached: bool,
    /// Weirds seen per name (a handful of names at most: a list, made at the first weird).
    weird_counts: Vec<(&'static str, u64)>,
    /// Network time of the last delivery, for messages flushed at the end.
    last_time: f64,
}

impl Session {
    /// A connection over TCP (`tcp`) or UDP, with this responder port.
    pub fn new(tcp: bool, resp_port: u16) -> Self {
        let opts = Options {
            netbios: resp_port == 137,
            udp: !tcp,
            skip_all_auth: SKIP_ALL_AUTH,
            skip_all_addl: SKIP_ALL_ADDL,
            // dns.log and the events use only the records `render::replies` picks.
            keep_all_records: false,
        };
        Session {
            opts,
            tx: Transactions::default(),
            framers: Default::default(),
            tcp,
            confirmed: false,
            detached: false,
            weird_counts: Vec::new(),
            last_time: 0.0,
        }
    }

    /// Whether the responder is a NetBIOS name server (names and opcodes differ).
    pub fn netbios(&self) -> bool {
        self.opts.netbios
    }

    /// Data from one side at network time `now`: one datagram (UDP) or the next stream bytes.
    /// Every event is built.
    pub fn deliver(&mut self, is_orig: bool, data: &[u8], now: f64) -> Effects {
        self.deliver_with(is_orig, data, now, &mut |_| true)
    }

    /// [`Session::deliver`], building only the events `wants` asks for.
    pub fn deliver_with(
        &mut self,
        is_orig: bool,
        data: &[u8],
        now: f64,
        wants: &mut Wants<'_>,
    ) -> Effects {
        let mut fx = Effects::default();
        self.last_time = now;
        if self.detached {
            return fx;
        }
        if self.tcp {
            let i = usize::from(!is_orig);
            let mut framer = std::mem::take(&mut self.framers[i]);
            framer.push(data, &mut |msg| self.message(msg, now, &mut fx, wants));
            self.framers[i] = framer;
        } else {
            self.message(data, now, &mut fx, wants);
        }
        fx
    }

    /// `len` bytes of one direction were lost: its TCP stream cannot be framed any more.
    pub fn gap(&mut self, is_orig: bool) {
        if self.tcp {
            self.framers[usize::from(!is_orig)].gap();
        }
    }

    /// One direction ended: a partial TCP message is parsed as it is, as Zeek does.
    pub fn end_of_data(&mut self, is_orig: bool) -> Effects {
        self.end_of_data_with(is_orig, &mut |_| true)
    }

    /// [`Session::end_of_data`], building only the events `wants` asks for.
    pub fn end_of_data_with(&mut self, is_orig: bool, wants: &mut Wants<'_>) -> Effects {
        let mut fx = Effects::default();
        if self.tcp && !self.detached {
            let now = self.last_time;
            let i = usize::from(!is_orig);
            let mut framer = std::mem::take(&mut self.framers[i]);
            framer.flush(&mut |msg| self.message(msg, now, &mut fx, wants));
            self.framers[i] = framer;
        }
        fx
    }

    /// The connection is over: partial messages, then every pending record, are logged.
    pub fn finish(&mut self) -> Effects {
        self.finish_with(&mut |_| true)
    }

    /// [`Session::finish`], building only the events `wants` asks for.
    pub fn finish_with(&mut self, wants: &mut Wants<'_>) -> Effects {
        let mut fx = self.end_of_data_with(true, wants);
        let resp = self.end_of_data_with(false, wants);
        fx.rows.extend(resp.rows);
        fx.events.extend(resp.events);
        fx.weirds.extend(resp.weirds);
        fx.confirm |= resp.confirm;
        self.tx.finish(&mut fx.rows);
        fx
    }

    /// One complete message.
    fn message(&mut self, data: &[u8], now: f64, fx: &mut Effects, wants: &mut Wants<'_>) {
        if self.detached {
            return;
        }
        let parse = parse_message(data, &self.opts);
        for w in parse.weirds {
            self.weird(w, fx);
        }
        let Some(mut msg) = parse.message else {
            return;
        };
        if msg.confirmed && !self.confirmed {
            self.confirmed = true;
            fx.confirm = true;
        }
        // The reply texts are rendered once, for the event and for dns.log.
        let reps: Vec<(&Record<'_>, String)> = if msg.header.qr {
            replies(&msg).collect()
        } else {
            Vec::new()
        };
        let kind = if msg.header.qr {
            EventKind::Reply
        } else {
            EventKind::Request
        };
        let wanted = wants(kind);
        let (answers, ttls) = if wanted && kind == EventKind::Reply {
            reply_answers(&reps)
        } else {
            (Vec::new(), Vec::new())
        };
        self.tx
            .on_message_with(&msg, reps.into_iter(), now, self.opts.netbios, &mut fx.rows);
        if wanted {
            // Last, the event takes the first question's name instead of copying it.
            let query = msg
                .questions
                .first_mut()
                .map(|q| std::mem::take(&mut q.name));
            fx.events.push(event(&msg, query, answers, ttls, now));
        }
        if msg.too_many_queries {
            let data = data.get(..VIOLATION_DATA).unwrap_or(data).to_vec();
            fx.violation = Some(("DNS_Conn_count_too_large".to_string(), data));
            // The host detaches the analyzer: what is pending is logged now.
            self.detached = true;
            self.tx.finish(&mut fx.rows);
        }
    }

    /// A weird, sampled as Zeek samples connection weirds.
    fn weird(&mut self, w: Weird, fx: &mut Effects) {
        let i = match self.weird_counts.iter().position(|(k, _)| *k == w.name) {
            Some(i) => i,
            None => {
                self.weird_counts.push((w.name, 0));
                self.weird_counts.len() - 1
            }
        };
        let Some((_, n)) = self.weird_counts.get_mut(i) else {
            return;
        };
        *n += 1;
        let sampled = *n <= WEIRD_THRESHOLD || (*n - WEIRD_THRESHOLD).is_multiple_of(WEIRD_RATE);
        if sampled && fx.weirds.len() < MAX_WEIRDS_PER_CALL {
            fx.weirds.push((w.name.to_string(), w.addl));
        }
    }

    /// Records waiting for their counterpart.
    pub fn pending(&self) -> usize {
        self.tx.pending()
    }
}

/// What the `dns_reply` event gets of a reply's rendered records: the non-empty texts among
/// the first [`MAX_EVENT_ANSWERS`], with their TTLs.
fn reply_answers(reps: &[(&Record<'_>, String)]) -> (Vec<String>, Vec<f64>) {
    let first = reps.get(..MAX_EVENT_ANSWERS).unwrap_or(reps);
    let n = first.iter().filter(|(_, t)| !t.is_empty()).count();
    let (mut answers, mut ttls) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for (rec, text) in first {
        if !text.is_empty() {
            answers.push(text.clone());
            ttls.push(f64::from(rec.ttl));
        }
    }
    (answers, ttls)
}

/// The event for one message; `query` is the first question's name, if any.
fn event(
    msg: &Message<'_>,
    query: Option<String>,
    answers: Vec<String>,
    ttls: Vec<f64>,
    now: f64,
) -> DnsEvent {
    let h = &msg.header;
    let first = msg.questions.first();
    if !h.qr {
        let (qtype, qclass) = first.map_or((0, 0), |q| (q.qtype, q.qclass));
        return DnsEvent::Request {
            ts: now,
            trans_id: h.id,
            opcode: h.opcode,
            query: query.unwrap_or_default(),
            qtype,
            qclass,
        };
    }
    DnsEvent::Reply {
        ts: now,
        trans_id: h.id,
        opcode: h.opcode,
        rcode: h.rcode,
        query,
        answers,
        ttls,
    }
}

#[cfg(test)]
mod tests;
