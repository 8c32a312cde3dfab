//! ssh.log's schema and rows, and the events' argument lists: Zeek's `SSH::Info` columns in
//! Zeek's order and types (Zeek 8's `host_key_fingerprint`). Building values only.

use sandpiper_sdk::types::{ConnInfo, Event, Field, LogSchema, Row, ScalarType as S, Value};
use sandpiper_sdk::{conn_fields, conn_values};

use crate::session::{Info, SshEvent};

/// ssh.log's columns.
pub fn schema() -> LogSchema {
    let mut fields = vec![Field::new("ts", S::Time)];
    fields.extend(conn_fields());
    fields.extend([
        Field::optional("version", S::Count),
        Field::optional("auth_success", S::Boolean),
        Field::new("auth_attempts", S::Count),
        Field::optional("direction", S::Enumeration),
        Field::optional("client", S::Str),
        Field::optional("server", S::Str),
        Field::optional("cipher_alg", S::Str),
        Field::optional("mac_alg", S::Str),
        Field::optional("compression_alg", S::Str),
        Field::optional("kex_alg", S::Str),
        Field::optional("host_key_alg", S::Str),
        Field::optional("host_key_fingerprint", S::Str),
    ]);
    LogSchema {
        path: "ssh".into(),
        fields,
    }
}

/// One ssh.log row.
pub fn into_row(conn: &ConnInfo, info: Info, direction: Option<&str>) -> Row {
    let mut row = Vec::with_capacity(18);
    row.push(Value::Time(info.ts));
    row.extend(conn_values(conn));
    row.push(info.version.map_or(Value::Unset, Value::Count));
    row.push(info.auth_success.map_or(Value::Unset, Value::Boolean));
    row.push(Value::Count(info.auth_attempts));
    row.push(direction.map_or(Value::Unset, |d| Value::Enumeration(d.into())));
    for s in [
        info.client,
        info.server,
        info.cipher_alg,
        info.mac_alg,
        info.compression_alg,
        info.kex_alg,
        info.host_key_alg,
        info.host_key_fingerprint,
    ] {
        row.push(s.into());
    }
    row
}

/// The event's name (see README.md for the argument lists).
pub fn event_name(ev: &SshEvent) -> &'static str {
    match ev {
        SshEvent::ClientVersion(_) => "ssh_client_version",
        SshEvent::ServerVersion(_) => "ssh_server_version",
        SshEvent::AuthAttempted(_) => "ssh_auth_attempted",
        SshEvent::AuthResult(..) => "ssh_auth_result",
        SshEvent::AuthFailed => "ssh_auth_failed",
        SshEvent::ServerHostKey(_) => "ssh_server_host_key",
    }
}

/// The host event for an SSH event.
pub fn into_event(conn: &ConnInfo, ts: f64, ev: SshEvent) -> Event {
    let name = event_name(&ev).to_string();
    let args = match ev {
        SshEvent::ClientVersion(v) | SshEvent::ServerVersion(v) | SshEvent::ServerHostKey(v) => {
            vec![Value::Str(v)]
        }
        SshEvent::AuthAttempted(ok) => vec![Value::Boolean(ok)],
        SshEvent::AuthResult(ok, attempts) => vec![Value::Boolean(ok), Value::Count(attempts)],
        SshEvent::AuthFailed => Vec::new(),
    };
    Event {
        name,
        ts,
        conn: Some(conn.clone()),
        args,
    }
}
