//! The packet thread's side of event dispatch. The connection table and the protocol analyzers
//! raise events here; the [`Dispatcher`] that runs the handlers gets them in raise order,
//! either called directly (inline) or, when handlers have a thread of their own, in chunks over
//! a bounded channel. Either way the dispatcher sees the same sequence of calls — every
//! `advance`, event and reload at the same position — so batches, timers and the handlers' logs
//! are the same; only how the work is spread over cores differs.
//!
//! On its own thread the dispatcher overlaps with packet processing, so the handlers' cost
//! leaves the packet path as long as they keep up; when they do not, the bounded channel makes
//! the packet thread wait rather than queue without limit.

use crate::wasm::handlers::EventNames;
use std::io;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::bindings::types::Event;
use super::conn_snapshot::ConnSnapshot;
use super::failures::FailureLog;
use super::handlers::{wanted_by, Dispatcher, BATCH_SPAN};
use super::reload::{ModuleUpdate, Reloader};
use super::runtime::LoadedModule;
use super::streams::GuestLogs;
use crate::engine::ConnObserver;
use crate::flow::table::ConnEvent;
use crate::flow::Conn;
use crate::site::LocalNets;

/// One call into the dispatcher, as the packet thread made it. Items are small (32 bytes):
/// an event and a connection snapshot (~250 and ~200 bytes) wait in their chunk's own lists,
/// so the packet thread writes each once and a chunk of 512 items is 16 KiB, not the 150 KiB
/// that made every chunk a fresh mapping of memory (page faults, zeroing) on the packet thread.
pub enum Item {
    /// Network time moved on (a connection ended, or an event nobody wants was raised).
    Advance(f64),
    /// The next of the chunk's events.
    Event,
    /// A core event about the connection of the chunk's next snapshot, its `ConnInfo` made on
    /// the handler thread.
    CoreEvent {
        name: &'static str,
        ts: f64,
    },
    Control(Control),
}

/// A call about the monitor rather than the traffic: made the same way inline and on the
/// handler thread.
pub enum Control {
    Reload(Box<ModuleUpdate>),
    /// The analyzers' part of `sandpiper ctl status`, published at once when `publish` is set
    /// (otherwise with the next batch).
    AnalyzerStatus {
        text: String,
        publish: bool,
    },
}

/// Items in raise order, with the events and connection snapshots they stand for in the order
/// the items name them. The handler thread sends emptied chunks back, so in a steady state the
/// packet thread allocates nothing to hand work over, and frees nothing the other thread made.
pub struct Chunk {
    items: Vec<Item>,
    events: Vec<Event>,
    conns: Vec<ConnSnapshot>,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            items: Vec::with_capacity(CHUNK_ITEMS),
            events: Vec::new(),
            conns: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Queues an advance to `ts` (true), unless the item before is an advance at least as far:
    /// `advance` is then a no-op (every timer due by then has fired, and a batch it left
    /// pending was opened no earlier than that advance).
    fn advance(&mut self, ts: f64) -> bool {
        if let Some(Item::Advance(prev)) = self.items.last() {
            if ts <= *prev {
                return false;
            }
        }
        self.items.push(Item::Advance(ts));
        true
    }
}

impl Dispatcher {
    /// Takes a chunk's items in order and leaves it empty.
    fn take_chunk(&mut self, chunk: &mut Chunk) {
        let mut events = chunk.events.drain(..);
        let mut conns = chunk.conns.drain(..);
        for item in chunk.items.drain(..) {
            match item {
                Item::Advance(ts) => self.advance(ts),
                Item::Event => {
                    if let Some(e) = events.next() {
                        self.raise(e);
                    }
                }
                Item::CoreEvent { name, ts } => {
                    if let Some(c) = conns.next() {
                        self.raise(core_event(name, ts, &c));
                    }
                }
                Item::Control(c) => self.control(c),
            }
        }
    }

    fn control(&mut self, c: Control) {
        match c {
            Control::Reload(u) => self.apply(*u),
            Control::AnalyzerStatus { text, publish } => {
                self.analyzer_status = text;
                if publish {
                    self.publish_status();
                }
            }
        }
    }
}

/// The event `name` about the connection in `c`.
fn core_event(name: &'static str, ts: f64, c: &ConnSnapshot) -> Event {
    Event {
        name: name.to_string(),
        ts,
        conn: Some(c.info()),
        args: Vec::new(),
    }
}

/// Items per chunk sent to the handler thread: enough to make a channel operation rare next to
/// the work each item stands for.
const CHUNK_ITEMS: usize = 512;
/// Chunks queued for the handler thread before the packet thread waits for it.
const CHUNKS_IN_FLIGHT: usize = 8;

enum Sink {
    Inline(Box<Dispatcher>),
    Thread(HandlerThread),
}

