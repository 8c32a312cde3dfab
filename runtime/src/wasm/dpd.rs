//! Dynamic protocol detection: which analyzers a connection gets.
//!
//! As in Zeek, an analyzer is attached by the connection's responder port (the manifest's
//! `ports`) or by a payload signature (the manifest's `signatures`, regular expressions over
//! bytes). All signatures of a transport are compiled into one `RegexSet` and run once over the
//! first payload bytes of each direction, so the cost does not grow with the number of
//! analyzers. The analyzer then confirms (conn.log `service`) or reports a violation (detached).

use std::collections::HashMap;

use regex::bytes::{RegexSet, RegexSetBuilder};

use super::manifest::{Manifest, Transport};

/// Payload bytes of a direction that signatures look at (Zeek's dpd_buffer_size).
pub const SIGNATURE_WINDOW: usize = 1024;

/// Port and signature tables of one transport.
#[derive(Default)]
struct Table {
    /// Responder port -> analyzer indices.
    ports: HashMap<u16, Vec<usize>>,
    /// All signatures and, per signature, the analyzer it belongs to.
    signatures: Option<(RegexSet, Vec<usize>)>,
}

/// Detection tables for a set of analyzers (indices into the caller's analyzer list).
#[derive(Default)]
pub struct Dpd {
    tcp: Table,
    udp: Table,
}

impl Dpd {
    /// Builds the tables from the analyzers' manifests (already validated at load).
    pub fn new<'a>(analyzers: impl Iterator<Item = &'a Manifest>) -> Self {
        let mut dpd = Dpd::default();
        let [mut tcp_sigs, mut udp_sigs]: [(Vec<String>, Vec<usize>); 2] = Default::default();
        for (i, m) in analyzers.enumerate() {
            let Some(a) = &m.analyzer else { continue };
            for (t, table, sig) in [
                (Transport::Tcp, &mut dpd.tcp, &mut tcp_sigs),
                (Transport::Udp, &mut dpd.udp, &mut udp_sigs),
            ] {
                if !a.transport.has(t) {
                    continue;
                }
                for &p in &a.ports {
                    let list = table.ports.entry(p).or_default();
                    if !list.contains(&i) {
                        list.push(i);
                    }
                }
                for s in &a.signatures {
                    sig.0.push(s.clone());
                    sig.1.push(i);
                }
            }
        }
        for (table, (patterns, owners)) in [(&mut dpd.tcp, tcp_sigs), (&mut dpd.udp, udp_sigs)] {
            if patterns.is_empty() {
                continue;
            }
            // Each pattern compiled alone at load; together they fit the same limits.
            match RegexSetBuilder::new(patterns.iter())
                .size_limit(16 << 20)
                .dfa_size_limit(16 << 20)
                .build()
            {
                Ok(set) => table.signatures = Some((set, owners)),
                Err(e) => eprintln!("sandpiper: warning: payload signatures disabled: {e}"),
            }
        }
        dpd
    }

    fn table(&self, tcp: bool) -> &Table {
        if tcp {
            &self.tcp
        } else {
            &self.udp
        }
    }

    /// Analyzers registered for a responder port.
    pub fn by_port(&self, tcp: bool, resp_port: u16) -> &[usize] {
        self.table(tcp)
            .ports
            .get(&resp_port)
            .map_or(&[], |v| v.as_slice())
    }

    /// Whether any analyzer of this transport has signatures.
    pub fn has_signatures(&self, tcp: bool) -> bool {
        self.table(tcp).signatures.is_some()
    }

    /// Analyzers whose signature matches the first bytes of a direction, in analyzer order.
    pub fn by_payload(&self, tcp: bool, payload: &[u8], out: &mut Vec<usize>) {
        out.clear();
        let Some((set, owners)) = &self.table(tcp).signatures else {
            return;
        };
        let window = &payload[..payload.len().min(SIGNATURE_WINDOW)];
        for i in set.matches(window).iter() {
            if !out.contains(&owners[i]) {
                out.push(owners[i]);
            }
        }
        out.sort_unstable();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(name: &str, transport: &str, ports: &str, sigs: &str) -> Manifest {
        Manifest::parse(&format!(
            "name = \"{name}\"\nkind = \"protocol-analyzer\"\nversion = \"0.1.0\"\n\
             [analyzer]\ntransport = {transport}\nports = {ports}\nsignatures = {sigs}\n"
        ))
        .unwrap()
    }

    #[test]
    fn ports_and_signatures() {
        let ms = [
            manifest(
                "http",
                "\"tcp\"",
                "[80, 8080]",
                r"['^(GET|POST) [^ ]+ HTTP/1\.', '^HTTP/1\.[01] [0-9]{3}']",
            ),
            manifest("dns", "[\"udp\", \"tcp\"]", "[53]", "[]"),
        ];
        let dpd = Dpd::new(ms.iter());
        assert_eq!(dpd.by_port(true, 80), &[0]);
        assert_eq!(dpd.by_port(true, 53), &[1]);
        assert_eq!(dpd.by_port(false, 53), &[1]);
        assert!(dpd.by_port(false, 80).is_empty());
        assert!(dpd.has_signatures(true) && !dpd.has_signatures(false));
        let mut out = Vec::new();
        dpd.by_payload(
            true,
            b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n",
            &mut out,
        );
        assert_eq!(out, [0]);
        dpd.by_payload(true, b"HTTP/1.1 200 OK\r\n", &mut out);
        assert_eq!(out, [0]);
        dpd.by_payload(true, b"\x16\x03\x01\x02\x00", &mut out);
        assert!(out.is_empty());
        dpd.by_payload(false, b"GET / HTTP/1.1\r\n", &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn signatures_see_only_the_window() {
        let ms = [manifest("late", "\"tcp\"", "[]", "['MAGIC']")];
        let dpd = Dpd::new(ms.iter());
        let mut data = vec![b'.'; SIGNATURE_WINDOW];
        data.extend_from_slice(b"MAGIC");
        let mut out = Vec::new();
        dpd.by_payload(true, &data, &mut out);
        assert!(out.is_empty());
        dpd.by_payload(true, &data[SIGNATURE_WINDOW - 10..], &mut out);
        assert_eq!(out, [0]);
    }
}
