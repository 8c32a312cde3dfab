//! dns.log's schema and rows, and the events' argument lists: Zeek's `DNS::Info` columns, in
//! Zeek's order and types (with Zeek 8's `opcode` and `opcode_name`). Building values only: no
//! host calls.

use std::borrow::Cow;

use sandpiper_sdk::conn_fields;
use sandpiper_sdk::packed::{conn_value_refs, owned, Encoder, Rows, ValueRef as V};
use sandpiper_sdk::types::{
    ConnInfo, Event, Field, LogSchema, Row, ScalarType as S, Transport, Value,
};

use crate::consts::{class_name, opcode_name, qtype_name, rcode_name};
use crate::session::DnsEvent;
use crate::state::Info;

/// SRV's number, which NetBIOS uses for NBSTAT.
const QTYPE_SRV: u16 = 33;

/// dns.log's columns.
pub fn schema() -> LogSchema {
    let mut fields = vec![Field::new("ts", S::Time)];
    fields.extend(conn_fields());
    fields.extend([
        Field::new("proto", S::Enumeration),
        Field::optional("trans_id", S::Count),
        Field::optional("rtt", S::Interval),
        Field::optional("query", S::Str),
        Field::optional("qclass", S::Count),
        Field::optional("qclass_name", S::Str),
        Field::optional("qtype", S::Count),
        Field::optional("qtype_name", S::Str),
        Field::optional("rcode", S::Count),
        Field::optional("rcode_name", S::Str),
        Field::new("AA", S::Boolean),
        Field::new("TC", S::Boolean),
        Field::new("RD", S::Boolean),
        Field::new("RA", S::Boolean),
        Field::new("Z", S::Count),
        Field::vector("answers", S::Str),
        Field::vector("TTLs", S::Interval),
        Field::new("rejected", S::Boolean),
        Field::optional("opcode", S::Count),
        Field::optional("opcode_name", S::Str),
    ]);
    LogSchema {
        path: "dns".to_string(),
        fields,
    }
}

/// Zeek's `proto`: the transport of the responder port.
fn proto(conn: &ConnInfo) -> &'static str {
    match conn.id.resp_p.proto {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Icmp => "icmp",
        Transport::Unknown => "unknown_transport",
    }
}

/// One dns.log row as owned values (tests and tools; the guest encodes rows with
/// [`encode_row`]). `netbios`: the responder port is 137 (NBSTAT and NetBIOS opcode names).
pub fn row(conn: &ConnInfo, info: &Info, netbios: bool) -> Row {
    let mut enc = Encoder::new();
    encode_row(&mut enc, conn, info, netbios);
    let (count, bytes) = enc.take();
    let mut rows = Rows::new(count, &bytes);
    let mut values = Vec::new();
    match rows.next_into(&mut values) {
        Some(Ok(())) => values.into_iter().map(owned).collect(),
        other => unreachable!("a row just encoded decodes: {other:?}"),
    }
}

/// What [`encode_row`] hands the host for `info`, for the per-call budgets: the row's value
/// count, and at most this many bytes of strings (the four name columns are short constants or
/// `query-N`-style defaults, counted at 32 bytes each).
pub fn row_cost(conn: &ConnInfo, info: &Info) -> (usize, usize) {
    let answers = info.answers.as_deref().unwrap_or_default();
    let ttls = info.ttls.as_deref().map_or(0, <[f64]>::len);
    let values = 26 + answers.len() + ttls;
    let bytes = conn.uid.len()
        + "unknown_transport".len()
        + info.query.as_ref().map_or(0, String::len)
        + answers.iter().map(String::len).sum::<usize>()
        + 4 * 32;
    (values, bytes)
}

/// An optional text column.
fn text<'a>(s: &'a Option<Cow<'static, str>>) -> V<'a> {
    s.as_deref().map_or(V::Unset, V::Str)
}

