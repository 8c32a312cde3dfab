//! The event-handler world: `handle(batch)`.

#[doc(hidden)]
pub mod handler_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/event-handler",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
            "sandpiper:monitor/log@0.2.1": crate::log,
            "sandpiper:monitor/events@0.2.1": crate::events,
        },
        pub_export_macro: true,
        export_macro_name: "__export_handler_world",
        default_bindings_module: "$crate::handler_bindings",
    });
}

pub use handler_bindings::sandpiper::monitor::{mutes, notice, timers};

use crate::types::Event;

/// An event handler ("script"). One value lives per instance; the host calls `handle` with
/// batches of the events the manifest subscribes to, in the order they were raised.
pub trait Handler: Default + 'static {
    fn handle(&mut self, batch: Vec<Event>);
}

/// Exports a [`Handler`] type as the component's `handler` interface.
#[macro_export]
macro_rules! export_handler {
    ($ty:ty) => {
        const _: () = {
            ::std::thread_local! {
                static STATE: ::core::cell::RefCell<$ty> = ::core::cell::RefCell::new(<$ty as ::core::default::Default>::default());
            }
            struct __SandpiperComponent;
            impl $crate::handler_bindings::exports::sandpiper::monitor::handler::Guest for __SandpiperComponent {
                fn handle(batch: ::std::vec::Vec<$crate::types::Event>) {
                    STATE.with(|s| $crate::Handler::handle(&mut *s.borrow_mut(), batch))
                }
            }
            $crate::handler_bindings::__export_handler_world!(__SandpiperComponent with_types_in $crate::handler_bindings);
        };
    };
}
