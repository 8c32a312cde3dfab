//! Link layer: from a captured frame to the network-layer payload.
//!
//! etherparse parses the headers it knows (Ethernet II, 802.1Q, Linux SLL); the
//! encapsulations it does not have (MPLS, PPPoE, SLL2, BSD loopback, PPP, VN-Tag,
//! 802.1ah PBB, Cisco FabricPath, LLC/SNAP, NFLOG) are a few fixed-size fields each and are
//! read here. Every read is bounds-checked: a short frame yields a Zeek weird name.

use etherparse::{Ethernet2HeaderSlice, LinuxSllHeaderSlice, SingleVlanHeaderSlice};

/// Linux NFLOG (as libpcap writes it): a 4-byte header (address family, version, resource
/// id) then type-length-value attributes, each 4-byte aligned, with length and type in the
/// capturing host's byte order (little-endian on the machines that write these files); the
/// packet is the `NFULA_PAYLOAD` (type 9) attribute.
fn decode_nflog(frame: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    const NFULA_PAYLOAD: u16 = 9;
    let family = *frame.first().ok_or("truncated_link_header")?;
    let kind = match family {
        2 => L3Kind::Ipv4,
        10 => L3Kind::Ipv6,
        _ => L3Kind::Other,
    };
    let mut at = 4;
    while at + 4 <= frame.len() {
        let len = u16::from_le_bytes([frame[at], frame[at + 1]]) as usize;
        let ty = u16::from_le_bytes([frame[at + 2], frame[at + 3]]);
        if len < 4 || at + len > frame.len() {
            return Err("truncated_link_header");
        }
        if ty == NFULA_PAYLOAD {
            return Ok(l3(kind, &frame[at + 4..at + len]));
        }
        at += (len + 3) & !3;
    }
    Err("truncated_link_header")
}

/// libpcap link-layer header types (DLT_*/LINKTYPE_*) the decoder understands.
pub mod linktype {
    pub const NULL: i32 = 0;
    pub const EN10MB: i32 = 1;
    pub const PPP: i32 = 9;
    pub const RAW_OPENBSD: i32 = 12;
    pub const RAW_BSD: i32 = 14;
    pub const PPP_SERIAL: i32 = 50;
    pub const RAW: i32 = 101;
    pub const LOOP: i32 = 108;
    pub const LINUX_SLL: i32 = 113;
    pub const IPV4: i32 = 228;
    pub const IPV6: i32 = 229;
    pub const LINUX_SLL2: i32 = 276;
    pub const NFLOG: i32 = 239;
    pub const IEEE802_11: i32 = 105;
    pub const IEEE802_11_RADIOTAP: i32 = 127;

    /// Whether `decode_link` can handle frames of this link type.
    pub fn supported(dlt: i32) -> bool {
        matches!(
            dlt,
            NULL | EN10MB
                | PPP
                | RAW_OPENBSD
                | RAW_BSD
                | PPP_SERIAL
                | RAW
                | LOOP
                | LINUX_SLL
                | NFLOG
                | IPV4
                | IPV6
                | LINUX_SLL2
                | IEEE802_11
                | IEEE802_11_RADIOTAP
        )
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const ETH_VLAN: u16 = 0x8100;
const ETH_QINQ: u16 = 0x88a8;
const ETH_QINQ_OLD: u16 = 0x9100;
const ETH_MPLS_UC: u16 = 0x8847;
const ETH_MPLS_MC: u16 = 0x8848;
const ETH_PPPOE_SESSION: u16 = 0x8864;
const ETH_VNTAG: u16 = 0x8926;
const ETH_PBB: u16 = 0x88e7;
const ETH_FABRICPATH: u16 = 0x8903;

/// Network layer found inside a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum L3Kind {
    Ipv4,
    Ipv6,
    /// ARP, LLDP, ... : not analysed and not a weird.
    Other,
}

/// What the link layer yields: the network-layer bytes and the tags on the way.
#[derive(Debug, Clone, Copy)]
pub struct LinkFrame<'a> {
    pub kind: L3Kind,
    pub l3: &'a [u8],
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
}

/// A frame too short or malformed for its link layer; the string is Zeek's weird name.
pub type LinkError = &'static str;

