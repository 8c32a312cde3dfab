//! The netcontrol-plugin world.

#[doc(hidden)]
pub mod netcontrol_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/netcontrol-plugin",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_netcontrol_world",
        default_bindings_module: "$crate::netcontrol_bindings",
    });
}

pub use netcontrol_bindings::exports::sandpiper::monitor::netcontrol::{Action, Entity, Rule};
pub use netcontrol_bindings::sandpiper::monitor::rule_feedback;

/// A NetControl plugin. One value lives per instance.
pub trait NetControlPlugin: Default + 'static {
    fn name(&self) -> String;
    fn add_rule(&mut self, rule: Rule) -> Result<(), String>;
    fn remove_rule(&mut self, rule_id: u64) -> Result<(), String>;
}

/// Exports a [`NetControlPlugin`] type as the component's `netcontrol` interface.
#[macro_export]
macro_rules! export_netcontrol_plugin {
    ($ty:ty) => {
        const _: () = {
            use $crate::netcontrol_bindings::exports::sandpiper::monitor::netcontrol as __n;
            ::std::thread_local! {
                static STATE: ::core::cell::RefCell<$ty> = ::core::cell::RefCell::new(<$ty as ::core::default::Default>::default());
            }
            struct __SandpiperComponent;
            impl __n::Guest for __SandpiperComponent {
                fn name() -> String {
                    STATE.with(|s| $crate::NetControlPlugin::name(&*s.borrow()))
                }
                fn add_rule(r: __n::Rule) -> Result<(), String> {
                    STATE.with(|s| $crate::NetControlPlugin::add_rule(&mut *s.borrow_mut(), r))
                }
                fn remove_rule(id: u64) -> Result<(), String> {
                    STATE.with(|s| $crate::NetControlPlugin::remove_rule(&mut *s.borrow_mut(), id))
                }
            }
            $crate::netcontrol_bindings::__export_netcontrol_world!(__SandpiperComponent with_types_in $crate::netcontrol_bindings);
        };
    };
}
