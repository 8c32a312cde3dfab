//! Hostile: loops forever on every batch; the fuel limit (10M in its manifest) must stop it.

use core::hint::black_box;

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct HostileLoop;

impl Handler for HostileLoop {
    fn handle(&mut self, _batch: Vec<Event>) {
        let mut n = 0u64;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

sandpiper_sdk::export_handler!(HostileLoop);
