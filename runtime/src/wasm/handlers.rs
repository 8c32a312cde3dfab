//! Event handlers ("scripts"): events are collected into batches and each handler receives the
//! events it subscribes to, one call per batch. The [`Dispatcher`] here does that; it runs on
//! the handler thread, fed in order by the packet thread's [`super::event_bus::EventBus`].
//!
//! A handler that fails a call loses only that batch: the Store is dropped (a trap poisons it),
//! its log rows and raised events from that call are discarded, a row goes to
//! analyzer_failed.log and the next batch runs on a fresh instance. Other handlers see the same
//! batches either way, so their output does not depend on a misbehaving neighbour.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::bindings::types::{ConnInfo, Event, PackedEvents};
use super::conn_snapshot::ConnSnapshot;
use super::event_filter;
use super::failures::{status_lines, FailureConn, FailureLog};
use super::host::CallState;
use super::manifest::EventFilter;
use super::mutes::{MuteTable, MAX_MUTES};
use super::notices::NoticeLog;
use super::packed_wit::encode_events;
use super::reload::ModuleUpdate;
use super::runtime::{arm, classify, Exports, Failure, Instance, LoadedModule, WasmRuntime};
use super::streams::GuestLogs;
use super::writers::WriterModules;
use crate::flow::Conn;
use crate::log::manager::Level;
use crate::site::LocalNets;
use sandpiper_packed::EventEncoder;

/// Default events per batch: large enough to amortise a call, small enough to keep latency low.
pub const BATCH_EVENTS: usize = 256;
/// Network seconds after a batch's first event was queued that end the batch early.
pub const BATCH_SPAN: f64 = 1.0;

/// The events queued for the next batch and the network time at which the first of them was
/// queued.
///
/// A batch ends after [`BATCH_SPAN`] of the network clock, not of its events' own times:
/// events can carry times older than the clock (connection_state_remove carries the
/// connection's last packet, and at the end of input every remaining connection is removed at
/// once, in no time order). Measured from the first event's own time, each such event ended
/// the batch before it, and known-services got 15,277 calls of 2-3 events on the bench trace
/// instead of full batches.
#[derive(Default)]
struct Pending {
    events: Vec<Event>,
    opened: f64,
}

impl Pending {
    /// Queues `e` at network time `now`; true when the batch holds `limit` events.
    fn push(&mut self, e: Event, now: f64, limit: usize) -> bool {
        if self.events.is_empty() {
            self.opened = now;
        }
        self.events.push(e);
        self.events.len() >= limit
    }

    /// Whether the batch has waited [`BATCH_SPAN`] of network time by `now`.
    fn is_due(&self, now: f64) -> bool {
        !self.events.is_empty() && now - self.opened >= BATCH_SPAN
    }

    fn take(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }
}
/// Rounds of handler-raised events processed per batch (handlers raising events for each other
/// cannot loop forever).
const MAX_ROUNDS: usize = 4;

/// A set of event names. Looked up for every event raised (by the packet thread, the analyzers'
/// host calls and each handler's subscriptions), so it hashes with aHash rather than SipHash:
/// the names come from manifests and guests but only ever key sets the host builds, which
/// hold at most a few hundred names.
pub type EventNames = std::collections::HashSet<String, ahash::RandomState>;

/// One handler module with its (lazily created) instance.
pub struct HandlerSlot {
    pub module: Arc<LoadedModule>,
    subscriptions: EventNames,
    /// The manifest's `[[handler.filter]]` conditions.
    filters: Vec<EventFilter>,
    /// What the current instance asked not to be given.
    mutes: MuteTable,
    instance: Option<Instance>,
    /// The packed batch for a `packed-handler` (reused, so encoding allocates nothing).
    packed: EventEncoder,
    pub calls: u64,
    /// Events delivered, over all calls.
    pub events: u64,
    pub fuel_used: u64,
}

