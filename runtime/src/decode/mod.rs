//! Packet decoding: link layer, IP, fragments, transport headers.
//!
//! Everything here borrows from the capture buffer; nothing allocates per packet
//! (fragment reassembly reuses its buffers). Malformed input yields a Zeek weird name.

pub mod checksum;
pub mod frag;
pub mod ip;
pub mod link;
pub mod tunnel;

use etherparse::{TcpSlice, UdpSlice};

pub use ip::{FragInfo, IpPacket};
pub use link::{amsdu_subframes, decode_link, ieee80211_amsdu, linktype, L3Kind, LinkFrame};

/// TCP flag bits as in the header.
pub mod tcp_flags {
    pub const FIN: u8 = 0x01;
    pub const SYN: u8 = 0x02;
    pub const RST: u8 = 0x04;
    pub const PSH: u8 = 0x08;
    pub const ACK: u8 = 0x10;
    pub const URG: u8 = 0x20;
}

/// A decoded TCP segment.
#[derive(Debug, Clone, Copy)]
pub struct TcpSegment<'a> {
    pub sport: u16,
    pub dport: u16,
    pub seq: u32,
    pub ack: u32,
    pub flags: u8,
    pub window: u16,
    pub options: &'a [u8],
    /// Payload bytes captured.
    pub payload: &'a [u8],
    /// Payload length announced by the IP header.
    pub payload_len: u32,
}

impl TcpSegment<'_> {
    #[inline]
    pub fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }
    /// Window scale option value, if present.
    pub fn window_scale(&self) -> Option<u8> {
        let mut o = self.options;
        while let Some(&kind) = o.first() {
            match kind {
                0 => return None,
                1 => o = &o[1..],
                _ => {
                    let len = *o.get(1)? as usize;
                    if len < 2 || len > o.len() {
                        return None;
                    }
                    if kind == 3 && len >= 3 {
                        return Some(o[2]);
                    }
                    o = &o[len..];
                }
            }
        }
        None
    }
}

#[derive(Debug, Clone, Copy)]
pub struct UdpDatagram<'a> {
    pub sport: u16,
    pub dport: u16,
    /// UDP length field.
    pub ulen: u16,
    pub payload: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
pub struct IcmpMessage<'a> {
    pub v6: bool,
    pub icmp_type: u8,
    pub code: u8,
    /// ICMP length (header included) per the IP header.
    pub len: u32,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
