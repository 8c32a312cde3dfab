//! Canonical connection keys: both directions of a flow map to the same key.

use std::net::IpAddr;

/// A flow's key: the five-tuple with the lower (address, port) end first, so that both
/// directions have the same key. Addresses are IPv6 (IPv4 as v4-mapped, as Zeek keeps
/// them) in integers, so that hashing and comparing a key is a few word operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnKey {
    a: u128,
    b: u128,
    /// The lower end's port in the high half, the other's in the low half.
    ports: u32,
    proto: u8,
    /// The VLAN context with Zeek's VLAN-aware key (`ConnKey::CONNKEY_VLAN_FIVETUPLE`), see
    /// [`vlan_ctx`]; 0 with the plain five-tuple.
    ctx: u32,
}

#[inline]
fn addr_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().to_bits(),
        IpAddr::V6(v6) => v6.to_bits(),
    }
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
        let (s, d) = (addr_bits(src), addr_bits(dst));
        let (a, b, pa, pb) = if (s, sport) <= (d, dport) {
            (s, d, sport, dport)
        } else {
            (d, s, dport, sport)
        };
        ConnKey {
            a,
            b,
            ports: u32::from(pa) << 16 | u32::from(pb),
            proto,
            ctx: 0,
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
