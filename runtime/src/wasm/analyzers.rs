//! The analyzer pipeline: protocol analyzer sessions on connections.
//!
//! At a connection's first payload, [`Dpd`] picks analyzers by responder port; signatures are
//! checked on the first payload of each direction. Each attached analyzer gets a `session`
//! resource in an instance of its module: one shared instance per module version (the
//! default), or one per connection (`isolation = "per-connection"`). TCP payload is reassembled
//! per direction ([`StreamReassembler`]) and handed over in chunks: bytes accumulate while one
//! side talks and are delivered when the other side starts, when a chunk reaches
//! [`CHUNK_MAX`], at a gap, or at the end. A UDP datagram is delivered as it is.
//!
//! Containment: a failed call (trap, fuel, time, memory, host limit) drops its instance: every
//! session in it is detached (their connections go on without the analyzer), one row goes to
//! analyzer_failed.log for the connection being served, and the next connection gets a fresh
//! instance. A violation detaches only that session, and is logged if the analyzer had
//! confirmed the protocol (as Zeek does). A reload swaps the module for new connections; the
//! sessions already running finish on the version they started with.

use crate::wasm::handlers::EventNames;
use std::sync::Arc;

use wasmtime::component::ResourceAny;
use wasmtime::Store;

use super::bindings::guest::analyzer::Guest;
use super::bindings::types::ConnInfo;
use super::dpd::{Dpd, SIGNATURE_WINDOW};
use super::event_bus::EventBus;
use super::failures::FailureConn;
use super::handlers::conn_info;
use super::host::{CallState, HostState};
use super::manifest::{Isolation, Kind};
use super::runtime::{arm, classify, Exports, Failure, Instance, LoadedModule, WasmRuntime};
use crate::engine::{Logs, TcpPayload};
use crate::flow::chunked::ChunkedVec;
use crate::flow::stream::{Piece, StreamReassembler};
use crate::flow::{Analysis, Conn, ConnKind, Proto};
use crate::intern::intern;
use crate::site::LocalNets;

/// Bytes of one direction delivered in one call at most.
pub const CHUNK_MAX: usize = 16 << 10;
/// Data packets whose payload signatures are checked before giving up on a connection.
const SIGNATURE_PACKETS: u8 = 16;

/// One analyzer module of the current set.
pub struct AnalyzerModule {
    pub module: Arc<LoadedModule>,
    /// conn.log `service` name: the module name.
    service: &'static str,
    /// weird.log `source`: the name in upper case, as Zeek names its analyzers.
    source: &'static str,
    /// The shared instance (index into the instance table), created on first use.
    shared: Option<(u32, u32)>,
    pub sessions: u64,
    pub calls: u64,
    pub fuel_used: u64,
}

/// A live instance and the sessions it holds.
struct InstanceSlot {
    inst: Instance,
    gen: u32,
    sessions: u32,
}

/// One analyzer attached to one connection.
struct Session {
    /// Instance index and generation: a failed instance is gone, and its sessions with it.
    inst: u32,
    gen: u32,
    handle: ResourceAny,
    module: Arc<LoadedModule>,
    service: &'static str,
    source: &'static str,
    confirmed: bool,
}

/// The analysis state of one connection.
#[derive(Default)]
struct ConnState {
    sessions: Vec<Session>,
    /// Per direction (0: originator, 1: responder).
    streams: [StreamReassembler; 2],
    /// Network time of the first byte waiting in each direction's stream.
    ready_ts: [i64; 2],
    signatures_checked: [bool; 2],
    data_packets: u8,
    /// While no analyzer runs: each direction's first in-order bytes (Zeek's DPD buffer),
    /// the sequence number after them and the time of their first packet.
    dpd_buf: [Vec<u8>; 2],
    dpd_next: [Option<u64>; 2],
    dpd_ts: [i64; 2],
    ended: [bool; 2],
    inconsistency_reported: bool,
    /// The connection as handed to the analyzers' constructors.
    info: Option<ConnInfo>,
    /// Some analyzer of the connection wants each segment as it arrives (manifest
    /// `analyzer.segments`): in-order data is delivered at once rather than gathered.
    segments: bool,
}

fn dir(is_orig: bool) -> usize {
    if is_orig {
        0
    } else {
        1
    }
}

