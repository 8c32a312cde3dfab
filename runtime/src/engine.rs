//! The per-packet pipeline: decode, reassemble fragments, update the flow table,
//! and hand finished connections and weirds to the logs.

use std::collections::{HashMap, HashSet};
use std::io;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::decode::frag::{FragOutcome, FragPool};
use crate::decode::ip::{decode_ipv4, decode_ipv6, skip_ipv6_extensions};
use crate::decode::tunnel::{self, Inner, UdpTunnel};
use crate::decode::{
    amsdu_subframes, decode_link, decode_transport, ieee80211_amsdu, linktype,
    transport_checksum_ok, IpPacket, L3Kind, LinkFrame, Transport,
};
use crate::flow::ports::ServerPorts;
use crate::flow::table::{ConnEvent, ConnSink, ConnTable, PacketMeta, TableConfig, TcpOutcome};
use crate::flow::uid::{Uid, UidGen};
use crate::flow::Conn;
use crate::log::manager::LogManager;
use crate::log::{self, LogFormat, LogWriter, Value};
use crate::site::LocalNets;

#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// `-C`: analyse packets whatever their checksums.
    pub ignore_checksums: bool,
    pub log_dir: PathBuf,
    pub format: LogFormat,
    /// The logging framework; None: built-in writers of `format` under `log_dir`.
    pub log_manager: Option<Arc<LogManager>>,
    pub local_nets: LocalNets,
    pub seed: Option<u64>,
    pub max_flows: usize,
    /// Bytes buffered by IP fragment reassembly at most.
    pub frag_max_bytes: usize,
    /// Zeek's VLAN-aware connection key: VLAN IDs tell connections apart, and conn.log gets
    /// Zeek's `id.ctx.vlan` and `id.ctx.inner_vlan` columns.
    pub vlan_in_key: bool,
    /// Zeek's `likely_server_ports`: a connection first seen from one of these (without a
    /// clean SYN) is flipped so the server is the responder.
    pub server_ports: ServerPorts,
    /// Zeek's `Tunnel::max_depth`: tunnels are followed this many levels deep; a tunnel
    /// beyond it gives the weird `exceeded_tunnel_max_depth` and is not decapsulated.
    pub tunnel_max_depth: u8,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            ignore_checksums: false,
            log_dir: PathBuf::from("."),
            format: LogFormat::Tsv,
            log_manager: None,
            local_nets: LocalNets::default(),
            seed: None,
            max_flows: 1_000_000,
            frag_max_bytes: 64 << 20,
            tunnel_max_depth: TUNNEL_MAX_DEPTH,
            vlan_in_key: false,
            server_ports: ServerPorts::default(),
        }
    }
}

/// Totals for the end-of-run summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    pub packets: u64,
    pub bytes: u64,
    pub connections: u64,
    pub weirds: u64,
}

/// Most weird.log rows per weird name for weirds without a connection (Zeek samples
/// beyond its weird_sampling_threshold as well).
const NET_WEIRD_CAP: u64 = 1000;
/// Flow weirds remembered for their once-per-pair rule at most; past it the memory starts
/// over (a pair may then be logged again), so a flood of addresses cannot grow it.
const FLOW_WEIRDS_REMEMBERED: usize = 65_536;
/// Fragment datagrams in flight at most, and how long they may wait.
const FRAG_MAX_DATAGRAMS: usize = 65_536;
const FRAG_TIMEOUT_US: i64 = 60_000_000;

