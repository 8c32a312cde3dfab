//! Module options: what a module lets its user set, as Zeek scripts' `option`/`const &redef`
//! values (`redef SSH::max_packet_length = 1000`). A manifest's `[options]` table names them
//! with their defaults (integers, floats, booleans or strings); `--set MODULE.NAME=VALUE`
//! replaces a default (the value must have the default's type). A component reads its
//! options, and nothing else, as its WASI environment: `NAME=value` for each (the host's own
//! environment stays denied).

use std::collections::HashMap;

/// Options per manifest at most, and the longest name and value.
pub const MAX_OPTIONS: usize = 64;
const MAX_NAME: usize = 64;
const MAX_VALUE: usize = 1024;

/// Checks a manifest's `[options]`.
pub fn validate(options: &toml::Table) -> Result<(), String> {
    if options.len() > MAX_OPTIONS {
        return Err(format!(
            "[options] has {} entries: at most {MAX_OPTIONS}",
            options.len()
        ));
    }
    for (name, value) in options {
        let good_name = !name.is_empty()
            && name.len() <= MAX_NAME
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !good_name {
            return Err(format!(
                "options.{name}: use 1-{MAX_NAME} characters of a-z, 0-9 and '_', starting with a letter"
            ));
        }
        match value {
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {}
            toml::Value::String(s) if s.len() <= MAX_VALUE && !s.contains('\0') => {}
            toml::Value::String(_) => {
                return Err(format!(
                    "options.{name}: a string of at most {MAX_VALUE} bytes without NUL"
                ))
            }
            _ => {
                return Err(format!(
                    "options.{name}: an integer, a float, a boolean or a string"
                ))
            }
        }
    }
    Ok(())
}

/// An option's value as the component sees it.
pub fn render(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The environment a module's components get: its options.
pub fn environment(options: &toml::Table) -> Vec<(String, String)> {
    options
        .iter()
        .map(|(k, v)| (k.clone(), render(v)))
        .collect()
}

/// `--set MODULE.NAME=VALUE` settings, by module.
#[derive(Debug, Clone, Default)]
pub struct Overrides(HashMap<String, Vec<(String, String)>>);

impl Overrides {
    /// Parses the `--set` arguments.
    pub fn parse(args: &[String]) -> Result<Self, String> {
        let mut by_module: HashMap<String, Vec<(String, String)>> = HashMap::new();
        for a in args {
            let bad =
                || format!("--set {a}: write MODULE.OPTION=VALUE, e.g. ssh.max_packet_length=1000");
            let (key, value) = a.split_once('=').ok_or_else(bad)?;
            let (module, name) = key.split_once('.').ok_or_else(bad)?;
            if module.is_empty() || name.is_empty() || value.len() > MAX_VALUE {
                return Err(bad());
            }
            by_module
                .entry(module.to_string())
                .or_default()
                .push((name.to_string(), value.to_string()));
        }
        Ok(Overrides(by_module))
    }

    /// Applies the settings for `module` to its options: each must name an option, and its
    /// value must read as the default's type.
    pub fn apply(&self, module: &str, options: &mut toml::Table) -> Result<(), String> {
        for (name, text) in self.0.get(module).into_iter().flatten() {
            let Some(default) = options.get(name) else {
                return Err(format!(
                    "--set {module}.{name}: module {module} has no such option"
                ));
            };
            let wrong = |what: &str| format!("--set {module}.{name}={text}: {what} expected");
            let value = match default {
                toml::Value::Integer(_) => {
                    toml::Value::Integer(text.parse().map_err(|_| wrong("an integer"))?)
                }
                toml::Value::Float(_) => {
                    toml::Value::Float(text.parse().map_err(|_| wrong("a number"))?)
                }
                toml::Value::Boolean(_) => match text.as_str() {
                    "true" | "T" => toml::Value::Boolean(true),
                    "false" | "F" => toml::Value::Boolean(false),
                    _ => return Err(wrong("true or false")),
                },
                _ => toml::Value::String(text.clone()),
            };
            options.insert(name.clone(), value);
        }
        Ok(())
    }

    /// The modules named by a setting.
    pub fn modules(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> toml::Table {
        text.parse().unwrap()
    }

    #[test]
    fn names_and_values_are_checked() {
        assert!(validate(&table("max_len = 10\nname = \"x\"\non = true\nf = 1.5")).is_ok());
        assert!(validate(&table("Max = 1"))
            .unwrap_err()
            .contains("options.Max"));
        assert!(validate(&table("a = [1]"))
            .unwrap_err()
            .contains("an integer"));
        let many: String = (0..65).map(|i| format!("o{i} = 1\n")).collect();
        assert!(validate(&table(&many)).unwrap_err().contains("at most 64"));
    }

    #[test]
    fn settings_replace_defaults_of_the_same_type() {
        let o = Overrides::parse(&[
            "ssh.max_packet_length=1000".into(),
            "ssh.on=F".into(),
            "dns.x=1".into(),
        ])
        .unwrap();
        let mut t = table("max_packet_length = 262144\non = true\nother = \"a\"");
        o.apply("ssh", &mut t).unwrap();
        assert_eq!(
            environment(&t),
            [
                ("max_packet_length".to_string(), "1000".to_string()),
                ("on".to_string(), "false".to_string()),
                ("other".to_string(), "a".to_string()),
            ]
        );
        let mut t = table("max_packet_length = 1");
        let e = Overrides::parse(&["ssh.max_packet_length=big".into()])
            .unwrap()
            .apply("ssh", &mut t)
            .unwrap_err();
        assert!(e.contains("an integer expected"), "{e}");
        let e = Overrides::parse(&["ssh.nope=1".into()])
            .unwrap()
            .apply("ssh", &mut t)
            .unwrap_err();
        assert!(e.contains("has no such option"), "{e}");
        assert!(Overrides::parse(&["ssh=1".into()]).is_err());
        assert!(Overrides::parse(&["max=1".into()]).is_err());
    }
}
