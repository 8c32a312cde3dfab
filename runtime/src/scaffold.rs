//! `sandpiper new`: a new module crate from a template, like Zeek's init-plugin.
//!
//! The templates are files under `runtime/templates/` compiled into the binary: one `lib.rs` per
//! kind (plus the `[analyzer]`/`[handler]` manifest section where the kind needs one) and a
//! `Cargo.toml`, `module.toml`, `README.md` and `.gitignore` shared by all kinds. Placeholders
//! are `{{name}}`, `{{crate}}` (the name with '_' for '-', as cargo names the `.wasm`),
//! `{{stream}}` (the same, as a log stream or event name), `{{kind}}`, `{{feature}}`,
//! `{{section}}` and `{{sdk}}` (the SDK's path as a quoted TOML string).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use clap::ValueEnum;

use crate::wasm::manifest::{valid_module_name, Kind};

/// What `sandpiper new` can create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// A protocol analyzer: one session per connection.
    Analyzer,
    /// A file analyzer: one value per file.
    FileAnalyzer,
    /// An event handler ("script"): detections and logs from batches of events.
    Handler,
    /// A log writer: formats the rows of a stream.
    Writer,
    /// A NetControl plugin: applies block, shunt and rate-limit rules.
    NetcontrolPlugin,
    /// An input reader: raw records in, events out.
    InputReader,
}

impl Template {
    pub const ALL: [Template; 6] = [
        Template::Analyzer,
        Template::FileAnalyzer,
        Template::Handler,
        Template::Writer,
        Template::NetcontrolPlugin,
        Template::InputReader,
    ];

    /// The manifest kind of the module.
    pub fn kind(self) -> Kind {
        match self {
            Template::Analyzer => Kind::ProtocolAnalyzer,
            Template::FileAnalyzer => Kind::FileAnalyzer,
            Template::Handler => Kind::EventHandler,
            Template::Writer => Kind::LogWriter,
            Template::NetcontrolPlugin => Kind::NetcontrolPlugin,
            Template::InputReader => Kind::InputReader,
        }
    }

    /// The SDK cargo feature of the kind.
    pub fn feature(self) -> &'static str {
        match self {
            Template::Analyzer => "analyzer",
            Template::FileAnalyzer => "file-analyzer",
            Template::Handler => "handler",
            Template::Writer => "writer",
            Template::NetcontrolPlugin => "netcontrol",
            Template::InputReader => "input",
        }
    }

    /// `src/lib.rs`, and the manifest section the kind needs ("" if none).
    fn sources(self) -> (&'static str, &'static str) {
        match self {
            Template::Analyzer => (
                include_str!("../templates/analyzer/lib.rs"),
                include_str!("../templates/analyzer/module-section.toml"),
            ),
            Template::FileAnalyzer => (include_str!("../templates/file-analyzer/lib.rs"), ""),
            Template::Handler => (
                include_str!("../templates/handler/lib.rs"),
                include_str!("../templates/handler/module-section.toml"),
            ),
            Template::Writer => (include_str!("../templates/writer/lib.rs"), ""),
            Template::NetcontrolPlugin => {
                (include_str!("../templates/netcontrol-plugin/lib.rs"), "")
            }
            Template::InputReader => (include_str!("../templates/input-reader/lib.rs"), ""),
        }
    }
}

/// The SDK of the source tree this binary was built from.
pub fn default_sdk() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk"))
}

/// The absolute path of the SDK to depend on (`given`, or [`default_sdk`]); it must exist.
pub fn sdk_dir(given: Option<&Path>) -> Result<PathBuf, String> {
    let dir = given.map_or_else(default_sdk, Path::to_path_buf);
    match fs::canonicalize(&dir) {
        Ok(d) if d.join("Cargo.toml").is_file() => Ok(d),
        _ => Err(format!(
            "no sandpiper-sdk at {}: give the sdk/ directory of a Sandpiper source tree with --sdk PATH",
            dir.display()
        )),
    }
}

/// Checks a module name: a valid manifest name that also makes a valid cargo package name.
pub fn check_name(name: &str) -> Result<(), String> {
    if valid_module_name(name) && name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Ok(())
    } else {
        Err(format!(
            "invalid module name {name:?}: use 1-64 characters of a-z, 0-9 and '-', starting with a letter"
        ))
    }
}

