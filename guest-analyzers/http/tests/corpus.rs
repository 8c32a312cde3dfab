//! The analyzer over Zeek's own test traces, compared with the http.log Zeek wrote for them
//! (shared/corpus/zeek). Records are paired per connection and transaction depth; uids and
//! timestamps are not compared, file ids only by count.

mod common;

use common::score_case;

/// Cases with an http.log baseline whose traces this helper decodes (tunnelled traffic is left
/// to the end-to-end run, where the host decapsulates it).
const CASES: &[(&str, &[&str])] = &[
    ("core.nflog", &["nflog-http.pcap"]),
    ("core.tcp-padding", &["tcp-http-with-padding.pcap"]),
    ("core.tcp.reassembly-known-ports", &["http/get.pcap"]),
    (
        "scripts.base.protocols.http.100-continue",
        &["http/100-continue.pcap"],
    ),
    (
        "scripts.base.protocols.http.261.cl-0-expect-100",
        &["http/261/variant-07-expect_100_cl0.pcap"],
    ),
    (
        "scripts.base.protocols.http.261.cl-negative",
        &["http/261/variant-03-cl_negative.pcap"],
    ),
    (
        "scripts.base.protocols.http.261.cl-uint64max",
        &["http/261/variant-02-cl_uint64max.pcap"],
    ),
    (
        "scripts.base.protocols.http.261.obsolete-line-fold",
        &["http/261/variant-09-te_obs_fold.pcap"],
    ),
    (
        "scripts.base.protocols.http.bad-content-range",
        &["http/http-bad-content-range-01.pcap"],
    ),
    (
        "scripts.base.protocols.http.concurrent-range-requests",
        &["http/concurrent-range-requests.pcap"],
    ),
    (
        "scripts.base.protocols.http.content-range-less-than-len",
        &["http/content-range-less-than-len.pcap"],
    ),
    (
        "scripts.base.protocols.http.curl-http-09",
        &["http/curl_http_09.pcap"],
    ),
    (
        "scripts.base.protocols.http.fake-content-length",
        &["http/fake-content-length.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-09",
        &["http/http_09.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-09-content-length-confusion",
        &["http/http-09-content-length-confusion.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-11-request-then-cruft",
        &["http/http-11-request-then-cruft.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-bad-request-with-version",
        &["http/http-bad-request-with-version.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-basic-auth-extra-space",
        &["http/basic-auth-with-extra-space.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-connect",
        &["http/connect-with-smtp.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-connect-with-header",
        &["http/connect-with-header.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-filename",
        &["http/http-filename.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-methods",
        &["http/methods.pcap"],
    ),
    (
        "scripts.base.protocols.http.inner-transfer-encoding-reproducer",
        &["http/http-inner-transfer-encoding-reproducer.pcap"],
    ),
    (
        "scripts.base.protocols.http.m57-long-download-windowsupdate-1",
        &["http/m57-long-49583-80.pcap"],
    ),
    (
        "scripts.base.protocols.http.m57-long-download-windowsupdate-2",
        &["http/m57-long-49600-80.pcap"],
    ),
    (
        "scripts.base.protocols.http.smuggle-http-request",
        &["http/smuggle-http-request.pcap"],
    ),
    (
        "scripts.base.protocols.http.http-no-crlf",
        &["http/no_crlf.pcap"],
    ),
    (
        "scripts.base.protocols.http.multipart-file-limit",
        &["http/multipart.pcap"],
    ),
    ("scripts.base.protocols.http.no-uri", &["http/no-uri.pcap"]),
    (
        "scripts.base.protocols.http.no-version",
        &["http/no-version.pcap"],
    ),
    (
        "scripts.base.protocols.http.percent-end-of-line",
        &["http/percent-end-of-line.pcap"],
    ),
    (
        "scripts.base.protocols.http.query-method",
        &["http/query-method.pcap"],
    ),
    (
        "scripts.base.protocols.http.query-method-non-standard-port",
        &["http/query-method-non-standard-port.pcap"],
    ),
    (
        "scripts.base.protocols.http.version-mismatch",
        &["http/version-mismatch.pcap"],
    ),
    ("scripts.base.protocols.http.x-gzip", &["http/x-gzip.pcap"]),
    ("scripts.base.protocols.snap.snap-tcp", &["snap-tcp.pcap"]),
];

#[test]
fn corpus_scores() {
    let (mut equal, mut total) = (0, 0);
    let mut report = String::new();
    for (case, traces) in CASES {
        let (e, t, diffs) = score_case(case, traces);
        equal += e;
        total += t;
        report.push_str(&format!(
            "{:>7.2}% {case}\n",
            100.0 * e as f64 / t.max(1) as f64
        ));
        for d in diffs.iter().take(6) {
            report.push_str(&format!("          {d}\n"));
        }
    }
    let score = equal as f64 / total.max(1) as f64;
    println!("{report}overall {:.2}% ({equal}/{total})", 100.0 * score);
    assert!(
        score >= 0.95,
        "http.log agreement {score:.4} below 0.95\n{report}"
    );
}

/// The same real streams delivered in pieces of 1, 7 and 1460 bytes give the same records.
#[test]
fn corpus_streams_split_anywhere() {
    use common::{corpus, is_http, render, run_steps, tcp_conns};
    let mut conns = 0;
    for (_, traces) in CASES {
        for t in *traces {
            for c in tcp_conns(&corpus().join("traces").join(t)) {
                if !is_http(&c) {
                    continue;
                }
                conns += 1;
                let rows = |split| {
                    let mut r: Vec<Vec<(String, String)>> = run_steps(&c, "C", split)
                        .rows
                        .iter()
                        .map(|i| {
                            let mut v: Vec<_> = render(&c, i).into_iter().collect();
                            v.sort();
                            v
                        })
                        .collect();
                    r.sort();
                    r
                };
                let whole = rows(0);
                for split in [1, 7, 1460] {
                    assert_eq!(rows(split), whole, "{t} {:?} split into {split}", c.orig);
                }
            }
        }
    }
    assert!(
        conns > 50,
        "only {conns} HTTP connections found in the corpus"
    );
}
