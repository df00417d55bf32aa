//! The settings themselves, section by section, with their defaults, their checks, and how they
//! become the library's [`LedgerConfig`] and [`ServerConfig`].

use super::ConfigError;
use crate::api::{ServerConfig, StreamLimits};
use crate::ledger::{AdmissionLimits, BatchPolicy, LedgerConfig, RateLimit};
use crate::lineage::LineageConfig;
use crate::provenance::rules::EventLimits;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every setting of `provledger serve`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    pub server: ServerSection,
    pub batch: BatchSection,
    pub limits: LimitsSection,
    pub lineage: LineageSection,
    pub tls: TlsSection,
    pub access: AccessSection,
}

/// Where the server keeps its data and listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// The data directory (created and initialised on first start).
    pub data: PathBuf,
    /// The address gRPC (and HTTP) clients connect to.
    pub listen: SocketAddr,
    /// The log's origin, for a data directory created on first start.
    pub origin: String,
    /// `text` (human-readable) or `json` (one JSON object per line).
    pub log_format: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data: PathBuf::from("./provledger-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            origin: "provledger.local/log".into(),
            log_format: "text".into(),
        }
    }
}

/// How appends are grouped into durable batches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchSection {
    /// Most entries in one durable (fsynced) batch.
    pub max_entries: usize,
    /// Microseconds to wait for more entries before committing a batch (0 = commit what is
    /// queued at once).
    pub linger_us: u64,
    /// Under load (appends already waiting when a commit ends), the least microseconds from
    /// the start of one commit to the start of the next (0 = no pacing). An append that finds
    /// the sequencer idle is committed at once.
    pub min_interval_us: u64,
}

impl Default for BatchSection {
    fn default() -> Self {
        let policy = BatchPolicy::default();
        BatchSection {
            max_entries: policy.max_batch,
            linger_us: policy.linger.as_micros() as u64,
            min_interval_us: policy.min_interval.as_micros() as u64,
        }
    }
}

/// Bounds on what clients may send and hold.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsSection {
    /// Largest request or answer message, in bytes (larger ones: OUT_OF_RANGE from the
    /// transport).
    pub max_message_bytes: usize,
    /// Largest event payload, in bytes (RESOURCE_EXHAUSTED).
    pub max_payload_bytes: usize,
    /// Most parents per event, attributes per event, and bytes per attribute key or value
    /// (INVALID_ARGUMENT).
    pub max_parents: usize,
    pub max_attributes: usize,
    pub max_attribute_bytes: usize,
    /// Appends waiting for the sequencer, by count and by envelope bytes; beyond either, new
    /// appends are refused at once (RESOURCE_EXHAUSTED).
    pub queue_appends: usize,
    pub queue_bytes: usize,
    /// Appends one AppendStream may carry (0 = unlimited), and how many of them may be in
    /// flight at once.
    pub stream_max_appends: u64,
    pub stream_window: usize,
    /// Calls in progress at once on one connection.
    pub max_concurrent_streams: u32,
    /// Appends per second each signing key may make (0 = unlimited), and the burst it may make
    /// after being idle (RESOURCE_EXHAUSTED).
    pub key_rate_per_second: f64,
    pub key_rate_burst: f64,
    /// Seconds between keepalive pings on an idle connection, and seconds an answer may take
    /// before the connection is closed.
    pub keepalive_interval_s: u64,
    pub keepalive_timeout_s: u64,
}

impl Default for LimitsSection {
    fn default() -> Self {
        let ledger = LedgerConfig::default();
        let server = ServerConfig::default();
        let event = EventLimits::default();
        LimitsSection {
            max_message_bytes: server.max_message_bytes,
            max_payload_bytes: ledger.limits.max_payload_bytes,
            max_parents: event.max_parents,
            max_attributes: event.max_attributes,
            max_attribute_bytes: event.max_attribute_bytes,
            queue_appends: ledger.queue_capacity,
            queue_bytes: ledger.queue_bytes,
            stream_max_appends: server.stream.max_appends,
            stream_window: server.stream.window,
            max_concurrent_streams: server.max_concurrent_streams,
            key_rate_per_second: ledger.key_rate.per_second,
            key_rate_burst: 1000.0,
            keepalive_interval_s: server.keepalive_interval.as_secs(),
            keepalive_timeout_s: server.keepalive_timeout.as_secs(),
        }
    }
}

