//! conn.log: Zeek's columns and types, in Zeek's order, plus community_id.

use super::{Field, FieldType as T, Schema, Value};
use crate::flow::Conn;
use crate::site::LocalNets;

pub const FIELDS: &[Field] = &[
    Field {
        name: "ts",
        ty: T::Time,
    },
    Field {
        name: "uid",
        ty: T::String,
    },
    Field {
        name: "id.orig_h",
        ty: T::Addr,
    },
    Field {
        name: "id.orig_p",
        ty: T::Port,
    },
    Field {
        name: "id.resp_h",
        ty: T::Addr,
    },
    Field {
        name: "id.resp_p",
        ty: T::Port,
    },
    Field {
        name: "proto",
        ty: T::Enum,
    },
    Field {
        name: "service",
        ty: T::String,
    },
    Field {
        name: "duration",
        ty: T::Interval,
    },
    Field {
        name: "orig_bytes",
        ty: T::Count,
    },
    Field {
        name: "resp_bytes",
        ty: T::Count,
    },
    Field {
        name: "conn_state",
        ty: T::String,
    },
    Field {
        name: "local_orig",
        ty: T::Bool,
    },
    Field {
        name: "local_resp",
        ty: T::Bool,
    },
    Field {
        name: "missed_bytes",
        ty: T::Count,
    },
    Field {
        name: "history",
        ty: T::String,
    },
    Field {
        name: "orig_pkts",
        ty: T::Count,
    },
    Field {
        name: "orig_ip_bytes",
        ty: T::Count,
    },
    Field {
        name: "resp_pkts",
        ty: T::Count,
    },
    Field {
        name: "resp_ip_bytes",
        ty: T::Count,
    },
    Field {
        name: "tunnel_parents",
        ty: T::SetString,
    },
    Field {
        name: "ip_proto",
        ty: T::Count,
    },
    Field {
        name: "community_id",
        ty: T::String,
    },
];

pub const SCHEMA: Schema = Schema {
    path: "conn",
    fields: FIELDS,
};

/// Renders a connection into `row` (23 values) using `uid` and `cid` as scratch text.
pub fn row<'a>(
    c: &'a Conn,
    local: &LocalNets,
    uid: &'a str,
    cid: &'a str,
    parents: &'a [&'a str],
    row: &mut [Value<'a>; 23],
) {
    let dur = c.duration();
    let (ob, rb) = c.bytes();
    let hist = c.history.as_str();
    *row = [
        Value::Time(c.start),
        Value::Str(uid),
        Value::Addr(c.orig_h),
        Value::Port(c.orig_p),
        Value::Addr(c.resp_h),
        Value::Port(c.resp_p),
        Value::Enum(c.proto.as_str()),
        match c.service {
            Some(s) => Value::Str(s),
            None => Value::Unset,
        },
        // Zeek sets duration and byte counts only for a positive duration.
        if dur > 0 {
            Value::Interval(dur)
        } else {
            Value::Unset
        },
        if dur > 0 {
            Value::Count(ob)
        } else {
            Value::Unset
        },
        if dur > 0 {
            Value::Count(rb)
        } else {
            Value::Unset
        },
        Value::Str(c.conn_state()),
        Value::Bool(local.is_local(c.orig_h)),
        Value::Bool(local.is_local(c.resp_h)),
        Value::Count(c.missed_bytes),
        if hist.is_empty() {
            Value::Unset
        } else {
            Value::Str(hist)
        },
        Value::Count(c.orig.pkts),
        Value::Count(c.orig.ip_bytes),
        Value::Count(c.resp.pkts),
        Value::Count(c.resp.ip_bytes),
        if parents.is_empty() {
            Value::Unset
        } else {
            Value::Set(parents)
        },
        Value::Count(c.ip_proto as u64),
        Value::Str(cid),
    ];
}
