//! Scan.zeek's two SumStats, "addr-scan" and "port-scan", and the notices their thresholds
//! raise.
//!
//! - addr-scan: key (scanner, scanned port), UNIQUE over victims; threshold
//!   `Scan::addr_scan_threshold` = 25; notice `Scan::Address_Scan`
//!   "<scanner> scanned at least <n> unique hosts on port <port> in <XmYs>" with `$src`,
//!   `$p`.
//! - port-scan: key (scanner, victim), UNIQUE over scanned ports; threshold
//!   `Scan::port_scan_threshold` = 15; notice `Scan::Port_Scan`
//!   "<scanner> scanned at least <n> unique ports of host <victim> in <XmYs>" with `$src`,
//!   `$dst`.
//!
//! Both have `$sub` "local" or "remote" (`Site::is_local_addr(scanner)`) and
//! `$identifier=cat(scanner)`, so the notice framework suppresses a scanner's repeats of the
//! same note for an hour. Both epochs are 5 minutes.
//!
//! SumStats semantics kept: a threshold is crossed when the unique count reaches it
//! (`>=`, checked at each observation, so `n` in the message is exactly the threshold), at
//! most once per key and epoch, and after that the key takes no more observations until the
//! epoch ends; at the end of an epoch all keys are forgotten. The duration in the message is
//! `duration_to_mins_secs(end - begin)`, the time between the key's first and latest
//! observation in the epoch, truncated to whole seconds.
//!
//! Epochs: Zeek schedules `SumStats::finish_epoch` 5 minutes after start-up, which in a trace
//! fires at the first packet and then every 5 minutes of network time. Here epochs are
//! consecutive 5-minute windows from a start time the caller gives (the start of the first
//! connection it sees), and an observation at or past the end of the window closes it; only
//! observations matter, since scan.zeek has no epoch results.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;

/// Scan.zeek's defaults.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// `Scan::addr_scan_threshold`.
    pub addr_scan_threshold: usize,
    /// `Scan::port_scan_threshold`.
    pub port_scan_threshold: usize,
    /// `Scan::addr_scan_interval` and `Scan::port_scan_interval`, seconds.
    pub epoch: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr_scan_threshold: 25,
            port_scan_threshold: 15,
            epoch: 300.0,
        }
    }
}

/// One failed attempt, with the roles scan.zeek's `add_sumstats` gives it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Attempt {
    pub scanner: IpAddr,
    pub victim: IpAddr,
    /// The scanned TCP port.
    pub port: u16,
    /// Whether the scanner is inside the local networks.
    pub scanner_local: bool,
    /// Network time of the observation.
    pub ts: f64,
}

/// A crossed threshold: one notice to raise.
#[derive(Clone, Debug, PartialEq)]
pub enum Finding {
    AddressScan {
        scanner: IpAddr,
        port: u16,
        unique: usize,
        seconds: f64,
        scanner_local: bool,
    },
    PortScan {
        scanner: IpAddr,
        victim: IpAddr,
        unique: usize,
        seconds: f64,
        scanner_local: bool,
    },
}

impl Finding {
    /// The notice type, as `Notice::Type` is written.
    pub fn note(&self) -> &'static str {
        match self {
            Finding::AddressScan { .. } => "Scan::Address_Scan",
            Finding::PortScan { .. } => "Scan::Port_Scan",
        }
    }

    /// The notice's `msg`, formatted as scan.zeek's `fmt` calls do.
    pub fn msg(&self) -> String {
        match self {
            Finding::AddressScan {
                scanner,
                port,
                unique,
                seconds,
                ..
            } => format!(
                "{scanner} scanned at least {unique} unique hosts on port {port}/tcp in {}",
                mins_secs(*seconds)
            ),
            Finding::PortScan {
                scanner,
                victim,
                unique,
                seconds,
                ..
            } => format!(
                "{scanner} scanned at least {unique} unique ports of host {victim} in {}",
                mins_secs(*seconds)
            ),
        }
    }

    /// The notice's `sub`.
    pub fn sub(&self) -> &'static str {
        let local = match self {
            Finding::AddressScan { scanner_local, .. }
            | Finding::PortScan { scanner_local, .. } => *scanner_local,
        };
        if local {
            "local"
        } else {
            "remote"
        }
    }

    /// `$src`, also the suppression identifier (`cat(key$host)`).
    pub fn scanner(&self) -> IpAddr {
        match self {
            Finding::AddressScan { scanner, .. } | Finding::PortScan { scanner, .. } => *scanner,
        }
    }
}

/// Zeek's `duration_to_mins_secs`: whole seconds (truncated) as "XmYs".
pub fn mins_secs(seconds: f64) -> String {
    let whole = if seconds.is_finite() && seconds > 0.0 {
        seconds as u64
    } else {
        0
    };
    format!("{}m{}s", whole / 60, whole % 60)
}

