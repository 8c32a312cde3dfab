//! The per-Store host state and the host side of every import.
//!
//! Everything a guest does through an import during a call is buffered in [`CallState`] and
//! only committed by the caller when the call returns normally; a call that fails discards it.
//! Every import counts what it lifts against per-call budgets, so no guest can make the host
//! allocate without bound: exceeding a budget ends the call as a `host-limit` failure.

use crate::wasm::handlers::EventNames;
use std::sync::Arc;

use sandpiper_packed::{Rows, ValueRef};
use wasmtime::component::{Linker, WasmList, WasmStr};
use wasmtime::{ResourceLimiter, StoreContextMut};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxView, WasiView};

use super::bindings::sandpiper::monitor::{
    analysis, file_info, mutes, notice, rule_feedback, sink, timers,
};
use super::bindings::types::{self, ConnInfo, Event, LogSchema, Value};
use super::lazy::{LazyConnInfo, LazyEvent, LazyPackedRows};
use super::streams::GuestValue;
use super::streams::StreamRegistry;
use super::tail_pipe::TailPipe;

/// Per-call budgets for what a guest hands to the host.
pub mod budget {
    /// Log rows per call, over all `log.write` calls.
    pub const ROWS: usize = 65_536;
    /// Values (log row cells and event arguments) per call.
    pub const VALUES: usize = 1 << 20;
    /// Bytes of strings per call (row cells, event names and arguments).
    pub const STRING_BYTES: usize = 16 << 20;
    /// Events per call, over all `events.raise` calls.
    pub const EVENTS: usize = 65_536;
    /// Weirds per call.
    pub const WEIRDS: usize = 1_024;
    /// Bytes handed to the files framework or a sink per call.
    pub const DATA_BYTES: usize = 64 << 20;
}

/// Log rows of one call, in the order they were written, for a stream (registry index).
#[derive(Debug, PartialEq)]
pub enum CallRows {
    /// One row of `log.write`, lifted value by value.
    Owned(u32, Vec<Value>),
    /// The rows of one `log.write-packed`, checked and kept as the guest encoded them (one
    /// copy of the bytes, no allocation per value).
    Packed {
        stream: u32,
        count: u32,
        bytes: Vec<u8>,
    },
}

/// What the guest did during the current call, committed only if the call succeeds.
#[derive(Default)]
pub struct CallState {
    /// Rows, in order.
    pub rows: Vec<CallRows>,
    /// Rows over all of `rows` (the budget's count).
    row_count: usize,
    pub events: Vec<Event>,
    pub weirds: Vec<(String, String)>,
    pub confirmed: bool,
    pub violation: Option<(String, Vec<u8>)>,
    pub sink_bytes: Vec<u8>,
    pub rule_feedback: Vec<(u64, &'static str, String)>,
    pub file_info: Vec<(String, String)>,
    /// Notices raised (checked, not yet suppressed).
    pub notices: Vec<notice::Info>,
    /// Timers scheduled: (seconds after the call's network time, event).
    pub timers: Vec<(f64, Event)>,
    /// Mutes set: (event name, connections, until).
    pub mutes: Vec<(String, mutes::ConnMatch, f64)>,
    values: usize,
    string_bytes: usize,
    data_bytes: usize,
    /// Set when an import refused the call for exceeding a budget: the reason.
    pub limit_hit: Option<String>,
}

impl CallState {
    fn exceed(&mut self, what: String) -> wasmtime::Error {
        let e = wasmtime::Error::msg(format!("host limit: {what}"));
        self.limit_hit = Some(what);
        e
    }

    fn charge_string(&mut self, n: usize) -> wasmtime::Result<()> {
        self.string_bytes += n;
        if self.string_bytes > budget::STRING_BYTES {
            return Err(self.exceed(format!(
                "more than {} bytes of strings in one call",
                budget::STRING_BYTES
            )));
        }
        Ok(())
    }

