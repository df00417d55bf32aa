//! Server configuration: every setting and bound of `provledger serve`, its default, and how the
//! layers combine — built-in defaults, then a TOML file, then `PROVLEDGER_<SECTION>_<KEY>`
//! environment variables, then command-line flags (each layer overrides the ones before it).
//!
//! [`Settings`] is the one description of the settings: its `Default` is the documented default,
//! its serde form is the file format (unknown keys are refused, naming them), and its key paths
//! (`section.key`) are what environment variables and `--set` name. [`load`] combines the layers
//! and remembers where each effective value came from; [`Settings::validate`] checks what types
//! cannot (ranges, settings that need each other) and names the key at fault.

mod layers;
mod render;
mod sections;

pub use layers::{ConfigError, Layers, Loaded, Source, key_paths, load};
pub use render::render;
pub use sections::{
    AccessSection, BatchSection, LimitsSection, LineageSection, ReadAccess, ServerSection,
    Settings, TlsSection,
};

/// The environment variable naming a key path: `limits.max_payload_bytes` is
/// `PROVLEDGER_LIMITS_MAX_PAYLOAD_BYTES`.
pub fn env_var(path: &str) -> String {
    format!("PROVLEDGER_{}", path.replace('.', "_").to_ascii_uppercase())
}