/// The protocol analyzers of one worker.
pub struct Analyzers {
    rt: Arc<WasmRuntime>,
    pub modules: Vec<AnalyzerModule>,
    dpd: Dpd,
    instances: Vec<Option<InstanceSlot>>,
    free_instances: Vec<u32>,
    instance_gen: u32,
    /// Indexed by `Analysis::At`; in fixed chunks like the flow table's slots, so that growing
    /// never copies (a `Vec` of these reached 20 MB on the bench trace, and each doubling
    /// copied it and held both copies at once).
    conns: ChunkedVec<Option<ConnState>>,
    free_conns: Vec<u32>,
    local: LocalNets,
    scratch: Vec<usize>,
    /// Bytes held by payload reassembly over all connections, and the most allowed.
    buffered: usize,
    pub memory_limit: usize,
    /// Times memory pressure made a connection give up its holes.
    pub shed_count: u64,
    /// Event names some handler subscribes to (from the event bus).
    pub wanted_events: Arc<EventNames>,
}

/// Default bound of payload reassembly memory over all connections.
pub const MEMORY_LIMIT: usize = 256 << 20;

/// One export call on a session (deliver, gap, end-of-data, finish).
type SessionCall<'a> =
    dyn Fn(&Guest, &mut Store<HostState>, ResourceAny) -> wasmtime::Result<()> + 'a;

/// A session call that failed, with what is needed to report it.
struct CallFailure {
    failure: Failure,
    module: Arc<LoadedModule>,
}

impl Analyzers {
    pub fn new(rt: Arc<WasmRuntime>, modules: &[Arc<LoadedModule>], local: LocalNets) -> Self {
        let mut a = Analyzers {
            rt,
            modules: Vec::new(),
            dpd: Dpd::default(),
            instances: Vec::new(),
            free_instances: Vec::new(),
            instance_gen: 0,
            conns: ChunkedVec::default(),
            free_conns: Vec::new(),
            local,
            scratch: Vec::new(),
            buffered: 0,
            memory_limit: MEMORY_LIMIT,
            shed_count: 0,
            wanted_events: Arc::default(),
        };
        a.apply(modules);
        a
    }

    /// Whether any analyzer is loaded.
    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// Takes a new module set (start, or hot reload). Unchanged modules keep their shared
    /// instance and counters; sessions of replaced versions finish on the old instance.
    pub fn apply(&mut self, modules: &[Arc<LoadedModule>]) {
        let mut old = std::mem::take(&mut self.modules);
        for m in modules
            .iter()
            .filter(|m| m.manifest.kind == Kind::ProtocolAnalyzer)
        {
            match old.iter().position(|a| Arc::ptr_eq(&a.module, m)) {
                Some(i) => self.modules.push(old.swap_remove(i)),
                None => self.modules.push(AnalyzerModule {
                    module: m.clone(),
                    service: intern(&m.manifest.name),
                    source: intern(&m.manifest.name.to_uppercase()),
                    shared: None,
                    sessions: 0,
                    calls: 0,
                    fuel_used: 0,
                }),
            }
        }
        // Shared instances of replaced versions are released once their sessions end.
        for gone in old {
            if let Some((i, g)) = gone.shared {
                self.release_if_idle(i, g);
            }
        }
        self.dpd = Dpd::new(self.modules.iter().map(|m| &m.module.manifest));
    }

    /// First payload of a connection: attach the analyzers registered for its port.
    fn decide(&mut self, c: &mut Conn, bus: &mut EventBus, logs: &mut Logs, ts: i64) {
        let tcp = c.proto == Proto::Tcp;
        if c.proto != Proto::Tcp && c.proto != Proto::Udp {
            c.analysis = Analysis::Off;
            return;
        }
        let by_port: Vec<usize> = self.dpd.by_port(tcp, c.resp_p).to_vec();
        if by_port.is_empty() && !self.dpd.has_signatures(tcp) {
            c.analysis = Analysis::Off;
            return;
        }
        let idx = match self.free_conns.pop() {
            Some(i) => i,
            None => {
                self.conns.push(None);
                (self.conns.len() - 1) as u32
            }
        };
        let mut st = ConnState::default();
        // Streams whose SYN was seen start at relative sequence number 1, so data lost before
        // the first payload we see is a gap; others start at their first payload.
        if let ConnKind::Tcp(t) = &c.kind {
            for (d, ep) in [&t.orig, &t.resp].into_iter().enumerate() {
                if ep.syn_seen {
                    st.streams[d].start_at(1);
                }
            }
        }
        self.conns[idx as usize] = Some(st);
        c.analysis = Analysis::At(idx);
        for m in by_port {
            self.attach(c, m, bus, logs, ts);
        }
    }

