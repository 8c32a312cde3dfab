//! Log filters (Zeek's `Log::Filter`): which writer writes a stream, to which file, with which
//! columns. Every stream has one default filter per `--log-format` writer; a `--log-config`
//! file adds filters and may replace a stream's defaults.
//!
//! ```toml
//! [[filter]]
//! stream = "http"                 # a log path, or "*" for every stream
//! writer = "json"                 # default: the first --log-format writer
//! path = "http_min"               # the file, without ".log"; default: the stream's path
//! include = ["ts", "uid", "host", "uri"]
//! # exclude = ["user_agent"]
//! # replace-default = true        # drop the stream's default filters
//! ```

use std::path::Path;

use serde::Deserialize;

use super::Schema;

/// One `[[filter]]` of a log configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FilterSpec {
    pub stream: String,
    pub writer: Option<String>,
    pub path: Option<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    #[serde(default)]
    pub replace_default: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    #[serde(default)]
    filter: Vec<FilterSpec>,
}

/// Filters of every stream: the default writers and the configured filters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `--log-format`, in order: the first writes `<path>.log`, each further one
    /// `<path>-<writer>.log`.
    pub formats: Vec<String>,
    pub filters: Vec<FilterSpec>,
}

/// A filter resolved for one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub writer: String,
    /// File name without `.log`.
    pub path: String,
    /// Indexes of the stream's columns this filter writes, or None for all of them.
    pub columns: Option<Vec<usize>>,
}

/// Whether `p` is usable as a log file name: 1-64 characters of a-z, 0-9, `_` and `-`.
pub fn valid_path(p: &str) -> bool {
    !p.is_empty()
        && p.len() <= 64
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl LogConfig {
    /// Default filters only.
    pub fn new(formats: Vec<String>) -> LogConfig {
        LogConfig {
            formats,
            filters: Vec::new(),
        }
    }

    /// Reads a `--log-config` file.
    pub fn load(formats: Vec<String>, file: &Path) -> Result<LogConfig, String> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| format!("--log-config {}: {e}", file.display()))?;
        let parsed: ConfigFile =
            toml::from_str(&text).map_err(|e| format!("--log-config {}: {e}", file.display()))?;
        let config = LogConfig {
            formats,
            filters: parsed.filter,
        };
        config
            .check()
            .map_err(|e| format!("--log-config {}: {e}", file.display()))?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        for (i, f) in self.filters.iter().enumerate() {
            let at = format!("filter {} (stream {:?})", i + 1, f.stream);
            if f.stream != "*" && !valid_path(&f.stream) {
                return Err(format!(
                    "{at}: stream is a log path such as \"conn\", or \"*\""
                ));
            }
            if let Some(p) = &f.path {
                if !valid_path(p) {
                    return Err(format!(
                        "{at}: path {p:?}: use 1-64 characters of a-z, 0-9, '_' and '-'"
                    ));
                }
                if f.stream == "*" {
                    return Err(format!("{at}: a path needs one stream, not \"*\""));
                }
            }
            if f.include.is_some() && f.exclude.is_some() {
                return Err(format!("{at}: give include or exclude, not both"));
            }
            if f.replace_default && f.stream == "*" {
                return Err(format!("{at}: replace-default needs one stream, not \"*\""));
            }
        }
        Ok(())
    }

    /// The writers any filter names (checked against the available ones at start).
    pub fn writers(&self) -> Vec<String> {
        let mut w: Vec<String> = self.formats.clone();
        for f in &self.filters {
            w.push(
                f.writer
                    .clone()
                    .unwrap_or_else(|| self.primary().to_string()),
            );
        }
        w.sort();
        w.dedup();
        w
    }

    fn primary(&self) -> &str {
        self.formats.first().map_or("tsv", String::as_str)
    }

    /// The filters of the stream with `schema`, in order: its defaults (unless replaced),
    /// then the configured ones. Column names a filter lists that the stream lacks are
    /// returned as warnings; two filters on the same file keep the first.
    pub fn resolve(&self, schema: &Schema) -> (Vec<Resolved>, Vec<String>) {
        let stream = schema.path.as_ref();
        let mut out: Vec<Resolved> = Vec::new();
        let mut warnings = Vec::new();
        let replaced = self
            .filters
            .iter()
            .any(|f| f.replace_default && f.stream == stream);
        if !replaced {
            for (i, w) in self.formats.iter().enumerate() {
                let path = if i == 0 {
                    stream.to_string()
                } else {
                    format!("{stream}-{w}")
                };
                out.push(Resolved {
                    writer: w.clone(),
                    path,
                    columns: None,
                });
            }
        }
        for f in self
            .filters
            .iter()
            .filter(|f| f.stream == "*" || f.stream == stream)
        {
            let writer = f
                .writer
                .clone()
                .unwrap_or_else(|| self.primary().to_string());
            let path = match &f.path {
                Some(p) => p.clone(),
                None if out.iter().any(|r| r.path == stream) => format!("{stream}-{writer}"),
                None => stream.to_string(),
            };
            let columns = select(schema, f, &mut warnings);
            if out.iter().any(|r| r.path == path) {
                warnings.push(format!(
                    "two filters of stream {stream} write {path}.log; the later one is ignored"
                ));
                continue;
            }
            out.push(Resolved {
                writer,
                path,
                columns,
            });
        }
        (out, warnings)
    }
}

fn select(schema: &Schema, f: &FilterSpec, warnings: &mut Vec<String>) -> Option<Vec<usize>> {
    let names = f.include.as_ref().or(f.exclude.as_ref())?;
    for n in names {
        if !schema.fields.iter().any(|c| c.name == n.as_str()) {
            warnings.push(format!(
                "filter of stream {}: no column {n:?} in {}.log",
                f.stream, schema.path
            ));
        }
    }
    let listed = |name: &str| names.iter().any(|n| n == name);
    let keep_listed = f.include.is_some();
    Some(
        schema
            .fields
            .iter()
            .enumerate()
            .filter(|(_, c)| listed(&c.name) == keep_listed)
            .map(|(i, _)| i)
            .collect(),
    )
}

