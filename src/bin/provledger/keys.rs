//! `keygen` and `key register | revoke | list`.

use crate::connect::ConnectArgs;
use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use provledger::client::{connect, verify_receipt};
use provledger::keyfile;
use provledger::ledger::key_action_envelope;
use provledger::note::{NoteSigner, NoteVerifier};
use provledger::proto::{
    AppendRequest, KeyRegistration, KeyRevocation, ListKeysRequest, Origin, Role, key_action,
};
use provledger::registry::parse_role;
use std::path::{Path, PathBuf};

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Register a signing key in the log (an admin-signed log entry).
    Register {
        #[command(flatten)]
        server: ConnectArgs,
        /// The admin's private key file.
        #[arg(long)]
        admin_key: PathBuf,
        /// The key to register, as a vkey (`name+hex8+base64`).
        #[arg(long)]
        vkey: String,
        /// generator, sync_job, reviewer or admin.
        #[arg(long)]
        role: String,
        /// Origins the key may declare: synthetic, real (default: any).
        #[arg(long, value_delimiter = ',')]
        origins: Vec<String>,
        /// Environments the key may write to, e.g. sandbox,staging (default: any).
        #[arg(long, value_delimiter = ',')]
        environments: Vec<String>,
        #[arg(long, default_value = "")]
        description: String,
        /// The log's vkey, to verify the receipt's checkpoint signature.
        #[arg(long)]
        log_key: Option<String>,
    },
    /// Revoke a key (an admin-signed log entry). Its later events are refused.
    Revoke {
        #[command(flatten)]
        server: ConnectArgs,
        #[arg(long)]
        admin_key: PathBuf,
        /// The key's name.
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        reason: String,
        #[arg(long)]
        log_key: Option<String>,
    },
    /// List every registered key with its registration and revocation indexes.
    List {
        #[command(flatten)]
        server: ConnectArgs,
    },
}

pub fn keygen(name: &str, out: &Path) -> Result<()> {
    let signer = NoteSigner::generate(name).context("key name")?;
    keyfile::write(out, &signer)?;
    println!("{}", signer.verifier().to_vkey());
    Ok(())
}

pub fn run(cmd: KeyCommand) -> Result<()> {
    tokio::runtime::Runtime::new()?.block_on(run_async(cmd))
}

fn parse_origin(s: &str) -> Result<i32> {
    match s.trim().to_ascii_lowercase().as_str() {
        "synthetic" => Ok(Origin::Synthetic as i32),
        "real" => Ok(Origin::Real as i32),
        other => bail!("--origins: unknown origin {other:?} (synthetic or real)"),
    }
}

async fn run_async(cmd: KeyCommand) -> Result<()> {
    match cmd {
        KeyCommand::Register {
            server,
            admin_key,
            vkey,
            role,
            origins,
            environments,
            description,
            log_key,
        } => {
            NoteVerifier::from_vkey(&vkey).context("--vkey")?;
            let role = parse_role(&role).ok_or_else(|| {
                anyhow!("--role: {role:?} is not generator, sync_job, reviewer or admin")
            })?;
            let registration = KeyRegistration {
                vkey,
                role: role as i32,
                allowed_origins: origins
                    .iter()
                    .map(|o| parse_origin(o))
                    .collect::<Result<_>>()?,
                allowed_environments: environments,
                description,
            };
            let admin = keyfile::read(&admin_key)?;
            submit(
                &server,
                &admin,
                key_action::Action::Register(registration),
                log_key,
            )
            .await
        }
        KeyCommand::Revoke {
            server,
            admin_key,
            name,
            reason,
            log_key,
        } => {
            let admin = keyfile::read(&admin_key)?;
            let action = key_action::Action::Revoke(KeyRevocation {
                key_name: name,
                reason,
            });
            submit(&server, &admin, action, log_key).await
        }
        KeyCommand::List { server } => {
            let mut client = connect(server.options()?).await?;
            let answer = client.list_keys(ListKeysRequest {}).await?.into_inner();
            println!(
                "{} keys at tree size {}",
                answer.keys.len(),
                answer.tree_size
            );
            for key in answer.keys {
                let reg = key.registration.unwrap_or_default();
                let state = if key.revoked {
                    format!("revoked at {}", key.revoked_at)
                } else {
                    "active".to_string()
                };
                println!(
                    "{}  {}  registered at {}  {}",
                    reg.vkey,
                    Role::try_from(reg.role)
                        .unwrap_or(Role::Unspecified)
                        .as_str_name(),
                    key.registered_at,
                    state
                );
            }
            Ok(())
        }
    }
}

async fn submit(
    server: &ConnectArgs,
    admin: &NoteSigner,
    action: key_action::Action,
    log_key: Option<String>,
) -> Result<()> {
    let envelope = key_action_envelope(admin, action);
    let mut client = connect(server.options()?).await?;
    let response = client
        .append(AppendRequest {
            event: Some(envelope),
        })
        .await
        .map_err(|s| anyhow!("{:?}: {}", s.code(), s.message()))?
        .into_inner();
    if let Some(vkey) = log_key {
        let log_key = NoteVerifier::from_vkey(&vkey).context("--log-key")?;
        verify_receipt(&response, &log_key)?;
        println!("receipt verified against the log key");
    }
    println!(
        "recorded at log index {}{}",
        response.index,
        if response.duplicate {
            " (duplicate of an earlier identical entry)"
        } else {
            ""
        }
    );
    Ok(())
}
