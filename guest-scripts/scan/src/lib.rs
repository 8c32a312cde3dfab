//! Zeek's `policy/misc/scan.zeek` as a Sandpiper event handler: `Scan::Address_Scan` when a
//! host fails to connect to 25 hosts on one port, `Scan::Port_Scan` when it fails to connect
//! to 15 ports of one host, each within 5 minutes.
//!
//! - [`failed`]: which connections are failed attempts, and who scanned whom, replayed from
//!   the conn.log history the handler gets at `connection_state_remove` (Zeek uses the
//!   `connection_attempt`, `connection_rejected`, `connection_reset` and `connection_pending`
//!   events, which the host does not raise).
//! - [`detect`]: the two SumStats (unique victims per scanner and port, unique ports per
//!   scanner and victim), their thresholds, epochs and notice texts.
//!
//! This file turns connections into attempts and findings into notices. The README lists
//! where the result can differ from Zeek's.

pub mod detect;
pub mod failed;

use detect::{Attempt, Detector, Finding};
use failed::{Failed, When};
use sandpiper_sdk::packed::{each_event, ConnFields, Events, Transport};
use sandpiper_sdk::types::{IpAddress, Port};

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The event that carries each finished connection.
const CONN_END: &str = "connection_state_remove";

/// Zeek's `tcp_attempt_delay` and `tcp_reset_delay`, seconds.
const TCP_ATTEMPT_DELAY: f64 = 5.0;
const TCP_RESET_DELAY: f64 = 5.0;

/// The attempt scan.zeek's `add_sumstats(c$id, reverse)` observes, with the network time at
/// which Zeek would have observed it. `removed_at` is the `connection_state_remove` time.
pub fn attempt(conn: &ConnFields<'_>, failed: Failed, removed_at: f64) -> Attempt {
    let (scanner, victim, port, scanner_local) = if failed.reverse {
        (conn.resp_h, conn.orig_h, conn.orig_p, conn.local_resp)
    } else {
        (conn.orig_h, conn.resp_h, conn.resp_p, conn.local_orig)
    };
    let last_packet = conn.start + conn.duration;
    // A timer that would have fired after the connection was removed fired at the removal
    // (Zeek expires pending timers at the end of the input).
    let ts = match failed.when {
        When::Packet => last_packet,
        When::AttemptTimer => (conn.start + TCP_ATTEMPT_DELAY)
            .min(removed_at)
            .max(conn.start),
        When::ResetTimer => (last_packet + TCP_RESET_DELAY)
            .min(removed_at)
            .max(last_packet),
    };
    Attempt {
        scanner,
        victim,
        port,
        scanner_local,
        ts,
    }
}

/// The notice scan.zeek's `threshold_crossed` raises for a finding.
pub fn notice(finding: &Finding) -> sandpiper_sdk::notice::Info {
    let (dst, p) = match finding {
        Finding::AddressScan { port, .. } => (None, Some(Port::tcp(*port))),
        Finding::PortScan { victim, .. } => (Some(IpAddress::from(*victim)), None),
    };
    let scanner = finding.scanner();
    sandpiper_sdk::notice::Info {
        note: finding.note().to_string(),
        msg: finding.msg(),
        sub: Some(finding.sub().to_string()),
        uid: None,
        id: None,
        src: Some(IpAddress::from(scanner)),
        dst,
        p,
        n: None,
        // `cat(key$host)`.
        identifier: Some(scanner.to_string()),
        suppress_for: None,
    }
}

#[derive(Default)]
pub struct Scan {
    detector: Detector,
}

impl Scan {
    /// The findings of one finished connection.
    pub fn connection(&mut self, conn: &ConnFields<'_>, removed_at: f64) -> Vec<Finding> {
        // The first connection seen starts the epoch clock (Zeek: the first packet).
        self.detector.start_clock(conn.start);
        if conn.orig_transport != Transport::Tcp {
            return Vec::new();
        }
        failed::failed_attempts(conn.history)
            .into_iter()
            .flat_map(|f| self.detector.observe(&attempt(conn, f, removed_at)))
            .collect()
    }
}

impl sandpiper_sdk::PackedHandler for Scan {
    fn handle(&mut self, events: Events<'_>) {
        for ev in each_event(events, "scan") {
            let Some(conn) = ev.conn.filter(|_| ev.name == CONN_END) else {
                continue;
            };
            for finding in self.connection(&conn.fields, ev.ts) {
                if let Err(e) = sandpiper_sdk::notice::raise(&notice(&finding)) {
                    eprintln!("scan: raising {} failed: {e}", finding.note());
                }
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_packed_handler!(Scan);

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn tcp_conn<'a>(
        orig: &str,
        orig_p: u16,
        resp: &str,
        resp_p: u16,
        history: &'a str,
        start: f64,
    ) -> ConnFields<'a> {
        ConnFields {
            uid: "C1",
            orig_h: orig.parse().unwrap(),
            orig_p,
            orig_transport: Transport::Tcp,
            resp_h: resp.parse().unwrap(),
            resp_p,
            resp_transport: Transport::Tcp,
            start,
            duration: 0.000_1,
            orig_bytes: 0,
            resp_bytes: 0,
            orig_pkts: 0,
            resp_pkts: 0,
            conn_state: "OTH",
            history,
            local_orig: false,
            local_resp: false,
        }
    }

    #[test]
    fn rejected_port_scan_raises_one_port_scan() {
        let mut scan = Scan::default();
        let mut found = Vec::new();
        for port in 1..=20u16 {
            let t = 100.0 + f64::from(port) * 0.01;
            let conn = tcp_conn("127.0.0.1", 40000, "127.0.0.2", port, "Sr", t);
            found.extend(scan.connection(&conn, t + 5.0));
        }
        assert_eq!(found.len(), 1);
        let n = notice(&found[0]);
        assert_eq!(n.note, "Scan::Port_Scan");
        assert_eq!(
            n.msg,
            "127.0.0.1 scanned at least 15 unique ports of host 127.0.0.2 in 0m0s"
        );
        assert_eq!(n.sub.as_deref(), Some("remote"));
        assert_eq!(n.identifier.as_deref(), Some("127.0.0.1"));
        assert!(n.p.is_none());
        assert!(n.dst.is_some() && n.src.is_some());
    }

    #[test]
    fn reverse_attempt_swaps_roles() {
        // An unanswered SYN-ACK: the responder is the scanner, the originator's port scanned.
        let conn = tcp_conn("10.0.0.9", 8080, "10.0.0.1", 51000, "H", 10.0);
        let failed = failed::failed_attempts(conn.history);
        assert_eq!(failed.len(), 1);
        let a = attempt(&conn, failed[0], 70.0);
        assert_eq!(a.scanner, "10.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(a.victim, "10.0.0.9".parse::<IpAddr>().unwrap());
        assert_eq!(a.port, 8080);
        // Observed when the attempt timer fires, 5 s after the SYN-ACK.
        assert_eq!(a.ts, 15.0);
    }

    #[test]
    fn udp_is_ignored() {
        let mut scan = Scan::default();
        for port in 1..=20u16 {
            let mut conn = tcp_conn("10.0.0.1", 5000, "10.0.0.2", port, "D", 1.0);
            conn.orig_transport = Transport::Udp;
            conn.resp_transport = Transport::Udp;
            assert!(scan.connection(&conn, 2.0).is_empty());
        }
    }
}