/// Decodes one frame of link type `dlt`.
pub fn decode_link(dlt: i32, frame: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    match dlt {
        linktype::EN10MB => decode_ethernet(frame, 0),
        linktype::RAW | linktype::RAW_BSD | linktype::RAW_OPENBSD => Ok(by_ip_version(frame)),
        linktype::IPV4 => Ok(l3(L3Kind::Ipv4, frame)),
        linktype::IPV6 => Ok(l3(L3Kind::Ipv6, frame)),
        linktype::NULL | linktype::LOOP => decode_null(dlt, frame),
        linktype::LINUX_SLL => {
            // etherparse rejects some ARPHRD types seen in real captures; the
            // protocol field sits at a fixed offset either way.
            let hlen = match LinuxSllHeaderSlice::from_slice(frame) {
                Ok(h) => h.slice().len(),
                Err(_) if frame.len() >= 16 => 16,
                Err(_) => return Err("truncated_link_header"),
            };
            let proto = u16::from_be_bytes([frame[14], frame[15]]);
            Ok(by_ethertype(proto, &frame[hlen..], None, None))
        }
        linktype::LINUX_SLL2 => {
            // SLL2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) addrlen(1) addr(8)
            if frame.len() < 20 {
                return Err("truncated_link_header");
            }
            let proto = u16::from_be_bytes([frame[0], frame[1]]);
            Ok(by_ethertype(proto, &frame[20..], None, None))
        }
        linktype::PPP | linktype::PPP_SERIAL => decode_ppp(frame),
        linktype::NFLOG => decode_nflog(frame),
        linktype::IEEE802_11 => decode_80211(frame),
        linktype::IEEE802_11_RADIOTAP => {
            // Radiotap: version(1) pad(1) length(2, little endian), then 802.11.
            if frame.len() < 4 {
                return Err("truncated_radiotap_header");
            }
            let len = u16::from_le_bytes([frame[2], frame[3]]) as usize;
            if frame.len() < len {
                return Err("truncated_radiotap_header");
            }
            decode_80211(&frame[len..])
        }
        _ => Err("unknown_link_type"),
    }
}

fn l3(kind: L3Kind, data: &[u8]) -> LinkFrame<'_> {
    LinkFrame {
        kind,
        l3: data,
        vlan: None,
        inner_vlan: None,
    }
}

/// Raw IP: the version nibble says which.
fn by_ip_version(data: &[u8]) -> LinkFrame<'_> {
    let kind = match data.first().map(|b| b >> 4) {
        Some(4) => L3Kind::Ipv4,
        Some(6) => L3Kind::Ipv6,
        _ => L3Kind::Other,
    };
    l3(kind, data)
}

fn by_ethertype(
    ethertype: u16,
    data: &[u8],
    vlan: Option<u16>,
    inner_vlan: Option<u16>,
) -> LinkFrame<'_> {
    let kind = match ethertype {
        ETH_IPV4 => L3Kind::Ipv4,
        ETH_IPV6 => L3Kind::Ipv6,
        _ => L3Kind::Other,
    };
    LinkFrame {
        kind,
        l3: data,
        vlan,
        inner_vlan,
    }
}

/// BSD loopback: a 4-byte address family in host (NULL) or network (LOOP) order.
fn decode_null(dlt: i32, frame: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    if frame.len() < 4 {
        return Err("truncated_link_header");
    }
    let raw = [frame[0], frame[1], frame[2], frame[3]];
    let family = if dlt == linktype::LOOP {
        u32::from_be_bytes(raw)
    } else {
        // The writer's byte order is unknown: accept either.
        let le = u32::from_le_bytes(raw);
        if le < 256 {
            le
        } else {
            u32::from_be_bytes(raw)
        }
    };
    let kind = match family {
        2 => L3Kind::Ipv4,
        // AF_INET6 differs per OS: BSD 24, FreeBSD 28, Darwin 30, Linux 10.
        10 | 24 | 28 | 30 => L3Kind::Ipv6,
        _ => L3Kind::Other,
    };
    Ok(l3(kind, &frame[4..]))
}

/// 802.11 data frames with LLC/SNAP; management, control and protected frames
/// carry no IP we can read.
fn decode_80211(f: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    if f.len() < 24 {
        return Err("truncated_802_11_header");
    }
    let fc0 = f[0];
    let fc1 = f[1];
    let frame_type = (fc0 >> 2) & 0x3;
    if frame_type != 2 || fc1 & 0x40 != 0 {
        return Ok(l3(L3Kind::Other, &[]));
    }
    let mut h = 24;
    if fc1 & 0x03 == 0x03 {
        h += 6; // a fourth address when both to-DS and from-DS are set
    }
    if fc0 & 0x80 != 0 {
        h += 2; // QoS control
        if fc1 & 0x80 != 0 {
            h += 4; // HT control ("order" bit)
        }
    }
    let rest = f.get(h..).ok_or("truncated_802_11_header")?;
    Ok(llc_snap(rest))
}