    fn charge_value(&mut self, v: &impl GuestValue) -> wasmtime::Result<()> {
        self.values += 1;
        if self.values > budget::VALUES {
            return Err(self.exceed(format!("more than {} values in one call", budget::VALUES)));
        }
        match v.view() {
            ValueRef::Str(s) | ValueRef::Enumeration(s) => self.charge_string(s.len()),
            _ => Ok(()),
        }
    }

    /// `n` more log rows in this call, over every `log.write` and `log.write-packed`.
    fn check_row_budget(&mut self, n: usize) -> wasmtime::Result<()> {
        if self.row_count + n > budget::ROWS {
            return Err(self.exceed(format!("more than {} log rows in one call", budget::ROWS)));
        }
        Ok(())
    }

    fn charge_data(&mut self, n: usize) -> wasmtime::Result<()> {
        self.data_bytes += n;
        if self.data_bytes > budget::DATA_BYTES {
            return Err(self.exceed(format!(
                "more than {} bytes of data in one call",
                budget::DATA_BYTES
            )));
        }
        Ok(())
    }
}

/// Memory and table limits of one Store; remembers whether it refused a growth so a failed
/// call can be reported as `memory-limit`.
pub struct Limiter {
    pub memory_bytes: usize,
    pub hit: bool,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory_bytes {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing linear memory to {desired} bytes"
            )));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > 1 << 20 {
            self.hit = true;
            return Err(wasmtime::Error::msg(format!(
                "memory limit: growing a table to {desired} elements"
            )));
        }
        Ok(true)
    }
}

/// The data of one wasmtime `Store`: one component instance of one module.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub limiter: Limiter,
    /// The module's name (stream ownership, log rows).
    pub module: Arc<str>,
    pub streams: Arc<StreamRegistry>,
    pub call: CallState,
    /// The guest's stderr, when the manifest does not grant it the monitor's stderr.
    pub stderr: Option<TailPipe>,
    /// Files opened through `files.begin` in this instance (ids handed out).
    next_file: u32,
    /// What `analysis.network-time` returns: set by the host before each analyzer call.
    pub network_time: f64,
    /// Event names some handler subscribes to; `events.raise` drops others without lifting
    /// them. `None`: keep every event.
    pub wanted_events: Option<Arc<EventNames>>,
    /// This module's timers pending before the call (set by the event bus).
    pub timers_pending: usize,
    /// This module's mutes in force before the call (set by the event bus).
    pub mutes_in_force: usize,
}

impl HostState {
    pub fn new(
        module: Arc<str>,
        streams: Arc<StreamRegistry>,
        memory_bytes: usize,
        inherit_stderr: bool,
        options: &[(String, String)],
    ) -> Self {
        let mut b = WasiCtx::builder();
        // Deny by default: no arguments, preopened directories, network or stdin, and no
        // environment but the module's own options (`wasm::options`). Clocks and randomness
        // stay (Rust's HashMap seeds itself from wasi:random).
        b.envs(options);
        let stderr = if inherit_stderr {
            b.inherit_stderr();
            None
        } else {
            let pipe = TailPipe::default();
            b.stderr(pipe.clone());
            Some(pipe)
        };
        HostState {
            wasi: b.build(),
            table: ResourceTable::new(),
            limiter: Limiter {
                memory_bytes,
                hit: false,
            },
            module,
            streams,
            call: CallState::default(),
            stderr,
            next_file: 0,
            network_time: 0.0,
            wanted_events: None,
            timers_pending: 0,
            mutes_in_force: 0,
        }
    }

