//! Test helper: real DNS messages from the Zeek corpus traces (`shared/corpus/zeek/traces`,
//! beside the repository), with their timestamps and endpoints.

use std::fs::File;
use std::net::IpAddr;
use std::path::PathBuf;

use etherparse::{NetSlice, SlicedPacket, TransportSlice};
use pcap_file::pcap::PcapReader;
use pcap_file::DataLink;

/// One UDP datagram or TCP segment payload.
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub struct Pkt {
    pub ts: f64,
    pub src: IpAddr,
    pub dst: IpAddr,
    pub sport: u16,
    pub dport: u16,
    pub tcp: bool,
    pub payload: Vec<u8>,
    /// IPv4 header and UDP checksums are right (Zeek drops the packet otherwise, unless -C).
    pub checksum_ok: bool,
}

/// The corpus trace folder.
pub fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/zeek/traces")
}

/// The UDP and TCP payloads of a trace (relative to the traces folder), in capture order.
/// Packets that are not plain IPv4/IPv6 UDP or TCP (fragments, tunnels) are left out.
pub fn packets(trace: &str) -> Vec<Pkt> {
    let path = traces_dir().join(trace);
    let file = File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = PcapReader::new(file).expect("a pcap file");
    let link = reader.header().datalink;
    let mut out = Vec::new();
    while let Some(pkt) = reader.next_packet() {
        // A packet pcap-file refuses (snap length smaller than the captured length, as some
        // corpus traces have) ends the trace there.
        let Ok(pkt) = pkt else { break };
        let ts = pkt.timestamp.as_secs_f64();
        let sliced = match link {
            DataLink::ETHERNET => SlicedPacket::from_ethernet(&pkt.data),
            DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 => SlicedPacket::from_ip(&pkt.data),
            DataLink::LINUX_SLL => SlicedPacket::from_linux_sll(&pkt.data),
            DataLink::NULL | DataLink::LOOP => match pkt.data.get(4..) {
                Some(d) => SlicedPacket::from_ip(d),
                None => continue,
            },
            _ => continue,
        };
        let Ok(s) = sliced else { continue };
        let mut checksum_ok = true;
        let (src, dst): (IpAddr, IpAddr) = match &s.net {
            Some(NetSlice::Ipv4(ip)) if !ip.is_payload_fragmented() => {
                let h = ip.header().to_header();
                checksum_ok = h.header_checksum == h.calc_header_checksum();
                if let Some(TransportSlice::Udp(u)) = &s.transport {
                    let stored = u.checksum();
                    let calc =
                        u.to_header()
                            .calc_checksum_ipv4_raw(h.source, h.destination, u.payload());
                    checksum_ok &= stored == 0 || calc.ok() == Some(stored);
                }
                (
                    ip.header().source_addr().into(),
                    ip.header().destination_addr().into(),
                )
            }
            Some(NetSlice::Ipv6(ip)) if !ip.is_payload_fragmented() => (
                ip.header().source_addr().into(),
                ip.header().destination_addr().into(),
            ),
            _ => continue,
        };
        let (sport, dport, tcp, payload) = match &s.transport {
            Some(TransportSlice::Udp(u)) => {
                (u.source_port(), u.destination_port(), false, u.payload())
            }
            Some(TransportSlice::Tcp(t)) => {
                (t.source_port(), t.destination_port(), true, t.payload())
            }
            _ => continue,
        };
        out.push(Pkt {
            ts,
            src,
            dst,
            sport,
            dport,
            tcp,
            payload: payload.to_vec(),
            checksum_ok,
        });
    }
    out
}

/// The DNS payloads of a trace (either port in `ports`), non-empty.
pub fn dns_packets(trace: &str) -> Vec<Pkt> {
    const PORTS: [u16; 4] = [53, 137, 5353, 5355];
    packets(trace)
        .into_iter()
        .filter(|p| !p.payload.is_empty() && (PORTS.contains(&p.sport) || PORTS.contains(&p.dport)))
        .collect()
}

/// The UDP DNS messages of a trace.
pub fn udp_messages(trace: &str) -> Vec<Vec<u8>> {
    dns_packets(trace)
        .into_iter()
        .filter(|p| !p.tcp)
        .map(|p| p.payload)
        .collect()
}

/// The UDP DNS message of a trace whose header has this transaction id and QR bit.
pub fn udp_message(trace: &str, id: u16, response: bool) -> Vec<u8> {
    udp_messages(trace)
        .into_iter()
        .find(|m| m.len() >= 3 && m[..2] == id.to_be_bytes() && (m[2] & 0x80 != 0) == response)
        .unwrap_or_else(|| panic!("{trace}: no message {id} (response: {response})"))
}

use sandpiper_sdk::types::{ConnId, ConnInfo, IpAddress, Port, Row, Transport, Value};

