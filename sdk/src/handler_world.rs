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

/// The packed-event-handler world: the same imports, `handle(batch)` with the batch packed.
#[doc(hidden)]
pub mod packed_handler_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/packed-event-handler",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
            "sandpiper:monitor/log@0.2.1": crate::log,
            "sandpiper:monitor/events@0.2.1": crate::events,
            "sandpiper:monitor/notice@0.2.1": crate::handler_bindings::sandpiper::monitor::notice,
            "sandpiper:monitor/timers@0.2.1": crate::handler_bindings::sandpiper::monitor::timers,
            "sandpiper:monitor/mutes@0.2.1": crate::handler_bindings::sandpiper::monitor::mutes,
        },
        pub_export_macro: true,
        export_macro_name: "__export_packed_handler_world",
        default_bindings_module: "$crate::packed_handler_bindings",
    });
}

/// An event handler that reads its batches in place ([`crate::packed::Events`]: strings
/// borrowed from the batch's bytes) instead of as `Vec<Event>`. The host then lowers one byte
/// list per batch instead of every event's strings and lists one by one (a call into the
/// guest's allocator for each), and the handler allocates nothing to read an event. Export it
/// with [`export_packed_handler!`]; the manifest still says `kind = "event-handler"`.
pub trait PackedHandler: Default + 'static {
    fn handle(&mut self, events: crate::packed::Events<'_>);
}

/// Exports a [`PackedHandler`] type as the component's `packed-handler` interface.
#[macro_export]
macro_rules! export_packed_handler {
    ($ty:ty) => {
        const _: () = {
            ::std::thread_local! {
                static STATE: ::core::cell::RefCell<$ty> = ::core::cell::RefCell::new(<$ty as ::core::default::Default>::default());
            }
            struct __SandpiperComponent;
            impl $crate::packed_handler_bindings::exports::sandpiper::monitor::packed_handler::Guest for __SandpiperComponent {
                fn handle(batch: $crate::types::PackedEvents) {
                    let events = $crate::packed::Events::new(batch.count, &batch.bytes);
                    STATE.with(|s| $crate::PackedHandler::handle(&mut *s.borrow_mut(), events))
                }
            }
            $crate::packed_handler_bindings::__export_packed_handler_world!(__SandpiperComponent with_types_in $crate::packed_handler_bindings);
        };
    };
}
