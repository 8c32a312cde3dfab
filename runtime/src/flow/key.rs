//! Canonical connection keys: both directions of a flow map to the same key.

use std::net::IpAddr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    a: IpAddr,
    b: IpAddr,
    pa: u16,
    pb: u16,
    proto: u8,
    /// The VLAN context with Zeek's VLAN-aware key (`ConnKey::CONNKEY_VLAN_FIVETUPLE`), see
    /// [`vlan_ctx`]; 0 with the plain five-tuple.
    ctx: u32,
}

/// The outer and inner VLAN IDs packed for [`ConnKey::with_ctx`]: each present ID as itself
/// plus one (IDs are 12 bits, 0 is a valid one), absent as 0.
pub fn vlan_ctx(vlan: Option<u16>, inner_vlan: Option<u16>) -> u32 {
    let id = |v: Option<u16>| v.map_or(0, |v| u32::from(v) + 1);
    id(vlan) | id(inner_vlan) << 16
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
                ctx: 0,
            }
        } else {
            ConnKey {
                a: dst,
                b: src,
                pa: dport,
                pb: sport,
                proto,
                ctx: 0,
            }
        }
    }

    /// The same flow in a VLAN context: traffic of different VLANs is different connections.
    #[inline]
    pub fn with_ctx(self, ctx: u32) -> Self {
        ConnKey { ctx, ..self }
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

    #[test]
    fn vlan_contexts_tell_flows_apart() {
        let x: IpAddr = "10.0.0.1".parse().unwrap();
        let y: IpAddr = "10.0.0.2".parse().unwrap();
        let k = ConnKey::new(x, 1, y, 2, 6);
        let ctx = [
            vlan_ctx(None, None),
            vlan_ctx(Some(0), None),
            vlan_ctx(Some(10), Some(20)),
            vlan_ctx(Some(20), Some(10)),
            vlan_ctx(None, Some(10)),
        ];
        for (i, a) in ctx.iter().enumerate() {
            for b in &ctx[i + 1..] {
                assert_ne!(k.with_ctx(*a), k.with_ctx(*b));
            }
        }
        assert_eq!(
            k.with_ctx(ctx[2]),
            ConnKey::new(y, 2, x, 1, 6).with_ctx(ctx[2])
        );
    }
}
