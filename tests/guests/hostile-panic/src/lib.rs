//! Hostile: panics on every batch.

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct HostilePanic;

impl Handler for HostilePanic {
    fn handle(&mut self, _batch: Vec<Event>) {
        panic!("hostile guest panicked on purpose");
    }
}

sandpiper_sdk::export_handler!(HostilePanic);
