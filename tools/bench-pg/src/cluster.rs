//! The throw-away cluster's lifecycle: create, configure, start, connect, create the table, stop
//! and delete.
//!
//! Owns [`PgCluster`] (its connection, prepared-statement cache and write-method choice) and the
//! private `Server` guard that stops the server and removes its directory. Ingest, writing,
//! filling and proving add their own `impl PgCluster` blocks in their modules.
//!
//! Invariants: the server listens on 127.0.0.1 only and the client connects over the Unix socket
//! inside the cluster's temporary directory; `fsync`, `synchronous_commit` and
//! `full_page_writes` are on (checked after connecting); when run as root the server runs as
//! [`BENCH_USER`]; the connection closes before the server stops, and the server stops (`-m fast`,
//! else `-m immediate`) before its directory is removed, on error paths too.

use crate::install::{BENCH_USER, ensure_user, find_postgres, id_of, run};
use crate::schema::{GENESIS, TABLE, table_sql};
use crate::write::WriteMethod;
use anyhow::{Context, Result, ensure};
use postgres::{Client, NoTls, Statement};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

const DB_USER: &str = "bench";

/// The server process and its directory; dropping it stops the server and deletes the directory.
struct Server {
    bin: PathBuf,
    /// The user that runs the server, when the tool runs as root.
    run_as: Option<String>,
    data: PathBuf,
    started: bool,
    // Declared last: removed after the server is stopped.
    dir: tempfile::TempDir,
}

impl Server {
    /// A command running a server binary as the server's user, from the temporary directory.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args([
                    OsStr::new("-u"),
                    OsStr::new(user),
                    OsStr::new("--"),
                    program.as_os_str(),
                ]);
                c
            }
            None => Command::new(program),
        };
        cmd.current_dir(self.dir.path());
        cmd
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.started {
            return;
        }
        for mode in ["fast", "immediate"] {
            let stopped = self
                .command("pg_ctl")
                .arg("-D")
                .arg(&self.data)
                .args(["-m", mode, "-w", "-t", "60", "stop"])
                .output();
            match stopped {
                Ok(o) if o.status.success() => return,
                Ok(o) => eprintln!(
                    "bench-pg: pg_ctl stop -m {mode} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => eprintln!("bench-pg: pg_ctl stop -m {mode}: {e}"),
            }
        }
    }
}

/// A throw-away PostgreSQL cluster holding the `events` table. Dropping it stops the server and
/// deletes its directory.
pub struct PgCluster {
    // Declared first: the connection closes before the server stops.
    pub(crate) client: Client,
    pub(crate) statements: HashMap<(String, WriteMethod, usize), Statement>,
    pub(crate) method: Option<WriteMethod>,
    port: u16,
    server: Server,
}

impl PgCluster {
    /// Creates, starts and connects to a new cluster and creates the table.
    pub fn start() -> Result<PgCluster> {
        let bin = find_postgres()?;
        let root = id_of("-u", None)? == 0;
        let dir = tempfile::Builder::new()
            .prefix("provledger-pg-")
            .tempdir()
            .context("creating the cluster's temporary directory")?;
        let run_as = if root {
            let (uid, gid) = ensure_user(BENCH_USER)?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .context("handing the temporary directory to the server's user")?;
            Some(BENCH_USER.to_string())
        } else {
            None
        };
        let data = dir.path().join("data");
        let mut server = Server {
            bin,
            run_as,
            data,
            started: false,
            dir,
        };

        run(server.command("initdb").arg("-D").arg(&server.data).args([
            "-U",
            DB_USER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
        ]))
        .context("initdb")?;

        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .context("finding a free port")?
            .port();
        let socket_dir = server
            .dir
            .path()
            .to_str()
            .context("temporary path is not UTF-8")?;
        ensure!(
            !socket_dir.contains('\''),
            "temporary path {socket_dir} contains a quote"
        );
        let settings = format!(
            "\n# provledger bench-pg\n\
             listen_addresses = '127.0.0.1'\n\
             port = {port}\n\
             unix_socket_directories = '{socket_dir}'\n\
             fsync = on\n\
             synchronous_commit = on\n\
             full_page_writes = on\n\
             shared_buffers = '512MB'\n\
             max_wal_size = '4GB'\n"
        );
        let conf = server.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).context("reading postgresql.conf")?;
        text.push_str(&settings);
        std::fs::write(&conf, text).context("writing postgresql.conf")?;

        let log = server.dir.path().join("server.log");
        server.started = true; // from here on, Drop tries to stop it
        let started = run(server
            .command("pg_ctl")
            .arg("-D")
            .arg(&server.data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"]));
        if let Err(e) = started {
            return Err(e.context(format!("starting PostgreSQL; log:\n{}", server.log_tail())));
        }

        let mut client = postgres::Config::new()
            .host_path(server.dir.path())
            .port(port)
            .user(DB_USER)
            .dbname("postgres")
            .connect(NoTls)
            .context("connecting to the cluster")?;
        for (name, value) in [
            ("fsync", "on"),
            ("synchronous_commit", "on"),
            ("full_page_writes", "on"),
        ] {
            let got: String = client.query_one(&format!("show {name}"), &[])?.get(0);
            ensure!(got == value, "{name} is {got}, expected {value}");
        }
        client
            .batch_execute(&format!(
                "create function events_append_only() returns trigger language plpgsql as $$
                 begin raise exception 'events is append-only'; end $$;
                 {}
                 create trigger events_no_update before update or delete on {TABLE}
                     for each row execute function events_append_only();
                 create trigger events_no_truncate before truncate on {TABLE}
                     for each statement execute function events_append_only();",
                table_sql(TABLE)
            ))
            .context("creating the events table")?;
        Ok(PgCluster {
            client,
            statements: HashMap::new(),
            method: None,
            port,
            server,
        })
    }

    /// The port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The cluster's temporary directory.
    pub fn dir(&self) -> &Path {
        self.server.dir.path()
    }

    /// Forces the write method of later ingests (`None`: measure both on a sample, the default).
    pub fn force_method(&mut self, method: Option<WriteMethod>) {
        self.method = method;
    }

    /// The last row's `seq` and `chain`, or `(0, genesis)`.
    pub(crate) fn head(&mut self, table: &str) -> Result<(u64, [u8; 32])> {
        let row = self.client.query_opt(
            &format!("select seq, chain from {table} order by seq desc limit 1"),
            &[],
        )?;
        Ok(match row {
            None => (0, GENESIS),
            Some(r) => {
                let seq: i64 = r.get(0);
                let chain: &[u8] = r.get(1);
                (
                    seq as u64,
                    chain.try_into().context("stored chain is not 32 bytes")?,
                )
            }
        })
    }

    /// Rows in the table (`count(*)`).
    pub fn row_count(&mut self) -> Result<u64> {
        let n: i64 = self
            .client
            .query_one(&format!("select count(*) from {TABLE}"), &[])?
            .get(0);
        Ok(n as u64)
    }

    /// Bytes the table and its indexes take on disk.
    pub fn table_bytes(&mut self) -> Result<u64> {
        let n: i64 = self
            .client
            .query_one(&format!("select pg_total_relation_size('{TABLE}')"), &[])?
            .get(0);
        Ok(n as u64)
    }
}
