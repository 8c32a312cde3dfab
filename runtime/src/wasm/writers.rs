//! Log-writer components as formats of the logging framework (`crate::log::manager`).
//!
//! Each stream a writer serves gets its own instance (its own Store), so a trap loses one
//! stream's batch, never another's. Rows are encoded straight from the host's borrowed values
//! into one reused buffer (WIT `packed-rows`, the `sandpiper-packed` crate) and handed over in
//! batches of [`BATCH_ROWS`]: one copy into the guest per batch, no allocation per row or
//! string on either side. After each batch the host calls `flush`, and only when both
//! calls succeed are their sink bytes appended to the file. Until then the batch stays with
//! the host: when a call fails, the module is quarantined and the logging framework replays
//! the batch into the built-in writer that takes over, so a failing writer loses no row and
//! duplicates none.
//!
//! The name filters use for a writer is its module name without a `-writer` suffix
//! (`tsv-writer` is "tsv"); the full module name works too. A writer named "tsv" or "json"
//! promises the bytes of the built-in format of that name, which is why its fallback can go
//! on in the same file.

use std::io::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};

use sandpiper_packed::{Encoder, Transport, ValueRef};
use wasmtime::component::ResourceAny;

use super::bindings::types::{
    Field as WitField, FieldType as WitFieldType, LogSchema, PackedRows, ScalarType,
};
use super::manifest::Kind;
use super::runtime::{arm, classify, Exports, Failure, Instance, LoadedModule, WasmRuntime};
use crate::log::file::{local_wall_secs, LogFile};
use crate::log::format::{Builtin, Fault, Format};
use crate::log::manager::{FormatProvider, QUARANTINED};
use crate::log::offload::run_on_writer_thread;
use crate::log::{self, FieldType, Schema, Value};

/// Rows per `write` call: enough to make the call's fixed cost small per row, few enough
/// that a batch stays far below a writer's fuel and memory budgets.
pub const BATCH_ROWS: usize = 1024;

/// What `sandpiper ctl status` shows of one writer module.
#[derive(Default)]
pub struct WriterCounters {
    pub streams: AtomicU64,
    pub calls: AtomicU64,
    pub rows: AtomicU64,
    pub fuel_used: AtomicU64,
    pub failures: AtomicU64,
}

struct WriterModule {
    /// The name filters use ("tsv").
    name: String,
    module: Arc<LoadedModule>,
    quarantined: Arc<AtomicBool>,
    counters: Arc<WriterCounters>,
    /// Why it was quarantined.
    why: Arc<Mutex<Option<String>>>,
}

/// The log-writer modules loaded at start.
pub struct WriterModules {
    rt: Arc<WasmRuntime>,
    modules: Vec<WriterModule>,
}

/// The name a filter uses for a writer module.
pub fn writer_name(module: &str) -> &str {
    module.strip_suffix("-writer").unwrap_or(module)
}

impl WriterModules {
    pub fn new(rt: Arc<WasmRuntime>, loaded: &[Arc<LoadedModule>]) -> Self {
        let modules = loaded
            .iter()
            .filter(|m| m.manifest.kind == Kind::LogWriter)
            .map(|m| WriterModule {
                name: writer_name(&m.manifest.name).to_string(),
                module: m.clone(),
                quarantined: Arc::new(AtomicBool::new(false)),
                counters: Arc::new(WriterCounters::default()),
                why: Arc::new(Mutex::new(None)),
            })
            .collect();
        WriterModules { rt, modules }
    }

    pub fn is_empty(&self) -> bool {
        self.modules.is_empty()
    }

    /// "name version" of each writer module that wrote at least one stream.
    pub fn used(&self) -> Vec<String> {
        self.modules
            .iter()
            .filter(|w| w.counters.streams.load(Ordering::Relaxed) > 0)
            .map(|w| format!("{} {}", w.module.manifest.name, w.module.manifest.version))
            .collect()
    }

