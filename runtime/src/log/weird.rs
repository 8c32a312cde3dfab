//! weird.log: protocol violations and oddities, with Zeek's columns.

use super::{Field, FieldType as T, Schema};

pub const FIELDS: &[Field] = &[
    Field::new_static("ts", T::Time),
    Field::new_static("uid", T::String),
    Field::new_static("id.orig_h", T::Addr),
    Field::new_static("id.orig_p", T::Port),
    Field::new_static("id.resp_h", T::Addr),
    Field::new_static("id.resp_p", T::Port),
    Field::new_static("name", T::String),
    Field::new_static("addl", T::String),
    Field::new_static("notice", T::Bool),
    Field::new_static("peer", T::String),
    Field::new_static("source", T::String),
];

pub const SCHEMA: Schema = Schema::new_static("weird", FIELDS);

/// The analyzer Zeek names as the weird's source.
pub fn source_of(name: &str) -> &'static str {
    if name.contains("TCP")
        || name.contains("SYN")
        || name.contains("FIN")
        || name.contains("RST")
        || name.starts_with("data_")
        || name.contains("connection")
        || name.contains("split_routing")
        || name == "truncated_header"
        || name == "truncated_tcp_payload"
        || name == "window_recision"
    {
        "TCP"
    } else if name.contains("UDP") {
        "UDP"
    } else if name.contains("ICMP") || name.starts_with("icmp") {
        "ICMP"
    } else if name.contains("IP") || name.contains("fragment") {
        "IP"
    } else if name.contains("VLAN") {
        "VLAN"
    } else if name.contains("MPLS") {
        "MPLS"
    } else if name.contains("PPPoE") {
        "PPPOE"
    } else {
        "ETHERNET"
    }
}
