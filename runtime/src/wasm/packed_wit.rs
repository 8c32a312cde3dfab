//! Between the WIT types the host holds (`Event`, `Value`) and the packed encodings of the
//! `sandpiper-packed` crate: event batches for `packed-handler` guests, and rows a guest hands
//! to `log.write-packed`.

use sandpiper_packed::{ConnFields, EventEncoder, Transport as PackedTransport, ValueRef};

use super::bindings::types::{ConnInfo, Event, Transport, Value};
use super::streams::ip;

fn packed_transport(t: Transport) -> PackedTransport {
    match t {
        Transport::Tcp => PackedTransport::Tcp,
        Transport::Udp => PackedTransport::Udp,
        Transport::Icmp => PackedTransport::Icmp,
        Transport::Unknown => PackedTransport::Unknown,
    }
}

/// A WIT value as a packed one (borrowing its strings).
pub fn value_ref(v: &Value) -> ValueRef<'_> {
    match v {
        Value::Unset => ValueRef::Unset,
        Value::Boolean(b) => ValueRef::Boolean(*b),
        Value::Count(c) => ValueRef::Count(*c),
        Value::Integer(i) => ValueRef::Integer(*i),
        Value::Double(d) => ValueRef::Double(*d),
        Value::Time(t) => ValueRef::Time(*t),
        Value::Interval(t) => ValueRef::Interval(*t),
        Value::Str(s) => ValueRef::Str(s),
        Value::Addr(a) => ValueRef::Addr(ip(a)),
        Value::Port(p) => ValueRef::Port(p.number, packed_transport(p.proto)),
        Value::Subnet(s) => ValueRef::Subnet(ip(&s.address), s.prefix_len),
        Value::Enumeration(s) => ValueRef::Enumeration(s),
        Value::SetOf(n) => ValueRef::SetOf(*n),
        Value::VectorOf(n) => ValueRef::VectorOf(*n),
    }
}

fn conn_fields(c: &ConnInfo) -> ConnFields<'_> {
    ConnFields {
        uid: &c.uid,
        orig_h: ip(&c.id.orig_h),
        orig_p: c.id.orig_p.number,
        orig_transport: packed_transport(c.id.orig_p.proto),
        resp_h: ip(&c.id.resp_h),
        resp_p: c.id.resp_p.number,
        resp_transport: packed_transport(c.id.resp_p.proto),
        start: c.start,
        duration: c.duration,
        orig_bytes: c.orig_bytes,
        resp_bytes: c.resp_bytes,
        orig_pkts: c.orig_pkts,
        resp_pkts: c.resp_pkts,
        conn_state: &c.conn_state,
        history: &c.history,
        local_orig: c.local_orig,
        local_resp: c.local_resp,
    }
}

/// Appends `batch` to `enc` (WIT `packed-events`).
pub fn encode_events(enc: &mut EventEncoder, batch: &[Event]) {
    for e in batch {
        let mut args = e.args.iter().map(value_ref);
        match &e.conn {
            None => enc.push(&e.name, e.ts, None, &mut args),
            Some(c) => {
                let fields = conn_fields(c);
                let mut service = c.service.iter().map(String::as_str);
                let mut tunnels = c.tunnel_parents.iter().map(String::as_str);
                enc.push(
                    &e.name,
                    e.ts,
                    Some((&fields, &mut service, &mut tunnels)),
                    &mut args,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::{Port, Subnet};
    use crate::wasm::streams::ip_address;

    fn wit_transport(t: PackedTransport) -> Transport {
        match t {
            PackedTransport::Tcp => Transport::Tcp,
            PackedTransport::Udp => Transport::Udp,
            PackedTransport::Icmp => Transport::Icmp,
            PackedTransport::Unknown => Transport::Unknown,
        }
    }

    /// A packed value as an owned WIT value (the host itself reads packed values in place).
    fn wit_value(v: ValueRef<'_>) -> Value {
        match v {
            ValueRef::Unset => Value::Unset,
            ValueRef::Boolean(b) => Value::Boolean(b),
            ValueRef::Count(c) => Value::Count(c),
            ValueRef::Integer(i) => Value::Integer(i),
            ValueRef::Double(d) => Value::Double(d),
            ValueRef::Time(t) => Value::Time(t),
            ValueRef::Interval(t) => Value::Interval(t),
            ValueRef::Str(s) => Value::Str(s.to_string()),
            ValueRef::Enumeration(s) => Value::Enumeration(s.to_string()),
            ValueRef::Addr(a) => Value::Addr(ip_address(a)),
            ValueRef::Port(number, t) => Value::Port(Port {
                number,
                proto: wit_transport(t),
            }),
            ValueRef::Subnet(a, prefix_len) => Value::Subnet(Subnet {
                address: ip_address(a),
                prefix_len,
            }),
            ValueRef::SetOf(n) => Value::SetOf(n),
            ValueRef::VectorOf(n) => Value::VectorOf(n),
        }
    }

    use crate::wasm::bindings::types::{ConnId, IpAddress};
    use sandpiper_packed::Events;

    #[test]
    fn host_events_read_back_from_the_packed_batch() {
        let port = |number, proto| Port { number, proto };
        let conn = ConnInfo {
            uid: "CHhAvVGS1DHFjwGM9".into(),
            id: ConnId {
                orig_h: IpAddress::V4((10, 0, 0, 1)),
                orig_p: port(1234, Transport::Udp),
                resp_h: IpAddress::V6((0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                resp_p: port(53, Transport::Udp),
            },
            start: 10.5,
            duration: 0.25,
            orig_bytes: 40,
            resp_bytes: 90,
            orig_pkts: 1,
            resp_pkts: 2,
            conn_state: "SF".into(),
            history: "Dd".into(),
            service: vec!["dns".into()],
            local_orig: true,
            local_resp: false,
            tunnel_parents: vec!["Cparent".into(), "Cother".into()],
        };
        let args = vec![
            Value::Port(port(80, Transport::Tcp)),
            Value::Subnet(Subnet {
                address: IpAddress::V4((192, 168, 0, 0)),
                prefix_len: 16,
            }),
            Value::Str("x".into()),
        ];
        let batch = [
            Event {
                name: "connection_state_remove".into(),
                ts: 11.0,
                conn: Some(conn.clone()),
                args: vec![],
            },
            Event {
                name: "mine".into(),
                ts: 12.0,
                conn: None,
                args: args.clone(),
            },
        ];
        let mut enc = EventEncoder::new();
        encode_events(&mut enc, &batch);
        let got: Vec<_> = Events::new(enc.count(), enc.bytes())
            .collect::<Result<_, _>>()
            .unwrap();
        let c = got[0].conn.expect("conn");
        assert_eq!(c.fields, conn_fields(&conn));
        assert_eq!(c.service.iter().collect::<Vec<_>>(), ["dns"]);
        assert_eq!(
            c.tunnel_parents.iter().collect::<Vec<_>>(),
            ["Cparent", "Cother"]
        );
        assert_eq!((got[1].name, got[1].ts, got[1].conn), ("mine", 12.0, None));
        let back: Vec<Value> = got[1].args.iter().map(|v| wit_value(*v)).collect();
        assert_eq!(back, args);
    }
}
