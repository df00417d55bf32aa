//! The server's transport security and read access options (`serve --tls-cert … --read-access
//! …`), turned into [`ServerConfig`] settings, and `token new`, which makes read tokens.
//!
//! Every secret file the server is given (TLS key, tokens file) is checked for group or other
//! access and warned about; the tokens file holds hashes only, so the server keeps no token.

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use provledger::api::tokens::{self, TokenSet};
use provledger::api::{ReadAccess, ReadPolicy, ServerConfig, ServerTls};
use provledger::keyfile::warn_if_loose;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ServeAccessArgs {
    /// Serve TLS with this certificate chain (PEM, leaf first); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept client certificates issued by this CA (PEM), for mutual TLS; needs --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
    /// Who may read (everything but appends and health checks): open, token (a read token
    /// from --read-tokens), mtls (a client certificate from --tls-client-ca) or token-or-mtls.
    #[arg(long, default_value = "open", value_parser = ["open", "token", "mtls", "token-or-mtls"])]
    read_access: String,
    /// The read tokens' hashes, one per line (`provledger token new` adds them); read at start.
    #[arg(long, value_name = "FILE")]
    read_tokens: Option<PathBuf>,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn warn_loose(path: &Path, what: &str) -> Result<()> {
    warn_if_loose(path, what).with_context(|| format!("reading {}", path.display()))
}

impl ServeAccessArgs {
    /// Adds the TLS and read-access settings to `config`, checked, warning about loose file
    /// permissions and about a server reachable beyond loopback without protection.
    pub fn apply(&self, config: &mut ServerConfig, listen: SocketAddr) -> Result<()> {
        let policy: ReadPolicy = self.read_access.parse().map_err(anyhow::Error::msg)?;
        if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            warn_loose(key, "TLS private key file")?;
            config.tls = Some(ServerTls {
                cert_chain_pem: read(cert, "--tls-cert")?,
                key_pem: read(key, "--tls-key")?,
                client_ca_pem: self
                    .tls_client_ca
                    .as_deref()
                    .map(|p| read(p, "--tls-client-ca"))
                    .transpose()?,
            });
        }
        let tokens = match &self.read_tokens {
            Some(path) if policy.needs_tokens() => {
                warn_loose(path, "read tokens file")?;
                TokenSet::load(path)?
            }
            Some(_) => bail!("--read-tokens needs --read-access token or token-or-mtls"),
            None => TokenSet::default(),
        };
        if policy.needs_tokens() && self.read_tokens.is_none() {
            bail!(
                "--read-access {} needs --read-tokens FILE",
                self.read_access
            );
        }
        if policy.needs_client_ca() && self.tls_client_ca.is_none() {
            bail!(
                "--read-access {} needs --tls-client-ca FILE",
                self.read_access
            );
        }
        config.read_access = ReadAccess { policy, tokens };
        config.check().context("TLS and read access settings")?;
        if !listen.ip().is_loopback() {
            if config.tls.is_none() {
                tracing::warn!(%listen, "serving plaintext beyond loopback; use --tls-cert and --tls-key");
            }
            if policy == ReadPolicy::Open {
                tracing::warn!(%listen, "reads are open to anyone who can connect; use --read-access");
            }
        } else if config.tls.is_none() && policy.needs_tokens() {
            tracing::warn!("read tokens travel in clear without TLS");
        }
        Ok(())
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a read token: print it once, and append its hash to the server's tokens file
    /// (created 0600). Restart the server to accept it.
    New {
        /// The tokens file the server reads (`serve --read-tokens FILE`).
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// A label kept beside the hash, e.g. who holds the token.
        #[arg(long)]
        name: Option<String>,
    },
}

pub fn token(command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::New { out, name } => {
            let token = tokens::generate();
            tokens::append_hash(&out, &token, name.as_deref())?;
            warn_loose(&out, "read tokens file")?;
            println!("{token}");
            eprintln!(
                "its hash is in {}; this is the only time the token is shown",
                out.display()
            );
            Ok(())
        }
    }
}
