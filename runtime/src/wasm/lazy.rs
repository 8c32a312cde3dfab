//! Lazily lifted mirrors of the WIT types a guest passes to `log.write` and `events.raise`.
//!
//! wasmtime lifts a `list<string>` eagerly into host `String`s. A guest can point a million
//! list elements at the same megabyte of its memory and so make the host allocate terabytes
//! from a few megabytes of its own (aliasing). These mirrors keep every list and string in
//! guest memory (`WasmList`, `WasmStr`) so the host lifts one value at a time and stops at the
//! per-call budget.

use wasmtime::component::{ComponentType, Lift, WasmList, WasmStr};

use super::bindings::types::{ConnId, Value};

/// `types.conn-info`, lifted lazily.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct LazyConnInfo {
    pub uid: WasmStr,
    pub id: ConnId,
    pub start: f64,
    pub duration: f64,
    #[component(name = "orig-bytes")]
    pub orig_bytes: u64,
    #[component(name = "resp-bytes")]
    pub resp_bytes: u64,
    #[component(name = "orig-pkts")]
    pub orig_pkts: u64,
    #[component(name = "resp-pkts")]
    pub resp_pkts: u64,
    #[component(name = "conn-state")]
    pub conn_state: WasmStr,
    pub history: WasmStr,
    pub service: WasmList<WasmStr>,
    #[component(name = "local-orig")]
    pub local_orig: bool,
    #[component(name = "local-resp")]
    pub local_resp: bool,
    #[component(name = "tunnel-parents")]
    pub tunnel_parents: WasmList<WasmStr>,
}

/// `types.event`, lifted lazily.
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct LazyEvent {
    pub name: WasmStr,
    pub ts: f64,
    pub conn: Option<LazyConnInfo>,
    pub args: WasmList<Value>,
}

/// `types.packed-rows`, its bytes left in guest memory (read in place by `log.write-packed`).
#[derive(ComponentType, Lift)]
#[component(record)]
pub struct LazyPackedRows {
    pub count: u32,
    pub bytes: WasmList<u8>,
}