/// A key's UNIQUE reducer within an epoch.
enum Tally<T> {
    Counting {
        seen: Unique<T>,
        begin: f64,
        end: f64,
    },
    /// The threshold was crossed this epoch; the key takes no more observations.
    Crossed,
}

/// The distinct values of a key, at most a threshold's worth (25), so a list is enough.
/// Most keys of a scan hold one value (one port of each host in a port sweep, one host per
/// port in a host sweep), kept without a heap allocation: about 40 bytes a key, so a full
/// sweep of 65,535 ports costs a few MiB of the module's memory.
enum Unique<T> {
    One(T),
    Many(Vec<T>),
}

impl<T: PartialEq> Unique<T> {
    /// Adds `value` if new; returns the number of distinct values.
    fn insert(&mut self, value: T) -> usize {
        match self {
            Unique::One(first) => {
                if *first == value {
                    return 1;
                }
                let Unique::One(first) = std::mem::replace(self, Unique::Many(Vec::new())) else {
                    unreachable!()
                };
                *self = Unique::Many(vec![first, value]);
                2
            }
            Unique::Many(values) => {
                if !values.contains(&value) {
                    values.push(value);
                }
                values.len()
            }
        }
    }
}

impl<T: PartialEq> Tally<T> {
    fn new(value: T, ts: f64) -> Self {
        Tally::Counting {
            seen: Unique::One(value),
            begin: ts,
            end: ts,
        }
    }

    /// Adds one observation; the unique count and duration if this crosses `threshold`.
    fn observe(&mut self, value: T, ts: f64, threshold: usize) -> Option<(usize, f64)> {
        let Tally::Counting { seen, begin, end } = self else {
            return None;
        };
        let unique = seen.insert(value);
        *begin = begin.min(ts);
        *end = end.max(ts);
        if unique < threshold {
            return None;
        }
        let crossed = (unique, *end - *begin);
        *self = Tally::Crossed;
        Some(crossed)
    }

    /// A new key's tally after its first observation, and whether that alone crosses.
    fn first(value: T, ts: f64, threshold: usize) -> (Self, Option<(usize, f64)>) {
        if threshold <= 1 {
            (Tally::Crossed, Some((1, 0.0)))
        } else {
            (Tally::new(value, ts), None)
        }
    }
}

/// Observes `value` under `key`; the unique count and duration if this crosses `threshold`.
fn observe<K: Eq + Hash, T: PartialEq>(
    table: &mut HashMap<K, Tally<T>>,
    key: K,
    value: T,
    ts: f64,
    threshold: usize,
) -> Option<(usize, f64)> {
    match table.entry(key) {
        Entry::Occupied(mut e) => e.get_mut().observe(value, ts, threshold),
        Entry::Vacant(e) => {
            let (tally, crossed) = Tally::first(value, ts, threshold);
            e.insert(tally);
            crossed
        }
    }
}

#[derive(Default)]
pub struct Detector {
    config: Config,
    /// End of the current epoch; unset until the clock starts.
    epoch_end: Option<f64>,
    /// addr-scan: (scanner, port) -> victims.
    addr_scan: HashMap<(IpAddr, u16), Tally<IpAddr>>,
    /// port-scan: (scanner, victim) -> ports.
    port_scan: HashMap<(IpAddr, IpAddr), Tally<u16>>,
}

impl Detector {
    pub fn new(config: Config) -> Self {
        Detector {
            config,
            ..Detector::default()
        }
    }

    /// Starts the first epoch at `ts` (Zeek's first packet); later calls do nothing.
    pub fn start_clock(&mut self, ts: f64) {
        if self.epoch_end.is_none() {
            self.epoch_end = Some(ts + self.config.epoch);
        }
    }

    /// Ends the epochs that are over at `ts`.
    fn advance(&mut self, ts: f64) {
        let epoch = self.config.epoch;
        let end = *self.epoch_end.get_or_insert(ts + epoch);
        if ts < end {
            return;
        }
        let skipped = ((ts - end) / epoch).floor() + 1.0;
        self.epoch_end = Some(end + skipped * epoch);
        self.addr_scan.clear();
        self.port_scan.clear();
    }