/// An 802.2 LLC/SNAP-framed payload (802.11 data, an A-MSDU subframe's MSDU).
fn llc_snap(rest: &[u8]) -> LinkFrame<'_> {
    if rest.len() >= 8 && rest[0] == 0xaa && rest[1] == 0xaa && rest[2] == 0x03 {
        let ethertype = u16::from_be_bytes([rest[6], rest[7]]);
        return by_ethertype(ethertype, &rest[8..], None, None);
    }
    l3(L3Kind::Other, rest)
}

/// The A-MSDU of an 802.11 QoS data frame whose QoS control says one is present: the
/// aggregated subframes, each an MSDU of its own (Zeek analyses each as a packet). `None`
/// for any other frame.
pub fn ieee80211_amsdu(f: &[u8]) -> Option<&[u8]> {
    let (fc0, fc1) = (*f.first()?, *f.get(1)?);
    // A data frame with QoS (subtype bit 3), not protected.
    if (fc0 >> 2) & 0x3 != 2 || fc0 & 0x80 == 0 || fc1 & 0x40 != 0 {
        return None;
    }
    let qos = if fc1 & 0x03 == 0x03 { 30 } else { 24 };
    let amsdu_present = f.get(qos)? & 0x80 != 0;
    let h = qos + 2 + if fc1 & 0x80 != 0 { 4 } else { 0 };
    amsdu_present.then(|| f.get(h..)).flatten()
}

/// The subframes of an A-MSDU (IEEE 802.11-2020 9.3.2.2.2): destination and source address,
/// a big-endian length, the MSDU, and padding to a multiple of four bytes before the next.
/// Each MSDU is decoded as LLC/SNAP; a cut subframe ends the iteration with its weird.
pub fn amsdu_subframes(body: &[u8]) -> impl Iterator<Item = Result<LinkFrame<'_>, LinkError>> {
    let mut rest = Some(body);
    std::iter::from_fn(move || {
        let b = rest.take().filter(|b| !b.is_empty())?;
        let Some(len) = b
            .get(12..14)
            .map(|l| u16::from_be_bytes([l[0], l[1]]) as usize)
        else {
            return Some(Err("truncated_802_11_amsdu"));
        };
        let Some(msdu) = b.get(14..14 + len) else {
            return Some(Err("truncated_802_11_amsdu"));
        };
        let next = (14 + len).div_ceil(4) * 4;
        rest = b.get(next..);
        Some(Ok(llc_snap(msdu)))
    })
}

/// PPP in HDLC-like framing (address 0xff, control 0x03) or bare protocol field.
fn decode_ppp(frame: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    let rest = if frame.len() >= 2 && frame[0] == 0xff && frame[1] == 0x03 {
        &frame[2..]
    } else {
        frame
    };
    ppp_payload(rest)
}

fn ppp_payload(data: &[u8]) -> Result<LinkFrame<'_>, LinkError> {
    if data.len() < 2 {
        return Err("truncated_link_header");
    }
    let kind = match u16::from_be_bytes([data[0], data[1]]) {
        0x0021 => L3Kind::Ipv4,
        0x0057 => L3Kind::Ipv6,
        _ => L3Kind::Other,
    };
    Ok(l3(kind, &data[2..]))
}

/// Ethernet II (or 802.3 + LLC/SNAP) and everything that may be stacked inside it.
/// `depth` bounds nesting (PBB and FabricPath carry a whole inner Ethernet frame).
fn decode_ethernet(frame: &[u8], depth: u8) -> Result<LinkFrame<'_>, LinkError> {
    if depth > 3 {
        return Err("max_packet_analyzer_depth_exceeded");
    }
    let eth = Ethernet2HeaderSlice::from_slice(frame).map_err(|_| "truncated_ethernet_frame")?;
    let mut ethertype = eth.ether_type().0;
    let mut rest = &frame[eth.slice().len()..];
    if ethertype < 1536 {
        // 802.3 length field: LLC, possibly with a SNAP header carrying the ethertype.
        if rest.len() >= 8 && rest[0] == 0xaa && rest[1] == 0xaa && rest[2] == 0x03 {
            ethertype = u16::from_be_bytes([rest[6], rest[7]]);
            rest = &rest[8..];
        } else {
            return Ok(l3(L3Kind::Other, rest));
        }
    }
    decode_ethertype_chain(ethertype, rest, depth)
}

