//! JSON lines with Zeek's field names (`id.orig_h`, ...) as a Sandpiper log writer: one object
//! per row, unset fields left out, byte for byte as Zeek's JSON logs (and the host's former
//! native writer) write them.
//!
//! - [`format`]: rows as pure functions into a byte buffer; [`double`]: Zeek's (rapidjson's)
//!   `double` formatting;
//! - [`stream`]: buffering, with the sink passed in;
//! - this file: the only code that calls the host (`sink::write`).

pub mod double;
pub mod format;
pub mod stream;

#[cfg(test)]
mod tests;

use sandpiper_sdk::packed::Rows;
use sandpiper_sdk::sink;
use sandpiper_sdk::types::{LogSchema, Time};
use sandpiper_sdk::Writer;

use stream::JsonStream;

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The component: one [`JsonStream`] per stream the host opens, writing to its sink.
pub struct JsonWriter(JsonStream);

fn to_sink(bytes: &[u8]) -> Result<(), String> {
    sink::write(bytes)
}

impl Writer for JsonWriter {
    /// JSON lines have no header, so the open time is not used.
    fn new(schema: LogSchema, _opened: Time) -> Self {
        JsonWriter(JsonStream::new(&schema))
    }

    fn write(&mut self, rows: Rows<'_>) -> Result<(), String> {
        self.0.write(rows, &mut to_sink)
    }

    fn flush(&mut self) -> Result<(), String> {
        self.0.flush(&mut to_sink)
    }

    fn rotate(&mut self, _at: Time) -> Result<(), String> {
        self.0.rotate(&mut to_sink)
    }

    fn finish(&mut self, _at: Time) -> Result<(), String> {
        self.0.finish(&mut to_sink)
    }
}

#[cfg(target_arch = "wasm32")]
sandpiper_sdk::export_writer!(JsonWriter);
