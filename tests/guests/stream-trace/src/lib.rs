//! Test guest: a protocol analyzer that logs every call it receives to stream_trace.log, so
//! the integration tests can check what the host's reassembly, chunking and detection deliver
//! (order, sizes, gaps, ends, timestamps). It confirms on its first data and reports a
//! violation when a chunk starts with "VIOLATE". The `version` column is the crate's version, so
//! the hot-reload test can tell which version of the module logged a call (stream-trace-v2
//! builds this same source).

use sandpiper_sdk::types::{ConnInfo, Field, LogSchema, ScalarType, Value};
use sandpiper_sdk::{analysis, log, Analyzer};

struct StreamTrace {
    uid: String,
    stream: Option<log::StreamId>,
    confirmed: bool,
    /// Bytes delivered per direction (originator, responder).
    bytes: [u64; 2],
}

fn schema() -> LogSchema {
    LogSchema {
        path: "stream_trace".into(),
        fields: vec![
            Field::new("ts", ScalarType::Time),
            Field::new("uid", ScalarType::Str),
            Field::new("what", ScalarType::Str),
            Field::optional("is_orig", ScalarType::Boolean),
            Field::new("len", ScalarType::Count),
            Field::new("offset", ScalarType::Count),
            Field::new("head", ScalarType::Str),
            Field::new("version", ScalarType::Str),
        ],
    }
}

impl StreamTrace {
    fn row(&mut self, what: &str, is_orig: Option<bool>, len: u64, head: &[u8]) {
        if self.stream.is_none() {
            self.stream = log::create_stream(&schema()).ok();
        }
        let Some(s) = self.stream else { return };
        let offset = is_orig.map_or(0, |o| self.bytes[usize::from(!o)]);
        let head: String = head
            .iter()
            .take(16)
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        let row = vec![
            Value::Time(analysis::network_time()),
            Value::Str(self.uid.clone()),
            Value::Str(what.into()),
            is_orig.map_or(Value::Unset, Value::Boolean),
            Value::Count(len),
            Value::Count(offset),
            Value::Str(head),
            Value::Str(env!("CARGO_PKG_VERSION").into()),
        ];
        let _ = log::write(s, &[row]);
    }
}

impl Analyzer for StreamTrace {
    fn new(conn: ConnInfo) -> Self {
        StreamTrace {
            uid: conn.uid,
            stream: None,
            confirmed: false,
            bytes: [0; 2],
        }
    }

    fn deliver(&mut self, is_orig: bool, data: &[u8]) {
        if data.starts_with(b"VIOLATE") {
            analysis::violation("asked to", data);
            return;
        }
        if !self.confirmed {
            self.confirmed = true;
            analysis::confirm();
        }
        self.row("data", Some(is_orig), data.len() as u64, data);
        self.bytes[usize::from(!is_orig)] += data.len() as u64;
    }

    fn gap(&mut self, is_orig: bool, len: u64) {
        self.row("gap", Some(is_orig), len, &[]);
        self.bytes[usize::from(!is_orig)] += len;
    }

    fn end_of_data(&mut self, is_orig: bool) {
        self.row("end", Some(is_orig), 0, &[]);
    }

    fn finish(&mut self) {
        self.row("finish", None, 0, &[]);
    }
}

sandpiper_sdk::export_analyzer!(StreamTrace);