/// Parses a rotation interval: a number with an optional unit (`s`, `m`, `h`, `d`; seconds
/// without one), e.g. "1h", "30m", "90s", "3600". Returns microseconds; at least one second.
pub fn parse_interval(s: &str) -> Result<i64, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not an interval like 1h, 30m or 90s"))?;
    let scale = match unit {
        "s" | "sec" | "secs" => 1.0,
        "m" | "min" | "mins" => 60.0,
        "h" | "hr" | "hrs" => 3600.0,
        "d" | "day" | "days" => 86_400.0,
        _ => return Err(format!("{s:?}: the unit is one of s, m, h, d")),
    };
    let us = n * scale * 1e6;
    if !(us.is_finite() && us >= 1e6) {
        return Err(format!("{s:?}: the interval is at least one second"));
    }
    Ok(us as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Field, FieldType};

    const FIELDS: &[Field] = &[
        Field::new_static("ts", FieldType::Time),
        Field::new_static("uid", FieldType::String),
        Field::new_static("host", FieldType::String),
    ];

    fn schema() -> Schema {
        Schema::new_static("http", FIELDS)
    }

    fn config(text: &str, formats: &[&str]) -> Result<LogConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("log.toml");
        std::fs::write(&f, text).unwrap();
        LogConfig::load(formats.iter().map(|s| s.to_string()).collect(), &f)
    }

    #[test]
    fn default_filters_one_per_format() {
        let c = LogConfig::new(vec!["tsv".into(), "json".into()]);
        let (r, w) = c.resolve(&schema());
        assert!(w.is_empty());
        assert_eq!(
            r,
            vec![
                Resolved {
                    writer: "tsv".into(),
                    path: "http".into(),
                    columns: None
                },
                Resolved {
                    writer: "json".into(),
                    path: "http-json".into(),
                    columns: None
                },
            ]
        );
    }

    #[test]
    fn configured_filters_select_columns_and_paths() {
        let c = config(
            "[[filter]]\nstream = \"http\"\nwriter = \"json\"\ninclude = [\"ts\", \"host\", \"nope\"]\n\
             [[filter]]\nstream = \"*\"\nexclude = [\"uid\"]\npath_unused = 1\n",
            &["tsv"],
        );
        assert!(c.unwrap_err().contains("unknown field"));
        let c = config(
            "[[filter]]\nstream = \"http\"\nwriter = \"json\"\ninclude = [\"ts\", \"host\", \"nope\"]\n\
             [[filter]]\nstream = \"http\"\npath = \"http_short\"\nexclude = [\"uid\"]\n",
            &["tsv"],
        )
        .unwrap();
        let (r, w) = c.resolve(&schema());
        assert_eq!(r.len(), 3);
        assert_eq!(r[1].path, "http-json");
        assert_eq!(r[1].columns, Some(vec![0, 2]));
        assert_eq!(r[2].path, "http_short");
        assert_eq!(r[2].writer, "tsv");
        assert_eq!(r[2].columns, Some(vec![0, 2]));
        assert_eq!(w.len(), 1, "{w:?}");
        assert_eq!(c.writers(), vec!["json".to_string(), "tsv".to_string()]);
    }

    #[test]
    fn replace_default_and_duplicates() {
        let c = config(
            "[[filter]]\nstream = \"http\"\nwriter = \"json\"\nreplace-default = true\n\
             [[filter]]\nstream = \"http\"\nwriter = \"tsv\"\n\
             [[filter]]\nstream = \"http\"\npath = \"http\"\n",
            &["tsv"],
        )
        .unwrap();
        let (r, w) = c.resolve(&schema());
        // The JSON filter replaced the default; the TSV one moves aside; the third would
        // write http.log a second time and is dropped with a warning.
        assert_eq!(r.len(), 2, "{r:?}");
        assert_eq!((r[0].writer.as_str(), r[0].path.as_str()), ("json", "http"));
        assert_eq!(
            (r[1].writer.as_str(), r[1].path.as_str()),
            ("tsv", "http-tsv")
        );
        assert_eq!(w.len(), 1, "{w:?}");
        // Other streams keep their default.
        let (r, _) = c.resolve(&Schema::new_static("dns", FIELDS));
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].path, "dns");
    }

    #[test]
    fn bad_configs_say_what_is_wrong() {
        for (text, why) in [
            ("[[filter]]\nstream = \"../x\"\n", "stream is a log path"),
            (
                "[[filter]]\nstream = \"a\"\npath = \"A/B\"\n",
                "path \"A/B\"",
            ),
            (
                "[[filter]]\nstream = \"*\"\npath = \"x\"\n",
                "needs one stream",
            ),
            (
                "[[filter]]\nstream = \"a\"\ninclude = []\nexclude = []\n",
                "not both",
            ),
            ("[[filter]]\nwriter = \"tsv\"\n", "missing field"),
        ] {
            let e = config(text, &["tsv"]).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }

    #[test]
    fn intervals() {
        assert_eq!(parse_interval("1h"), Ok(3_600_000_000));
        assert_eq!(parse_interval("30m"), Ok(1_800_000_000));
        assert_eq!(parse_interval("90"), Ok(90_000_000));
        assert_eq!(parse_interval("1.5d"), Ok(129_600_000_000));
        assert!(parse_interval("0.5s").is_err());
        assert!(parse_interval("1w").is_err());
        assert!(parse_interval("h").is_err());
    }
}
