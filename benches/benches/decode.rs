//! Decoding cost per frame: link layer, IP, transport header, transport checksum.
//!
//! Frames are loaded once from corpus traces (../../shared/corpus/zeek/traces);
//! throughput is reported in bytes of captured frames.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sandpiper::decode::ip::{decode_ipv4, decode_ipv6};
use sandpiper::decode::{decode_link, decode_transport, transport_checksum_ok, L3Kind, Transport};

mod common;
use common::Frame;

/// What the engine does per frame before the flow table. Returns a value derived
/// from every stage so nothing is optimised away.
#[inline]
fn decode_one(f: &Frame, checksums: bool) -> u64 {
    let Ok(link) = decode_link(f.dlt, &f.data) else {
        return 1;
    };
    let snap_cut = (f.data.len() as u32) < f.wire_len;
    let ip = match link.kind {
        L3Kind::Ipv4 => decode_ipv4(link.l3, checksums, snap_cut),
        L3Kind::Ipv6 => decode_ipv6(link.l3, snap_cut),
        L3Kind::Other => return 2,
    };
    let Ok(ip) = ip else {
        return 3;
    };
    if ip.frag.is_some() {
        return 4;
    }
    let Ok(t) = decode_transport(&ip) else {
        return 5;
    };
    let ok = !checksums || transport_checksum_ok(&ip);
    let port = match t {
        Transport::Tcp(s) | Transport::TcpHeaderOnly(s, _) => s.sport as u64 ^ s.seq as u64,
        Transport::Udp(u) => u.dport as u64,
        Transport::Icmp(m) => m.icmp_type as u64,
        Transport::Other => 0,
    };
    port.wrapping_add(ok as u64)
        .wrapping_add(ip.payload_len as u64)
}

fn run(c: &mut Criterion, name: &str, frames: &[Frame]) {
    let mut g = c.benchmark_group(format!("decode/{name}"));
    g.throughput(Throughput::Bytes(common::total_bytes(frames)));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for (label, checksums) in [("full", true), ("no_checksum", false)] {
        g.bench_function(label, |b| {
            b.iter(|| {
                let mut acc = 0u64;
                for f in frames {
                    acc = acc.wrapping_add(decode_one(black_box(f), checksums));
                }
                acc
            })
        });
    }
    g.finish();
    eprintln!(
        "decode/{name}: {} frames, {} bytes (avg {} B/frame)",
        frames.len(),
        common::total_bytes(frames),
        common::total_bytes(frames) / frames.len().max(1) as u64
    );
}

fn benches(c: &mut Criterion) {
    // One HTTP GET (14 small frames), a bulk HTTP download (289 frames, mostly 1.5 kB),
    // and every corpus trace with a supported link type (IPv4/IPv6, VLAN, MPLS,
    // PPPoE, fragments, malformed test cases: the decoder's whole range).
    run(c, "http_get", &common::load_trace("http/get.pcap"));
    run(
        c,
        "iso_download",
        &common::load_trace("http/iso-download.pcap"),
    );
    run(c, "corpus", &common::corpus_stream());
}

criterion_group!(decode, benches);
criterion_main!(decode);
