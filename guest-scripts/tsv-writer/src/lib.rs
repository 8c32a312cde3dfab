//! Zeek's tab-separated log format as a Sandpiper log writer: the `#`-header (`#separator` to
//! `#types`), one line per row, and the `#close` footer, byte for byte as Zeek's ASCII writer
//! (and the host's built-in writer) writes them. The format itself is the `tsv-format`
//! library; this crate is the only code that calls the host (`sink::write`).

use sandpiper_sdk::packed::Rows;
use sandpiper_sdk::sink;
use sandpiper_sdk::types::{LogSchema, Time};
use sandpiper_sdk::Writer;

use tsv_format::stream::TsvStream;

/// Small blocks from size-class free lists instead of dlmalloc (see the sdk's `alloc`).
#[cfg(target_family = "wasm")]
#[global_allocator]
static ALLOCATOR: sandpiper_sdk::alloc::SizeClasses = sandpiper_sdk::alloc::SizeClasses::new();

/// The component: one [`TsvStream`] per stream the host opens, writing to its sink.
pub struct TsvWriter(TsvStream);

fn to_sink(bytes: &[u8]) -> Result<(), String> {
    sink::write(bytes)
}

impl Writer for TsvWriter {
    fn new(schema: LogSchema, opened: Time) -> Self {
        TsvWriter(TsvStream::new(&schema, opened))
    }

    fn write(&mut self, rows: Rows<'_>) -> Result<(), String> {
        self.0.write(rows, &mut to_sink)
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

sandpiper_sdk::export_writer!(TsvWriter);