fn decode_ethertype_chain(
    mut ethertype: u16,
    mut rest: &[u8],
    depth: u8,
) -> Result<LinkFrame<'_>, LinkError> {
    let mut vlans: [Option<u16>; 2] = [None, None];
    let mut nvlan = 0usize;
    loop {
        match ethertype {
            ETH_VLAN | ETH_QINQ | ETH_QINQ_OLD => {
                let tag =
                    SingleVlanHeaderSlice::from_slice(rest).map_err(|_| "truncated_VLAN_header")?;
                if nvlan < 2 {
                    vlans[nvlan] = Some(tag.vlan_identifier().value());
                }
                nvlan += 1;
                ethertype = tag.ether_type().0;
                rest = &rest[tag.slice().len()..];
            }
            ETH_MPLS_UC | ETH_MPLS_MC => {
                let payload = skip_mpls(rest)?;
                let frame = by_ip_version(payload);
                return Ok(LinkFrame {
                    vlan: vlans[0],
                    inner_vlan: vlans[1],
                    ..frame
                });
            }
            ETH_PPPOE_SESSION => {
                // ver/type(1) code(1) session(2) length(2), then the PPP protocol.
                if rest.len() < 6 {
                    return Err("truncated_PPPoE_header");
                }
                let frame = ppp_payload(&rest[6..]).map_err(|_| "truncated_PPPoE_header")?;
                return Ok(LinkFrame {
                    vlan: vlans[0],
                    inner_vlan: vlans[1],
                    ..frame
                });
            }
            ETH_VNTAG => {
                // VN-Tag: 4 bytes of tag, then the next ethertype.
                if rest.len() < 6 {
                    return Err("truncated_VNTag_header");
                }
                ethertype = u16::from_be_bytes([rest[4], rest[5]]);
                rest = &rest[6..];
            }
            ETH_PBB => {
                // 802.1ah I-TAG (4 bytes) followed by a complete customer Ethernet frame.
                if rest.len() < 4 {
                    return Err("truncated_PBB_header");
                }
                return decode_ethernet(&rest[4..], depth + 1);
            }
            ETH_FABRICPATH => {
                // FabricPath: the outer MACs and this ethertype are followed by the
                // FTag/TTL field (2 bytes), then by the original Ethernet frame.
                if rest.len() < 2 {
                    return Err("truncated_FabricPath_header");
                }
                return decode_ethernet(&rest[2..], depth + 1);
            }
            _ => return Ok(by_ethertype(ethertype, rest, vlans[0], vlans[1])),
        }
    }
}

