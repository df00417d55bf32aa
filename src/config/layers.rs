//! Combining the layers: defaults, then the file, then the environment, then flags; and where
//! each effective value came from.
//!
//! The catalogue of key paths is read off the serialised defaults (plus the optional keys, which
//! have no default), so a setting added to [`Settings`] is at once reachable from the file, the
//! environment and `--set`. Values from the environment and flags are text, parsed by the type of
//! their key: strings as they are, numbers and booleans as TOML scalars, lists comma-separated.

use super::{Settings, env_var};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::{Table, Value};

/// Keys that have no default (absent = off); all take a path.
const OPTIONAL_KEYS: [&str; 4] = ["tls.cert", "tls.key", "tls.client_ca", "access.tokens"];

/// Why the settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{origin}: {key}: {reason}")]
    Value {
        origin: String,
        key: String,
        reason: String,
    },
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: String },
}

/// Where an effective value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(String),
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Default => write!(f, "default"),
            Source::File(path) => write!(f, "file {}", path.display()),
            Source::Env(var) => write!(f, "env {var}"),
            Source::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// The layers above the defaults.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub file: Option<PathBuf>,
    /// The process environment (only `PROVLEDGER_<SECTION>_<KEY>` variables are read).
    pub env: Vec<(String, String)>,
    /// `(key path, value, the flag as typed)`, later ones winning.
    pub flags: Vec<(String, String, String)>,
}

/// Effective settings, validated, with the source of every key path.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub sources: BTreeMap<String, Source>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Float,
    Bool,
    List,
}

/// Every key path and the type of its value.
fn catalogue() -> BTreeMap<String, Kind> {
    let mut keys = BTreeMap::new();
    let defaults = Table::try_from(Settings::default()).unwrap_or_default();
    for (section, table) in &defaults {
        let Value::Table(table) = table else { continue };
        for (key, value) in table {
            let kind = match value {
                Value::Integer(_) => Kind::Integer,
                Value::Float(_) => Kind::Float,
                Value::Boolean(_) => Kind::Bool,
                Value::Array(_) => Kind::List,
                _ => Kind::Text,
            };
            keys.insert(format!("{section}.{key}"), kind);
        }
    }
    for key in OPTIONAL_KEYS {
        keys.insert(key.to_string(), Kind::Text);
    }
    keys
}

/// Every key path a setting can be given under, sorted.
pub fn key_paths() -> Vec<String> {
    catalogue().into_keys().collect()
}

fn parse(kind: Kind, text: &str) -> Result<Value, String> {
    let text_trimmed = text.trim();
    Ok(match kind {
        Kind::Text => Value::String(text.to_string()),
        Kind::Integer => Value::Integer(
            text_trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not a whole number"))?,
        ),
        Kind::Float => Value::Float(
            text_trimmed
                .parse()
                .map_err(|_| format!("{text:?} is not a number"))?,
        ),
        Kind::Bool => Value::Boolean(
            text_trimmed
                .parse()
                .map_err(|_| format!("{text:?} is neither true nor false"))?,
        ),
        Kind::List => Value::Array(
            text.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
    })
}

fn set(table: &mut Table, path: &str, value: Value) {
    let Some((section, key)) = path.split_once('.') else {
        return;
    };
    let entry = table
        .entry(section.to_string())
        .or_insert_with(|| Value::Table(Table::new()));
    if let Value::Table(section) = entry {
        section.insert(key.to_string(), value);
    }
}

fn read_file(path: &Path) -> Result<Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let file_error = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message: message.trim_end().to_string(),
    };
    // Parsed into the settings first, so a wrong key or type is reported with its line.
    toml::from_str::<Settings>(&text).map_err(|e| file_error(e.to_string()))?;
    text.parse::<Table>().map_err(|e| file_error(e.to_string()))
}