    /// The writers' part of `sandpiper ctl status`.
    pub fn status(&self) -> String {
        let mut s = String::new();
        for w in &self.modules {
            let c = &w.counters;
            let m = &w.module.manifest;
            s.push_str(&format!(
                "{} {} (log-writer \"{}\") [{}]\n  streams {}, calls {}, rows {}, fuel used {}, failures {}\n",
                m.name,
                m.version,
                w.name,
                w.module.path.display(),
                c.streams.load(Ordering::Relaxed),
                c.calls.load(Ordering::Relaxed),
                c.rows.load(Ordering::Relaxed),
                c.fuel_used.load(Ordering::Relaxed),
                c.failures.load(Ordering::Relaxed),
            ));
            if w.quarantined.load(Ordering::Relaxed) {
                let why = w.why.lock().unwrap_or_else(|p| p.into_inner()).clone();
                s.push_str(&format!(
                    "  QUARANTINED: {}; its streams use the built-in writer\n",
                    why.unwrap_or_default()
                ));
            }
        }
        s
    }
}

impl FormatProvider for WriterModules {
    fn create(&self, name: &str, schema: &Schema) -> Option<Result<Box<dyn Format>, String>> {
        let w = self
            .modules
            .iter()
            .find(|w| w.name == name || w.module.manifest.name == name)?;
        if w.quarantined.load(Ordering::Relaxed) {
            return Some(Err("the module is quarantined".into()));
        }
        Some(ComponentFormat::start(&self.rt, w, schema).map(|f| Box::new(f) as Box<dyn Format>))
    }

    fn writers(&self) -> Vec<(String, Option<Builtin>)> {
        let mut v = Vec::new();
        for w in &self.modules {
            let twin = Builtin::from_name(&w.name);
            v.push((w.name.clone(), twin));
            if w.module.manifest.name != w.name {
                v.push((w.module.manifest.name.clone(), twin));
            }
        }
        v
    }
}

/// One stream written by a writer component.
///
/// The component's calls run on the log-writer thread ([`run_on_writer_thread`]), as Zeek runs each
/// log writer in a thread of its own: a full batch is sent off and the thread that produced
/// the rows goes on while the component formats them. The bytes land in the file when that
/// thread next sends (or flushes, ends the file), so a file trails its rows by at most one
/// batch or one flush interval, and every byte is appended by the thread that owns the file,
/// in order. A batch stays with the host until its bytes land: if a call fails, the failed
/// batch and the rows accepted since are what the fallback replays.
pub struct ComponentFormat {
    name: String,
    module: Arc<LoadedModule>,
    quarantined: Arc<AtomicBool>,
    why: Arc<Mutex<Option<String>>>,
    counters: Arc<WriterCounters>,
    /// Column types, to encode containers as sets or vectors.
    types: Vec<FieldType>,
    /// The instance, while no call is in flight (and until the writer fails).
    inst: Option<Instance>,
    /// The writer resource; None once the writer failed.
    writer: Option<ResourceAny>,
    /// Rows accepted and not yet sent, packed.
    batch: Encoder,
    /// The calls sent off and not yet landed.
    in_flight: Option<mpsc::Receiver<Flight>>,
    /// The rows of a batch whose calls failed, for the replay.
    failed: Option<(u32, Vec<u8>)>,
    /// A landed batch's buffer, reused for the next batch.
    spare: Vec<u8>,
}

