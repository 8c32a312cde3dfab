//! One stream's state: the header for new files, the output buffer and whether the current
//! file is closed. Bytes leave through a sink function passed in, so this is tested natively
//! with a vector as the sink; the component passes `sink::write`.

use sandpiper_sdk::packed::{Rows, ValueRef};
use sandpiper_sdk::types::LogSchema;

use crate::format::{self, Header};

/// Buffered bytes that trigger a sink write: each import call has a fixed cost, so bytes go
/// out in large chunks (and whenever the host calls `flush`, `rotate` or `finish`).
pub const CHUNK: usize = 64 * 1024;

/// Where formatted bytes go: `sandpiper_sdk::sink::write` in the component.
pub trait Sink: FnMut(&[u8]) -> Result<(), String> {}
impl<F: FnMut(&[u8]) -> Result<(), String>> Sink for F {}

pub struct TsvStream {
    header: Header,
    columns: usize,
    /// Bytes not yet handed to the sink; reused, so rows allocate nothing once it has grown.
    buf: Vec<u8>,
    /// The current file has its `#close` footer (after `finish`).
    closed: bool,
}

impl TsvStream {
    /// A stream whose first file was opened at `opened`; its header is buffered.
    pub fn new(schema: &LogSchema, opened: f64) -> TsvStream {
        let header = Header::new(schema);
        let mut buf = Vec::with_capacity(CHUNK + CHUNK / 4);
        header.write(&mut buf, opened);
        TsvStream {
            header,
            columns: schema.fields.len(),
            buf,
            closed: false,
        }
    }

    /// Formats every well-formed row; a malformed one (its values do not make the schema's
    /// columns) is skipped and reported in the error after the others are written. Bytes
    /// that cannot be decoded end the batch: the rows before them are written.
    pub fn write(&mut self, rows: Rows<'_>, sink: &mut impl Sink) -> Result<(), String> {
        if self.closed {
            return Err("write after finish".into());
        }
        let columns = self.columns;
        format_rows(rows, &mut self.buf, columns, sink, |out, row| {
            format::write_row(out, row, columns)
        })
    }

    /// Hands the buffered bytes to the sink. They are dropped even if the sink fails, so a
    /// broken sink cannot make the buffer grow without bound.
    pub fn flush(&mut self, sink: &mut impl Sink) -> Result<(), String> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let result = sink(&self.buf);
        self.buf.clear();
        result
    }

    /// Closes the current file (`#close` at `at`, sunk before returning, because the host
    /// switches files after this call) and starts the next file's header, opened at `at`,
    /// which stays buffered until the next write, flush or finish so it lands in the new file.
    pub fn rotate(&mut self, at: f64, sink: &mut impl Sink) -> Result<(), String> {
        if !self.closed {
            format::write_footer(&mut self.buf, at);
        }
        let flushed = self.flush(sink);
        self.header.write(&mut self.buf, at);
        self.closed = false;
        flushed
    }

    /// Writes the `#close` footer (once) and flushes.
    pub fn finish(&mut self, at: f64, sink: &mut impl Sink) -> Result<(), String> {
        if !self.closed {
            self.closed = true;
            format::write_footer(&mut self.buf, at);
        }
        self.flush(sink)
    }
}

/// Decodes packed rows one at a time and formats each with `format` into `buf`, handing `buf`
/// to the sink whenever it reaches [`CHUNK`]. A row `format` refuses is skipped and reported
/// in the error after the others are written; bytes that cannot be decoded end the batch
/// after the rows before them. `columns` sizes the reused row (it grows for wider rows).
pub fn format_rows(
    mut rows: Rows<'_>,
    buf: &mut Vec<u8>,
    columns: usize,
    sink: &mut impl Sink,
    mut format: impl FnMut(&mut Vec<u8>, &[ValueRef<'_>]) -> Result<(), String>,
) -> Result<(), String> {
    let total = rows.remaining();
    let mut bad = 0usize;
    let mut first_error = None;
    // One row's values, reused: decoding borrows from the packed bytes, so rows cost no
    // allocation once this has grown to the widest row.
    let mut row = Vec::with_capacity(columns + 8);
    let mut i = 0usize;
    while let Some(decoded) = rows.next_into(&mut row) {
        if let Err(e) = decoded {
            return Err(format!(
                "row {i}: {e}; the {} rows before it are written",
                i - bad
            ));
        }
        if let Err(e) = format(buf, &row) {
            bad += 1;
            first_error.get_or_insert_with(|| format!("row {i}: {e}"));
        }
        if buf.len() >= CHUNK {
            // Dropped even if the sink fails, so a broken sink cannot grow the buffer.
            let sunk = sink(buf);
            buf.clear();
            sunk?;
        }
        i += 1;
    }
    match first_error {
        None => Ok(()),
        Some(e) => Err(format!("{bad} of {total} rows not written; {e}")),
    }
}
