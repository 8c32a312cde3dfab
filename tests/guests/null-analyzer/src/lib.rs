//! Bench: a protocol analyzer that counts the bytes delivered to it, confirms on the first data
//! and logs nothing (measures the host->guest call cost).

use core::hint::black_box;

use sandpiper_sdk::types::ConnInfo;
use sandpiper_sdk::{analysis, Analyzer};

struct NullAnalyzer {
    bytes: u64,
    confirmed: bool,
}

impl Analyzer for NullAnalyzer {
    fn new(_conn: ConnInfo) -> Self {
        NullAnalyzer {
            bytes: 0,
            confirmed: false,
        }
    }

    fn deliver(&mut self, _is_orig: bool, data: &[u8]) {
        self.bytes += data.len() as u64;
        if !self.confirmed {
            self.confirmed = true;
            analysis::confirm();
        }
    }

    fn finish(&mut self) {
        black_box(self.bytes);
    }
}

sandpiper_sdk::export_analyzer!(NullAnalyzer);