    /// Starts a session of analyzer `m` on the connection.
    fn attach(&mut self, c: &mut Conn, m: usize, bus: &mut EventBus, logs: &mut Logs, ts: i64) {
        let Analysis::At(ci) = c.analysis else { return };
        let am = &self.modules[m];
        if bus.failures.is_quarantined(&am.module.manifest.name) {
            return;
        }
        let already = self.conns[ci as usize]
            .as_ref()
            .is_some_and(|s| s.sessions.iter().any(|x| x.service == am.service));
        if already {
            return;
        }
        let module = am.module.clone();
        let (service, source) = (am.service, am.source);
        // Built once per connection and lent to each constructor (taken out of the state
        // while the instance table is borrowed, then put back).
        let info = self.conns[ci as usize]
            .as_mut()
            .and_then(|st| st.info.take())
            .unwrap_or_else(|| conn_info(c, &self.local));
        // Find or create the instance.
        let per_conn = module.manifest.limits.isolation == Isolation::PerConnection;
        let live_shared = self.modules[m]
            .shared
            .filter(|&(i, g)| self.instance_live(i, g));
        let (ii, gen) = match live_shared.filter(|_| !per_conn) {
            Some(x) => x,
            None => match module.instantiate(&self.rt) {
                Ok(inst) => {
                    let x = self.add_instance(inst);
                    if !per_conn {
                        self.modules[m].shared = Some(x);
                    }
                    x
                }
                Err(f) => {
                    report(bus, c, ts, &module, &f);
                    return;
                }
            },
        };
        let fuel = module.manifest.limits.fuel;
        let wall = module.manifest.limits.wall_clock_ms;
        let slot = self.instances[ii as usize].as_mut().expect("live instance");
        arm(&mut slot.inst.store, fuel, wall);
        let state = slot.inst.store.data_mut();
        state.network_time = ts as f64 / 1e6;
        state.wanted_events = Some(self.wanted_events.clone());
        let Exports::Analyzer(g) = &slot.inst.exports else {
            unreachable!("analyzer modules export the analyzer interface")
        };
        let g: &Guest = g;
        let r = g.session().call_constructor(&mut slot.inst.store, &info);
        if let Some(st) = self.conns[ci as usize].as_mut() {
            st.info = Some(info);
        }
        let slot = self.instances[ii as usize].as_mut().expect("live instance");
        match r {
            Ok(handle) => {
                let effects = std::mem::take(&mut slot.inst.store.data_mut().call);
                slot.sessions += 1;
                self.modules[m].sessions += 1;
                self.modules[m].calls += 1;
                let st = self.conns[ci as usize].as_mut().expect("live state");
                st.sessions.push(Session {
                    inst: ii,
                    gen,
                    handle,
                    module: module.clone(),
                    service,
                    source,
                    confirmed: false,
                });
                st.segments |= module
                    .manifest
                    .analyzer
                    .as_ref()
                    .is_some_and(|a| a.segments);
                if c.proto == Proto::Udp {
                    let timeout = module.manifest.analyzer.as_ref();
                    if let Some(ms) = timeout.and_then(|a| a.udp_session_timeout_ms) {
                        c.session_timeout.get_or_insert(ms as i64 * 1000);
                    }
                }
                let k = st.sessions.len() - 1;
                self.effects(c, ci, k, effects, bus, logs, ts);
            }
            Err(e) => {
                let f = classify(&slot.inst.store, &e, fuel, wall, "session constructor");
                self.kill_instance(ii);
                report(bus, c, ts, &module, &f);
            }
        }
    }

    fn add_instance(&mut self, inst: Instance) -> (u32, u32) {
        self.instance_gen = self.instance_gen.wrapping_add(1);
        let slot = InstanceSlot {
            inst,
            gen: self.instance_gen,
            sessions: 0,
        };
        let i = match self.free_instances.pop() {
            Some(i) => {
                self.instances[i as usize] = Some(slot);
                i
            }
            None => {
                self.instances.push(Some(slot));
                (self.instances.len() - 1) as u32
            }
        };
        (i, self.instance_gen)
    }

    fn instance_live(&self, i: u32, gen: u32) -> bool {
        self.instances
            .get(i as usize)
            .and_then(|s| s.as_ref())
            .is_some_and(|s| s.gen == gen)
    }