/// Log streams written by the fast path; files are created on their first row, as Zeek does.
pub struct Logs {
    pub manager: Arc<LogManager>,
    local: LocalNets,
    conn: Option<Box<dyn LogWriter>>,
    weird: Option<Box<dyn LogWriter>>,
    net_weird_counts: HashMap<&'static str, u64>,
    /// The flow weirds logged (name, source and destination address), see `flow_weird`.
    flow_weirds_seen: HashSet<(&'static str, IpAddr, IpAddr)>,
    /// First write error; logging stops on it and the run reports it at the end.
    pub error: Option<io::Error>,
    pub conn_rows: u64,
    pub weird_rows: u64,
    /// Sees every connection as it is logged (the Wasm event handlers' connection events).
    pub observer: Option<Box<dyn ConnObserver>>,
    /// conn.log carries the VLAN-aware key's context columns.
    vlan_ctx: bool,
}

/// Something that follows connections beside conn.log: the Wasm side (protocol analyzers on
/// payloads, event handlers on connection events).
pub trait ConnObserver {
    /// A connection was logged.
    fn conn_done(&mut self, c: &Conn, local: &LocalNets);
    /// A new connection, or a completed TCP handshake.
    fn conn_event(&mut self, _ev: ConnEvent, _ts: i64, _c: &Conn, _local: &LocalNets) {}
    /// End of input: deliver what is pending and close what it writes.
    fn finish(&mut self) -> io::Result<()>;
    /// Whether payloads are analysed at all; when not, the engine skips payload handling.
    fn wants_payload(&self) -> bool {
        false
    }
    /// What a TCP segment carries for payload analysis (data, an ack, a SYN/FIN/RST).
    fn tcp_payload(&mut self, _c: &mut Conn, _p: &TcpPayload<'_>, _logs: &mut Logs) {}
    /// One UDP datagram's payload.
    fn udp_payload(
        &mut self,
        _c: &mut Conn,
        _is_orig: bool,
        _data: &[u8],
        _ts: i64,
        _logs: &mut Logs,
    ) {
    }
    /// A connection is about to be logged: finish its analysis (services it confirms now
    /// still reach conn.log).
    fn conn_ending(&mut self, _c: &mut Conn, _logs: &mut Logs) {}
}

/// One TCP segment as payload reassembly sees it.
#[derive(Debug, Clone, Copy)]
pub struct TcpPayload<'a> {
    pub ts: i64,
    /// Direction and relative sequence numbers, from the flow table.
    pub seg: TcpOutcome,
    pub fin: bool,
    pub rst: bool,
    pub payload: &'a [u8],
}

impl Logs {
    fn new(manager: Arc<LogManager>, local: LocalNets, vlan_ctx: bool) -> Self {
        Logs {
            vlan_ctx,
            manager,
            local,
            conn: None,
            weird: None,
            net_weird_counts: HashMap::new(),
            flow_weirds_seen: HashSet::new(),
            error: None,
            conn_rows: 0,
            weird_rows: 0,
            observer: None,
        }
    }