    /// The last line the guest wrote to stderr (a Rust panic message), if captured.
    pub fn stderr_tail(&self) -> Option<String> {
        let bytes = self.stderr.as_ref()?.contents();
        let text = String::from_utf8_lossy(&bytes);
        // Skip Rust's "note: run with `RUST_BACKTRACE=1`" so the panic message itself is kept.
        let line = text
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty() && !l.starts_with("note: "))?;
        Some(line.trim().to_string())
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Adds the imports every world may use. WASI is linked with the deny-by-default context
/// above; the Sandpiper interfaces a component's world does not import are simply unused.
pub fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    type Has = wasmtime::component::HasSelf<HostState>;
    analysis::add_to_linker::<HostState, Has>(linker, |s| s)?;
    file_info::add_to_linker::<HostState, Has>(linker, |s| s)?;
    sink::add_to_linker::<HostState, Has>(linker, |s| s)?;
    rule_feedback::add_to_linker::<HostState, Has>(linker, |s| s)?;
    notice::add_to_linker::<HostState, Has>(linker, |s| s)?;
    timers::add_to_linker::<HostState, Has>(linker, |s| s)?;
    mutes::add_to_linker::<HostState, Has>(linker, |s| s)?;
    types::add_to_linker::<HostState, Has>(linker, |s| s)?;

    let version = super::bindings::PACKAGE_VERSION;
    let mut log = linker.instance(&format!("sandpiper:monitor/log@{version}"))?;
    log.func_wrap(
        "create-stream",
        |mut store: StoreContextMut<'_, HostState>, (schema,): (LogSchema,)| {
            let state = store.data_mut();
            Ok((state.streams.create(&state.module, schema),))
        },
    )?;
    log.func_wrap(
        "write",
        |mut store: StoreContextMut<'_, HostState>,
         (stream, rows): (u32, WasmList<WasmList<Value>>)| {
            Ok((log_write(&mut store, stream, rows)?,))
        },
    )?;
    log.func_wrap(
        "write-packed",
        |mut store: StoreContextMut<'_, HostState>, (stream, rows): (u32, LazyPackedRows)| {
            Ok((log_write_packed(&mut store, stream, rows)?,))
        },
    )?;
    let mut events = linker.instance(&format!("sandpiper:monitor/events@{version}"))?;
    events.func_wrap(
        "raise",
        |mut store: StoreContextMut<'_, HostState>, (list,): (WasmList<LazyEvent>,)| {
            Ok((events_raise(&mut store, list)?,))
        },
    )?;
    events.func_wrap(
        "subscribed",
        |store: StoreContextMut<'_, HostState>, (name,): (WasmStr,)| {
            let yes = match &store.data().wanted_events {
                None => true,
                Some(w) => w.contains(name.to_str(&store)?.as_ref()),
            };
            Ok((yes,))
        },
    )?;
    // The files framework is a later issue: file content is checked against the budget and
    // dropped; the handles are real so analyzers can be written against the final interface.
    // File data is looked at in guest memory, never copied out (a body can be large).
    let mut files = linker.instance(&format!("sandpiper:monitor/files@{version}"))?;
    files.func_wrap(
        "begin",
        |mut store: StoreContextMut<'_, HostState>,
         (_is_orig, mime_hint, _total_size): (bool, Option<WasmStr>, Option<u64>)| {
            let n = match &mime_hint {
                Some(m) => m.to_str(&store)?.len(),
                None => 0,
            };
            let state = store.data_mut();
            state.call.charge_string(n)?;
            state.next_file = state.next_file.wrapping_add(1);
            Ok((state.next_file,))
        },
    )?;
    files.func_wrap(
        "data",
        |mut store: StoreContextMut<'_, HostState>, (_file, bytes): (u32, WasmList<u8>)| {
            store.data_mut().call.charge_data(bytes.len())
        },
    )?;
    files.func_wrap(
        "end",
        |_store: StoreContextMut<'_, HostState>, (_file,): (u32,)| Ok(()),
    )?;
    Ok(())
}

