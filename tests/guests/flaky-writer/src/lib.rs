//! Test guest: a log writer that writes exactly what tsv-writer writes (it is tsv-writer's
//! formatter) until its second `write` call for a stream, which panics. The logging framework
//! must then quarantine it and let the built-in writer finish the stream with every row,
//! none lost and none twice.

use sandpiper_sdk::packed::Rows;
use sandpiper_sdk::sink;
use sandpiper_sdk::types::{LogSchema, Time};
use sandpiper_sdk::Writer;
use tsv_format::stream::TsvStream;

/// The `write` call (per stream, counted from 1) that traps.
const FAIL_AT: u32 = 2;

struct Flaky {
    stream: TsvStream,
    writes: u32,
}

fn to_sink(bytes: &[u8]) -> Result<(), String> {
    sink::write(bytes)
}

impl Writer for Flaky {
    fn new(schema: LogSchema, opened: Time) -> Self {
        Flaky {
            stream: TsvStream::new(&schema, opened),
            writes: 0,
        }
    }

    fn write(&mut self, rows: Rows<'_>) -> Result<(), String> {
        self.writes += 1;
        if self.writes == FAIL_AT {
            panic!("flaky writer fails on purpose at write {FAIL_AT}");
        }
        self.stream.write(rows, &mut to_sink)
    }

    fn flush(&mut self) -> Result<(), String> {
        self.stream.flush(&mut to_sink)
    }

    fn rotate(&mut self, at: Time) -> Result<(), String> {
        self.stream.rotate(at, &mut to_sink)
    }

    fn finish(&mut self, at: Time) -> Result<(), String> {
        self.stream.finish(at, &mut to_sink)
    }
}

sandpiper_sdk::export_writer!(Flaky);