    fn write(&mut self, which: Stream, row: &[Value<'_>]) {
        if self.error.is_some() {
            return;
        }
        let (slot, schema) = match which {
            Stream::Conn if self.vlan_ctx => (&mut self.conn, log::conn::VLAN_SCHEMA),
            Stream::Conn => (&mut self.conn, log::conn::SCHEMA),
            Stream::Weird => (&mut self.weird, log::weird::SCHEMA),
        };
        if slot.is_none() {
            match self.manager.open(schema) {
                Ok(w) => *slot = Some(w),
                Err(e) => {
                    self.error = Some(e);
                    return;
                }
            }
        }
        if let Some(w) = slot.as_mut() {
            if let Err(e) = w.write_row(row) {
                self.error = Some(e);
            }
        }
    }

    /// Flushes and closes every open log.
    pub fn finish(&mut self) -> io::Result<()> {
        if let Some(o) = self.observer.as_mut() {
            if let Err(e) = o.finish() {
                self.error.get_or_insert(e);
            }
        }
        for w in [self.conn.as_mut(), self.weird.as_mut()]
            .into_iter()
            .flatten()
        {
            w.finish()?;
        }
        if let Err(e) = self.manager.finish_all() {
            self.error.get_or_insert(e);
        }
        match self.error.take() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A weird reported by an analyzer (`source`: its name, as Zeek's weird.log `source`);
    /// like the fast path's, logged once per connection and name.
    pub fn analyzer_weird(&mut self, ts: i64, c: &mut Conn, name: &str, addl: &str, source: &str) {
        let name = crate::intern::intern(name);
        if c.weirds.contains(&name) {
            return;
        }
        c.weirds.push(name);
        self.conn_weird(ts, c, name, addl, source);
    }

    /// A weird not tied to a connection (decoding errors).
    pub fn net_weird(&mut self, ts: i64, name: &'static str) {
        self.packet_weird(ts, name, None, log::weird::source_of(name));
    }

    /// A weird about an IP packet not tied to a connection, with the packet's addresses:
    /// Zeek's `flow_weird`, logged with both ports 0 and, as Zeek's weird framework does with
    /// its identifier (the two addresses), once per name and address pair.
    pub fn flow_weird(
        &mut self,
        ts: i64,
        name: &'static str,
        src: IpAddr,
        dst: IpAddr,
        source: &'static str,
    ) {
        if self.flow_weirds_seen.len() >= FLOW_WEIRDS_REMEMBERED {
            self.flow_weirds_seen.clear();
        }
        if self.flow_weirds_seen.insert((name, src, dst)) {
            self.packet_weird(ts, name, Some((src, dst)), source);
        }
    }

    fn packet_weird(
        &mut self,
        ts: i64,
        name: &'static str,
        addrs: Option<(IpAddr, IpAddr)>,
        source: &'static str,
    ) {
        let n = self.net_weird_counts.entry(name).or_insert(0);
        *n += 1;
        if *n > NET_WEIRD_CAP {
            return;
        }
        self.weird_rows += 1;
        let (orig_h, resp_h, port) = match addrs {
            Some((src, dst)) => (Value::Addr(src), Value::Addr(dst), Value::Port(0)),
            None => (Value::Unset, Value::Unset, Value::Unset),
        };
        let row = [
            Value::Time(ts),
            Value::Unset,
            orig_h,
            port,
            resp_h,
            port,
            Value::Str(name),
            Value::Unset,
            Value::Bool(false),
            Value::Str("zeek"),
            Value::Str(source),
        ];
        self.write(Stream::Weird, &row);
    }
}

#[derive(Clone, Copy)]
enum Stream {
    Conn,
    Weird,
}

impl ConnSink for Logs {
    fn conn_done(&mut self, c: &mut Conn) {
        let mut observer = self.observer.take();
        if let Some(o) = observer.as_mut() {
            o.conn_ending(c, self);
        }
        self.observer = observer;
        self.conn_rows += 1;
        let mut ub = [0u8; 24];
        let uid = c.uid.render(b'C', &mut ub);
        let cid = c.community_id();
        // Rendered uids of the tunnel parents (at most 8, see the flow table).
        let mut bufs = [[0u8; 24]; 8];
        let mut names: [&str; 8] = [""; 8];
        let mut n = 0;
        for (p, b) in c.tunnel_parents.iter().zip(bufs.iter_mut()) {
            names[n] = p.render(b'C', b);
            n += 1;
        }
        let parents = &names[..n];
        // Zeek joins the service set with commas.
        let joined;
        let service = match c.service.as_slice() {
            [] => None,
            [one] => Some(*one),
            many => {
                joined = many.join(",");
                Some(joined.as_str())
            }
        };
        let mut row = [Value::Unset; 23];
        log::conn::row(
            c,
            &self.local,
            uid,
            cid.as_str(),
            parents,
            service,
            &mut row,
        );
        if self.vlan_ctx {
            self.write(Stream::Conn, &log::conn::with_vlan_ctx(c, &row));
        } else {
            self.write(Stream::Conn, &row);
        }
        if let Some(o) = self.observer.as_mut() {
            o.conn_done(c, &self.local);
        }
    }

    fn conn_event(&mut self, ev: ConnEvent, ts: i64, c: &Conn) {
        if let Some(o) = self.observer.as_mut() {
            o.conn_event(ev, ts, c, &self.local);
        }
    }

    fn weird(&mut self, ts: i64, c: Option<&Conn>, name: &'static str, addl: &str) {
        match c {
            Some(c) => self.conn_weird(ts, c, name, addl, log::weird::source_of(name)),
            None => self.net_weird(ts, name),
        }
    }
}

impl Logs {
    fn conn_weird(&mut self, ts: i64, c: &Conn, name: &str, addl: &str, source: &str) {
        self.weird_rows += 1;
        let mut ub = [0u8; 24];
        let row = [
            Value::Time(ts),
            Value::Str(c.uid.render(b'C', &mut ub)),
            Value::Addr(c.orig_h),
            Value::Port(c.orig_p),
            Value::Addr(c.resp_h),
            Value::Port(c.resp_p),
            Value::Str(name),
            if addl.is_empty() {
                Value::Unset
            } else {
                Value::Str(addl)
            },
            Value::Bool(false),
            Value::Str("zeek"),
            Value::Str(source),
        ];
        self.write(Stream::Weird, &row);
    }
}

pub struct Engine {
    ignore_checksums: bool,
    table: ConnTable,
    frags: FragPool,
    pub logs: Logs,
    pub stats: Stats,
    last_frag_expire: i64,
    ip_tunnels: HashMap<(IpAddr, IpAddr), Uid>,
    tunnel_uids: UidGen,
    /// Whether the observer analyses payloads (else payload handling is skipped).
    payloads: bool,
    tunnel_max_depth: u8,
}

/// Tunnels inside tunnels are followed this deep by default (Zeek's `Tunnel::max_depth`).
pub const TUNNEL_MAX_DEPTH: u8 = 2;
/// IP tunnel endpoint pairs remembered at most.
const MAX_IP_TUNNELS: usize = 65_536;

impl Engine {
    pub fn new(cfg: EngineConfig) -> Self {
        Engine {
            ignore_checksums: cfg.ignore_checksums,
            table: ConnTable::new(
                TableConfig {
                    max_flows: cfg.max_flows,
                    vlan_in_key: cfg.vlan_in_key,
                },
                UidGen::new(cfg.seed),
                cfg.server_ports,
            ),
            frags: FragPool::new(cfg.frag_max_bytes, FRAG_MAX_DATAGRAMS, FRAG_TIMEOUT_US),
            logs: Logs::new(
                cfg.log_manager
                    .unwrap_or_else(|| LogManager::native(&cfg.log_dir, cfg.format)),
                cfg.local_nets,
                cfg.vlan_in_key,
            ),
            stats: Stats::default(),
            last_frag_expire: i64::MIN,
            ip_tunnels: HashMap::new(),
            tunnel_uids: UidGen::new(cfg.seed.map(|s| s ^ 0x7475_6e6e_656c)),
            payloads: false,
            tunnel_max_depth: cfg.tunnel_max_depth,
        }
    }

    /// Connections currently tracked.
    pub fn live_connections(&self) -> usize {
        self.table.len()
    }

    /// Processes one captured frame. `wire_len` is the frame's length on the wire.
    pub fn packet(&mut self, ts: i64, dlt: i32, data: &[u8], wire_len: u32) {
        self.logs.manager.observe(ts);
        self.stats.packets += 1;
        self.stats.bytes += data.len() as u64;
        self.table.advance(ts, &mut self.logs);
        if ts.saturating_sub(self.last_frag_expire) > 1_000_000 {
            self.frags.expire(ts);
            self.last_frag_expire = ts;
        }
        let frame = match decode_link(dlt, data) {
            Ok(f) => f,
            Err(w) => return self.logs.net_weird(ts, w),
        };
        let snap_cut = (data.len() as u32) < wire_len;
        self.frame(ts, frame, snap_cut, None, 0);
    }

    /// Network layer and up, for an outer frame or one that came out of a tunnel.
    fn frame(
        &mut self,
        ts: i64,
        frame: LinkFrame<'_>,
        snap_cut: bool,
        parent: Option<Uid>,
        depth: u8,
    ) {
        let ip = match frame.kind {
            L3Kind::Ipv4 => decode_ipv4(frame.l3, !self.ignore_checksums, snap_cut),
            L3Kind::Ipv6 => decode_ipv6(frame.l3, snap_cut),
            L3Kind::Other => return,
        };
        let ip = match ip {
            Ok(ip) => ip,
            Err(w) => return self.logs.net_weird(ts, w),
        };
        let meta = PacketMeta {
            ts,
            tunnel_parent: parent,
            vlan: frame.vlan,
            inner_vlan: frame.inner_vlan,
        };
        if ip.frag.is_none() {
            return self.ip_packet(&meta, &ip, snap_cut, depth);
        }
        match self.frags.add(ts, &ip) {
            Ok(FragOutcome::Incomplete) => {}
            Ok(FragOutcome::Complete(whole)) => {
                let mut p = whole.packet();
                if p.is_v6() {
                    match skip_ipv6_extensions(p.proto, p.payload) {
                        Ok((proto, rest)) => {
                            p.proto = proto;
                            p.payload = rest;
                            p.payload_len = rest.len() as u32;
                        }
                        Err(w) => {
                            self.logs.net_weird(ts, w);
                            self.frags.recycle(whole);
                            return;
                        }
                    }
                }
                self.ip_packet(&meta, &p, snap_cut, depth);
                self.frags.recycle(whole);
            }
            Err(w) => self.logs.net_weird(ts, w),
        }
    }

    fn ip_packet(&mut self, meta: &PacketMeta, ip: &IpPacket<'_>, snap_cut: bool, depth: u8) {
        // IP-in-IP and GRE: the tunnel is an IP pair, not a logged connection.
        if matches!(ip.proto, 4 | 41 | 47) {
            let inner = if ip.proto == 47 {
                tunnel::gre(ip.payload)
            } else {
                Ok(Inner::Ip(ip.payload))
            };
            match inner {
                Ok(inner) => {
                    let parent = self.ip_tunnel_uid(ip);
                    return self.inner(meta.ts, inner, snap_cut, parent, depth, ip, "IPTUNNEL");
                }
                Err(w) => return self.logs.net_weird(meta.ts, w),
            }
        }
        let t = match decode_transport(ip) {
            Ok(t) => t,
            Err(w) => return self.logs.net_weird(meta.ts, w),
        };
        let ok = self.ignore_checksums || transport_checksum_ok(ip);
        match t {
            Transport::Tcp(seg) => {
                let out = self.table.tcp(meta, ip, &seg, ok, &mut self.logs);
                if let Some(out) = out.filter(|_| self.payloads) {
                    let p = TcpPayload {
                        ts: meta.ts,
                        seg: out,
                        fin: seg.has(crate::decode::tcp_flags::FIN),
                        rst: seg.has(crate::decode::tcp_flags::RST),
                        payload: seg.payload,
                    };
                    self.with_observer(out.slot, |o, c, logs| o.tcp_payload(c, &p, logs));
                }
            }
            Transport::TcpHeaderOnly(seg, weird) => {
                self.table
                    .tcp_header_only(meta, ip, &seg, weird, &mut self.logs)
            }
            Transport::Udp(u) => {
                let Some((slot, is_orig)) = self.table.udp(meta, ip, &u, ok, &mut self.logs) else {
                    return;
                };
                let tun = UdpTunnel::by_port(u.dport)
                    .or_else(|| UdpTunnel::by_port(u.sport))
                    .or_else(|| UdpTunnel::detect(u.payload));
                // A tunnel port carrying something that does not decapsulate is ordinary
                // traffic (Zeek's false_gtp case): it goes to the analyzers.
                if let Some((tun, inner)) =
                    tun.and_then(|t| Some((t, t.decapsulate(u.payload).ok()?)))
                {
                    let Some(conn) = self.table.conn_at(slot) else {
                        return;
                    };
                    conn.tunnel_packet(tun, is_orig);
                    let parent = conn.uid;
                    self.inner(
                        meta.ts,
                        inner,
                        snap_cut,
                        parent,
                        depth,
                        ip,
                        tun.analyzer_name(),
                    );
                } else if self.payloads {
                    let ts = meta.ts;
                    self.with_observer(slot, |o, c, logs| {
                        o.udp_payload(c, is_orig, u.payload, ts, logs)
                    });
                    self.table.arm_session_timer(slot, ts);
                }
            }
            Transport::Icmp(m) => self.table.icmp(meta, ip, &m, ok, &mut self.logs),
            // IPv6 "no next header" (Teredo bubbles among them) carries nothing: Zeek makes
            // no connection of it.
            Transport::Other if ip.proto == 59 => {}
            Transport::Other => self.table.other(meta, ip, &mut self.logs),
        }
    }

    /// Runs `f` with the observer, the connection in `slot` and the logs.
    fn with_observer(
        &mut self,
        slot: u32,
        f: impl FnOnce(&mut dyn ConnObserver, &mut Conn, &mut Logs),
    ) {
        let Some(mut o) = self.logs.observer.take() else {
            return;
        };
        if let Some(c) = self.table.conn_at(slot) {
            f(o.as_mut(), c, &mut self.logs);
        }
        self.logs.observer = Some(o);
    }

    /// Installs what follows connections beside conn.log (see [`ConnObserver`]).
    pub fn set_observer(&mut self, o: Box<dyn ConnObserver>) {
        self.payloads = o.wants_payload();
        self.logs.observer = Some(o);
    }

    /// Analyses what came out of a tunnel carried by the packet `carrier` (at `depth`: 0 for
    /// a packet as captured, 1 inside one tunnel, ...); `analyzer` is Zeek's name of the
    /// tunnel's analyzer.
    #[allow(clippy::too_many_arguments)]
    fn inner(
        &mut self,
        ts: i64,
        inner: Inner<'_>,
        snap_cut: bool,
        parent: Uid,
        depth: u8,
        carrier: &IpPacket<'_>,
        analyzer: &'static str,
    ) {
        if depth >= self.tunnel_max_depth {
            // Zeek's tunnel analyzers report this on the carrying packet: a weird with its
            // addresses (`flow_weird`), named with `_in_tunnel` when that packet itself came
            // out of a tunnel.
            let name = if depth > 0 {
                "exceeded_tunnel_max_depth_in_tunnel"
            } else {
                "exceeded_tunnel_max_depth"
            };
            return self
                .logs
                .flow_weird(ts, name, carrier.src, carrier.dst, analyzer);
        }
        let frame = match inner {
            Inner::Ethernet(d) => decode_link(linktype::EN10MB, d),
            Inner::Ip(d) => decode_link(linktype::RAW, d),
            Inner::Ppp(d) => decode_link(linktype::PPP, d),
            Inner::Ieee80211(d) => match ieee80211_amsdu(d) {
                // An aggregate: each subframe is a packet of its own, as in Zeek.
                Some(body) => {
                    for f in amsdu_subframes(body) {
                        match f {
                            Ok(f) => self.frame(ts, f, snap_cut, Some(parent), depth + 1),
                            Err(w) => return self.logs.net_weird(ts, w),
                        }
                    }
                    return;
                }
                None => decode_link(linktype::IEEE802_11, d),
            },
        };
        match frame {
            Ok(f) => self.frame(ts, f, snap_cut, Some(parent), depth + 1),
            Err(w) => self.logs.net_weird(ts, w),
        }
    }

    /// A stable uid per IP tunnel endpoint pair (Zeek's EncapsulatingConn uid).
    fn ip_tunnel_uid(&mut self, ip: &IpPacket<'_>) -> Uid {
        let key = if ip.src <= ip.dst {
            (ip.src, ip.dst)
        } else {
            (ip.dst, ip.src)
        };
        if self.ip_tunnels.len() >= MAX_IP_TUNNELS {
            self.ip_tunnels.clear();
        }
        let uids = &mut self.tunnel_uids;
        *self
            .ip_tunnels
            .entry(key)
            .or_insert_with(|| uids.next_uid())
    }

    /// End of input: every connection is logged and every log closed.
    pub fn finish(&mut self) -> io::Result<Stats> {
        self.table.flush_all(&mut self.logs);
        self.stats.connections = self.table.stats.created;
        self.stats.weirds = self.logs.weird_rows;
        self.logs.finish()?;
        Ok(self.stats)
    }
}
