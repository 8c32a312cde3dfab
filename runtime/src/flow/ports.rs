//! "Likely server ports": the ports Zeek's base scripts register analyzers for.
//! A connection first seen from such a port (without a clean SYN) is flipped so
//! that the server is the responder, as Zeek does.

/// TCP ports registered by Zeek's base protocol analyzers.
const TCP: &[u16] = &[
    21, 22, 23, 25, 79, 80, 81, 88, 110, 113, 135, 139, 143, 389, 443, 445, 502, 513, 514, 563,
    585, 587, 614, 631, 636, 749, 750, 989, 990, 992, 993, 995, 1080, 1434, 1883, 2811, 3128, 3268,
    3306, 3389, 5222, 5223, 5269, 5432, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8888, 20000,
];
/// UDP ports registered by Zeek's base protocol and tunnel analyzers. DHCP's client port 68
/// is not one (Zeek registers only 67/udp as a server port), so a server's unicast reply from
/// 67 to 68 is flipped.
const UDP: &[u16] = &[
    53, 67, 69, 88, 123, 137, 138, 161, 162, 389, 443, 500, 514, 750, 1812, 2123, 2152, 3389, 3544,
    4500, 4754, 4789, 5060, 5072, 5353, 5355, 6081, 20000,
];

/// Bitmaps for O(1) lookups on the packet path.
#[derive(Clone)]
pub struct ServerPorts {
    tcp: Box<[u64; 1024]>,
    udp: Box<[u64; 1024]>,
}

impl Default for ServerPorts {
    fn default() -> Self {
        let mut p = ServerPorts::none();
        for &port in TCP {
            p.add_tcp(port);
        }
        for &port in UDP {
            p.add_udp(port);
        }
        p
    }
}

impl std::fmt::Debug for ServerPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = |b: &[u64; 1024]| b.iter().map(|w| w.count_ones()).sum::<u32>();
        write!(
            f,
            "ServerPorts {{ tcp: {} ports, udp: {} ports }}",
            count(&self.tcp),
            count(&self.udp)
        )
    }
}

impl ServerPorts {
    /// No likely server ports at all.
    pub fn none() -> Self {
        ServerPorts {
            tcp: Box::new([0; 1024]),
            udp: Box::new([0; 1024]),
        }
    }

    /// Parses `--likely-server-ports`: `zeek` (the ports Zeek's default scripts register),
    /// `none`, or a comma-separated list in Zeek's port notation (`22/tcp,53/udp`).
    pub fn parse(spec: &str) -> Result<Self, String> {
        match spec.trim() {
            "zeek" => return Ok(Self::default()),
            "none" | "" => return Ok(Self::none()),
            _ => {}
        }
        let mut p = Self::none();
        for item in spec.split(',').map(str::trim) {
            let bad = || format!("{item:?}: write PORT/tcp or PORT/udp, e.g. 22/tcp");
            let (port, proto) = item.split_once('/').ok_or_else(bad)?;
            let port: u16 = port.parse().map_err(|_| bad())?;
            match proto {
                "tcp" => p.add_tcp(port),
                "udp" => p.add_udp(port),
                _ => return Err(bad()),
            }
        }
        Ok(p)
    }

    pub fn add_tcp(&mut self, port: u16) {
        self.tcp[port as usize / 64] |= 1 << (port % 64);
    }
    pub fn add_udp(&mut self, port: u16) {
        self.udp[port as usize / 64] |= 1 << (port % 64);
    }
    #[inline]
    pub fn tcp(&self, port: u16) -> bool {
        self.tcp[port as usize / 64] & (1 << (port % 64)) != 0
    }
    #[inline]
    pub fn udp(&self, port: u16) -> bool {
        self.udp[port as usize / 64] & (1 << (port % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn lookups() {
        let p = ServerPorts::default();
        assert!(p.tcp(80) && p.tcp(22) && !p.tcp(12345));
        assert!(p.udp(53) && p.udp(67) && !p.udp(68) && !p.udp(80));
    }

    #[test]
    fn lists_as_zeek_writes_ports() {
        let p = ServerPorts::parse("4789/udp, 8000/tcp").unwrap();
        assert!(p.udp(4789) && p.tcp(8000) && !p.tcp(4789) && !p.tcp(80));
        let none = ServerPorts::parse("none").unwrap();
        assert!(!none.tcp(80) && !none.udp(53));
        assert!(ServerPorts::parse("zeek").unwrap().tcp(80));
        assert!(ServerPorts::parse("80").unwrap_err().contains("PORT/tcp"));
        assert!(ServerPorts::parse("80/sctp").is_err());
        assert!(ServerPorts::parse("99999/tcp").is_err());
    }
}
