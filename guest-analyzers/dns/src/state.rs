//! Per-connection transactions: Zeek's query/reply matching (base/protocols/dns/main.zeek).
//!
//! Zeek keeps, per connection, a fast-path `pending_query` plus queues of unmatched queries and
//! unmatched replies keyed by transaction id. A query takes the oldest pending reply with its id,
//! else becomes pending; a reply takes `pending_query` if the id matches (refilling the fast
//! path from the queues), else the oldest pending query with its id, else becomes a pending
//! reply. A record is logged once both a query and a reply contributed to it; what is still
//! pending when the connection ends is logged then. More than 50 queued messages for one id, or
//! more than 50 ids, flush the queue or table to the log, as Zeek's `max_pending_msgs` and
//! `max_pending_query_ids`.
//!
//! Zeek's records are shared references; here the record the current message works on is taken
//! out of its place, updated, and either logged or put back where Zeek would keep it.

use std::collections::VecDeque;

use crate::parser::{Header, Message, Record};
use crate::render::{decode_netbios_name, replies};

/// Zeek's `DNS::max_pending_msgs`.
pub const MAX_PENDING_MSGS: usize = 50;
/// Zeek's `DNS::max_pending_query_ids`.
pub const MAX_PENDING_QUERY_IDS: usize = 50;

/// Zeek's `DNS::Info`: one dns.log record in the making.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Info {
    /// Network time of the message that created the record.
    pub ts: f64,
    pub trans_id: u16,
    pub rtt: Option<f64>,
    pub query: Option<String>,
    pub qclass: Option<u16>,
    pub qtype: Option<u16>,
    pub rcode: Option<u8>,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    pub z: u8,
    pub answers: Option<Vec<String>>,
    pub ttls: Option<Vec<f64>>,
    pub rejected: bool,
    pub opcode: u8,
    saw_query: bool,
    saw_reply: bool,
}

/// Where a record not logged at the end of its message goes back to.
enum Home {
    PendingQuery,
    Queries(u16),
    Replies(u16),
    /// It was matched: nothing keeps it (it is always logged at once).
    Nowhere,
}

/// Unmatched messages per transaction id, in first-seen order of the ids (Zeek's table order is
/// a hash order; first-seen is the stable stand-in).
#[derive(Debug, Default)]
struct Pending {
    queues: Vec<(u16, VecDeque<Info>)>,
}

impl Pending {
    fn position(&self, id: u16) -> Option<usize> {
        self.queues.iter().position(|(k, _)| *k == id)
    }

    /// Zeek's `pop_msg`: the oldest record for `id`; the id goes when its queue empties.
    fn pop(&mut self, id: u16) -> Option<Info> {
        let i = self.position(id)?;
        let info = self.queues.get_mut(i)?.1.pop_front();
        if self.queues.get(i).is_some_and(|(_, q)| q.is_empty()) {
            self.queues.remove(i);
        }
        info
    }

    /// The oldest record of the first id that has one.
    fn pop_any(&mut self) -> Option<Info> {
        let id = self.queues.iter().find(|(_, q)| !q.is_empty())?.0;
        self.pop(id)
    }

    /// Zeek's `enqueue_new_msg` up to the `put`: flushes to `log` what overflows.
    fn make_room(&mut self, id: u16, log: &mut Vec<Info>) {
        match self.position(id) {
            None => {
                if self.queues.len() > MAX_PENDING_QUERY_IDS {
                    self.drain(log);
                }
                self.queues.push((id, VecDeque::new()));
            }
            Some(i) => {
                if let Some((_, q)) = self.queues.get_mut(i) {
                    if q.len() > MAX_PENDING_MSGS {
                        log.extend(q.drain(..));
                    }
                }
            }
        }
    }

    fn push(&mut self, id: u16, info: Info) {
        match self.position(id).and_then(|i| self.queues.get_mut(i)) {
            Some((_, q)) => q.push_back(info),
            None => self.queues.push((id, VecDeque::from([info]))),
        }
    }

    fn drain(&mut self, log: &mut Vec<Info>) {
        for (_, q) in self.queues.drain(..) {
            log.extend(q);
        }
    }

    fn len(&self) -> usize {
        self.queues.iter().map(|(_, q)| q.len()).sum()
    }
}

/// The DNS state of one connection (Zeek's `DNS::State`).
#[derive(Debug, Default)]
pub struct Transactions {
    pending_query: Option<Info>,
    pending_queries: Pending,
    pending_replies: Pending,
}

impl Transactions {
    /// Applies one parsed message (Zeek's events `dns_message`, `dns_request`, `dns_rejected`,
    /// the reply events and `dns_end`) at network time `now`; records complete (or flushed by
    /// an overflow) are appended to `log`. `netbios`: the responder port is 137.
    pub fn on_message(&mut self, msg: &Message<'_>, now: f64, netbios: bool, log: &mut Vec<Info>) {
        self.on_message_with(msg, replies(msg), now, netbios, log);
    }