impl ComponentFormat {
    fn start(rt: &WasmRuntime, w: &WriterModule, schema: &Schema) -> Result<Self, String> {
        let fail = |f: Failure| {
            w.counters.failures.fetch_add(1, Ordering::Relaxed);
            format!("{}: {}", f.cause, f.reason)
        };
        let mut inst = w.module.instantiate(rt).map_err(fail)?;
        let limits = &w.module.manifest.limits;
        arm(&mut inst.store, limits.fuel, limits.wall_clock_ms);
        let Exports::Writer(g) = &inst.exports else {
            unreachable!("writer modules export the writer interface")
        };
        let res = g
            .stream_writer()
            .call_constructor(&mut inst.store, &wit_schema(schema), local_wall_secs())
            .map_err(|e| {
                fail(classify(
                    &inst.store,
                    &e,
                    limits.fuel,
                    limits.wall_clock_ms,
                    "constructor",
                ))
            })?;
        w.counters.streams.fetch_add(1, Ordering::Relaxed);
        w.counters.calls.fetch_add(1, Ordering::Relaxed);
        Ok(ComponentFormat {
            name: w.name.clone(),
            module: w.module.clone(),
            quarantined: w.quarantined.clone(),
            why: w.why.clone(),
            counters: w.counters.clone(),
            types: schema.fields.iter().map(|f| f.ty).collect(),
            inst: Some(inst),
            writer: Some(res),
            batch: Encoder::new(),
            in_flight: None,
            failed: None,
            spare: Vec::new(),
        })
    }

    /// Sends the batch (possibly empty) through `write` (when it has rows), `flush` and then
    /// `last`, if given, to the log-writer thread. The instance must be here.
    fn submit(&mut self, last: Option<Call>) {
        let (Some(inst), Some(res)) = (self.inst.take(), self.writer) else {
            unreachable!("submit checks that the writer is usable and nothing is in flight")
        };
        let (rows, bytes) = self.batch.take();
        let mut next = std::mem::take(&mut self.spare);
        next.clear();
        self.batch.restore(0, next);
        let mut flight = Flight {
            inst,
            res,
            fuel: self.module.manifest.limits.fuel,
            wall_clock_ms: self.module.manifest.limits.wall_clock_ms,
            counters: self.counters.clone(),
            rows,
            bytes,
            last,
            result: Ok(Vec::new()),
        };
        let (tx, rx) = mpsc::sync_channel(1);
        let job = move || {
            // A host panic in a call must not take the batch with it: the flight (and its
            // rows) goes back either way.
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| flight.fly())).is_err() {
                flight.result = Err(Failure {
                    cause: "trap",
                    reason: "the call panicked in the host".into(),
                    data: None,
                });
            }
            let _ = tx.send(flight);
        };
        run_on_writer_thread(Box::new(job));
        self.in_flight = Some(rx);
    }

    /// Waits for the calls in flight, if any, and appends their bytes to the file; if they
    /// failed, keeps their rows for the replay and quarantines.
    fn land(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        let Some(rx) = self.in_flight.take() else {
            return Ok(());
        };
        let Ok(flight) = rx.recv() else {
            // The thread died outside a call (it cannot panic inside one): the batch is gone
            // with it, which the report says.
            return Err(self.fault(Failure {
                cause: "trap",
                reason: "the log-writer thread stopped; a batch in flight is lost".into(),
                data: None,
            }));
        };
        self.inst = Some(flight.inst);
        match flight.result {
            Ok(bytes) => {
                self.spare = flight.bytes;
                out.write_all(&bytes)?;
                self.counters
                    .rows
                    .fetch_add(u64::from(flight.rows), Ordering::Relaxed);
                Ok(())
            }
            Err(f) => {
                self.failed = Some((flight.rows, flight.bytes));
                Err(self.fault(f))
            }
        }
    }

    /// Lands what is in flight, then sends the batch with `flush` (and `last`); `wait`: lands
    /// that too before returning.
    fn send(&mut self, out: &mut LogFile, last: Option<Call>, wait: bool) -> Result<(), Fault> {
        self.land(out)?;
        if self.inst.is_none() {
            return Err(self.fault(Failure {
                cause: QUARANTINED,
                reason: "the writer failed before".into(),
                data: None,
            }));
        }
        if self.quarantined.load(Ordering::Relaxed) {
            return Err(self.fault(Failure {
                cause: QUARANTINED,
                reason: "another stream's instance of this writer failed".into(),
                data: None,
            }));
        }
        self.submit(last);
        if wait {
            self.land(out)?;
        }
        Ok(())
    }

    fn fault(&mut self, f: Failure) -> Fault {
        if f.cause != QUARANTINED {
            self.counters.failures.fetch_add(1, Ordering::Relaxed);
        }
        self.quarantined.store(true, Ordering::Relaxed);
        // The guest's last stderr line (its panic message) says most about why.
        let reason = match &f.data {
            Some(d) => format!("{}: {d}", f.reason),
            None => f.reason.clone(),
        };
        *self.why.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(format!("{}: {reason}", f.cause));
        // A trap poisons the Store; a refusal leaves it usable, but the module is
        // quarantined either way.
        self.inst = None;
        self.writer = None;
        Fault::Writer {
            cause: f.cause,
            reason,
        }
    }
}

