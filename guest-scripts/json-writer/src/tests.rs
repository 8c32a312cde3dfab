//! Exact bytes for every value type, escaping case and double layout. The expected strings
//! come from the host's native JSON writer (runtime/src/log/json.rs and its unit tests), which
//! these components replace with byte-identical output, and from the Zeek and rapidjson
//! baselines it cites.

use sandpiper_sdk::types::{
    Field, FieldType, IpAddress, LogSchema, Port, ScalarType, Subnet, Transport, Value,
};

use sandpiper_sdk::packed::{self, value_ref, Rows, ValueRef};

use crate::double::write_json_double;
use crate::format::{column_keys, to_micros, write_json_str, write_row};
use crate::stream::{JsonStream, Sink, CHUNK};

/// Owned values as the borrowed ones the formatter reads.
fn refs(values: &[Value]) -> Vec<ValueRef<'_>> {
    values.iter().map(value_ref).collect()
}

/// Writes owned rows the way the host sends them: packed.
fn write_owned(
    stream: &mut JsonStream,
    rows: &[Vec<Value>],
    sink: &mut impl Sink,
) -> Result<(), String> {
    let (count, bytes) = packed::encode(rows);
    stream.write(Rows::new(count, &bytes), sink)
}

fn field(name: &str, t: FieldType) -> Field {
    Field {
        name: name.to_string(),
        type_: t,
        optional: true,
    }
}

fn scalar(name: &str, t: ScalarType) -> Field {
    field(name, FieldType::Scalar(t))
}

fn schema(path: &str, fields: Vec<Field>) -> LogSchema {
    LogSchema {
        path: path.to_string(),
        fields,
    }
}

fn s(text: &str) -> Value {
    Value::Str(text.to_string())
}

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddress {
    IpAddress::V4((a, b, c, d))
}

fn v6(text: &str) -> IpAddress {
    let seg = text.parse::<std::net::Ipv6Addr>().unwrap().segments();
    IpAddress::V6((
        seg[0], seg[1], seg[2], seg[3], seg[4], seg[5], seg[6], seg[7],
    ))
}

fn port(number: u16) -> Value {
    Value::Port(Port {
        number,
        proto: Transport::Udp,
    })
}

fn subnet(address: IpAddress, prefix_len: u8) -> Value {
    Value::Subnet(Subnet {
        address,
        prefix_len,
    })
}

/// One row's line (with its newline) under `sch`.
fn row_json(sch: &LogSchema, values: &[Value]) -> String {
    let mut out = Vec::new();
    write_row(&mut out, &refs(values), &column_keys(sch)).unwrap();
    String::from_utf8(out).unwrap()
}

/// `{"v":<value>}\n` for one value (or container) in a one-column schema.
fn one(values: &[Value]) -> String {
    let sch = schema("one", vec![scalar("v", ScalarType::Count)]);
    row_json(&sch, values)
}

fn dbl(d: f64) -> String {
    let mut out = Vec::new();
    write_json_double(&mut out, d);
    String::from_utf8(out).unwrap()
}

fn jstr(text: &str) -> String {
    let mut out = Vec::new();
    write_json_str(&mut out, text);
    String::from_utf8(out).unwrap()
}

#[test]
fn zeek_json_shape() {
    let sch = schema(
        "conn",
        vec![
            scalar("ts", ScalarType::Time),
            scalar("id.orig_h", ScalarType::Addr),
            scalar("id.orig_p", ScalarType::Port),
            scalar("service", ScalarType::Str),
            scalar("local_orig", ScalarType::Boolean),
            field("tunnel_parents", FieldType::Set(ScalarType::Str)),
        ],
    );
    let line = row_json(
        &sch,
        &[
            Value::Time(1.5),
            Value::Addr(v4(10, 0, 0, 1)),
            port(80),
            Value::Unset,
            Value::Boolean(true),
            Value::SetOf(1),
            s("C1\"x"),
        ],
    );
    assert_eq!(
        line,
        "{\"ts\":1.500000,\"id.orig_h\":\"10.0.0.1\",\"id.orig_p\":80,\"local_orig\":true,\"tunnel_parents\":[\"C1\\\"x\"]}\n"
    );
}

