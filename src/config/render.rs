//! Printing effective settings as a TOML file, each value followed by where it came from, so
//! the output of `provledger config check` is itself a valid configuration file.

use super::Loaded;
use std::fmt::Write;
use toml::{Table, Value};

/// The effective settings as TOML, one `key = value  # source` line per setting; optional keys
/// left unset are printed commented out.
pub fn render(loaded: &Loaded) -> String {
    let table = Table::try_from(&loaded.settings).unwrap_or_default();
    let mut out = String::new();
    let mut sections: Vec<&str> = loaded
        .sources
        .keys()
        .filter_map(|k| k.split_once('.').map(|(section, _)| section))
        .collect();
    sections.dedup();
    for section in sections {
        let values = match table.get(section) {
            Some(Value::Table(values)) => values.clone(),
            _ => Table::new(),
        };
        let _ = writeln!(out, "[{section}]");
        for (path, source) in &loaded.sources {
            let Some(key) = path
                .strip_prefix(section)
                .and_then(|rest| rest.strip_prefix('.'))
            else {
                continue;
            };
            match values.get(key) {
                Some(value) => {
                    let _ = writeln!(out, "{key} = {value}  # {source}");
                }
                None => {
                    let _ = writeln!(out, "# {key} = (unset)  # {source}");
                }
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Layers, Settings, load};

    #[test]
    fn the_rendering_is_a_config_file_that_loads_to_the_same_settings() {
        let loaded = load(&Layers {
            env: vec![
                ("PROVLEDGER_LIMITS_QUEUE_APPENDS".into(), "77".into()),
                ("PROVLEDGER_TLS_CERT".into(), "c.pem".into()),
                ("PROVLEDGER_TLS_KEY".into(), "k.pem".into()),
            ],
            ..Default::default()
        })
        .unwrap();
        let text = render(&loaded);
        assert!(
            text.contains("queue_appends = 77  # env PROVLEDGER_LIMITS_QUEUE_APPENDS"),
            "{text}"
        );
        assert!(text.contains("# client_ca = (unset)  # default"), "{text}");
        let again: Settings = toml::from_str(&text).unwrap();
        assert_eq!(again, loaded.settings);
    }
}