    fn kill_instance(&mut self, i: u32) {
        if let Some(s) = self.instances.get_mut(i as usize) {
            if s.take().is_some() {
                self.free_instances.push(i);
            }
        }
        for m in &mut self.modules {
            if m.shared.is_some_and(|(x, _)| x == i) {
                m.shared = None;
            }
        }
    }

    /// Drops an instance that no longer serves new connections once its last session ended.
    fn release_if_idle(&mut self, i: u32, gen: u32) {
        if !self.instance_live(i, gen) {
            return;
        }
        let shared = self.modules.iter().any(|m| m.shared == Some((i, gen)));
        let idle = self.instances[i as usize]
            .as_ref()
            .is_some_and(|s| s.sessions == 0);
        if idle && !shared {
            self.kill_instance(i);
        }
    }

    /// Runs one call on session `k` of connection state `ci`.
    fn call(
        &mut self,
        ci: u32,
        k: usize,
        ts: i64,
        f: impl FnOnce(&Guest, &mut Store<HostState>, ResourceAny) -> wasmtime::Result<()>,
    ) -> Option<Result<CallState, CallFailure>> {
        let st = self.conns[ci as usize].as_ref()?;
        let s = st.sessions.get(k)?;
        let (ii, gen, handle) = (s.inst, s.gen, s.handle);
        let module = s.module.clone();
        if !self.instance_live(ii, gen) {
            return None;
        }
        let limits = &module.manifest.limits;
        let slot = self.instances[ii as usize].as_mut()?;
        arm(&mut slot.inst.store, limits.fuel, limits.wall_clock_ms);
        let state = slot.inst.store.data_mut();
        state.network_time = ts as f64 / 1e6;
        state.wanted_events = Some(self.wanted_events.clone());
        let Exports::Analyzer(g) = &slot.inst.exports else {
            return None;
        };
        let r = f(g, &mut slot.inst.store, handle);
        if let Some(m) = self
            .modules
            .iter_mut()
            .find(|m| Arc::ptr_eq(&m.module, &module))
        {
            m.calls += 1;
            if limits.fuel > 0 {
                m.fuel_used += limits.fuel - slot.inst.store.get_fuel().unwrap_or(0);
            }
        }
        Some(match r {
            Ok(()) => Ok(std::mem::take(&mut slot.inst.store.data_mut().call)),
            Err(e) => {
                let failure = classify(
                    &slot.inst.store,
                    &e,
                    limits.fuel,
                    limits.wall_clock_ms,
                    "session call",
                );
                self.kill_instance(ii);
                Err(CallFailure { failure, module })
            }
        })
    }

    /// Applies what a successful call produced: rows, events, weirds, confirmation, violation.
    #[allow(clippy::too_many_arguments)]
    fn effects(
        &mut self,
        c: &mut Conn,
        ci: u32,
        k: usize,
        fx: CallState,
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) {
        if !fx.rows.is_empty() {
            if let Err(e) = bus.logs.write(&self.rt.streams, &fx.rows) {
                eprintln!("sandpiper: writing an analyzer's log: {e}");
            }
        }
        for e in fx.events {
            bus.raise(e);
        }
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        let Some(s) = st.sessions.get_mut(k) else {
            return;
        };
        for (name, addl) in &fx.weirds {
            logs.analyzer_weird(ts, c, name, addl, s.source);
        }
        if fx.confirmed && !s.confirmed {
            s.confirmed = true;
            c.add_service(s.service);
        }
        if let Some((reason, data)) = fx.violation {
            if s.confirmed {
                let failure = Failure {
                    cause: "violation",
                    reason,
                    data: Some(printable(&data)),
                };
                let module = s.module.clone();
                report(bus, c, ts, &module, &failure);
            }
            // Zeek marks the connection with 'X' when an analyzer gives up on it with a
            // violation, confirmed or not (its SSH packet-length limits do so before NEWKEYS).
            c.history.violation();
            self.detach(ci, k);
        }
    }

