//! The log-writer world: one value per stream.

#[doc(hidden)]
pub mod writer_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/log-writer",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_writer_world",
        default_bindings_module: "$crate::writer_bindings",
    });
}

pub use writer_bindings::sandpiper::monitor::sink;

use crate::packed::Rows;
use crate::types::{LogSchema, Time};

/// A log writer: formats the rows of one stream and writes the bytes with [`sink::write`].
pub trait Writer: 'static {
    fn new(schema: LogSchema, opened: Time) -> Self;
    /// The next rows, read in place from the packed bytes the host sent (see
    /// [`crate::packed`]).
    fn write(&mut self, rows: Rows<'_>) -> Result<(), String>;
    fn flush(&mut self) -> Result<(), String> {
        Ok(())
    }
    fn rotate(&mut self, at: Time) -> Result<(), String>;
    fn finish(&mut self, at: Time) -> Result<(), String>;
}

/// Exports a [`Writer`] type as the component's `writer` interface.
#[macro_export]
macro_rules! export_writer {
    ($ty:ty) => {
        const _: () = {
            use $crate::writer_bindings::exports::sandpiper::monitor::writer as __w;
            struct __SandpiperComponent;
            struct __SandpiperStreamWriter(::core::cell::RefCell<$ty>);
            impl __w::Guest for __SandpiperComponent {
                type StreamWriter = __SandpiperStreamWriter;
            }
            impl __w::GuestStreamWriter for __SandpiperStreamWriter {
                fn new(schema: $crate::types::LogSchema, opened: f64) -> Self {
                    __SandpiperStreamWriter(::core::cell::RefCell::new(<$ty as $crate::Writer>::new(schema, opened)))
                }
                fn write(&self, rows: $crate::types::PackedRows) -> Result<(), String> {
                    let rows = $crate::packed::Rows::new(rows.count, &rows.bytes);
                    $crate::Writer::write(&mut *self.0.borrow_mut(), rows)
                }
                fn flush(&self) -> Result<(), String> {
                    $crate::Writer::flush(&mut *self.0.borrow_mut())
                }
                fn rotate(&self, at: f64) -> Result<(), String> {
                    $crate::Writer::rotate(&mut *self.0.borrow_mut(), at)
                }
                fn finish(&self, at: f64) -> Result<(), String> {
                    $crate::Writer::finish(&mut *self.0.borrow_mut(), at)
                }
            }
            $crate::writer_bindings::__export_writer_world!(__SandpiperComponent with_types_in $crate::writer_bindings);
        };
    };
}
