//! Logs one row per finished connection to conn_rows.log: the well-behaved module that runs beside
//! the hostile ones. The `version` column is the crate's version, so the hot-reload test can
//! tell which version of the module wrote a row (conn-rows-v2 builds this same source).

use sandpiper_sdk::log;
use sandpiper_sdk::types::{Event, Field, LogSchema, Row, ScalarType, Value};
use sandpiper_sdk::{conn_fields, conn_values, push_set, Handler};

/// The host takes at most this many rows per `log::write` call.
const MAX_ROWS_PER_WRITE: usize = 4096;

#[derive(Default)]
struct ConnRows {
    stream: Option<log::StreamId>,
}

fn schema() -> LogSchema {
    let mut fields = vec![Field::new("ts", ScalarType::Time)];
    fields.extend(conn_fields());
    fields.push(Field::new("history", ScalarType::Str));
    fields.push(Field::set("services", ScalarType::Str));
    fields.push(Field::new("version", ScalarType::Str));
    LogSchema {
        path: "conn_rows".to_string(),
        fields,
    }
}

impl Handler for ConnRows {
    fn handle(&mut self, batch: Vec<Event>) {
        let rows: Vec<Row> = batch
            .iter()
            .filter(|ev| ev.name == "connection_state_remove")
            .filter_map(|ev| ev.conn.as_ref())
            .map(|conn| {
                let mut row = vec![Value::Time(conn.start)];
                row.extend(conn_values(conn));
                row.push(Value::Str(conn.history.clone()));
                push_set(&mut row, conn.service.iter().map(String::as_str));
                row.push(Value::Str(env!("CARGO_PKG_VERSION").to_string()));
                row
            })
            .collect();
        if rows.is_empty() {
            return;
        }
        if self.stream.is_none() {
            self.stream = Some(log::create_stream(&schema()).expect("creating conn_rows"));
        }
        let stream = self.stream.expect("created above");
        for chunk in rows.chunks(MAX_ROWS_PER_WRITE) {
            log::write(stream, chunk).expect("writing conn_rows");
        }
    }
}

sandpiper_sdk::export_handler!(ConnRows);
