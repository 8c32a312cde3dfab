//! Network layer: IPv4 and IPv6 (with extension headers) via etherparse.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use etherparse::{
    IpNumber, Ipv4HeaderSlice, Ipv6ExtensionSlice, Ipv6ExtensionsSlice, Ipv6HeaderSlice,
};

use super::checksum;

/// Where a fragment sits in its datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragInfo {
    pub id: u32,
    /// Offset of this fragment's payload in bytes.
    pub offset: u32,
    pub more: bool,
}

/// One IP packet, borrowed from the capture buffer.
#[derive(Debug, Clone, Copy)]
pub struct IpPacket<'a> {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// Upper-layer protocol after all extension headers.
    pub proto: u8,
    /// Length on the wire per the IP header (IPv6: payload length + 40).
    pub ip_len: u32,
    /// IP header plus extension headers.
    pub header: &'a [u8],
    /// Upper-layer bytes that were captured (shorter than announced when the snaplen cut it).
    pub payload: &'a [u8],
    /// Upper-layer length announced by the IP header.
    pub payload_len: u32,
    pub frag: Option<FragInfo>,
    pub ttl: u8,
}

impl IpPacket<'_> {
    pub fn is_v6(&self) -> bool {
        self.src.is_ipv6()
    }
}

/// `wire_len_ok`: the captured bytes are all the frame had (no snaplen cut).
pub fn decode_ipv4(
    data: &[u8],
    verify_checksum: bool,
    snap_cut: bool,
) -> Result<IpPacket<'_>, &'static str> {
    if data.len() < 20 {
        return Err("truncated_IP");
    }
    let h = Ipv4HeaderSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ipv4::HeaderSliceError;
        match e {
            HeaderSliceError::Len(_) => "truncated_IP",
            HeaderSliceError::Content(_) => "invalid_IP_header_size",
        }
    })?;
    let hlen = h.slice().len();
    let mut total = h.total_len() as usize;
    if total == 0 {
        // TCP segmentation offload leaves the length at zero; trust the capture.
        total = data.len();
    }
    if total < hlen {
        return Err("invalid_IP_header_size");
    }
    if data.len() < total && !snap_cut {
        return Err("truncated_IP");
    }
    if verify_checksum && !checksum::ipv4_header_ok(h.slice()) {
        return Err("bad_IP_checksum");
    }
    let end = total.min(data.len());
    let frag_off = h.fragments_offset().value() as u32 * 8;
    let frag = if h.more_fragments() || frag_off != 0 {
        Some(FragInfo {
            id: h.identification() as u32,
            offset: frag_off,
            more: h.more_fragments(),
        })
    } else {
        None
    };
    Ok(IpPacket {
        src: IpAddr::V4(Ipv4Addr::from(h.source())),
        dst: IpAddr::V4(Ipv4Addr::from(h.destination())),
        proto: h.protocol().0,
        ip_len: total as u32,
        header: &data[..hlen],
        payload: &data[hlen..end],
        payload_len: (total - hlen) as u32,
        frag,
        ttl: h.ttl(),
    })
}

pub fn decode_ipv6(data: &[u8], snap_cut: bool) -> Result<IpPacket<'_>, &'static str> {
    let h = Ipv6HeaderSlice::from_slice(data).map_err(|e| {
        use etherparse::err::ipv6::HeaderSliceError;
        match e {
            HeaderSliceError::Len(_) => "truncated_IPv6",
            HeaderSliceError::Content(_) => "unknown_ip_version",
        }
    })?;
    let total = 40 + h.payload_length() as usize;
    if data.len() < total && !snap_cut {
        return Err("truncated_IPv6");
    }
    let end = total.min(data.len());
    let body = &data[40..end];
    let (exts, proto, rest) = match Ipv6ExtensionsSlice::from_slice(h.next_header(), body) {
        Ok(v) => v,
        Err(_) => return Err("bad_IPv6_extension_header"),
    };
    let mut frag = None;
    let mut hdr_len = 40 + exts.slice().len();
    let mut proto = proto.0;
    let mut payload = rest;
    for ext in exts.clone().into_iter() {
        if let Ipv6ExtensionSlice::Fragment(f) = ext {
            // Read offset and M flag from the bytes: etherparse 0.19 decodes these
            // two fields with the wrong bit positions.
            let b = f.slice();
            let offset = (((b[2] as u32) << 5) | ((b[3] as u32) >> 3)) * 8;
            let more = b[3] & 1 != 0;
            if offset != 0 || more {
                // Everything after the fragment header is fragment data, even if
                // etherparse went on reading it as extension headers.
                let at = b.as_ptr() as usize - body.as_ptr() as usize + b.len();
                frag = Some(FragInfo {
                    id: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
                    offset,
                    more,
                });
                hdr_len = 40 + at;
                proto = f.next_header().0;
                payload = &body[at..];
                break;
            }
        }
    }
    Ok(IpPacket {
        src: IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&data[8..24]).unwrap_or([0; 16]),
        )),
        dst: IpAddr::V6(Ipv6Addr::from(
            <[u8; 16]>::try_from(&data[24..40]).unwrap_or([0; 16]),
        )),
        proto,
        ip_len: total as u32,
        header: &data[..hdr_len],
        payload,
        payload_len: total.saturating_sub(hdr_len) as u32,
        frag,
        ttl: h.hop_limit(),
    })
}

