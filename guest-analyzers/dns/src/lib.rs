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
use std::cell::RefCell;

use sandpiper_sdk::packed::Encoder;
use sandpiper_sdk::types::{ConnInfo, PackedRows, Transport};
use sandpiper_sdk::Analyzer;

use session::{Effects, EventKind, Session};

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
        self.fits(log::cost(values))
    }

    /// Whether an item of `n` values and `bytes` of strings still fits; if so it is counted.
    fn fits(&mut self, (n, bytes): (usize, usize)) -> bool {
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

thread_local! {
    /// The rows of the current call, encoded; one buffer for the instance, so that encoding
    /// allocates nothing once it has grown.
    static ROWS: RefCell<Encoder> = RefCell::default();
}

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
            ROWS.with_borrow_mut(|rows| {
                for info in &fx.rows {
                    if budget.fits(log::row_cost(&self.conn, info)) {
                        log::encode_row(rows, &self.conn, info, netbios);
                        if rows.rows() as usize == MAX_ROWS_PER_WRITE {
                            write(rows);
                        }
                    }
                }
                write(rows);
            });
        }
        // The session built only the events some handler subscribes to (see `wants`).
        let events: Vec<_> = fx
            .events
            .into_iter()
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
}

/// Hands the encoded rows to the host and empties `rows` (keeping its buffer).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn write(rows: &mut Encoder) {
    if rows.is_empty() {
        return;
    }
    let (count, bytes) = rows.take();
    let packed = PackedRows { count, bytes };
    if let Some(stream) = STREAM.get(log::schema) {
        if let Err(e) = sandpiper_sdk::log::write_packed(stream, &packed) {
            eprintln!("dns: rows refused: {e}");
        }
    }
    rows.restore(0, packed.bytes);
    rows.clear();
}

/// Whether a handler subscribes to an event kind, asked of the host at most once per kind in
/// one call (a call is short; a handler loaded meanwhile gets the events of the next call).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn wants() -> impl FnMut(EventKind) -> bool {
    let mut answers: [Option<bool>; 2] = [None; 2];
    move |kind| {
        *answers[kind as usize]
            .get_or_insert_with(|| sandpiper_sdk::events::subscribed(kind.name()))
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
        let fx = self.session.deliver_with(is_orig, data, now, &mut wants());
        self.apply(fx);
    }

    fn gap(&mut self, is_orig: bool, _len: u64) {
        self.session.gap(is_orig);
    }

    fn end_of_data(&mut self, is_orig: bool) {
        let fx = self.session.end_of_data_with(is_orig, &mut wants());
        self.apply(fx);
    }

    fn finish(&mut self) {
        let fx = self.session.finish_with(&mut wants());
        self.apply(fx);
    }
}

// Only the wasm component exports the WIT interface: the export names contain ':' and '@',
// which a native shared library (built for `cargo test`) cannot carry.
#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_analyzer!(Dns);
