//! conn.log: Zeek's columns and types, in Zeek's order, plus community_id.

use super::{Field, FieldType as T, Schema, Value};
use crate::flow::Conn;
use crate::site::LocalNets;

pub const FIELDS: &[Field] = &[
    Field::new_static("ts", T::Time),
    Field::new_static("uid", T::String),
    Field::new_static("id.orig_h", T::Addr),
    Field::new_static("id.orig_p", T::Port),
    Field::new_static("id.resp_h", T::Addr),
    Field::new_static("id.resp_p", T::Port),
    Field::new_static("proto", T::Enum),
    Field::new_static("service", T::String),
    Field::new_static("duration", T::Interval),
    Field::new_static("orig_bytes", T::Count),
    Field::new_static("resp_bytes", T::Count),
    Field::new_static("conn_state", T::String),
    Field::new_static("local_orig", T::Bool),
    Field::new_static("local_resp", T::Bool),
    Field::new_static("missed_bytes", T::Count),
    Field::new_static("history", T::String),
    Field::new_static("orig_pkts", T::Count),
    Field::new_static("orig_ip_bytes", T::Count),
    Field::new_static("resp_pkts", T::Count),
    Field::new_static("resp_ip_bytes", T::Count),
    Field::new_static("tunnel_parents", T::SetString),
    Field::new_static("ip_proto", T::Count),
    Field::new_static("community_id", T::String),
];

pub const SCHEMA: Schema = Schema::new_static("conn", FIELDS);

/// conn.log with Zeek's VLAN-aware connection key (`frameworks/conn_key/vlan_fivetuple`): the
/// key's context, `id.ctx.vlan` and `id.ctx.inner_vlan`, follows the four-tuple.
pub const VLAN_FIELDS: &[Field] = &[
    Field::new_static("ts", T::Time),
    Field::new_static("uid", T::String),
    Field::new_static("id.orig_h", T::Addr),
    Field::new_static("id.orig_p", T::Port),
    Field::new_static("id.resp_h", T::Addr),
    Field::new_static("id.resp_p", T::Port),
    Field::new_static("id.ctx.vlan", T::Int),
    Field::new_static("id.ctx.inner_vlan", T::Int),
    Field::new_static("proto", T::Enum),
    Field::new_static("service", T::String),
    Field::new_static("duration", T::Interval),
    Field::new_static("orig_bytes", T::Count),
    Field::new_static("resp_bytes", T::Count),
    Field::new_static("conn_state", T::String),
    Field::new_static("local_orig", T::Bool),
    Field::new_static("local_resp", T::Bool),
    Field::new_static("missed_bytes", T::Count),
    Field::new_static("history", T::String),
    Field::new_static("orig_pkts", T::Count),
    Field::new_static("orig_ip_bytes", T::Count),
    Field::new_static("resp_pkts", T::Count),
    Field::new_static("resp_ip_bytes", T::Count),
    Field::new_static("tunnel_parents", T::SetString),
    Field::new_static("ip_proto", T::Count),
    Field::new_static("community_id", T::String),
];

pub const VLAN_SCHEMA: Schema = Schema::new_static("conn", VLAN_FIELDS);

/// A [`row`] with the VLAN context after the four-tuple, for [`VLAN_SCHEMA`].
pub fn with_vlan_ctx<'a>(c: &Conn, row: &[Value<'a>; 23]) -> [Value<'a>; 25] {
    let id = |v: Option<u16>| v.map_or(Value::Unset, |v| Value::Int(i64::from(v)));
    std::array::from_fn(|i| match i {
        0..6 => row[i],
        6 => id(c.vlan),
        7 => id(c.inner_vlan),
        _ => row[i - 2],
    })
}

/// Renders a connection into `row` (23 values) using `uid` and `cid` as scratch text.
pub fn row<'a>(
    c: &'a Conn,
    local: &LocalNets,
    uid: &'a str,
    cid: &'a str,
    parents: &'a [&'a str],
    service: Option<&'a str>,
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
        match service {
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
