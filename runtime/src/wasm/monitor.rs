//! The Wasm side of the monitor as the engine sees it: protocol analyzers on payloads and
//! event handlers on events, behind the engine's [`ConnObserver`] interface.

use std::io;
use std::time::{Duration, Instant};

use super::analyzers::Analyzers;
use super::event_bus::EventBus;
use crate::engine::{ConnObserver, Logs, TcpPayload};
use crate::flow::table::ConnEvent;
use crate::flow::Conn;
use crate::site::LocalNets;

pub struct Monitor {
    pub bus: EventBus,
    pub analyzers: Analyzers,
    /// Connections ended since the clock was last read, and when the analyzers' status was
    /// last refreshed: it is rebuilt at most once a second.
    since_status: u32,
    status_at: Instant,
}

/// Connections between looks at the clock for refreshing the analyzers' part of `ctl status`.
const STATUS_EVERY: u32 = 256;

impl Monitor {
    /// Gives the analyzers a module set that hot reload applied to the handlers.
    fn sync(&mut self) {
        if let Some(modules) = self.bus.analyzer_update.take() {
            self.analyzers.apply(&modules);
            self.analyzers.wanted_events = self.bus.wanted_events();
            self.refresh_status();
        }
    }

    pub fn new(bus: EventBus, mut analyzers: Analyzers) -> Self {
        analyzers.wanted_events = bus.wanted_events();
        let mut m = Monitor {
            bus,
            analyzers,
            since_status: 0,
            status_at: Instant::now(),
        };
        m.refresh_status();
        m
    }

    fn refresh_status(&mut self) {
        let text = self.analyzers.status(&self.bus.failures);
        self.bus.set_analyzer_status(text, true);
    }
}

impl ConnObserver for Monitor {
    fn conn_done(&mut self, c: &Conn, local: &LocalNets) {
        self.since_status += 1;
        if self.since_status >= STATUS_EVERY {
            self.since_status = 0;
            if self.status_at.elapsed() >= Duration::from_secs(1) {
                self.status_at = Instant::now();
                let text = self.analyzers.status(&self.bus.failures);
                self.bus.set_analyzer_status(text, false);
            }
        }
        self.bus.conn_done(c, local);
    }

    fn conn_event(&mut self, ev: ConnEvent, ts: i64, c: &Conn, local: &LocalNets) {
        self.bus.conn_event(ev, ts, c, local);
    }

    fn finish(&mut self) -> io::Result<()> {
        self.refresh_status();
        self.bus.finish()
    }

    // Always on while modules are loaded: a reload may bring the first analyzer.
    fn wants_payload(&self) -> bool {
        true
    }

    fn tcp_payload(&mut self, c: &mut Conn, p: &TcpPayload<'_>, logs: &mut Logs) {
        self.sync();
        self.analyzers.tcp(c, p, &mut self.bus, logs);
    }

    fn udp_payload(&mut self, c: &mut Conn, is_orig: bool, data: &[u8], ts: i64, logs: &mut Logs) {
        self.sync();
        self.analyzers
            .udp(c, is_orig, data, ts, &mut self.bus, logs);
    }

    fn conn_ending(&mut self, c: &mut Conn, logs: &mut Logs) {
        self.analyzers.conn_ending(c, &mut self.bus, logs);
    }
}
