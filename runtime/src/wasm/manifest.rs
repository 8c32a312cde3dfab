//! Module manifests: the TOML file beside each component (`dns.wasm` + `dns.toml`).
//!
//! A manifest says what the module is (name, kind, version), what it may spend per call (fuel,
//! memory, wall clock) and what it is granted (capabilities, none by default). It is validated
//! completely at load time, so a bad manifest is an error at load, never at packet time.

use std::fmt;

use serde::Deserialize;

/// The kind of a component; each kind is one WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    ProtocolAnalyzer,
    FileAnalyzer,
    EventHandler,
    LogWriter,
    NetcontrolPlugin,
    InputReader,
}

impl Kind {
    pub const ALL: [Kind; 6] = [
        Kind::ProtocolAnalyzer,
        Kind::FileAnalyzer,
        Kind::EventHandler,
        Kind::LogWriter,
        Kind::NetcontrolPlugin,
        Kind::InputReader,
    ];

    /// The name used in manifests and in the WIT world.
    pub fn name(self) -> &'static str {
        match self {
            Kind::ProtocolAnalyzer => "protocol-analyzer",
            Kind::FileAnalyzer => "file-analyzer",
            Kind::EventHandler => "event-handler",
            Kind::LogWriter => "log-writer",
            Kind::NetcontrolPlugin => "netcontrol-plugin",
            Kind::InputReader => "input-reader",
        }
    }

    /// The interface a component of this kind exports (without the package version).
    pub fn export_interface(self) -> &'static str {
        match self {
            Kind::ProtocolAnalyzer => "analyzer",
            Kind::FileAnalyzer => "file-analysis",
            Kind::EventHandler => "handler",
            Kind::LogWriter => "writer",
            Kind::NetcontrolPlugin => "netcontrol",
            Kind::InputReader => "input",
        }
    }

    /// analyzer_failed.log `analyzer_kind`: Zeek's "protocol" and "file", and our other kinds.
    pub fn log_name(self) -> &'static str {
        match self {
            Kind::ProtocolAnalyzer => "protocol",
            Kind::FileAnalyzer => "file",
            Kind::EventHandler => "handler",
            Kind::LogWriter => "writer",
            Kind::NetcontrolPlugin => "netcontrol",
            Kind::InputReader => "input",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A capability a manifest may grant. Everything else is denied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// The guest's stderr goes to the monitor's stderr (debugging). Without it, it is discarded.
    Stderr,
}

/// How instances of an analyzer are shared between connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// One instance per worker serves all sessions; a failure loses the sessions it holds.
    #[default]
    Shared,
    /// One instance per connection (about 15 µs more per connection): a failure loses only it.
    PerConnection,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", default)]
pub struct Limits {
    /// Fuel per call (about one unit per Wasm instruction); 0 means unlimited (then only the wall
    /// clock stops a runaway call).
    pub fuel: u64,
    /// Ceiling of the component's linear memory, in MiB.
    pub memory_mb: u32,
    /// Wall-clock ceiling per call, in milliseconds.
    pub wall_clock_ms: u64,
    pub isolation: Isolation,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            fuel: 50_000_000,
            memory_mb: 64,
            wall_clock_ms: 1_000,
            isolation: Isolation::Shared,
        }
    }
}

/// Most memory a manifest may ask for, in MiB (the pooling allocator's slot size).
pub const MAX_MEMORY_MB: u32 = 512;
/// Longest wall-clock ceiling a manifest may ask for, in milliseconds.
pub const MAX_WALL_CLOCK_MS: u64 = 60_000;
/// Bounds of `analyzer.udp-session-timeout-ms`. The expiry check allows a second of slack
/// (Zeek's), so a shorter timeout would mean nothing; an hour is past any UDP timeout in use.
pub const MIN_UDP_SESSION_TIMEOUT_MS: u64 = 1_000;
pub const MAX_UDP_SESSION_TIMEOUT_MS: u64 = 3_600_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Transport {
    Tcp,
    Udp,
}

/// `transport = "tcp"` or `transport = ["udp", "tcp"]` (DNS runs over both).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Transports {
    One(Transport),
    Many(Vec<Transport>),
}

impl Transports {
    pub fn has(&self, t: Transport) -> bool {
        match self {
            Transports::One(x) => *x == t,
            Transports::Many(v) => v.contains(&t),
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Transports::Many(v) if v.is_empty())
    }
}