impl HandlerSlot {
    pub fn new(module: Arc<LoadedModule>) -> Self {
        let section = module.manifest.handler.as_ref();
        let subscriptions = section
            .map(|h| h.events.iter().cloned().collect())
            .unwrap_or_default();
        let filters = section.map(|h| h.filter.clone()).unwrap_or_default();
        HandlerSlot {
            module,
            subscriptions,
            filters,
            mutes: MuteTable::default(),
            instance: None,
            packed: EventEncoder::new(),
            calls: 0,
            events: 0,
            fuel_used: 0,
        }
    }

    pub fn name(&self) -> &str {
        &self.module.manifest.name
    }

    /// Whether this handler gets `e`: subscribed, every filter naming it holds, and it is not
    /// muted.
    fn takes(&self, e: &Event) -> bool {
        self.subscriptions.contains(&e.name)
            && self
                .filters
                .iter()
                .filter(|f| f.event == e.name)
                .all(|f| event_filter::matches(f, e))
            && !self.mutes.covers(e)
    }

    /// Calls `handle` with a batch; on success returns what the call produced.
    fn handle(
        &mut self,
        rt: &WasmRuntime,
        batch: &[Event],
        timers_pending: usize,
        wanted: &Arc<EventNames>,
    ) -> Result<CallState, Failure> {
        let limits = self.module.manifest.limits.clone();
        let mut inst = match self.instance.take() {
            Some(i) => i,
            None => self.module.instantiate(rt)?,
        };
        if self.mutes.len() >= MAX_MUTES {
            // Expired mutes make room: none of them covers an event of this batch or later.
            let first = batch.iter().map(|e| e.ts).fold(f64::MAX, f64::min);
            self.mutes.sweep(first);
        }
        inst.store.data_mut().timers_pending = timers_pending;
        // `events.subscribed` answers from the current subscriptions, and `events.raise`
        // drops what nobody wants without lifting it.
        inst.store.data_mut().wanted_events = Some(wanted.clone());
        inst.store.data_mut().mutes_in_force = self.mutes.len();
        arm(&mut inst.store, limits.fuel, limits.wall_clock_ms);
        self.calls += 1;
        self.events += batch.len() as u64;
        let result = match &inst.exports {
            Exports::Handler(h) => h.call_handle(&mut inst.store, batch),
            Exports::PackedHandler(h) => {
                encode_events(&mut self.packed, batch);
                let (count, bytes) = self.packed.take();
                let packed = PackedEvents { count, bytes };
                let r = h.call_handle(&mut inst.store, &packed);
                self.packed.restore(packed.bytes);
                r
            }
            _ => unreachable!("handler slots hold event-handler modules"),
        };
        match result {
            Ok(()) => {
                if limits.fuel > 0 {
                    let left = inst.store.get_fuel().unwrap_or(0);
                    self.fuel_used += limits.fuel - left;
                }
                let effects = std::mem::take(&mut inst.store.data_mut().call);
                self.instance = Some(inst);
                Ok(effects)
            }
            // The instance is dropped here (a trap poisons its Store), and with it what it knew:
            // its mutes go too, so the next instance is given every event again.
            Err(e) => {
                self.mutes.clear();
                Err(classify(
                    &inst.store,
                    &e,
                    limits.fuel,
                    limits.wall_clock_ms,
                    "handle",
                ))
            }
        }
    }
}

/// An event scheduled by a handler, due at a network time.
struct PendingTimer {
    due: f64,
    /// Scheduling order, which breaks ties between timers due at the same time.
    seq: u64,
    module: Arc<str>,
    event: Event,
}

impl PartialEq for PendingTimer {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for PendingTimer {}
impl PartialOrd for PendingTimer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for PendingTimer {
    /// Reversed, so that `BinaryHeap` pops the earliest timer first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .due
            .total_cmp(&self.due)
            .then(other.seq.cmp(&self.seq))
    }
}

/// The names of the events some event handler among `modules` subscribes to.
pub fn wanted_by(modules: &[Arc<LoadedModule>]) -> Arc<EventNames> {
    Arc::new(
        modules
            .iter()
            .filter(|m| m.manifest.kind == super::manifest::Kind::EventHandler)
            .filter_map(|m| m.manifest.handler.as_ref())
            .flat_map(|h| h.events.iter().cloned())
            .collect(),
    )
}

