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
use std::sync::mpsc::{sync_channel, SyncSender};
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

/// One call into the dispatcher, as the packet thread made it.
// Events are nearly every item; boxing them would add an allocation per event to save space
// in a short-lived chunk.
#[allow(clippy::large_enum_variant)]
pub enum Item {
    /// Network time moved on (a connection ended, or an event nobody wants was raised).
    Advance(f64),
    Event(Event),
    /// A core event about a connection, its `ConnInfo` made on the handler thread.
    CoreEvent {
        name: &'static str,
        ts: f64,
        conn: Box<ConnSnapshot>,
    },
    Reload(ModuleUpdate),
    /// The analyzers' part of `sandpiper ctl status`, published at once when `publish` is set
    /// (otherwise with the next batch).
    AnalyzerStatus {
        text: String,
        publish: bool,
    },
}

impl Dispatcher {
    fn take(&mut self, item: Item) {
        match item {
            Item::Advance(ts) => self.advance(ts),
            Item::Event(e) => self.raise(e),
            Item::CoreEvent { name, ts, conn } => self.raise(Event {
                name: name.to_string(),
                ts,
                conn: Some(conn.info()),
                args: Vec::new(),
            }),
            Item::Reload(u) => self.apply(u),
            Item::AnalyzerStatus { text, publish } => {
                self.analyzer_status = text;
                if publish {
                    self.publish_status();
                }
            }
        }
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
    tx: Option<SyncSender<Vec<Item>>>,
    thread: Option<JoinHandle<io::Result<()>>>,
    chunk: Vec<Item>,
    /// Network time when the chunk's first item was queued.
    chunk_start: f64,
}

impl HandlerThread {
    fn spawn(mut d: Dispatcher) -> io::Result<Self> {
        let (tx, rx) = sync_channel::<Vec<Item>>(CHUNKS_IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("sandpiper-handlers".into())
            .spawn(move || {
                for chunk in rx {
                    for item in chunk {
                        d.take(item);
                    }
                }
                d.finish()
            })?;
        Ok(HandlerThread {
            tx: Some(tx),
            thread: Some(thread),
            chunk: Vec::with_capacity(CHUNK_ITEMS),
            chunk_start: 0.0,
        })
    }

    fn push(&mut self, item: Item, now: f64) {
        if self.chunk.is_empty() {
            self.chunk_start = now;
        }
        self.chunk.push(item);
        // A chunk spans at most BATCH_SPAN of network time, so handlers on a quiet live link
        // are no later than they would be inline.
        if self.chunk.len() >= CHUNK_ITEMS || now - self.chunk_start >= BATCH_SPAN {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.chunk.is_empty() {
            return;
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_ITEMS));
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

    fn send(&mut self, item: Item) {
        match &mut self.sink {
            Sink::Inline(d) => d.take(item),
            Sink::Thread(t) => t.push(item, self.now),
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
            self.send(Item::Reload(u));
            self.flush();
        }
    }

    fn advance(&mut self, ts: f64) {
        if ts > self.now {
            self.now = ts;
        }
        self.send(Item::Advance(ts));
    }

    /// An event raised at its network time; dropped here if no handler wants it.
    pub fn raise(&mut self, e: Event) {
        self.poll_reload();
        if e.ts > self.now {
            self.now = e.ts;
        }
        if self.wants(&e.name) {
            self.send(Item::Event(e));
        } else {
            self.send(Item::Advance(e.ts));
        }
    }

    /// The analyzers' part of `sandpiper ctl status`.
    pub fn set_analyzer_status(&mut self, text: String, publish: bool) {
        self.send(Item::AnalyzerStatus { text, publish });
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
        self.advance(ts);
        if !self.wants(name) {
            return;
        }
        self.send(Item::CoreEvent {
            name,
            ts,
            conn: Box::new(ConnSnapshot::of(c, local)),
        });
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
