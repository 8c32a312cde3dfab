//! Every conn_state and every history letter, driven through the flow table
//! with synthetic segments (addresses and sequence numbers as on the wire).

use std::net::IpAddr;

use crate::decode::{tcp_flags as F, IpPacket, TcpSegment};
use crate::flow::ports::ServerPorts;
use crate::flow::table::{ConnSink, ConnTable, PacketMeta, TableConfig};
use crate::flow::uid::UidGen;
use crate::flow::Conn;

#[derive(Default)]
struct Collect {
    conns: Vec<Conn>,
    weirds: Vec<&'static str>,
}

impl ConnSink for Collect {
    fn conn_done(&mut self, c: &mut Conn) {
        self.conns.push(c.clone());
    }
    fn weird(&mut self, _ts: i64, _c: Option<&Conn>, name: &'static str, _addl: &str) {
        self.weirds.push(name);
    }
}

const CLIENT: &str = "10.0.0.1";
const SERVER: &str = "10.0.0.2";
const CISN: u32 = 1000;
const SISN: u32 = 5000;

struct Sim {
    table: ConnTable,
    sink: Collect,
    ts: i64,
    /// The client's and the server's ports.
    ports: (u16, u16),
}

/// One segment: who sends, flags, relative seq/ack (added to the ISNs), payload length.
struct Seg {
    from_client: bool,
    flags: u8,
    seq: u32,
    ack: u32,
    len: u32,
    window: u16,
    checksum_ok: bool,
}

fn seg(from_client: bool, flags: u8, seq: u32, ack: u32, len: u32) -> Seg {
    Seg {
        from_client,
        flags,
        seq,
        ack,
        len,
        window: 1024,
        checksum_ok: true,
    }
}

impl Sim {
    fn new() -> Self {
        Sim {
            table: ConnTable::new(
                TableConfig::default(),
                UidGen::new(Some(1)),
                ServerPorts::default(),
            ),
            sink: Collect::default(),
            ts: 1_000_000_000,
            ports: (1234, 80),
        }
    }

    fn send(&mut self, s: Seg) {
        self.ts += 1000;
        let (cp, sp) = self.ports;
        let (src, dst, sp, dp, isn, peer_isn) = if s.from_client {
            (CLIENT, SERVER, cp, sp, CISN, SISN)
        } else {
            (SERVER, CLIENT, sp, cp, SISN, CISN)
        };
        let payload = vec![b'x'; s.len as usize];
        let ip = IpPacket {
            src: src.parse::<IpAddr>().unwrap(),
            dst: dst.parse::<IpAddr>().unwrap(),
            proto: 6,
            ip_len: 40 + s.len,
            header: &[],
            payload: &[],
            payload_len: 20 + s.len,
            frag: None,
            ttl: 64,
        };
        let t = TcpSegment {
            sport: sp,
            dport: dp,
            seq: isn.wrapping_add(s.seq),
            ack: if s.flags & F::ACK != 0 {
                peer_isn.wrapping_add(s.ack)
            } else {
                0
            },
            flags: s.flags,
            window: s.window,
            options: &[],
            payload: &payload,
            payload_len: s.len,
        };
        let meta = PacketMeta {
            ts: self.ts,
            tunnel_parent: None,
            vlan: None,
            inner_vlan: None,
        };
        self.table
            .tcp(&meta, &ip, &t, s.checksum_ok, &mut self.sink);
    }

    fn finish(mut self) -> (Conn, Collect) {
        self.table.flush_all(&mut self.sink);
        assert_eq!(self.sink.conns.len(), 1, "expected one connection");
        (self.sink.conns[0].clone(), self.sink)
    }
}

fn run(segs: Vec<Seg>) -> Conn {
    let mut sim = Sim::new();
    for s in segs {
        sim.send(s);
    }
    sim.finish().0
}

const SYN: u8 = F::SYN;
const SA: u8 = F::SYN | F::ACK;
const A: u8 = F::ACK;
const PA: u8 = F::PSH | F::ACK;
const FA: u8 = F::FIN | F::ACK;
const R: u8 = F::RST;
const RA: u8 = F::RST | F::ACK;

fn handshake() -> Vec<Seg> {
    vec![
        seg(true, SYN, 0, 0, 0),
        seg(false, SA, 0, 1, 0),
        seg(true, A, 1, 1, 0),
    ]
}

