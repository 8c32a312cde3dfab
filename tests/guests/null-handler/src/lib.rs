//! Bench: an event handler that does nothing (measures the cost of delivering a batch).

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct NullHandler;

impl Handler for NullHandler {
    fn handle(&mut self, _batch: Vec<Event>) {}
}

sandpiper_sdk::export_handler!(NullHandler);
