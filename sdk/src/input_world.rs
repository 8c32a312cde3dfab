//! The input-reader world: raw records in, events out; no I/O.

#[doc(hidden)]
pub mod input_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/input-reader",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_input_world",
        default_bindings_module: "$crate::input_bindings",
    });
}

use crate::types::Event;

/// An input reader: parses raw records into events. Returns the events and, for records it could
/// not parse, their index and why.
pub trait InputReader: Default + 'static {
    fn parse(&mut self, source: &str, records: Vec<Vec<u8>>) -> (Vec<Event>, Vec<(u32, String)>);
}

/// Exports an [`InputReader`] type as the component's `input` interface.
#[macro_export]
macro_rules! export_input_reader {
    ($ty:ty) => {
        const _: () = {
            use $crate::input_bindings::exports::sandpiper::monitor::input as __i;
            ::std::thread_local! {
                static STATE: ::core::cell::RefCell<$ty> = ::core::cell::RefCell::new(<$ty as ::core::default::Default>::default());
            }
            struct __SandpiperComponent;
            impl __i::Guest for __SandpiperComponent {
                fn parse(
                    source: String,
                    records: ::std::vec::Vec<::std::vec::Vec<u8>>,
                ) -> (::std::vec::Vec<$crate::types::Event>, ::std::vec::Vec<(u32, String)>) {
                    STATE.with(|s| $crate::InputReader::parse(&mut *s.borrow_mut(), &source, records))
                }
            }
            $crate::input_bindings::__export_input_world!(__SandpiperComponent with_types_in $crate::input_bindings);
        };
    };
}
