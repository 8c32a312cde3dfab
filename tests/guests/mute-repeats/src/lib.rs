//! Test guest: logs every connection it is given to mute_repeats.log (ts, uid, resp_h), then
//! mutes `connection_state_remove` for that responder for `MUTE_FOR` seconds of network time,
//! so with one event per batch each responder is delivered at most once per `MUTE_FOR`.

use sandpiper_sdk::mutes::{self, ConnMatch};
use sandpiper_sdk::types::{Event, Field, LogSchema, ScalarType, Value};
use sandpiper_sdk::{log, Handler, SharedStream};

static STREAM: SharedStream = SharedStream::new();

/// How long a responder stays muted after each delivered connection.
const MUTE_FOR: f64 = 20.0;

fn schema() -> LogSchema {
    LogSchema {
        path: "mute_repeats".into(),
        fields: vec![
            Field::new("ts", ScalarType::Time),
            Field::new("uid", ScalarType::Str),
            Field::new("resp_h", ScalarType::Addr),
        ],
    }
}

#[derive(Default)]
struct MuteRepeats;

impl Handler for MuteRepeats {
    fn handle(&mut self, batch: Vec<Event>) {
        let Some(id) = STREAM.get(schema) else { return };
        let mut rows = Vec::new();
        for e in batch {
            let Some(c) = e.conn else { continue };
            rows.push(vec![
                Value::Time(e.ts),
                Value::Str(c.uid.clone()),
                Value::Addr(c.id.resp_h),
            ]);
            let only_responder = ConnMatch {
                orig_h: None,
                resp_h: Some(c.id.resp_h),
                resp_p: None,
                service: None,
            };
            mutes::mute(&e.name, &only_responder, e.ts + MUTE_FOR).expect("a valid mute");
        }
        log::write(id, &rows).expect("rows match the schema");
    }
}

sandpiper_sdk::export_handler!(MuteRepeats);
