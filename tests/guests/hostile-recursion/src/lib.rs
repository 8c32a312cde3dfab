//! Hostile: recurses without bound on every batch; exhausting the call stack must trap, not crash
//! the host.

use core::hint::black_box;

use sandpiper_sdk::types::Event;
use sandpiper_sdk::Handler;

#[derive(Default)]
struct HostileRecursion;

/// Never returns in practice: the depth that would end it is unreachable. The work after the
/// call (through `black_box`) keeps it from becoming a loop, and the frame stays small so that
/// Wasm's call stack (the host's stack limit) runs out before the 1 MiB shadow stack in linear
/// memory does.
#[inline(never)]
fn dive(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = dive(depth + 1);
    black_box(below ^ depth)
}

impl Handler for HostileRecursion {
    fn handle(&mut self, _batch: Vec<Event>) {
        black_box(dive(0));
    }
}

sandpiper_sdk::export_handler!(HostileRecursion);
