//! Mutes set by a handler through the `mutes` import: events it would ignore (repeats of what it
//! already knows) are not delivered to it until the mute's `until` time.
//!
//! The check runs for every event a handler is subscribed to, so it allocates nothing: a mute is
//! filed under a hash of its event name and the connection fields it sets, and an event is
//! looked up once per field combination ("shape") in use, usually one.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use super::bindings::sandpiper::monitor::mutes::ConnMatch;
use super::bindings::types::{ConnInfo, Event, IpAddress, Port, Transport};
use super::host::valid_event_name;

/// Mutes one module may have in force.
pub const MAX_MUTES: usize = 65_536;

/// Which of a `conn-match`'s fields are set: bits ORIG_H, RESP_H, RESP_P, SERVICE.
type Shape = u8;
const ORIG_H: Shape = 1;
const RESP_H: Shape = 2;
const RESP_P: Shape = 4;
const SERVICE: Shape = 8;

struct Mute {
    name: String,
    shape: Shape,
    conn: ConnMatch,
    until: f64,
}

impl Mute {
    fn covers(&self, name: &str, c: &ConnInfo) -> bool {
        self.name == name
            && self.conn.orig_h.as_ref().is_none_or(|a| *a == c.id.orig_h)
            && self.conn.resp_h.as_ref().is_none_or(|a| *a == c.id.resp_h)
            && self.conn.resp_p.as_ref().is_none_or(|p| *p == c.id.resp_p)
            && self.conn.service.as_ref().is_none_or(|s| *s == c.service)
    }
}

/// One module's mutes.
#[derive(Default)]
pub struct MuteTable {
    by_hash: HashMap<u64, Vec<Mute>>,
    /// The shapes in use and how many mutes have each.
    shapes: Vec<(Shape, usize)>,
}

impl MuteTable {
    pub fn len(&self) -> usize {
        self.shapes.iter().map(|&(_, n)| n).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.shapes.is_empty()
    }

    pub fn clear(&mut self) {
        *self = MuteTable::default();
    }

    /// Whether `e` is muted: a mute for its name covers its connection and `e.ts < until`.
    pub fn covers(&self, e: &Event) -> bool {
        let Some(c) = &e.conn else { return false };
        self.shapes.iter().any(|&(shape, _)| {
            let h = key_hash(
                &e.name,
                shape,
                c.id.orig_h,
                c.id.resp_h,
                c.id.resp_p,
                &c.service,
            );
            self.by_hash
                .get(&h)
                .is_some_and(|ms| ms.iter().any(|m| e.ts < m.until && m.covers(&e.name, c)))
        })
    }

    /// Adds a mute, or moves the `until` of the same one. The caller has checked it (`check`).
    pub fn add(&mut self, name: String, conn: ConnMatch, until: f64) {
        let shape = shape_of(&conn);
        let h = match_hash(&name, &conn);
        let bucket = self.by_hash.entry(h).or_default();
        if let Some(m) = bucket
            .iter_mut()
            .find(|m| m.name == name && m.shape == shape && m.conn == conn)
        {
            m.until = until;
            return;
        }
        bucket.push(Mute {
            name,
            shape,
            conn,
            until,
        });
        match self.shapes.iter_mut().find(|(s, _)| *s == shape) {
            Some((_, n)) => *n += 1,
            None => self.shapes.push((shape, 1)),
        }
    }

    /// Drops the mutes no event at or after `now` can meet.
    pub fn sweep(&mut self, now: f64) {
        let shapes = &mut self.shapes;
        self.by_hash.retain(|_, ms| {
            ms.retain(|m| {
                let keep = now < m.until;
                if !keep {
                    if let Some((_, n)) = shapes.iter_mut().find(|(s, _)| *s == m.shape) {
                        *n -= 1;
                    }
                }
                keep
            });
            !ms.is_empty()
        });
        shapes.retain(|(_, n)| *n > 0);
    }
}

/// Why a `mute` call is refused, if it is.
pub fn check(name: &str, conn: &ConnMatch, until: f64) -> Result<(), String> {
    if !valid_event_name(name) {
        return Err("an event name has 1 to 128 characters".into());
    }
    if shape_of(conn) == 0 {
        return Err("a mute sets at least one connection field".into());
    }
    if until.is_nan() {
        return Err("until is not a number".into());
    }
    Ok(())
}

fn shape_of(m: &ConnMatch) -> Shape {
    let mut s = 0;
    if m.orig_h.is_some() {
        s |= ORIG_H;
    }
    if m.resp_h.is_some() {
        s |= RESP_H;
    }
    if m.resp_p.is_some() {
        s |= RESP_P;
    }
    if m.service.is_some() {
        s |= SERVICE;
    }
    s
}

/// The hash a mute is filed under: `key_hash` of its set fields (the unset ones are not
/// hashed, so any value stands in for them).
fn match_hash(name: &str, m: &ConnMatch) -> u64 {
    const ANY_ADDR: IpAddress = IpAddress::V4((0, 0, 0, 0));
    const ANY_PORT: Port = Port {
        number: 0,
        proto: Transport::Unknown,
    };
    let no_service = Vec::new();
    key_hash(
        name,
        shape_of(m),
        m.orig_h.unwrap_or(ANY_ADDR),
        m.resp_h.unwrap_or(ANY_ADDR),
        m.resp_p.unwrap_or(ANY_PORT),
        m.service.as_ref().unwrap_or(&no_service),
    )
}

