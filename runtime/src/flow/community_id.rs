//! Community ID flow hashing, version 1 (https://github.com/corelight/community-id-spec).

use std::net::IpAddr;

use base64::Engine as _;
use sha1::{Digest, Sha1};

/// ICMP type/code to "ports" as the spec maps them; the bool is "one-way".
fn icmp_ports(v6: bool, t: u8, c: u8) -> (u16, u16, bool) {
    let pair = if v6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            130 => Some(131),
            131 => Some(130),
            144 => Some(145),
            145 => Some(144),
            _ => None,
        }
    } else {
        match t {
            8 => Some(0),
            0 => Some(8),
            13 => Some(14),
            14 => Some(13),
            15 => Some(16),
            16 => Some(15),
            10 => Some(9),
            9 => Some(10),
            17 => Some(18),
            18 => Some(17),
            _ => None,
        }
    };
    match pair {
        Some(p) => (t as u16, p, false),
        None => (t as u16, c as u16, true),
    }
}

fn addr_bytes(a: &IpAddr) -> ([u8; 16], usize) {
    let mut b = [0u8; 16];
    match a {
        IpAddr::V4(v) => {
            b[..4].copy_from_slice(&v.octets());
            (b, 4)
        }
        IpAddr::V6(v) => {
            b.copy_from_slice(&v.octets());
            (b, 16)
        }
    }
}

/// A version-1 Community ID, "1:" and the base64 of a SHA-1 digest: always 30 ASCII bytes,
/// kept inline so that logging a connection allocates nothing for it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CommunityId([u8; 30]);

impl CommunityId {
    pub fn as_str(&self) -> &str {
        // Only "1:" and base64's ASCII alphabet are ever written into it.
        std::str::from_utf8(&self.0).expect("community id is ASCII")
    }
}

impl std::fmt::Debug for CommunityId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Input for ICMP: pass type as `sport` and code as `dport`.
pub fn community_id_v1(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
) -> CommunityId {
    let (mut sp, mut dp, one_way) = match proto {
        1 => icmp_ports(false, sport as u8, dport as u8),
        58 => icmp_ports(true, sport as u8, dport as u8),
        _ => (sport, dport, false),
    };
    let (mut sa, sl) = addr_bytes(&src);
    let (mut da, dl) = addr_bytes(&dst);
    let ordered = (&sa[..sl], sp) < (&da[..dl], dp);
    if !(one_way || ordered) {
        std::mem::swap(&mut sa, &mut da);
        std::mem::swap(&mut sp, &mut dp);
    }
    let mut h = Sha1::new();
    h.update(seed.to_be_bytes());
    h.update(&sa[..sl]);
    h.update(&da[..dl]);
    h.update([proto, 0]);
    if matches!(proto, 1 | 6 | 17 | 58 | 132) {
        h.update(sp.to_be_bytes());
        h.update(dp.to_be_bytes());
    }
    let mut id = [0u8; 30];
    id[..2].copy_from_slice(b"1:");
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(h.finalize(), &mut id[2..])
        .expect("a 20-byte digest is 28 base64 bytes");
    debug_assert_eq!(written, 28);
    CommunityId(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors from the community-id-spec baseline (seed 0).
    #[test]
    fn spec_vectors() {
        assert_eq!(
            community_id_v1(
                0,
                "128.232.110.120".parse().unwrap(),
                "66.35.250.204".parse().unwrap(),
                6,
                34855,
                80
            )
            .as_str(),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // reversed direction gives the same id
        assert_eq!(
            community_id_v1(
                0,
                "66.35.250.204".parse().unwrap(),
                "128.232.110.120".parse().unwrap(),
                6,
                80,
                34855
            )
            .as_str(),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
    }
}