fn check(c: &Conn, state: &str, history: &str) {
    assert_eq!((c.conn_state(), c.history.as_str()), (state, history));
}

#[test]
fn s0_unanswered_syn() {
    let c = run(vec![seg(true, SYN, 0, 0, 0)]);
    check(&c, "S0", "S");
    assert_eq!(c.orig.pkts, 1);
    assert_eq!(c.resp.pkts, 0);
}

#[test]
fn rej_syn_answered_by_rst() {
    check(
        &run(vec![seg(true, SYN, 0, 0, 0), seg(false, RA, 0, 1, 0)]),
        "REJ",
        "Sr",
    );
}

#[test]
fn s1_established_not_closed() {
    check(&run(handshake()), "S1", "ShA");
}

#[test]
fn sf_normal_close_with_byte_counts() {
    let mut s = handshake();
    s.push(seg(true, PA, 1, 1, 10));
    s.push(seg(false, PA, 1, 11, 20));
    s.push(seg(true, FA, 11, 21, 0));
    s.push(seg(false, FA, 21, 12, 0));
    s.push(seg(true, A, 12, 22, 0));
    let c = run(s);
    check(&c, "SF", "ShADdFf");
    assert_eq!(c.bytes(), (10, 20));
    assert_eq!((c.orig.pkts, c.resp.pkts), (5, 3));
    assert_eq!(c.orig.ip_bytes, 40 * 5 + 10);
}

#[test]
fn s2_and_s3_half_closed() {
    let mut s = handshake();
    s.push(seg(true, FA, 1, 1, 0));
    check(&run(s), "S2", "ShAF");
    let mut s = handshake();
    s.push(seg(false, FA, 1, 1, 0));
    check(&run(s), "S3", "ShAf");
}

#[test]
fn rsto_and_rstr() {
    let mut s = handshake();
    s.push(seg(true, R, 1, 0, 0));
    check(&run(s), "RSTO", "ShAR");
    let mut s = handshake();
    s.push(seg(false, R, 1, 0, 0));
    check(&run(s), "RSTR", "ShAr");
}

#[test]
fn rstos0_syn_then_rst() {
    check(
        &run(vec![seg(true, SYN, 0, 0, 0), seg(true, R, 1, 0, 0)]),
        "RSTOS0",
        "SR",
    );
}

#[test]
fn rstrh_synack_then_rst_from_responder() {
    // The SYN-ACK comes first: Zeek flips so the server (port 80) is the responder.
    let c = run(vec![seg(false, SA, 0, 1, 0), seg(false, R, 1, 0, 0)]);
    assert_eq!(c.conn_state(), "RSTRH");
    assert_eq!(c.history.as_str(), "^hr");
    assert_eq!(c.orig_h.to_string(), CLIENT);
}

/// A SYN-ACK first from a port the heuristic does not trust (both ports are likely server
/// ports here, as 8000 and 1080 in Zeek's core.local-flip): no flip yet, in case it is a
/// stealth scan.
fn syn_ack_first_between_server_ports(rest: Vec<Seg>) -> Conn {
    let mut sim = Sim::new();
    sim.ports = (1080, 8000);
    sim.send(seg(false, SA, 0, 1, 0));
    for s in rest {
        sim.send(s);
    }
    sim.finish().0
}

#[test]
fn a_syn_ack_followed_by_an_ack_flips_from_the_start() {
    let c = syn_ack_first_between_server_ports(vec![
        seg(true, A, 1, 1, 0),
        seg(true, PA, 1, 1, 10),
        seg(false, A, 1, 11, 0),
        seg(true, FA, 11, 1, 0),
        seg(false, FA, 1, 12, 0),
        seg(true, A, 12, 2, 0),
    ]);
    assert_eq!(c.orig_h.to_string(), CLIENT);
    assert_eq!((c.orig_p, c.resp_p), (1080, 8000));
    check(&c, "SF", "^hADaFf");
    assert_eq!((c.orig.pkts, c.resp.pkts), (4, 3));
    assert_eq!(c.bytes(), (10, 0));
}

