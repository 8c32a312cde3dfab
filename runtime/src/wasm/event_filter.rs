//! `[[handler.filter]]` conditions of handler manifests, evaluated by the host before a batch
//! crosses into a handler: an event reaches a handler only if every filter naming the event
//! holds for it. Handlers in JavaScript or Python pay tens of microseconds to lift one event,
//! so not delivering the ones they would ignore is most of their cost.

use super::bindings::types::{Event, Transport, Value};
use super::manifest::{EventFilter, FilterProto};

/// Whether `e` meets `f` (the caller applies only the filters naming `e`'s event).
pub fn matches(f: &EventFilter, e: &Event) -> bool {
    let needs_conn = f.local_orig.is_some()
        || f.local_resp.is_some()
        || f.proto.is_some()
        || f.history_has.is_some()
        || f.min_resp_pkts.is_some();
    if needs_conn {
        let Some(c) = &e.conn else { return false };
        if f.local_orig.is_some_and(|want| c.local_orig != want)
            || f.local_resp.is_some_and(|want| c.local_resp != want)
            || f.min_resp_pkts.is_some_and(|n| c.resp_pkts < n)
        {
            return false;
        }
        if let Some(p) = f.proto {
            let want = match p {
                FilterProto::Tcp => Transport::Tcp,
                FilterProto::Udp => Transport::Udp,
                FilterProto::Icmp => Transport::Icmp,
            };
            if c.id.resp_p.proto != want {
                return false;
            }
        }
        if let Some(letters) = &f.history_has {
            if !letters.chars().all(|l| c.history.contains(l)) {
                return false;
            }
        }
    }
    match (f.arg, &f.equals) {
        (Some(i), Some(want)) => e.args.get(i).is_some_and(|v| equals(v, want)),
        _ => true,
    }
}

fn equals(v: &Value, want: &toml::Value) -> bool {
    match (v, want) {
        (Value::Count(n), toml::Value::Integer(w)) => i64::try_from(*n).is_ok_and(|n| n == *w),
        (Value::Integer(n), toml::Value::Integer(w)) => n == w,
        (Value::Str(s) | Value::Enumeration(s), toml::Value::String(w)) => s == w,
        (Value::Boolean(b), toml::Value::Boolean(w)) => b == w,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::{ConnId, ConnInfo, IpAddress, Port};

    fn filter(toml_text: &str) -> EventFilter {
        toml::from_str(toml_text).unwrap()
    }

    fn event(name: &str, history: &str, local_resp: bool, args: Vec<Value>) -> Event {
        let port = |number| Port {
            number,
            proto: Transport::Tcp,
        };
        let a = IpAddress::V4((10, 0, 0, 1));
        Event {
            name: name.into(),
            ts: 1.0,
            conn: Some(ConnInfo {
                uid: "C1".into(),
                id: ConnId {
                    orig_h: a,
                    orig_p: port(1234),
                    resp_h: a,
                    resp_p: port(80),
                },
                start: 0.0,
                duration: 0.0,
                orig_bytes: 0,
                resp_bytes: 0,
                orig_pkts: 1,
                resp_pkts: 1,
                conn_state: "S1".into(),
                history: history.into(),
                service: Vec::new(),
                local_orig: true,
                local_resp,
                tunnel_parents: Vec::new(),
            }),
            args,
        }
    }

    #[test]
    fn connection_conditions() {
        let f = filter("event = \"x\"\nproto = \"tcp\"\nhistory-has = \"Sh\"\nlocal-resp = true");
        assert!(matches(&f, &event("x", "ShAD", true, vec![])));
        assert!(!matches(&f, &event("x", "S", true, vec![])));
        assert!(!matches(&f, &event("x", "ShAD", false, vec![])));
        let udp = filter("event = \"x\"\nproto = \"udp\"");
        assert!(!matches(&udp, &event("x", "Dd", true, vec![])));
        let pkts = filter("event = \"x\"\nmin-resp-pkts = 2");
        assert!(!matches(&pkts, &event("x", "Dd", true, vec![])));
        // A connection condition on an event without a connection fails.
        let mut e = event("x", "ShAD", true, vec![]);
        e.conn = None;
        assert!(!matches(&f, &e));
    }

    #[test]
    fn argument_equality() {
        let f = filter("event = \"http_reply\"\narg = 1\nequals = 401");
        let reply = |code| {
            event(
                "http_reply",
                "",
                true,
                vec![Value::Str("1.1".into()), Value::Count(code)],
            )
        };
        assert!(matches(&f, &reply(401)));
        assert!(!matches(&f, &reply(200)));
        let s = filter("event = \"e\"\narg = 0\nequals = \"1.1\"");
        assert!(matches(&s, &reply(200)));
        let missing = filter("event = \"e\"\narg = 5\nequals = 1");
        assert!(!matches(&missing, &reply(200)));
        let b = filter("event = \"e\"\narg = 0\nequals = true");
        assert!(matches(
            &b,
            &event("e", "", true, vec![Value::Boolean(true)])
        ));
        assert!(!matches(&b, &event("e", "", true, vec![Value::Count(1)])));
    }
}
