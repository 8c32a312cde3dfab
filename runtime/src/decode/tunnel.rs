//! Tunnel encapsulations Zeek decapsulates: GRE (with ERSPAN and PPTP), IP-in-IP,
//! and the UDP tunnels VXLAN, Geneve, Teredo, AYIYA and GTPv1-U. Each function
//! returns the inner frame; the engine analyses it as a packet of its own whose
//! connections name the outer connection in `tunnel_parents`.

/// What a tunnel carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inner<'a> {
    Ethernet(&'a [u8]),
    /// An IPv4 or IPv6 packet (the version nibble tells which).
    Ip(&'a [u8]),
    /// A PPP frame (PPTP's enhanced GRE).
    Ppp(&'a [u8]),
    /// An IEEE 802.11 frame (Aruba's GRE tunnels from access points to controllers).
    Ieee80211(&'a [u8]),
}

/// UDP tunnel protocols, by the port Zeek registers them on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UdpTunnel {
    Vxlan,
    Geneve,
    Teredo,
    Ayiya,
    Gtpv1,
    GreOverUdp,
}

impl UdpTunnel {
    /// Zeek's name of the analyzer, weird.log's `source` for what it reports.
    pub fn analyzer_name(self) -> &'static str {
        match self {
            UdpTunnel::Vxlan => "VXLAN",
            UdpTunnel::Geneve => "GENEVE",
            UdpTunnel::Teredo => "TEREDO",
            UdpTunnel::Ayiya => "AYIYA",
            UdpTunnel::Gtpv1 => "GTPV1",
            UdpTunnel::GreOverUdp => "GRE",
        }
    }

    pub fn by_port(port: u16) -> Option<UdpTunnel> {
        Some(match port {
            4789 => UdpTunnel::Vxlan,
            6081 => UdpTunnel::Geneve,
            3544 => UdpTunnel::Teredo,
            5072 => UdpTunnel::Ayiya,
            2152 => UdpTunnel::Gtpv1,
            4754 => UdpTunnel::GreOverUdp,
            _ => return None,
        })
    }

    /// Teredo on any port, as Zeek detects it: relays and peers talk Teredo from ports other
    /// than the server's 3544, so a UDP payload that is exactly one Teredo-wrapped IPv6 packet
    /// (version 6, payload length matching to the byte) is taken as Teredo.
    pub fn detect(payload: &[u8]) -> Option<UdpTunnel> {
        let Ok(Inner::Ip(ip)) = teredo(payload) else {
            return None;
        };
        let plen = u16::from_be_bytes([ip[4], ip[5]]) as usize;
        (ip.len() == 40 + plen).then_some(UdpTunnel::Teredo)
    }

    /// Whether Zeek confirms this tunnel only once both sides sent a valid encapsulation:
    /// Teredo (`Tunnel::delay_teredo_confirmation = T`); GTPv1 would with
    /// `Tunnel::delay_gtp_confirmation`, which is off by default.
    pub fn confirms_after_both_sides(self) -> bool {
        matches!(self, UdpTunnel::Teredo)
    }

    /// The conn.log `service` of the outer connection once the tunnel is confirmed.
    pub fn service(self) -> Option<&'static str> {
        match self {
            UdpTunnel::Vxlan => Some("vxlan"),
            UdpTunnel::Geneve => Some("geneve"),
            UdpTunnel::Teredo => Some("teredo"),
            UdpTunnel::Ayiya => Some("ayiya"),
            UdpTunnel::Gtpv1 => Some("gtpv1"),
            UdpTunnel::GreOverUdp => None,
        }
    }

    pub fn decapsulate(self, payload: &[u8]) -> Result<Inner<'_>, &'static str> {
        match self {
            UdpTunnel::Vxlan => vxlan(payload),
            UdpTunnel::Geneve => geneve(payload),
            UdpTunnel::Teredo => teredo(payload),
            UdpTunnel::Ayiya => ayiya(payload),
            UdpTunnel::Gtpv1 => gtpv1(payload),
            UdpTunnel::GreOverUdp => gre(payload),
        }
    }
}

fn ip_version_ok(p: &[u8]) -> bool {
    matches!(p.first().map(|b| b >> 4), Some(4) | Some(6))
}

