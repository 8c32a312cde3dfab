//! Zeek's HTTP analyzer and http.log as a Sandpiper protocol analyzer.
//!
//! The work is split as in Zeek, so each part can be compared with its original:
//!
//! - [`parser`], [`mime`], [`lines`]: pure parsing of lines, headers and numbers;
//! - [`message`], [`state`]: the protocol state machine (Zeek's `HTTP.cc`), which reports
//!   [`event::Event`]s;
//! - [`script`]: Zeek's HTTP scripts (transactions, http.log records, files), which consume the
//!   events and talk to a [`script::Host`];
//! - [`log`], [`sniff`]: the http.log columns and MIME sniffing.
//!
//! Only this file calls the host: [`SdkHost`] implements [`script::Host`] with the SDK imports.
//! See README.md for the events this analyzer raises and the Zeek semantics it covers.

pub mod event;
pub mod inflate;
pub mod lines;
pub mod log;
pub mod message;
pub mod mime;
pub mod parser;
pub mod script;
pub mod sniff;
pub mod state;
#[cfg(test)]
mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use sandpiper_sdk::types::{ConnInfo, IpAddress, Row, Value};
use sandpiper_sdk::Analyzer;

use crate::event::Event;
use crate::script::{ConnMeta, Host, Info, Script};
use crate::state::Http;

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The host takes at most this many rows per `log::write` and events per `events::raise`.
const MAX_BATCH: usize = 4096;
/// Weirds per call the host accepts (its budget is 1,024).
const MAX_WEIRDS_PER_CALL: usize = 512;
/// File bytes forwarded per call (the host's budget for file data is 64 MiB per call).
const MAX_FILE_BYTES_PER_CALL: usize = 32 << 20;
/// Zeek's weird sampling: the first 25 of a name per connection, then one in 1000.
const WEIRD_THRESHOLD: u64 = 25;
const WEIRD_RATE: u64 = 1000;

/// What the connection's addresses look like in Zeek's file handles and URLs.
fn meta(conn: &ConnInfo) -> ConnMeta {
    let orig: std::net::IpAddr = (&conn.id.orig_h).into();
    let resp: std::net::IpAddr = (&conn.id.resp_h).into();
    let resp_host = match conn.id.resp_h {
        IpAddress::V4(_) => resp.to_string(),
        IpAddress::V6(_) => format!("[{resp}]"),
    };
    ConnMeta {
        uid: conn.uid.clone(),
        start: conn.start,
        orig_h: orig.to_string(),
        resp_host,
        resp_p: conn.id.resp_p.number,
    }
}

/// [`Host`] over the SDK imports. Rows and events are batched and handed over at the end of
/// each call.
pub struct SdkHost {
    conn: ConnInfo,
    rows: Vec<Row>,
    events: Vec<sandpiper_sdk::types::Event>,
    now: Option<f64>,
    confirmed: bool,
    violated: bool,
    weirds: HashMap<&'static str, u64>,
    weirds_this_call: usize,
    file_bytes_this_call: usize,
    /// Whether a handler subscribes to each event (asked once per call; see [`event_name`]).
    subscribed: [Option<bool>; 4],
}

/// The http stream, created once per instance and shared by its sessions.
static STREAM: sandpiper_sdk::SharedStream = sandpiper_sdk::SharedStream::new();

impl SdkHost {
    fn new(conn: ConnInfo) -> Self {
        SdkHost {
            conn,
            rows: Vec::new(),
            events: Vec::new(),
            now: None,
            confirmed: false,
            violated: false,
            weirds: HashMap::new(),
            weirds_this_call: 0,
            file_bytes_this_call: 0,
            subscribed: [None; 4],
        }
    }

    /// Hands over what the call produced.
    fn flush(&mut self) {
        self.now = None;
        self.weirds_this_call = 0;
        self.file_bytes_this_call = 0;
        self.subscribed = [None; 4];
        if !self.rows.is_empty() {
            let rows = std::mem::take(&mut self.rows);
            if let Some(stream) = STREAM.get(log::schema) {
                for chunk in rows.chunks(MAX_BATCH) {
                    if let Err(e) = sandpiper_sdk::packed::write_rows(stream, chunk) {
                        eprintln!("http: writing http.log failed: {e}");
                    }
                }
            }
        }
        if !self.events.is_empty() {
            let events = std::mem::take(&mut self.events);
            for chunk in events.chunks(MAX_BATCH) {
                if let Err(e) = sandpiper_sdk::events::raise(chunk) {
                    eprintln!("http: raising events failed: {e}");
                }
            }
        }
    }
}

/// The name of the event raised for `ev` and its index in [`SdkHost::subscribed`].
fn event_name(ev: &Event<'_>) -> Option<(usize, &'static str)> {
    Some(match ev {
        Event::Request { .. } => (0, "http_request"),
        Event::Reply { .. } => (1, "http_reply"),
        Event::AllHeaders { .. } => (2, "http_all_headers"),
        Event::MessageDone { .. } => (3, "http_message_done"),
        _ => return None,
    })
}