/// Skips an MPLS label stack up to and including the bottom-of-stack label.
fn skip_mpls(mut data: &[u8]) -> Result<&[u8], LinkError> {
    loop {
        if data.len() < 4 {
            return Err("truncated_MPLS_header");
        }
        let bottom = data[2] & 0x01 != 0;
        data = &data[4..];
        if bottom {
            return Ok(data);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nflog_payload_attribute_is_the_packet() {
        // Header (AF_INET, version 0, resource 0), a 9-byte attribute (4 + 5 bytes) padded to
        // 12, then the payload attribute (type 9) holding an IPv4 header's first bytes.
        let mut f = vec![2, 0, 0, 0];
        f.extend_from_slice(&[9, 0, 1, 0, 0x08, 0, 0, 0, 0, 0, 0, 0]);
        f.extend_from_slice(&[8, 0, 9, 0, 0x45, 0, 0, 20]);
        let frame = decode_link(linktype::NFLOG, &f).unwrap();
        assert_eq!(frame.kind, L3Kind::Ipv4);
        assert_eq!(frame.l3, &[0x45, 0, 0, 20]);
        assert!(decode_link(linktype::NFLOG, &f[..14]).is_err());
        assert!(decode_link(linktype::NFLOG, &[2, 0, 0, 0, 3, 0, 9, 0]).is_err());
    }

    fn eth(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(payload);
        f
    }

    #[test]
    fn ethernet_ipv4() {
        let f = eth(ETH_IPV4, &[0x45, 0]);
        let d = decode_link(linktype::EN10MB, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        assert_eq!(d.l3, &[0x45, 0]);
        assert_eq!(d.vlan, None);
    }

    #[test]
    fn qinq_records_both_tags() {
        let mut inner = vec![0x00, 0x0a];
        inner.extend_from_slice(&ETH_VLAN.to_be_bytes());
        inner.extend_from_slice(&[0x00, 0x14]);
        inner.extend_from_slice(&ETH_IPV6.to_be_bytes());
        inner.push(0x60);
        let f = eth(ETH_QINQ, &inner);
        let d = decode_link(linktype::EN10MB, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv6);
        assert_eq!(d.vlan, Some(10));
        assert_eq!(d.inner_vlan, Some(20));
        assert_eq!(d.l3, &[0x60]);
    }

    #[test]
    fn mpls_stack_then_ip() {
        // two labels, the second with bottom-of-stack set
        let f = eth(ETH_MPLS_UC, &[0, 0, 0x10, 64, 0, 0, 0x21, 64, 0x45]);
        let d = decode_link(linktype::EN10MB, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        assert_eq!(d.l3, &[0x45]);
    }

    #[test]
    fn pppoe_session_ipv4() {
        let f = eth(ETH_PPPOE_SESSION, &[0x11, 0, 0, 1, 0, 2, 0x00, 0x21, 0x45]);
        let d = decode_link(linktype::EN10MB, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        assert_eq!(d.l3, &[0x45]);
    }

    #[test]
    fn truncated_frames_are_weirds_not_panics() {
        assert_eq!(
            decode_link(linktype::EN10MB, &[0; 5]).unwrap_err(),
            "truncated_ethernet_frame"
        );
        assert_eq!(
            decode_link(linktype::EN10MB, &eth(ETH_VLAN, &[0])).unwrap_err(),
            "truncated_VLAN_header"
        );
        assert_eq!(
            decode_link(linktype::EN10MB, &eth(ETH_MPLS_UC, &[0, 0, 0])).unwrap_err(),
            "truncated_MPLS_header"
        );
        assert!(decode_link(linktype::LINUX_SLL2, &[0; 3]).is_err());
        assert!(decode_link(linktype::NULL, &[2]).is_err());
    }

    #[test]
    fn loopback_families() {
        let d = decode_link(linktype::NULL, &[2, 0, 0, 0, 0x45]).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        let d = decode_link(linktype::LOOP, &[0, 0, 0, 30, 0x60]).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv6);
    }

    #[test]
    fn sll_and_raw() {
        let mut f = vec![0u8; 14];
        f.extend_from_slice(&ETH_IPV6.to_be_bytes());
        f.push(0x60);
        let d = decode_link(linktype::LINUX_SLL, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv6);
        let d = decode_link(linktype::RAW, &[0x45, 1]).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
    }

    #[test]
    fn radiotap_80211_qos_data() {
        let mut f = vec![0u8, 0, 8, 0, 0, 0, 0, 0]; // radiotap, length 8
        f.extend_from_slice(&[0x88, 0x01]); // QoS data, to-DS
        f.extend_from_slice(&[0u8; 22]);
        f.extend_from_slice(&[0, 0]); // QoS control
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45]);
        let d = decode_link(linktype::IEEE802_11_RADIOTAP, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        assert_eq!(d.l3, &[0x45]);
        assert!(decode_link(linktype::IEEE802_11_RADIOTAP, &[0, 0, 64, 0]).is_err());
    }

    #[test]
    fn an_amsdu_gives_each_subframe() {
        // QoS data from the DS, QoS control with "A-MSDU present".
        let mut f = vec![0x88, 0x02];
        f.extend_from_slice(&[0u8; 22]);
        f.extend_from_slice(&[0x80, 0x00]);
        let subframe = |ip: &[u8]| {
            let mut s = vec![0u8; 12]; // destination and source
            s.extend_from_slice(&((8 + ip.len()) as u16).to_be_bytes());
            s.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00]);
            s.extend_from_slice(ip);
            s
        };
        let mut body = subframe(&[0x45, 1, 2]); // 25 bytes: 3 of padding follow
        body.extend_from_slice(&[0, 0, 0]);
        body.extend(subframe(&[0x45, 9]));
        f.extend_from_slice(&body);
        let amsdu = ieee80211_amsdu(&f).expect("an A-MSDU");
        let frames: Vec<_> = amsdu_subframes(amsdu).map(|r| r.unwrap().l3).collect();
        assert_eq!(frames, [&[0x45, 1, 2][..], &[0x45, 9][..]]);
        // A cut subframe ends with a weird.
        let cut: Vec<_> = amsdu_subframes(&amsdu[..amsdu.len() - 1]).collect();
        assert_eq!(cut.len(), 2);
        assert!(cut[1].is_err());
        // Without the A-MSDU bit, or not QoS data: no aggregate.
        let mut plain = f.clone();
        plain[24] = 0;
        assert!(ieee80211_amsdu(&plain).is_none());
        assert!(ieee80211_amsdu(&[0x08, 0x02]).is_none());
    }

    #[test]
    fn snap_encapsulated_ip() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x00, 0x30]); // 802.3 length
        f.extend_from_slice(&[0xaa, 0xaa, 0x03, 0, 0, 0, 0x08, 0x00, 0x45]);
        let d = decode_link(linktype::EN10MB, &f).unwrap();
        assert_eq!(d.kind, L3Kind::Ipv4);
        assert_eq!(d.l3, &[0x45]);
    }
}
