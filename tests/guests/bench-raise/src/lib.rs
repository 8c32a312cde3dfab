//! Bench: raises every event of its batch back to the host in one `events::raise` call, to
//! measure the cost of an event crossing from guest to host.

use sandpiper_sdk::types::Event;
use sandpiper_sdk::{events, Handler};

#[derive(Default)]
struct Echo;

impl Handler for Echo {
    fn handle(&mut self, batch: Vec<Event>) {
        if !batch.is_empty() {
            events::raise(&batch).expect("the host accepts the batch");
        }
    }
}

sandpiper_sdk::export_handler!(Echo);
