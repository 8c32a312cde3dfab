//! Transaction tests over hand-built streams: the state machine and the script together, for
//! the framings and corner cases the corpus traces do not all cover. Every scenario is also
//! run with its deliveries cut into 1-, 7- and 1460-byte pieces and must give the same records.

use crate::testing::{lines, run, In, Rec};

/// Runs a scenario whole and split; all runs must log the same records.
fn check(steps: &[In]) -> Rec {
    let whole = run(steps, 0);
    for split in [1, 7, 1460] {
        assert_eq!(
            lines(&run(steps, split)),
            lines(&whole),
            "split into {split}-byte pieces"
        );
    }
    whole
}

#[test]
fn simple_get_with_content_length() {
    let rec = check(&[
        In::Orig(b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\nReferer: http://x/\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 25\r\n\r\n<html><body>hi</body></html>"),
    ]);
    assert_eq!(
        lines(&rec),
        ["1 GET example.com /index.html ver=1.1 req=0 resp=25 status=200 OK info=- - user=- proxied=None ofuids=0 omime=- rfuids=1 rfiles=None rmime=text/html"]
    );
    assert!(rec.confirmed);
    assert_eq!(
        rec.raised,
        [
            "http_request/4",
            "http_all_headers/9",
            "http_message_done/6",
            "http_reply/3",
            "http_all_headers/7",
            "http_message_done/6"
        ]
    );
    assert_eq!(
        (rec.files_begun, rec.file_bytes, rec.files_ended),
        (1, 25, 1)
    );
}

#[test]
fn pipelined_requests_match_replies_in_order() {
    let rec = check(&[
        In::Orig(b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nHEAD /b HTTP/1.1\r\nHost: h\r\n\r\nGET /c HTTP/1.1\r\nHost: h\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\naaa"),
        // A HEAD reply announces a length but has no body.
        In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n"),
        In::Resp(b"HTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nc"),
    ]);
    let l = lines(&rec);
    assert_eq!(l.len(), 3);
    assert!(
        l[0].starts_with("1 GET h /a ver=1.1 req=0 resp=3 status=200"),
        "{}",
        l[0]
    );
    assert!(
        l[1].starts_with("2 HEAD h /b ver=1.1 req=0 resp=0 status=200"),
        "{}",
        l[1]
    );
    assert!(
        l[2].starts_with("3 GET h /c ver=1.1 req=0 resp=1 status=404 Not Found"),
        "{}",
        l[2]
    );
}

#[test]
fn chunked_with_extensions_and_trailers() {
    let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                 5;name=value\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n";
    let rec = check(&[In::Orig(b"GET / HTTP/1.1\r\n\r\n"), In::Resp(body)]);
    assert_eq!(lines(&rec).len(), 1);
    assert_eq!(rec.rows[0].response_body_len, 12);
    // Split at every byte boundary in two deliveries.
    for i in 0..body.len() {
        let rec = run(
            &[
                In::Orig(b"GET / HTTP/1.1\r\n\r\n"),
                In::Resp(&body[..i]),
                In::Resp(&body[i..]),
            ],
            0,
        );
        assert_eq!(rec.rows.len(), 1, "split at {i}");
        assert_eq!(rec.rows[0].response_body_len, 12, "split at {i}");
    }
}

#[test]
fn chunked_needs_http_1_1_and_bad_sizes_end_the_body() {
    // HTTP/1.0 ignores Transfer-Encoding: the body runs to the end of the connection.
    let rec = check(&[
        In::Orig(b"GET / HTTP/1.0\r\n\r\n"),
        In::Resp(b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
        In::Eof(false),
    ]);
    assert_eq!(rec.rows[0].response_body_len, 15);
    let rec = check(&[
        In::Orig(b"GET / HTTP/1.1\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n"),
    ]);
    assert!(rec.weirds.contains(&"HTTP_bad_chunk_size".to_string()));
    assert_eq!(rec.rows[0].response_body_len, 0);
}

#[test]
fn informational_replies_and_expect_continue() {
    let rec = check(&[
        In::Orig(
            b"POST /up HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n",
        ),
        In::Resp(b"HTTP/1.1 100 Continue\r\n\r\n"),
        In::Orig(b"data"),
        In::Resp(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok"),
    ]);
    assert_eq!(
        lines(&rec),
        ["1 POST h /up ver=1.1 req=4 resp=2 status=201 Created info=100 Continue user=- proxied=None ofuids=1 omime=- rfuids=1 rfiles=None rmime=-"]
    );
}

#[test]
fn no_body_for_204_304_and_close_delimited_bodies() {
    let rec = check(&[
        In::Orig(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n"),
        In::Resp(b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nline one\nline two\n"),
        In::Eof(false),
    ]);
    let codes: Vec<_> = rec
        .rows
        .iter()
        .map(|r| (r.status_code, r.response_body_len))
        .collect();
    assert_eq!(codes, [(Some(204), 0), (Some(304), 0), (Some(200), 18)]);
}

#[test]
fn keep_alive_body_without_length_counts_lines() {
    // Zeek reads such a body line by line and counts two bytes per line end.
    let rec = check(&[
        In::Orig(b"GET / HTTP/1.1\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\n\r\nab\ncd"),
        In::Eof(false),
    ]);
    assert_eq!(rec.rows[0].response_body_len, 8);
}

#[test]
fn connect_tunnel_stops_parsing() {
    let rec = check(&[
        In::Orig(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nProxy-Connection: keep-alive\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 Connection established\r\n\r\n"),
        In::Orig(b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"),
        In::Resp(b"\x16\x03\x03\x00\x5d\x02\x00"),
    ]);
    assert_eq!(
        lines(&rec),
        ["1 CONNECT example.com:443 example.com:443 ver=1.1 req=0 resp=0 status=200 Connection established info=- - user=- proxied=Some({[80, 82, 79, 88, 89, 45, 67, 79, 78, 78, 69, 67, 84, 73, 79, 78, 32, 45, 62, 32, 107, 101, 101, 112, 45, 97, 108, 105, 118, 101]}) ofuids=0 omime=- rfuids=0 rfiles=None rmime=-"]
    );
    assert_eq!(rec.violation, None);
    // A refused CONNECT leaves the connection HTTP.
    let rec = check(&[
        In::Orig(b"CONNECT example.com:443 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"),
        In::Resp(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    assert_eq!(rec.rows.len(), 2);
}

#[test]
fn upgrade_switches_protocols() {
    let rec = check(&[
        In::Orig(b"GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"),
        In::Resp(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello"),
        In::Orig(b"\x81\x85\x00\x00\x00\x00hello"),
    ]);
    assert_eq!(rec.rows.len(), 1);
    assert_eq!(
        (rec.rows[0].status_code, rec.rows[0].info_code),
        (Some(101), Some(101))
    );
}

#[test]
fn http09_request_and_raw_reply() {
    let rec = check(&[
        In::Orig(b"GET /index.html\r\n"),
        In::Resp(b"<html>raw bytes</html>\n"),
        In::Eof(false),
    ]);
    let l = lines(&rec);
    assert!(
        l[0].starts_with("1 GET - /index.html ver=0.9 req=0 resp=23 status=0 <empty>"),
        "{}",
        l[0]
    );
}

#[test]
fn gzip_bodies_count_decompressed_bytes() {
    use miniz_oxide::deflate::compress_to_vec;
    let plain = b"The quick brown fox jumps over the lazy dog. ".repeat(40);
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend(compress_to_vec(&plain, 6));
    gz.extend([0u8; 8]);
    let mut reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
        gz.len()
    )
    .into_bytes();
    reply.extend(&gz);
    let rec = check(&[In::Orig(b"GET / HTTP/1.1\r\n\r\n"), In::Resp(&reply)]);
    assert_eq!(rec.rows[0].response_body_len, plain.len() as u64);
    assert_eq!(
        rec.rows[0].resp_mime_types.as_deref(),
        Some(&["text/plain".to_string()][..])
    );
}

#[test]
fn multipart_request_files() {
    let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n\
                 --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"notes.txt\"\r\nContent-Type: text/plain\r\n\r\nsome text file content\r\n\
                 --XyZ--\r\n";
    let head = format!(
        "POST /up HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let rec = check(&[
        In::Orig(head.as_bytes()),
        In::Orig(body),
        In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let r = &rec.rows[0];
    assert_eq!(r.request_body_len, body.len() as u64);
    assert_eq!(r.orig_fuids.as_ref().map(Vec::len), Some(2));
    assert_eq!(
        r.orig_filenames.as_deref(),
        Some(&[b"notes.txt".to_vec()][..])
    );
    assert_eq!(
        r.orig_mime_types.as_deref(),
        Some(&["text/plain".to_string()][..])
    );
}

#[test]
fn basic_auth_user_and_proxy_headers() {
    let rec = check(&[
        In::Orig(b"GET / HTTP/1.1\r\nAuthorization: Basic dGVzdDoxMjM0\r\nX-Forwarded-For: 1.2.3.4\r\nVia: 1.1 proxy\r\n\r\n"),
        In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
    ]);
    let r = &rec.rows[0];
    assert_eq!(r.username.as_deref(), Some(&b"test"[..]));
    assert_eq!(r.password, None, "passwords are not captured");
    let proxied: Vec<_> = r
        .proxied
        .iter()
        .flatten()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .collect();
    assert_eq!(proxied, ["VIA -> 1.1 proxy", "X-FORWARDED-FOR -> 1.2.3.4"]);
}

#[test]
fn content_gaps() {
    // Inside a body of known length: skipped, parsing goes on.
    let rec = run(
        &[
            In::Orig(b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n"),
            In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n12"),
            In::Gap(false, 5),
            In::Resp(b"890HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
        0,
    );
    assert_eq!(
        rec.rows
            .iter()
            .map(|r| r.response_body_len)
            .collect::<Vec<_>>(),
        [10, 0]
    );
    // In a header: that direction is not parsed any more; what is pending is still logged.
    let rec = run(
        &[
            In::Orig(b"GET /a HTTP/1.1\r\nHo"),
            In::Gap(true, 100),
            In::Orig(b"GET /b HTTP/1.1\r\n\r\n"),
            In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
        0,
    );
    assert_eq!(rec.rows.len(), 1);
    assert_eq!(rec.rows[0].uri.as_deref(), Some(&b"/a"[..]));
}

#[test]
fn non_http_is_a_violation() {
    // Neither side speaks HTTP.
    let rec = run(
        &[
            In::Orig(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n"),
            In::Resp(b"SSH-2.0-OpenSSH_8.9\r\n"),
        ],
        0,
    );
    assert_eq!(rec.violation.as_deref(), Some("not a http reply line"));
    assert!(rec.rows.is_empty());
    // Confirmed HTTP, then a reply that is not: detached, the request is logged.
    let rec = run(
        &[
            In::Orig(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
            In::Resp(b"SSH-2.0-OpenSSH_8.9\r\n"),
        ],
        0,
    );
    assert_eq!(rec.violation.as_deref(), Some("not a http reply line"));
    assert_eq!(rec.rows.len(), 1);
    assert_eq!(rec.rows[0].status_code, None);
}

#[test]
fn oversized_header_block_stops_the_direction() {
    let mut req = b"GET / HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        req.extend(format!("X-Filler-{i}: {}\r\n", "a".repeat(40)).as_bytes());
    }
    req.extend(b"\r\n");
    let rec = run(
        &[
            In::Orig(&req),
            In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        ],
        0,
    );
    assert!(rec
        .weirds
        .contains(&"HTTP_header_block_too_large".to_string()));
    assert_eq!(rec.rows.len(), 1);
}

#[test]
fn excessive_pipelining_flushes_pending_requests() {
    let req = b"GET / HTTP/1.1\r\n\r\n".repeat(150);
    let rec = run(&[In::Orig(&req)], 0);
    assert!(rec
        .weirds
        .contains(&"HTTP_excessive_pipelining".to_string()));
    assert_eq!(rec.rows.len(), 150);
}

#[test]
fn line_ends_cr_lf_and_crlf_split_anywhere() {
    let reqs: [&[u8]; 3] = [
        b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET /x HTTP/1.1\nHost: h\n\n",
        b"GET /x HTTP/1.1\rHost: h\r\r",
    ];
    for req in reqs {
        for i in 0..=req.len() {
            let rec = run(
                &[
                    In::Orig(&req[..i]),
                    In::Orig(&req[i..]),
                    In::Resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
                ],
                0,
            );
            assert_eq!(
                rec.rows.len(),
                1,
                "{:?} split at {i}",
                String::from_utf8_lossy(req)
            );
            assert_eq!(rec.rows[0].host.as_deref(), Some(&b"h"[..]));
        }
    }
}