/// GRE (RFC 2784/2890), PPTP's enhanced GRE (version 1) and ERSPAN I/II/III.
pub fn gre(p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() < 4 {
        return Err("truncated_GRE");
    }
    let flags = u16::from_be_bytes([p[0], p[1]]);
    let proto = u16::from_be_bytes([p[2], p[3]]);
    let version = flags & 0x7;
    let mut off = 4;
    if version == 1 {
        // PPTP: key always present, optional sequence and acknowledgement.
        off += 4;
        if flags & 0x1000 != 0 {
            off += 4;
        }
        if flags & 0x0080 != 0 {
            off += 4;
        }
        if p.len() < off {
            return Err("truncated_GRE");
        }
        if proto != 0x880b {
            return Err("unknown_gre_protocol");
        }
        return Ok(Inner::Ppp(&p[off..]));
    }
    if version != 0 {
        return Err("unknown_gre_version");
    }
    if flags & 0x8000 != 0 {
        off += 4;
    }
    if flags & 0x2000 != 0 {
        off += 4;
    }
    let has_seq = flags & 0x1000 != 0;
    if has_seq {
        off += 4;
    }
    if p.len() < off {
        return Err("truncated_GRE");
    }
    let rest = &p[off..];
    match proto {
        0x0800 | 0x86dd => Ok(Inner::Ip(rest)),
        0x6558 => Ok(Inner::Ethernet(rest)),
        0x88be => {
            // ERSPAN type II has a sequence number and an 8-byte header; type I neither.
            if has_seq {
                if rest.len() < 8 {
                    return Err("truncated_GRE");
                }
                Ok(Inner::Ethernet(&rest[8..]))
            } else {
                Ok(Inner::Ethernet(rest))
            }
        }
        0x22eb => {
            // ERSPAN type III: 12 bytes, plus an 8-byte platform sub-header if O is set.
            if rest.len() < 12 {
                return Err("truncated_GRE");
            }
            let o = rest[11] & 0x01 != 0;
            let h = if o { 20 } else { 12 };
            if rest.len() < h {
                return Err("truncated_GRE");
            }
            Ok(Inner::Ethernet(&rest[h..]))
        }
        // Aruba access points tunnel 802.11 frames to their controller in GRE with these
        // protocol numbers, as Zeek's GRE analyzer knows.
        0x8200..=0x8240 => Ok(Inner::Ieee80211(rest)),
        _ => Err("unknown_gre_protocol"),
    }
}

fn vxlan(p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() < 8 {
        return Err("vxlan_truncated");
    }
    Ok(Inner::Ethernet(&p[8..]))
}

fn geneve(p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() < 8 {
        return Err("geneve_truncated");
    }
    let opt_len = (p[0] & 0x3f) as usize * 4;
    let proto = u16::from_be_bytes([p[2], p[3]]);
    let h = 8 + opt_len;
    if p.len() < h {
        return Err("geneve_truncated");
    }
    let rest = &p[h..];
    match proto {
        0x6558 => Ok(Inner::Ethernet(rest)),
        0x0800 | 0x86dd => Ok(Inner::Ip(rest)),
        _ => Err("geneve_unknown_protocol"),
    }
}

/// Teredo (RFC 4380): optional authentication and origin-indication headers, then IPv6.
fn teredo(mut p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() >= 2 && p[0] == 0 && p[1] == 1 {
        // authentication: id-len, au-len, id, au, nonce(8), confirmation(1)
        if p.len() < 4 {
            return Err("Teredo_truncated");
        }
        let n = 4 + p[2] as usize + p[3] as usize + 9;
        if p.len() < n {
            return Err("Teredo_truncated");
        }
        p = &p[n..];
    }
    if p.len() >= 2 && p[0] == 0 && p[1] == 0 {
        if p.len() < 8 {
            return Err("Teredo_truncated");
        }
        p = &p[8..];
    }
    if p.len() < 40 || p[0] >> 4 != 6 {
        return Err("Teredo_bad_inner");
    }
    Ok(Inner::Ip(p))
}

/// AYIYA: a header whose identity and signature lengths are encoded as powers of two.
fn ayiya(p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() < 8 {
        return Err("ayiya_truncated");
    }
    let id_len = 1usize << (p[0] >> 4);
    let sig_len = (p[1] >> 4) as usize * 4;
    let next = p[3];
    let h = 8 + id_len + sig_len;
    if p.len() < h {
        return Err("ayiya_truncated");
    }
    match next {
        4 | 41 => Ok(Inner::Ip(&p[h..])),
        _ => Err("ayiya_unknown_protocol"),
    }
}

