//! Bench: a parsing workload. Splits delivered data into CRLF lines, splits each line into a
//! header name and value, lower-cases the name and hashes both, the way a header parser
//! touches every byte. Used to measure what fuel metering and epoch checks cost.

use core::hint::black_box;

use sandpiper_sdk::types::ConnInfo;
use sandpiper_sdk::Analyzer;

struct HeaderParser {
    headers: u64,
    hash: u64,
}

fn fnv(mut h: u64, bytes: impl Iterator<Item = u8>) -> u64 {
    for b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

impl Analyzer for HeaderParser {
    fn new(_conn: ConnInfo) -> Self {
        HeaderParser {
            headers: 0,
            hash: 0xcbf2_9ce4_8422_2325,
        }
    }

    fn deliver(&mut self, _is_orig: bool, data: &[u8]) {
        for line in data.split(|&b| b == b'\n') {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                continue;
            };
            let (name, value) = (&line[..colon], &line[colon + 1..]);
            let value = value.trim_ascii();
            self.hash = fnv(self.hash, name.iter().map(u8::to_ascii_lowercase));
            self.hash = fnv(self.hash, value.iter().copied());
            self.headers += 1;
        }
        black_box(self.hash);
    }
}

sandpiper_sdk::export_analyzer!(HeaderParser);
