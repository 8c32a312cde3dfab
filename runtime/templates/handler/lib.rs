//! {{name}}: an event handler that writes {{stream}}.log, one row per finished connection.
//!
//! The host calls `handle` with batches of the events module.toml subscribes to
//! ([handler] events), in the order they were raised. `connection_state_remove` comes once per
//! connection, as its conn.log row is written, with the connection in `event.conn`. Change the
//! schema and the filter below to log what you are after, or raise events of your own with
//! `sandpiper_sdk::events::raise`.

use sandpiper_sdk::types::{Event, Field, LogSchema, Row, ScalarType, Value};
use sandpiper_sdk::{conn_fields, conn_values, log, Handler};

/// The host takes at most this many rows per `log::write` call.
const MAX_ROWS_PER_WRITE: usize = 4096;

/// The handler's state lives across batches (until a call fails: then it starts again from
/// `Default`).
#[derive(Default)]
struct ConnLogger {
    /// The {{stream}} stream, created on first use.
    stream: Option<log::StreamId>,
}

/// The columns of {{stream}}.log.
fn schema() -> LogSchema {
    let mut fields = vec![Field::new("ts", ScalarType::Time)];
    fields.extend(conn_fields()); // uid, id.orig_h, id.orig_p, id.resp_h, id.resp_p
    fields.push(Field::new("duration", ScalarType::Interval));
    fields.push(Field::new("orig_bytes", ScalarType::Count));
    fields.push(Field::new("resp_bytes", ScalarType::Count));
    fields.push(Field::new("conn_state", ScalarType::Str));
    LogSchema {
        path: "{{stream}}".to_string(),
        fields,
    }
}

impl ConnLogger {
    fn stream(&mut self) -> Option<log::StreamId> {
        if self.stream.is_none() {
            match log::create_stream(&schema()) {
                Ok(id) => self.stream = Some(id),
                Err(e) => eprintln!("{{name}}: cannot create the {{stream}} stream: {e}"),
            }
        }
        self.stream
    }
}

impl Handler for ConnLogger {
    fn handle(&mut self, batch: Vec<Event>) {
        let rows: Vec<Row> = batch
            .iter()
            .filter(|ev| ev.name == "connection_state_remove")
            .filter_map(|ev| ev.conn.as_ref())
            .map(|c| {
                let mut row = vec![Value::Time(c.start)];
                row.extend(conn_values(c));
                row.push(Value::Interval(c.duration));
                row.push(c.orig_bytes.into());
                row.push(c.resp_bytes.into());
                row.push(c.conn_state.as_str().into());
                row
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        let Some(stream) = self.stream() else {
            return;
        };
        for chunk in rows.chunks(MAX_ROWS_PER_WRITE) {
            if let Err(e) = log::write(stream, chunk) {
                eprintln!("{{name}}: writing {{stream}} failed: {e}");
            }
        }
    }
}

sandpiper_sdk::export_handler!(ConnLogger);
