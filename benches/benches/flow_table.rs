//! Per-packet cost of the whole native pipeline (`Engine::packet`: decode, flow
//! table, TCP state machine, timers, conn/weird logging), in two shapes:
//!
//! - `many_flows/corpus`: every corpus trace with a supported link type, one after
//!   the other (thousands of connections of all kinds created, looked up, expired
//!   and logged); with `BENCH_PCAP=/tmp/bench-200.pcap` also the first
//!   `BENCH_PCAP_PACKETS` (default 200,000) packets of that benchmark trace;
//! - `established/*`: one established TCP connection's mid-stream packets over and
//!   over: the pure lookup + state-update cost per packet. `continued` moves the
//!   sequence numbers forward every round (a long in-order transfer), `verbatim`
//!   feeds the same bytes again (retransmissions of acknowledged data).
//!
//! Packets are loaded into memory before measuring; criterion reports elements =
//! packets, so time/element is ns per packet.

use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use sandpiper::engine::{Engine, EngineConfig};

mod common;
use common::Frame;

fn engine(dir: &Path) -> Engine {
    Engine::new(EngineConfig {
        log_dir: dir.to_path_buf(),
        seed: Some(1),
        ..EngineConfig::default()
    })
}

fn many_flows(c: &mut Criterion, name: &str, frames: &[Frame]) {
    let dir = tempfile::tempdir().expect("tempdir");
    // Connections seen, for the record.
    let mut e = engine(dir.path());
    for f in frames {
        e.packet(f.ts, f.dlt, &f.data, f.wire_len);
    }
    let stats = e.finish().expect("logs");
    eprintln!(
        "flow_table/many_flows/{name}: {} packets, {} bytes, {} connections, {} weirds",
        stats.packets, stats.bytes, stats.connections, stats.weirds
    );

    let mut g = c.benchmark_group("flow_table/many_flows");
    g.throughput(Throughput::Elements(frames.len() as u64));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    g.bench_function(name, |b| {
        b.iter_batched(
            || engine(dir.path()),
            |mut e| {
                for f in frames {
                    e.packet(f.ts, f.dlt, &f.data, f.wire_len);
                }
                e // dropped (logs flushed) outside the measurement
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

/// Trace up to its first FIN/RST, and the mid-stream packets (no SYN/FIN/RST).
fn one_connection() -> (Vec<Frame>, Vec<Frame>) {
    let frames = common::load_trace("http/iso-download.pcap");
    let close = frames
        .iter()
        .position(|f| common::tcp_flags(&f.data) & 0x05 != 0)
        .expect("the connection closes");
    let mut warm = frames;
    let rest = warm.split_off(close);
    drop(rest);
    let mid = warm[10..]
        .iter()
        .filter(|f| common::tcp_flags(&f.data) & 0x07 == 0)
        .map(|f| Frame {
            dlt: f.dlt,
            ts: f.ts,
            data: f.data.clone(),
            wire_len: f.wire_len,
        })
        .collect();
    (warm, mid)
}

fn established(c: &mut Criterion) {
    let (warm, mid) = one_connection();
    let a_port = common::tcp_sport(&mid[0].data);
    let (mut sent_a, mut sent_b) = (0u32, 0u32);
    for f in &mid {
        if common::tcp_sport(&f.data) == a_port {
            sent_a += common::tcp_payload_len(&f.data);
        } else {
            sent_b += common::tcp_payload_len(&f.data);
        }
    }
    eprintln!(
        "flow_table/established: {} mid-stream packets per round ({} + {} payload bytes)",
        mid.len(),
        sent_a,
        sent_b
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let mut g = c.benchmark_group("flow_table/established");
    g.throughput(Throughput::Elements(1));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (label, continued) in [("continued", true), ("verbatim", false)] {
        g.bench_function(label, |b| {
            b.iter_custom(|iters| {
                let mut e = engine(dir.path());
                for f in &warm {
                    e.packet(f.ts, f.dlt, &f.data, f.wire_len);
                }
                let mut frames: Vec<Vec<u8>> = mid.iter().map(|f| f.data.clone()).collect();
                let mut ts = warm.last().unwrap().ts;
                let mut left = iters;
                let mut spent = Duration::ZERO;
                while left > 0 {
                    if continued {
                        // Next round of the stream, outside the measurement.
                        for f in frames.iter_mut() {
                            let (s, a) = if common::tcp_sport(f) == a_port {
                                (sent_a, sent_b)
                            } else {
                                (sent_b, sent_a)
                            };
                            common::advance_seq(f, s, a);
                        }
                    }
                    let n = (left as usize).min(frames.len());
                    let dlt = mid[0].dlt;
                    let t = Instant::now();
                    for (f, m) in frames[..n].iter().zip(&mid) {
                        ts += 10;
                        e.packet(ts, dlt, f, m.wire_len);
                    }
                    spent += t.elapsed();
                    left -= n as u64;
                }
                assert_eq!(e.live_connections(), 1);
                spent
            })
        });
    }
    g.finish();
}

fn benches(c: &mut Criterion) {
    established(c);
    many_flows(c, "corpus", &common::corpus_stream());
    if let Ok(p) = std::env::var("BENCH_PCAP") {
        let max: usize = std::env::var("BENCH_PCAP_PACKETS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200_000);
        let mut frames = common::load(Path::new(&p)).unwrap_or_else(|e| panic!("{e}"));
        frames.truncate(max);
        many_flows(c, "bench_pcap", &frames);
    }
}

criterion_group!(flow_table, benches);
criterion_main!(flow_table);
