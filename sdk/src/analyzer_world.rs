//! The protocol-analyzer world: one session per connection.

#[doc(hidden)]
pub mod analyzer_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/protocol-analyzer",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
            "sandpiper:monitor/log@0.2.1": crate::log,
            "sandpiper:monitor/events@0.2.1": crate::events,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_analyzer_world",
        default_bindings_module: "$crate::analyzer_bindings",
    });
}

pub use analyzer_bindings::sandpiper::monitor::{analysis, files};

use crate::types::ConnInfo;

/// A protocol analyzer session: one value per connection the analyzer is attached to.
pub trait Analyzer: 'static {
    /// A connection was handed to this analyzer.
    fn new(conn: ConnInfo) -> Self;
    /// The next bytes of one direction (one datagram for UDP).
    fn deliver(&mut self, is_orig: bool, data: &[u8]);
    /// `len` bytes of one direction were never seen.
    fn gap(&mut self, _is_orig: bool, _len: u64) {}
    /// One direction ended.
    fn end_of_data(&mut self, _is_orig: bool) {}
    /// The connection is over: log what is pending.
    fn finish(&mut self) {}
}

/// Exports an [`Analyzer`] type as the component's `analyzer` interface.
#[macro_export]
macro_rules! export_analyzer {
    ($ty:ty) => {
        const _: () = {
            use $crate::analyzer_bindings::exports::sandpiper::monitor::analyzer as __a;
            struct __SandpiperComponent;
            struct __SandpiperSession(::core::cell::RefCell<$ty>);
            impl __a::Guest for __SandpiperComponent {
                type Session = __SandpiperSession;
            }
            impl __a::GuestSession for __SandpiperSession {
                fn new(conn: $crate::types::ConnInfo) -> Self {
                    __SandpiperSession(::core::cell::RefCell::new(<$ty as $crate::Analyzer>::new(conn)))
                }
                fn deliver(&self, is_orig: bool, data: ::std::vec::Vec<u8>) {
                    $crate::Analyzer::deliver(&mut *self.0.borrow_mut(), is_orig, &data)
                }
                fn gap(&self, is_orig: bool, len: u64) {
                    $crate::Analyzer::gap(&mut *self.0.borrow_mut(), is_orig, len)
                }
                fn end_of_data(&self, is_orig: bool) {
                    $crate::Analyzer::end_of_data(&mut *self.0.borrow_mut(), is_orig)
                }
                fn finish(&self) {
                    $crate::Analyzer::finish(&mut *self.0.borrow_mut())
                }
            }
            $crate::analyzer_bindings::__export_analyzer_world!(__SandpiperComponent with_types_in $crate::analyzer_bindings);
        };
    };
}
