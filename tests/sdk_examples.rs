//! The C example of sdk/README.md ("C (clang + wasi-libc)"), built from
//! tests/guests/long-conns-c like any foreign guest, on a real trace: long_conns.log must hold
//! exactly conn.log's connections that lasted longer than a minute, with the same values.

mod common;

use common::{analyse_with_modules, modules_dir, trace, tsv_rows};

#[test]
fn the_c_example_logs_connections_longer_than_a_minute() {
    // irc-dcc-send.pcapng: an IRC session of 170 s, a DCC transfer of 0.2 s and a connection
    // of 22.5 s; with the IRC analyzer absent none has a service.
    let mods = modules_dir(&["long-conns-c"]);
    let logdir = analyse_with_modules(&trace("irc-dcc-send.pcapng"), mods.path(), &[]);
    assert!(tsv_rows(&logdir.path().join("analyzer_failed.log")).is_empty());

    let conns = tsv_rows(&logdir.path().join("conn.log"));
    assert_eq!(conns.len(), 3, "{conns:?}");
    let long: Vec<_> = conns
        .iter()
        .filter(|c| c["duration"].parse::<f64>().is_ok_and(|d| d > 60.0))
        .collect();
    assert_eq!(long.len(), 1, "{conns:?}");

    let rows = tsv_rows(&logdir.path().join("long_conns.log"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    for field in [
        "ts",
        "uid",
        "id.orig_h",
        "id.orig_p",
        "id.resp_h",
        "id.resp_p",
        "duration",
    ] {
        assert_eq!(rows[0][field], long[0][field], "{field}");
    }
    // conn.log shows an empty service as "-", a set column as "(empty)".
    assert_eq!(long[0]["service"], "-");
    assert_eq!(rows[0]["service"], "(empty)");
}
