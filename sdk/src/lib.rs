//! The Rust SDK for Sandpiper components.
//!
//! A component is a WebAssembly component built for `wasm32-wasip2` against the WIT package in
//! `wit/` (`sandpiper:monitor`). This crate generates the bindings for every world and wraps them
//! so that a component is a type implementing one trait plus one `export_*!` line:
//!
//! ```ignore
//! use sandpiper_sdk::{Analyzer, types::ConnInfo, analysis};
//!
//! struct Echo { seen: u64 }
//!
//! impl Analyzer for Echo {
//!     fn new(_conn: ConnInfo) -> Self { Echo { seen: 0 } }
//!     fn deliver(&mut self, _is_orig: bool, data: &[u8]) {
//!         self.seen += data.len() as u64;
//!         analysis::confirm();
//!     }
//! }
//!
//! sandpiper_sdk::export_analyzer!(Echo);
//! ```
//!
//! Enable the cargo feature of the component's kind (`analyzer`, `file-analyzer`, `handler`,
//! `writer`, `netcontrol`, `input`): only that world's exports are generated, because a component
//! must implement every export of its world.

#[doc(hidden)]
pub use wit_bindgen as __wit_bindgen;

extern crate self as sandpiper_sdk;

/// Shared types and the host interfaces several worlds import (log streams, events).
mod common {
    wit_bindgen::generate!({
        path: "../wit",
        inline: "package sandpiper:sdk; world common { import sandpiper:monitor/log@0.2.1; import sandpiper:monitor/events@0.2.1; }",
        world: "sandpiper:sdk/common",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        generate_all,
    });
}

pub use common::sandpiper::monitor::{events, log, types};

mod values;
pub use values::*;

pub mod alloc;
pub mod packed;

/// A log stream created once per instance and shared by every session or call in it.
///
/// The host lifts and checks the schema on every `log::create_stream`, so a guest that opens
/// its stream per connection pays for it each time; keep one in a `static` instead:
///
/// ```ignore
/// static STREAM: sandpiper_sdk::SharedStream = sandpiper_sdk::SharedStream::new();
/// if let Some(id) = STREAM.get(my_schema) { sandpiper_sdk::log::write(id, &rows); }
/// ```
pub struct SharedStream(std::sync::OnceLock<log::StreamId>);

impl SharedStream {
    pub const fn new() -> Self {
        SharedStream(std::sync::OnceLock::new())
    }

    /// The stream, created with `schema()` on first use. `None` if the host refused it (the
    /// reason goes to stderr); the next call tries again.
    pub fn get(&self, schema: impl FnOnce() -> types::LogSchema) -> Option<log::StreamId> {
        if let Some(id) = self.0.get() {
            return Some(*id);
        }
        match log::create_stream(&schema()) {
            Ok(id) => Some(*self.0.get_or_init(|| id)),
            Err(e) => {
                eprintln!("cannot create a log stream: {e}");
                None
            }
        }
    }
}

impl Default for SharedStream {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(feature = "analyzer")]
mod analyzer_world;
#[cfg(feature = "analyzer")]
pub use analyzer_world::*;

#[cfg(feature = "handler")]
mod handler_world;
#[cfg(feature = "handler")]
pub use handler_world::*;

#[cfg(feature = "file-analyzer")]
mod file_analyzer_world;
#[cfg(feature = "file-analyzer")]
pub use file_analyzer_world::*;

#[cfg(feature = "writer")]
mod writer_world;
#[cfg(feature = "writer")]
pub use writer_world::*;

#[cfg(feature = "netcontrol")]
mod netcontrol_world;
#[cfg(feature = "netcontrol")]
pub use netcontrol_world::*;

#[cfg(feature = "input")]
mod input_world;
#[cfg(feature = "input")]
pub use input_world::*;
