//! The built-in formats off the thread that logs: rows are packed into a batch
//! ([`RowBatch`], one copy of each value, no allocation per row) and formatted on the
//! log-writer thread, as Zeek's logging framework runs each writer in a thread of its own.
//!
//! Turning numbers, times and addresses into text is most of a conn.log row's cost, and on
//! the packet thread it was a tenth of a conn.log-only run; packing the same row is a few
//! copies. The formatted bytes are appended to the file by the format's owner (the logging
//! framework, under the output's lock) when it next sends a batch, flushes or ends the
//! file, so a file trails its rows by at most one batch or one flush interval (as with a
//! writer component) and every byte reaches the file in row order. Ending a file (rotation,
//! the end of the run, Ctrl-C) waits for the batch in flight: nothing accepted is lost.
//!
//! One thread serves every writer, built-in and component: on a machine of two cores the
//! other one belongs to the packet thread.

use std::io::{self, Write as _};
use std::sync::{mpsc, Arc, OnceLock};

use super::file::LogFile;
use super::format::{Builtin, Fault, Format};
use super::json::JsonRows;
use super::row_batch::RowBatch;
use super::{tsv, Schema, Value};

/// A batch is sent off at this many rows or this many packed bytes, whichever comes first:
/// large enough that a hand-over costs little per row, small enough to stay in cache.
const BATCH_ROWS: u32 = 256;
const BATCH_BYTES: usize = 64 * 1024;

/// Work for the log-writer thread.
pub type Job = Box<dyn FnOnce() + Send>;

/// Runs `job` on the log-writer thread, after the jobs sent before it; on the caller's
/// thread if that thread could not be started or has stopped.
pub fn run_on_writer_thread(job: Job) {
    static THREAD: OnceLock<Option<mpsc::Sender<Job>>> = OnceLock::new();
    let thread = THREAD.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("log-writers".into())
            .spawn(move || {
                crate::threads::lower_current_thread();
                for job in rx {
                    job();
                }
            })
            .ok()
            .map(|_| tx)
    });
    match thread {
        Some(tx) => {
            if let Err(mpsc::SendError(job)) = tx.send(job) {
                job();
            }
        }
        None => job(),
    }
}

/// What turns rows into bytes on the writer thread: the row part of a built-in format.
pub enum RowFormat {
    Tsv,
    Json(JsonRows),
}

impl RowFormat {
    fn write_row(&self, out: &mut Vec<u8>, row: &[Value<'_>]) -> io::Result<()> {
        match self {
            RowFormat::Tsv => tsv::write_row(out, row),
            RowFormat::Json(j) => j.write_row(out, row),
        }
    }
}

/// A batch on its way to the writer thread and back with its bytes.
struct Flight {
    rows: RowBatch,
    out: Vec<u8>,
    result: io::Result<()>,
}

/// A built-in format (TSV or JSON) whose rows are formatted on the log-writer thread.
pub struct Offloaded {
    /// The same format on this thread, for what is not rows: the TSV header and footer.
    inline: Box<dyn Format>,
    rows: Arc<RowFormat>,
    batch: RowBatch,
    in_flight: Option<mpsc::Receiver<Flight>>,
    /// A landed flight's buffers, reused by the next.
    spare_rows: Vec<u8>,
    spare_out: Vec<u8>,
}

impl Offloaded {
    pub fn new(format: Builtin, schema: &Schema) -> Self {
        let rows = match format {
            Builtin::Tsv => RowFormat::Tsv,
            Builtin::Json => RowFormat::Json(JsonRows::new(schema)),
        };
        Offloaded {
            inline: format.create(schema),
            rows: Arc::new(rows),
            batch: RowBatch::default(),
            in_flight: None,
            spare_rows: Vec::new(),
            spare_out: Vec::new(),
        }
    }

    /// Waits for the batch in flight, if any, and appends its bytes to the file.
    fn land(&mut self, out: &mut LogFile) -> io::Result<()> {
        let Some(rx) = self.in_flight.take() else {
            return Ok(());
        };
        let flight = rx.recv().map_err(|_| {
            io::Error::other("the log-writer thread stopped while formatting a batch of rows")
        })?;
        flight.result?;
        out.write_all(&flight.out)?;
        self.spare_out = flight.out;
        self.spare_rows = flight.rows.into_buffer();
        Ok(())
    }

    /// Lands the batch in flight and sends off the one being filled (if it has rows).
    fn send(&mut self, out: &mut LogFile) -> io::Result<()> {
        self.land(out)?;
        if self.batch.is_empty() {
            return Ok(());
        }
        let next = RowBatch::with_buffer(std::mem::take(&mut self.spare_rows));
        let rows = std::mem::replace(&mut self.batch, next);
        let mut bytes = std::mem::take(&mut self.spare_out);
        bytes.clear();
        let format = self.rows.clone();
        let (tx, rx) = mpsc::sync_channel(1);
        run_on_writer_thread(Box::new(move || {
            // A panic while formatting (a host bug) must not lose the rows silently: it
            // comes back as an error the logging framework reports.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rows.for_each(|r| format.write_row(&mut bytes, r))
            }))
            .unwrap_or_else(|_| Err(io::Error::other("formatting a batch of rows panicked")));
            let _ = tx.send(Flight {
                rows,
                out: bytes,
                result,
            });
        }));
        self.in_flight = Some(rx);
        Ok(())
    }

    /// Every accepted row in the file.
    fn drain(&mut self, out: &mut LogFile) -> io::Result<()> {
        self.send(out)?;
        self.land(out)
    }
}