/// Collects events and runs them through the handlers in batches.
pub struct Dispatcher {
    rt: Arc<WasmRuntime>,
    pub handlers: Vec<HandlerSlot>,
    /// Event names some handler subscribes to (shared with the analyzers' instances, which
    /// skip lifting events nobody wants).
    wanted: Arc<EventNames>,
    pending: Pending,
    pub failures: FailureLog,
    pub logs: GuestLogs,
    pub notices: NoticeLog,
    /// Handlers' timers, earliest first, and how many each module has pending.
    timers: BinaryHeap<PendingTimer>,
    timers_per_module: HashMap<Arc<str>, usize>,
    timer_seq: u64,
    /// Timers still pending after the end-of-input expiry (scheduled during it).
    pub timers_dropped: u64,
    /// Network time: the newest event or connection time seen.
    now: f64,
    /// The protocol analyzers' part of `sandpiper ctl status` (kept fresh by the monitor).
    pub analyzer_status: String,
    /// Handler-raised events dropped because the round limit was reached.
    pub dropped_events: u64,
    /// Network time of the newest event (for failure rows).
    last_ts: f64,
    /// Events per batch.
    pub batch_events: usize,
    /// What `sandpiper ctl status` shows, refreshed after every batch and reload.
    pub status: Arc<Mutex<String>>,
    /// Reloads applied; for the last one, how long the reload thread took to prepare it and
    /// how long the swap itself took.
    pub swaps: u64,
    pub last_swap: Option<(Duration, Duration)>,
    /// The log-writer modules, for their part of the status.
    pub writers: Option<Arc<WriterModules>>,
}

impl Dispatcher {
    pub fn new(
        rt: Arc<WasmRuntime>,
        modules: &[Arc<LoadedModule>],
        failures: FailureLog,
        logs: GuestLogs,
    ) -> Self {
        let handlers: Vec<HandlerSlot> = modules
            .iter()
            .filter(|m| m.manifest.kind == super::manifest::Kind::EventHandler)
            .map(|m| HandlerSlot::new(m.clone()))
            .collect();
        let wanted = wanted_by(modules);
        let notices = NoticeLog::new(logs.manager().clone());
        Dispatcher {
            rt,
            handlers,
            wanted,
            pending: Pending::default(),
            failures,
            logs,
            notices,
            timers: BinaryHeap::new(),
            timers_per_module: HashMap::new(),
            timer_seq: 0,
            timers_dropped: 0,
            now: 0.0,
            analyzer_status: String::new(),
            dropped_events: 0,
            last_ts: 0.0,
            batch_events: BATCH_EVENTS,
            status: Arc::new(Mutex::new(String::new())),
            swaps: 0,
            last_swap: None,
            writers: None,
        }
    }

    /// Applies a module set from hot reload. Unchanged modules keep their slot and instance; a
    /// new version starts on a fresh instance with a clean failure record (which lifts a
    /// quarantine).
    pub fn apply(&mut self, update: ModuleUpdate) {
        let t = std::time::Instant::now();
        let mut old = std::mem::take(&mut self.handlers);
        for m in update
            .modules
            .iter()
            .filter(|m| m.manifest.kind == super::manifest::Kind::EventHandler)
        {
            match old.iter().position(|s| Arc::ptr_eq(&s.module, m)) {
                Some(i) => self.handlers.push(old.swap_remove(i)),
                None => {
                    self.failures.reset(&m.manifest.name);
                    self.handlers.push(HandlerSlot::new(m.clone()));
                }
            }
        }
        self.wanted = wanted_by(&update.modules);
        self.swaps += 1;
        self.last_swap = Some((update.prepared, t.elapsed()));
        self.publish_status();
    }

