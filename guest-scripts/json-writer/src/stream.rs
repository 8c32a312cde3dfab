//! One stream's state: the escaped column keys and the output buffer. Bytes leave through a
//! sink function passed in, so this is tested natively with a vector as the sink; the
//! component passes `sink::write`. JSON lines have no header or footer, so `rotate` and
//! `finish` only flush.

use sandpiper_sdk::types::{LogSchema, Row};

use crate::format;

/// Buffered bytes that trigger a sink write: each import call has a fixed cost, so bytes go
/// out in large chunks (and whenever the host calls `flush`, `rotate` or `finish`).
pub const CHUNK: usize = 64 * 1024;

/// Where formatted bytes go: `sandpiper_sdk::sink::write` in the component.
pub trait Sink: FnMut(&[u8]) -> Result<(), String> {}
impl<F: FnMut(&[u8]) -> Result<(), String>> Sink for F {}

pub struct JsonStream {
    /// `"name":` per column, escaped once.
    keys: Vec<Box<[u8]>>,
    /// Bytes not yet handed to the sink; reused, so rows allocate nothing once it has grown.
    buf: Vec<u8>,
    finished: bool,
}

impl JsonStream {
    pub fn new(schema: &LogSchema) -> JsonStream {
        JsonStream {
            keys: format::column_keys(schema),
            buf: Vec::with_capacity(CHUNK + CHUNK / 4),
            finished: false,
        }
    }

    /// Formats every well-formed row; a malformed one (its values do not make the schema's
    /// columns) is skipped and reported in the error after the others are written.
    pub fn write(&mut self, rows: &[Row], sink: &mut impl Sink) -> Result<(), String> {
        if self.finished {
            return Err("write after finish".into());
        }
        let mut bad = 0usize;
        let mut first_error = None;
        for (i, row) in rows.iter().enumerate() {
            if let Err(e) = format::write_row(&mut self.buf, row, &self.keys) {
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

    /// The host switches files after this call: everything buffered goes to the old one.
    pub fn rotate(&mut self, sink: &mut impl Sink) -> Result<(), String> {
        self.finished = false;
        self.flush(sink)
    }

    pub fn finish(&mut self, sink: &mut impl Sink) -> Result<(), String> {
        self.finished = true;
        self.flush(sink)
    }
}