impl Format for Offloaded {
    fn name(&self) -> &str {
        self.inline.name()
    }

    fn begin_file(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        self.drain(out)?;
        self.inline.begin_file(out)
    }

    fn write_row(&mut self, out: &mut LogFile, row: &[Value<'_>]) -> Result<(), Fault> {
        self.batch.push(row);
        if self.batch.rows() >= BATCH_ROWS || self.batch.len_bytes() >= BATCH_BYTES {
            self.send(out)?;
        }
        Ok(())
    }

    fn write_packed(
        &mut self,
        out: &mut LogFile,
        count: u32,
        bytes: &[u8],
    ) -> Option<Result<(), Fault>> {
        self.batch.push_packed(count, bytes);
        if self.batch.rows() >= BATCH_ROWS || self.batch.len_bytes() >= BATCH_BYTES {
            return Some(self.send(out).map_err(Fault::from));
        }
        Some(Ok(()))
    }

    fn flush(&mut self, out: &mut LogFile) -> Result<(), Fault> {
        Ok(self.send(out)?)
    }

    fn end_file(&mut self, out: &mut LogFile, last: bool) -> Result<(), Fault> {
        self.drain(out)?;
        self.inline.end_file(out, last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Field, FieldType};

    const FIELDS: &[Field] = &[
        Field::new_static("ts", FieldType::Time),
        Field::new_static("name", FieldType::String),
        Field::new_static("tags", FieldType::SetString),
        Field::new_static("n", FieldType::Count),
    ];
    const SCHEMA: Schema = Schema::new_static("test", FIELDS);

    /// Writes `n` rows through `format` into a fresh file and returns the file's text with
    /// the `#open`/`#close` stamps cut (they are wall-clock times).
    fn run(mut format: Box<dyn Format>, n: u64, flush_every: u64) -> String {
        let dir = tempfile::tempdir().unwrap();
        let mut file = LogFile::create(dir.path(), "test", 0).unwrap();
        format.begin_file(&mut file).unwrap();
        for i in 0..n {
            let name = format!("row {i}\twith a tab");
            let row = [
                Value::Time(1_300_475_167_096_535 + i as i64),
                Value::Str(&name),
                Value::Set(&["a", "b"]),
                Value::Count(i),
            ];
            format.write_row(&mut file, &row).unwrap();
            if flush_every > 0 && i % flush_every == 0 {
                format.flush(&mut file).unwrap();
            }
        }
        format.end_file(&mut file, true).unwrap();
        file.flush().unwrap();
        let text = std::fs::read_to_string(dir.path().join("test.log")).unwrap();
        text.lines()
            .filter(|l| !l.starts_with("#open") && !l.starts_with("#close"))
            .map(|l| format!("{l}\n"))
            .collect()
    }

    #[test]
    fn same_bytes_as_the_inline_formats() {
        for n in [0, 1, BATCH_ROWS as u64 - 1, BATCH_ROWS as u64, 1000] {
            for flush_every in [0, 1, 7] {
                assert_eq!(
                    run(
                        Box::new(Offloaded::new(Builtin::Tsv, &SCHEMA)),
                        n,
                        flush_every
                    ),
                    run(Builtin::Tsv.create(&SCHEMA), n, 0),
                    "tsv, {n} rows"
                );
                assert_eq!(
                    run(
                        Box::new(Offloaded::new(Builtin::Json, &SCHEMA)),
                        n,
                        flush_every
                    ),
                    run(Builtin::Json.create(&SCHEMA), n, 0),
                    "json, {n} rows"
                );
            }
        }
    }

    #[test]
    fn a_manager_dropped_without_finishing_still_writes_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        {
            let manager = crate::log::manager::LogManager::native(dir.path(), Builtin::Tsv);
            let mut w = manager.open(SCHEMA).unwrap();
            for i in 0..10 {
                let row = [
                    Value::Time(0),
                    Value::Str("x"),
                    Value::Unset,
                    Value::Count(i),
                ];
                w.write_row(&row).unwrap();
            }
        }
        let text = std::fs::read_to_string(dir.path().join("test.log")).unwrap();
        let rows = text.lines().filter(|l| !l.starts_with('#')).count();
        assert_eq!(rows, 10, "{text}");
        assert!(!text.contains("#close"), "an unfinished log has no footer");
    }

    #[test]
    fn a_flush_lands_the_previous_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = LogFile::create(dir.path(), "test", 0).unwrap();
        let mut format = Offloaded::new(Builtin::Tsv, &SCHEMA);
        format.begin_file(&mut file).unwrap();
        let header = file.written();
        let row = [
            Value::Time(0),
            Value::Str("x"),
            Value::Unset,
            Value::Count(1),
        ];
        format.write_row(&mut file, &row).unwrap();
        assert_eq!(file.written(), header, "a row waits in the batch");
        format.flush(&mut file).unwrap();
        format.flush(&mut file).unwrap();
        assert!(file.written() > header, "two flushes put it in the file");
    }
}