/// Lineage indexing and query bounds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LineageSection {
    /// Environments that count as production for contamination alerts.
    pub production_environments: Vec<String>,
    /// The lineage database's block cache, in bytes.
    pub cache_bytes: u64,
    /// Deepest Trace or Descendants walk (deeper requests are cut here and say `truncated`).
    pub max_depth: u32,
    /// Most records one Trace, or one Descendants walk, visits.
    pub max_trace_nodes: usize,
    pub max_descendants: usize,
    /// Most events one History answer or Trace node carries.
    pub max_history: usize,
    /// Page size when a request gives none, and the largest a request may ask for.
    pub default_page: usize,
    pub max_page: usize,
    /// Milliseconds a query waits for the indexer to reach the size it asks for.
    pub max_wait_ms: u64,
}

impl Default for LineageSection {
    fn default() -> Self {
        let c = LineageConfig::default();
        LineageSection {
            production_environments: c.production_environments,
            cache_bytes: c.cache_bytes,
            max_depth: c.max_depth,
            max_trace_nodes: c.max_trace_nodes,
            max_descendants: c.max_descendants,
            max_history: c.max_history,
            default_page: c.default_page,
            max_page: c.max_page,
            max_wait_ms: c.max_wait.as_millis() as u64,
        }
    }
}

/// Transport security. Both `cert` and `key` turn TLS on; `client_ca` also asks every client
/// for a certificate issued by it (mutual TLS).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSection {
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
    pub client_ca: Option<PathBuf>,
}

/// Who may read (appends are authenticated by their signatures, whatever this says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSection {
    pub read: ReadAccess,
    /// The read-token file (hashes of the tokens, one per line), for `read = "token"`.
    pub tokens: Option<PathBuf>,
}

/// The read-access policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum ReadAccess {
    /// Anyone who can connect may read.
    #[default]
    Open,
    /// Reads carry `authorization: Bearer <token>` with a token from the token file.
    Token,
    /// Reads come over mutual TLS with a client certificate from `tls.client_ca`.
    Mtls,
    /// Either credential.
    TokenOrMtls,
}

impl ReadAccess {
    /// The policy's name, as written in the file.
    pub fn name(self) -> &'static str {
        match self {
            ReadAccess::Open => "open",
            ReadAccess::Token => "token",
            ReadAccess::Mtls => "mtls",
            ReadAccess::TokenOrMtls => "token-or-mtls",
        }
    }
}

