//! A connection's `conn-info` as the packet thread hands it to the event-handler thread.
//!
//! Core events (`new_connection`, `connection_established`, `connection_state_remove`) carry
//! the connection. Building the WIT `ConnInfo` where they are raised took the packet thread
//! six allocations per event (the uid, conn_state and history strings, the service list and
//! its strings, the event name), which the handler thread then freed across threads. A
//! snapshot copies the same facts by value (the uid as its number, history inline, service
//! names as the interned `&'static str` the flow table keeps) and is turned into a `ConnInfo`
//! on the handler thread.

use std::net::IpAddr;

use smallvec::SmallVec;

use super::bindings::types::{ConnId, ConnInfo, Port, Transport};
use super::streams::ip_address;
use crate::flow::uid::Uid;
use crate::flow::{Conn, Proto};
use crate::site::LocalNets;

/// The facts of `conn-info`, by value.
#[derive(Debug, Clone)]
pub struct ConnSnapshot {
    uid: Uid,
    orig_h: IpAddr,
    orig_p: u16,
    resp_h: IpAddr,
    resp_p: u16,
    proto: Proto,
    /// Microseconds.
    start: i64,
    duration: i64,
    orig_bytes: u64,
    resp_bytes: u64,
    orig_pkts: u64,
    resp_pkts: u64,
    conn_state: &'static str,
    /// History letters: a few dozen at most in practice (Zeek's repetition rules keep it
    /// short), longer ones spill to the heap.
    history: SmallVec<[u8; 32]>,
    service: SmallVec<[&'static str; 2]>,
    local_orig: bool,
    local_resp: bool,
    tunnel_parents: SmallVec<[Uid; 1]>,
}

impl ConnSnapshot {
    pub fn of(c: &Conn, local: &LocalNets) -> Self {
        let (orig_bytes, resp_bytes) = c.bytes();
        ConnSnapshot {
            uid: c.uid,
            orig_h: c.orig_h,
            orig_p: c.orig_p,
            resp_h: c.resp_h,
            resp_p: c.resp_p,
            proto: c.proto,
            start: c.start,
            duration: c.duration(),
            orig_bytes,
            resp_bytes,
            orig_pkts: c.orig.pkts,
            resp_pkts: c.resp.pkts,
            conn_state: c.conn_state(),
            history: SmallVec::from_slice(c.history.as_str().as_bytes()),
            service: c.service.iter().copied().collect(),
            local_orig: local.is_local(c.orig_h),
            local_resp: local.is_local(c.resp_h),
            tunnel_parents: c.tunnel_parents.iter().copied().collect(),
        }
    }

    /// What a handler sees of the connection.
    pub fn info(&self) -> ConnInfo {
        let proto = match self.proto {
            Proto::Tcp => Transport::Tcp,
            Proto::Udp => Transport::Udp,
            Proto::Icmp => Transport::Icmp,
            Proto::Unknown => Transport::Unknown,
        };
        let port = |number| Port { number, proto };
        ConnInfo {
            uid: self.uid.to_string_with(b'C'),
            id: ConnId {
                orig_h: ip_address(self.orig_h),
                orig_p: port(self.orig_p),
                resp_h: ip_address(self.resp_h),
                resp_p: port(self.resp_p),
            },
            start: self.start as f64 / 1e6,
            duration: self.duration as f64 / 1e6,
            orig_bytes: self.orig_bytes,
            resp_bytes: self.resp_bytes,
            orig_pkts: self.orig_pkts,
            resp_pkts: self.resp_pkts,
            conn_state: self.conn_state.to_string(),
            // Copied from the history's `&str`, so always UTF-8.
            history: String::from_utf8_lossy(&self.history).into_owned(),
            service: self.service.iter().map(|s| s.to_string()).collect(),
            local_orig: self.local_orig,
            local_resp: self.local_resp,
            tunnel_parents: self
                .tunnel_parents
                .iter()
                .map(|u| u.to_string_with(b'C'))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::history::History;
    use crate::flow::{Analysis, ConnKind, Counters, DatagramConn};

    fn conn(history_flips: usize) -> Conn {
        let mut history = History::new();
        history.add(true, b'D');
        history.add(false, b'd');
        // Each flip adds a '^': enough of them spill the inline history.
        for _ in 0..history_flips {
            history.flip();
        }
        Conn {
            uid: Uid(0x0123_4567_89ab_cdef, 0xfeed_beef),
            orig_h: "192.168.1.5".parse().unwrap(),
            orig_p: 40_000,
            resp_h: "2606:4700::1111".parse().unwrap(),
            resp_p: 53,
            proto: Proto::Udp,
            ip_proto: 17,
            start: 1_700_000_000_250_000,
            last: 1_700_000_001_750_000,
            orig: Counters {
                pkts: 3,
                ip_bytes: 200,
            },
            resp: Counters {
                pkts: 2,
                ip_bytes: 300,
            },
            history,
            missed_bytes: 0,
            kind: ConnKind::Udp(DatagramConn {
                orig_bytes: Some(120),
                resp_bytes: Some(240),
                ..DatagramConn::default()
            }),
            vlan: None,
            inner_vlan: None,
            weirds: Vec::new(),
            service: vec!["dns", "-http"],
            analysis: Analysis::Off,
            tunnel_parents: vec![Uid(1, 2), Uid(3, 4)],
            session_timeout: None,
            tunnel_sides: 0,
        }
    }

    #[test]
    fn the_snapshot_gives_the_connections_conn_info() {
        for flips in [0, 40] {
            let c = conn(flips);
            let local = LocalNets::default();
            let info = ConnSnapshot::of(&c, &local).info();
            assert_eq!(info.uid, c.uid.to_string_with(b'C'));
            assert_eq!(info.id.orig_h, ip_address(c.orig_h));
            assert_eq!(
                info.id.orig_p,
                Port {
                    number: 40_000,
                    proto: Transport::Udp
                }
            );
            assert_eq!(info.id.resp_h, ip_address(c.resp_h));
            assert_eq!(
                info.id.resp_p,
                Port {
                    number: 53,
                    proto: Transport::Udp
                }
            );
            assert_eq!(info.start, 1_700_000_000.25);
            assert_eq!(info.duration, 1.5);
            assert_eq!((info.orig_bytes, info.resp_bytes), (120, 240));
            assert_eq!((info.orig_pkts, info.resp_pkts), (3, 2));
            assert_eq!(info.conn_state, c.conn_state());
            assert_eq!(info.history, c.history.as_str());
            assert_eq!(info.history.len(), 2 + flips);
            assert_eq!(info.service, ["dns", "-http"]);
            assert!(info.local_orig, "private address space is local by default");
            assert!(!info.local_resp);
            assert_eq!(
                info.tunnel_parents,
                [
                    Uid(1, 2).to_string_with(b'C'),
                    Uid(3, 4).to_string_with(b'C')
                ]
            );
        }
    }
}
