//! dns.log's schema and rows, and the events' argument lists: Zeek's `DNS::Info` columns, in
//! Zeek's order and types (with Zeek 8's `opcode` and `opcode_name`). Building values only: no
//! host calls.

use sandpiper_sdk::types::{
    ConnInfo, Event, Field, LogSchema, Row, ScalarType as S, Transport, Value,
};
use sandpiper_sdk::{conn_fields, conn_values};

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
fn proto(conn: &ConnInfo) -> Value {
    let p = match conn.id.resp_p.proto {
        Transport::Tcp => "tcp",
        Transport::Udp => "udp",
        Transport::Icmp => "icmp",
        Transport::Unknown => "unknown_transport",
    };
    Value::Enumeration(p.to_string())
}

/// One dns.log row. `netbios`: the responder port is 137 (NBSTAT and NetBIOS opcode names).
pub fn row(conn: &ConnInfo, info: &Info, netbios: bool) -> Row {
    into_row(conn, info.clone(), netbios)
}

/// [`row`], taking the record's strings instead of copying them.
pub fn into_row(conn: &ConnInfo, info: Info, netbios: bool) -> Row {
    let count = |v: Option<u16>| v.map_or(Value::Unset, |v| Value::Count(u64::from(v)));
    // 26 columns, plus the elements of the two vectors.
    let n_answers = info.answers.as_ref().map_or(0, Vec::len);
    let n_ttls = info.ttls.as_ref().map_or(0, Vec::len);
    let mut row = Vec::with_capacity(26 + n_answers + n_ttls);
    row.push(Value::Time(info.ts));
    row.extend(conn_values(conn));
    row.push(proto(conn));
    row.push(Value::Count(u64::from(info.trans_id)));
    row.push(info.rtt.map_or(Value::Unset, Value::Interval));
    row.push(info.query.into());
    row.push(count(info.qclass));
    row.push(info.qclass.map(class_name).into());
    row.push(count(info.qtype));
    row.push(
        info.qtype
            .map(|t| {
                if netbios && t == QTYPE_SRV {
                    "NBSTAT".to_string()
                } else {
                    qtype_name(t)
                }
            })
            .into(),
    );
    row.push(count(info.rcode.map(u16::from)));
    row.push(info.rcode.map(|r| rcode_name(u16::from(r))).into());
    row.extend([info.aa, info.tc, info.rd, info.ra].map(Value::Boolean));
    row.push(Value::Count(u64::from(info.z)));
    match info.answers {
        Some(a) => {
            row.push(Value::VectorOf(a.len() as u32));
            row.extend(a.into_iter().map(Value::Str));
        }
        None => row.push(Value::Unset),
    }
    match &info.ttls {
        Some(t) => {
            row.push(Value::VectorOf(t.len() as u32));
            row.extend(t.iter().map(|&s| Value::Interval(s)));
        }
        None => row.push(Value::Unset),
    }
    row.push(Value::Boolean(info.rejected));
    row.push(Value::Count(u64::from(info.opcode)));
    row.push(Value::Str(opcode_name(info.opcode, netbios)));
    row
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
