//! Conveniences for the flat value model: conversions into `Value`, container encoding and
//! schema building.

use crate::types::{Field, FieldType, IpAddress, Port, ScalarType, Transport, Value};

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Boolean(v)
    }
}
impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Count(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Integer(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<IpAddress> for Value {
    fn from(v: IpAddress) -> Self {
        Value::Addr(v)
    }
}
impl From<Port> for Value {
    fn from(v: Port) -> Self {
        Value::Port(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Unset, Into::into)
    }
}

impl From<std::net::IpAddr> for IpAddress {
    fn from(a: std::net::IpAddr) -> Self {
        match a {
            std::net::IpAddr::V4(a) => {
                let [a, b, c, d] = a.octets();
                IpAddress::V4((a, b, c, d))
            }
            std::net::IpAddr::V6(a) => {
                let s = a.segments();
                IpAddress::V6((s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]))
            }
        }
    }
}

impl From<&IpAddress> for std::net::IpAddr {
    fn from(a: &IpAddress) -> Self {
        match *a {
            IpAddress::V4((a, b, c, d)) => std::net::Ipv4Addr::new(a, b, c, d).into(),
            IpAddress::V6((a, b, c, d, e, f, g, h)) => {
                std::net::Ipv6Addr::new(a, b, c, d, e, f, g, h).into()
            }
        }
    }
}

impl crate::types::ConnInfo {
    /// A connection as it is when first seen: `uid`, its id and start time, nothing counted
    /// yet (no bytes, packets, state, history, services, tunnels; not local). For tests,
    /// fuzz targets and tools that drive an analyzer without the host.
    pub fn fresh(uid: impl Into<String>, id: crate::types::ConnId, start: f64) -> Self {
        crate::types::ConnInfo {
            uid: uid.into(),
            id,
            start,
            duration: 0.0,
            orig_bytes: 0,
            resp_bytes: 0,
            orig_pkts: 0,
            resp_pkts: 0,
            conn_state: String::new(),
            history: String::new(),
            service: Vec::new(),
            local_orig: false,
            local_resp: false,
            tunnel_parents: Vec::new(),
        }
    }
}

impl Port {
    pub fn tcp(number: u16) -> Self {
        Port {
            number,
            proto: Transport::Tcp,
        }
    }
    pub fn udp(number: u16) -> Self {
        Port {
            number,
            proto: Transport::Udp,
        }
    }
}

/// Appends a set column to a row: the `set-of(n)` header, then the elements.
pub fn push_set<V: Into<Value>>(row: &mut Vec<Value>, items: impl IntoIterator<Item = V>) {
    push_container(row, items, Value::SetOf)
}

/// Appends a vector column to a row: the `vector-of(n)` header, then the elements.
pub fn push_vector<V: Into<Value>>(row: &mut Vec<Value>, items: impl IntoIterator<Item = V>) {
    push_container(row, items, Value::VectorOf)
}

fn push_container<V: Into<Value>>(
    row: &mut Vec<Value>,
    items: impl IntoIterator<Item = V>,
    header: fn(u32) -> Value,
) {
    let at = row.len();
    row.push(header(0));
    let mut n = 0u32;
    for item in items {
        row.push(item.into());
        n += 1;
    }
    row[at] = header(n);
}

impl Field {
    /// A required scalar column.
    pub fn new(name: &str, ty: ScalarType) -> Self {
        Field {
            name: name.to_string(),
            type_: FieldType::Scalar(ty),
            optional: false,
        }
    }
    /// An optional scalar column (may be `unset`).
    pub fn optional(name: &str, ty: ScalarType) -> Self {
        Field {
            name: name.to_string(),
            type_: FieldType::Scalar(ty),
            optional: true,
        }
    }
    /// A set column.
    pub fn set(name: &str, ty: ScalarType) -> Self {
        Field {
            name: name.to_string(),
            type_: FieldType::Set(ty),
            optional: true,
        }
    }
    /// A vector column.
    pub fn vector(name: &str, ty: ScalarType) -> Self {
        Field {
            name: name.to_string(),
            type_: FieldType::Vector(ty),
            optional: true,
        }
    }
}

/// The five columns Zeek puts after `ts` in every connection log: uid and the id.* 4-tuple.
pub fn conn_fields() -> Vec<Field> {
    vec![
        Field::new("uid", ScalarType::Str),
        Field::new("id.orig_h", ScalarType::Addr),
        Field::new("id.orig_p", ScalarType::Port),
        Field::new("id.resp_h", ScalarType::Addr),
        Field::new("id.resp_p", ScalarType::Port),
    ]
}

/// The values of [`conn_fields`] for a connection.
pub fn conn_values(conn: &crate::types::ConnInfo) -> [Value; 5] {
    [
        Value::Str(conn.uid.clone()),
        Value::Addr(conn.id.orig_h),
        Value::Port(conn.id.orig_p),
        Value::Addr(conn.id.resp_h),
        Value::Port(conn.id.resp_p),
    ]
}
