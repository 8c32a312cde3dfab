//! Internet checksums (RFC 1071) for IPv4 headers and TCP/UDP/ICMP with pseudo-headers.

use std::net::IpAddr;

/// Adds `data` to a running 32-bit ones-complement accumulator, big-endian words.
#[inline]
pub fn sum_bytes(mut acc: u64, data: &[u8]) -> u64 {
    let (chunks, mut rest) = data.as_chunks::<8>();
    for c in chunks {
        // Summing 32-bit halves into a u64 defers carry folding to the end.
        acc += u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as u64;
        acc += u32::from_be_bytes([c[4], c[5], c[6], c[7]]) as u64;
    }
    while rest.len() >= 2 {
        acc += u16::from_be_bytes([rest[0], rest[1]]) as u64;
        rest = &rest[2..];
    }
    if let Some(&b) = rest.first() {
        acc += (b as u64) << 8;
    }
    acc
}

/// Folds an accumulator to 16 bits (not yet complemented).
#[inline]
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// True when the IPv4 header (options included) sums to 0xffff.
pub fn ipv4_header_ok(header: &[u8]) -> bool {
    fold(sum_bytes(0, header)) == 0xffff
}

/// Pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 or IPv6.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    let mut acc = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum_bytes(acc, &s.octets());
            acc = sum_bytes(acc, &d.octets());
        }
        (s, d) => {
            acc = sum_bytes(acc, &to_v6(s));
            acc = sum_bytes(acc, &to_v6(d));
        }
    }
    acc + proto as u64 + (len as u64 & 0xffff) + ((len as u64) >> 16)
}

fn to_v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// Verifies a transport segment (header + payload) against its pseudo-header.
pub fn transport_ok(src: IpAddr, dst: IpAddr, proto: u8, segment: &[u8]) -> bool {
    let acc = pseudo_header(src, dst, proto, segment.len());
    fold(sum_bytes(acc, segment)) == 0xffff
}

/// ICMPv4 has no pseudo-header.
pub fn icmpv4_ok(segment: &[u8]) -> bool {
    fold(sum_bytes(0, segment)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // Example from RFC 1071 section 3: sum of these words is 0xddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum_bytes(0, &data)), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum_bytes(0, &[0x12])), 0x1200);
    }

    #[test]
    fn valid_ipv4_header() {
        // 20-byte header from a real capture, checksum 0xb861.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0xb8, 0x61, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert!(ipv4_header_ok(&h));
        let mut bad = h;
        bad[11] ^= 1;
        assert!(!ipv4_header_ok(&bad));
    }
}