impl fmt::Display for Transports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |t: &Transport| match t {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        };
        match self {
            Transports::One(t) => f.write_str(name(t)),
            Transports::Many(v) => {
                let names: Vec<&str> = v.iter().map(name).collect();
                f.write_str(&names.join("+"))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnalyzerSection {
    pub transport: Transports,
    #[serde(default)]
    pub ports: Vec<u16>,
    /// Regular expressions (bytes) matched against the first payload bytes of a direction.
    #[serde(default)]
    pub signatures: Vec<String>,
    /// Removes a UDP connection this analyzer runs on once it has been idle this long,
    /// checked every such interval from the analyzer's start, instead of waiting for the
    /// generic 60 s UDP timeout: Zeek's DNS analyzer does this with `dns_session_timeout`
    /// (10 s), so a resolver's later query on the same ports is a new connection.
    #[serde(default)]
    pub udp_session_timeout_ms: Option<u64>,
    /// TCP data is delivered as it arrives, one in-order segment per call (a hole that fills
    /// delivers everything it held back at once), instead of gathered into chunks: for
    /// analyzers that read meaning into segment sizes, as Zeek's SSH analyzer infers the
    /// authentication outcome from the sizes of the server's encrypted packets. Costs a call
    /// per segment on the connections the analyzer runs on.
    #[serde(default)]
    pub segments: bool,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HandlerSection {
    /// Names of the events this handler receives.
    pub events: Vec<String>,
    /// Conditions an event must meet to be delivered (all the filters naming its event):
    /// evaluated by the host, so events a handler would ignore never cross into it.
    #[serde(default)]
    pub filter: Vec<EventFilter>,
}

/// The transports a filter can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FilterProto {
    Tcp,
    Udp,
    Icmp,
}

/// `[[handler.filter]]`: a condition on the events of one name. Every field given must hold;
/// the connection fields need the event to carry a connection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventFilter {
    pub event: String,
    /// The originator (responder) is, or is not, inside --local-nets.
    pub local_orig: Option<bool>,
    pub local_resp: Option<bool>,
    pub proto: Option<FilterProto>,
    /// Every one of these letters is in the connection's history ("Sh": a SYN and a SYN-ACK).
    pub history_has: Option<String>,
    /// The responder sent at least this many packets.
    pub min_resp_pkts: Option<u64>,
    /// Argument `arg` (0-based) equals `equals` (an integer for count and int arguments, a
    /// string for string and enum ones, or a boolean).
    pub arg: Option<usize>,
    pub equals: Option<toml::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    pub name: String,
    pub kind: Kind,
    pub version: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    #[serde(default)]
    pub limits: Limits,
    pub analyzer: Option<AnalyzerSection>,
    pub handler: Option<HandlerSection>,
    /// The module's options and their defaults (see `wasm::options`).
    #[serde(default)]
    pub options: toml::Table,
}

impl Manifest {
    /// Parses and validates a manifest; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let m: Manifest = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        m.validate()?;
        Ok(m)
    }

    fn validate(&self) -> Result<(), String> {
        if !valid_module_name(&self.name) {
            return Err(format!(
                "name {:?}: use 1-64 characters of a-z, 0-9 and '-'",
                self.name
            ));
        }
        semver::Version::parse(&self.version)
            .map_err(|e| format!("version {:?} is not semver: {e}", self.version))?;
        super::options::validate(&self.options)?;
        let l = &self.limits;
        if l.memory_mb == 0 || l.memory_mb > MAX_MEMORY_MB {
            return Err(format!(
                "limits.memory-mb = {}: must be 1..={MAX_MEMORY_MB}",
                l.memory_mb
            ));
        }
        if l.wall_clock_ms == 0 || l.wall_clock_ms > MAX_WALL_CLOCK_MS {
            return Err(format!(
                "limits.wall-clock-ms = {}: must be 1..={MAX_WALL_CLOCK_MS}",
                l.wall_clock_ms
            ));
        }
        if l.isolation == Isolation::PerConnection && self.kind != Kind::ProtocolAnalyzer {
            return Err("limits.isolation = \"per-connection\" is for protocol analyzers".into());
        }
        match (self.kind, &self.analyzer) {
            (Kind::ProtocolAnalyzer, None) => {
                return Err("a protocol-analyzer needs an [analyzer] section".into())
            }
            (Kind::ProtocolAnalyzer, Some(a)) => {
                if a.transport.is_empty() {
                    return Err("analyzer.transport is empty: name \"tcp\" and/or \"udp\"".into());
                }
                if a.ports.is_empty() && a.signatures.is_empty() {
                    return Err("[analyzer] needs ports or signatures, or it never runs".into());
                }
                if let Some(t) = a.udp_session_timeout_ms {
                    if !(MIN_UDP_SESSION_TIMEOUT_MS..=MAX_UDP_SESSION_TIMEOUT_MS).contains(&t) {
                        return Err(format!(
                            "analyzer.udp-session-timeout-ms = {t}: must be \
                             {MIN_UDP_SESSION_TIMEOUT_MS}..={MAX_UDP_SESSION_TIMEOUT_MS}"
                        ));
                    }
                }
                for (i, s) in a.signatures.iter().enumerate() {
                    regex::bytes::RegexBuilder::new(s)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| format!("analyzer.signatures[{i}]: {e}"))?;
                }
            }
            (k, Some(_)) => {
                return Err(format!(
                    "[analyzer] is only for protocol analyzers, not {k}"
                ))
            }
            _ => {}
        }
        match (self.kind, &self.handler) {
            (Kind::EventHandler, None) => {
                return Err("an event-handler needs a [handler] section with events".into())
            }
            (Kind::EventHandler, Some(h)) => {
                if h.events.is_empty() {
                    return Err("handler.events is empty: the handler would never run".into());
                }
                if let Some(e) = h.events.iter().find(|e| !valid_event_name(e)) {
                    return Err(format!("handler.events: {e:?} is not an event name"));
                }
                for (i, f) in h.filter.iter().enumerate() {
                    let at = format!("handler.filter[{i}] (event {:?})", f.event);
                    if !h.events.contains(&f.event) {
                        return Err(format!("{at}: the event is not in handler.events"));
                    }
                    if f.arg.is_some() != f.equals.is_some() {
                        return Err(format!("{at}: arg and equals go together"));
                    }
                    if let Some(v) = &f.equals {
                        if !matches!(
                            v,
                            toml::Value::Integer(_)
                                | toml::Value::String(_)
                                | toml::Value::Boolean(_)
                        ) {
                            return Err(format!(
                                "{at}: equals is an integer, a string or a boolean"
                            ));
                        }
                    }
                    if let Some(letters) = &f.history_has {
                        if letters.is_empty()
                            || !letters
                                .bytes()
                                .all(|b| b.is_ascii_alphabetic() || b == b'^')
                        {
                            return Err(format!(
                                "{at}: history-has is a string of history letters"
                            ));
                        }
                    }
                }
            }
            (k, Some(_)) => return Err(format!("[handler] is only for event handlers, not {k}")),
            _ => {}
        }
        Ok(())
    }
}