#[test]
fn a_syn_ack_followed_by_its_senders_data_flips_too() {
    // Only the server is seen (a one-sided capture): its data after the SYN-ACK flips.
    let c = syn_ack_first_between_server_ports(vec![seg(false, PA, 1, 1, 10)]);
    assert_eq!(c.orig_h.to_string(), CLIENT);
    assert_eq!(c.history.as_str(), "^hd");
    assert_eq!((c.orig.pkts, c.resp.pkts), (0, 2));
}

#[test]
fn a_syn_ack_answered_by_a_reset_stays_unflipped() {
    // What a stealth scan's SYN-ACK draws: the roles as first seen are kept.
    let c = syn_ack_first_between_server_ports(vec![seg(true, R, 1, 0, 0)]);
    assert_eq!(c.orig_h.to_string(), SERVER);
    assert_eq!(c.history.as_str(), "Hr");
}

#[test]
fn a_cut_header_makes_the_connection_but_counts_nothing() {
    // Zeek's core.vntag-in-vlan: the SYN-ACK's options were cut by the snapshot length.
    let mut sim = Sim::new();
    sim.ports = (1080, 8000);
    let ip = IpPacket {
        src: SERVER.parse::<IpAddr>().unwrap(),
        dst: CLIENT.parse::<IpAddr>().unwrap(),
        proto: 6,
        ip_len: 60,
        header: &[],
        payload: &[],
        payload_len: 40,
        frag: None,
        ttl: 64,
    };
    let t = TcpSegment {
        sport: 8000,
        dport: 1080,
        seq: SISN,
        ack: CISN + 1,
        flags: SA,
        window: 1024,
        options: &[],
        payload: &[],
        payload_len: 0,
    };
    let meta = PacketMeta {
        ts: sim.ts,
        tunnel_parent: None,
        vlan: None,
        inner_vlan: None,
    };
    sim.table
        .tcp_header_only(&meta, &ip, &t, "truncated_header", &mut sim.sink);
    let (c, sink) = sim.finish();
    assert_eq!(sink.weirds, ["truncated_header"]);
    check(&c, "OTH", "");
    assert_eq!((c.orig.pkts, c.resp.pkts), (0, 0));
    assert_eq!(c.orig_h.to_string(), SERVER);
}

#[test]
fn sh_syn_then_fin() {
    check(
        &run(vec![seg(true, SYN, 0, 0, 0), seg(true, F::FIN, 1, 0, 0)]),
        "SH",
        "SF",
    );
}

#[test]
fn shr_synack_then_fin_from_responder() {
    let c = run(vec![seg(false, SA, 0, 1, 0), seg(false, FA, 1, 1, 0)]);
    assert_eq!(c.conn_state(), "SHR");
    assert_eq!(c.history.as_str(), "^hf");
}

#[test]
fn oth_midstream() {
    let c = run(vec![seg(true, PA, 1, 1, 10), seg(false, A, 1, 11, 0)]);
    assert_eq!(c.conn_state(), "OTH");
    assert_eq!(c.history.as_str(), "Da");
}

#[test]
fn c_bad_checksum_only() {
    let mut bad = seg(true, SYN, 0, 0, 0);
    bad.checksum_ok = false;
    let c = run(vec![bad]);
    check(&c, "OTH", "C");
    assert_eq!(c.orig.pkts, 0, "bad-checksum packets are not counted");
}

#[test]
fn g_content_gap_counts_missed_bytes() {
    let mut s = handshake();
    s.push(seg(true, PA, 1, 1, 10));
    // bytes 11..21 never seen
    s.push(seg(true, PA, 21, 1, 10));
    s.push(seg(false, A, 1, 31, 0));
    let c = run(s);
    assert_eq!(c.history.as_str(), "ShADaG");
    assert_eq!(c.missed_bytes, 10);
    assert_eq!(c.bytes().0, 30);
}

#[test]
fn t_retransmissions_on_log10_scale() {
    let mut s = handshake();
    s.push(seg(true, PA, 1, 1, 10));
    for _ in 0..10 {
        s.push(seg(true, PA, 1, 1, 10));
    }
    let c = run(s);
    assert_eq!(c.history.as_str(), "ShADTT");
}

#[test]
fn w_zero_window() {
    let mut s = handshake();
    let mut z = seg(false, A, 1, 1, 0);
    z.window = 0;
    s.push(z);
    assert_eq!(run(s).history.as_str(), "ShAaw");
}