struct HandlerThread {
    /// None once the thread is gone (it panicked); later items are dropped and `finish` says so.
    tx: Option<SyncSender<Chunk>>,
    /// Chunks the handler thread has emptied, to fill again.
    emptied: Receiver<Chunk>,
    thread: Option<JoinHandle<io::Result<()>>>,
    chunk: Chunk,
    /// Network time when the chunk's first item was queued.
    chunk_start: f64,
}

impl HandlerThread {
    fn spawn(mut d: Dispatcher) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT);
        // Room for every chunk in flight and the one being emptied, so sending one back never
        // waits; a chunk that finds no room is dropped.
        let (back, emptied) = sync_channel::<Chunk>(CHUNKS_IN_FLIGHT + 2);
        let thread = std::thread::Builder::new()
            .name("sandpiper-handlers".into())
            .spawn(move || {
                crate::threads::lower_current_thread();
                for mut chunk in rx {
                    d.take_chunk(&mut chunk);
                    let _ = back.try_send(chunk);
                }
                d.finish()
            })?;
        Ok(HandlerThread {
            tx: Some(tx),
            emptied,
            thread: Some(thread),
            chunk: Chunk::new(),
            chunk_start: 0.0,
        })
    }

    /// Called after each item: notes when the chunk began and sends it when it is full.
    fn pushed(&mut self, now: f64) {
        let n = self.chunk.items.len();
        if n == 1 {
            self.chunk_start = now;
        }
        // A chunk spans at most BATCH_SPAN of network time, so handlers on a quiet live link
        // are no later than they would be inline.
        if n >= CHUNK_ITEMS || now - self.chunk_start >= BATCH_SPAN {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let next = self.emptied.try_recv().unwrap_or_else(|_| Chunk::new());
        let chunk = std::mem::replace(&mut self.chunk, next);
        if let Some(tx) = &self.tx {
            if tx.send(chunk).is_err() {
                self.tx = None;
            }
        }
    }

    /// Sends what is queued, lets the thread deliver it and finish, and returns its result.
    fn finish(&mut self) -> io::Result<()> {
        self.flush();
        self.tx = None;
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(io::Error::other(
                "the event-handler thread panicked; events after that were not handled",
            )),
            None => Ok(()),
        }
    }
}

/// Where the packet thread raises events.
pub struct EventBus {
    /// analyzer_failed.log and module health, shared with the dispatcher.
    pub failures: FailureLog,
    /// The protocol analyzers' own log streams.
    pub logs: GuestLogs,
    /// Event names some handler subscribes to (shared with the analyzers' instances, which
    /// skip lifting events nobody wants).
    wanted: Arc<EventNames>,
    /// A module set applied by hot reload that the analyzers have not taken yet.
    pub analyzer_update: Option<Vec<Arc<LoadedModule>>>,
    /// New module sets from hot reload.
    pub reloader: Option<Reloader>,
    /// Network time: the newest event or connection time seen.
    now: f64,
    sink: Sink,
}

impl EventBus {
    /// `threaded` runs the dispatcher on a thread of its own.
    pub fn new(
        dispatcher: Dispatcher,
        failures: FailureLog,
        logs: GuestLogs,
        threaded: bool,
    ) -> io::Result<Self> {
        let wanted = dispatcher.wanted_events();
        let sink = if threaded {
            Sink::Thread(HandlerThread::spawn(dispatcher)?)
        } else {
            Sink::Inline(Box::new(dispatcher))
        };
        Ok(EventBus {
            failures,
            logs,
            wanted,
            analyzer_update: None,
            reloader: None,
            now: 0.0,
            sink,
        })
    }

    /// Whether the handlers run on their own thread.
    pub fn threaded(&self) -> bool {
        matches!(self.sink, Sink::Thread(_))
    }

    fn send_advance(&mut self, ts: f64) {
        match &mut self.sink {
            Sink::Inline(d) => d.advance(ts),
            Sink::Thread(t) => {
                if t.chunk.advance(ts) {
                    t.pushed(self.now);
                }
            }
        }
    }

    fn send_event(&mut self, e: Event) {
        match &mut self.sink {
            Sink::Inline(d) => d.raise(e),
            Sink::Thread(t) => {
                t.chunk.events.push(e);
                t.chunk.items.push(Item::Event);
                t.pushed(self.now);
            }
        }
    }

    /// The core event `name` about `c`. The dispatcher's `raise` first advances to `ts`, so no
    /// advance item goes before it.
    fn send_core_event(&mut self, name: &'static str, ts: f64, c: &Conn, local: &LocalNets) {
        match &mut self.sink {
            Sink::Inline(d) => d.raise(core_event(name, ts, &ConnSnapshot::of(c, local))),
            Sink::Thread(t) => {
                t.chunk.conns.push(ConnSnapshot::of(c, local));
                t.chunk.items.push(Item::CoreEvent { name, ts });
                t.pushed(self.now);
            }
        }
    }

