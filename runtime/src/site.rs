//! Site::local_nets: which addresses count as local for local_orig/local_resp.

use std::net::IpAddr;

/// An IPv4 or IPv6 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: u128,
    len: u8,
    v6: bool,
}

fn bits(a: IpAddr) -> (u128, bool) {
    match a {
        IpAddr::V4(v) => (u32::from(v) as u128, false),
        IpAddr::V6(v) => (u128::from(v), true),
    }
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let addr: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("bad address in '{s}'"))?;
        let (v, v6) = bits(addr);
        let max = if v6 { 128 } else { 32 };
        let len: u8 = match l {
            Some(l) => l
                .trim()
                .parse()
                .map_err(|_| format!("bad prefix length in '{s}'"))?,
            None => max,
        };
        if len > max {
            return Err(format!("prefix length {len} too long in '{s}'"));
        }
        Ok(Cidr {
            addr: v & mask(len, max),
            len,
            v6,
        })
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        let (v, v6) = bits(a);
        v6 == self.v6 && v & mask(self.len, if v6 { 128 } else { 32 }) == self.addr
    }
}

fn mask(len: u8, max: u8) -> u128 {
    if len == 0 {
        0
    } else {
        let all: u128 = if max == 128 {
            u128::MAX
        } else {
            u32::MAX as u128
        };
        all & !((1u128 << (max - len)) - 1)
    }
}

/// Private and reserved address space (IANA special-purpose registries, and the
/// local network control block 224.0.0.0/24 as Zeek has it), which
/// current Zeek counts as local by default (`Site::private_address_space_is_local`).
pub const PRIVATE_SPACE: &[&str] = &[
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "224.0.0.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "240.0.0.0/4",
    "255.255.255.255/32",
    "::/128",
    "::1/128",
    "::ffff:0:0/96",
    "64:ff9b:1::/48",
    "100::/64",
    "2001::/23",
    "2001:db8::/32",
    "2002::/16",
    "fc00::/7",
    "fe80::/10",
];

#[derive(Debug, Clone)]
pub struct LocalNets {
    nets: Vec<Cidr>,
}

impl Default for LocalNets {
    fn default() -> Self {
        LocalNets {
            nets: PRIVATE_SPACE
                .iter()
                .map(|s| Cidr::parse(s).expect("valid builtin"))
                .collect(),
        }
    }
}

impl LocalNets {
    /// Parses "CIDR,CIDR,..." (the --local-nets option).
    pub fn parse_list(s: &str) -> Result<LocalNets, String> {
        let nets = s
            .split(',')
            .filter(|p| !p.trim().is_empty())
            .map(Cidr::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(LocalNets { nets })
    }

    pub fn is_local(&self, a: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn defaults_cover_private_space() {
        let l = LocalNets::default();
        for a in [
            "10.1.2.3",
            "192.168.1.1",
            "172.20.0.1",
            "fe80::1",
            "fd00::5",
            "127.0.0.1",
            "224.0.0.251",
        ] {
            assert!(l.is_local(a.parse().unwrap()), "{a}");
        }
        for a in [
            "8.8.8.8",
            "172.32.0.1",
            "2607:f8b0::1",
            "239.1.1.1",
            "ff02::1",
        ] {
            assert!(!l.is_local(a.parse().unwrap()), "{a}");
        }
    }
    #[test]
    fn parse_list_and_errors() {
        let l = LocalNets::parse_list("1.2.3.0/24, 2001:db8::/32").unwrap();
        assert!(l.is_local("1.2.3.4".parse().unwrap()));
        assert!(!l.is_local("1.2.4.4".parse().unwrap()));
        assert!(LocalNets::parse_list("1.2.3.0/33").is_err());
        assert!(LocalNets::parse_list("nonsense").is_err());
    }
}
