//! Fuzzes the SSH parsers and the per-connection state machine with arbitrary bytes: the
//! input is cut into segments of both directions (the first byte of each piece says which
//! side and how long), after valid identification lines or not, then every ssh.log row and
//! event is built.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sandpiper_sdk::types::{ConnId, ConnInfo, IpAddress, Port, Transport};
use ssh::session::{Effects, Session};

fn conn() -> ConnInfo {
    let port = |number| Port {
        number,
        proto: Transport::Tcp,
    };
    ConnInfo::fresh(
        "Cfuzz",
        ConnId {
            orig_h: IpAddress::V4((10, 0, 0, 1)),
            orig_p: port(40000),
            resp_h: IpAddress::V4((10, 0, 0, 2)),
            resp_p: port(22),
        },
        0.0,
    )
}

fn consume(info: &ConnInfo, fx: Effects) {
    for row in fx.rows {
        assert_eq!(ssh::log::into_row(info, row, None).len(), 18);
    }
    for (ts, ev) in fx.events {
        let _ = ssh::log::into_event(info, ts, ev);
    }
    assert!(fx.weirds.len() <= 16);
}

fuzz_target!(|data: &[u8]| {
    let info = conn();
    for preamble in [false, true] {
        let mut s = Session::new(true, false, false);
        if preamble {
            consume(&info, s.deliver(false, b"SSH-2.0-server\r\n", 0.0));
            consume(&info, s.deliver(true, b"SSH-2.0-client\r\n", 0.0));
        }
        let mut rest = data;
        while let Some((&head, tail)) = rest.split_first() {
            let n = (head as usize >> 1).min(tail.len()).max(1).min(tail.len());
            let (piece, more) = tail.split_at(n);
            consume(&info, s.deliver(head & 1 == 0, piece, 1.0));
            rest = more;
            if n == 0 {
                break;
            }
        }
        consume(&info, s.finish());
    }
    let _ = ssh::parser::kexinit(data);
    let _ = ssh::parser::ssh2_packet(data);
});