/// `log.write`: rows are lifted one value at a time and checked against the stream's schema.
/// A malformed row is the guest's error (returned to it); exceeding a budget ends the call.
fn log_write(
    store: &mut StoreContextMut<'_, HostState>,
    stream: u32,
    rows: WasmList<WasmList<Value>>,
) -> wasmtime::Result<Result<(), String>> {
    let schema = match stream_schema(store, stream) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    store.data_mut().call.check_row_budget(rows.len())?;
    let mut lifted = Vec::with_capacity(rows.len().min(1024));
    for i in 0..rows.len() {
        let row = rows.get(&mut *store, i).expect("index in range")?;
        if let Err(e) = check_row_len(i, row.len()) {
            return Ok(Err(e));
        }
        let mut values = Vec::with_capacity(row.len());
        for j in 0..row.len() {
            let v = row.get(&mut *store, j).expect("index in range")?;
            store.data_mut().call.charge_value(&v)?;
            values.push(v);
        }
        if let Err(e) = check_numbered_row(&schema, i, &values) {
            return Ok(Err(e));
        }
        lifted.push(CallRows::Owned(stream, values));
    }
    let call = &mut store.data_mut().call;
    call.row_count += lifted.len();
    call.rows.extend(lifted);
    Ok(Ok(()))
}

/// Row `i` of a write may hold at most `MAX_ROW_VALUES` values.
fn check_row_len(i: usize, n: usize) -> Result<(), String> {
    if n > super::streams::MAX_ROW_VALUES {
        return Err(format!(
            "row {i} has {n} values; a row has at most {}",
            super::streams::MAX_ROW_VALUES
        ));
    }
    Ok(())
}

/// Row `i` of a write against its stream's schema.
fn check_numbered_row(
    schema: &LogSchema,
    i: usize,
    values: &[impl GuestValue],
) -> Result<(), String> {
    super::streams::check_row(schema, values).map_err(|e| format!("row {i}: {e}"))
}

/// The schema of `stream`, if this module created it.
fn stream_schema(
    store: &StoreContextMut<'_, HostState>,
    stream: u32,
) -> Result<Arc<LogSchema>, String> {
    let state = store.data();
    state.streams.schema_for(&state.module, stream)
}

/// `log.write-packed`: the rows are decoded in place from guest memory, then charged and
/// checked exactly as `log.write` does. A batch that does not decode writes nothing.
fn log_write_packed(
    store: &mut StoreContextMut<'_, HostState>,
    stream: u32,
    rows: LazyPackedRows,
) -> wasmtime::Result<Result<(), String>> {
    let schema = match stream_schema(store, stream) {
        Ok(s) => s,
        Err(e) => return Ok(Err(e)),
    };
    // The call's record is moved out while the guest's bytes are borrowed from its memory.
    let mut call = std::mem::take(&mut store.data_mut().call);
    let bytes = rows.bytes.as_le_slice(&*store);
    let result = decode_rows(&mut call, &schema, stream, rows.count, bytes);
    store.data_mut().call = call;
    result
}

fn decode_rows(
    call: &mut CallState,
    schema: &LogSchema,
    stream: u32,
    count: u32,
    bytes: &[u8],
) -> wasmtime::Result<Result<(), String>> {
    call.check_row_budget(count as usize)?;
    let mut rows = Rows::new(count, bytes);
    let mut refs = Vec::new();
    let mut i = 0;
    while let Some(decoded) = rows.next_into(&mut refs) {
        if let Err(e) = decoded {
            return Ok(Err(format!("row {i}: {e}")));
        }
        if let Err(e) = check_row_len(i, refs.len()) {
            return Ok(Err(e));
        }
        for v in &refs {
            call.charge_value(v)?;
        }
        if let Err(e) = check_numbered_row(schema, i, &refs) {
            return Ok(Err(e));
        }
        i += 1;
    }
    call.row_count += count as usize;
    call.rows.push(CallRows::Packed {
        stream,
        count,
        bytes: bytes.to_vec(),
    });
    Ok(Ok(()))
}

fn lift_str(store: &mut StoreContextMut<'_, HostState>, s: &WasmStr) -> wasmtime::Result<String> {
    let text = s.to_str(&*store)?.into_owned();
    store.data_mut().call.charge_string(text.len())?;
    Ok(text)
}