#[test]
fn dynamic_schema_new_types() {
    let sch = schema(
        "guest",
        vec![
            scalar("n", ScalarType::Integer),
            scalar("d", ScalarType::Double),
            scalar("net", ScalarType::Subnet),
            field("ports", FieldType::Set(ScalarType::Port)),
            field("names", FieldType::Vector(ScalarType::Str)),
            field("empty", FieldType::Vector(ScalarType::Count)),
            scalar("gone", ScalarType::Double),
            scalar("nan", ScalarType::Double),
        ],
    );
    let line = row_json(
        &sch,
        &[
            Value::Integer(-42),
            Value::Double(1.5),
            subnet(v6("2001:db8:1::7"), 32),
            Value::SetOf(2),
            port(53),
            port(5353),
            Value::VectorOf(3),
            s("a\"b"),
            s(""),
            Value::Unset,
            Value::VectorOf(0),
            Value::Unset,
            Value::Double(f64::NAN),
        ],
    );
    assert_eq!(
        line,
        "{\"n\":-42,\"d\":1.5,\"net\":\"2001:db8::/32\",\"ports\":[53,5353],\
         \"names\":[\"a\\\"b\",\"\",null],\"empty\":[],\"nan\":null}\n"
    );
}

#[test]
fn all_unset_is_an_empty_object() {
    let sch = schema(
        "x",
        vec![scalar("a", ScalarType::Count), scalar("b", ScalarType::Str)],
    );
    assert_eq!(row_json(&sch, &[Value::Unset, Value::Unset]), "{}\n");
    assert_eq!(row_json(&sch, &[Value::Unset, s("-")]), "{\"b\":\"-\"}\n");
    assert_eq!(row_json(&schema("x", vec![]), &[]), "{}\n");
}

#[test]
fn keys_are_escaped_json_strings() {
    let sch = schema("k", vec![scalar("we\"ird\\key", ScalarType::Count)]);
    assert_eq!(
        row_json(&sch, &[Value::Count(1)]),
        "{\"we\\\"ird\\\\key\":1}\n"
    );
}

#[test]
fn containers_of_every_scalar_type() {
    let cases: Vec<(Vec<Value>, &str)> = vec![
        (vec![Value::VectorOf(1), Value::Time(1.5)], "[1.500000]"),
        (
            vec![Value::VectorOf(1), Value::Interval(-0.000002)],
            "[-0.000002]",
        ),
        (
            vec![
                Value::SetOf(2),
                Value::Addr(v4(192, 168, 1, 1)),
                Value::Addr(v6("fe80::1")),
            ],
            "[\"192.168.1.1\",\"fe80::1\"]",
        ),
        (
            vec![
                Value::VectorOf(1),
                Value::Enumeration("Notice::ACTION_LOG".into()),
            ],
            "[\"Notice::ACTION_LOG\"]",
        ),
        (
            vec![Value::SetOf(1), Value::Count(u64::MAX)],
            "[18446744073709551615]",
        ),
        (
            vec![
                Value::VectorOf(2),
                Value::Integer(i64::MIN),
                Value::Integer(0),
            ],
            "[-9223372036854775808,0]",
        ),
        (
            vec![Value::VectorOf(2), Value::Double(2.0), Value::Double(0.1)],
            "[2.0,0.1]",
        ),
        (
            vec![
                Value::VectorOf(2),
                Value::Boolean(true),
                Value::Boolean(false),
            ],
            "[true,false]",
        ),
        (
            vec![
                Value::SetOf(2),
                subnet(v4(192, 168, 1, 1), 24),
                subnet(v6("fe80::1"), 10),
            ],
            "[\"192.168.1.0/24\",\"fe80::/10\"]",
        ),
        (vec![Value::VectorOf(1), s("a,b")], "[\"a,b\"]"),
        (vec![Value::SetOf(0)], "[]"),
        (vec![Value::VectorOf(0)], "[]"),
        (vec![Value::VectorOf(1), Value::Unset], "[null]"),
    ];
    for (values, want) in cases {
        assert_eq!(one(&values), format!("{{\"v\":{want}}}\n"), "{values:?}");
    }
}