#[test]
fn i_fin_rst_and_q_multi_flag() {
    let mut s = handshake();
    s.push(seg(true, F::FIN | F::RST | F::ACK, 1, 1, 0));
    assert!(run(s).history.as_str().ends_with('I'));
    let c = run(vec![seg(true, F::SYN | F::FIN, 0, 0, 0)]);
    assert_eq!(c.history.as_str(), "Q");
}

#[test]
fn lower_case_for_responder_letters() {
    let mut s = handshake();
    s.push(seg(false, PA, 1, 1, 5));
    s.push(seg(false, PA, 1, 1, 5)); // retransmission from the responder
    let mut bad = seg(false, A, 6, 1, 0);
    bad.checksum_ok = false;
    s.push(bad);
    assert_eq!(run(s).history.as_str(), "ShAdtc");
}

#[test]
fn f_repeated_only_with_new_sequence_number() {
    let mut s = handshake();
    s.push(seg(true, FA, 1, 1, 0));
    s.push(seg(true, FA, 1, 1, 0)); // same FIN again: not repeated
    assert_eq!(run(s).history.as_str(), "ShAF");
    let mut s = handshake();
    s.push(seg(true, FA, 1, 1, 0));
    s.push(seg(true, FA, 5, 1, 0)); // a FIN at another sequence number
    assert_eq!(run(s).history.as_str(), "ShAFF");
}

#[test]
fn r_repeated_only_with_new_sequence_number() {
    let mut s = handshake();
    s.push(seg(false, R, 1, 0, 0));
    s.push(seg(false, R, 1, 0, 0));
    assert_eq!(run(s).history.as_str(), "ShAr");
    let mut s = handshake();
    s.push(seg(false, R, 1, 0, 0));
    s.push(seg(false, R, 7, 0, 0));
    assert_eq!(run(s).history.as_str(), "ShArr");
}

#[test]
fn caret_flip_when_first_seen_from_server_port() {
    // mid-stream data from port 80 first: the server becomes the responder
    let c = run(vec![seg(false, PA, 1, 1, 10), seg(true, A, 1, 11, 0)]);
    assert_eq!(c.history.as_str(), "^dA");
    assert_eq!(c.orig_h.to_string(), CLIENT);
    assert_eq!(c.resp_p, 80);
}

#[test]
fn new_syn_after_close_is_a_new_connection() {
    let mut sim = Sim::new();
    for s in handshake() {
        sim.send(s);
    }
    sim.send(seg(true, R, 1, 0, 0));
    sim.send(Seg {
        seq: 100,
        ..seg(true, SYN, 100, 0, 0)
    });
    sim.table.flush_all(&mut sim.sink);
    assert_eq!(sim.sink.conns.len(), 2);
}

#[test]
fn unanswered_syn_times_out_after_attempt_delay() {
    let mut sim = Sim::new();
    sim.send(seg(true, SYN, 0, 0, 0));
    sim.ts += 6_000_000;
    let now = sim.ts;
    sim.table.advance(now, &mut sim.sink);
    assert_eq!(sim.sink.conns.len(), 1);
    assert_eq!(sim.sink.conns[0].conn_state(), "S0");
}

#[test]
fn after_the_end_of_input_flush_the_same_ports_make_a_new_connection() {
    // flush_all empties the index whole instead of entry by entry: nothing of the flushed
    // connection may be found again.
    let mut sim = Sim::new();
    for s in handshake() {
        sim.send(s);
    }
    sim.table.flush_all(&mut sim.sink);
    assert_eq!(sim.sink.conns.len(), 1);
    assert_eq!(sim.table.len(), 0);
    for s in handshake() {
        sim.send(s);
    }
    sim.send(seg(true, F::ACK, 1, 1, 10));
    sim.table.flush_all(&mut sim.sink);
    assert_eq!(sim.sink.conns.len(), 2);
    let (first, second) = (&sim.sink.conns[0], &sim.sink.conns[1]);
    assert_ne!(first.uid, second.uid);
    assert_eq!(first.orig.pkts, 2);
    assert_eq!(
        second.orig.pkts, 3,
        "the second connection counts only its own packets"
    );
}
