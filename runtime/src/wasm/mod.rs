//! The Wasm component runtime: every analyzer, handler, writer and plugin is a WebAssembly
//! component, loaded at run time, limited in what it may spend and touch.
//!
//! - [`manifest`]: the TOML manifest beside each component.
//! - [`runtime`]: the wasmtime engine (fuel, epochs, pooling), the artifact cache, loading and
//!   checking modules, instantiation and failure classification.
//! - [`host`]: the per-Store state and every host import, with per-call budgets.
//! - [`streams`]: guest log streams and their rows.
//! - [`failures`]: analyzer_failed.log and quarantine.
//! - [`handlers`]: batched event dispatch to event handlers.
//! - [`event_bus`]: where the packet thread raises events, for the handlers inline or on their
//!   own thread.
//! - [`source_hashes`]: component hashes remembered between starts (no re-reading unchanged files).
//! - [`mutes`]: events a handler asked not to be given (repeats it would ignore).
//! - [`dpd`]: dynamic protocol detection (ports and payload signatures).
//! - [`analyzers`]: protocol analyzer sessions on connections (the analyzer pipeline).
//! - [`monitor`]: analyzers and handlers behind the engine's observer interface.
//! - [`modules`]: the set of modules in a directory (`--modules`, `-N`, `module check`).

pub mod analyzers;
pub mod bindings;
mod conn_snapshot;
pub mod dpd;
pub mod event_bus;
pub mod event_filter;
pub mod failures;
pub mod handlers;
pub mod host;
mod lazy;
pub mod manifest;
pub mod modules;
pub mod monitor;
pub mod mutes;
pub mod notices;
pub mod options;
mod packed_wit;
pub mod reload;
pub mod runtime;
mod source_hashes;
pub mod streams;
mod tail_pipe;
pub mod writers;
