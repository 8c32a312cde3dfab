//! The logging framework: every log stream of the monitor (conn, weird, the modules' logs,
//! notice, analyzer_failed) is opened here, and its rows go to each of the stream's filters
//! ([`super::config`]): a format (built in, or a log-writer component) writing a file the
//! host owns ([`super::file::LogFile`]).
//!
//! The host owns the files: it opens them when a stream gets its first row (as Zeek creates
//! logs lazily), flushes them once a second of network time, rotates them every `--rotate`
//! interval of network time (and on `sandpiper ctl rotate`) to Zeek's rotated names, and
//! closes them at the end. A writer component that fails is quarantined: each of its streams
//! goes on with the built-in writer of the same format in the same file (a third-party
//! format: built-in TSV in `<path>-fallback.log`), starting with the rows the component had
//! accepted but not written, and reporter.log says so. Rows are never silently lost.
//! reporter.log itself is always written by the built-in writer, so a broken writer can be
//! reported.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use super::config::{LogConfig, Resolved};
use super::file::{next_rotation, LogFile};
use super::format::{Builtin, Fault, Format};
use super::{Field, FieldType, LogWriter, Schema, Value};

/// Network time between flushes of every log (and of the rows writer components batch).
const FLUSH_EVERY_US: i64 = 1_000_000;

/// Log-writer components, by the names filters use.
pub trait FormatProvider: Send + Sync {
    /// A format of the writer `name` for `schema`; None if this provider has no such writer.
    /// `Err` if it has one but could not start it (the stream then uses the built-in twin).
    fn create(&self, name: &str, schema: &Schema) -> Option<Result<Box<dyn Format>, String>>;
    /// Writer names provided, with the built-in format each one writes byte for byte.
    fn writers(&self) -> Vec<(String, Option<Builtin>)>;
}

/// reporter.log: the monitor's warnings and errors about itself (Zeek's Reporter framework).
const REPORTER_FIELDS: &[Field] = &[
    Field::new_static("ts", FieldType::Time),
    Field::new_static("level", FieldType::Enum),
    Field::new_static("message", FieldType::String),
    Field::new_static("location", FieldType::String),
];

pub const REPORTER_SCHEMA: Schema = Schema::new_static("reporter", REPORTER_FIELDS);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warning,
    Error,
}

impl Level {
    fn zeek_name(self) -> &'static str {
        match self {
            Level::Info => "Reporter::INFO",
            Level::Warning => "Reporter::WARNING",
            Level::Error => "Reporter::ERROR",
        }
    }
}

/// One filter's output: a format writing one file.
struct Output {
    stream: String,
    format: Box<dyn Format>,
    file: LogFile,
    /// Columns of the stream this filter writes (None: all).
    columns: Option<Vec<usize>>,
    /// The schema the format was created with (after column selection).
    schema: Schema,
    /// The first I/O error: the output writes nothing more.
    broken: bool,
    finished: bool,
}

/// Scheduling of flushes and rotations, in network time (µs).
struct Schedule {
    next_flush: i64,
    next_rotation: Option<i64>,
}

