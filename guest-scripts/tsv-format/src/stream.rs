//! One stream's state: the header for new files, the output buffer and whether the current
//! file is closed. Bytes leave through a sink function passed in, so this is tested natively
//! with a vector as the sink; the component passes `sink::write`.

use sandpiper_sdk::types::{LogSchema, Row};

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
    /// columns) is skipped and reported in the error after the others are written.
    pub fn write(&mut self, rows: &[Row], sink: &mut impl Sink) -> Result<(), String> {
        if self.closed {
            return Err("write after finish".into());
        }
        let mut bad = 0usize;
        let mut first_error = None;
        for (i, row) in rows.iter().enumerate() {
            if let Err(e) = format::write_row(&mut self.buf, row, self.columns) {
                bad += 1;
                first_error.get_or_insert_with(|| format!("row {i}: {e}"));
            }
            if self.buf.len() >= CHUNK {
                self.flush(sink)?;
            }
        }
        match first_error {
            None => Ok(()),
            Some(e) => Err(format!("{bad} of {} rows not written; {e}", rows.len())),
        }
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
