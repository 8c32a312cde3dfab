//! The Wasm side of the monitor as the engine sees it: protocol analyzers on payloads and
//! event handlers on events, behind the engine's [`ConnObserver`] interface.

use std::io;

use super::analyzers::Analyzers;
use super::handlers::EventBus;
use crate::engine::{ConnObserver, Logs, TcpPayload};
use crate::flow::Conn;
use crate::site::LocalNets;

pub struct Monitor {
    pub bus: EventBus,
    pub analyzers: Analyzers,
}

impl Monitor {
    /// Gives the analyzers a module set that hot reload applied to the handlers.
    fn sync(&mut self) {
        if let Some(modules) = self.bus.analyzer_update.take() {
            self.analyzers.apply(&modules);
            self.analyzers.wanted_events = self.bus.wanted_events();
        }
    }

    pub fn new(bus: EventBus, mut analyzers: Analyzers) -> Self {
        analyzers.wanted_events = bus.wanted_events();
        Monitor { bus, analyzers }
    }
}

impl ConnObserver for Monitor {
    fn conn_done(&mut self, c: &Conn, local: &LocalNets) {
        self.bus.conn_done(c, local);
    }

    fn finish(&mut self) -> io::Result<()> {
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