pub enum Transport<'a> {
    Tcp(TcpSegment<'a>),
    /// A TCP header whose fixed 20 bytes are there but whose length field is below 20 or
    /// beyond what was captured: the segment (ports, numbers, flags; no options, no payload)
    /// and the weird Zeek reports for it. Zeek still finds or creates the connection.
    TcpHeaderOnly(TcpSegment<'a>, &'static str),
    Udp(UdpDatagram<'a>),
    Icmp(IcmpMessage<'a>),
    /// Any other IP protocol: tracked as Zeek's `unknown_transport`.
    Other,
}

/// Decodes the transport header. Checksums are verified by the caller (it knows
/// whether they are to be ignored, and whether the packet was cut by the snaplen).
pub fn decode_transport<'a>(ip: &IpPacket<'a>) -> Result<Transport<'a>, &'static str> {
    match ip.proto {
        6 => {
            if ip.payload.len() < 20 {
                return Err("truncated_header");
            }
            let off = (ip.payload[12] >> 4) as usize * 4;
            let cut = if off < 20 {
                Some("bad_TCP_header_len")
            } else if off > ip.payload.len() || off as u32 > ip.payload_len {
                Some("truncated_header")
            } else {
                None
            };
            if let Some(weird) = cut {
                let h = ip.payload;
                let word = |at: usize| u32::from_be_bytes([h[at], h[at + 1], h[at + 2], h[at + 3]]);
                return Ok(Transport::TcpHeaderOnly(
                    TcpSegment {
                        sport: u16::from_be_bytes([h[0], h[1]]),
                        dport: u16::from_be_bytes([h[2], h[3]]),
                        seq: word(4),
                        ack: word(8),
                        flags: h[13],
                        window: u16::from_be_bytes([h[14], h[15]]),
                        options: &[],
                        payload: &[],
                        payload_len: 0,
                    },
                    weird,
                ));
            }
            let t = TcpSlice::from_slice(ip.payload).map_err(|_| "truncated_header")?;
            let payload = &ip.payload[off..];
            Ok(Transport::Tcp(TcpSegment {
                sport: t.source_port(),
                dport: t.destination_port(),
                seq: t.sequence_number(),
                ack: t.acknowledgment_number(),
                flags: ip.payload[13],
                window: t.window_size(),
                options: &ip.payload[20..off],
                payload,
                payload_len: ip.payload_len - off as u32,
            }))
        }
        17 => {
            let u = UdpSlice::from_slice_lax(ip.payload).map_err(|_| "truncated_header")?;
            let ulen = u.length();
            let payload_end = (ulen as usize)
                .clamp(8, ip.payload.len().max(8))
                .min(ip.payload.len());
            Ok(Transport::Udp(UdpDatagram {
                sport: u.source_port(),
                dport: u.destination_port(),
                ulen,
                payload: &ip.payload[8.min(payload_end)..payload_end],
            }))
        }
        1 | 58 => {
            if ip.payload.len() < 4 {
                return Err("truncated_header");
            }
            Ok(Transport::Icmp(IcmpMessage {
                v6: ip.proto == 58,
                icmp_type: ip.payload[0],
                code: ip.payload[1],
                len: ip.payload_len,
                body: &ip.payload[4..],
            }))
        }
        _ => Ok(Transport::Other),
    }
}

/// Whether the transport checksum of a fully captured packet is correct.
pub fn transport_checksum_ok(ip: &IpPacket<'_>) -> bool {
    if ip.payload.len() as u32 != ip.payload_len {
        // Cut by the snaplen: nothing to verify against.
        return true;
    }
    match ip.proto {
        6 => checksum::transport_ok(ip.src, ip.dst, 6, ip.payload),
        17 => {
            // A zero UDP checksum over IPv4 means "none".
            if !ip.is_v6() && ip.payload.len() >= 8 && ip.payload[6] == 0 && ip.payload[7] == 0 {
                return true;
            }
            checksum::transport_ok(ip.src, ip.dst, 17, ip.payload)
        }
        1 => checksum::icmpv4_ok(ip.payload),
        58 => checksum::transport_ok(ip.src, ip.dst, 58, ip.payload),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn ip_with(proto: u8, payload: &[u8]) -> IpPacket<'_> {
        IpPacket {
            src: "192.168.0.1".parse::<IpAddr>().unwrap(),
            dst: "192.168.0.2".parse::<IpAddr>().unwrap(),
            proto,
            ip_len: 20 + payload.len() as u32,
            header: &[],
            payload,
            payload_len: payload.len() as u32,
            frag: None,
            ttl: 64,
        }
    }

    #[test]
    fn tcp_header_and_options() {
        let mut seg = vec![
            0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0x20, 0x00, 0, 0, 0, 0,
        ];
        seg.extend_from_slice(&[1, 3, 3, 7]); // NOP, wscale 7
        seg.extend_from_slice(b"hi");
        match decode_transport(&ip_with(6, &seg)).unwrap() {
            Transport::Tcp(t) => {
                assert_eq!((t.sport, t.dport, t.seq), (1234, 80, 1));
                assert!(t.has(tcp_flags::SYN));
                assert_eq!(t.window_scale(), Some(7));
                assert_eq!(t.payload, b"hi");
                assert_eq!(t.payload_len, 2);
            }
            _ => panic!(),
        }
    }

    #[test]
    fn tcp_bad_offsets() {
        // The fixed header is there: the connection is still found (ports, flags), as in
        // Zeek, with the weird for what is wrong.
        let mut seg = vec![0u8; 20];
        seg[..4].copy_from_slice(&[0x01, 0xbb, 0xde, 0x80]);
        seg[13] = 0x12;
        seg[12] = 0x40;
        match decode_transport(&ip_with(6, &seg)).unwrap() {
            Transport::TcpHeaderOnly(t, w) => {
                assert_eq!(
                    (t.sport, t.dport, t.flags, w),
                    (443, 56960, 0x12, "bad_TCP_header_len")
                );
                assert!(t.payload.is_empty() && t.options.is_empty());
            }
            t => panic!("{t:?}"),
        }
        seg[12] = 0xf0;
        assert!(matches!(
            decode_transport(&ip_with(6, &seg)).unwrap(),
            Transport::TcpHeaderOnly(_, "truncated_header")
        ));
        // Not even the ports: no connection.
        assert_eq!(
            decode_transport(&ip_with(6, &seg[..7])).unwrap_err(),
            "truncated_header"
        );
    }

    #[test]
    fn udp_and_icmp() {
        let d = [0, 53, 0x30, 0x39, 0, 10, 0, 0, 0xaa, 0xbb];
        match decode_transport(&ip_with(17, &d)).unwrap() {
            Transport::Udp(u) => {
                assert_eq!((u.sport, u.dport, u.ulen), (53, 12345, 10));
                assert_eq!(u.payload, &[0xaa, 0xbb]);
            }
            _ => panic!(),
        }
        let i = [8, 0, 0, 0, 1, 2, 3, 4];
        match decode_transport(&ip_with(1, &i)).unwrap() {
            Transport::Icmp(m) => assert_eq!((m.icmp_type, m.code, m.len), (8, 0, 8)),
            _ => panic!(),
        }
        assert!(matches!(
            decode_transport(&ip_with(132, &[])).unwrap(),
            Transport::Other
        ));
    }

    #[test]
    fn zero_udp_checksum_is_accepted_on_v4() {
        let d = [0, 53, 0x30, 0x39, 0, 8, 0, 0];
        assert!(transport_checksum_ok(&ip_with(17, &d)));
        let d = [0, 53, 0x30, 0x39, 0, 8, 0x12, 0x34];
        assert!(!transport_checksum_ok(&ip_with(17, &d)));
    }
}
