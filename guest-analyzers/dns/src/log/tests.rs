//! dns.log's header must be Zeek's, column for column.

use super::*;
use sandpiper_sdk::types::FieldType;

/// The `#fields` and `#types` lines of a corpus baseline.
fn zeek_header(case: &str) -> (Vec<String>, Vec<String>) {
    let path = crate::testutil::traces_dir()
        .join("../baselines")
        .join(case)
        .join("dns.log");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let line = |tag: &str| -> Vec<String> {
        let l = text
            .lines()
            .find(|l| l.starts_with(tag))
            .unwrap_or_else(|| panic!("no {tag}"));
        l.split('\t').skip(1).map(str::to_string).collect()
    };
    (line("#fields"), line("#types"))
}

fn zeek_type(t: &FieldType) -> String {
    let scalar = |s: &S| {
        match s {
            S::Boolean => "bool",
            S::Count => "count",
            S::Integer => "int",
            S::Double => "double",
            S::Time => "time",
            S::Interval => "interval",
            S::Str => "string",
            S::Addr => "addr",
            S::Port => "port",
            S::Subnet => "subnet",
            S::Enumeration => "enum",
        }
        .to_string()
    };
    match t {
        FieldType::Scalar(s) => scalar(s),
        FieldType::Set(s) => format!("set[{}]", scalar(s)),
        FieldType::Vector(s) => format!("vector[{}]", scalar(s)),
    }
}

#[test]
fn header_is_zeeks() {
    let (fields, types) = zeek_header("scripts.base.protocols.dns.rrsig");
    let schema = schema();
    assert_eq!(schema.path, "dns");
    let ours: Vec<String> = schema.fields.iter().map(|f| f.name.clone()).collect();
    assert_eq!(ours, fields);
    let ours: Vec<String> = schema.fields.iter().map(|f| zeek_type(&f.type_)).collect();
    assert_eq!(ours, types);
}

#[test]
fn rows_match_the_schema() {
    let conn = crate::testutil::connections("dnssec/rrsig.pcap", true).remove(0);
    let (_, fx) = crate::testutil::run(&conn);
    let schema = schema();
    for info in &fx.rows {
        let row = row(&conn.info, info, false);
        // One value per scalar column, a header plus its elements per vector column.
        let mut at = 0;
        for f in &schema.fields {
            let v = &row[at];
            at += 1;
            match (&f.type_, v) {
                (FieldType::Vector(_), Value::VectorOf(n)) => at += *n as usize,
                (_, Value::Unset) => assert!(f.optional, "{} unset", f.name),
                (FieldType::Scalar(_), _) => {}
                other => panic!("{}: {other:?}", f.name),
            }
        }
        assert_eq!(at, row.len());
    }
}

/// The budget's estimate of a row: its exact value count, and no fewer string bytes than the
/// encoded row carries.
#[test]
fn row_cost_bounds_the_row() {
    let mut rows = 0;
    for trace in [
        "dnssec/rrsig.pcap",
        "dns/dynamic-update.pcap",
        "dns/mdns.pcap",
    ] {
        for conn in crate::testutil::connections(trace, true) {
            let (session, fx) = crate::testutil::run(&conn);
            for info in &fx.rows {
                let (values, bytes) = row_cost(&conn.info, info);
                let (n, b) = cost(&row(&conn.info, info, session.netbios()));
                assert_eq!(values, n, "{trace}");
                assert!(bytes >= b, "{trace}: {bytes} < {b}");
                rows += 1;
            }
        }
    }
    assert!(rows > 10, "{rows} rows");
}