    /// Refreshes the text `sandpiper ctl status` serves.
    pub fn publish_status(&self) {
        let mut s = self.analyzer_status.clone();
        for h in &self.handlers {
            let counters = format!(
                "calls {}, events {}, fuel used {}",
                h.calls, h.events, h.fuel_used
            );
            s.push_str(&status_lines(
                &h.module,
                &counters,
                self.failures.health(h.name()).as_ref(),
            ));
        }
        if let Some(w) = &self.writers {
            s.push_str(&w.status());
        }
        let _ = writeln!(
            s,
            "reloads applied: {}{}",
            self.swaps,
            self.last_swap
                .map(|(p, d)| format!(
                    ", last prepared in {:.1} ms off the packet path and swapped in {:.1} µs",
                    p.as_secs_f64() * 1e3,
                    d.as_secs_f64() * 1e6
                ))
                .unwrap_or_default()
        );
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = s;
    }

    /// The names of the events some handler subscribes to.
    pub fn wanted_events(&self) -> Arc<EventNames> {
        self.wanted.clone()
    }

    /// Whether any handler subscribes to `name` (callers skip building unwanted events).
    pub fn wants(&self, name: &str) -> bool {
        self.wanted.contains(name)
    }

    /// Queues `e` (at its network time) for the handlers that take it.
    pub fn raise(&mut self, e: Event) {
        self.advance(e.ts);
        if !self.wants(&e.name) {
            return;
        }
        self.last_ts = e.ts;
        self.push(e);
    }

    fn push(&mut self, e: Event) {
        if self.pending.push(e, self.now, self.batch_events) {
            self.dispatch();
        }
    }

    /// Moves network time to `ts` and queues the timers that are due by then, in due order,
    /// ahead of whatever is raised at `ts`.
    pub fn advance(&mut self, ts: f64) {
        if ts > self.now {
            self.now = ts;
        }
        // A batch waits at most BATCH_SPAN of network time: on a quiet live interface
        // handlers still see events about that soon.
        if self.pending.is_due(self.now) {
            self.dispatch();
        }
        while self.timers.peek().is_some_and(|t| t.due <= self.now) {
            let t = self.timers.pop().expect("peeked");
            self.fire(t);
        }
    }

    fn fire(&mut self, mut t: PendingTimer) {
        if let Some(n) = self.timers_per_module.get_mut(&t.module) {
            *n = n.saturating_sub(1);
        }
        if self.wants(&t.event.name) {
            t.event.ts = t.due;
            self.push(t.event);
        }
    }

    /// Runs the pending batch through every handler, then the events they raised, for at most
    /// `MAX_ROUNDS` rounds.
    pub fn dispatch(&mut self) {
        let mut batch = self.pending.take();
        for _ in 0..MAX_ROUNDS {
            if batch.is_empty() {
                break;
            }
            let mut raised = Vec::new();
            for i in 0..self.handlers.len() {
                let slot = &mut self.handlers[i];
                if self.failures.is_quarantined(slot.name()) {
                    continue;
                }
                // The whole batch is passed as it is when the handler takes all of it (the usual
                // case); otherwise the events it takes are copied out.
                let taken: Vec<bool> = batch.iter().map(|e| slot.takes(e)).collect();
                let count = taken.iter().filter(|t| **t).count();
                if count == 0 {
                    continue;
                }
                let picked: Vec<Event>;
                let mine: &[Event] = if count == batch.len() {
                    &batch
                } else {
                    picked = batch
                        .iter()
                        .zip(&taken)
                        .filter(|(_, t)| **t)
                        .map(|(e, _)| e.clone())
                        .collect();
                    &picked
                };
                // The call's network time: the newest event it handles.
                let call_ts = mine.iter().map(|e| e.ts).fold(f64::MIN, f64::max);
                let module: Arc<str> = Arc::from(slot.name());
                let pending = self.timers_per_module.get(&module).copied().unwrap_or(0);
                match slot.handle(&self.rt, mine, pending, &self.wanted) {
                    Ok(effects) => {
                        if let Err(e) = self.logs.write(&self.rt.streams, &effects.rows) {
                            eprintln!("sandpiper: writing {}'s log: {e}", slot.name());
                        }
                        for n in &effects.notices {
                            if let Err(e) = self.notices.raise(call_ts, n) {
                                eprintln!("sandpiper: writing notice.log: {e}");
                            }
                        }
                        if !effects.timers.is_empty() {
                            *self.timers_per_module.entry(module.clone()).or_default() +=
                                effects.timers.len();
                        }
                        for (name, conn, until) in effects.mutes {
                            slot.mutes.add(name, conn, until);
                        }
                        for (after, event) in effects.timers {
                            self.timer_seq += 1;
                            self.timers.push(PendingTimer {
                                due: call_ts + after,
                                seq: self.timer_seq,
                                module: module.clone(),
                                event,
                            });
                        }
                        raised.extend(
                            effects
                                .events
                                .into_iter()
                                .filter(|e| self.wanted.contains(&e.name)),
                        );
                    }
                    Err(f) => {
                        let name = slot.name().to_string();
                        let conn = FailureConn::default();
                        let kind = slot.module.manifest.kind;
                        if let Err(e) = self.failures.record(self.last_ts, kind, &name, &f, &conn) {
                            eprintln!("sandpiper: writing analyzer_failed.log: {e}");
                        }
                    }
                }
            }
            batch = raised;
        }
        if !batch.is_empty() {
            self.dropped_events += batch.len() as u64;
            let mut names: Vec<&str> = batch.iter().map(|e| e.name.as_str()).collect();
            names.sort_unstable();
            names.dedup();
            let message = format!(
                "{} handler-raised events dropped ({}): handlers raised events for each other \
                 more than {MAX_ROUNDS} rounds deep",
                batch.len(),
                names.join(",")
            );
            self.logs.manager().report_at(
                (self.now * 1e6).round() as i64,
                Level::Warning,
                &message,
                "event dispatch",
            );
        }
        self.publish_status();
    }