#[test]
fn scalars() {
    let cases: Vec<(Value, &str)> = vec![
        (Value::Boolean(true), "true"),
        (Value::Boolean(false), "false"),
        (Value::Count(0), "0"),
        (Value::Integer(-7), "-7"),
        (Value::Integer(i64::MAX), "9223372036854775807"),
        (Value::Double(-0.5), "-0.5"),
        (Value::Double(f64::INFINITY), "null"),
        (port(65535), "65535"),
        (Value::Time(1_300_475_167.096535), "1300475167.096535"),
        (Value::Time(0.0), "0.000000"),
        (Value::Interval(-1.5), "-1.500000"),
        (Value::Interval(-0.0000004), "0.000000"),
        (Value::Interval(59.9999996), "60.000000"),
        (Value::Addr(v6("::ffff:192.0.2.1")), "\"::ffff:192.0.2.1\""),
        (
            Value::Addr(v6("2001:db8:0:0:1:0:0:1")),
            "\"2001:db8::1:0:0:1\"",
        ),
        (Value::Addr(v6("::")), "\"::\""),
        (subnet(v4(10, 9, 8, 7), 32), "\"10.9.8.7/32\""),
        (subnet(v4(10, 9, 8, 7), 0), "\"0.0.0.0/0\""),
        (subnet(v6("::"), 0), "\"::/0\""),
        (Value::Enumeration("tcp".into()), "\"tcp\""),
        // TSV's markers mean nothing in JSON.
        (s(""), "\"\""),
        (s("-"), "\"-\""),
        (s("(empty)"), "\"(empty)\""),
    ];
    for (v, want) in cases {
        assert_eq!(
            one(std::slice::from_ref(&v)),
            format!("{{\"v\":{want}}}\n"),
            "{v:?}"
        );
    }
}

#[test]
fn string_escaping() {
    let cases: &[(&str, &str)] = &[
        ("plain", "\"plain\""),
        ("q\"uote", "\"q\\\"uote\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("a\nb\rc\td", "\"a\\nb\\rc\\td\""),
        // Other control bytes as \u00xx, lower-case hex; no \b or \f short forms.
        (
            "\0\x01\x08\x0c\x1f",
            "\"\\u0000\\u0001\\u0008\\u000c\\u001f\"",
        ),
        // DEL, "/" and non-ASCII characters pass as they are.
        ("\x7f/", "\"\x7f/\""),
        ("café \u{1F600}", "\"café \u{1F600}\""),
        ("a,b\x20", "\"a,b \""),
    ];
    for (input, want) in cases {
        assert_eq!(jstr(input), *want, "{input:?}");
    }
}

/// Zeek's baseline for doubles in JSON logs
/// (testing/btest/Baseline/scripts.base.frameworks.logging.ascii-double/json.log).
#[test]
#[allow(clippy::excessive_precision)] // Zeek's test script literal, kept verbatim.
fn double_matches_zeek_baseline() {
    let cases: &[(f64, &str)] = &[
        (2153226000.0, "2153226000.0"),
        (2153226000.1, "2153226000.1"),
        (2153226000.123456789, "2153226000.123457"),
        (1.0, "1.0"),
        (1.1, "1.1"),
        (1.123456789, "1.123456789"),
        (-1.123456789, "-1.123456789"),
        (1.1234, "1.1234"),
        (0.1234, "0.1234"),
        (5e4, "50000.0"),
        (-5e4, "-50000.0"),
        (3.14e15, "3140000000000000.0"),
        (-3.14e15, "-3140000000000000.0"),
        (1.79e308, "1.79e308"),
        (-1.79e308, "-1.79e308"),
        (1.23456789e-5, "0.0000123456789"),
        (2.23e-308, "2.23e-308"),
        (-2.23e-308, "-2.23e-308"),
        (f64::INFINITY, "null"),
        (f64::NEG_INFINITY, "null"),
        (-0.0, "-0.0"),
        (f64::NAN, "null"),
    ];
    for (d, want) in cases {
        assert_eq!(dbl(*d), *want, "{d:e}");
    }
}

/// rapidjson's own dtoa expectations (test/unittest/dtoatest.cpp).
#[test]
fn double_matches_rapidjson_tests() {
    let cases: &[(f64, &str)] = &[
        (0.0, "0.0"),
        (1.0, "1.0"),
        (-1.0, "-1.0"),
        (1.2345, "1.2345"),
        (1.2345678, "1.2345678"),
        (0.123456789012, "0.123456789012"),
        (1234567.8, "1234567.8"),
        (-79.39773355813419, "-79.39773355813419"),
        (0.000001, "0.000001"),
        (0.0000001, "1e-7"),
        (1e30, "1e30"),
        (1.234567890123456e30, "1.234567890123456e30"),
        (5e-324, "5e-324"),
        (2.225073858507201e-308, "2.225073858507201e-308"),
        (2.2250738585072014e-308, "2.2250738585072014e-308"),
        (1.7976931348623157e308, "1.7976931348623157e308"),
        (1e21, "1e21"),
        (1e20, "100000000000000000000.0"),
        (123e18, "123000000000000000000.0"),
        (1.5e-7, "1.5e-7"),
    ];
    for (d, want) in cases {
        assert_eq!(dbl(*d), *want, "{d:e}");
    }
}

