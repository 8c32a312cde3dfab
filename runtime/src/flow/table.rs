//! The flow table: canonical key -> connection, Zeek's timers, bounded size.
//!
//! Connections live in slots (a [`ChunkedVec`] + free list) found through a
//! [`FlowIndex`] of canonical keys; timers are (time, slot, generation) entries in a
//! [`TimerWheel`], stale entries being skipped when popped. Nothing here
//! allocates per packet once the table has grown to its working size.

use std::net::{IpAddr, Ipv4Addr};

use super::chunked::ChunkedVec;
use super::history::History;
use super::index::FlowIndex;
use super::key::{vlan_ctx, ConnKey};
use super::ports::ServerPorts;
use super::tcp::{PacketEffects, TcpConn};
use super::timeouts::*;
use super::timer_wheel::{Due, TimerWheel};
use super::uid::UidGen;
use super::{Conn, ConnKind, Counters, DatagramConn, Proto};
use crate::decode::{tcp_flags as F, IcmpMessage, IpPacket, TcpSegment, UdpDatagram};

/// Receives what the table produces: finished connections and weirds.
pub trait ConnSink {
    /// A connection ends; the sink may still update it (services confirmed at the end)
    /// before logging it.
    fn conn_done(&mut self, conn: &mut Conn);
    fn weird(&mut self, ts: i64, conn: Option<&Conn>, name: &'static str, addl: &str);
    /// A moment of a connection's life that event handlers may follow (Zeek's core events).
    fn conn_event(&mut self, _ev: ConnEvent, _ts: i64, _conn: &Conn) {}
}

/// Core connection events, as Zeek raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnEvent {
    /// The first packet of a connection (after any orientation flip): `new_connection`.
    New,
    /// A TCP handshake completed (both endpoints left the handshake states):
    /// `connection_established`.
    Established,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum TimerKind {
    Inactivity,
    TcpExpire,
    TcpAttempt,
    TcpDelete,
    /// An analyzer's session expiry (see [`Conn::session_timeout`]).
    Session,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Timer {
    when: i64,
    slot: u32,
    gen: u32,
    kind: TimerKind,
}

impl Due for Timer {
    fn due(&self) -> i64 {
        self.when
    }
}

struct Slot {
    conn: Option<Conn>,
    key: Option<ConnKey>,
    inactivity: i64,
    /// Whether the session expiry timer of [`Conn::session_timeout`] runs.
    session_armed: bool,
}

/// Asks the CPU to bring `slot` into the cache (every line of it: logging a connection reads
/// most of its fields).
#[inline]
fn prefetch_slot(slot: &Slot) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        let start = (slot as *const Slot).cast::<i8>();
        for offset in (0..std::mem::size_of::<Slot>()).step_by(64) {
            // SAFETY: a prefetch never faults, and the addresses lie within `slot`.
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.add(offset)) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = slot;
}

/// The key of the connection in `slot`, which the index only holds while there is one.
#[inline]
fn slot_key(slots: &ChunkedVec<Slot>, slot: u32) -> &ConnKey {
    slots[slot as usize]
        .key
        .as_ref()
        .expect("indexed slot has a key")
}

#[derive(Debug, Clone)]
pub struct TableConfig {
    /// Most connections tracked at once; beyond it the least recently active of a
    /// sample is evicted (and logged).
    pub max_flows: usize,
    /// Zeek's VLAN-aware connection key (`ConnKey::CONNKEY_VLAN_FIVETUPLE`): the outer and
    /// inner VLAN IDs are part of the key, so the same five-tuple on two VLANs is two
    /// connections.
    pub vlan_in_key: bool,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig {
            max_flows: 1_000_000,
            vlan_in_key: false,
        }
    }
}

/// Counts for the end-of-run summary.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStats {
    pub created: u64,
    pub evicted: u64,
}

pub struct ConnTable {
    index: FlowIndex,
    slots: ChunkedVec<Slot>,
    /// Each slot's generation, bumped when its connection goes: a timer of an earlier
    /// generation is stale. Apart from the slots so that dropping a stale timer reads four
    /// bytes of a small array, not a cache line of a large one.
    gens: Vec<u32>,
    free: Vec<u32>,
    timers: TimerWheel<Timer>,
    uids: UidGen,
    ports: ServerPorts,
    cfg: TableConfig,
    evict_cursor: usize,
    pub stats: TableStats,
}