impl std::fmt::Debug for LogManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogManager")
            .field("dir", &self.dir)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub struct LogManager {
    dir: PathBuf,
    config: LogConfig,
    provider: Option<Arc<dyn FormatProvider>>,
    outputs: Mutex<Vec<Arc<Mutex<Output>>>>,
    /// Files in use (filter paths), so two streams never write one file.
    paths: Mutex<HashSet<String>>,
    reporter: Mutex<Option<Output>>,
    rotate_every_us: Option<i64>,
    schedule: Mutex<Schedule>,
    /// Network time of the newest packet, and the next time `observe` has work.
    now_us: AtomicI64,
    next_due: AtomicI64,
    /// Set by `sandpiper ctl rotate`; done at the next packet.
    rotate_requested: Arc<AtomicBool>,
    pub rotations: AtomicU64,
    pub reporter_messages: AtomicU64,
    /// Writer failures that made a stream fall back.
    pub fallbacks: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl LogManager {
    /// A manager writing under `dir`. Writers the config names must be built in or come
    /// from `provider`; otherwise this fails, saying which.
    pub fn new(
        dir: &Path,
        config: LogConfig,
        provider: Option<Arc<dyn FormatProvider>>,
        rotate_every_us: Option<i64>,
    ) -> Result<Arc<LogManager>, String> {
        let mut known: Vec<String> = vec!["tsv".into(), "json".into()];
        if let Some(p) = &provider {
            known.extend(p.writers().into_iter().map(|(n, _)| n));
        }
        for w in config.writers() {
            if !known.contains(&w) {
                return Err(format!(
                    "no log writer {w:?} (writers: {})",
                    known.join(", ")
                ));
            }
        }
        Ok(Arc::new(LogManager {
            dir: dir.to_path_buf(),
            config,
            provider,
            outputs: Mutex::new(Vec::new()),
            paths: Mutex::new(HashSet::new()),
            reporter: Mutex::new(None),
            rotate_every_us,
            schedule: Mutex::new(Schedule {
                next_flush: i64::MIN,
                next_rotation: None,
            }),
            now_us: AtomicI64::new(0),
            next_due: AtomicI64::new(i64::MIN),
            rotate_requested: Arc::new(AtomicBool::new(false)),
            rotations: AtomicU64::new(0),
            reporter_messages: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
        }))
    }

    /// Built-in writers only, one format: what tests and tools without modules use.
    pub fn native(dir: &Path, format: Builtin) -> Arc<LogManager> {
        let config = LogConfig::new(vec![format.name().to_string()]);
        LogManager::new(dir, config, None, None).expect("built-in writers exist")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The flag `sandpiper ctl rotate` sets.
    pub fn rotate_request(&self) -> Arc<AtomicBool> {
        self.rotate_requested.clone()
    }

    /// Network time of the newest packet (µs).
    pub fn now_us(&self) -> i64 {
        self.now_us.load(Ordering::Relaxed)
    }

    /// Called with every packet's time: flushes and rotates when one is due. Two relaxed
    /// atomic operations unless there is work.
    #[inline]
    pub fn observe(&self, ts_us: i64) {
        self.now_us.store(ts_us, Ordering::Relaxed);
        if ts_us >= self.next_due.load(Ordering::Relaxed)
            || self.rotate_requested.load(Ordering::Relaxed)
        {
            self.tick(ts_us);
        }
    }

    #[cold]
    fn tick(&self, now: i64) {
        let requested = self.rotate_requested.swap(false, Ordering::Relaxed);
        let (flush, rotate) = {
            let mut s = lock(&self.schedule);
            if s.next_flush == i64::MIN {
                // The first packet: start the clocks.
                s.next_flush = now + FLUSH_EVERY_US;
                s.next_rotation = self.rotate_every_us.map(|i| next_rotation(now, i));
                (false, false)
            } else {
                let flush = now >= s.next_flush;
                if flush {
                    s.next_flush = now + FLUSH_EVERY_US;
                }
                let due = s.next_rotation.is_some_and(|r| now >= r);
                if due {
                    s.next_rotation = self.rotate_every_us.map(|i| next_rotation(now, i));
                }
                (flush, due)
            }
        };
        if rotate || requested {
            self.rotate_all(now);
        } else if flush {
            self.flush_all();
        }
        let s = lock(&self.schedule);
        let next = s
            .next_rotation
            .map_or(s.next_flush, |r| r.min(s.next_flush));
        self.next_due.store(next, Ordering::Relaxed);
    }

    /// Opens a stream: one output per filter, files created now. The returned writer fans
    /// each row out to them.
    pub fn open(self: &Arc<Self>, schema: Schema) -> io::Result<Box<dyn LogWriter>> {
        schema
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let (filters, warnings) = self.config.resolve(&schema);
        for w in warnings {
            self.report(Level::Warning, &w, "logging");
        }
        let mut outputs = Vec::new();
        for f in filters {
            match self.open_output(&schema, &f)? {
                Some(o) => outputs.push(o),
                None => continue,
            }
        }
        Ok(Box::new(StreamHandle {
            manager: self.clone(),
            outputs,
        }))
    }

    fn open_output(
        self: &Arc<Self>,
        schema: &Schema,
        f: &Resolved,
    ) -> io::Result<Option<Arc<Mutex<Output>>>> {
        let selected = match &f.columns {
            Some(c) => Schema::new(
                schema.path.clone(),
                c.iter()
                    .map(|&i| schema.fields[i].clone())
                    .collect::<Vec<_>>(),
            ),
            None => schema.clone(),
        };
        if !lock(&self.paths).insert(f.path.clone()) {
            self.report(
                Level::Warning,
                &format!(
                    "{}.log is written by another stream already; stream {} does not write it",
                    f.path, schema.path
                ),
                "logging",
            );
            return Ok(None);
        }
        let format = self.create_format(&f.writer, &selected);
        let file = LogFile::create(&self.dir, &f.path, self.now_us())?;
        let mut output = Output {
            stream: schema.path.to_string(),
            format,
            file,
            columns: f.columns.clone(),
            schema: selected,
            broken: false,
            finished: false,
        };
        let begun = output.format.begin_file(&mut output.file);
        output.settle(self, begun, None)?;
        let o = Arc::new(Mutex::new(output));
        lock(&self.outputs).push(o.clone());
        Ok(Some(o))
    }

    /// The format of writer `name`: a built-in one, or a component (falling back to its
    /// built-in twin if the component cannot start).
    fn create_format(&self, name: &str, schema: &Schema) -> Box<dyn Format> {
        if let Some(p) = &self.provider {
            match p.create(name, schema) {
                Some(Ok(f)) => return f,
                Some(Err(why)) => {
                    let twin = self.twin_of(name).unwrap_or(Builtin::Tsv);
                    self.fallbacks.fetch_add(1, Ordering::Relaxed);
                    self.report(
                        Level::Error,
                        &format!(
                            "log writer {name} could not start for {}.log ({why}); the \
                             built-in {} writer writes it",
                            schema.path,
                            twin.name()
                        ),
                        "logging",
                    );
                    return twin.create(schema);
                }
                None => {}
            }
        }
        Builtin::from_name(name)
            .unwrap_or(Builtin::Tsv)
            .create_offloaded(schema)
    }

    /// The built-in format a writer writes byte for byte.
    fn twin_of(&self, name: &str) -> Option<Builtin> {
        if let Some(b) = Builtin::from_name(name) {
            return Some(b);
        }
        self.provider
            .as_ref()?
            .writers()
            .into_iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, t)| t)
    }

    /// Writes a reporter.log row at the current network time.
    pub fn report(&self, level: Level, message: &str, location: &str) {
        self.report_at(self.now_us(), level, message, location);
    }

    /// Writes a reporter.log row at `ts_us` (built-in writer of the first format).
    pub fn report_at(&self, ts_us: i64, level: Level, message: &str, location: &str) {
        self.reporter_messages.fetch_add(1, Ordering::Relaxed);
        let mut guard = lock(&self.reporter);
        if guard.is_none() {
            let format = self
                .config
                .formats
                .first()
                .and_then(|f| self.twin_of(f))
                .unwrap_or(Builtin::Tsv);
            let opened = LogFile::create(&self.dir, "reporter", ts_us).and_then(|mut file| {
                let mut fmt = format.create(&REPORTER_SCHEMA);
                begin_native(&mut *fmt, &mut file)?;
                Ok(Output {
                    stream: "reporter".into(),
                    format: fmt,
                    file,
                    columns: None,
                    schema: REPORTER_SCHEMA,
                    broken: false,
                    finished: false,
                })
            });
            match opened {
                Ok(o) => *guard = Some(o),
                Err(e) => {
                    eprintln!("sandpiper: {message} ({location}); opening reporter.log: {e}");
                    return;
                }
            }
        }
        let o = guard.as_mut().expect("opened above");
        let row = [
            Value::Time(ts_us),
            Value::Enum(level.zeek_name()),
            Value::Str(message),
            Value::Str(location),
        ];
        if let Err(e) = o.format.write_row(&mut o.file, &row) {
            eprintln!("sandpiper: {message} ({location}); writing reporter.log: {e:?}");
        }
    }

    /// Runs `f` on every output (under the list's lock: `f` must not open streams).
    fn each_output(&self, mut f: impl FnMut(&mut Output)) {
        for o in lock(&self.outputs).iter() {
            f(&mut lock(o));
        }
    }

    /// Moves every batched row into its file and flushes the files to the system.
    pub fn flush_all(&self) {
        self.each_output(|o| {
            if o.broken || o.finished {
                return;
            }
            let r = o.format.flush(&mut o.file);
            if o.settle(self, r, None).is_err() {
                return;
            }
            if let Err(e) = io::Write::flush(&mut o.file) {
                o.fail_io(self, e);
            }
        });
    }

    /// Rotates every open log at network time `now`: each current file gets its footer, is
    /// renamed to Zeek's rotated name, and a new file with a new header takes its place.
    pub fn rotate_all(&self, now: i64) {
        self.rotations.fetch_add(1, Ordering::Relaxed);
        self.each_output(|o| o.rotate(self, now));
        let mut rep = lock(&self.reporter);
        if let Some(o) = rep.as_mut() {
            o.rotate(self, now);
        }
    }

    /// Ends every log (footers, flush). With `--rotate`, the final files are rotated too,
    /// as Zeek rotates its logs when it terminates.
    pub fn finish_all(&self) -> io::Result<()> {
        let mut first_error = None;
        let rotate = self.rotate_every_us.is_some();
        let now = self.now_us();
        let mut end = |o: &mut Output| {
            if let Err(e) = o.finish(self) {
                first_error.get_or_insert(e);
            }
            if rotate {
                if let Err(e) = o.file.rotate(now) {
                    first_error.get_or_insert(e);
                }
                let _ = std::fs::remove_file(o.file.path());
            }
        };
        self.each_output(&mut end);
        if let Some(o) = lock(&self.reporter).as_mut() {
            end(o);
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// Starts a file with a built-in format (which can fail only on I/O).
fn begin_native(f: &mut dyn Format, file: &mut LogFile) -> io::Result<()> {
    match f.begin_file(file) {
        Ok(()) => Ok(()),
        Err(Fault::Io(e)) => Err(e),
        Err(Fault::Writer { reason, .. }) => Err(io::Error::other(reason)),
    }
}

/// An output dropped without being finished (a run that ends on an error before the logs
/// are closed) still gets the rows its format holds: two flushes land a batch in flight and
/// the one being filled, as the file buffer's own drop writes what it holds. No footer: the
/// run did not end properly.
impl Drop for Output {
    fn drop(&mut self) {
        if self.finished || self.broken || std::thread::panicking() {
            return;
        }
        for _ in 0..2 {
            if self.format.flush(&mut self.file).is_err() {
                return;
            }
        }
    }
}

impl Output {
    /// Handles the result of a format call: an I/O error breaks the output (returned);
    /// a writer fault switches to the fallback, which then writes the rows the failed
    /// writer had not (and `row`, if the failure happened before the format accepted it).
    fn settle(
        &mut self,
        m: &LogManager,
        r: Result<(), Fault>,
        row: Option<&[Value<'_>]>,
    ) -> io::Result<()> {
        match r {
            Ok(()) => Ok(()),
            Err(Fault::Io(e)) => {
                let what = io::Error::new(e.kind(), e.to_string());
                self.fail_io(m, e);
                Err(what)
            }
            Err(Fault::Writer { cause, reason }) => self.fall_back(m, cause, &reason, row),
        }
    }

    fn fail_io(&mut self, m: &LogManager, e: io::Error) {
        self.broken = true;
        if self.stream == REPORTER_SCHEMA.path {
            // Reporting it would need the reporter.log being written (and locked) now.
            eprintln!("sandpiper: writing reporter.log: {e}");
            return;
        }
        m.report(
            Level::Error,
            &format!("writing {}: {e}", self.file.path().display()),
            "logging",
        );
    }

    fn fall_back(
        &mut self,
        m: &LogManager,
        cause: &str,
        reason: &str,
        row: Option<&[Value<'_>]>,
    ) -> io::Result<()> {
        m.fallbacks.fetch_add(1, Ordering::Relaxed);
        let failed_name = self.format.name().to_string();
        let twin = m.twin_of(&failed_name);
        let fallback = twin.unwrap_or(Builtin::Tsv);
        let mut new_format = fallback.create(&self.schema);
        let old_path = self.file.path();
        if twin.is_none() {
            // Another format's file: the built-in TSV goes to a file of its own.
            io::Write::flush(&mut self.file)?;
            let name = old_path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| self.stream.clone());
            self.file = LogFile::create(m.dir(), &format!("{name}-fallback"), m.now_us())?;
        }
        if self.file.written() == 0 {
            begin_native(&mut *new_format, &mut self.file)?;
        }
        let mut failed = std::mem::replace(&mut self.format, new_format);
        let mut replayed = 0u64;
        {
            let file = &mut self.file;
            let format = &mut self.format;
            failed.replay(&mut |r| {
                replayed += 1;
                match format.write_row(file, r) {
                    Ok(()) => Ok(()),
                    Err(Fault::Io(e)) => Err(e),
                    Err(Fault::Writer { reason, .. }) => Err(io::Error::other(reason)),
                }
            })?;
        }
        if let Some(r) = row {
            match self.format.write_row(&mut self.file, r) {
                Ok(()) => {}
                Err(Fault::Io(e)) => return Err(e),
                Err(Fault::Writer { reason, .. }) => return Err(io::Error::other(reason)),
            }
        }
        let where_to = if twin.is_some() {
            format!("{} goes on in the same file", self.file.path().display())
        } else {
            format!("rows go to {}", self.file.path().display())
        };
        let what = if cause == QUARANTINED {
            format!(
                "log writer {failed_name} is quarantined (it failed on another log) and stops \
                 writing {}",
                old_path.display()
            )
        } else {
            format!(
                "log writer {failed_name} failed writing {} ({cause}: {reason}) and is \
                 quarantined",
                old_path.display()
            )
        };
        m.report(
            Level::Error,
            &format!(
                "{what}; the built-in {} writer takes over: {where_to}, starting with the \
                 {replayed} rows it had not written",
                fallback.name()
            ),
            "logging",
        );
        Ok(())
    }

    fn write(&mut self, m: &LogManager, row: &[Value<'_>]) -> io::Result<()> {
        if self.broken || self.finished {
            return Ok(());
        }
        match &self.columns {
            None => {
                let r = self.format.write_row(&mut self.file, row);
                self.settle_row(m, r, row)
            }
            Some(cols) => {
                let picked: Vec<Value<'_>> = cols.iter().map(|&i| row[i]).collect();
                let r = self.format.write_row(&mut self.file, &picked);
                self.settle_row(m, r, &picked)
            }
        }
    }

    /// Checked rows in the WIT `packed-rows` encoding: taken whole by a format that can
    /// (a built-in one writing every column), else written row by row as `write` does.
    fn write_packed(&mut self, m: &LogManager, count: u32, bytes: &[u8]) -> io::Result<()> {
        if self.broken || self.finished {
            return Ok(());
        }
        if self.columns.is_none() {
            if let Some(r) = self.format.write_packed(&mut self.file, count, bytes) {
                return self.settle(m, r, None);
            }
        }
        super::packed::for_each_row(count, bytes, |row| self.write(m, row))
    }

    /// As `settle` for a write: a format refusing a row before accepting it (a quarantined
    /// component) leaves the row to the fallback.
    fn settle_row(
        &mut self,
        m: &LogManager,
        r: Result<(), Fault>,
        row: &[Value<'_>],
    ) -> io::Result<()> {
        match r {
            Err(Fault::Writer {
                cause: QUARANTINED, ..
            }) => self.settle(m, r, Some(row)),
            other => self.settle(m, other, None),
        }
    }

    fn rotate(&mut self, m: &LogManager, now: i64) {
        if self.broken || self.finished {
            return;
        }
        let r = self.format.flush(&mut self.file);
        if self.settle(m, r, None).is_err() {
            return;
        }
        let r = self.format.end_file(&mut self.file, false);
        if self.settle(m, r, None).is_err() {
            return;
        }
        if let Err(e) = self.file.rotate(now) {
            self.fail_io(m, e);
            return;
        }
        let r = self.format.begin_file(&mut self.file);
        let _ = self.settle(m, r, None);
    }

    fn finish(&mut self, m: &LogManager) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.broken {
            return Ok(());
        }
        let r = self.format.flush(&mut self.file);
        self.settle(m, r, None)?;
        let r = self.format.end_file(&mut self.file, true);
        self.settle(m, r, None)?;
        io::Write::flush(&mut self.file)
    }
}

/// The `cause` a component format gives when its module was quarantined before it accepted
/// the row being written.
pub const QUARANTINED: &str = "quarantined";

/// What a stream's owner holds: its outputs, one per filter.
struct StreamHandle {
    manager: Arc<LogManager>,
    outputs: Vec<Arc<Mutex<Output>>>,
}

impl LogWriter for StreamHandle {
    fn write_row(&mut self, row: &[Value<'_>]) -> io::Result<()> {
        let mut first_error = None;
        for o in &self.outputs {
            if let Err(e) = lock(o).write(&self.manager, row) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn write_packed(&mut self, count: u32, bytes: &[u8]) -> io::Result<()> {
        let mut first_error = None;
        for o in &self.outputs {
            if let Err(e) = lock(o).write_packed(&self.manager, count, bytes) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    fn finish(&mut self) -> io::Result<()> {
        let mut first_error = None;
        for o in &self.outputs {
            if let Err(e) = lock(o).finish(&self.manager) {
                first_error.get_or_insert(e);
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
