//! Connections with Zeek's semantics: who is originator and responder, state,
//! history, byte and packet counts, and when a connection ends.

pub mod chunked;
pub mod community_id;
pub mod history;
pub mod index;
pub mod key;
pub mod ports;
pub mod reassembly;
pub mod stream;
pub mod table;
pub mod tcp;
pub mod timeouts;
pub mod timer_wheel;
pub mod uid;

use std::net::IpAddr;

use crate::decode::tunnel::UdpTunnel;
use history::{History, ScaledCounter};
use tcp::TcpConn;
use uid::Uid;

/// Transport protocol as Zeek's conn.log `proto` enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
    Icmp,
    Unknown,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Unknown => "unknown_transport",
        }
    }
}

/// Per-direction byte counts of a datagram protocol: `None` until it sent anything.
#[derive(Debug, Clone, Default)]
pub struct DatagramConn {
    pub orig_bytes: Option<u64>,
    pub resp_bytes: Option<u64>,
    pub orig_chk: ScaledCounter,
    pub resp_chk: ScaledCounter,
}

impl DatagramConn {
    pub fn add(&mut self, is_orig: bool, n: u64) {
        let side = if is_orig {
            &mut self.orig_bytes
        } else {
            &mut self.resp_bytes
        };
        *side = Some(side.unwrap_or(0) + n);
    }

    fn flip(&mut self) {
        std::mem::swap(&mut self.orig_bytes, &mut self.resp_bytes);
        std::mem::swap(&mut self.orig_chk, &mut self.resp_chk);
    }
}

#[derive(Debug, Clone)]
// TCP state is inline although it makes every connection as large as a TCP one: behind a
// box it was one more dependent cache miss on every segment, which cost more than the
// memory (a few hundred bytes per UDP or ICMP flow) saves.
#[allow(clippy::large_enum_variant)]
pub enum ConnKind {
    Tcp(TcpConn),
    Udp(DatagramConn),
    Icmp(DatagramConn),
    Other(DatagramConn),
}

/// Packet and IP-byte counters of one direction (Zeek's ConnSize analyzer).
#[derive(Debug, Clone, Copy, Default)]
pub struct Counters {
    pub pkts: u64,
    pub ip_bytes: u64,
}

/// Where the protocol analysis of a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Analysis {
    /// No payload seen yet: analyzers are chosen at the first payload.
    #[default]
    Undecided,
    /// No analyzer runs on this connection.
    Off,
    /// Analyzers run; the index of the connection's state in the analyzer pipeline.
    At(u32),
}

/// One connection. Times are microseconds since the epoch.
#[derive(Debug, Clone)]
pub struct Conn {
    pub uid: Uid,
    pub orig_h: IpAddr,
    pub orig_p: u16,
    pub resp_h: IpAddr,
    pub resp_p: u16,
    pub proto: Proto,
    pub ip_proto: u8,
    pub start: i64,
    pub last: i64,
    pub orig: Counters,
    pub resp: Counters,
    pub history: History,
    pub missed_bytes: u64,
    pub kind: ConnKind,
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
    /// Weird names already reported for this connection (Zeek logs each once).
    pub weirds: Vec<&'static str>,
    /// Protocols confirmed on this connection, in confirmation order (conn.log `service`).
    pub service: Vec<&'static str>,
    /// Where protocol analysis of this connection stands.
    pub analysis: Analysis,
    /// The encapsulating connections this one was seen inside (Zeek's tunnel_parents).
    pub tunnel_parents: Vec<Uid>,
    /// Set by an analyzer that expires its UDP sessions itself (Zeek's DNS analyzer and
    /// `dns_session_timeout`): idle this long, in microseconds, the connection is removed.
    /// The table arms the check ([`table::ConnTable::arm_session_timer`]).
    pub session_timeout: Option<i64>,
    /// The sides that sent a packet this connection's UDP tunnel decapsulated (bit 0: the
    /// originator, bit 1: the responder), for tunnels confirmed only once both did.
    pub tunnel_sides: u8,
}

impl Conn {
    /// Zeek's conn_state.
    pub fn conn_state(&self) -> &'static str {
        match &self.kind {
            ConnKind::Tcp(t) => t.conn_state(self.history.as_str()),
            ConnKind::Udp(d) => match (d.orig_bytes.is_some(), d.resp_bytes.is_some()) {
                (true, true) => "SF",
                (true, false) => "S0",
                (false, true) => "SHR",
                (false, false) => "OTH",
            },
            _ => "OTH",
        }
    }

    /// (orig_bytes, resp_bytes) as logged.
    pub fn bytes(&self) -> (u64, u64) {
        match &self.kind {
            ConnKind::Tcp(t) => (t.orig_size(), t.resp_size()),
            ConnKind::Udp(d) | ConnKind::Icmp(d) | ConnKind::Other(d) => {
                (d.orig_bytes.unwrap_or(0), d.resp_bytes.unwrap_or(0))
            }
        }
    }

    pub fn duration(&self) -> i64 {
        self.last - self.start
    }

    /// Swaps originator and responder.
    pub fn flip(&mut self) {
        std::mem::swap(&mut self.orig_h, &mut self.resp_h);
        std::mem::swap(&mut self.orig_p, &mut self.resp_p);
        std::mem::swap(&mut self.orig, &mut self.resp);
        match &mut self.kind {
            ConnKind::Udp(d) | ConnKind::Icmp(d) | ConnKind::Other(d) => d.flip(),
            ConnKind::Tcp(_) => {}
        }
        self.history.flip();
        self.tunnel_sides = (self.tunnel_sides & 1) << 1 | self.tunnel_sides >> 1;
    }

    /// Notes that the originator (`is_orig`) or the responder sent a packet that decapsulated
    /// as `tunnel`, and confirms the tunnel in conn.log `service` when Zeek would: at once,
    /// or for Teredo (Zeek's `Tunnel::delay_teredo_confirmation`, on by default) once both
    /// sides have sent one, so a host answering Teredo-looking packets nobody sent it is not
    /// labelled a Teredo peer.
    pub fn tunnel_packet(&mut self, tunnel: UdpTunnel, is_orig: bool) {
        self.tunnel_sides |= if is_orig { 1 } else { 2 };
        let Some(svc) = tunnel.service() else {
            return;
        };
        if !tunnel.confirms_after_both_sides() || self.tunnel_sides == 3 {
            self.add_service(svc);
        }
    }

    /// Adds a confirmed protocol to conn.log `service` (once).
    pub fn add_service(&mut self, name: &'static str) {
        if !self.service.contains(&name) {
            self.service.push(name);
        }
    }

    /// Community ID of this connection (seed 0).
    pub fn community_id(&self) -> community_id::CommunityId {
        community_id::community_id_v1(
            0,
            self.orig_h,
            self.resp_h,
            self.ip_proto,
            self.orig_p,
            self.resp_p,
        )
    }
}
