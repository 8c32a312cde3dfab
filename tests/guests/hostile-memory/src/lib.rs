//! Hostile: allocates and touches 1 MiB chunks without bound on every batch; the memory ceiling
//! (32 MiB in its manifest) must stop it.

use core::hint::black_box;

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct HostileMemory;

impl Handler for HostileMemory {
    fn handle(&mut self, _batch: Vec<Event>) {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(black_box(vec![0xa5; 1 << 20]));
            black_box(&mut hoard);
        }
    }
}

sandpiper_sdk::export_handler!(HostileMemory);
