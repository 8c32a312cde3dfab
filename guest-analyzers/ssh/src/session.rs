//! One SSH connection, as Zeek's SSH analyzer and `base/protocols/ssh/main.zeek` see it: bytes
//! in, effects out (weirds, confirmation, a violation, ssh.log rows, events). No host calls.
//!
//! Each direction goes through the identification line, the cleartext binary packets of the
//! key exchange, and, after its NEWKEYS (SSH-2) or its first key-exchange packet (SSH-1),
//! encryption. From the two KEXINITs the negotiated algorithms are found as Zeek's script
//! does (the client's first choice the server also offers); the reply carrying the server's
//! host key gives its fingerprint. Encrypted data is not parsed: as Zeek does, the
//! authentication outcome is inferred from the sizes of the server's encrypted packets (one
//! TCP segment each, which the manifest's `segments = true` asks the host for). As in Zeek,
//! the protocol is confirmed by the first NEWKEYS (SSH-2) or session key (SSH-1), not by an
//! identification line alone.

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::parser::{self, msg};

/// Longest identification line (or pre-banner line) kept; RFC 4253 allows 255 bytes.
const MAX_LINE: usize = 4096;
/// Lines a server may send before its identification (RFC 4253 section 4.2).
const MAX_PRE_BANNER_LINES: u32 = 64;
/// Longest cleartext packet buffered whatever the options say (RFC 4253 asks for 35,000).
pub const MAX_PACKET_BUFFER: u32 = 256 * 1024;

/// Zeek's `SSH::max_packet_length`, `max_string_length` and `max_kexinit_*` (module options,
/// see module.toml): a larger cleartext packet, a longer KEXINIT name-list, or more names in
/// one are a weird each, and the analysis ends after that packet. 0: no limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub max_packet_length: u64,
    pub max_string_length: u64,
    /// Names per KEXINIT list, by [`KEXINIT_KINDS`].
    pub max_kexinit: [u64; 6],
}

/// The kinds of KEXINIT list, as Zeek names their options (`max_kexinit_<kind>`) and weirds.
pub const KEXINIT_KINDS: [&str; 6] = [
    "kex_algorithms",
    "hostkey_algorithms",
    "encryption_algorithms",
    "mac_algorithms",
    "compression_algorithms",
    "languages",
];

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_packet_length: u64::from(MAX_PACKET_BUFFER),
            max_string_length: 65_536,
            max_kexinit: [1024; 6],
        }
    }
}

impl Limits {
    /// The limits with the options `option` finds (by Zeek's names) in place of the defaults;
    /// an option that is not a number keeps the default.
    pub fn from_options(option: impl Fn(&str) -> Option<String>) -> Self {
        let mut l = Limits::default();
        let num =
            |name: &str, default: u64| option(name).and_then(|v| v.parse().ok()).unwrap_or(default);
        l.max_packet_length = num("max_packet_length", l.max_packet_length);
        l.max_string_length = num("max_string_length", l.max_string_length);
        for (i, kind) in KEXINIT_KINDS.iter().enumerate() {
            l.max_kexinit[i] = num(&format!("max_kexinit_{kind}"), l.max_kexinit[i]);
        }
        l
    }
}

/// Whether `n` is over `limit` (0: no limit).
fn over(n: u64, limit: u64) -> bool {
    limit != 0 && n > limit
}
/// Compression Zeek cannot see through: the authentication outcome is not inferred.
const COMPRESSION: [&str; 2] = ["zlib", "zlib@openssh.com"];

/// Where one direction is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Identification,
    KeyExchange,
    Encrypted,
}

/// A side's protocol version, from its identification line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proto {
    Unknown,
    V1,
    /// "1.99": speaks both.
    V199,
    V2,
}

impl Proto {
    fn of(line: &[u8]) -> Self {
        match line.get(4) {
            Some(b'2') => Proto::V2,
            Some(b'1') if line.get(6..8) == Some(b"99") => Proto::V199,
            Some(b'1') => Proto::V1,
            _ => Proto::Unknown,
        }
    }
}

