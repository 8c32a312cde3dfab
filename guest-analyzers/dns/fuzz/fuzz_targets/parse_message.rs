//! Fuzzes the DNS parser and the per-connection state machine with arbitrary bytes: as one
//! message under each parsing option, as a sequence of UDP datagrams, and as two TCP streams cut
//! into chunks (with gaps and early ends), then builds every dns.log row and event.
#![no_main]

use dns::parser::{parse_message, Options};
use dns::session::{Effects, Session};
use libfuzzer_sys::fuzz_target;
use sandpiper_sdk::types::{ConnId, ConnInfo, IpAddress, Port, Transport};

fn conn(tcp: bool, resp_port: u16) -> ConnInfo {
    let proto = if tcp { Transport::Tcp } else { Transport::Udp };
    ConnInfo::fresh(
        "Cfuzz",
        ConnId {
            orig_h: IpAddress::V4((10, 0, 0, 1)),
            orig_p: Port {
                number: 40000,
                proto,
            },
            resp_h: IpAddress::V4((10, 0, 0, 2)),
            resp_p: Port {
                number: resp_port,
                proto,
            },
        },
        0.0,
    )
}

/// Builds what the host would get, so row and event construction is exercised too.
fn consume(info: &ConnInfo, netbios: bool, fx: Effects) {
    for row in &fx.rows {
        let r = dns::log::row(info, row, netbios);
        assert!(r.len() >= 26);
    }
    for ev in &fx.events {
        let _ = dns::log::event(info, ev);
    }
    assert!(fx.weirds.len() <= 512);
}

fuzz_target!(|data: &[u8]| {
    // One message, every option combination.
    for netbios in [false, true] {
        for skip in [false, true] {
            let opts = Options {
                netbios,
                udp: true,
                skip_all_auth: skip,
                skip_all_addl: skip,
            };
            let _ = parse_message(data, &opts);
        }
    }
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let port = [53, 137, 5353, 5355][usize::from(ctl & 3)];
    let step = usize::from(ctl >> 2) + 1;

    // UDP: datagrams of `step` bytes, alternating directions.
    let info = conn(false, port);
    let mut s = Session::new(false, port);
    for (i, dgram) in rest.chunks(step * 8).enumerate() {
        consume(&info, s.netbios(), s.deliver(i % 2 == 0, dgram, i as f64));
    }
    consume(&info, s.netbios(), s.finish());

    // TCP: the same bytes as both streams, cut into chunks of varying size; a gap now and then.
    let info = conn(true, port);
    let mut s = Session::new(true, port);
    let mut at = 0;
    let mut i = 0usize;
    while at < rest.len() {
        let len = (step + i * 7) % 97 + 1;
        let chunk = &rest[at..(at + len).min(rest.len())];
        let orig = i % 3 != 2;
        consume(&info, s.netbios(), s.deliver(orig, chunk, i as f64));
        if ctl == 0xff && i == 5 {
            s.gap(orig);
        }
        at += len;
        i += 1;
    }
    consume(&info, s.netbios(), s.end_of_data(true));
    consume(&info, s.netbios(), s.finish());
});