impl Settings {
    /// Checks what the types cannot, naming the key at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let fail = |key: &str, reason: String| {
            Err(ConfigError::Invalid {
                key: key.into(),
                reason,
            })
        };
        let at_least_one: [(&str, u64); 11] = [
            ("batch.max_entries", self.batch.max_entries as u64),
            (
                "limits.max_message_bytes",
                self.limits.max_message_bytes as u64,
            ),
            (
                "limits.max_payload_bytes",
                self.limits.max_payload_bytes as u64,
            ),
            ("limits.queue_appends", self.limits.queue_appends as u64),
            ("limits.queue_bytes", self.limits.queue_bytes as u64),
            ("limits.stream_window", self.limits.stream_window as u64),
            (
                "limits.max_concurrent_streams",
                self.limits.max_concurrent_streams as u64,
            ),
            ("lineage.max_depth", self.lineage.max_depth as u64),
            ("lineage.max_page", self.lineage.max_page as u64),
            ("lineage.default_page", self.lineage.default_page as u64),
            (
                "limits.keepalive_interval_s",
                self.limits.keepalive_interval_s,
            ),
        ];
        for (key, value) in at_least_one {
            if value == 0 {
                return fail(key, "must be at least 1".into());
            }
        }
        if self.limits.max_payload_bytes >= self.limits.max_message_bytes {
            return fail(
                "limits.max_payload_bytes",
                format!(
                    "{} must be below limits.max_message_bytes ({}), which carries the payload",
                    self.limits.max_payload_bytes, self.limits.max_message_bytes
                ),
            );
        }
        if self.lineage.default_page > self.lineage.max_page {
            return fail(
                "lineage.default_page",
                format!(
                    "{} is above lineage.max_page ({})",
                    self.lineage.default_page, self.lineage.max_page
                ),
            );
        }
        let rate = self.limits.key_rate_per_second;
        if !rate.is_finite() || rate < 0.0 {
            return fail(
                "limits.key_rate_per_second",
                format!("{rate} is not a rate (0 = unlimited)"),
            );
        }
        let burst = self.limits.key_rate_burst;
        if !burst.is_finite() || burst < 1.0 {
            return fail(
                "limits.key_rate_burst",
                format!("{burst} must be at least 1"),
            );
        }
        if !matches!(self.server.log_format.as_str(), "text" | "json") {
            return fail(
                "server.log_format",
                format!(
                    "{:?} is neither \"text\" nor \"json\"",
                    self.server.log_format
                ),
            );
        }
        if self.server.origin.trim().is_empty() {
            return fail("server.origin", "must not be empty".into());
        }
        match (&self.tls.cert, &self.tls.key) {
            (Some(_), None) => return fail("tls.key", "required when tls.cert is set".into()),
            (None, Some(_)) => return fail("tls.cert", "required when tls.key is set".into()),
            _ => {}
        }
        if self.tls.client_ca.is_some() && self.tls.cert.is_none() {
            return fail(
                "tls.client_ca",
                "mutual TLS needs TLS: set tls.cert and tls.key".into(),
            );
        }
        let read = self.access.read;
        let needs_tokens = matches!(read, ReadAccess::Token | ReadAccess::TokenOrMtls);
        let needs_ca = matches!(read, ReadAccess::Mtls | ReadAccess::TokenOrMtls);
        let name = read.name();
        if needs_tokens && self.access.tokens.is_none() {
            return fail(
                "access.tokens",
                format!("required when access.read = \"{name}\""),
            );
        }
        if !needs_tokens && self.access.tokens.is_some() {
            return fail(
                "access.tokens",
                format!("access.read = \"{name}\" does not use read tokens"),
            );
        }
        if needs_ca && self.tls.client_ca.is_none() {
            return fail(
                "tls.client_ca",
                format!("required when access.read = \"{name}\""),
            );
        }
        Ok(())
    }

    /// The ledger's configuration.
    pub fn ledger_config(&self) -> LedgerConfig {
        let (l, g) = (&self.limits, &self.lineage);
        LedgerConfig {
            batch: BatchPolicy {
                max_batch: self.batch.max_entries,
                linger: Duration::from_micros(self.batch.linger_us),
                min_interval: Duration::from_micros(self.batch.min_interval_us),
            },
            queue_capacity: l.queue_appends,
            queue_bytes: l.queue_bytes,
            limits: AdmissionLimits {
                max_payload_bytes: l.max_payload_bytes,
                event: EventLimits {
                    max_parents: l.max_parents,
                    max_attributes: l.max_attributes,
                    max_attribute_bytes: l.max_attribute_bytes,
                    ..EventLimits::default()
                },
            },
            key_rate: RateLimit {
                per_second: l.key_rate_per_second,
                burst: l.key_rate_burst,
            },
            lineage: LineageConfig {
                production_environments: g.production_environments.clone(),
                cache_bytes: g.cache_bytes,
                max_depth: g.max_depth,
                max_trace_nodes: g.max_trace_nodes,
                max_descendants: g.max_descendants,
                max_history: g.max_history,
                default_page: g.default_page,
                max_page: g.max_page,
                max_wait: Duration::from_millis(g.max_wait_ms),
            },
        }
    }

    /// The transport's configuration (TLS and read access are applied by the caller, which
    /// reads their files).
    pub fn server_config(&self) -> ServerConfig {
        let l = &self.limits;
        ServerConfig {
            max_message_bytes: l.max_message_bytes,
            stream: StreamLimits {
                max_appends: l.stream_max_appends,
                window: l.stream_window,
            },
            max_concurrent_streams: l.max_concurrent_streams,
            keepalive_interval: Duration::from_secs(l.keepalive_interval_s),
            keepalive_timeout: Duration::from_secs(l.keepalive_timeout_s),
            ..ServerConfig::default()
        }
    }
}