/// GTPv1-U: G-PDU messages carry an IP packet after the header and its extensions.
fn gtpv1(p: &[u8]) -> Result<Inner<'_>, &'static str> {
    if p.len() < 8 {
        return Err("GTPv1_truncated");
    }
    let flags = p[0];
    if flags >> 5 != 1 {
        return Err("GTPv1_bad_version");
    }
    if p[1] != 0xff {
        return Err("GTPv1_not_GPDU");
    }
    let mut off = 8;
    if flags & 0x07 != 0 {
        if p.len() < 12 {
            return Err("GTPv1_truncated");
        }
        let mut next_ext = p[11];
        off = 12;
        while next_ext != 0 {
            let len = *p.get(off).ok_or("GTPv1_truncated")? as usize * 4;
            if len == 0 || p.len() < off + len {
                return Err("GTPv1_truncated");
            }
            next_ext = p[off + len - 1];
            off += len;
        }
    }
    let rest = &p[off..];
    if !ip_version_ok(rest) {
        return Err("GTPv1_bad_inner");
    }
    Ok(Inner::Ip(rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gre_variants() {
        assert_eq!(gre(&[0, 0, 0x08, 0x00, 0x45]).unwrap(), Inner::Ip(&[0x45]));
        // key + sequence present
        let p = [0x30, 0, 0x65, 0x58, 0, 0, 0, 1, 0, 0, 0, 2, 0xaa];
        assert_eq!(gre(&p).unwrap(), Inner::Ethernet(&[0xaa]));
        // ERSPAN II: sequence bit and 8 bytes of ERSPAN header
        let mut p = vec![0x10, 0, 0x88, 0xbe, 0, 0, 0, 1];
        p.extend_from_slice(&[0; 8]);
        p.push(0xbb);
        assert_eq!(gre(&p).unwrap(), Inner::Ethernet(&[0xbb]));
        assert!(gre(&[0x80, 0, 0x08]).is_err());
        assert!(gre(&[0x80, 0, 0x08, 0x00]).is_err());
        // Aruba: 802.11 inside.
        assert_eq!(
            gre(&[0, 0, 0x82, 0x40, 0x88]).unwrap(),
            Inner::Ieee80211(&[0x88])
        );
        assert!(gre(&[0, 0, 0x82, 0x41, 0x88]).is_err());
    }

    #[test]
    fn udp_tunnels() {
        let mut v = vec![0x08, 0, 0, 0, 0, 0, 1, 0];
        v.push(0xcc);
        assert_eq!(
            UdpTunnel::Vxlan.decapsulate(&v).unwrap(),
            Inner::Ethernet(&[0xcc])
        );
        let g = [0x01, 0, 0x65, 0x58, 0, 0, 0, 0, 1, 2, 3, 4, 0xdd];
        assert_eq!(
            UdpTunnel::Geneve.decapsulate(&g).unwrap(),
            Inner::Ethernet(&[0xdd])
        );
        let mut gtp = vec![0x30, 0xff, 0, 4, 0, 0, 0, 1];
        gtp.extend_from_slice(&[0x45, 0, 0, 4]);
        assert!(matches!(
            UdpTunnel::Gtpv1.decapsulate(&gtp).unwrap(),
            Inner::Ip(_)
        ));
        assert!(UdpTunnel::Teredo.decapsulate(&[0x45; 40]).is_err());
        // Detection on other ports needs an exact IPv6 payload length.
        let mut v6 = vec![0u8; 48];
        v6[0] = 0x60;
        v6[5] = 8;
        assert_eq!(UdpTunnel::detect(&v6), Some(UdpTunnel::Teredo));
        v6[5] = 9;
        assert_eq!(UdpTunnel::detect(&v6), None);
        assert_eq!(
            UdpTunnel::detect(b"GET / HTTP/1.1\r\n\r\nxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
            None
        );
        assert!(UdpTunnel::Ayiya.decapsulate(&[1]).is_err());
        assert_eq!(UdpTunnel::by_port(4789), Some(UdpTunnel::Vxlan));
        assert_eq!(UdpTunnel::by_port(80), None);
    }
}
