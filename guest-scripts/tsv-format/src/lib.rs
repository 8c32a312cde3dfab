//! Zeek's tab-separated log format over the WIT value model, byte for byte as Zeek's ASCII
//! writer (and the host's built-in writer) writes it. A library with no host calls, so it is
//! tested natively and shared by the `tsv-writer` component and test guests:
//!
//! - [`format`]: header, footer and rows as pure functions into a byte buffer;
//! - [`double`]: Zeek's `double` formatting; [`timestamp`]: the `#open`/`#close` stamps;
//! - [`stream`]: buffering, rotation and the footer, with the sink passed in.

pub mod double;
pub mod format;
pub mod stream;
pub mod timestamp;

#[cfg(test)]
mod tests;
