//! The server's transport security and read access settings (`[tls]`, `[access]`; `serve
//! --tls-cert … --read-access …`) turned into [`ServerConfig`], and `token new`, which makes
//! read tokens.
//!
//! Every secret file the server is given (TLS key, tokens file) is checked for group or other
//! access and warned about; the tokens file holds hashes only, so the server keeps no token.

use anyhow::{Context, Result};
use clap::Subcommand;
use provledger::api::tokens::{self, TokenSet};
use provledger::api::{ReadAccess, ReadPolicy, ServerConfig, ServerTls};
use provledger::config::{ReadAccess as ReadAccessSetting, Settings};
use provledger::keyfile::warn_if_loose;
use std::path::{Path, PathBuf};

fn read(path: &Path, what: &str) -> Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {what} {}", path.display()))
}

fn warn_loose(path: &Path, what: &str) -> Result<()> {
    warn_if_loose(path, what).with_context(|| format!("reading {}", path.display()))
}

/// Adds the TLS and read-access settings (already validated as a whole by the configuration)
/// to `config`: reads the files, warns about loose file permissions and about a server
/// reachable beyond loopback without protection.
pub fn apply(settings: &Settings, config: &mut ServerConfig) -> Result<()> {
    let policy: ReadPolicy = match settings.access.read {
        ReadAccessSetting::Open => ReadPolicy::Open,
        ReadAccessSetting::Token => ReadPolicy::Token,
        ReadAccessSetting::Mtls => ReadPolicy::Mtls,
        ReadAccessSetting::TokenOrMtls => ReadPolicy::TokenOrMtls,
    };
    let tls = &settings.tls;
    if let (Some(cert), Some(key)) = (&tls.cert, &tls.key) {
        warn_loose(key, "TLS private key file")?;
        config.tls = Some(ServerTls {
            cert_chain_pem: read(cert, "tls.cert")?,
            key_pem: read(key, "tls.key")?,
            client_ca_pem: tls
                .client_ca
                .as_deref()
                .map(|p| read(p, "tls.client_ca"))
                .transpose()?,
        });
    }
    let tokens = match &settings.access.tokens {
        Some(path) => {
            warn_loose(path, "read tokens file")?;
            TokenSet::load(path)?
        }
        None => TokenSet::default(),
    };
    config.read_access = ReadAccess { policy, tokens };
    config.check().context("TLS and read access settings")?;
    let listen = settings.server.listen;
    if !listen.ip().is_loopback() {
        if config.tls.is_none() {
            tracing::warn!(%listen, "serving plaintext beyond loopback; set tls.cert and tls.key");
        }
        if policy == ReadPolicy::Open {
            tracing::warn!(%listen, "reads are open to anyone who can connect; set access.read");
        }
    } else if config.tls.is_none() && policy.needs_tokens() {
        tracing::warn!("read tokens travel in clear without TLS");
    }
    Ok(())
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
