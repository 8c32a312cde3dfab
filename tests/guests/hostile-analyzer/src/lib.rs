//! Test guest: an HTTP-port analyzer that panics (a trap) on the first data of every connection
//! whose originator port is odd, and confirms the others. With per-connection isolation only
//! the connections it panics on lose the analyzer.

use sandpiper_sdk::types::ConnInfo;
use sandpiper_sdk::{analysis, Analyzer};

struct Hostile {
    odd: bool,
}

impl Analyzer for Hostile {
    fn new(conn: ConnInfo) -> Self {
        Hostile {
            odd: conn.id.orig_p.number % 2 == 1,
        }
    }

    fn deliver(&mut self, _is_orig: bool, _data: &[u8]) {
        if self.odd {
            panic!("odd originator port");
        }
        analysis::confirm();
    }
}

sandpiper_sdk::export_analyzer!(Hostile);
