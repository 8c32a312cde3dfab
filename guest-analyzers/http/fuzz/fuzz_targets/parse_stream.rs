//! Arbitrary bytes, cut into deliveries to both directions of one connection (with gaps and
//! ends of data), through the whole analyzer: state machine, script, log rows.
//!
//! Input format, repeated: one control byte (bit 0: direction, bits 1-2: 0 deliver, 1 gap,
//! 2 end of data, 3 deliver), one length byte, then that many data bytes for a delivery or the
//! gap's length itself. The connection is finished at the end of the input.
#![no_main]

use http::event::Event;
use http::script::{ConnMeta, Host, Info, Script};
use http::state::Http;
use libfuzzer_sys::fuzz_target;
use sandpiper_sdk::types::{ConnId, ConnInfo, IpAddress, Port};

/// Checks what the analyzer hands over, as the host would.
struct Checked {
    conn: ConnInfo,
    rows: usize,
    file_bytes: u64,
}

impl Host for Checked {
    fn network_time(&mut self) -> f64 {
        1.0
    }
    fn log(&mut self, info: Info) {
        // Every record must make a row of the schema's shape: 30 columns, containers expanded.
        let row = http::log::into_row(&self.conn, info);
        assert!(row.len() >= 30);
        self.rows += 1;
    }
    fn raise(&mut self, ev: &Event<'_>) {
        let _ = http::event_args(ev);
    }
    fn weird(&mut self, name: &'static str, _addl: &[u8]) {
        assert!(!name.is_empty());
    }
    fn confirm(&mut self) {}
    fn violation(&mut self, _reason: &str, _data: &[u8]) {}
    fn file_begin(&mut self, _is_orig: bool, _mime: Option<&[u8]>, _size: Option<u64>) -> u32 {
        1
    }
    fn file_data(&mut self, _file: u32, data: &[u8]) {
        self.file_bytes += data.len() as u64;
    }
    fn file_end(&mut self, _file: u32) {}
}

fn conn() -> ConnInfo {
    ConnInfo::fresh(
        "CFuzz",
        ConnId {
            orig_h: IpAddress::V4((10, 0, 0, 1)),
            orig_p: Port::tcp(40000),
            resp_h: IpAddress::V4((10, 0, 0, 2)),
            resp_p: Port::tcp(80),
        },
        1.0,
    )
}

fuzz_target!(|input: &[u8]| {
    let meta = ConnMeta {
        uid: "CFuzz".into(),
        start: 1.0,
        orig_h: "10.0.0.1".into(),
        resp_host: "10.0.0.2".into(),
        resp_p: 80,
    };
    let mut http = Http::new();
    let checked = Checked {
        conn: conn(),
        rows: 0,
        file_bytes: 0,
    };
    let mut script = Script::new(meta, checked);
    let mut rest = input;
    while let [ctl, len, tail @ ..] = rest {
        let is_orig = ctl & 1 == 0;
        let n = usize::from(*len).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        match (ctl >> 1) & 3 {
            1 => http.gap(is_orig, u64::from(*len) * 7, &mut script),
            2 => http.end_of_data(is_orig, &mut script),
            _ => http.deliver(is_orig, chunk, &mut script),
        }
        rest = if (ctl >> 1) & 3 == 0 || (ctl >> 1) & 3 == 3 {
            after
        } else {
            tail
        };
    }
    http.finish(&mut script);
    script.finalize();
});