/// Appends one dns.log row to `enc`, its strings borrowed from `info` and `conn` (no
/// allocation per value, unlike building owned values first).
pub fn encode_row(enc: &mut Encoder, conn: &ConnInfo, info: &Info, netbios: bool) {
    let count = |v: Option<u16>| v.map_or(V::Unset, |v| V::Count(u64::from(v)));
    let qclass_name = info.qclass.map(class_name);
    let qtype_name = info.qtype.map(|t| {
        if netbios && t == QTYPE_SRV {
            Cow::Borrowed("NBSTAT")
        } else {
            qtype_name(t)
        }
    });
    let rcode_name = info.rcode.map(|r| rcode_name(u16::from(r)));
    let opcode_name = opcode_name(info.opcode, netbios);
    let [uid, orig_h, orig_p, resp_h, resp_p] = conn_value_refs(conn);
    let head = [
        V::Time(info.ts),
        uid,
        orig_h,
        orig_p,
        resp_h,
        resp_p,
        V::Enumeration(proto(conn)),
        V::Count(u64::from(info.trans_id)),
        info.rtt.map_or(V::Unset, V::Interval),
        info.query.as_deref().map_or(V::Unset, V::Str),
        count(info.qclass),
        text(&qclass_name),
        count(info.qtype),
        text(&qtype_name),
        count(info.rcode.map(u16::from)),
        text(&rcode_name),
        V::Boolean(info.aa),
        V::Boolean(info.tc),
        V::Boolean(info.rd),
        V::Boolean(info.ra),
        V::Count(u64::from(info.z)),
    ];
    enc.begin_row();
    for v in head {
        enc.push(v);
    }
    match &info.answers {
        Some(a) => {
            enc.push(V::VectorOf(a.len() as u32));
            for s in a {
                enc.push(V::Str(s));
            }
        }
        None => enc.push(V::Unset),
    }
    match &info.ttls {
        Some(t) => {
            enc.push(V::VectorOf(t.len() as u32));
            for &s in t {
                enc.push(V::Interval(s));
            }
        }
        None => enc.push(V::Unset),
    }
    enc.push(V::Boolean(info.rejected));
    enc.push(V::Count(u64::from(info.opcode)));
    enc.push(V::Str(&opcode_name));
    enc.end_row();
}

/// What a row or event argument list costs against the host's per-call budgets: values, and
/// bytes of strings.
pub fn cost(values: &[Value]) -> (usize, usize) {
    let bytes = values
        .iter()
        .map(|v| match v {
            Value::Str(s) | Value::Enumeration(s) => s.len(),
            _ => 0,
        })
        .sum();
    (values.len(), bytes)
}

/// The host event for a DNS event (see README.md for the argument lists).
pub fn event(conn: &ConnInfo, ev: &DnsEvent) -> Event {
    into_event(conn, ev.clone())
}

/// [`event`], taking the event's strings instead of copying them.
pub fn into_event(conn: &ConnInfo, ev: DnsEvent) -> Event {
    let count = |v: u16| Value::Count(u64::from(v));
    let (name, ts, args) = match ev {
        DnsEvent::Request {
            ts,
            trans_id,
            opcode,
            query,
            qtype,
            qclass,
        } => {
            let args = vec![
                count(trans_id),
                Value::Str(query),
                count(qtype),
                count(qclass),
                count(u16::from(opcode)),
            ];
            ("dns_request", ts, args)
        }
        DnsEvent::Reply {
            ts,
            trans_id,
            opcode,
            rcode,
            query,
            answers,
            ttls,
        } => {
            let mut args = Vec::with_capacity(6 + answers.len() + ttls.len());
            args.extend([
                count(trans_id),
                count(u16::from(rcode)),
                query.into(),
                count(u16::from(opcode)),
                Value::VectorOf(answers.len() as u32),
            ]);
            args.extend(answers.into_iter().map(Value::Str));
            args.push(Value::VectorOf(ttls.len() as u32));
            args.extend(ttls.iter().map(|&t| Value::Interval(t)));
            ("dns_reply", ts, args)
        }
    };
    Event {
        name: name.to_string(),
        ts,
        conn: Some(conn.clone()),
        args,
    }
}

#[cfg(test)]
mod tests;