/// The hash a mute of `shape` covering a connection with these fields is filed under.
fn key_hash(
    name: &str,
    shape: Shape,
    orig_h: IpAddress,
    resp_h: IpAddress,
    resp_p: Port,
    service: &Vec<String>,
) -> u64 {
    let mut h = DefaultHasher::new();
    name.hash(&mut h);
    shape.hash(&mut h);
    if shape & ORIG_H != 0 {
        hash_addr(orig_h, &mut h);
    }
    if shape & RESP_H != 0 {
        hash_addr(resp_h, &mut h);
    }
    if shape & RESP_P != 0 {
        hash_port(resp_p, &mut h);
    }
    if shape & SERVICE != 0 {
        service.hash(&mut h);
    }
    h.finish()
}

fn hash_addr(a: IpAddress, h: &mut DefaultHasher) {
    match a {
        IpAddress::V4(v) => (4u8, v).hash(h),
        IpAddress::V6(v) => (6u8, v).hash(h),
    }
}

fn hash_port(p: Port, h: &mut DefaultHasher) {
    let proto: u8 = match p.proto {
        Transport::Tcp => 6,
        Transport::Udp => 17,
        Transport::Icmp => 1,
        Transport::Unknown => 0,
    };
    (p.number, proto).hash(h);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::ConnId;

    fn addr(last: u8) -> IpAddress {
        IpAddress::V4((10, 0, 0, last))
    }

    fn tcp(number: u16) -> Port {
        Port {
            number,
            proto: Transport::Tcp,
        }
    }

    fn conn_end(ts: f64, resp: u8, port: u16, service: &[&str]) -> Event {
        Event {
            name: "connection_state_remove".into(),
            ts,
            conn: Some(ConnInfo {
                uid: "C1".into(),
                id: ConnId {
                    orig_h: addr(1),
                    orig_p: tcp(40000),
                    resp_h: addr(resp),
                    resp_p: tcp(port),
                },
                start: ts,
                duration: 0.0,
                orig_bytes: 0,
                resp_bytes: 0,
                orig_pkts: 1,
                resp_pkts: 1,
                conn_state: "SF".into(),
                history: "ShADadFf".into(),
                service: service.iter().map(|s| s.to_string()).collect(),
                local_orig: true,
                local_resp: true,
                tunnel_parents: Vec::new(),
            }),
            args: Vec::new(),
        }
    }

    fn service_match(resp: u8, port: u16, service: &[&str]) -> ConnMatch {
        ConnMatch {
            orig_h: None,
            resp_h: Some(addr(resp)),
            resp_p: Some(tcp(port)),
            service: Some(service.iter().map(|s| s.to_string()).collect()),
        }
    }

    #[test]
    fn covers_matching_connections_until_expiry() {
        let mut t = MuteTable::default();
        let name = "connection_state_remove";
        t.add(name.into(), service_match(2, 80, &["http"]), 100.0);
        assert!(t.covers(&conn_end(10.0, 2, 80, &["http"])));
        assert!(t.covers(&conn_end(99.9, 2, 80, &["http"])));
        // Expired, another port, another host, another service list, another event.
        assert!(!t.covers(&conn_end(100.0, 2, 80, &["http"])));
        assert!(!t.covers(&conn_end(10.0, 2, 8080, &["http"])));
        assert!(!t.covers(&conn_end(10.0, 3, 80, &["http"])));
        assert!(!t.covers(&conn_end(10.0, 2, 80, &[])));
        assert!(!t.covers(&conn_end(10.0, 2, 80, &["http", "ssl"])));
        let mut other = conn_end(10.0, 2, 80, &["http"]);
        other.name = "new_connection".into();
        assert!(!t.covers(&other));
        // No connection: never muted.
        other.name = name.into();
        other.conn = None;
        assert!(!t.covers(&other));
    }

    #[test]
    fn shapes_and_replacement() {
        let mut t = MuteTable::default();
        let name = "connection_state_remove";
        let by_orig = ConnMatch {
            orig_h: Some(addr(1)),
            resp_h: None,
            resp_p: None,
            service: None,
        };
        t.add(name.into(), by_orig.clone(), 50.0);
        // Every connection from 10.0.0.1, whatever its responder.
        assert!(t.covers(&conn_end(1.0, 7, 22, &[])));
        t.add(name.into(), by_orig, 20.0);
        assert_eq!(t.len(), 1, "the same mute again replaces until");
        assert!(!t.covers(&conn_end(30.0, 7, 22, &[])));
        t.add(name.into(), service_match(2, 80, &[]), 40.0);
        assert_eq!(t.len(), 2);
        assert!(t.covers(&conn_end(30.0, 2, 80, &[])));
        t.sweep(30.0);
        assert_eq!(t.len(), 1, "the orig_h mute ended at 20");
        assert!(t.covers(&conn_end(35.0, 2, 80, &[])));
        t.sweep(40.0);
        assert!(t.is_empty());
        assert!(!t.covers(&conn_end(35.0, 2, 80, &[])));
    }

    #[test]
    fn refused_mutes() {
        let none = ConnMatch {
            orig_h: None,
            resp_h: None,
            resp_p: None,
            service: None,
        };
        assert!(check("x", &none, 1.0).is_err());
        let m = service_match(2, 80, &[]);
        assert!(check("", &m, 1.0).is_err());
        assert!(check("x", &m, f64::NAN).is_err());
        assert!(check("x", &m, f64::INFINITY).is_ok());
    }
}