/// What a TCP segment means for payload reassembly (see [`super::tcp::PacketEffects`]).
#[derive(Debug, Clone, Copy)]
pub struct TcpOutcome {
    pub slot: u32,
    /// Whether the sender is the originator (after any flip this segment caused).
    pub is_orig: bool,
    /// Originator and responder were swapped by this segment.
    pub flipped: bool,
    pub data_seq: Option<u64>,
    pub ack: Option<u64>,
    pub stream_start: Option<u64>,
    pub data_end: Option<u64>,
}

/// Per-packet facts shared by all protocols.
pub struct PacketMeta {
    pub ts: i64,
    /// Uid of the tunnel connection this packet came out of.
    pub tunnel_parent: Option<super::uid::Uid>,
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
}

impl ConnTable {
    pub fn new(cfg: TableConfig, uids: UidGen, ports: ServerPorts) -> Self {
        ConnTable {
            index: FlowIndex::with_capacity(1024),
            slots: ChunkedVec::default(),
            gens: Vec::new(),
            free: Vec::new(),
            timers: TimerWheel::default(),
            uids,
            ports,
            cfg,
            evict_cursor: 0,
            stats: TableStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    fn schedule(&mut self, slot: u32, when: i64, kind: TimerKind) {
        let gen = self.gens[slot as usize];
        self.timers.push(Timer {
            when,
            slot,
            gen,
            kind,
        });
    }

    /// Fires every timer due at `now` (network time of the next packet).
    pub fn advance(&mut self, now: i64, sink: &mut dyn ConnSink) {
        while let Some(t) = self.timers.pop_due(now) {
            if self.gens[t.slot as usize] != t.gen || self.slots[t.slot as usize].conn.is_none() {
                continue;
            }
            self.fire(t, sink);
        }
    }

    fn fire(&mut self, t: Timer, sink: &mut dyn ConnSink) {
        let slot = &self.slots[t.slot as usize];
        let conn = slot.conn.as_ref().expect("checked by caller");
        match t.kind {
            TimerKind::Inactivity => {
                let due = conn.last + slot.inactivity;
                if due <= t.when {
                    self.remove(t.slot, sink);
                } else {
                    self.schedule(t.slot, due, TimerKind::Inactivity);
                }
            }
            TimerKind::TcpExpire => {
                if let ConnKind::Tcp(tc) = &conn.kind {
                    if conn.last + TCP_CONNECTION_LINGER < t.when && tc.expire_check() {
                        self.remove(t.slot, sink);
                        return;
                    }
                }
                self.schedule(t.slot, t.when + TCP_SESSION_TIMER, TimerKind::TcpExpire);
            }
            TimerKind::TcpAttempt => {
                if let ConnKind::Tcp(tc) = &conn.kind {
                    if tc.attempt_unanswered() {
                        self.remove(t.slot, sink);
                    }
                }
            }
            TimerKind::TcpDelete => self.remove(t.slot, sink),
            TimerKind::Session => {
                let period = conn.session_timeout.unwrap_or(0);
                // Zeek's DNS_Analyzer::ExpireTimer: a second of slack, so the usual query and
                // reply within a second of each other expire at the first check.
                if t.when - conn.last >= period - SEC {
                    self.remove(t.slot, sink);
                } else {
                    self.schedule(t.slot, t.when + period, TimerKind::Session);
                }
            }
        }
    }

    fn remove(&mut self, slot: u32, sink: &mut dyn ConnSink) {
        let s = &mut self.slots[slot as usize];
        if s.conn.is_some() {
            if let Some(k) = s.key.take() {
                self.index.remove(&k, slot);
            }
        }
        self.retire(slot, sink);
    }

    /// Logs the connection in `slot` and frees the slot, leaving the index as it is: the
    /// caller has taken the key out of it, or is about to empty it.
    fn retire(&mut self, slot: u32, sink: &mut dyn ConnSink) {
        let s = &mut self.slots[slot as usize];
        // Logged where it lies: moving it out first copied hundreds of bytes per connection.
        if let Some(conn) = s.conn.as_mut() {
            s.key = None;
            let gen = &mut self.gens[slot as usize];
            *gen = gen.wrapping_add(1);
            sink.conn_done(conn);
            s.conn = None;
            self.free.push(slot);
        }
    }

    /// Logs and forgets every connection (end of input).
    pub fn flush_all(&mut self, sink: &mut dyn ConnSink) {
        let mut live: Vec<(i64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.conn.as_ref().map(|c| (c.start, i as u32)))
            .collect();
        live.sort_unstable();
        // A third of the bench trace's connections are still open at its end, and this loop
        // was ~9% of a conn.log-only run. In start order the slots are visited at random, so
        // the one after next is fetched while this one is logged; the index is emptied whole
        // at the end instead of entry by entry (each removal another cache miss).
        for (k, &(_, i)) in live.iter().enumerate() {
            if let Some(&(_, ahead)) = live.get(k + 2) {
                prefetch_slot(&self.slots[ahead as usize]);
            }
            self.retire(i, sink);
        }
        self.index.clear();
        self.timers.clear();
    }

    /// Evicts the least recently active connection among a rotating sample.
    fn evict_one(&mut self, sink: &mut dyn ConnSink) {
        const SAMPLE: usize = 32;
        let n = self.slots.len();
        if n == 0 {
            return;
        }
        let mut best: Option<(i64, u32)> = None;
        let mut looked = 0;
        let mut i = self.evict_cursor % n;
        let mut scanned = 0;
        while looked < SAMPLE && scanned < n {
            if let Some(c) = &self.slots[i].conn {
                looked += 1;
                if best.is_none_or(|(t, _)| c.last < t) {
                    best = Some((c.last, i as u32));
                }
            }
            i = (i + 1) % n;
            scanned += 1;
        }
        self.evict_cursor = i;
        if let Some((_, slot)) = best {
            self.stats.evicted += 1;
            self.remove(slot, sink);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        key: ConnKey,
        meta: &PacketMeta,
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        proto: Proto,
        ip_proto: u8,
        kind: ConnKind,
        inactivity: i64,
        flip: bool,
        sink: &mut dyn ConnSink,
    ) -> u32 {
        while self.index.len() >= self.cfg.max_flows.max(1) {
            self.evict_one(sink);
        }
        let mut conn = Conn {
            uid: self.uids.next_uid(),
            orig_h: src,
            orig_p: sport,
            resp_h: dst,
            resp_p: dport,
            proto,
            ip_proto,
            start: meta.ts,
            last: meta.ts,
            orig: Counters::default(),
            resp: Counters::default(),
            history: History::new(),
            missed_bytes: 0,
            kind,
            vlan: meta.vlan,
            inner_vlan: meta.inner_vlan,
            weirds: Vec::new(),
            service: Vec::new(),
            analysis: super::Analysis::Undecided,
            tunnel_parents: meta.tunnel_parent.into_iter().collect(),
            session_timeout: None,
            tunnel_sides: 0,
        };
        if flip {
            conn.flip();
        }
        sink.conn_event(ConnEvent::New, meta.ts, &conn);
        let slot = match self.free.pop() {
            Some(i) => {
                let s = &mut self.slots[i as usize];
                s.conn = Some(conn);
                s.key = Some(key);
                s.inactivity = inactivity;
                s.session_armed = false;
                i
            }
            None => {
                self.slots.push(Slot {
                    conn: Some(conn),
                    key: Some(key),
                    inactivity,
                    session_armed: false,
                });
                self.gens.push(0);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(&key, slot);
        self.stats.created += 1;
        self.schedule(slot, meta.ts + inactivity, TimerKind::Inactivity);
        slot
    }

    /// The key's VLAN context for a packet: its VLAN IDs with the VLAN-aware key, else none.
    #[inline]
    fn ctx(&self, meta: &PacketMeta) -> u32 {
        if self.cfg.vlan_in_key {
            vlan_ctx(meta.vlan, meta.inner_vlan)
        } else {
            0
        }
    }

    /// The slot of the live connection with `key`.
    #[inline]
    fn find(&self, key: &ConnKey) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(key, |s| slot_key(slots, s))
    }

    fn conn_mut(&mut self, slot: u32) -> &mut Conn {
        self.slots[slot as usize].conn.as_mut().expect("live slot")
    }

    /// Records a new encapsulating connection (both directions of a tunnel may
    /// arrive over different outer flows).
    fn note_parent(&mut self, slot: u32, meta: &PacketMeta) {
        const MAX_PARENTS: usize = 8;
        if let Some(p) = meta.tunnel_parent {
            let c = self.conn_mut(slot);
            if !c.tunnel_parents.contains(&p) && c.tunnel_parents.len() < MAX_PARENTS {
                c.tunnel_parents.push(p);
            }
        }
    }

    fn report(&mut self, slot: u32, ts: i64, name: &'static str, sink: &mut dyn ConnSink) {
        let c = self.conn_mut(slot);
        if c.weirds.contains(&name) {
            return;
        }
        c.weirds.push(name);
        sink.weird(ts, Some(c), name, "");
    }

    /// The connection a TCP segment belongs to, found or created (a reused 4-tuple ends the
    /// old connection first): its slot, and whether the segment is the originator's.
    fn tcp_slot(
        &mut self,
        meta: &PacketMeta,
        ip: &IpPacket<'_>,
        seg: &TcpSegment<'_>,
        sink: &mut dyn ConnSink,
    ) -> (u32, bool) {
        let key = ConnKey::new(ip.src, seg.sport, ip.dst, seg.dport, 6).with_ctx(self.ctx(meta));
        let mut found = self.find(&key);
        if let Some(slot) = found {
            let c = self.slots[slot as usize].conn.as_ref().expect("mapped");
            if let ConnKind::Tcp(tc) = &c.kind {
                let (reuse, weird) = tc.is_reuse(seg, meta.ts, c.last);
                if let Some(w) = weird {
                    self.report(slot, meta.ts, w, sink);
                }
                if reuse {
                    self.remove(slot, sink);
                    found = None;
                }
            }
        }
        match found {
            Some(slot) => {
                let c = self.slots[slot as usize].conn.as_ref().expect("mapped");
                (slot, c.orig_h == ip.src && c.orig_p == seg.sport)
            }
            None => {
                let flip = self.tcp_flip(seg);
                let slot = self.create(
                    key,
                    meta,
                    ip.src,
                    seg.sport,
                    ip.dst,
                    seg.dport,
                    Proto::Tcp,
                    6,
                    ConnKind::Tcp(TcpConn::default()),
                    TCP_HANDSHAKE_INACTIVITY,
                    flip,
                    sink,
                );
                self.schedule(slot, meta.ts + TCP_SYN_TIMEOUT, TimerKind::TcpExpire);
                (slot, !flip)
            }
        }
    }

    /// A TCP segment whose header is cut short (or says it is shorter than 20 bytes): as in
    /// Zeek, the ports and flags found the connection (creating it if new), but the segment is
    /// not analysed or counted; `weird` goes to weird.log with the connection's uid.
    pub fn tcp_header_only(
        &mut self,
        meta: &PacketMeta,
        ip: &IpPacket<'_>,
        seg: &TcpSegment<'_>,
        weird: &'static str,
        sink: &mut dyn ConnSink,
    ) {
        let (slot, _) = self.tcp_slot(meta, ip, seg, sink);
        self.note_parent(slot, meta);
        self.report(slot, meta.ts, weird, sink);
    }

    /// One TCP segment. Returns what payload reassembly needs, unless the segment was
    /// not analysed (bad checksum).
    pub fn tcp(
        &mut self,
        meta: &PacketMeta,
        ip: &IpPacket<'_>,
        seg: &TcpSegment<'_>,
        checksum_ok: bool,
        sink: &mut dyn ConnSink,
    ) -> Option<TcpOutcome> {
        let (slot, is_orig) = self.tcp_slot(meta, ip, seg, sink);
        self.note_parent(slot, meta);
        let c = self.conn_mut(slot);
        let ConnKind::Tcp(tc) = &mut c.kind else {
            return None;
        };
        if !checksum_ok {
            tc.bad_checksum(is_orig, &mut c.history);
            self.report(slot, meta.ts, "bad_TCP_checksum", sink);
            return None;
        }
        let mut is_orig = is_orig;
        let flipped_first = tc.flip_after_syn_ack(seg);
        if flipped_first {
            is_orig = !is_orig;
            std::mem::swap(&mut c.orig_h, &mut c.resp_h);
            std::mem::swap(&mut c.orig_p, &mut c.resp_p);
            std::mem::swap(&mut c.orig, &mut c.resp);
            c.history.flip_from_start();
        }
        let mut fx = PacketEffects::default();
        tc.process(is_orig, seg, &mut c.history, &mut fx);
        if fx.touch {
            c.last = meta.ts;
        }
        c.missed_bytes += fx.missed;
        if fx.flipped {
            std::mem::swap(&mut c.orig_h, &mut c.resp_h);
            std::mem::swap(&mut c.orig_p, &mut c.resp_p);
            std::mem::swap(&mut c.orig, &mut c.resp);
            c.history.flip();
        }
        // Counted after the state machine, as Zeek's ConnSize sees the packet.
        let counters = if is_orig ^ fx.flipped {
            &mut c.orig
        } else {
            &mut c.resp
        };
        counters.pkts += 1;
        counters.ip_bytes += ip.ip_len as u64;

        if fx.handshake_done {
            self.slots[slot as usize].inactivity = TCP_INACTIVITY;
            sink.conn_event(ConnEvent::Established, meta.ts, self.conn_mut(slot));
        }
        for w in fx.weirds.into_iter().flatten() {
            self.report(slot, meta.ts, w, sink);
        }
        if fx.attempt_timer {
            self.schedule(slot, meta.ts + TCP_ATTEMPT_DELAY, TimerKind::TcpAttempt);
        }
        let last = self.conn_mut(slot).last;
        if fx.close_complete {
            self.schedule(slot, last + TCP_CLOSE_DELAY, TimerKind::TcpDelete);
        } else if fx.half_closed {
            self.schedule(slot, last + TCP_SESSION_TIMER, TimerKind::TcpExpire);
        }
        Some(TcpOutcome {
            slot,
            is_orig: is_orig ^ fx.flipped,
            flipped: fx.flipped || flipped_first,
            data_seq: fx.data_seq,
            ack: fx.ack,
            stream_start: fx.stream_start,
            data_end: fx.data_end,
        })
    }

    /// Zeek's TCP WantConnection: orientation of a connection first seen mid-stream.
    fn tcp_flip(&self, seg: &TcpSegment<'_>) -> bool {
        let syn = seg.has(F::SYN);
        let ack = seg.has(F::ACK);
        if syn && !ack {
            return false;
        }
        if !self.ports.tcp(seg.sport) {
            return false;
        }
        if self.ports.tcp(seg.dport) {
            !syn && seg.sport < seg.dport
        } else {
            true
        }
    }

    /// One UDP datagram.
    pub fn udp(
        &mut self,
        meta: &PacketMeta,
        ip: &IpPacket<'_>,
        udp: &UdpDatagram<'_>,
        checksum_ok: bool,
        sink: &mut dyn ConnSink,
    ) -> Option<(u32, bool)> {
        let key = ConnKey::new(ip.src, udp.sport, ip.dst, udp.dport, 17).with_ctx(self.ctx(meta));
        let (slot, is_orig) = match self.find(&key) {
            Some(slot) => {
                let c = self.slots[slot as usize].conn.as_ref().expect("mapped");
                (slot, c.orig_h == ip.src && c.orig_p == udp.sport)
            }
            None => {
                // As Zeek: a datagram from a likely server port to another port starts the
                // connection flipped, unless it goes to the broadcast address (a server's
                // broadcast has no client to be the originator).
                let flip = self.ports.udp(udp.sport)
                    && !self.ports.udp(udp.dport)
                    && ip.dst != IpAddr::V4(Ipv4Addr::BROADCAST);
                let slot = self.create(
                    key,
                    meta,
                    ip.src,
                    udp.sport,
                    ip.dst,
                    udp.dport,
                    Proto::Udp,
                    17,
                    ConnKind::Udp(DatagramConn::default()),
                    UDP_INACTIVITY,
                    flip,
                    sink,
                );
                (slot, !flip)
            }
        };
        self.note_parent(slot, meta);
        let c = self.conn_mut(slot);
        let ConnKind::Udp(d) = &mut c.kind else {
            return None;
        };
        if !checksum_ok {
            let ctr = if is_orig {
                &mut d.orig_chk
            } else {
                &mut d.resp_chk
            };
            c.history.scaled(is_orig, ctr, b'C');
            self.report(slot, meta.ts, "bad_UDP_checksum", sink);
            return None;
        }
        d.add(is_orig, (udp.ulen as u64).saturating_sub(8));
        c.history.check(is_orig, super::history::bits::DATA, b'D');
        c.last = meta.ts;
        let ctr = if is_orig { &mut c.orig } else { &mut c.resp };
        ctr.pkts += 1;
        ctr.ip_bytes += ip.ip_len as u64;
        if udp.ulen as usize != ip.payload_len as usize {
            self.report(slot, meta.ts, "UDP_datagram_length_mismatch", sink);
        }
        Some((slot, is_orig))
    }

    /// Starts the session expiry check of the connection in `slot` once an analyzer has asked
    /// for one ([`Conn::session_timeout`]): first at `now` plus the timeout, as Zeek's DNS
    /// analyzer arms it when it is attached.
    pub fn arm_session_timer(&mut self, slot: u32, now: i64) {
        let Some(s) = self.slots.get_mut(slot as usize) else {
            return;
        };
        if s.session_armed {
            return;
        }
        let Some(period) = s.conn.as_ref().and_then(|c| c.session_timeout) else {
            return;
        };
        s.session_armed = true;
        self.schedule(slot, now + period, TimerKind::Session);
    }

    /// The live connection in `slot` (as returned by [`ConnTable::udp`]).
    pub fn conn_at(&mut self, slot: u32) -> Option<&mut Conn> {
        self.slots
            .get_mut(slot as usize)
            .and_then(|s| s.conn.as_mut())
    }

    /// One ICMP or ICMPv6 message.
    pub fn icmp(
        &mut self,
        meta: &PacketMeta,
        ip: &IpPacket<'_>,
        m: &IcmpMessage<'_>,
        checksum_ok: bool,
        sink: &mut dyn ConnSink,
    ) {
        let (sport, dport) = icmp_ports(m);
        let proto = ip.proto;
        let key = ConnKey::new(ip.src, sport, ip.dst, dport, proto).with_ctx(self.ctx(meta));
        let (slot, is_orig) = match self.find(&key) {
            Some(slot) => {
                let c = self.slots[slot as usize].conn.as_ref().expect("mapped");
                (slot, c.orig_h == ip.src && c.orig_p == sport)
            }
            None => {
                let slot = self.create(
                    key,
                    meta,
                    ip.src,
                    sport,
                    ip.dst,
                    dport,
                    Proto::Icmp,
                    proto,
                    ConnKind::Icmp(DatagramConn::default()),
                    ICMP_INACTIVITY,
                    false,
                    sink,
                );
                (slot, true)
            }
        };
        self.note_parent(slot, meta);
        if !checksum_ok {
            self.report(slot, meta.ts, "bad_ICMP_checksum", sink);
            return;
        }
        let c = self.conn_mut(slot);
        if let ConnKind::Icmp(d) = &mut c.kind {
            d.add(is_orig, (m.len as u64).saturating_sub(8));
        }
        c.last = meta.ts;
        let ctr = if is_orig { &mut c.orig } else { &mut c.resp };
        ctr.pkts += 1;
        ctr.ip_bytes += ip.ip_len as u64;
    }

    /// A packet of any other IP protocol (Zeek's `unknown_transport` connections).
    pub fn other(&mut self, meta: &PacketMeta, ip: &IpPacket<'_>, sink: &mut dyn ConnSink) {
        let key = ConnKey::new(ip.src, 0, ip.dst, 0, ip.proto).with_ctx(self.ctx(meta));
        let (slot, is_orig) = match self.find(&key) {
            Some(slot) => {
                let c = self.slots[slot as usize].conn.as_ref().expect("mapped");
                (slot, c.orig_h == ip.src)
            }
            None => {
                let slot = self.create(
                    key,
                    meta,
                    ip.src,
                    0,
                    ip.dst,
                    0,
                    Proto::Unknown,
                    ip.proto,
                    ConnKind::Other(DatagramConn::default()),
                    OTHER_INACTIVITY,
                    false,
                    sink,
                );
                (slot, true)
            }
        };
        self.note_parent(slot, meta);
        let c = self.conn_mut(slot);
        c.last = meta.ts;
        let ctr = if is_orig { &mut c.orig } else { &mut c.resp };
        ctr.pkts += 1;
        ctr.ip_bytes += ip.ip_len as u64;
    }
}

/// Zeek maps ICMP type/code to ports: request/reply pairs share a connection
/// (orig_p = type, resp_p = the counterpart type), others use the code.
pub fn icmp_ports(m: &IcmpMessage<'_>) -> (u16, u16) {
    let t = m.icmp_type;
    let counterpart = if m.v6 {
        match t {
            128 => Some(129),
            129 => Some(128),
            130 => Some(131),
            131 => Some(130),
            133 => Some(134),
            134 => Some(133),
            135 => Some(136),
            136 => Some(135),
            139 => Some(140),
            140 => Some(139),
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
    (t as u16, counterpart.unwrap_or(m.code) as u16)
}

#[cfg(test)]
mod session_timer_tests {
    use super::*;

    #[derive(Default)]
    pub(super) struct Done(pub(super) Vec<Conn>);

    impl ConnSink for Done {
        fn conn_done(&mut self, c: &mut Conn) {
            self.0.push(c.clone());
        }
        fn weird(&mut self, _ts: i64, _c: Option<&Conn>, _name: &'static str, _addl: &str) {}
    }

    pub(super) const T0: i64 = 1_000_000 * SEC;

    /// One 20-byte datagram between a client and a DNS server.
    pub(super) fn datagram(t: &mut ConnTable, sink: &mut Done, ts: i64, from_client: bool) -> u32 {
        let (c, s): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        if from_client {
            udp_datagram(t, sink, ts, (c, 40000), (s, 53))
        } else {
            udp_datagram(t, sink, ts, (s, 53), (c, 40000))
        }
    }

    /// One 20-byte datagram from `src` to `dst` (address, port); returns the connection's slot.
    pub(super) fn udp_datagram(
        t: &mut ConnTable,
        sink: &mut Done,
        ts: i64,
        (src, sport): (IpAddr, u16),
        (dst, dport): (IpAddr, u16),
    ) -> u32 {
        let ip = IpPacket {
            src,
            dst,
            proto: 17,
            ip_len: 48,
            header: &[],
            payload: &[],
            payload_len: 28,
            frag: None,
            ttl: 64,
        };
        let u = UdpDatagram {
            sport,
            dport,
            ulen: 28,
            payload: &[0; 20],
        };
        let meta = PacketMeta {
            ts,
            tunnel_parent: None,
            vlan: None,
            inner_vlan: None,
        };
        t.advance(ts, sink);
        t.udp(&meta, &ip, &u, true, sink).expect("analysed").0
    }

    pub(super) fn table() -> ConnTable {
        ConnTable::new(
            TableConfig::default(),
            UidGen::new(Some(1)),
            ServerPorts::default(),
        )
    }

    /// What the analyzer pipeline does when an analyzer with a session timeout attaches.
    fn ask_for_timeout(t: &mut ConnTable, slot: u32, now: i64) {
        t.conn_at(slot).unwrap().session_timeout = Some(10 * SEC);
        t.arm_session_timer(slot, now);
    }

    #[test]
    fn query_and_reply_expire_at_the_first_check() {
        let (mut t, mut done) = (table(), Done::default());
        let slot = datagram(&mut t, &mut done, T0, true);
        ask_for_timeout(&mut t, slot, T0);
        datagram(&mut t, &mut done, T0 + SEC / 2, false);
        t.advance(T0 + 10 * SEC - 1, &mut done);
        assert!(done.0.is_empty(), "not before the timeout");
        t.advance(T0 + 10 * SEC, &mut done);
        assert_eq!(done.0.len(), 1);
        assert_eq!(done.0[0].last, T0 + SEC / 2);
        // The resolver's next query on the same ports is a new connection.
        datagram(&mut t, &mut done, T0 + 12 * SEC, true);
        assert_eq!(t.len(), 1);
        assert_ne!(t.conn_at(0).unwrap().uid, done.0[0].uid);
    }

    #[test]
    fn activity_within_the_timeout_rearms_the_check() {
        let (mut t, mut done) = (table(), Done::default());
        let slot = datagram(&mut t, &mut done, T0, true);
        ask_for_timeout(&mut t, slot, T0);
        datagram(&mut t, &mut done, T0 + 5 * SEC, true);
        // At T0+10 s it was idle 5 s (< 10 s less the second of slack): checked again at T0+20 s.
        t.advance(T0 + 19 * SEC, &mut done);
        assert!(done.0.is_empty());
        t.advance(T0 + 20 * SEC, &mut done);
        assert_eq!(done.0.len(), 1);
        assert_eq!(done.0[0].orig.pkts, 2);
    }

    #[test]
    fn without_an_analyzer_timeout_udp_waits_for_the_inactivity_timeout() {
        let (mut t, mut done) = (table(), Done::default());
        let slot = datagram(&mut t, &mut done, T0, true);
        t.arm_session_timer(slot, T0);
        t.advance(T0 + 59 * SEC, &mut done);
        assert!(done.0.is_empty());
        t.advance(T0 + UDP_INACTIVITY, &mut done);
        assert_eq!(done.0.len(), 1);
    }
}

#[cfg(test)]
mod tunnel_side_tests {
    use super::session_timer_tests::{datagram, table, Done, T0};
    use crate::decode::tunnel::UdpTunnel;

    #[test]
    fn teredo_is_confirmed_once_both_sides_sent_it_and_the_sides_follow_a_flip() {
        let (mut t, mut done) = (table(), Done::default());
        let slot = datagram(&mut t, &mut done, T0, true);
        let c = t.conn_at(slot).unwrap();
        c.tunnel_packet(UdpTunnel::Teredo, true);
        c.tunnel_packet(UdpTunnel::Teredo, true);
        assert!(c.service.is_empty(), "one side only");
        // The table learns the originator was the server: what the originator sent is now
        // the responder's.
        c.flip();
        c.tunnel_packet(UdpTunnel::Teredo, true);
        assert_eq!(c.service, ["teredo"]);
    }

    #[test]
    fn other_tunnels_are_confirmed_by_their_first_packet() {
        let (mut t, mut done) = (table(), Done::default());
        let slot = datagram(&mut t, &mut done, T0, true);
        let c = t.conn_at(slot).unwrap();
        c.tunnel_packet(UdpTunnel::Vxlan, false);
        assert_eq!(c.service, ["vxlan"]);
    }
}

#[cfg(test)]
mod udp_role_tests {
    use super::session_timer_tests::{table, udp_datagram, Done, T0};
    use std::net::IpAddr;

    #[test]
    fn a_dhcp_servers_unicast_reply_is_flipped_but_not_its_broadcast() {
        let (mut t, mut done) = (table(), Done::default());
        let server: IpAddr = "128.2.6.152".parse().unwrap();
        let client: IpAddr = "128.2.6.97".parse().unwrap();
        let bcast: IpAddr = "255.255.255.255".parse().unwrap();
        // 67 is a likely server port, 68 is not (Zeek registers only 67/udp).
        let unicast = udp_datagram(&mut t, &mut done, T0, (server, 67), (client, 68));
        let c = t.conn_at(unicast).unwrap();
        assert_eq!(
            (c.orig_h, c.orig_p, c.resp_h, c.resp_p),
            (client, 68, server, 67)
        );
        assert_eq!(c.history.as_str(), "^d");
        let broadcast = udp_datagram(&mut t, &mut done, T0, (server, 67), (bcast, 68));
        let c = t.conn_at(broadcast).unwrap();
        assert_eq!(
            (c.orig_h, c.orig_p, c.resp_h, c.resp_p),
            (server, 67, bcast, 68)
        );
        assert_eq!(c.history.as_str(), "D");
    }
}
