//! Locating the PostgreSQL server binaries and the unprivileged user that runs them.
//!
//! Owns [`find_postgres`] (the `$PG_BIN` → `/usr/lib/postgresql/<version>/bin` → `PATH` search),
//! the [`NotInstalled`] error a caller can report as "skipped", the command runner shared by the
//! cluster lifecycle, and creating [`BENCH_USER`] when the tool runs as root.
//!
//! Invariants: a directory is only returned if it holds all of `initdb`, `pg_ctl` and
//! `postgres`; an absent server is always a [`NotInstalled`] error (possibly with context);
//! the user is created by one thread at a time.

use anyhow::{Context, Result, bail};
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The unprivileged system user that runs the server when the tool runs as root.
pub const BENCH_USER: &str = "provledger-bench";
/// How to install the server, printed when it is absent.
pub const INSTALL_HINT: &str =
    "PostgreSQL server not found; install it with: apt-get install -y postgresql";

/// The server binaries are not installed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotInstalled;

impl fmt::Display for NotInstalled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(INSTALL_HINT)
    }
}

impl std::error::Error for NotInstalled {}

/// The directory holding `initdb`, `pg_ctl` and `postgres`: `$PG_BIN`, else the highest
/// `/usr/lib/postgresql/<version>/bin`, else `PATH`. Fails with [`NotInstalled`].
pub fn find_postgres() -> Result<PathBuf> {
    let complete = |dir: &Path| {
        ["initdb", "pg_ctl", "postgres"]
            .iter()
            .all(|b| dir.join(b).is_file())
    };
    if let Some(dir) = std::env::var_os("PG_BIN") {
        let dir = PathBuf::from(dir);
        if complete(&dir) {
            return Ok(dir);
        }
        return Err(anyhow::Error::new(NotInstalled).context(format!(
            "PG_BIN={} has no initdb, pg_ctl and postgres",
            dir.display()
        )));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            complete(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if complete(&dir) {
                return Ok(dir);
            }
        }
    }
    Err(NotInstalled.into())
}

/// Runs a command and fails with its output if it does not succeed.
pub(crate) fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub(crate) fn id_of(flag: &str, user: Option<&str>) -> Result<u32> {
    let mut cmd = Command::new("id");
    cmd.arg(flag);
    if let Some(u) = user {
        cmd.arg(u);
    }
    let out = run(&mut cmd)?;
    out.trim()
        .parse()
        .with_context(|| format!("parsing `id {flag}` output {out:?}"))
}

/// Makes sure the unprivileged user exists; returns its uid and gid.
pub(crate) fn ensure_user(user: &str) -> Result<(u32, u32)> {
    // Clusters may start from several threads at once (the tests do); two of them creating the
    // user together left one with a directory its server could not write. One at a time.
    static CREATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = CREATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let exists = Command::new("id")
        .arg("-u")
        .arg(user)
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !exists {
        run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            user,
        ]))
        .with_context(|| format!("creating the unprivileged user {user} to run PostgreSQL"))?;
    }
    Ok((id_of("-u", Some(user))?, id_of("-g", Some(user))?))
}
