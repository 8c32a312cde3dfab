//! {{name}}: an input reader. This starting point turns each record into one
//! `{{stream}}_line` event whose only argument is the record as a string; records that are not
//! UTF-8 are reported as errors.
//!
//! The host reads the input (lines of a file, messages from a socket) and hands the raw records
//! to `parse` in batches; the reader does no I/O. The events go to the event handlers that
//! subscribe to them.

use sandpiper_sdk::types::{Event, Value};
use sandpiper_sdk::InputReader;

/// The name of the events this reader raises.
const EVENT: &str = "{{stream}}_line";

#[derive(Default)]
struct LineReader;

impl InputReader for LineReader {
    fn parse(&mut self, _source: &str, records: Vec<Vec<u8>>) -> (Vec<Event>, Vec<(u32, String)>) {
        let mut events = Vec::new();
        let mut errors = Vec::new();
        for (index, record) in records.into_iter().enumerate() {
            match String::from_utf8(record) {
                Ok(line) => events.push(Event {
                    name: EVENT.to_string(),
                    // A reader has no network time of its own.
                    ts: 0.0,
                    conn: None,
                    args: vec![Value::Str(line.trim_end_matches(['\r', '\n']).to_string())],
                }),
                Err(e) => errors.push((index as u32, format!("not UTF-8: {}", e.utf8_error()))),
            }
        }
        (events, errors)
    }
}

sandpiper_sdk::export_input_reader!(LineReader);