    /// End of input: what is pending is delivered, then every timer fires in due order (Zeek
    /// expires all timers at termination). Timers scheduled while they fire are dropped.
    fn expire_timers(&mut self) {
        self.dispatch();
        let mut all = std::mem::take(&mut self.timers).into_sorted_vec();
        // `into_sorted_vec` is ascending by `Ord`, which is reversed: latest first.
        all.reverse();
        for t in all {
            if t.due > self.now {
                self.now = t.due;
            }
            self.last_ts = t.due;
            self.fire(t);
        }
        self.dispatch();
        self.timers_dropped += self.timers.len() as u64;
        self.timers.clear();
    }

    /// End of input: the last events and every timer are delivered and the handlers' logs
    /// closed.
    pub fn finish(&mut self) -> io::Result<()> {
        self.expire_timers();
        self.logs.finish()?;
        self.notices.finish()
    }
}

/// What a handler sees of a connection.
pub fn conn_info(c: &Conn, local: &LocalNets) -> ConnInfo {
    ConnSnapshot::of(c, local).info()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(ts: f64) -> Event {
        Event {
            name: "connection_state_remove".into(),
            ts,
            conn: None,
            args: Vec::new(),
        }
    }

    #[test]
    fn events_older_than_the_clock_stay_in_one_batch() {
        // The end of input removes connections at their own last-packet times, in any order.
        let mut p = Pending::default();
        let now = 1_700_000_024.0;
        for k in 0..200 {
            let ts = 1_700_000_000.0 + f64::from(k % 24);
            assert!(!p.push(event(ts), now, BATCH_EVENTS));
            assert!(!p.is_due(now), "event {k} at {ts} ended the batch");
        }
        assert_eq!(p.take().len(), 200);
        assert!(!p.is_due(now + 10.0), "an empty batch is never due");
    }

    #[test]
    fn a_batch_ends_when_full_or_after_a_second_of_the_clock() {
        let mut p = Pending::default();
        assert!(!p.push(event(5.0), 10.0, 3));
        assert!(!p.push(event(9.0), 10.5, 3));
        assert!(!p.is_due(10.9));
        assert!(p.is_due(11.0), "1 s after the first event was queued");
        assert!(p.push(event(11.0), 11.0, 3), "the third event fills it");
        assert_eq!(p.take().len(), 3);
        // The next batch's clock starts with its own first event.
        assert!(!p.push(event(1.0), 20.0, 3));
        assert!(!p.is_due(20.5));
        assert!(p.is_due(21.0));
    }
}