    /// Ends session `k` (dropping its resource) and removes it from the connection.
    fn detach(&mut self, ci: u32, k: usize) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if k >= st.sessions.len() {
            return;
        }
        let s = st.sessions.remove(k);
        self.drop_session(s);
    }

    fn drop_session(&mut self, s: Session) {
        if !self.instance_live(s.inst, s.gen) {
            return;
        }
        if let Some(slot) = self.instances[s.inst as usize].as_mut() {
            arm(
                &mut slot.inst.store,
                s.module.manifest.limits.fuel,
                s.module.manifest.limits.wall_clock_ms,
            );
            if s.handle.resource_drop(&mut slot.inst.store).is_err() {
                self.kill_instance(s.inst);
                return;
            }
            slot.sessions = slot.sessions.saturating_sub(1);
        }
        self.release_if_idle(s.inst, s.gen);
    }

    /// Delivers one piece of one direction to every session of the connection.
    #[allow(clippy::too_many_arguments)]
    fn deliver(
        &mut self,
        c: &mut Conn,
        ci: u32,
        is_orig: bool,
        piece: Piece<'_>,
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) {
        self.call_each(c, ci, ts, bus, logs, &|g, store, h| match piece {
            Piece::Data(d) => g.session().call_deliver(store, h, is_orig, d),
            Piece::Gap(len) => g.session().call_gap(store, h, is_orig, len),
        });
    }

    /// Makes the same call on every session of the connection, in order, handling each
    /// result (a session that fails or reports a violation is removed as it goes).
    fn call_each(
        &mut self,
        c: &mut Conn,
        ci: u32,
        ts: i64,
        bus: &mut EventBus,
        logs: &mut Logs,
        f: &SessionCall<'_>,
    ) {
        let mut k = 0;
        while k < self.session_count(ci) {
            let r = self.call(ci, k, ts, f);
            k = self.after_call(c, ci, k, r, bus, logs, ts);
        }
    }

    /// Handles a call's result; returns the index of the next session to call.
    #[allow(clippy::too_many_arguments)]
    fn after_call(
        &mut self,
        c: &mut Conn,
        ci: u32,
        k: usize,
        r: Option<Result<CallState, CallFailure>>,
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) -> usize {
        let before = self.session_count(ci);
        match r {
            // The session's instance failed earlier (serving another connection).
            None => {
                self.forget(ci, k);
                k
            }
            Some(Ok(fx)) => {
                self.effects(c, ci, k, fx, bus, logs, ts);
                if self.session_count(ci) < before {
                    k
                } else {
                    k + 1
                }
            }
            Some(Err(cf)) => {
                report(bus, c, ts, &cf.module, &cf.failure);
                self.forget(ci, k);
                k
            }
        }
    }

    fn session_count(&self, ci: u32) -> usize {
        self.conns[ci as usize]
            .as_ref()
            .map_or(0, |s| s.sessions.len())
    }

    /// Removes a session whose instance is gone (nothing to drop in the guest).
    fn forget(&mut self, ci: u32, k: usize) {
        if let Some(st) = self.conns[ci as usize].as_mut() {
            if k < st.sessions.len() {
                st.sessions.remove(k);
            }
        }
    }

    /// Delivers what waits in one direction's stream.
    fn flush(&mut self, c: &mut Conn, ci: u32, d: usize, bus: &mut EventBus, logs: &mut Logs) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if !st.streams[d].has_output() {
            return;
        }
        let ts = st.ready_ts[d];
        let mut ready = std::mem::take(&mut st.streams[d].ready);
        let gaps = std::mem::take(&mut st.streams[d].gaps);
        let is_orig = d == 0;
        let mut at = 0;
        for &(pos, len) in &gaps {
            if pos > at {
                self.deliver(c, ci, is_orig, Piece::Data(&ready[at..pos]), bus, logs, ts);
            }
            self.deliver(c, ci, is_orig, Piece::Gap(len), bus, logs, ts);
            at = pos;
        }
        if at < ready.len() {
            self.deliver(c, ci, is_orig, Piece::Data(&ready[at..]), bus, logs, ts);
        }
        ready.clear();
        if let Some(st) = self.conns[ci as usize].as_mut() {
            // Keep the buffer's capacity for the next chunk.
            st.streams[d].ready = ready;
        }
    }

    /// Checks the payload signatures on a direction's first data; attaches what matches.
    #[allow(clippy::too_many_arguments)]
    fn signatures(
        &mut self,
        c: &mut Conn,
        ci: u32,
        d: usize,
        payload: &[u8],
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if payload.is_empty() || st.signatures_checked[d] || st.data_packets >= SIGNATURE_PACKETS {
            return;
        }
        st.signatures_checked[d] = true;
        st.data_packets += 1;
        let mut matched = std::mem::take(&mut self.scratch);
        self.dpd
            .by_payload(c.proto == Proto::Tcp, payload, &mut matched);
        for &m in &matched {
            self.attach(c, m, bus, logs, ts);
        }
        self.scratch = matched;
    }

    /// No analyzer yet on a TCP connection: the direction's first in-order bytes are collected
    /// (up to [`SIGNATURE_WINDOW`], as Zeek's DPD buffer) and the signatures run over them as
    /// they grow, so a request typed one byte per packet is still recognised. Analyzers found
    /// this way get the collected bytes of both directions first, in the order they were sent.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &mut self,
        c: &mut Conn,
        ci: u32,
        d: usize,
        seq: u64,
        payload: &[u8],
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if payload.is_empty() || st.signatures_checked[d] {
            return;
        }
        match st.dpd_next[d] {
            None => {
                st.dpd_next[d] = Some(seq);
                st.dpd_ts[d] = ts;
            }
            Some(n) if n == seq => {}
            // Out of order or retransmitted: stop collecting this direction.
            Some(_) => {
                st.signatures_checked[d] = true;
                return;
            }
        }
        let take = payload.len().min(SIGNATURE_WINDOW - st.dpd_buf[d].len());
        st.dpd_buf[d].extend_from_slice(&payload[..take]);
        st.dpd_next[d] = Some(seq + take as u64);
        st.data_packets += 1;
        if st.dpd_buf[d].len() >= SIGNATURE_WINDOW || st.data_packets >= SIGNATURE_PACKETS {
            st.signatures_checked[d] = true;
        }
        let mut matched = std::mem::take(&mut self.scratch);
        self.dpd.by_payload(true, &st.dpd_buf[d], &mut matched);
        for &m in &matched {
            self.attach(c, m, bus, logs, ts);
        }
        self.scratch = matched;
        if self.session_count(ci) > 0 {
            self.replay(c, ci, bus, logs);
        }
    }

    /// Hands the bytes collected for detection to the analyzers just attached, and continues
    /// each stream after them.
    fn replay(&mut self, c: &mut Conn, ci: u32, bus: &mut EventBus, logs: &mut Logs) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        let bufs = std::mem::take(&mut st.dpd_buf);
        let (next, ts) = (st.dpd_next, st.dpd_ts);
        for (d, n) in next.iter().enumerate() {
            if let Some(n) = n {
                st.streams[d].resume_at(*n);
            }
        }
        let first = usize::from(next[1].is_some() && (next[0].is_none() || ts[1] < ts[0]));
        for d in [first, 1 - first] {
            if !bufs[d].is_empty() {
                self.deliver(c, ci, d == 0, Piece::Data(&bufs[d]), bus, logs, ts[d]);
            }
        }
    }

    /// Gives up on a connection that has no analyzer and will not get one.
    fn settle(&mut self, c: &mut Conn, ci: u32) {
        let Some(st) = self.conns[ci as usize].as_ref() else {
            return;
        };
        let searching = self.dpd.has_signatures(c.proto == Proto::Tcp)
            && st.data_packets < SIGNATURE_PACKETS
            && !(st.signatures_checked[0] && st.signatures_checked[1]);
        if st.sessions.is_empty() && !searching {
            self.free_state(c, ci);
        }
    }

    fn free_state(&mut self, c: &mut Conn, ci: u32) {
        let held = self.conn_buffered(c);
        self.buffered = self.buffered.saturating_sub(held);
        if let Some(st) = self.conns[ci as usize].take() {
            for s in st.sessions {
                self.drop_session(s);
            }
            self.free_conns.push(ci);
        }
        c.analysis = Analysis::Off;
    }

    /// One TCP segment. Reassembly memory is accounted over all connections: past
    /// `memory_limit`, the connection being served gives up its holes (they become gaps) and
    /// its retransmission check, so memory stays bounded whatever the traffic.
    pub fn tcp(&mut self, c: &mut Conn, p: &TcpPayload<'_>, bus: &mut EventBus, logs: &mut Logs) {
        let before = self.conn_buffered(c);
        self.tcp_segment(c, p, bus, logs);
        let after = self.conn_buffered(c);
        self.buffered = (self.buffered + after).saturating_sub(before);
        if self.buffered > self.memory_limit && after > 0 {
            if let Analysis::At(ci) = c.analysis {
                self.shed(c, ci, bus, logs, p.ts);
            }
        }
    }

    fn conn_buffered(&self, c: &Conn) -> usize {
        match c.analysis {
            Analysis::At(ci) => self.conns[ci as usize]
                .as_ref()
                .map_or(0, |s| s.streams.iter().map(|x| x.buffered()).sum()),
            _ => 0,
        }
    }

    /// Memory pressure: delivers what waits behind holes now and forgets retained bytes.
    fn shed(&mut self, c: &mut Conn, ci: u32, bus: &mut EventBus, logs: &mut Logs, ts: i64) {
        let before = self.conn_buffered(c);
        self.shed_count += 1;
        if let Some(st) = self.conns[ci as usize].as_mut() {
            for d in 0..2 {
                let had = st.streams[d].has_output();
                st.streams[d].shed();
                if !had && st.streams[d].has_output() {
                    st.ready_ts[d] = ts;
                }
            }
        }
        for d in 0..2 {
            self.flush(c, ci, d, bus, logs);
        }
        let after = self.conn_buffered(c);
        self.buffered = (self.buffered + after).saturating_sub(before);
    }

    fn tcp_segment(
        &mut self,
        c: &mut Conn,
        p: &TcpPayload<'_>,
        bus: &mut EventBus,
        logs: &mut Logs,
    ) {
        if c.analysis == Analysis::Undecided {
            if p.payload.is_empty() || p.seg.data_seq.is_none() {
                return;
            }
            self.decide(c, bus, logs, p.ts);
        }
        let Analysis::At(ci) = c.analysis else { return };
        let d = dir(p.seg.is_orig);
        let o = 1 - d;
        if let Some(seq) = p.seg.data_seq {
            if self.session_count(ci) > 0 {
                self.signatures(c, ci, d, p.payload, bus, logs, p.ts);
            } else {
                self.search(c, ci, d, seq, p.payload, bus, logs, p.ts);
            }
        }
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if st.sessions.is_empty() {
            return self.settle(c, ci);
        }
        if p.seg.flipped {
            st.streams.swap(0, 1);
            st.ready_ts.swap(0, 1);
            st.ended.swap(0, 1);
        }
        if let Some(s) = p.seg.stream_start {
            st.streams[d].start_at(s);
        }
        if let Some(seq) = p.seg.data_seq.filter(|_| !p.payload.is_empty()) {
            // The other side's bytes go first: analyzers see the exchange in order.
            if st.streams[o].has_output() {
                self.flush(c, ci, o, bus, logs);
            }
            let Some(st) = self.conns[ci as usize].as_mut() else {
                return;
            };
            if !st.streams[d].has_output() {
                st.ready_ts[d] = p.ts;
            }
            st.streams[d].data(seq, p.payload);
            if st.streams[d].inconsistent && !st.inconsistency_reported {
                st.inconsistency_reported = true;
                logs.analyzer_weird(p.ts, c, "rexmit_inconsistency", "", "TCP");
            }
            if st.segments && st.streams[d].has_output() {
                self.flush(c, ci, d, bus, logs);
            }
        }
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        // After its FIN the peer's acks cover the FIN's sequence number, not missing data.
        if let Some(ack) = p.seg.ack.filter(|_| !st.ended[o]) {
            let had = st.streams[o].has_output();
            st.streams[o].ack(ack);
            if !had && st.streams[o].has_output() {
                st.ready_ts[o] = p.ts;
                if st.streams[d].has_output() {
                    self.flush(c, ci, d, bus, logs);
                }
            }
        }
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        if st.streams[d].ready.len() >= CHUNK_MAX {
            self.flush(c, ci, d, bus, logs);
        }
        if (p.fin || p.rst) && !self.ended(ci, d) {
            self.end_direction(c, ci, d, p.seg.data_end, bus, logs, p.ts);
        }
        self.settle(c, ci);
    }

    fn ended(&self, ci: u32, d: usize) -> bool {
        self.conns[ci as usize].as_ref().is_none_or(|s| s.ended[d])
    }

    /// A direction ended: what is buffered is delivered, then `end-of-data`.
    #[allow(clippy::too_many_arguments)]
    fn end_direction(
        &mut self,
        c: &mut Conn,
        ci: u32,
        d: usize,
        data_end: Option<u64>,
        bus: &mut EventBus,
        logs: &mut Logs,
        ts: i64,
    ) {
        let Some(st) = self.conns[ci as usize].as_mut() else {
            return;
        };
        st.ended[d] = true;
        let had = st.streams[d].has_output();
        match data_end {
            Some(end) => st.streams[d].end_at(end),
            None => st.streams[d].flush_all(),
        }
        if !had && st.streams[d].has_output() {
            st.ready_ts[d] = ts;
        }
        self.flush(c, ci, 1 - d, bus, logs);
        self.flush(c, ci, d, bus, logs);
        let is_orig = d == 0;
        self.call_each(c, ci, ts, bus, logs, &|g, store, h| {
            g.session().call_end_of_data(store, h, is_orig)
        });
    }

    /// One UDP datagram: delivered as it is.
    #[allow(clippy::too_many_arguments)]
    pub fn udp(
        &mut self,
        c: &mut Conn,
        is_orig: bool,
        payload: &[u8],
        ts: i64,
        bus: &mut EventBus,
        logs: &mut Logs,
    ) {
        if c.analysis == Analysis::Undecided {
            self.decide(c, bus, logs, ts);
        }
        let Analysis::At(ci) = c.analysis else { return };
        self.signatures(c, ci, dir(is_orig), payload, bus, logs, ts);
        if self.session_count(ci) > 0 {
            self.deliver(c, ci, is_orig, Piece::Data(payload), bus, logs, ts);
        }
        self.settle(c, ci);
    }

    /// The connection ends: pending bytes are delivered, every session finishes and is dropped.
    pub fn conn_ending(&mut self, c: &mut Conn, bus: &mut EventBus, logs: &mut Logs) {
        let Analysis::At(ci) = c.analysis else { return };
        let ts = c.last;
        if let Some(st) = self.conns[ci as usize].as_mut() {
            for d in 0..2 {
                let had = st.streams[d].has_output();
                st.streams[d].flush_all();
                if !had && st.streams[d].has_output() {
                    st.ready_ts[d] = ts;
                }
            }
            // Deliver the older pending direction first.
            let first = if st.streams[1].has_output()
                && (!st.streams[0].has_output() || st.ready_ts[1] < st.ready_ts[0])
            {
                1
            } else {
                0
            };
            self.flush(c, ci, first, bus, logs);
            self.flush(c, ci, 1 - first, bus, logs);
        }
        self.call_each(c, ci, ts, bus, logs, &|g, store, h| {
            g.session().call_finish(store, h)
        });
        self.free_state(c, ci);
    }

    /// The analyzers' part of `sandpiper ctl status`.
    pub fn status(&self, failures: &super::failures::FailureLog) -> String {
        use std::fmt::Write as _;
        let mut s = String::new();
        for m in &self.modules {
            let counters = format!(
                "sessions {}, calls {}, fuel used {}",
                m.sessions, m.calls, m.fuel_used
            );
            s.push_str(&super::failures::status_lines(
                &m.module,
                &counters,
                failures.health(&m.module.manifest.name).as_ref(),
            ));
        }
        let _ = writeln!(
            s,
            "analysed connections now: {}, reassembly: {} bytes held of {}, holes given up under memory pressure: {}",
            self.live_states(),
            self.buffered,
            self.memory_limit,
            self.shed_count
        );
        s
    }

    /// Live connection states (for status and tests).
    pub fn live_states(&self) -> usize {
        self.conns.iter().filter(|s| s.is_some()).count()
    }

    /// Bytes held by payload reassembly over all connections.
    pub fn buffered_bytes(&self) -> usize {
        self.buffered
    }
}

/// analyzer_failed.log row for a failure while serving connection `c`.
fn report(bus: &mut EventBus, c: &Conn, ts: i64, m: &LoadedModule, f: &Failure) {
    let conn = FailureConn {
        uid: Some(c.uid.to_string_with(b'C')),
        id: Some((c.orig_h, c.orig_p, c.resp_h, c.resp_p)),
    };
    let r = if f.cause == "violation" {
        bus.failures
            .record_violation(ts as f64 / 1e6, &m.manifest.name, f, &conn)
    } else {
        bus.failures
            .record(ts as f64 / 1e6, m.manifest.kind, &m.manifest.name, f, &conn)
            .map(|_| ())
    };
    if let Err(e) = r {
        eprintln!("sandpiper: writing analyzer_failed.log: {e}");
    }
}

/// Offending bytes as Zeek logs them: at most 40, non-printable bytes escaped.
fn printable(data: &[u8]) -> String {
    let mut s = String::new();
    for &b in data.iter().take(super::failures::FAILURE_DATA_MAX) {
        if (0x20..0x7f).contains(&b) && b != b'\\' {
            s.push(b as char);
        } else {
            s.push_str(&format!("\\x{b:02x}"));
        }
    }
    s
}