fn lift_str_list(
    store: &mut StoreContextMut<'_, HostState>,
    list: &WasmList<WasmStr>,
) -> wasmtime::Result<Vec<String>> {
    let mut out = Vec::new();
    for i in 0..list.len() {
        let s = list.get(&mut *store, i).expect("index in range")?;
        store.data_mut().call.values += 1;
        out.push(lift_str(store, &s)?);
    }
    Ok(out)
}

fn lift_conn(
    store: &mut StoreContextMut<'_, HostState>,
    c: LazyConnInfo,
) -> wasmtime::Result<ConnInfo> {
    Ok(ConnInfo {
        uid: lift_str(store, &c.uid)?,
        id: c.id,
        start: c.start,
        duration: c.duration,
        orig_bytes: c.orig_bytes,
        resp_bytes: c.resp_bytes,
        orig_pkts: c.orig_pkts,
        resp_pkts: c.resp_pkts,
        conn_state: lift_str(store, &c.conn_state)?,
        history: lift_str(store, &c.history)?,
        service: lift_str_list(store, &c.service)?,
        local_orig: c.local_orig,
        local_resp: c.local_resp,
        tunnel_parents: lift_str_list(store, &c.tunnel_parents)?,
    })
}

/// `events.raise`: events are lifted one at a time, their arguments one value at a time.
fn events_raise(
    store: &mut StoreContextMut<'_, HostState>,
    list: WasmList<LazyEvent>,
) -> wasmtime::Result<Result<(), String>> {
    if store.data().call.events.len() + list.len() > budget::EVENTS {
        let call = &mut store.data_mut().call;
        return Err(call.exceed(format!("more than {} events in one call", budget::EVENTS)));
    }
    for i in 0..list.len() {
        let e = list.get(&mut *store, i).expect("index in range")?;
        if let Some(wanted) = &store.data().wanted_events {
            // Compared in guest memory: an event nobody subscribes to costs no copy.
            if !wanted.contains(e.name.to_str(&*store)?.as_ref()) {
                continue;
            }
        }
        let name = lift_str(store, &e.name)?;
        if !valid_event_name(&name) {
            return Ok(Err(format!("event {i}: a name has 1 to 128 characters")));
        }
        let conn = match e.conn {
            Some(c) => Some(lift_conn(store, c)?),
            None => None,
        };
        let mut args = Vec::with_capacity(e.args.len().min(64));
        for j in 0..e.args.len() {
            let v = e.args.get(&mut *store, j).expect("index in range")?;
            store.data_mut().call.charge_value(&v)?;
            args.push(v);
        }
        store.data_mut().call.events.push(Event {
            name,
            ts: e.ts,
            conn,
            args,
        });
    }
    Ok(Ok(()))
}

impl types::Host for HostState {}

impl analysis::Host for HostState {
    fn network_time(&mut self) -> wasmtime::Result<f64> {
        Ok(self.network_time)
    }

    fn confirm(&mut self) -> wasmtime::Result<()> {
        self.call.confirmed = true;
        Ok(())
    }

    fn violation(&mut self, reason: String, data: Vec<u8>) -> wasmtime::Result<()> {
        self.call.charge_string(reason.len())?;
        self.call.charge_data(data.len())?;
        if self.call.violation.is_none() {
            self.call.violation = Some((reason, data));
        }
        Ok(())
    }

    fn weird(&mut self, name: String, addl: String) -> wasmtime::Result<()> {
        self.call.charge_string(name.len() + addl.len())?;
        if self.call.weirds.len() >= budget::WEIRDS {
            return Err(self
                .call
                .exceed(format!("more than {} weirds in one call", budget::WEIRDS)));
        }
        self.call.weirds.push((name, addl));
        Ok(())
    }
}

