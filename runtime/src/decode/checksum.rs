//! Internet checksums (RFC 1071) for IPv4 headers and TCP/UDP/ICMP with pseudo-headers.

use std::net::IpAddr;

/// Adds `data` to a running ones-complement accumulator of big-endian 16-bit words.
///
/// The sum is taken over native-endian 64-bit words with end-around carries and
/// byte-swapped once at the end: ones-complement addition does not depend on byte
/// order (RFC 1071, section 2(B)). Measured against summing byte-swapped 32-bit halves
/// (the previous version): 1.7-2x as fast on 576- and 1,480-byte segments, 0.85-1x on
/// bare 40- and 60-byte ones, where the fixed cost of the final fold shows; four
/// independent accumulators instead of one were no faster.
#[inline]
pub fn sum_bytes(acc: u64, data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<8>();
    let mut sum = 0u64;
    let mut carries = 0u64;
    let mut add = |word: [u8; 8]| {
        let (s, carry) = sum.overflowing_add(u64::from_ne_bytes(word));
        sum = s;
        carries += carry as u64;
    };
    for word in words {
        add(*word);
    }
    // A tail of up to 7 bytes, zero-padded: a lone last byte is the high byte of its
    // big-endian word, which is where native order puts it before the final swap.
    // Copied in fixed-size pieces: a variable-length copy is a call to memcpy, which
    // cost more than the whole sum of a small packet.
    let mut tail = [0u8; 8];
    let mut at = 0;
    if let Some(four) = rest.first_chunk::<4>() {
        tail[..4].copy_from_slice(four);
        at = 4;
    }
    if let Some(two) = rest[at..].first_chunk::<2>() {
        tail[at..at + 2].copy_from_slice(two);
        at += 2;
    }
    if let Some(&last) = rest.get(at) {
        tail[at] = last;
    }
    add(tail);
    // Each carry out of bit 63 is worth 2^64, which is 1 modulo 0xffff.
    let native = fold(carries + (sum >> 32) + (sum & 0xffff_ffff));
    acc + u16::from_be(native) as u64
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
    // The usual 20-byte header as five native-endian 32-bit words: each is two 16-bit
    // words, and 2^16 is 1 modulo 0xffff, so their sum folds to the header's sum (byte-swapped,
    // which leaves 0xffff as it is). 29 instructions a call on the bench trace instead of the
    // 65 of `sum_bytes` with its tail, on every IPv4 packet.
    if let Ok(h) = <&[u8; 20]>::try_from(header) {
        let word = |i: usize| u64::from(u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]));
        return fold(word(0) + word(4) + word(8) + word(12) + word(16)) == 0xffff;
    }
    fold(sum_bytes(0, header)) == 0xffff
}

/// Pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 or IPv6.
pub fn pseudo_header(src: IpAddr, dst: IpAddr, proto: u8, len: usize) -> u64 {
    // Each address as 32-bit numbers: a 32-bit word is congruent to the sum of its two
    // 16-bit words modulo 0xffff (2^16 is 1), which is all the final fold needs, so the
    // words need not be split.
    let acc = match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => u64::from(s.to_bits()) + u64::from(d.to_bits()),
        (s, d) => {
            let words = |a: IpAddr| {
                let b = u128::from_be_bytes(to_v6(a));
                (0..4).map(|i| (b >> (32 * i)) as u32 as u64).sum::<u64>()
            };
            words(s) + words(d)
        }
    };
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

    /// The byte-at-a-time definition the fast sum must agree with.
    fn reference_sum(data: &[u8]) -> u16 {
        let mut acc = 0u64;
        for pair in data.chunks(2) {
            let hi = pair[0] as u64;
            let lo = pair.get(1).copied().unwrap_or(0) as u64;
            acc += (hi << 8) | lo;
        }
        fold(acc)
    }

    #[test]
    fn agrees_with_the_definition_at_every_length_and_alignment() {
        // Bytes chosen so that the accumulator overflows and carries matter.
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(197) ^ 0xff) as u8)
            .collect();
        for start in 0..8 {
            for end in start..data.len() {
                let d = &data[start..end];
                assert_eq!(fold(sum_bytes(0, d)), reference_sum(d), "{start}..{end}");
            }
        }
        let ones = vec![0xffu8; 4096];
        assert_eq!(fold(sum_bytes(0, &ones)), reference_sum(&ones));
        assert_eq!(
            fold(sum_bytes(0x1_2345, &[0x80, 0x01])),
            fold(0x1_2345 + 0x8001)
        );
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(fold(sum_bytes(0, &[0x12])), 0x1200);
    }

    /// The 20-byte shortcut of `ipv4_header_ok` and the pseudo-header's word sums agree
    /// with `sum_bytes` on every header of a pseudo-random sample, valid or not.
    #[test]
    fn shortcuts_agree_with_the_general_sum() {
        let mut x = 0x1234_5678_9abc_def0u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut h = [0u8; 20];
            for b in h.iter_mut() {
                *b = next() as u8;
            }
            if next() % 2 == 0 {
                // Make it valid: the checksum field is the complement of the rest's sum.
                h[10..12].copy_from_slice(&[0, 0]);
                let c = !fold(sum_bytes(0, &h));
                h[10..12].copy_from_slice(&c.to_be_bytes());
            }
            assert_eq!(
                ipv4_header_ok(&h),
                fold(sum_bytes(0, &h)) == 0xffff,
                "{h:?}"
            );
            let (s4, d4) = (
                IpAddr::from([h[0], h[1], h[2], h[3]]),
                IpAddr::from([h[4], h[5], h[6], h[7]]),
            );
            let mut v6 = [0u8; 16];
            v6.copy_from_slice(&[h.as_slice(), h.as_slice()].concat()[..16]);
            let s6 = IpAddr::from(v6);
            for (s, d) in [(s4, d4), (s6, d4), (d4, s6)] {
                let mut want = 0u64;
                want = sum_bytes(want, &to_v6_or_v4(s, d, s));
                want = sum_bytes(want, &to_v6_or_v4(s, d, d));
                let len = next() as usize & 0x1ffff;
                want += 17 + (len as u64 & 0xffff) + ((len as u64) >> 16);
                assert_eq!(fold(pseudo_header(s, d, 17, len)), fold(want));
            }
        }
    }

    /// An address as the pseudo-header has it: 4 bytes when both are IPv4, else 16.
    fn to_v6_or_v4(s: IpAddr, d: IpAddr, a: IpAddr) -> Vec<u8> {
        match (s, d, a) {
            (IpAddr::V4(_), IpAddr::V4(_), IpAddr::V4(v4)) => v4.octets().to_vec(),
            _ => to_v6(a).to_vec(),
        }
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