/// The arguments of the events this analyzer raises (see README.md).
pub fn event_args(ev: &Event<'_>) -> Option<(&'static str, Vec<Value>)> {
    let s = |b: &[u8]| Value::Str(log::text(b));
    Some(match ev {
        Event::Request {
            method,
            original_uri,
            unescaped_uri,
            version,
        } => (
            "http_request",
            vec![
                s(method),
                s(original_uri),
                s(unescaped_uri),
                Value::Str(version.text()),
            ],
        ),
        Event::Reply {
            version,
            code,
            reason,
        } => (
            "http_reply",
            vec![
                Value::Str(version.text()),
                Value::Count(u64::from(*code)),
                s(reason.unwrap_or(b"<empty>")),
            ],
        ),
        Event::AllHeaders { is_orig, headers } => {
            let n = u32::try_from(headers.len()).unwrap_or(u32::MAX);
            let mut args = vec![Value::Boolean(*is_orig), Value::VectorOf(n)];
            args.reserve(2 * n as usize + 1);
            args.extend(headers.iter().take(n as usize).map(|(name, _)| s(name)));
            args.push(Value::VectorOf(n));
            args.extend(headers.iter().take(n as usize).map(|(_, value)| s(value)));
            ("http_all_headers", args)
        }
        Event::MessageDone { is_orig, stat } => (
            "http_message_done",
            vec![
                Value::Boolean(*is_orig),
                Value::Count(stat.body_length),
                Value::Count(stat.content_gap_length),
                Value::Count(stat.header_length),
                Value::Boolean(stat.interrupted),
                Value::Str(stat.finish_msg.to_string()),
            ],
        ),
        _ => return None,
    })
}

impl Host for SdkHost {
    fn network_time(&mut self) -> f64 {
        *self
            .now
            .get_or_insert_with(sandpiper_sdk::analysis::network_time)
    }

    fn log(&mut self, info: Info) {
        self.rows.push(log::into_row(&self.conn, info));
    }

    fn raise(&mut self, ev: &Event<'_>) {
        // Events nobody subscribes to are not built at all.
        let Some((i, name)) = event_name(ev) else {
            return;
        };
        if !*self.subscribed[i].get_or_insert_with(|| sandpiper_sdk::events::subscribed(name)) {
            return;
        }
        if let Some((name, args)) = event_args(ev) {
            let ts = self.network_time();
            self.events.push(sandpiper_sdk::types::Event {
                name: name.to_string(),
                ts,
                conn: Some(self.conn.clone()),
                args,
            });
        }
    }

    fn weird(&mut self, name: &'static str, addl: &[u8]) {
        let seen = self.weirds.entry(name).or_insert(0);
        *seen += 1;
        let sampled = *seen <= WEIRD_THRESHOLD || seen.is_multiple_of(WEIRD_RATE);
        if sampled && self.weirds_this_call < MAX_WEIRDS_PER_CALL {
            self.weirds_this_call += 1;
            sandpiper_sdk::analysis::weird(name, &log::text(addl));
        }
    }

    fn confirm(&mut self) {
        if !self.confirmed && !self.violated {
            self.confirmed = true;
            sandpiper_sdk::analysis::confirm();
        }
    }

    fn violation(&mut self, reason: &str, data: &[u8]) {
        if !self.violated {
            self.violated = true;
            sandpiper_sdk::analysis::violation(reason, &data[..data.len().min(40)]);
        }
    }

    fn file_begin(&mut self, is_orig: bool, mime_hint: Option<&[u8]>, size: Option<u64>) -> u32 {
        let hint = mime_hint.map(log::text);
        sandpiper_sdk::files::begin(is_orig, hint.as_deref(), size)
    }

    fn file_data(&mut self, file: u32, data: &[u8]) {
        let room = MAX_FILE_BYTES_PER_CALL - self.file_bytes_this_call;
        let data = &data[..data.len().min(room)];
        if !data.is_empty() {
            self.file_bytes_this_call += data.len();
            sandpiper_sdk::files::data(file, data);
        }
    }

    fn file_end(&mut self, file: u32) {
        sandpiper_sdk::files::end(file);
    }
}

/// One connection.
pub struct Session {
    http: Http,
    script: Script<SdkHost>,
}

impl Analyzer for Session {
    fn new(conn: ConnInfo) -> Self {
        Session {
            http: Http::new(),
            script: Script::new(meta(&conn), SdkHost::new(conn)),
        }
    }

    fn deliver(&mut self, is_orig: bool, data: &[u8]) {
        self.http.deliver(is_orig, data, &mut self.script);
        self.end_call();
    }

    fn gap(&mut self, is_orig: bool, len: u64) {
        self.http.gap(is_orig, len, &mut self.script);
        self.end_call();
    }

    fn end_of_data(&mut self, is_orig: bool) {
        self.http.end_of_data(is_orig, &mut self.script);
        self.end_call();
    }

    fn finish(&mut self) {
        self.finish_now();
        self.script.host.flush();
    }
}

impl Session {
    /// Zeek's `Done` plus the scripts' final flush: every pending record is logged.
    fn finish_now(&mut self) {
        self.http.finish(&mut self.script);
        self.script.finalize();
    }

    fn end_call(&mut self) {
        // A violation detaches the session without a `finish` call, as Zeek removes the
        // analyzer: what is pending is logged now, in the call that reported it.
        if self.script.host.violated {
            self.finish_now();
        }
        self.script.host.flush();
    }
}

// Only the wasm component exports the WIT interface: the export names contain ':' and '@',
// which a native shared library (built for `cargo test`) cannot carry.
#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_analyzer!(Session);