/// Grisu2 output always reads back as the same double.
#[test]
fn double_round_trips() {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let d = if i % 2 == 0 {
            f64::from_bits(x)
        } else {
            (x % 10_000_000) as f64 / 1000.0
        };
        if !d.is_finite() {
            continue;
        }
        let text = dbl(d);
        assert_eq!(
            text.parse::<f64>().unwrap().to_bits(),
            d.to_bits(),
            "{text}"
        );
    }
}

#[test]
fn microseconds_survive_the_trip_through_seconds() {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    for _ in 0..500_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // 1990 to 2100 in microseconds.
        let us = 631_152_000_000_000i64 + (x % 3_471_292_800_000_000) as i64;
        assert_eq!(to_micros(us as f64 / 1e6), us);
    }
}

#[test]
fn malformed_rows_are_refused_and_leave_no_bytes() {
    let one_column = column_keys(&schema("m", vec![scalar("v", ScalarType::Count)]));
    let bad: &[(Vec<Value>, &str)] = &[
        (vec![Value::SetOf(3), s("a"), s("b")], "cut short"),
        (vec![Value::VectorOf(u32::MAX)], "cut short"),
        (vec![Value::VectorOf(1), Value::SetOf(0)], "do not nest"),
        (vec![], "0 columns, the schema 1"),
        (
            vec![Value::Count(1), Value::Unset],
            "more than the schema's 1",
        ),
    ];
    for (values, why) in bad {
        let mut out = b"kept".to_vec();
        let err = write_row(&mut out, &refs(values), &one_column).unwrap_err();
        assert!(err.contains(why), "{values:?}: {err}");
        assert_eq!(out, b"kept");
    }
}

#[test]
fn stream_has_no_header_and_flushes_on_rotate_and_finish() {
    let sch = schema("c", vec![scalar("n", ScalarType::Count)]);
    let mut calls: Vec<String> = Vec::new();
    let mut stream = JsonStream::new(&sch);
    {
        let mut sink = |b: &[u8]| {
            calls.push(String::from_utf8(b.to_vec()).unwrap());
            Ok(())
        };
        write_owned(&mut stream, &[vec![Value::Count(1)]], &mut sink).unwrap();
        stream.rotate(&mut sink).unwrap();
        stream.rotate(&mut sink).unwrap();
        write_owned(&mut stream, &[vec![Value::Count(2)]], &mut sink).unwrap();
        stream.finish(&mut sink).unwrap();
        stream.finish(&mut sink).unwrap();
        assert!(write_owned(&mut stream, &[vec![Value::Count(3)]], &mut sink).is_err());
    }
    assert_eq!(calls, ["{\"n\":1}\n", "{\"n\":2}\n"]);
}

#[test]
fn output_goes_out_in_large_chunks_and_bad_rows_are_reported() {
    let sch = schema("c", vec![scalar("n", ScalarType::Count)]);
    let mut calls: Vec<Vec<u8>> = Vec::new();
    let mut stream = JsonStream::new(&sch);
    let mut rows: Vec<Vec<Value>> = (0..50_000u64).map(|n| vec![Value::Count(n)]).collect();
    rows[7] = vec![Value::SetOf(1)];
    let mut sink = |b: &[u8]| {
        calls.push(b.to_vec());
        Ok(())
    };
    let err = write_owned(&mut stream, &rows, &mut sink).unwrap_err();
    assert!(
        err.starts_with("1 of 50000 rows not written; row 7: "),
        "{err}"
    );
    stream.finish(&mut sink).unwrap();
    let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
    assert!(
        sizes[..sizes.len() - 1].iter().all(|&n| n >= CHUNK),
        "{sizes:?}"
    );
    let text = String::from_utf8(calls.concat()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 49_999);
    assert_eq!(lines[6], "{\"n\":6}");
    assert_eq!(lines[7], "{\"n\":8}");
    assert_eq!(lines[49_998], "{\"n\":49999}");
}