/// Skips IPv6 extension headers at the start of a reassembled fragmentable part.
pub fn skip_ipv6_extensions(proto: u8, data: &[u8]) -> Result<(u8, &[u8]), &'static str> {
    match Ipv6ExtensionsSlice::from_slice(IpNumber(proto), data) {
        Ok((_, next, rest)) => Ok((next.0, rest)),
        Err(_) => Err("bad_IPv6_extension_header"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(total: u16, proto: u8, mf: bool, off: u16) -> Vec<u8> {
        let mut h = vec![
            0x45, 0, 0, 0, 0x12, 0x34, 0, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        h[2..4].copy_from_slice(&total.to_be_bytes());
        let fo = (off / 8) | if mf { 0x2000 } else { 0 };
        h[6..8].copy_from_slice(&fo.to_be_bytes());
        let c = !checksum::fold(checksum::sum_bytes(0, &h));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        h.resize(total as usize, 0xab);
        h
    }

    #[test]
    fn ipv4_basic() {
        let p = v4(28, 17, false, 0);
        let ip = decode_ipv4(&p, true, false).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.ip_len, 28);
        assert_eq!(ip.payload.len(), 8);
        assert!(ip.frag.is_none());
        assert_eq!(ip.src, "10.0.0.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn ipv4_bad_checksum_and_truncation() {
        let mut p = v4(28, 17, false, 0);
        p[10] ^= 0xff;
        assert_eq!(decode_ipv4(&p, true, false).unwrap_err(), "bad_IP_checksum");
        assert!(decode_ipv4(&p, false, false).is_ok());
        let p = v4(28, 17, false, 0);
        assert_eq!(
            decode_ipv4(&p[..24], true, false).unwrap_err(),
            "truncated_IP"
        );
        // cut by the snaplen: analysed with what was captured
        let ip = decode_ipv4(&p[..24], true, true).unwrap();
        assert_eq!(ip.payload.len(), 4);
        assert_eq!(ip.payload_len, 8);
        assert_eq!(
            decode_ipv4(&p[..10], true, true).unwrap_err(),
            "truncated_IP"
        );
    }

    #[test]
    fn ipv4_fragment_info() {
        let p = v4(36, 17, true, 16);
        let ip = decode_ipv4(&p, true, false).unwrap();
        assert_eq!(
            ip.frag,
            Some(FragInfo {
                id: 0x1234,
                offset: 16,
                more: true
            })
        );
    }

    #[test]
    fn ipv6_with_fragment_header() {
        let mut p = vec![0x60, 0, 0, 0, 0, 16, 44, 64];
        p.extend_from_slice(
            &[0xfe, 0x80]
                .iter()
                .chain([0u8; 13].iter())
                .chain([1].iter())
                .copied()
                .collect::<Vec<_>>(),
        );
        p.extend_from_slice(
            &[0xfe, 0x80]
                .iter()
                .chain([0u8; 13].iter())
                .chain([2].iter())
                .copied()
                .collect::<Vec<_>>(),
        );
        // fragment header: next=UDP, offset 0, M=1, id 7
        p.extend_from_slice(&[17, 0, 0, 1, 0, 0, 0, 7]);
        p.extend_from_slice(&[0u8; 8]);
        let ip = decode_ipv6(&p, false).unwrap();
        assert_eq!(ip.proto, 17);
        assert_eq!(ip.ip_len, 56);
        assert_eq!(ip.header.len(), 48);
        assert_eq!(
            ip.frag,
            Some(FragInfo {
                id: 7,
                offset: 0,
                more: true
            })
        );
        assert_eq!(decode_ipv6(&p[..30], false).unwrap_err(), "truncated_IPv6");
    }
}