    /// `add_sumstats` for one failed attempt: observes "scan.addr.fail" then
    /// "scan.port.fail", and returns the thresholds this crosses, in that order.
    pub fn observe(&mut self, a: &Attempt) -> Vec<Finding> {
        self.advance(a.ts);
        let mut found = Vec::new();
        let crossed = observe(
            &mut self.addr_scan,
            (a.scanner, a.port),
            a.victim,
            a.ts,
            self.config.addr_scan_threshold,
        );
        if let Some((unique, seconds)) = crossed {
            found.push(Finding::AddressScan {
                scanner: a.scanner,
                port: a.port,
                unique,
                seconds,
                scanner_local: a.scanner_local,
            });
        }
        let crossed = observe(
            &mut self.port_scan,
            (a.scanner, a.victim),
            a.port,
            a.ts,
            self.config.port_scan_threshold,
        );
        if let Some((unique, seconds)) = crossed {
            found.push(Finding::PortScan {
                scanner: a.scanner,
                victim: a.victim,
                unique,
                seconds,
                scanner_local: a.scanner_local,
            });
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn attempt(victim: &str, port: u16, ts: f64) -> Attempt {
        Attempt {
            scanner: ip("10.0.0.1"),
            victim: ip(victim),
            port,
            scanner_local: true,
            ts,
        }
    }

    #[test]
    fn port_scan_crosses_at_the_fifteenth_unique_port() {
        let mut d = Detector::default();
        d.start_clock(1000.0);
        for port in 1..15u16 {
            assert_eq!(
                d.observe(&attempt("10.0.0.2", port, 1000.0 + f64::from(port))),
                vec![]
            );
            // A repeated port does not count.
            assert_eq!(d.observe(&attempt("10.0.0.2", port, 1000.5)), vec![]);
        }
        let found = d.observe(&attempt("10.0.0.2", 15, 1075.9));
        assert_eq!(found.len(), 1);
        let f = &found[0];
        assert_eq!(f.note(), "Scan::Port_Scan");
        assert_eq!(
            f.msg(),
            "10.0.0.1 scanned at least 15 unique ports of host 10.0.0.2 in 1m15s"
        );
        assert_eq!(f.sub(), "local");
        // Once per key and epoch.
        assert_eq!(d.observe(&attempt("10.0.0.2", 16, 1076.0)), vec![]);
    }

    #[test]
    fn address_scan_crosses_at_the_twenty_fifth_unique_host() {
        let mut d = Detector::default();
        d.start_clock(0.0);
        for i in 1..25 {
            assert_eq!(d.observe(&attempt(&format!("10.0.1.{i}"), 23, 1.0)), vec![]);
        }
        let found = d.observe(&attempt("10.0.1.25", 23, 1.5));
        assert_eq!(
            found,
            vec![Finding::AddressScan {
                scanner: ip("10.0.0.1"),
                port: 23,
                unique: 25,
                seconds: 0.5,
                scanner_local: true,
            }]
        );
        assert_eq!(
            found[0].msg(),
            "10.0.0.1 scanned at least 25 unique hosts on port 23/tcp in 0m0s"
        );
    }

    #[test]
    fn epochs_forget_counts() {
        let mut d = Detector::default();
        d.start_clock(0.0);
        for port in 1..15u16 {
            d.observe(&attempt("10.0.0.2", port, 299.0));
        }
        // The 15th port comes in the next epoch: the count starts again.
        assert_eq!(d.observe(&attempt("10.0.0.2", 15, 300.0)), vec![]);
        for port in 16..30u16 {
            assert_eq!(
                d.observe(&attempt("10.0.0.2", port, 301.0)).len(),
                usize::from(port == 29)
            );
        }
        // A crossed key may cross again in a later epoch (the notice framework suppresses it).
        for port in 1..15u16 {
            d.observe(&attempt("10.0.0.2", port, 1000.0));
        }
        assert_eq!(d.observe(&attempt("10.0.0.2", 15, 1000.0)).len(), 1);
    }

    #[test]
    fn one_attempt_can_cross_both() {
        let mut d = Detector::new(Config {
            addr_scan_threshold: 2,
            port_scan_threshold: 2,
            epoch: 300.0,
        });
        assert_eq!(d.observe(&attempt("10.0.0.2", 80, 1.0)), vec![]);
        assert_eq!(d.observe(&attempt("10.0.0.3", 81, 1.0)), vec![]);
        // Port 81 now has two hosts and host 10.0.0.2 two ports: addr-scan is observed first.
        let found = d.observe(&attempt("10.0.0.2", 81, 1.0));
        let notes: Vec<&str> = found.iter().map(|f| f.note()).collect();
        assert_eq!(notes, ["Scan::Address_Scan", "Scan::Port_Scan"]);
    }

    #[test]
    fn mins_secs_truncates() {
        assert_eq!(mins_secs(0.0), "0m0s");
        assert_eq!(mins_secs(59.999), "0m59s");
        assert_eq!(mins_secs(125.2), "2m5s");
        assert_eq!(mins_secs(-1.0), "0m0s");
    }

    #[test]
    fn ipv6_scanner_is_written_as_zeek_does() {
        let f = Finding::PortScan {
            scanner: ip("2001:db8::1"),
            victim: ip("2001:db8::2"),
            unique: 15,
            seconds: 3.0,
            scanner_local: false,
        };
        assert_eq!(
            f.msg(),
            "2001:db8::1 scanned at least 15 unique ports of host 2001:db8::2 in 0m3s"
        );
        assert_eq!(f.sub(), "remote");
    }
}