use crate::session::{Effects, Session};

/// One connection of a trace: its conn-info (originator = first sender, unless that sender
/// used a DNS port and the other did not) and its payloads as (is_orig, ts, bytes).
pub struct Conn {
    pub info: ConnInfo,
    pub tcp: bool,
    pub packets: Vec<(bool, f64, Vec<u8>)>,
}

/// The DNS connections of a trace, in order of their first packet; packets with bad checksums
/// are dropped unless `ignore_checksums` (Zeek's -C).
pub fn connections(trace: &str, ignore_checksums: bool) -> Vec<Conn> {
    let mut conns: Vec<Conn> = Vec::new();
    for p in dns_packets(trace)
        .into_iter()
        .filter(|p| ignore_checksums || p.checksum_ok)
    {
        let same = |c: &Conn, fwd: bool| {
            let id = &c.info.id;
            let (a, ap, b, bp) = if fwd {
                (p.src, p.sport, p.dst, p.dport)
            } else {
                (p.dst, p.dport, p.src, p.sport)
            };
            c.tcp == p.tcp
                && IpAddr::from(&id.orig_h) == a
                && id.orig_p.number == ap
                && IpAddr::from(&id.resp_h) == b
                && id.resp_p.number == bp
        };
        if let Some(c) = conns.iter_mut().find(|c| same(c, true)) {
            c.packets.push((true, p.ts, p.payload));
            continue;
        }
        if let Some(c) = conns.iter_mut().find(|c| same(c, false)) {
            c.packets.push((false, p.ts, p.payload));
            continue;
        }
        let server_first = p.sport == 53 && p.dport != 53;
        let (oh, op, rh, rp) = if server_first {
            (p.dst, p.dport, p.src, p.sport)
        } else {
            (p.src, p.sport, p.dst, p.dport)
        };
        let proto = if p.tcp {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        let info = ConnInfo::fresh(
            format!("C{}", conns.len()),
            ConnId {
                orig_h: IpAddress::from(oh),
                orig_p: Port { number: op, proto },
                resp_h: IpAddress::from(rh),
                resp_p: Port { number: rp, proto },
            },
            p.ts,
        );
        conns.push(Conn {
            info,
            tcp: p.tcp,
            packets: vec![(!server_first, p.ts, p.payload)],
        });
    }
    conns
}

/// Everything a session produced over a whole connection.
pub fn run(conn: &Conn) -> (Session, Effects) {
    let mut s = Session::new(conn.tcp, conn.info.id.resp_p.number);
    let mut all = Effects::default();
    let add = |fx: Effects, all: &mut Effects| {
        all.rows.extend(fx.rows);
        all.events.extend(fx.events);
        all.weirds.extend(fx.weirds);
        all.confirm |= fx.confirm;
        if all.violation.is_none() {
            all.violation = fx.violation;
        }
    };
    for (is_orig, ts, data) in &conn.packets {
        let fx = s.deliver(*is_orig, data, *ts);
        add(fx, &mut all);
    }
    let fx = s.finish();
    add(fx, &mut all);
    (s, all)
}

/// A row as Zeek's TSV writer prints it, one string per column.
pub fn tsv(row: &Row) -> Vec<String> {
    fn scalar(v: &Value) -> String {
        match v {
            Value::Unset => "-".into(),
            Value::Boolean(b) => (if *b { "T" } else { "F" }).into(),
            Value::Count(n) => n.to_string(),
            Value::Integer(n) => n.to_string(),
            Value::Double(f) | Value::Time(f) | Value::Interval(f) => format!("{f:.6}"),
            Value::Str(s) | Value::Enumeration(s) => {
                if s.is_empty() {
                    return "(empty)".into();
                }
                let mut out = String::new();
                for b in s.bytes() {
                    if b == b'\t' || b == b'\\' || !(0x20..0x7f).contains(&b) {
                        out.push_str(&format!("\\x{b:02x}"));
                    } else {
                        out.push(b as char);
                    }
                }
                out
            }
            Value::Addr(a) => IpAddr::from(a).to_string(),
            Value::Port(p) => p.number.to_string(),
            other => format!("{other:?}"),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(v) = row.get(i) {
        i += 1;
        match v {
            Value::VectorOf(n) | Value::SetOf(n) => {
                let n = *n as usize;
                let items: Vec<String> = row[i..i + n].iter().map(scalar).collect();
                i += n;
                out.push(if items.is_empty() {
                    "(empty)".into()
                } else {
                    items.join(",")
                });
            }
            v => out.push(scalar(v)),
        }
    }
    out
}

/// The data rows of a baseline log of the corpus (`baselines/<case>/<file>`), split in columns.
pub fn baseline_rows(case: &str, file: &str) -> Vec<Vec<String>> {
    let path = traces_dir().join("../baselines").join(case).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect()
}
