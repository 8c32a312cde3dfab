//! Test guest: logs every event it receives to relay_listener.log (ts, name, uid, hop, pkts),
//! in the order received, so tests can check delivery, order and timing.

use sandpiper_sdk::types::{Event, Field, LogSchema, ScalarType, Value};
use sandpiper_sdk::{log, Handler, SharedStream};

static STREAM: SharedStream = SharedStream::new();

fn schema() -> LogSchema {
    LogSchema {
        path: "relay_listener".into(),
        fields: vec![
            Field::new("ts", ScalarType::Time),
            Field::new("name", ScalarType::Str),
            Field::optional("uid", ScalarType::Str),
            Field::optional("hop", ScalarType::Count),
            Field::optional("pkts", ScalarType::Count),
        ],
    }
}

#[derive(Default)]
struct Listener;

impl Handler for Listener {
    fn handle(&mut self, batch: Vec<Event>) {
        let Some(id) = STREAM.get(schema) else { return };
        let rows: Vec<Vec<Value>> = batch
            .into_iter()
            .map(|e| {
                let (uid, hop) = match (&e.conn, &e.args[..]) {
                    (Some(c), _) => (Value::Str(c.uid.clone()), Value::Unset),
                    (None, [Value::Str(u), Value::Count(h)]) => {
                        (Value::Str(u.clone()), Value::Count(*h))
                    }
                    (None, [Value::Str(u)]) => (Value::Str(u.clone()), Value::Unset),
                    _ => (Value::Unset, Value::Unset),
                };
                let pkts = e
                    .conn
                    .as_ref()
                    .map_or(Value::Unset, |c| Value::Count(c.orig_pkts + c.resp_pkts));
                vec![Value::Time(e.ts), Value::Str(e.name), uid, hop, pkts]
            })
            .collect();
        log::write(id, &rows).expect("rows match the schema");
    }
}

sandpiper_sdk::export_handler!(Listener);
