//! Canonical connection keys: both directions of a flow map to the same key.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    a: IpAddr,
    b: IpAddr,
    pa: u16,
    pb: u16,
    proto: u8,
}

impl ConnKey {
    #[inline]
    pub fn new(src: IpAddr, sport: u16, dst: IpAddr, dport: u16, proto: u8) -> Self {
        if (src, sport) <= (dst, dport) {
            ConnKey {
                a: src,
                b: dst,
                pa: sport,
                pb: dport,
                proto,
            }
        } else {
            ConnKey {
                a: dst,
                b: src,
                pa: dport,
                pb: sport,
                proto,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn symmetric() {
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let y: IpAddr = "10.0.0.2".parse().unwrap();
        assert_eq!(ConnKey::new(x, 1, y, 2, 6), ConnKey::new(y, 2, x, 1, 6));
        assert_ne!(ConnKey::new(x, 1, y, 2, 6), ConnKey::new(x, 1, y, 2, 17));
    }
}