/// The version the connection speaks once both sides are known (Zeek's `update_version`).
fn spoken(client: Proto, server: Proto) -> Proto {
    use Proto::*;
    match (client, server) {
        (V199, V199) => V2,
        (c, s) if c == s => c,
        (V199, V2) | (V2, V199) => V2,
        (V1, V199) | (V199, V1) => V1,
        _ => Unknown,
    }
}

/// What ssh.log's `version` says (Zeek's `set_version`): 1 or 2, 0 when the sides disagree.
fn logged_version(client: &str, server: &str) -> Option<u64> {
    let (c, s) = (client.as_bytes(), server.as_bytes());
    if c.len() <= 4 || s.len() <= 4 {
        return None;
    }
    let nines = |v: &[u8]| v.len() > 7 && v[6] == b'9' && v[7] == b'9';
    match (c[4], s[4]) {
        (b'1', b'2') => Some(if nines(c) { 2 } else { 0 }),
        (b'2', b'1') => Some(if nines(s) { 2 } else { 0 }),
        (b'1', b'1') => Some(if nines(s) && nines(c) { 2 } else { 1 }),
        (b'2', b'2') => Some(2),
        _ => None,
    }
}

/// How the negotiated key exchange sends the server's host key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kex {
    /// Not negotiated yet.
    Unknown,
    /// Diffie-Hellman and elliptic-curve (and hybrid post-quantum) exchanges: the reply (31).
    Reply,
    /// Group exchange: 31 is the group, the reply (33) has the key.
    GroupExchange,
    /// GSS-API: a host key message (45).
    Gss,
    /// RSA key exchange: the server's public key message (30).
    Rsa,
}

fn kex_kind(alg: &str) -> Kex {
    if alg.starts_with("diffie-hellman-group-exchange-") {
        Kex::GroupExchange
    } else if alg.starts_with("gss-") {
        Kex::Gss
    } else if alg.starts_with("rsa") {
        Kex::Rsa
    } else {
        Kex::Reply
    }
}

/// One side's algorithm preferences, from its KEXINIT.
#[derive(Debug, Clone, Default, PartialEq)]
struct Capabilities {
    kex: Vec<String>,
    host_key: Vec<String>,
    cipher: [Vec<String>; 2],
    mac: [Vec<String>; 2],
    compression: [Vec<String>; 2],
}

/// Zeek's `find_alg`: the client's first algorithm the server also offers.
fn find_alg(client: &[String], server: &[String]) -> String {
    client
        .iter()
        .find(|c| server.contains(c))
        .cloned()
        .unwrap_or_else(|| "Algorithm negotiation failed".into())
}

/// Zeek's `find_bidirectional_alg`: one name, or both when the directions differ.
fn find_bidirectional_alg(client: &[Vec<String>; 2], server: &[Vec<String>; 2]) -> String {
    let to_server = find_alg(&client[0], &server[0]);
    let to_client = find_alg(&client[1], &server[1]);
    if to_server == to_client {
        to_server
    } else {
        format!("To server: {to_server}, to client: {to_client}")
    }
}

/// ssh.log's record (Zeek's `SSH::Info`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Info {
    pub ts: f64,
    pub version: Option<u64>,
    pub auth_success: Option<bool>,
    pub auth_attempts: u64,
    pub client: Option<String>,
    pub server: Option<String>,
    pub cipher_alg: Option<String>,
    pub mac_alg: Option<String>,
    pub compression_alg: Option<String>,
    pub kex_alg: Option<String>,
    pub host_key_alg: Option<String>,
    pub host_key_fingerprint: Option<String>,
}

/// Events for the event handlers (see README.md).
#[derive(Debug, Clone, PartialEq)]
pub enum SshEvent {
    ClientVersion(String),
    ServerVersion(String),
    /// An authentication attempt and whether it succeeded.
    AuthAttempted(bool),
    /// The final outcome, with the attempts counted.
    AuthResult(bool, u64),
    /// The authentication failed (raised once, at the end).
    AuthFailed,
    ServerHostKey(String),
}

/// What a call asks the host for.
#[derive(Debug, Default, PartialEq)]
pub struct Effects {
    pub weirds: Vec<(String, String)>,
    pub confirm: bool,
    pub violation: Option<(String, Vec<u8>)>,
    pub rows: Vec<Info>,
    pub events: Vec<(f64, SshEvent)>,
}