/// Combines the layers, parses every value by its key's type, and validates the result.
pub fn load(layers: &Layers) -> Result<Loaded, ConfigError> {
    let catalogue = catalogue();
    let mut sources: BTreeMap<String, Source> = catalogue
        .keys()
        .map(|k| (k.clone(), Source::Default))
        .collect();
    let mut table = match &layers.file {
        Some(path) => {
            let table = read_file(path)?;
            for (section, values) in &table {
                if let Value::Table(values) = values {
                    for key in values.keys() {
                        sources.insert(format!("{section}.{key}"), Source::File(path.clone()));
                    }
                }
            }
            table
        }
        None => Table::new(),
    };
    let env: BTreeMap<&str, &str> = layers
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (path, kind) in &catalogue {
        let var = env_var(path);
        if let Some(text) = env.get(var.as_str()) {
            let value = parse(*kind, text).map_err(|reason| ConfigError::Value {
                origin: format!("environment variable {var}"),
                key: path.clone(),
                reason,
            })?;
            set(&mut table, path, value);
            sources.insert(path.clone(), Source::Env(var));
        }
    }
    for (path, text, flag) in &layers.flags {
        let kind = catalogue.get(path).ok_or_else(|| ConfigError::Value {
            origin: flag.clone(),
            key: path.clone(),
            reason: format!("no such setting (settings: {})", key_paths().join(", ")),
        })?;
        let value = parse(*kind, text).map_err(|reason| ConfigError::Value {
            origin: flag.clone(),
            key: path.clone(),
            reason,
        })?;
        set(&mut table, path, value);
        sources.insert(path.clone(), Source::Flag(flag.clone()));
    }
    let settings: Settings =
        serde_path_to_error::deserialize(Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let reason = e.inner().to_string();
            let reason = reason.lines().next().unwrap_or_default().to_string();
            match sources.get(&key) {
                Some(source @ (Source::Env(_) | Source::Flag(_))) => ConfigError::Value {
                    origin: source.to_string(),
                    key,
                    reason,
                },
                _ => ConfigError::Invalid { key, reason },
            }
        })?;
    settings.validate()?;
    Ok(Loaded { settings, sources })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ReadAccess;

    fn file(text: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("provledger.toml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn no_layers_is_the_defaults() {
        let loaded = load(&Layers::default()).unwrap();
        assert_eq!(loaded.settings, Settings::default());
        assert!(loaded.sources.values().all(|s| *s == Source::Default));
        // Every section's keys are in the catalogue, the optional ones too.
        let keys = key_paths();
        for key in [
            "server.listen",
            "limits.key_rate_per_second",
            "tls.client_ca",
        ] {
            assert!(keys.contains(&key.to_string()), "{key}");
        }
    }

    #[test]
    fn flags_beat_env_beat_file_beat_defaults() {
        let (_dir, path) = file(
            "[limits]\nmax_payload_bytes = 1000\nqueue_appends = 10\nkey_rate_per_second = 5\n\
             [lineage]\nmax_depth = 7\n[access]\nread = \"token\"\ntokens = \"tokens.txt\"\n",
        );
        let loaded = load(&Layers {
            file: Some(path.clone()),
            env: env(&[
                ("PROVLEDGER_LIMITS_QUEUE_APPENDS", "20"),
                ("PROVLEDGER_LIMITS_MAX_PAYLOAD_BYTES", "2000"),
                ("PROVLEDGER_LINEAGE_PRODUCTION_ENVIRONMENTS", "prod, live"),
                ("PROVLEDGER_SERVER_ORIGIN", "123"),
                ("UNRELATED", "x"),
            ]),
            flags: vec![(
                "limits.max_payload_bytes".into(),
                "3000".into(),
                "--max-payload".into(),
            )],
        })
        .unwrap();
        let s = &loaded.settings;
        assert_eq!(s.limits.max_payload_bytes, 3000);
        assert_eq!(s.limits.queue_appends, 20);
        assert_eq!(s.limits.key_rate_per_second, 5.0);
        assert_eq!(s.lineage.max_depth, 7);
        assert_eq!(s.lineage.production_environments, ["prod", "live"]);
        assert_eq!(s.server.origin, "123");
        assert_eq!(s.access.read, ReadAccess::Token);
        assert_eq!(s.limits.max_attributes, 64);
        let source = |k: &str| loaded.sources[k].clone();
        assert_eq!(
            source("limits.max_payload_bytes"),
            Source::Flag("--max-payload".into())
        );
        assert_eq!(
            source("limits.queue_appends"),
            Source::Env("PROVLEDGER_LIMITS_QUEUE_APPENDS".into())
        );
        assert_eq!(source("lineage.max_depth"), Source::File(path));
        assert_eq!(source("limits.max_attributes"), Source::Default);
        // The mapping into the library's configuration.
        let ledger = s.ledger_config();
        assert_eq!(ledger.limits.max_payload_bytes, 3000);
        assert_eq!(ledger.queue_capacity, 20);
        assert_eq!(ledger.lineage.max_depth, 7);
        assert_eq!(ledger.key_rate.per_second, 5.0);
    }

    #[test]
    fn errors_name_the_key_and_where_it_came_from() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = 0;
        let mut file = |text: &str| {
            written += 1;
            let path = dir.path().join(format!("provledger-{written}.toml"));
            std::fs::write(&path, text).unwrap();
            ((), path)
        };
        let cases: Vec<(Layers, &str)> = vec![
            (
                Layers {
                    file: Some(file("[limits]\nmax_payload = 5\n").1),
                    ..Default::default()
                },
                "max_payload",
            ),
            (
                Layers {
                    file: Some(file("[limits]\nqueue_appends = \"many\"\n").1),
                    ..Default::default()
                },
                "queue_appends",
            ),
            (
                Layers {
                    file: Some(file("[limits\n").1),
                    ..Default::default()
                },
                "provledger-3.toml",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_LIMITS_QUEUE_APPENDS", "lots")]),
                    ..Default::default()
                },
                "environment variable PROVLEDGER_LIMITS_QUEUE_APPENDS: limits.queue_appends",
            ),
            (
                Layers {
                    flags: vec![("limits.nope".into(), "1".into(), "--set".into())],
                    ..Default::default()
                },
                "--set: limits.nope: no such setting",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_SERVER_LISTEN", "localhost")]),
                    ..Default::default()
                },
                "env PROVLEDGER_SERVER_LISTEN: server.listen: invalid socket address",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_BATCH_MAX_ENTRIES", "0")]),
                    ..Default::default()
                },
                "batch.max_entries: must be at least 1",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_ACCESS_READ", "token")]),
                    ..Default::default()
                },
                "access.tokens: required",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_TLS_CERT", "cert.pem")]),
                    ..Default::default()
                },
                "tls.key: required",
            ),
            (
                Layers {
                    env: env(&[("PROVLEDGER_LIMITS_MAX_PAYLOAD_BYTES", "99999999")]),
                    ..Default::default()
                },
                "limits.max_payload_bytes",
            ),
        ];
        for (layers, expected) in cases {
            let e = load(&layers).unwrap_err().to_string();
            assert!(e.contains(expected), "{e:?} should contain {expected:?}");
        }
    }
}
