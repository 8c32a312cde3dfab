//! {{name}}: a protocol analyzer. This starting point counts the bytes of each direction,
//! confirms the protocol on the first data and writes one row per connection to {{stream}}.log
//! when the connection ends.
//!
//! The host creates one `ByteCounter` per connection that module.toml's [analyzer] section
//! selects (ports or signatures) and feeds it the reassembled payload of both directions (TCP)
//! or one datagram per call (UDP). Parse your protocol in `deliver`; call `analysis::confirm`
//! once you are sure it is yours (the name then appears in conn.log `service`) and
//! `analysis::violation` when it is not (the analyzer is detached).

use std::sync::OnceLock;

use sandpiper_sdk::types::{ConnInfo, Field, LogSchema, ScalarType, Value};
use sandpiper_sdk::{analysis, conn_fields, conn_values, log, Analyzer};

/// The state of one connection.
struct ByteCounter {
    conn: ConnInfo,
    orig_bytes: u64,
    resp_bytes: u64,
    confirmed: bool,
}

/// The columns of {{stream}}.log.
fn schema() -> LogSchema {
    let mut fields = vec![Field::new("ts", ScalarType::Time)];
    fields.extend(conn_fields()); // uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p
    fields.push(Field::new("orig_bytes", ScalarType::Count));
    fields.push(Field::new("resp_bytes", ScalarType::Count));
    LogSchema {
        path: "{{stream}}".to_string(),
        fields,
    }
}

/// The {{stream}} stream, created once per instance (sessions of one instance share it).
fn stream() -> Option<log::StreamId> {
    static STREAM: OnceLock<Option<log::StreamId>> = OnceLock::new();
    *STREAM.get_or_init(|| match log::create_stream(&schema()) {
        Ok(id) => Some(id),
        Err(e) => {
            eprintln!("{{name}}: cannot create the {{stream}} stream: {e}");
            None
        }
    })
}

impl Analyzer for ByteCounter {
    fn new(conn: ConnInfo) -> Self {
        ByteCounter {
            conn,
            orig_bytes: 0,
            resp_bytes: 0,
            confirmed: false,
        }
    }

    fn deliver(&mut self, is_orig: bool, data: &[u8]) {
        if is_orig {
            self.orig_bytes += data.len() as u64;
        } else {
            self.resp_bytes += data.len() as u64;
        }
        // A real analyzer confirms only once the data parses as its protocol.
        if !self.confirmed {
            self.confirmed = true;
            analysis::confirm();
        }
    }

    fn gap(&mut self, _is_orig: bool, _len: u64) {
        // Content was lost: resynchronise here, or give up with `analysis::violation`.
        analysis::weird("{{stream}}_content_gap", "");
    }

    fn finish(&mut self) {
        let Some(stream) = stream() else {
            return;
        };
        let mut row = vec![Value::Time(self.conn.start)];
        row.extend(conn_values(&self.conn));
        row.push(self.orig_bytes.into());
        row.push(self.resp_bytes.into());
        if let Err(e) = log::write(stream, &[row]) {
            eprintln!("{{name}}: writing {{stream}} failed: {e}");
        }
    }
}

sandpiper_sdk::export_analyzer!(ByteCounter);