impl file_info::Host for HostState {
    fn set_mime_type(&mut self, mime: String) -> wasmtime::Result<()> {
        self.call.charge_string(mime.len())?;
        self.call.file_info.push(("mime_type".into(), mime));
        Ok(())
    }

    fn set_hash(&mut self, algorithm: String, hex_digest: String) -> wasmtime::Result<()> {
        self.call
            .charge_string(algorithm.len() + hex_digest.len())?;
        self.call.file_info.push((algorithm, hex_digest));
        Ok(())
    }
}

impl sink::Host for HostState {
    fn write(&mut self, bytes: Vec<u8>) -> wasmtime::Result<Result<(), String>> {
        self.call.charge_data(bytes.len())?;
        self.call.sink_bytes.extend_from_slice(&bytes);
        Ok(Ok(()))
    }
}

/// Whether `name` may name an event (raised, scheduled or muted): 1 to 128 bytes.
pub fn valid_event_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128
}

/// Timers one module may have pending at once.
pub const MAX_TIMERS: usize = 65_536;

impl notice::Host for HostState {
    fn raise(&mut self, n: notice::Info) -> wasmtime::Result<Result<(), String>> {
        let strings = [&n.note, &n.msg]
            .into_iter()
            .chain([&n.sub, &n.uid, &n.identifier].into_iter().flatten())
            .map(String::len)
            .sum();
        self.call.charge_string(strings)?;
        if self.call.notices.len() + self.call.events.len() >= budget::EVENTS {
            let what = format!(
                "more than {} events and notices in one call",
                budget::EVENTS
            );
            return Err(self.call.exceed(what));
        }
        if let Err(e) = super::notices::check(&n) {
            return Ok(Err(e));
        }
        self.call.notices.push(n);
        Ok(Ok(()))
    }
}

impl timers::Host for HostState {
    fn schedule(&mut self, after: f64, ev: Event) -> wasmtime::Result<Result<(), String>> {
        self.call.charge_string(ev.name.len())?;
        if let Some(c) = &ev.conn {
            self.call.charge_string(c.uid.len() + c.history.len())?;
        }
        for v in &ev.args {
            self.call.charge_value(v)?;
        }
        if self.call.timers.len() + self.call.events.len() >= budget::EVENTS {
            let what = format!("more than {} events and timers in one call", budget::EVENTS);
            return Err(self.call.exceed(what));
        }
        if !(after.is_finite() && after >= 0.0) {
            return Ok(Err(format!("after = {after}: a timer needs a delay >= 0")));
        }
        if !valid_event_name(&ev.name) {
            return Ok(Err("an event name has 1 to 128 characters".into()));
        }
        if self.timers_pending + self.call.timers.len() >= MAX_TIMERS {
            return Ok(Err(format!("{MAX_TIMERS} timers are pending already")));
        }
        self.call.timers.push((after, ev));
        Ok(Ok(()))
    }
}

impl mutes::Host for HostState {
    fn mute(
        &mut self,
        name: String,
        conn: mutes::ConnMatch,
        until: f64,
    ) -> wasmtime::Result<Result<(), String>> {
        let service = conn
            .service
            .iter()
            .flatten()
            .map(String::len)
            .sum::<usize>();
        self.call.charge_string(name.len() + service)?;
        if self.call.mutes.len() >= budget::EVENTS {
            let what = format!("more than {} mutes in one call", budget::EVENTS);
            return Err(self.call.exceed(what));
        }
        if let Err(e) = super::mutes::check(&name, &conn, until) {
            return Ok(Err(e));
        }
        if self.mutes_in_force + self.call.mutes.len() >= super::mutes::MAX_MUTES {
            let max = super::mutes::MAX_MUTES;
            return Ok(Err(format!("{max} mutes are in force already")));
        }
        self.call.mutes.push((name, conn, until));
        Ok(Ok(()))
    }
}

