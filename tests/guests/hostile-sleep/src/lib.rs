//! Hostile: spins forever on every batch with unlimited fuel (`fuel = 0`), so only the wall-clock
//! (epoch) limit of 50 ms stops it.

use core::hint::black_box;

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct HostileSleep;

impl Handler for HostileSleep {
    fn handle(&mut self, _batch: Vec<Event>) {
        let mut n = 0u64;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

sandpiper_sdk::export_handler!(HostileSleep);
