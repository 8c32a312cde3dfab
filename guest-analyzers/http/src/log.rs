//! http.log: Zeek's columns (`HTTP::Info` with the `entities.zeek` additions), in Zeek's order
//! and with Zeek's types, and the conversion of a record into a row. Builds SDK values only;
//! no host call, so it is tested natively.

use sandpiper_sdk::types::{ConnInfo, Field, LogSchema, Row, ScalarType, Value};
use sandpiper_sdk::{conn_fields, conn_values, push_set, push_vector};

use crate::script::Info;

/// The http.log schema.
pub fn schema() -> LogSchema {
    use ScalarType::{Count, Enumeration, Str, Time};
    let mut fields = vec![Field::new("ts", Time)];
    fields.extend(conn_fields());
    fields.push(Field::new("trans_depth", Count));
    for name in [
        "method",
        "host",
        "uri",
        "referrer",
        "version",
        "user_agent",
        "origin",
    ] {
        fields.push(Field::optional(name, Str));
    }
    fields.push(Field::new("request_body_len", Count));
    fields.push(Field::new("response_body_len", Count));
    fields.push(Field::optional("status_code", Count));
    fields.push(Field::optional("status_msg", Str));
    fields.push(Field::optional("info_code", Count));
    fields.push(Field::optional("info_msg", Str));
    fields.push(Field::set("tags", Enumeration));
    fields.push(Field::optional("username", Str));
    fields.push(Field::optional("password", Str));
    fields.push(Field::set("proxied", Str));
    for name in [
        "orig_fuids",
        "orig_filenames",
        "orig_mime_types",
        "resp_fuids",
        "resp_filenames",
        "resp_mime_types",
    ] {
        fields.push(Field::vector(name, Str));
    }
    LogSchema {
        path: "http".to_string(),
        fields,
    }
}

/// Wire bytes as a log string. Valid UTF-8 is kept (the log writer escapes what Zeek escapes);
/// a byte that is not part of valid UTF-8 becomes the text `\xNN`, which is how Zeek writes
/// such a byte.
pub fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut out = String::with_capacity(bytes.len() + 8);
            let mut rest = bytes;
            while !rest.is_empty() {
                match std::str::from_utf8(rest) {
                    Ok(s) => {
                        out.push_str(s);
                        break;
                    }
                    Err(e) => {
                        let (good, bad) = rest.split_at(e.valid_up_to());
                        out.push_str(std::str::from_utf8(good).unwrap_or_default());
                        let n = e.error_len().unwrap_or(bad.len()).max(1).min(bad.len());
                        for b in &bad[..n] {
                            out.push_str(&format!("\\x{b:02x}"));
                        }
                        rest = &bad[n..];
                    }
                }
            }
            out
        }
    }
}

/// [`text`] of bytes that are handed over: valid UTF-8 keeps its allocation.
fn into_text(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| text(e.as_bytes()))
}

fn opt_text(v: Option<Vec<u8>>) -> Value {
    v.map_or(Value::Unset, |b| Value::Str(into_text(b)))
}

fn opt_vector(row: &mut Row, v: Option<Vec<String>>) {
    match v {
        Some(items) => push_vector(row, items),
        None => row.push(Value::Unset),
    }
}

fn opt_bytes_vector(row: &mut Row, v: Option<Vec<Vec<u8>>>) {
    match v {
        Some(items) => push_vector(row, items.into_iter().map(into_text)),
        None => row.push(Value::Unset),
    }
}

/// The row of one record.
pub fn row(conn: &ConnInfo, i: &Info) -> Row {
    into_row(conn, i.clone())
}

/// The row of one record that is handed over (its strings move into the row).
pub fn into_row(conn: &ConnInfo, i: Info) -> Row {
    let mut row = Vec::with_capacity(40);
    row.push(Value::Time(i.ts));
    row.extend(conn_values(conn));
    row.push(Value::Count(i.trans_depth));
    row.push(opt_text(i.method));
    row.push(opt_text(i.host));
    row.push(opt_text(i.uri));
    row.push(opt_text(i.referrer));
    row.push(i.version.map_or(Value::Unset, Value::Str));
    row.push(opt_text(i.user_agent));
    row.push(opt_text(i.origin));
    row.push(Value::Count(i.request_body_len));
    row.push(Value::Count(i.response_body_len));
    row.push(i.status_code.map_or(Value::Unset, Value::Count));
    row.push(opt_text(i.status_msg));
    row.push(i.info_code.map_or(Value::Unset, Value::Count));
    row.push(opt_text(i.info_msg));
    push_set(&mut row, Vec::<Value>::new());
    row.push(opt_text(i.username));
    row.push(opt_text(i.password));
    match i.proxied {
        Some(set) => push_set(&mut row, set.into_iter().map(into_text)),
        None => row.push(Value::Unset),
    }
    opt_vector(&mut row, i.orig_fuids);
    opt_bytes_vector(&mut row, i.orig_filenames);
    opt_vector(&mut row, i.orig_mime_types);
    opt_vector(&mut row, i.resp_fuids);
    opt_bytes_vector(&mut row, i.resp_filenames);
    opt_vector(&mut row, i.resp_mime_types);
    row
}

#[cfg(test)]
mod tests {
    use super::*;
    use sandpiper_sdk::types::{ConnId, IpAddress, Port};

    #[test]
    fn text_escapes_only_invalid_bytes() {
        assert_eq!(text(b"plain"), "plain");
        assert_eq!(text("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(text(b"a\xffb\xc3"), "a\\xffb\\xc3");
    }

    #[test]
    fn schema_matches_zeek_columns() {
        let names: Vec<String> = schema().fields.into_iter().map(|f| f.name).collect();
        let zeek = "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri \
                    referrer version user_agent origin request_body_len response_body_len \
                    status_code status_msg info_code info_msg tags username password proxied \
                    orig_fuids orig_filenames orig_mime_types resp_fuids resp_filenames \
                    resp_mime_types";
        assert_eq!(names.join(" "), zeek);
    }

    #[test]
    fn row_has_one_value_per_scalar_column() {
        let conn = ConnInfo::fresh(
            "C1",
            ConnId {
                orig_h: IpAddress::V4((10, 0, 0, 1)),
                orig_p: Port::tcp(1234),
                resp_h: IpAddress::V4((10, 0, 0, 2)),
                resp_p: Port::tcp(80),
            },
            1.0,
        );
        let mut info = Info::default();
        info.resp_fuids = Some(vec!["Fa".into(), "Fb".into()]);
        let row = row(&conn, &info);
        // 30 columns; `tags` is an empty set (one header value), resp_fuids a vector of 2.
        assert_eq!(row.len(), 30 + 2);
        assert!(matches!(row[20], Value::SetOf(0)));
    }
}