/// Zeek's size-based inference of the authentication outcome (`SSH_Analyzer::ProcessEncrypted`).
#[derive(Debug, Default)]
struct AuthInference {
    decided: bool,
    skipped_banner: bool,
    saw_client_data: bool,
    service_accept_size: i64,
    userauth_failure_size: i64,
}

/// The analysis state of one connection.
#[derive(Debug)]
pub struct Session {
    /// OUTBOUND, INBOUND, or none when both sides or neither are local.
    direction: Option<&'static str>,
    phase: [Phase; 2],
    proto: [Proto; 2],
    /// Cleartext bytes of each direction not yet parsed.
    buf: [Vec<u8>; 2],
    pre_banner_lines: u32,
    kex: Kex,
    /// The first KEXINIT seen and whether the server sent it.
    caps: Option<(Capabilities, bool)>,
    info: Option<Info>,
    auth: AuthInference,
    logged: bool,
    /// A content gap, or a violation: nothing more is analysed.
    stopped: bool,
    confirmed: bool,
    limits: Limits,
    /// A limit was exceeded: the violation comes once the packet has been looked at.
    exceeded: bool,
}

impl Session {
    /// `partial`: the connection was picked up after its start (no SYN or SYN-ACK seen);
    /// Zeek's analyzer does not parse those, and neither does this one.
    pub fn new(local_orig: bool, local_resp: bool, partial: bool) -> Self {
        Self::with_limits(local_orig, local_resp, partial, Limits::default())
    }

    /// [`Session::new`] with the module options' limits.
    pub fn with_limits(local_orig: bool, local_resp: bool, partial: bool, limits: Limits) -> Self {
        let direction = match (local_orig, local_resp) {
            (true, false) => Some("OUTBOUND"),
            (false, true) => Some("INBOUND"),
            _ => None,
        };
        Session {
            direction,
            phase: [Phase::Identification; 2],
            proto: [Proto::Unknown; 2],
            buf: [Vec::new(), Vec::new()],
            pre_banner_lines: 0,
            kex: Kex::Unknown,
            caps: None,
            info: None,
            auth: AuthInference::default(),
            logged: false,
            stopped: partial,
            confirmed: false,
            limits,
            exceeded: false,
        }
    }

