//! Hostile: asks the host to lift about 100 TiB through `log.write` while holding under 2 MiB
//! itself: 60000 rows that all point at one row of 1024 `str` values that all point at one
//! 1 MiB string. The host must refuse the call (a host-limit failure) instead of allocating.
//!
//! The call goes through the raw canonical-ABI import, because the SDK's `log::write` lowers
//! owned Rust values and cannot alias. The lowered layout (canonical ABI, wasm32), as
//! wit-bindgen 0.63 also generates it for `log::write`:
//!
//! - `value` (a variant of 14 cases): discriminant `u8` at 0, payload at 8 (the widest payload
//!   alignment is 8: `u64`/`s64`/`f64`), size 32 (the largest payload is `subnet`, 20 bytes:
//!   `ip-address` is a `u8` discriminant plus a payload at 2 of up to 16 bytes = 18, align 2,
//!   plus the `u8` prefix length, rounded to 20), align 8. `str` is case 7: string pointer at 8,
//!   length at 12.
//! - `row` = `list<value>` and `string`: (pointer `u32`, length `u32`), 8 bytes, align 4.
//! - `write: func(stream: u32, rows: list<row>) -> result<_, string>` flattens to
//!   `(stream, rows_ptr, rows_len)`; the result (3 flat values) comes back through a return
//!   area passed as a 4th argument: discriminant `u8` at 0, error string at 4 and 8, 12 bytes.

use core::hint::black_box;

use sandpiper_sdk::log;
use sandpiper_sdk::types::{Event, Field, LogSchema, ScalarType};
use sandpiper_sdk::Handler;

const STRING_BYTES: usize = 1 << 20;
const VALUES_PER_ROW: usize = 1024;
// Below the host's 65536-rows-per-call cap, so the string budget is what must stop it.
const ROWS: usize = 60_000;

/// `value`: size and alignment, offset of the payload, discriminant of `str`.
const VALUE_SIZE: usize = 32;
const PAYLOAD: usize = 8;
const STR_CASE: u8 = 7;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "sandpiper:monitor/log@0.2.1")]
unsafe extern "C" {
    /// `write(stream, rows.ptr, rows.len, ret_area)`, the same core signature as the SDK's.
    #[link_name = "write"]
    fn raw_write(stream: i32, rows: *mut u8, rows_len: usize, ret_area: *mut u8);
}

#[cfg(not(target_arch = "wasm32"))]
unsafe fn raw_write(_stream: i32, _rows: *mut u8, _rows_len: usize, _ret_area: *mut u8) {
    unreachable!("only meaningful as a wasm32 component")
}

/// One lowered `value`, aligned as the canonical ABI wants it.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct RawValue([u8; VALUE_SIZE]);

/// One lowered `list<value>` (or `string`): pointer and length.
#[repr(C, align(4))]
#[derive(Clone, Copy)]
struct RawList {
    ptr: u32,
    len: u32,
}

/// The return area of `write`: `result<_, string>`.
#[repr(C, align(4))]
struct RetArea([u8; 12]);

#[derive(Default)]
struct HostileImport {
    stream: Option<log::StreamId>,
}

impl Handler for HostileImport {
    fn handle(&mut self, _batch: Vec<Event>) {
        let stream = *self.stream.get_or_insert_with(|| {
            let schema = LogSchema {
                path: "hostile".to_string(),
                fields: vec![Field::new("s", ScalarType::Str)],
            };
            log::create_stream(&schema).expect("creating the hostile stream")
        });

        let text = vec![b'x'; STRING_BYTES];
        let mut value = RawValue([0; VALUE_SIZE]);
        value.0[0] = STR_CASE;
        value.0[PAYLOAD..PAYLOAD + 4].copy_from_slice(&(text.as_ptr() as u32).to_le_bytes());
        value.0[PAYLOAD + 4..PAYLOAD + 8].copy_from_slice(&(STRING_BYTES as u32).to_le_bytes());
        let row = vec![value; VALUES_PER_ROW];
        let rows = vec![
            RawList {
                ptr: row.as_ptr() as u32,
                len: VALUES_PER_ROW as u32
            };
            ROWS
        ];
        let mut ret = RetArea([0; 12]);

        // SAFETY: every pointer is to live guest memory of the lowered layout; the host only
        // reads the arguments and writes the 12-byte return area.
        unsafe {
            raw_write(
                stream as i32,
                rows.as_ptr().cast_mut().cast(),
                rows.len(),
                ret.0.as_mut_ptr(),
            );
        }
        black_box((&text, &row, &rows, &ret));
    }
}

sandpiper_sdk::export_handler!(HostileImport);
