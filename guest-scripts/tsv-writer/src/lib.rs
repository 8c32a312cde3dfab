//! Zeek's tab-separated log format as a Sandpiper log writer: the `#`-header (`#separator` to
//! `#types`), one line per row, and the `#close` footer, byte for byte as Zeek's ASCII writer
//! (and the host's former native writer) writes them.
//!
//! - [`format`]: header, footer and rows as pure functions into a byte buffer;
//! - [`double`]: Zeek's `double` formatting; [`timestamp`]: the `#open`/`#close` stamps;
//! - [`stream`]: buffering, rotation and the footer, with the sink passed in;
//! - this file: the only code that calls the host (`sink::write`).

pub mod double;
pub mod format;
pub mod stream;
pub mod timestamp;

#[cfg(test)]
mod tests;

use sandpiper_sdk::sink;
use sandpiper_sdk::types::{LogSchema, Row, Time};
use sandpiper_sdk::Writer;

use stream::TsvStream;

/// The component: one [`TsvStream`] per stream the host opens, writing to its sink.
pub struct TsvWriter(TsvStream);

fn to_sink(bytes: &[u8]) -> Result<(), String> {
    sink::write(bytes)
}

impl Writer for TsvWriter {
    fn new(schema: LogSchema, opened: Time) -> Self {
        TsvWriter(TsvStream::new(&schema, opened))
    }

    fn write(&mut self, rows: Vec<Row>) -> Result<(), String> {
        self.0.write(&rows, &mut to_sink)
    }

    fn flush(&mut self) -> Result<(), String> {
        self.0.flush(&mut to_sink)
    }

    fn rotate(&mut self, at: Time) -> Result<(), String> {
        self.0.rotate(at, &mut to_sink)
    }

    fn finish(&mut self, at: Time) -> Result<(), String> {
        self.0.finish(at, &mut to_sink)
    }
}

#[cfg(all(target_arch = "wasm32", feature = "component"))]
sandpiper_sdk::export_writer!(TsvWriter);