/// Whether `name` is a module name: 1-64 characters of a-z, 0-9 and '-'.
pub fn valid_module_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn valid_event_name(e: &str) -> bool {
    !e.is_empty()
        && e.len() <= 128
        && e.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    const HANDLER: &str = r#"
name = "known-hosts"
kind = "event-handler"
version = "1.2.3"
description = "local hosts"

[handler]
events = ["connection_state_remove"]
"#;

    #[test]
    fn parses_with_defaults() {
        let m = Manifest::parse(HANDLER).unwrap();
        assert_eq!(m.kind, Kind::EventHandler);
        assert_eq!(m.limits, Limits::default());
        assert!(m.capabilities.is_empty());
        assert_eq!(m.handler.unwrap().events, ["connection_state_remove"]);
    }

    fn err(text: &str) -> String {
        Manifest::parse(text).unwrap_err()
    }

    #[test]
    fn rejects_what_is_wrong_with_a_clear_reason() {
        assert!(err(&HANDLER.replace("known-hosts", "Known Hosts")).contains("name"));
        assert!(err(&HANDLER.replace("1.2.3", "one")).contains("semver"));
        assert!(err(&HANDLER.replace("event-handler", "daemon")).contains("unknown variant"));
        assert!(err(&format!("{HANDLER}\n[limits]\nmemory-mb = 100000\n")).contains("memory-mb"));
        assert!(err(&format!("{HANDLER}\n[limits]\nwall-clock-ms = 0\n")).contains("wall-clock"));
        assert!(err(&format!("{HANDLER}\n[limits]\nfule = 1\n")).contains("unknown field"));
        assert!(err(&HANDLER.replace("[\"connection_state_remove\"]", "[]")).contains("empty"));
        assert!(
            err(&HANDLER.replace("[handler]\nevents = [\"connection_state_remove\"]", ""))
                .contains("[handler]")
        );
        let cap = HANDLER.replace("description", "capabilities = [\"sockets\"]\ndescription");
        assert!(err(&cap).contains("unknown variant"));
    }

    #[test]
    fn handler_filters() {
        let with = |f: &str| format!("{HANDLER}\n[[handler.filter]]\n{f}\n");
        let m = Manifest::parse(&with(
            "event = \"connection_state_remove\"\nproto = \"tcp\"\nhistory-has = \"Sh\"",
        ))
        .unwrap();
        let f = &m.handler.unwrap().filter[0];
        assert_eq!(f.proto, Some(FilterProto::Tcp));
        assert!(err(&with("event = \"other\"")).contains("not in handler.events"));
        assert!(err(&with("event = \"connection_state_remove\"\narg = 1")).contains("go together"));
        assert!(err(&with(
            "event = \"connection_state_remove\"\narg = 1\nequals = 1.5"
        ))
        .contains("integer, a string or a boolean"));
        assert!(err(&with(
            "event = \"connection_state_remove\"\nhistory-has = \"1\""
        ))
        .contains("history letters"));
        assert!(
            err(&with("event = \"connection_state_remove\"\nlocal = true"))
                .contains("unknown field")
        );
    }

    #[test]
    fn analyzer_sections() {
        let a = r#"
name = "dns"
kind = "protocol-analyzer"
version = "0.1.0"
[analyzer]
transport = "udp"
ports = [53]
signatures = ['^..\x01\x00']
"#;
        let m = Manifest::parse(a).unwrap();
        let t = &m.analyzer.as_ref().unwrap().transport;
        assert!(t.has(Transport::Udp) && !t.has(Transport::Tcp));
        let both = Manifest::parse(&a.replace("\"udp\"", "[\"udp\", \"tcp\"]")).unwrap();
        let t = &both.analyzer.as_ref().unwrap().transport;
        assert!(t.has(Transport::Udp) && t.has(Transport::Tcp));
        assert_eq!(t.to_string(), "udp+tcp");
        assert_eq!(m.analyzer.as_ref().unwrap().udp_session_timeout_ms, None);
        let timeout = |ms: &str| {
            a.replace(
                "ports = [53]\n",
                &format!("ports = [53]\nudp-session-timeout-ms = {ms}\n"),
            )
        };
        assert!(!m.analyzer.as_ref().unwrap().segments, "chunks by default");
        let segments = a.replace("ports = [53]\n", "ports = [53]\nsegments = true\n");
        assert!(
            Manifest::parse(&segments)
                .unwrap()
                .analyzer
                .unwrap()
                .segments
        );
        let ten = Manifest::parse(&timeout("10000")).unwrap();
        assert_eq!(ten.analyzer.unwrap().udp_session_timeout_ms, Some(10_000));
        assert!(err(&timeout("500")).contains("udp-session-timeout-ms = 500"));
        assert!(err(&timeout("7200000")).contains("must be 1000..=3600000"));
        assert!(err(&a.replace("\"udp\"", "[]")).contains("transport is empty"));
        assert!(err(&a.replace("'^..\\x01\\x00'", "'(unclosed'")).contains("signatures[0]"));
        assert!(err(&a
            .replace("ports = [53]\n", "")
            .replace("signatures = ['^..\\x01\\x00']", ""))
        .contains("ports or signatures"));
        let per_conn = a.replace(
            "[analyzer]",
            "[limits]\nisolation = \"per-connection\"\n[analyzer]",
        );
        assert!(Manifest::parse(&per_conn).is_ok());
        let h = HANDLER.replace(
            "[handler]",
            "[limits]\nisolation = \"per-connection\"\n[handler]",
        );
        assert!(err(&h).contains("per-connection"));
    }
}
