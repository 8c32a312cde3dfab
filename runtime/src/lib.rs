//! Sandpiper: a passive network security monitor with Zeek-compatible logs.
//!
//! The native fast path lives here: packet capture ([`capture`]), decoding
//! ([`decode`]), the flow table with Zeek's connection semantics ([`flow`]) and
//! log writing ([`log`]), tied together by [`engine`].

pub mod capture;
pub mod cli;
pub mod ctl;
pub mod decode;
pub mod engine;
pub mod flow;
pub mod intern;
pub mod log;
pub mod scaffold;
pub mod site;
pub mod threads;
pub mod wasm;
