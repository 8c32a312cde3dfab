//! Zeek users' tools read our logs unchanged: `bro-cut` (Debian bro-aux) and
//! the Python package `zat`. These tools are required (scripts/setup.sh
//! installs them): a missing tool fails the test with a clear message.

use std::fs;

use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_sandpiper");

mod common;
use common::trace;

/// Analyses smtp.pcap into a temporary directory; returns it and conn.log's text.
fn conn_log() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["-q", "--seed", "7", "--logdir"])
        .arg(dir.path())
        .arg("-r")
        .arg(trace("smtp.pcap"))
        .output()
        .expect("cannot start sandpiper");
    assert!(
        out.status.success(),
        "sandpiper failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = fs::read_to_string(dir.path().join("conn.log")).expect("conn.log");
    (dir, log)
}

/// The columns `names` of every data row, read directly from our TSV.
fn columns(log: &str, names: &[&str]) -> Vec<Vec<String>> {
    let fields: Vec<&str> = log
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .expect("#fields line")
        .split('\t')
        .collect();
    let idx: Vec<usize> = names
        .iter()
        .map(|n| fields.iter().position(|f| f == n).expect(n))
        .collect();
    log.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let c: Vec<&str> = l.split('\t').collect();
            idx.iter().map(|&i| c[i].to_string()).collect()
        })
        .collect()
}

#[test]
fn bro_cut_extracts_our_columns() {
    let (dir, log) = conn_log();
    let names = ["id.orig_h", "id.resp_p", "conn_state"];
    let input = fs::File::open(dir.path().join("conn.log")).unwrap();
    let out = match Command::new("bro-cut")
        .args(names)
        .stdin(input)
        .stderr(Stdio::piped())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!(
            "bro-cut is required for this test but could not be run ({e}); \
             install the Debian package bro-aux (scripts/setup.sh does)"
        ),
    };
    assert!(
        out.status.success(),
        "bro-cut failed: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Vec<String>> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| l.split('\t').map(str::to_string).collect())
        .collect();
    let want = columns(&log, &names);
    assert!(!want.is_empty(), "conn.log has no rows");
    assert_eq!(got, want, "bro-cut's columns differ from what we wrote");
}

#[test]
fn zat_loads_conn_log_into_a_dataframe() {
    let (dir, log) = conn_log();
    let path = dir.path().join("conn.log");
    let script = r#"
import json, sys
try:
    from zat.log_to_dataframe import LogToDataFrame
except ImportError as e:
    print("ZAT-MISSING: %s" % e)
    sys.exit(3)
df = LogToDataFrame().create_dataframe(sys.argv[1])
print(json.dumps({
    "rows": int(df.shape[0]),
    "columns": [str(c) for c in df.columns],
    "index": [str(n) for n in df.index.names],
    "orig_h": [str(v) for v in (df.index.get_level_values("id.orig_h") if "id.orig_h" in df.index.names else df["id.orig_h"])],
}))
"#;
    let out = match Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(&path)
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("python3 is required for this test but could not be run: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stdout.contains("ZAT-MISSING"),
        "the Python package zat is required for this test but is not installed \
         (pip install zat; scripts/setup.sh does): {stdout}"
    );
    assert!(
        out.status.success(),
        "zat failed to load conn.log:\n{stdout}\n{stderr}"
    );
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).expect("zat script output");

    let fields: Vec<&str> = log
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let want = columns(&log, &["id.orig_h"]);
    assert_eq!(
        v["rows"].as_u64().unwrap() as usize,
        want.len(),
        "row count"
    );

    // zat turns `ts` into the (datetime) index and every other field into a column.
    let cols: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let index: Vec<&str> = v["index"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(
        cols.len() + index.len(),
        fields.len(),
        "columns {cols:?} + index {index:?} do not cover the {} fields",
        fields.len()
    );
    for f in &fields {
        assert!(
            cols.contains(f) || index.contains(f),
            "field {f} is neither a column nor the index: {cols:?} / {index:?}"
        );
    }
    assert!(
        cols.contains(&"id.orig_h"),
        "id.orig_h is not a column: {cols:?}"
    );
    let orig_h: Vec<String> = v["orig_h"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect();
    let want: Vec<String> = want.into_iter().map(|mut r| r.remove(0)).collect();
    assert_eq!(orig_h, want, "id.orig_h values read by zat");
}
