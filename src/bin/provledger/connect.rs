//! `ConnectArgs`: how every client command reaches the server — its URL, the CA to trust for
//! TLS, a client certificate for mutual TLS, and a read token — turned into the library's
//! [`ConnectOptions`]. The token comes from `--token-file` or, failing that, `PROVLEDGER_TOKEN`;
//! it is never taken on the command line, where other users could see it.

use anyhow::{Context, Result, bail};
use clap::Args;
use provledger::client::ConnectOptions;
use std::path::{Path, PathBuf};

/// The environment variable holding a read token when `--token-file` is not given.
pub const TOKEN_ENV: &str = "PROVLEDGER_TOKEN";

#[derive(Args, Debug, Clone)]
pub struct ConnectArgs {
    /// The server: `http://HOST:PORT` (plaintext) or `https://HOST:PORT` (TLS).
    #[arg(long, default_value = "http://127.0.0.1:50051")]
    pub server: String,
    /// The CA (PEM) that issued the server's certificate (default with https: the system
    /// roots).
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// A client certificate (PEM) for mutual TLS; needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The client certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// A file holding a read token (default: the PROVLEDGER_TOKEN environment variable).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

impl ConnectArgs {
    /// The library's connection options, with every file read.
    pub fn options(&self) -> Result<ConnectOptions> {
        let token = match &self.token_file {
            Some(path) => {
                provledger::keyfile::warn_if_loose(path, "read token file")
                    .with_context(|| format!("reading --token-file {}", path.display()))?;
                let text = String::from_utf8(read(path, "--token-file")?)
                    .with_context(|| format!("--token-file {} is not text", path.display()))?;
                Some(text.trim().to_string())
            }
            None => std::env::var(TOKEN_ENV).ok().map(|t| t.trim().to_string()),
        };
        if token.as_deref() == Some("") {
            bail!("the read token (--token-file or {TOKEN_ENV}) is empty");
        }
        let client_identity = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                provledger::keyfile::warn_if_loose(key, "TLS private key file")
                    .with_context(|| format!("reading --tls-key {}", key.display()))?;
                Some((read(cert, "--tls-cert")?, read(key, "--tls-key")?))
            }
            _ => None,
        };
        Ok(ConnectOptions {
            url: self.server.clone(),
            ca_pem: self
                .tls_ca
                .as_deref()
                .map(|p| read(p, "--tls-ca"))
                .transpose()?,
            client_identity,
            token,
        })
    }
}