    /// ssh.log's `direction` column.
    pub fn direction(&self) -> Option<&'static str> {
        self.direction
    }

    /// The next bytes of one direction, one TCP segment (or a filled hole) at a time.
    pub fn deliver(&mut self, is_orig: bool, data: &[u8], now: f64) -> Effects {
        let mut fx = Effects::default();
        if self.stopped || data.is_empty() {
            return fx;
        }
        let d = usize::from(!is_orig);
        if self.phase[d] == Phase::Encrypted {
            self.encrypted(is_orig, data.len() as i64, now, &mut fx);
            return fx;
        }
        let mut buf = std::mem::take(&mut self.buf[d]);
        buf.extend_from_slice(data);
        let used = self.parse(is_orig, &buf, now, &mut fx);
        if self.stopped {
            return fx;
        }
        if self.phase[d] == Phase::Encrypted {
            // The rest of the segment came after NEWKEYS: its bytes are encrypted.
            let rest = (buf.len() - used) as i64;
            if rest > 0 {
                self.encrypted(is_orig, rest, now, &mut fx);
            }
            buf.clear();
        } else {
            buf.drain(..used);
        }
        self.buf[d] = buf;
        fx
    }

    /// Bytes were never seen: like Zeek, the analysis stops (both directions).
    pub fn gap(&mut self) {
        self.stopped = true;
        self.buf = [Vec::new(), Vec::new()];
    }

    /// The connection is over: the row not yet logged (Zeek's `finalize_ssh`).
    pub fn finish(&mut self) -> Effects {
        let mut fx = Effects::default();
        let Some(info) = self.info.clone().filter(|_| !self.logged) else {
            return fx;
        };
        self.logged = true;
        let failed =
            info.client.is_some() && info.server.is_some() && info.auth_success == Some(false);
        if failed {
            fx.events.push((info.ts, SshEvent::AuthFailed));
            fx.events
                .push((info.ts, SshEvent::AuthResult(false, info.auth_attempts)));
        }
        fx.rows.push(info);
        fx
    }

    /// Parses what `buf` holds of one direction in cleartext; returns the bytes consumed.
    fn parse(&mut self, is_orig: bool, buf: &[u8], now: f64, fx: &mut Effects) -> usize {
        let d = usize::from(!is_orig);
        let mut at = 0;
        loop {
            match self.phase[d] {
                Phase::Encrypted => return at,
                Phase::Identification => {
                    let Some(nl) = buf[at..].iter().position(|&b| b == b'\n') else {
                        if buf.len() - at > MAX_LINE {
                            self.violate("SSH identification line too long", &buf[at..], fx);
                        }
                        return at;
                    };
                    let line = &buf[at..at + nl];
                    at += nl + 1;
                    self.identification(is_orig, line, now, fx);
                }
                Phase::KeyExchange => {
                    let Some(n) = self.packet(is_orig, &buf[at..], now, fx) else {
                        return at;
                    };
                    at += n;
                }
            }
            if self.stopped {
                return at;
            }
        }
    }

    fn session(&mut self, now: f64) -> &mut Info {
        self.info.get_or_insert_with(|| Info {
            ts: now,
            ..Info::default()
        })
    }

    fn identification(&mut self, is_orig: bool, line: &[u8], now: f64, fx: &mut Effects) {
        let d = usize::from(!is_orig);
        let Some(id) = parser::identification(line) else {
            // A server may say other things first (RFC 4253 section 4.2); a client may not.
            if !is_orig && self.pre_banner_lines < MAX_PRE_BANNER_LINES {
                self.pre_banner_lines += 1;
                return;
            }
            fx.weirds
                .push(("malformed_ssh_identification".into(), String::new()));
            self.violate("malformed ssh identification", line, fx);
            return;
        };
        let version = String::from_utf8_lossy(id).into_owned();
        self.proto[d] = Proto::of(id);
        self.phase[d] = Phase::KeyExchange;
        let info = self.session(now);
        if is_orig {
            info.client = Some(version.clone());
        } else {
            info.server = Some(version.clone());
        }
        if let (Some(c), Some(s)) = (&info.client, &info.server) {
            info.version = logged_version(c, s);
        }
        fx.events.push((
            now,
            if is_orig {
                SshEvent::ClientVersion(version)
            } else {
                SshEvent::ServerVersion(version)
            },
        ));
    }

    fn confirm(&mut self, fx: &mut Effects) {
        if !self.confirmed {
            self.confirmed = true;
            fx.confirm = true;
        }
    }

    /// One cleartext binary packet at the start of `buf`, if it is all there: the bytes it
    /// took. `None` also when the version is not known yet (both identification lines are
    /// needed to tell SSH-1 from SSH-2, as in Zeek).
    fn packet(&mut self, is_orig: bool, buf: &[u8], now: f64, fx: &mut Effects) -> Option<usize> {
        let d = usize::from(!is_orig);
        let len = u32::from_be_bytes(buf.get(..4)?.try_into().ok()?);
        if len > MAX_PACKET_BUFFER {
            // More than is ever buffered: not SSH, or not worth following.
            let limit = self.limits.max_packet_length;
            self.exceeds("max_packet_length", u64::from(len), limit, fx);
            self.violate("SSH packet too long", &buf[..buf.len().min(40)], fx);
            return None;
        }
        match spoken(self.proto[0], self.proto[1]) {
            Proto::V2 => {
                let size = 4 + len as usize;
                let packet = buf.get(..size)?;
                let limit = self.limits.max_packet_length;
                if over(u64::from(len), limit) {
                    self.exceeds("max_packet_length", u64::from(len), limit, fx);
                }
                match parser::ssh2_packet(packet) {
                    Ok((_, (msg_type, payload))) => {
                        self.ssh2_message(is_orig, msg_type, payload, now, fx)
                    }
                    Err(_) => self.violate("malformed SSH packet", packet, fx),
                }
                if self.exceeded {
                    self.violate("SSH limit exceeded", &packet[..packet.len().min(40)], fx);
                }
                Some(size)
            }
            Proto::V1 => {
                let size = parser::ssh1_packet_size(len) as usize;
                let packet = buf.get(..size)?;
                // Any key-exchange message ends the cleartext of its direction (Zeek's
                // SSH1_Message); the client's session key confirms the protocol.
                if parser::ssh1_msg_type(packet, len) == Some(msg::SSH1_CMSG_SESSION_KEY) {
                    self.confirm(fx);
                }
                self.phase[d] = Phase::Encrypted;
                Some(size)
            }
            // The peer's identification has not been seen (or the sides disagree): keep the
            // bytes, bounded; a one-sided capture is logged with what is known.
            _ => {
                if buf.len() > MAX_PACKET_BUFFER as usize + 4 {
                    self.stopped = true;
                }
                None
            }
        }
    }

    fn ssh2_message(
        &mut self,
        is_orig: bool,
        msg_type: u8,
        payload: &[u8],
        now: f64,
        fx: &mut Effects,
    ) {
        let d = usize::from(!is_orig);
        match msg_type {
            msg::KEXINIT => match parser::kexinit(payload) {
                Ok((_, k)) => self.kexinit(!is_orig, &k, fx),
                Err(_) => self.violate("malformed SSH KEXINIT", payload, fx),
            },
            msg::NEWKEYS => {
                self.phase[d] = Phase::Encrypted;
                self.confirm(fx);
            }
            t if !is_orig && self.carries_host_key(t) => {
                if let Some(key) = parser::host_key(payload) {
                    let digest = Sha256::digest(key);
                    // Zeek logs the first 32 characters of the base64 of the SHA-256 (the
                    // base64 of its first 24 bytes).
                    let b64 = base64::engine::general_purpose::STANDARD.encode(&digest[..24]);
                    let fp = format!("SHA256:{b64}");
                    self.session(now).host_key_fingerprint = Some(fp.clone());
                    fx.events.push((now, SshEvent::ServerHostKey(fp)));
                }
            }
            _ => {}
        }
    }

    fn carries_host_key(&self, msg_type: u8) -> bool {
        match self.kex {
            Kex::Reply => msg_type == msg::KEXDH_REPLY,
            Kex::GroupExchange => msg_type == msg::KEX_DH_GEX_REPLY,
            Kex::Gss => msg_type == msg::KEXGSS_HOSTKEY,
            Kex::Rsa => msg_type == msg::KEXRSA_PUBKEY,
            Kex::Unknown => false,
        }
    }

    /// A KEXINIT: the sender's capabilities; with both sides', the negotiated algorithms
    /// (Zeek's `ssh_capabilities` handler).
    fn kexinit(&mut self, is_server: bool, k: &parser::KexInit<'_>, fx: &mut Effects) {
        // Zeek's limits: the first name-list over the string length, and per kind of list
        // the first (client-to-server, then server-to-client) with too many names.
        let lists = k.lists();
        let long = lists.iter().map(|(_, l)| l.len() as u64);
        if let Some(len) = long
            .clone()
            .find(|&n| over(n, self.limits.max_string_length))
        {
            self.exceeds("max_string_length", len, self.limits.max_string_length, fx);
        }
        for (i, kind) in KEXINIT_KINDS.iter().enumerate() {
            let limit = self.limits.max_kexinit[i];
            let counts = lists
                .iter()
                .filter(|(what, _)| what == kind)
                .map(|(_, l)| parser::names(l).count() as u64);
            if let Some(n) = counts.clone().find(|&n| over(n, limit)) {
                self.exceeds(&format!("max_kexinit_{kind}"), n, limit, fx);
            }
        }
        if self.exceeded {
            return;
        }
        let list = |l: &[u8]| -> Vec<String> {
            parser::names(l)
                .map(|n| String::from_utf8_lossy(n).into_owned())
                .collect()
        };
        let caps = Capabilities {
            kex: list(k.kex),
            host_key: list(k.host_key),
            cipher: [list(k.cipher_c2s), list(k.cipher_s2c)],
            mac: [list(k.mac_c2s), list(k.mac_s2c)],
            compression: [list(k.compression_c2s), list(k.compression_s2c)],
        };
        let (client, server) = match &self.caps {
            None => {
                self.caps = Some((caps, is_server));
                return;
            }
            // A second KEXINIT from the same side (a re-key) changes nothing here.
            Some((_, first_is_server)) if *first_is_server == is_server => return,
            Some((first, _)) if is_server => (first, &caps),
            Some((first, _)) => (&caps, first),
        };
        let kex_alg = find_alg(&client.kex, &server.kex);
        let cipher = find_bidirectional_alg(&client.cipher, &server.cipher);
        let mac = find_bidirectional_alg(&client.mac, &server.mac);
        let compression = find_bidirectional_alg(&client.compression, &server.compression);
        let host_key = find_alg(&client.host_key, &server.host_key);
        self.kex = kex_kind(&kex_alg);
        if let Some(info) = self.info.as_mut() {
            info.cipher_alg = Some(cipher);
            info.mac_alg = Some(mac);
            info.compression_alg = Some(compression);
            info.kex_alg = Some(kex_alg);
            info.host_key_alg = Some(host_key);
        }
    }

    /// An encrypted segment of `len` bytes (Zeek's `ProcessEncrypted`).
    fn encrypted(&mut self, is_orig: bool, len: i64, now: f64, fx: &mut Effects) {
        if self.auth.decided || spoken(self.proto[0], self.proto[1]) != Proto::V2 {
            return;
        }
        let a = &mut self.auth;
        if is_orig {
            a.saw_client_data = true;
            return;
        }
        if !a.saw_client_data {
            return;
        }
        // The server's first encrypted packet answers the client's service request.
        if a.service_accept_size == 0 {
            a.service_accept_size = len;
            return;
        }
        // USERAUTH_SUCCESS is 16 bytes shorter than SERVICE_ACCEPT: the "none" method worked.
        if a.userauth_failure_size == 0 && len + 16 == a.service_accept_size {
            a.decided = true;
            self.attempted(true, now, fx);
            return;
        }
        // The answer to the client's "none" probe: a failure listing the methods (after a
        // banner, which is skipped when much larger).
        if a.userauth_failure_size == 0 {
            if !a.skipped_banner && len - a.service_accept_size > 256 {
                a.skipped_banner = true;
                return;
            }
            a.userauth_failure_size = len;
            return;
        }
        if len == a.userauth_failure_size {
            self.attempted(false, now, fx);
            return;
        }
        if len - a.service_accept_size == -16 {
            a.decided = true;
            self.attempted(true, now, fx);
        }
    }

    /// Zeek's `ssh_auth_attempted` handlers: counted unless compression hides the sizes; a
    /// success logs the row at once.
    fn attempted(&mut self, authenticated: bool, now: f64, fx: &mut Effects) {
        let Some(info) = self.info.as_mut() else {
            return;
        };
        if info.auth_success == Some(true) {
            return;
        }
        if info
            .compression_alg
            .as_deref()
            .is_some_and(|c| COMPRESSION.contains(&c))
        {
            return;
        }
        info.auth_success = Some(authenticated);
        info.auth_attempts += 1;
        fx.events
            .push((now, SshEvent::AuthAttempted(authenticated)));
        if authenticated && !self.logged {
            self.logged = true;
            fx.events
                .push((now, SshEvent::AuthResult(true, info.auth_attempts)));
            fx.rows.push(info.clone());
        }
    }

    /// Zeek's weird for a limit (`SSH_<option>_exceeded`, "N > limit"); the violation follows
    /// once the packet has been looked at.
    fn exceeds(&mut self, option: &str, n: u64, limit: u64, fx: &mut Effects) {
        self.exceeded = true;
        fx.weirds
            .push((format!("SSH_{option}_exceeded"), format!("{n} > {limit}")));
    }

    fn violate(&mut self, reason: &str, data: &[u8], fx: &mut Effects) {
        self.stopped = true;
        if fx.violation.is_none() {
            fx.violation = Some((reason.into(), data[..data.len().min(40)].to_vec()));
        }
    }
}

#[cfg(test)]
mod tests;