impl rule_feedback::Host for HostState {
    fn added(&mut self, rule_id: u64, msg: String) -> wasmtime::Result<()> {
        self.feedback(rule_id, "added", msg)
    }
    fn removed(&mut self, rule_id: u64, msg: String) -> wasmtime::Result<()> {
        self.feedback(rule_id, "removed", msg)
    }
    fn error(&mut self, rule_id: u64, msg: String) -> wasmtime::Result<()> {
        self.feedback(rule_id, "error", msg)
    }
}

impl HostState {
    fn feedback(&mut self, id: u64, what: &'static str, msg: String) -> wasmtime::Result<()> {
        self.call.charge_string(msg.len())?;
        if self.call.rule_feedback.len() >= budget::EVENTS {
            return Err(self
                .call
                .exceed("too much rule feedback in one call".into()));
        }
        self.call.rule_feedback.push((id, what, msg));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::bindings::types::{Field, FieldType, ScalarType};
    use sandpiper_packed::{Encoder, ValueRef};

    fn schema() -> LogSchema {
        let field = |name: &str, type_| Field {
            name: name.into(),
            type_,
            optional: false,
        };
        LogSchema {
            path: "demo".into(),
            fields: vec![
                field("ts", FieldType::Scalar(ScalarType::Time)),
                field("names", FieldType::Set(ScalarType::Str)),
            ],
        }
    }

    fn rows(rows: &[&[ValueRef<'_>]]) -> Encoder {
        let mut e = Encoder::new();
        for r in rows {
            e.begin_row();
            for v in *r {
                e.push(*v);
            }
            e.end_row();
        }
        e
    }

    #[test]
    fn packed_rows_are_checked_and_charged_as_write_does() {
        let e = rows(&[
            &[
                ValueRef::Time(1.5),
                ValueRef::SetOf(1),
                ValueRef::Str("HTTP"),
            ],
            &[ValueRef::Time(2.5), ValueRef::SetOf(0)],
        ]);
        let mut call = CallState::default();
        let r = decode_rows(&mut call, &schema(), 7, e.rows(), e.bytes()).unwrap();
        assert_eq!(r, Ok(()));
        // Kept as the guest encoded them.
        assert_eq!(
            call.rows,
            [CallRows::Packed {
                stream: 7,
                count: 2,
                bytes: e.bytes().to_vec()
            }]
        );
        assert_eq!((call.values, call.string_bytes, call.row_count), (5, 4, 2));
    }

    #[test]
    fn a_bad_packed_batch_writes_none_of_its_rows() {
        let good: &[ValueRef<'_>] = &[ValueRef::Time(1.5), ValueRef::SetOf(0)];
        // The second row does not match the schema.
        let e = rows(&[good, &[ValueRef::Count(1), ValueRef::SetOf(0)]]);
        let mut call = CallState::default();
        let r = decode_rows(&mut call, &schema(), 0, e.rows(), e.bytes()).unwrap();
        assert!(r.unwrap_err().starts_with("row 1: "));
        assert!(call.rows.is_empty());
        // Cut bytes and a lying count are the guest's error too, never a panic.
        let e = rows(&[good, good]);
        for cut in 0..e.bytes().len() {
            let mut call = CallState::default();
            let r = decode_rows(&mut call, &schema(), 0, 2, &e.bytes()[..cut]).unwrap();
            assert!(r.is_err() && call.rows.is_empty(), "cut at {cut}");
        }
        let mut call = CallState::default();
        assert!(decode_rows(&mut call, &schema(), 0, 3, e.bytes())
            .unwrap()
            .is_err());
    }

    #[test]
    fn packed_rows_count_against_the_row_budget() {
        let e = rows(&[&[ValueRef::Time(1.5), ValueRef::SetOf(0)]]);
        let mut call = CallState {
            row_count: budget::ROWS,
            ..Default::default()
        };
        assert!(decode_rows(&mut call, &schema(), 0, e.rows(), e.bytes()).is_err());
        assert!(call.limit_hit.is_some());
    }
}
