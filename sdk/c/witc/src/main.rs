//! The two steps of building a C guest that need the component model's tools, as a library
//! call each (wit-bindgen's C generator and wit-component), so a fresh machine needs only
//! cargo, clang and wasi-libc rather than the wit-bindgen and wasm-tools command-line tools:
//!
//! ```text
//! sandpiper-witc bindings WIT_DIR WORLD OUT_DIR   # WORLD.h, WORLD.c, WORLD_component_type.o
//! sandpiper-witc component CORE.wasm OUT.wasm     # the core module wrapped into a component
//! ```
//!
//! `component` takes a module that imports nothing but its world's interfaces (a guest built
//! with `-mexec-model=reactor` that calls no WASI function), so no WASI adapter is needed; a
//! module importing WASI fails with wit-component's error naming the import.

use std::path::Path;

use anyhow::{bail, Context, Result};
use wit_parser::Resolve;

fn bindings(wit: &Path, world: &str, out: &Path) -> Result<()> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(wit)
        .with_context(|| format!("reading the WIT package in {}", wit.display()))?;
    let world = resolve.select_world(&[package], Some(world))?;
    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out)?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn component(core: &Path, out: &Path) -> Result<()> {
    let module = std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    let bytes = wit_component::ComponentEncoder::default()
        .module(&module)?
        .validate(true)
        .encode()
        .with_context(|| format!("making a component of {}", core.display()))?;
    std::fs::write(out, bytes).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let strs: Vec<&str> = args.iter().map(String::as_str).collect();
    match strs.as_slice() {
        ["bindings", wit, world, out] => bindings(Path::new(wit), world, Path::new(out)),
        ["component", core, out] => component(Path::new(core), Path::new(out)),
        _ => bail!(
            "usage: sandpiper-witc bindings WIT_DIR WORLD OUT_DIR | component CORE.wasm OUT.wasm"
        ),
    }
}
