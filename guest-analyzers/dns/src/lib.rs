//! Zeek's DNS analyzer and dns.log as a Sandpiper protocol analyzer (DNS over UDP and TCP).
//!
//! Layout, after Suricata's `rust/src/dns/`:
//! - [`parser`]: one message to a borrowed view (nom), with Zeek's lenient walk and weirds;
//! - [`render`]: the text dns.log shows for records; [`consts`]: Zeek's names for numbers;
//! - [`state`]: Zeek's query/reply matching per transaction id; [`tcp`]: TCP framing;
//! - [`session`]: one connection, bytes in and effects out; [`log`]: dns.log rows and events;
//! - this file: the only code that calls the host.
//!
//! See README.md for the events and for what of Zeek's behaviour is and is not reproduced.

pub mod consts;
pub mod log;
pub mod parser;
pub mod render;
pub mod session;
pub mod state;
pub mod tcp;

#[cfg(test)]
mod testutil;

use sandpiper_sdk::analysis;
use sandpiper_sdk::types::{ConnInfo, Row, Transport};
use sandpiper_sdk::Analyzer;

use session::{Effects, Session};

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// Rows per `log::write` call (the contract's figure for one call).
const MAX_ROWS_PER_WRITE: usize = 4096;
/// What one call hands the host, kept well inside its per-call budgets (65,536 rows and
/// events, 1,048,576 values, 16 MiB of strings), which fail the whole call when exceeded. Only
/// a huge TCP chunk of tiny messages comes near; what does not fit is dropped and reported.
const MAX_ITEMS_PER_CALL: usize = 16_384;
const MAX_VALUES_PER_CALL: usize = 512 * 1024;
const MAX_STRING_BYTES_PER_CALL: usize = 8 * 1024 * 1024;

/// Counts what a call has handed over.
#[derive(Default)]
struct Budget {
    items: usize,
    values: usize,
    bytes: usize,
    dropped: usize,
}

impl Budget {
    /// Whether `values` still fit; if so they are counted.
    fn take(&mut self, values: &[sandpiper_sdk::types::Value]) -> bool {
        let (n, bytes) = log::cost(values);
        if self.items < MAX_ITEMS_PER_CALL
            && self.values + n <= MAX_VALUES_PER_CALL
            && self.bytes + bytes <= MAX_STRING_BYTES_PER_CALL
        {
            self.items += 1;
            self.values += n;
            self.bytes += bytes;
            true
        } else {
            self.dropped += 1;
            false
        }
    }
}

/// The analyzer attached to one connection.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Dns {
    conn: ConnInfo,
    session: Session,
}

/// The dns stream, created once per instance and shared by its sessions.
static STREAM: sandpiper_sdk::SharedStream = sandpiper_sdk::SharedStream::new();

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
impl Dns {
    /// Performs what the session asked for.
    fn apply(&mut self, fx: Effects) {
        for (name, addl) in &fx.weirds {
            analysis::weird(name, addl);
        }
        if fx.confirm {
            analysis::confirm();
        }
        // Rows first: they matter more than events when the budget is short.
        let mut budget = Budget::default();
        if !fx.rows.is_empty() {
            let netbios = self.session.netbios();
            let mut rows: Vec<Row> = Vec::with_capacity(fx.rows.len());
            rows.extend(
                fx.rows
                    .into_iter()
                    .map(|i| log::into_row(&self.conn, i, netbios))
                    .filter(|r| budget.take(r)),
            );
            self.write(&rows);
        }
        // Events nobody subscribes to are not built at all (asked once per kind per call).
        let mut wanted: [Option<bool>; 2] = [None; 2];
        let events: Vec<_> = fx
            .events
            .into_iter()
            .filter(|e| {
                let (i, name) = match e {
                    session::DnsEvent::Request { .. } => (0, "dns_request"),
                    session::DnsEvent::Reply { .. } => (1, "dns_reply"),
                };
                *wanted[i].get_or_insert_with(|| sandpiper_sdk::events::subscribed(name))
            })
            .map(|e| log::into_event(&self.conn, e))
            .filter(|e| budget.take(&e.args))
            .collect();
        if !events.is_empty() {
            if let Err(e) = sandpiper_sdk::events::raise(&events) {
                eprintln!("dns: events refused: {e}");
            }
        }
        if budget.dropped > 0 {
            eprintln!(
                "dns: {} rows or events over the per-call budget dropped",
                budget.dropped
            );
        }
        if let Some((reason, data)) = &fx.violation {
            analysis::violation(reason, data);
        }
    }

    fn write(&mut self, rows: &[Row]) {
        let Some(stream) = STREAM.get(log::schema) else {
            return;
        };
        for chunk in rows.chunks(MAX_ROWS_PER_WRITE) {
            if let Err(e) = sandpiper_sdk::packed::write_rows(stream, chunk) {
                eprintln!("dns: rows refused: {e}");
            }
        }
    }
}

impl Analyzer for Dns {
    fn new(conn: ConnInfo) -> Self {
        let tcp = conn.id.resp_p.proto == Transport::Tcp;
        let session = Session::new(tcp, conn.id.resp_p.number);
        Dns { conn, session }
    }

    fn deliver(&mut self, is_orig: bool, data: &[u8]) {
        let now = analysis::network_time();
        let fx = self.session.deliver(is_orig, data, now);
        self.apply(fx);
    }

    fn gap(&mut self, is_orig: bool, _len: u64) {
        self.session.gap(is_orig);
    }

    fn end_of_data(&mut self, is_orig: bool) {
        let fx = self.session.end_of_data(is_orig);
        self.apply(fx);
    }

    fn finish(&mut self) {
        let fx = self.session.finish();
        self.apply(fx);
    }
}

// Only the wasm component exports the WIT interface: the export names contain ':' and '@',
// which a native shared library (built for `cargo test`) cannot carry.
#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_analyzer!(Dns);