    /// [`Self::on_message`] with the message's [`replies`] already rendered.
    pub fn on_message_with<'m, 'a: 'm>(
        &mut self,
        msg: &'m Message<'a>,
        replies: impl Iterator<Item = (&'m Record<'a>, String)>,
        now: f64,
        netbios: bool,
        log: &mut Vec<Info>,
    ) {
        let h = &msg.header;
        let (mut info, home) = self.set_session(h, now, log);

        // Zeek's dns_request runs for every question, each overwriting the last: only the last
        // one shows.
        if !h.qr {
            if !msg.update {
                if let Some(q) = msg.questions.last() {
                    request(&mut info, h, &q.name, q.qtype, q.qclass, netbios);
                }
            }
        } else if h.ancount == 0 && h.nscount == 0 && h.arcount == 0 && !msg.questions.is_empty() {
            // Zeek's dns_rejected: a reply without any record.
            info.rejected = true;
        }

        if h.qr {
            let hint = replies.size_hint().0;
            for (rec, reply) in replies {
                do_reply(&mut info, h, &rec.name, rec.ttl, reply, now, hint);
            }
            info.saw_reply = true;
        } else {
            info.saw_query = true;
        }

        if info.saw_query && info.saw_reply {
            log.push(info);
            return;
        }
        match home {
            Home::PendingQuery => self.pending_query = Some(info),
            Home::Queries(id) => self.pending_queries.push(id, info),
            Home::Replies(id) => self.pending_replies.push(id, info),
            Home::Nowhere => {}
        }
    }

    /// Zeek's `finalize_dns`: everything still pending, to be logged as the connection ends.
    pub fn finish(&mut self, log: &mut Vec<Info>) {
        log.extend(self.pending_query.take());
        self.pending_queries.drain(log);
        self.pending_replies.drain(log);
    }

    /// Records waiting for their counterpart.
    pub fn pending(&self) -> usize {
        usize::from(self.pending_query.is_some())
            + self.pending_queries.len()
            + self.pending_replies.len()
    }

    /// Zeek's `set_session` hook: the record this message belongs to, and where it waits if
    /// it is not complete after the message.
    fn set_session(&mut self, h: &Header, now: f64, log: &mut Vec<Info>) -> (Info, Home) {
        let id = h.id;
        let (mut info, home) = if !h.qr {
            if let Some(reply) = self.pending_replies.pop(id) {
                (reply, Home::Nowhere)
            } else {
                let info = new_session(h, now);
                if self.pending_query.is_none() {
                    (info, Home::PendingQuery)
                } else {
                    self.pending_queries.make_room(id, log);
                    (info, Home::Queries(id))
                }
            }
        } else if self
            .pending_query
            .as_ref()
            .is_some_and(|q| q.trans_id == id)
        {
            let query = self.pending_query.take().unwrap_or_default();
            // Refill the fast path, preferring a query with the same id, to keep the queue
            // order of queries sharing an id.
            self.pending_query = self
                .pending_queries
                .pop(id)
                .or_else(|| self.pending_queries.pop_any());
            (query, Home::Nowhere)
        } else if let Some(query) = self.pending_queries.pop(id) {
            (query, Home::Nowhere)
        } else {
            self.pending_replies.make_room(id, log);
            (new_session(h, now), Home::Replies(id))
        };
        if h.qr {
            info.rcode = Some(h.rcode);
            if h.rcode != 0 && h.qdcount == 0 {
                info.rejected = true;
            }
        }
        (info, home)
    }
}

/// Zeek's `new_session`.
fn new_session(h: &Header, now: f64) -> Info {
    Info {
        ts: now,
        trans_id: h.id,
        opcode: h.opcode,
        ..Info::default()
    }
}

/// Zeek's `dns_request` handler.
fn request(info: &mut Info, h: &Header, query: &str, qtype: u16, qclass: u16, netbios: bool) {
    info.rd = h.rd;
    info.tc = h.tc;
    info.qclass = Some(qclass);
    info.qtype = Some(qtype);
    info.z = h.z;
    let decoded = if netbios {
        decode_netbios_name(query)
    } else {
        String::new()
    };
    info.query = Some(if decoded.is_empty() {
        query.to_string()
    } else {
        decoded
    });
}

/// Zeek's `DNS::do_reply` hook for an answer-section record of a reply.
/// `hint`: how many records the message hands over (room reserved at the first answer).
fn do_reply(
    info: &mut Info,
    h: &Header,
    owner: &str,
    ttl: u32,
    reply: String,
    now: f64,
    hint: usize,
) {
    if info.query.is_none() {
        info.query = Some(owner.to_string());
    }
    info.aa = h.aa;
    info.ra = h.ra;
    if info.rtt.is_none() {
        let rtt = now - info.ts;
        // Zero means only the reply was seen.
        info.rtt = (rtt != 0.0).then_some(rtt);
    }
    if !reply.is_empty() {
        info.answers
            .get_or_insert_with(|| Vec::with_capacity(hint))
            .push(reply);
        info.ttls
            .get_or_insert_with(|| Vec::with_capacity(hint))
            .push(f64::from(ttl));
    }
}

#[cfg(test)]
mod tests;
