//! Hostile: raises two million small events in one call (2000 `events::raise` calls of 1000
//! events), ignoring the host's refusals; the host caps what one call may raise.

use sandpiper_sdk::events;
use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

const EVENTS_PER_RAISE: usize = 1000;
const RAISES: usize = 2000;

#[derive(Default)]
struct HostileFlood;

impl Handler for HostileFlood {
    fn handle(&mut self, batch: Vec<Event>) {
        let ts = batch.first().map_or(0.0, |ev| ev.ts);
        let flood = Event {
            name: "flood".to_string(),
            ts,
            conn: None,
            args: Vec::new(),
        };
        let chunk = vec![flood; EVENTS_PER_RAISE];
        for _ in 0..RAISES {
            let _ = events::raise(&chunk);
        }
    }
}

sandpiper_sdk::export_handler!(HostileFlood);