/// The export calls of a stream writer.
#[derive(Clone, Copy)]
enum Call {
    Write,
    Flush,
    Rotate(f64),
    Finish(f64),
}

/// A batch and the calls that write it, on their way through the log-writer thread and
/// back with the instance, the rows and the bytes the calls produced.
struct Flight {
    inst: Instance,
    res: ResourceAny,
    fuel: u64,
    wall_clock_ms: u64,
    counters: Arc<WriterCounters>,
    rows: u32,
    bytes: Vec<u8>,
    /// After `write` and `flush`: `rotate` or `finish`.
    last: Option<Call>,
    /// The bytes of every call, if all succeeded: they reach the file only together.
    result: Result<Vec<u8>, Failure>,
}

impl Flight {
    fn fly(&mut self) {
        let mut out = Vec::new();
        let calls = [
            (self.rows > 0).then_some(Call::Write),
            Some(Call::Flush),
            self.last,
        ];
        for call in calls.into_iter().flatten() {
            match self.call(call) {
                Ok(b) => out.extend_from_slice(&b),
                Err(f) => {
                    self.result = Err(f);
                    return;
                }
            }
        }
        self.result = Ok(out);
    }

    /// Runs one export call; on success returns the bytes it handed to `sink.write`. A call
    /// that traps or returns an error is a failure (the format quarantines).
    fn call(&mut self, call: Call) -> Result<Vec<u8>, Failure> {
        let inst = &mut self.inst;
        arm(&mut inst.store, self.fuel, self.wall_clock_ms);
        let Exports::Writer(g) = &inst.exports else {
            unreachable!("writer modules export the writer interface")
        };
        let w = g.stream_writer();
        let store = &mut inst.store;
        let res = self.res;
        let (what, r) = match call {
            Call::Write => {
                // The batch moves into the call's argument and back, so it is not copied on
                // the host and stays for a replay if the call fails.
                let rows = PackedRows {
                    count: self.rows,
                    bytes: std::mem::take(&mut self.bytes),
                };
                let r = w.call_write(&mut *store, res, &rows);
                self.bytes = rows.bytes;
                ("write", r)
            }
            Call::Flush => ("flush", w.call_flush(&mut *store, res)),
            Call::Rotate(at) => ("rotate", w.call_rotate(&mut *store, res, at)),
            Call::Finish(at) => ("finish", w.call_finish(&mut *store, res, at)),
        };
        self.counters.calls.fetch_add(1, Ordering::Relaxed);
        if self.fuel > 0 {
            let left = inst.store.get_fuel().unwrap_or(0);
            self.counters
                .fuel_used
                .fetch_add(self.fuel.saturating_sub(left), Ordering::Relaxed);
        }
        match r {
            Ok(Ok(())) => Ok(std::mem::take(&mut inst.store.data_mut().call.sink_bytes)),
            Ok(Err(msg)) => Err(Failure {
                cause: "refused",
                reason: format!("{what}: {msg}"),
                data: None,
            }),
            Err(e) => Err(classify(
                &inst.store,
                &e,
                self.fuel,
                self.wall_clock_ms,
                what,
            )),
        }
    }
}

