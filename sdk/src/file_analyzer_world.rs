//! The file-analyzer world: one value per file.

#[doc(hidden)]
pub mod file_analyzer_bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "sandpiper:monitor/file-analyzer",
        runtime_path: "::sandpiper_sdk::__wit_bindgen::rt",
        with: {
            "sandpiper:monitor/types@0.2.1": crate::types,
            "sandpiper:monitor/log@0.2.1": crate::log,
            "sandpiper:monitor/events@0.2.1": crate::events,
        },
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_file_analyzer_world",
        default_bindings_module: "$crate::file_analyzer_bindings",
    });
}

pub use file_analyzer_bindings::exports::sandpiper::monitor::file_analysis::FileMeta;
pub use file_analyzer_bindings::sandpiper::monitor::file_info;

/// A file analyzer: one value per file.
pub trait FileAnalyzer: 'static {
    fn new(meta: FileMeta) -> Self;
    fn data(&mut self, offset: u64, bytes: &[u8]);
    fn gap(&mut self, _offset: u64, _len: u64) {}
    fn end(&mut self) {}
}

/// Exports a [`FileAnalyzer`] type as the component's `file-analyzer` interface.
#[macro_export]
macro_rules! export_file_analyzer {
    ($ty:ty) => {
        const _: () = {
            use $crate::file_analyzer_bindings::exports::sandpiper::monitor::file_analysis as __f;
            struct __SandpiperComponent;
            struct __SandpiperFile(::core::cell::RefCell<$ty>);
            impl __f::Guest for __SandpiperComponent {
                type File = __SandpiperFile;
            }
            impl __f::GuestFile for __SandpiperFile {
                fn new(meta: __f::FileMeta) -> Self {
                    __SandpiperFile(::core::cell::RefCell::new(<$ty as $crate::FileAnalyzer>::new(meta)))
                }
                fn data(&self, offset: u64, bytes: ::std::vec::Vec<u8>) {
                    $crate::FileAnalyzer::data(&mut *self.0.borrow_mut(), offset, &bytes)
                }
                fn gap(&self, offset: u64, len: u64) {
                    $crate::FileAnalyzer::gap(&mut *self.0.borrow_mut(), offset, len)
                }
                fn end(&self) {
                    $crate::FileAnalyzer::end(&mut *self.0.borrow_mut())
                }
            }
            $crate::file_analyzer_bindings::__export_file_analyzer_world!(__SandpiperComponent with_types_in $crate::file_analyzer_bindings);
        };
    };
}