    fn send_control(&mut self, c: Control) {
        match &mut self.sink {
            Sink::Inline(d) => d.control(c),
            Sink::Thread(t) => {
                t.chunk.items.push(Item::Control(c));
                t.pushed(self.now);
            }
        }
    }

    /// Sends what is queued now rather than when the chunk fills.
    fn flush(&mut self) {
        if let Sink::Thread(t) = &mut self.sink {
            t.flush();
        }
    }

    /// The names of the events some handler subscribes to.
    pub fn wanted_events(&self) -> Arc<EventNames> {
        self.wanted.clone()
    }

    /// Whether any handler subscribes to `name` (callers skip building unwanted events).
    pub fn wants(&self, name: &str) -> bool {
        self.wanted.contains(name)
    }

    /// Takes the newest module set from the reloader, if there is one: the handlers get it at
    /// this point of the event stream, the analyzers at their next payload.
    fn poll_reload(&mut self) {
        let Some(r) = &self.reloader else { return };
        let mut newest: Option<ModuleUpdate> = None;
        while let Ok(u) = r.updates.try_recv() {
            newest = Some(u);
        }
        if let Some(u) = newest {
            self.wanted = wanted_by(&u.modules);
            self.analyzer_update = Some(u.modules.clone());
            self.send_control(Control::Reload(Box::new(u)));
            self.flush();
        }
    }

    /// Network time moves to `ts` if that is later.
    fn note_time(&mut self, ts: f64) {
        if ts > self.now {
            self.now = ts;
        }
    }

    fn advance(&mut self, ts: f64) {
        self.note_time(ts);
        self.send_advance(ts);
    }

    /// An event raised at its network time; dropped here if no handler wants it.
    pub fn raise(&mut self, e: Event) {
        self.poll_reload();
        self.note_time(e.ts);
        if self.wants(&e.name) {
            self.send_event(e);
        } else {
            self.send_advance(e.ts);
        }
    }

    /// The analyzers' part of `sandpiper ctl status`.
    pub fn set_analyzer_status(&mut self, text: String, publish: bool) {
        self.send_control(Control::AnalyzerStatus { text, publish });
        if publish {
            self.flush();
        }
    }

    /// A core connection event (`new_connection`, `connection_established`).
    pub fn conn_event(&mut self, ev: ConnEvent, ts: i64, c: &Conn, local: &LocalNets) {
        let name = match ev {
            ConnEvent::New => "new_connection",
            ConnEvent::Established => "connection_established",
        };
        self.core_event(name, ts as f64 / 1e6, c, local);
    }

    /// A core event about `c` at `ts`: network time moves on, and the event (with the
    /// connection's info) is built only if some handler wants it.
    fn core_event(&mut self, name: &'static str, ts: f64, c: &Conn, local: &LocalNets) {
        self.poll_reload();
        if !self.wants(name) {
            self.advance(ts);
            return;
        }
        self.note_time(ts);
        self.send_core_event(name, ts, c, local);
    }
}

impl ConnObserver for EventBus {
    fn conn_done(&mut self, c: &Conn, local: &LocalNets) {
        self.core_event("connection_state_remove", c.last as f64 / 1e6, c, local);
    }

    /// Delivers everything pending, then closes the handlers' logs, the analyzers' logs and
    /// analyzer_failed.log (which both sides write), in that order.
    fn finish(&mut self) -> io::Result<()> {
        let handlers = match &mut self.sink {
            Sink::Inline(d) => d.finish(),
            Sink::Thread(t) => t.finish(),
        };
        let analyzers = self.logs.finish();
        let failures = self.failures.finish();
        handlers.and(analyzers).and(failures)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_advance_no_later_than_the_one_just_queued_is_dropped() {
        let mut c = Chunk::new();
        assert!(c.advance(2.0));
        // advance(1.5) and advance(2.0) right after advance(2.0) change nothing.
        assert!(!c.advance(1.5));
        assert!(!c.advance(2.0));
        assert!(c.advance(2.5));
        c.items.push(Item::Event);
        // After anything else an advance is queued again, even to the same time.
        assert!(c.advance(2.5));
        let times: Vec<Option<f64>> = c
            .items
            .iter()
            .map(|i| match i {
                Item::Advance(t) => Some(*t),
                _ => None,
            })
            .collect();
        assert_eq!(times, [Some(2.0), Some(2.5), None, Some(2.5)]);
    }

    #[test]
    fn items_stay_small() {
        // The chunk's 512 items fit in 16 KiB; the events and snapshots live beside them.
        assert!(std::mem::size_of::<Item>() <= 32);
    }
}