impl Format for ComponentFormat {
    fn name(&self) -> &str {
        &self.name
    }

    /// The header the constructor (or `rotate`) buffered goes into the new file now.
    fn begin_file(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        self.send(out, None, true)
    }

    fn write_row(&mut self, out: &mut LogFile, row: &[Value<'_>]) -> Result<(), Fault> {
        if self.writer.is_none()
            || self.quarantined.load(Ordering::Relaxed)
                && self.batch.is_empty()
                && self.in_flight.is_none()
        {
            // Not accepted: the fallback writes it.
            return Err(Fault::Writer {
                cause: QUARANTINED,
                reason: "the module is quarantined".into(),
            });
        }
        encode_row(&mut self.batch, &self.types, row);
        if self.batch.rows() as usize >= BATCH_ROWS {
            self.send(out, None, false)?;
        }
        Ok(())
    }

    /// Lands the batch in flight and sends the one waiting, so a file trails its rows by at
    /// most one flush.
    fn flush(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        if self.batch.is_empty() {
            return self.land(out);
        }
        self.send(out, None, false)
    }

    fn end_file(&mut self, out: &mut LogFile, last: bool) -> Result<(), Fault> {
        let call = if last {
            Call::Finish(local_wall_secs())
        } else {
            Call::Rotate(local_wall_secs())
        };
        self.send(out, Some(call), true)
    }

    fn replay(&mut self, f: &mut dyn FnMut(&[Value<'_>]) -> io::Result<()>) -> io::Result<()> {
        // The failed batch is older than the rows accepted since.
        let failed = self.failed.take();
        let current = self.batch.take();
        for (count, bytes) in failed.into_iter().chain(std::iter::once(current)) {
            // The host encoded these bytes itself, so they always decode.
            crate::log::packed::for_each_row(count, &bytes, &mut *f)?;
        }
        Ok(())
    }
}

impl Drop for ComponentFormat {
    fn drop(&mut self) {
        if let Some(rx) = self.in_flight.take() {
            // Dropped without ending its file (a fallback replaced it, or the run stopped):
            // the instance comes back so its writer resource is dropped in order.
            if let Ok(flight) = rx.recv() {
                self.inst = Some(flight.inst);
            }
        }
        if let (Some(inst), Some(res)) = (self.inst.as_mut(), self.writer.take()) {
            let _ = res.resource_drop(&mut inst.store);
        }
    }
}

fn wit_scalar(t: log::ScalarType) -> ScalarType {
    use log::ScalarType as S;
    match t {
        S::Time => ScalarType::Time,
        S::Interval => ScalarType::Interval,
        S::String => ScalarType::Str,
        S::Addr => ScalarType::Addr,
        S::Port => ScalarType::Port,
        S::Enum => ScalarType::Enumeration,
        S::Count => ScalarType::Count,
        S::Int => ScalarType::Integer,
        S::Double => ScalarType::Double,
        S::Bool => ScalarType::Boolean,
        S::Subnet => ScalarType::Subnet,
    }
}

fn wit_field_type(t: FieldType) -> WitFieldType {
    match t {
        FieldType::Set(s) => WitFieldType::Set(wit_scalar(s)),
        FieldType::SetString => WitFieldType::Set(ScalarType::Str),
        FieldType::Vector(s) => WitFieldType::Vector(wit_scalar(s)),
        FieldType::Time => WitFieldType::Scalar(ScalarType::Time),
        FieldType::Interval => WitFieldType::Scalar(ScalarType::Interval),
        FieldType::String => WitFieldType::Scalar(ScalarType::Str),
        FieldType::Addr => WitFieldType::Scalar(ScalarType::Addr),
        FieldType::Port => WitFieldType::Scalar(ScalarType::Port),
        FieldType::Enum => WitFieldType::Scalar(ScalarType::Enumeration),
        FieldType::Count => WitFieldType::Scalar(ScalarType::Count),
        FieldType::Bool => WitFieldType::Scalar(ScalarType::Boolean),
        FieldType::Int => WitFieldType::Scalar(ScalarType::Integer),
        FieldType::Double => WitFieldType::Scalar(ScalarType::Double),
        FieldType::Subnet => WitFieldType::Scalar(ScalarType::Subnet),
    }
}

/// A host schema in WIT form. Every column is optional: host rows leave any of them unset.
pub fn wit_schema(s: &Schema) -> LogSchema {
    LogSchema {
        path: s.path.to_string(),
        fields: s
            .fields
            .iter()
            .map(|f| WitField {
                name: f.name.to_string(),
                type_: wit_field_type(f.ty),
                optional: true,
            })
            .collect(),
    }
}

/// A host scalar as a packed value, borrowing its strings.
fn packed_value<'a>(v: &Value<'a>) -> ValueRef<'a> {
    match *v {
        Value::Unset | Value::Set(_) | Value::List(_) => ValueRef::Unset,
        Value::Time(us) => ValueRef::Time(us as f64 / 1e6),
        Value::Interval(us) => ValueRef::Interval(us as f64 / 1e6),
        Value::Str(s) => ValueRef::Str(s),
        Value::Enum(s) => ValueRef::Enumeration(s),
        Value::Addr(a) => ValueRef::Addr(a),
        // Only the number is logged; the transport is in the row's `proto` column.
        Value::Port(p) => ValueRef::Port(p, Transport::Unknown),
        Value::Count(c) => ValueRef::Count(c),
        Value::Bool(b) => ValueRef::Boolean(b),
        Value::Int(i) => ValueRef::Integer(i),
        Value::Double(d) => ValueRef::Double(d),
        Value::Subnet(a, len) => ValueRef::Subnet(a, len),
    }
}

/// Appends a host row to a packed batch in the flat value model: a container column becomes
/// its header value (set or vector, by the column's type) followed by its elements.
pub fn encode_row(batch: &mut Encoder, types: &[FieldType], row: &[Value<'_>]) {
    batch.begin_row();
    for (i, v) in row.iter().enumerate() {
        let vector = matches!(types.get(i), Some(FieldType::Vector(_)));
        let header = |n: usize| {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            if vector {
                ValueRef::VectorOf(n)
            } else {
                ValueRef::SetOf(n)
            }
        };
        match v {
            Value::Set(items) => {
                batch.push(header(items.len()));
                for s in items.iter() {
                    batch.push(ValueRef::Str(s));
                }
            }
            Value::List(items) => {
                batch.push(header(items.len()));
                for item in items.iter() {
                    batch.push(packed_value(item));
                }
            }
            other => batch.push(packed_value(other)),
        }
    }
    batch.end_row();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::packed::host_row;
    use crate::log::{Field, ScalarType as S};
    use sandpiper_packed::Rows;

    #[test]
    fn host_rows_round_trip_through_the_packed_encoding() {
        let types = [
            FieldType::Time,
            FieldType::SetString,
            FieldType::Vector(S::Count),
            FieldType::Port,
            FieldType::Interval,
            FieldType::Subnet,
            FieldType::Addr,
        ];
        let row = [
            Value::Time(1_300_475_167_096_535),
            Value::Set(&["a", "b"]),
            Value::List(&[Value::Count(1), Value::Unset]),
            Value::Port(53),
            Value::Interval(-1),
            Value::Subnet("10.1.0.0".parse().unwrap(), 16),
            Value::Addr("2001:db8::1".parse().unwrap()),
        ];
        let mut batch = Encoder::new();
        encode_row(&mut batch, &types, &row);
        encode_row(&mut batch, &types, &row);
        assert_eq!(batch.rows(), 2);
        let mut rows = Rows::new(batch.rows(), batch.bytes());
        let mut values = Vec::new();
        rows.next_into(&mut values).unwrap().unwrap();
        assert_eq!(values.len(), 11);
        assert_eq!(values[1], ValueRef::SetOf(2));
        assert_eq!(values[4], ValueRef::VectorOf(2));
        // Back to host values (the replay path): times come back to the microsecond.
        let mut seen = Vec::new();
        host_row(&values, |cells| {
            let mut buf = Vec::new();
            log::tsv::write_row(&mut buf, cells).unwrap();
            seen.push(String::from_utf8(buf).unwrap());
            Ok::<(), io::Error>(())
        })
        .unwrap();
        assert_eq!(
            seen,
            vec!["1300475167.096535\ta,b\t1,-\t53\t-0.000001\t10.1.0.0/16\t2001:db8::1\n"]
        );
        assert!(rows.next_into(&mut values).unwrap().is_ok());
        assert!(rows.next_into(&mut values).is_none());
        let schema = Schema::new_static("x", &[]);
        assert_eq!(wit_schema(&schema).fields.len(), 0);
        let f = vec![Field::new_static("v", FieldType::Vector(S::Addr))];
        let s = wit_schema(&Schema::new("x", f));
        assert_eq!(s.fields[0].type_, WitFieldType::Vector(ScalarType::Addr));
    }

    #[test]
    fn times_survive_the_seconds_encoding() {
        // Every microsecond value of a day at a 2011 epoch, sampled: f64 seconds and back.
        let base = 1_300_000_000_000_000i64;
        for k in 0..200_000i64 {
            let us = base + k * 431_999 + (k % 7);
            let secs = us as f64 / 1e6;
            assert_eq!((secs * 1e6).round() as i64, us);
        }
    }

    /// The component's calls run on the log-writer thread, so a full batch lands in the file
    /// at the next send: a flush lands what is in flight and sends what waits, a second one
    /// lands that, and ending the file lands everything. Rows keep their order throughout.
    #[test]
    fn a_component_writers_file_trails_its_rows_by_at_most_one_flush() {
        const FIELDS: &[crate::log::Field] = &[Field::new_static("n", FieldType::Count)];
        let dir = super::super::modules::builtin_dir().expect("target/modules (build.rs)");
        let rt = Arc::new(WasmRuntime::new(None).unwrap());
        let module = rt.load(&dir.join("tsv-writer.wasm")).unwrap();
        let writers = WriterModules::new(rt, &[module]);
        let schema = Schema::new_static("t", FIELDS);
        let mut format = writers.create("tsv", &schema).unwrap().unwrap();
        let logs = tempfile::tempdir().unwrap();
        let mut file = LogFile::create(logs.path(), "t", 0).unwrap();
        let rows_in = |file: &mut LogFile| -> Vec<u64> {
            io::Write::flush(file).unwrap();
            std::fs::read_to_string(file.path())
                .unwrap()
                .lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| l.parse().unwrap())
                .collect()
        };
        format.begin_file(&mut file).unwrap();
        let n = 3 * BATCH_ROWS as u64 + 5;
        for i in 0..n {
            format.write_row(&mut file, &[Value::Count(i)]).unwrap();
        }
        // Three full batches were sent; the third may still be in flight.
        assert!(rows_in(&mut file).len() >= 2 * BATCH_ROWS);
        format.flush(&mut file).unwrap();
        let expected: Vec<u64> = (0..n).collect();
        assert_eq!(rows_in(&mut file), expected[..3 * BATCH_ROWS]);
        format.flush(&mut file).unwrap();
        assert_eq!(rows_in(&mut file), expected);
        format.end_file(&mut file, true).unwrap();
        io::Write::flush(&mut file).unwrap();
        let text = std::fs::read_to_string(file.path()).unwrap();
        assert!(
            text.starts_with("#separator") && text.lines().last().unwrap().starts_with("#close")
        );
        assert_eq!(rows_in(&mut file), expected);
        assert_eq!(writers.modules[0].counters.rows.load(Ordering::Relaxed), n);
    }
}