/// The files of a new module crate: relative path -> contents.
pub fn render(
    template: Template,
    name: &str,
    sdk: &Path,
) -> Result<BTreeMap<&'static str, String>, String> {
    check_name(name)?;
    let underscored = name.replace('-', "_");
    let sdk = toml::Value::String(sdk.display().to_string()).to_string();
    let (lib_rs, section) = template.sources();
    // In order: the section may hold placeholders; the SDK path is taken as it is.
    let vars = [
        ("section", section),
        ("name", name),
        ("crate", &underscored),
        ("stream", &underscored),
        ("kind", template.kind().name()),
        ("feature", template.feature()),
        ("sdk", &sdk),
    ];
    let files = [
        ("Cargo.toml", include_str!("../templates/Cargo.toml")),
        ("module.toml", include_str!("../templates/module.toml")),
        ("README.md", include_str!("../templates/README.md")),
        (".gitignore", include_str!("../templates/gitignore")),
        ("src/lib.rs", lib_rs),
    ];
    Ok(files
        .into_iter()
        .map(|(path, text)| (path, fill(text, &vars)))
        .collect())
}

/// Replaces every `{{key}}` of `vars` in `text`, one key after the other.
fn fill(text: &str, vars: &[(&str, &str)]) -> String {
    vars.iter().fold(text.to_string(), |text, (key, value)| {
        text.replace(&format!("{{{{{key}}}}}"), value)
    })
}

/// Creates `dir/name/` with the files of [`render`] and returns its path and the files written.
/// Refuses if `dir/name` exists; creates `dir` if needed.
pub fn create(
    template: Template,
    name: &str,
    dir: &Path,
    sdk: &Path,
) -> Result<(PathBuf, Vec<&'static str>), String> {
    let files = render(template, name, sdk)?;
    let root = dir.join(name);
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    fs::create_dir(&root).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => format!(
            "{} already exists: choose another name or --dir",
            root.display()
        ),
        _ => io(&root, e),
    })?;
    for (path, text) in &files {
        let file = root.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent).map_err(|e| io(parent, e))?;
        }
        fs::write(&file, text).map_err(|e| io(&file, e))?;
    }
    Ok((root, files.into_keys().collect()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wasm::manifest::Manifest;

    #[test]
    fn every_kind_renders_a_valid_manifest_and_crate() {
        for t in Template::ALL {
            let files = render(t, "my-mod", Path::new("/opt/sp \"x\"/sdk")).unwrap();
            for (path, text) in &files {
                assert!(
                    !text.contains("{{"),
                    "{t:?} {path}: placeholder left:\n{text}"
                );
            }
            let m = Manifest::parse(&files["module.toml"]).unwrap();
            assert_eq!((m.name.as_str(), m.kind), ("my-mod", t.kind()));
            let cargo: toml::Table = files["Cargo.toml"].parse().unwrap();
            assert_eq!(cargo["package"]["name"].as_str(), Some("my-mod"));
            let sdk = &cargo["dependencies"]["sandpiper-sdk"];
            assert_eq!(sdk["path"].as_str(), Some("/opt/sp \"x\"/sdk"));
            assert_eq!(sdk["features"][0].as_str(), Some(t.feature()));
            assert!(cargo["workspace"].as_table().unwrap().is_empty());
            assert!(files["README.md"].contains("release/my_mod.wasm"));
            assert_eq!(files[".gitignore"].lines().next(), Some("/target"));
        }
        let handler = render(Template::Handler, "my-mod", Path::new("/sdk")).unwrap();
        assert!(handler["src/lib.rs"].contains("path: \"my_mod\""));
        let reader = render(Template::InputReader, "my-mod", Path::new("/sdk")).unwrap();
        assert!(reader["src/lib.rs"].contains("\"my_mod_line\""));
    }

    #[test]
    fn names_are_checked() {
        let long = "a".repeat(65);
        for bad in ["", "Bad_Name", "my_mod", "1st", "-x", long.as_str()] {
            let e = render(Template::Handler, bad, Path::new("/sdk")).unwrap_err();
            assert!(e.contains("invalid module name"), "{bad}: {e}");
        }
        assert!(check_name(&"a".repeat(64)).is_ok());
        assert!(check_name("a1-b2").is_ok());
    }

    #[test]
    fn create_refuses_an_existing_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let sdk = Path::new("/sdk");
        let (root, files) = create(Template::Writer, "w", tmp.path(), sdk).unwrap();
        assert_eq!(root, tmp.path().join("w"));
        assert!(files.contains(&"src/lib.rs") && root.join("src/lib.rs").is_file());
        let e = create(Template::Writer, "w", tmp.path(), sdk).unwrap_err();
        assert!(e.contains("already exists"), "{e}");
    }

    #[test]
    fn the_default_sdk_is_this_repository_s() {
        let sdk = sdk_dir(None).unwrap();
        assert!(sdk.is_absolute() && sdk.join("src/lib.rs").is_file());
        assert!(sdk_dir(Some(Path::new("/nonexistent/sdk")))
            .unwrap_err()
            .contains("--sdk"));
    }
}
