//! Zeek's `policy/protocols/conn/known-hosts.zeek` as a Sandpiper event handler: known_hosts.log
//! gets one row per local address that took part in an established TCP connection, the first
//! time it is seen in this run.
//!
//! # The rule, and how it differs from Zeek
//!
//! Zeek's script handles `connection_established`, which the TCP analyzer raises when the
//! responder's SYN-ACK arrives (`TCPSessionAdapter::UpdateInactiveState`), and logs the
//! connection's addresses only if both endpoints are then `TCP_ESTABLISHED`, which needs the
//! originator to have sent the SYN first (or the SYN/SYN-ACK reversal that Zeek flips). It logs
//! the addresses that match `Known::host_tracking` (`LOCAL_HOSTS` by default) and suppresses
//! repeats with `Known::hosts`, a `set[addr] &create_expire=1day`.
//!
//! This handler sees a connection once, when it ends (`connection_state_remove`), so it reads the
//! handshake from conn.log's `history`: a TCP connection counts when its history holds both `S`
//! (a SYN without ACK from the originator) and `h` (a SYN-ACK from the responder), the two
//! packets that make Zeek raise `connection_established` with both endpoints established. The
//! reversal case qualifies too, since the flipped history also holds `S` and `h`. One corner
//! differs: an unsolicited SYN-ACK later followed by the originator's SYN also has both letters,
//! while Zeek would not log it.
//!
//! Other differences:
//! - "Local" is the host's `--local-nets` view (`local-orig` / `local-resp`), the equivalent of
//!   `LOCAL_HOSTS`.
//! - `ts` is the connection's start time (the first packet), not the network time at which the
//!   SYN-ACK arrived, which conn-info does not carry.
//! - An address is logged once per run; there is no daily expiry.

use std::collections::HashSet;
use std::net::IpAddr;

use sandpiper_sdk::log;
use sandpiper_sdk::packed::{each_event, ConnFields, Events, Transport};
use sandpiper_sdk::types::{Field, IpAddress, LogSchema, Row, ScalarType, Value};
use sandpiper_sdk::PackedHandler;

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The event that carries each finished connection.
const CONN_END: &str = "connection_state_remove";

/// The host takes at most this many rows per `log::write` call.
const MAX_ROWS_PER_WRITE: usize = 4096;

#[derive(Default)]
struct KnownHosts {
    /// The known_hosts stream, created on first use.
    stream: Option<log::StreamId>,
    /// Addresses already logged in this run (Zeek's `Known::hosts`).
    known: HashSet<IpAddr>,
}

/// Zeek's `Known::HostsInfo`: `ts: time`, `host: addr`.
fn schema() -> LogSchema {
    LogSchema {
        path: "known_hosts".to_string(),
        fields: vec![
            Field::new("ts", ScalarType::Time),
            Field::new("host", ScalarType::Addr),
        ],
    }
}

/// Whether the connection completed a TCP handshake as Zeek's `connection_established` +
/// both-endpoints-established test sees it (see the crate docs).
fn established(conn: &ConnFields<'_>) -> bool {
    conn.orig_transport == Transport::Tcp
        && conn.history.contains('S')
        && conn.history.contains('h')
}

/// The local endpoints of a connection (an address talking to itself comes twice; the known set
/// keeps it to one row).
fn local_hosts(conn: &ConnFields<'_>) -> impl Iterator<Item = IpAddr> {
    let orig = conn.local_orig.then_some(conn.orig_h);
    let resp = conn.local_resp.then_some(conn.resp_h);
    orig.into_iter().chain(resp)
}

impl KnownHosts {
    fn stream(&mut self) -> Option<log::StreamId> {
        if self.stream.is_none() {
            match log::create_stream(&schema()) {
                Ok(id) => self.stream = Some(id),
                Err(e) => eprintln!("known-hosts: cannot create the known_hosts stream: {e}"),
            }
        }
        self.stream
    }

    fn forget(&mut self, ips: &[IpAddr]) {
        for ip in ips {
            self.known.remove(ip);
        }
    }
}

impl PackedHandler for KnownHosts {
    fn handle(&mut self, events: Events<'_>) {
        let mut rows: Vec<Row> = Vec::new();
        let mut new: Vec<IpAddr> = Vec::new();
        for ev in each_event(events, "known-hosts") {
            let Some(conn) = ev.conn.filter(|_| ev.name == CONN_END) else {
                continue;
            };
            let conn = &conn.fields;
            if !established(conn) {
                continue;
            }
            for ip in local_hosts(conn) {
                if !self.known.insert(ip) {
                    continue;
                }
                new.push(ip);
                rows.push(vec![
                    Value::Time(conn.start),
                    Value::Addr(IpAddress::from(ip)),
                ]);
            }
        }
        if rows.is_empty() {
            return;
        }
        // Only what was written stays known, so a host whose row could not be written is tried
        // again with its next connection.
        let Some(stream) = self.stream() else {
            self.forget(&new);
            return;
        };
        for (chunk, ips) in rows
            .chunks(MAX_ROWS_PER_WRITE)
            .zip(new.chunks(MAX_ROWS_PER_WRITE))
        {
            if let Err(e) = log::write(stream, chunk) {
                eprintln!("known-hosts: writing known_hosts failed: {e}");
                self.forget(ips);
            }
        }
    }
}

sandpiper_sdk::export_packed_handler!(KnownHosts);
