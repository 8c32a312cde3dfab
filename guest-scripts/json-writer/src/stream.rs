//! One stream's state: the escaped column keys and the output buffer. Bytes leave through a
//! sink function passed in, so this is tested natively with a vector as the sink; the
//! component passes `sink::write`. JSON lines have no header or footer, so `rotate` and
//! `finish` only flush.

use sandpiper_sdk::packed::Rows;
use sandpiper_sdk::types::LogSchema;

use crate::format;

// Output leaves in chunks of CHUNK bytes (and on `flush`, `rotate` and `finish`), through the
// same sink type and row loop as tsv-writer's.
use tsv_format::stream::format_rows;
pub use tsv_format::stream::{Sink, CHUNK};

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
    /// columns) is skipped and reported in the error after the others are written. Bytes
    /// that cannot be decoded end the batch: the rows before them are written.
    pub fn write(&mut self, rows: Rows<'_>, sink: &mut impl Sink) -> Result<(), String> {
        if self.finished {
            return Err("write after finish".into());
        }
        let keys = &self.keys;
        format_rows(rows, &mut self.buf, keys.len(), sink, |out, row| {
            format::write_row(out, row, keys)
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
