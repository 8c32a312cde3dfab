//! weird.log: protocol violations and oddities, with Zeek's columns.

use super::{Field, FieldType as T, Schema};

pub const FIELDS: &[Field] = &[
    Field {
        name: "ts",
        ty: T::Time,
    },
    Field {
        name: "uid",
        ty: T::String,
    },
    Field {
        name: "id.orig_h",
        ty: T::Addr,
    },
    Field {
        name: "id.orig_p",
        ty: T::Port,
    },
    Field {
        name: "id.resp_h",
        ty: T::Addr,
    },
    Field {
        name: "id.resp_p",
        ty: T::Port,
    },
    Field {
        name: "name",
        ty: T::String,
    },
    Field {
        name: "addl",
        ty: T::String,
    },
    Field {
        name: "notice",
        ty: T::Bool,
    },
    Field {
        name: "peer",
        ty: T::String,
    },
    Field {
        name: "source",
        ty: T::String,
    },
];

pub const SCHEMA: Schema = Schema {
    path: "weird",
    fields: FIELDS,
};

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
