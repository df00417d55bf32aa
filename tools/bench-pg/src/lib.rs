//! The PostgreSQL baseline of the provledger benchmark: what a team would build instead of the
//! ledger, measured on the same events.
//!
//! # The cluster
//!
//! [`PgCluster::start`] runs `initdb` and `pg_ctl start` on a throw-away cluster in a fresh
//! temporary directory (`$TMPDIR`, else `/tmp`), listening on 127.0.0.1 only, on a port picked
//! at run time, with its Unix socket inside the temporary directory. The client connects over
//! that Unix socket. Durability settings are forced on: `fsync=on`, `synchronous_commit=on`,
//! `full_page_writes=on`. Two settings a team would tune are raised from their defaults:
//! `shared_buffers=512MB` and `max_wal_size=4GB` (so that filling 10M rows does not checkpoint
//! every few seconds). PostgreSQL refuses to run as root: when run as root, the tool creates the
//! system user [`BENCH_USER`] if it is missing (`useradd --system --no-create-home`), hands the
//! temporary directory to it and runs `initdb`/`pg_ctl` through `runuser`. Dropping the
//! [`PgCluster`] stops the server (`pg_ctl stop -m fast`, `-m immediate` if that fails) and
//! deletes the directory, on error paths too.
//!
//! The server binaries are looked up in `$PG_BIN`, then the highest
//! `/usr/lib/postgresql/<version>/bin`, then `PATH`. If they are absent, `start` fails with a
//! [`NotInstalled`] error (`downcast_ref::<NotInstalled>()`), whose message says how to install
//! them; a caller can print it as "skipped".
//!
//! # The table
//!
//! ```sql
//! create table events (seq bigint primary key, event_hash bytea not null, signer text not null,
//!     payload_type text not null, payload bytea not null, signature bytea not null,
//!     chain bytea not null);
//! create unique index events_event_hash on events (event_hash);
//! ```
//!
//! plus triggers that reject `UPDATE`, `DELETE` and `TRUNCATE` (append-only; they cost nothing on
//! insert). `seq` counts from 1 with no gaps.
//!
//! * `event_hash` is [`event_hash`]: BLAKE3 over the length-prefixed (u64 big-endian) payload
//!   type, payload, key id and signature — the same identity the ledger deduplicates on
//!   (`provledger::envelope::envelope_id`), so the unique index is the same dedup.
//! * `chain` is [`chain_hash`]: `chain_i = BLAKE3(chain_{i-1} || row_i)` with `chain_0` 32 zero
//!   bytes and `row_i` the row's columns (`seq` as u64 big-endian, `event_hash`, then signer,
//!   payload type, payload and signature, each length-prefixed). BLAKE3 for parity with the
//!   ledger's hashing. The last row's `chain` is the head.
//!
//! # Ingest
//!
//! [`PgCluster::ingest`] is a two-stage pipeline, one transaction per batch. A verifier thread
//! takes the events a batch at a time and checks every signature with `verify_strict` over the
//! DSSE PAE on `threads` threads (computing the event hash too); the calling thread meanwhile
//! writes the previous batch: it drops duplicates within the batch, numbers the rows, computes
//! the chain in order and writes the batch in one transaction. The stages overlap by one batch,
//! as the ledger's admission overlaps its sequencer. Events whose key is unknown or whose
//! signature fails are rejected (counted, not written).
//!
//! Two ways to write a batch are measured on a first sample (into scratch tables of the same
//! shape, dropped afterwards) and the faster is used for the timed run, unless one is forced
//! with [`PgCluster::force_method`]: binary `COPY` (one statement, so one transaction by itself)
//! and multi-row `INSERT ... VALUES` (at most [`INSERT_ROWS_PER_STATEMENT`] rows per statement,
//! because of PostgreSQL's 65535 bind parameters; larger batches use several statements inside
//! `BEGIN`/`COMMIT`).
//!
//! Duplicates against the table: the chain is computed by the client before the write, so
//! `INSERT ... ON CONFLICT DO NOTHING` would silently skip a row whose successor's `chain`
//! already includes it, and break the chain. Both methods therefore write plainly, and the unique
//! index turns a duplicate into a `unique_violation` that aborts the whole batch; the batch is
//! then retried once without the rows whose hash the table already holds, re-chained. The
//! benchmark's events are distinct, so that path costs nothing there. There is one writer; the
//! primary key on `seq` turns a concurrent writer into an error rather than a fork.
//!
//! # Proof
//!
//! [`PgCluster::prove_first_row`] is what an auditor must do to show that row 1 is in the chain
//! under the latest head: stream every row from 1 to the head in order (binary `COPY` out of an
//! index-ordered query), re-hash the chain from genesis and check it reproduces the stored head.

use anyhow::{Context, Result, anyhow, bail, ensure};
use ed25519_dalek::{Signature, VerifyingKey};
use postgres::binary_copy::{BinaryCopyInWriter, BinaryCopyOutIter};
use postgres::error::SqlState;
use postgres::fallible_iterator::FallibleIterator;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};
use provledger::envelope::{EVENT_PAYLOAD_TYPE, pae};
use provledger::proto::SignedEvent;
use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fmt;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::mpsc;
use std::time::Instant;

/// The unprivileged system user that runs the server when the tool runs as root.
pub const BENCH_USER: &str = "provledger-bench";
/// How to install the server, printed when it is absent.
pub const INSTALL_HINT: &str =
    "PostgreSQL server not found; install it with: apt-get install -y postgresql";
/// Most rows in one multi-row `INSERT` (7 parameters a row; PostgreSQL allows 65535).
pub const INSERT_ROWS_PER_STATEMENT: usize = 8192;

const DB_USER: &str = "bench";
const TABLE: &str = "events";
const PROBE_TABLE: &str = "events_probe";
const GENESIS: [u8; 32] = [0; 32];
const COLUMNS: &str = "seq, event_hash, signer, payload_type, payload, signature, chain";
const COPY_TYPES: [Type; 7] = [
    Type::INT8,
    Type::BYTEA,
    Type::TEXT,
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::BYTEA,
];
/// Rows per `COPY` transaction when filling.
const FILL_CHUNK: u64 = 50_000;
/// Fills adding at least this many rows drop the unique index and build it again at the end.
const FILL_REBUILD_INDEX_FROM: u64 = 100_000;
/// Payload length of filler rows when the table has no rows to take the mean from.
const FILL_DEFAULT_PAYLOAD: usize = 400;
/// Signer name of filler rows.
pub const FILL_SIGNER: &str = "filler.bench.invalid/synth";

/// One signed envelope, as the ledger receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgEvent {
    pub payload_type: String,
    pub payload: Vec<u8>,
    pub key_id: String,
    pub signature: [u8; 64],
}

impl TryFrom<&SignedEvent> for PgEvent {
    type Error = anyhow::Error;

    fn try_from(e: &SignedEvent) -> Result<Self> {
        let signature: [u8; 64] = e
            .signature
            .as_slice()
            .try_into()
            .map_err(|_| anyhow!("signature must be 64 bytes, got {}", e.signature.len()))?;
        Ok(PgEvent {
            payload_type: e.payload_type.clone(),
            payload: e.payload.clone(),
            key_id: e.key_id.clone(),
            signature,
        })
    }
}

/// How ingest is run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgConfig {
    /// Events per transaction.
    pub batch: usize,
    /// Threads verifying signatures.
    pub threads: usize,
}

/// What ingest measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PgIngest {
    /// Events offered (all verified; `events_per_sec` is over these).
    pub events: u64,
    /// Rows written.
    pub appended: u64,
    /// Events dropped as duplicates (of the batch or of the table).
    pub duplicates: u64,
    /// Events rejected: unknown key or signature that fails `verify_strict`.
    pub rejected: u64,
    /// Wall time of the timed run, verification through the last commit.
    pub seconds: f64,
    pub events_per_sec: f64,
    /// The write method of the timed run: "COPY" or "INSERT".
    pub method: &'static str,
    /// Events/s of each method on the first sample (both timed the same way), if it was run.
    pub probe: Option<PgProbe>,
}

/// The sample run that picks the write method.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgProbe {
    /// Events in the sample (each method writes it twice, in the order COPY, INSERT, INSERT, COPY).
    pub events: u64,
    pub copy_events_per_sec: f64,
    pub insert_events_per_sec: f64,
}

/// What proving row 1 under the latest head cost.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PgChainProof {
    /// Rows read and re-hashed (row 1 through the head).
    pub rows: u64,
    pub seconds: f64,
}

/// How a batch is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteMethod {
    /// Binary `COPY ... FROM STDIN`.
    Copy,
    /// Multi-row `INSERT ... VALUES`.
    Insert,
}

impl WriteMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteMethod::Copy => "COPY",
            WriteMethod::Insert => "INSERT",
        }
    }
}

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

/// The event's identity for dedup: BLAKE3 over the length-prefixed (u64 big-endian) payload
/// type, payload, key id and signature; equal to `provledger::envelope::envelope_id`.
pub fn event_hash(payload_type: &str, payload: &[u8], key_id: &str, signature: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for part in [
        payload_type.as_bytes(),
        payload,
        key_id.as_bytes(),
        signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// One link of the hash chain: `BLAKE3(previous || seq || event_hash || signer || payload_type
/// || payload || signature)`, `seq` as u64 big-endian and the last four length-prefixed (u64
/// big-endian).
pub fn chain_hash(previous: &[u8; 32], row: &RowRef<'_>) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(previous);
    h.update(&row.seq.to_be_bytes());
    h.update(row.event_hash);
    for part in [
        row.signer.as_bytes(),
        row.payload_type.as_bytes(),
        row.payload,
        row.signature,
    ] {
        h.update(&(part.len() as u64).to_be_bytes());
        h.update(part);
    }
    *h.finalize().as_bytes()
}

/// The hashed columns of one row.
#[derive(Debug, Clone, Copy)]
pub struct RowRef<'a> {
    pub seq: u64,
    pub event_hash: &'a [u8],
    pub signer: &'a str,
    pub payload_type: &'a str,
    pub payload: &'a [u8],
    pub signature: &'a [u8],
}

/// Checks one event: its key is known and `verify_strict` accepts the signature over the PAE.
/// Returns the event hash, or `None` if the event is rejected.
fn check(e: &PgEvent, keys: &HashMap<String, VerifyingKey>) -> Option<[u8; 32]> {
    let key = keys.get(&e.key_id)?;
    let signature = Signature::from_bytes(&e.signature);
    key.verify_strict(&pae(&e.payload_type, &e.payload), &signature)
        .ok()?;
    Some(event_hash(
        &e.payload_type,
        &e.payload,
        &e.key_id,
        &e.signature,
    ))
}

/// Checks a batch on `threads` threads; `None` where an event is rejected.
fn verify_batch(
    batch: &[PgEvent],
    keys: &HashMap<String, VerifyingKey>,
    threads: usize,
) -> Vec<Option<[u8; 32]>> {
    let mut out = vec![None; batch.len()];
    if threads <= 1 || batch.len() < 2 * threads {
        for (e, o) in batch.iter().zip(&mut out) {
            *o = check(e, keys);
        }
        return out;
    }
    let chunk = batch.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (events, outs) in batch.chunks(chunk).zip(out.chunks_mut(chunk)) {
            s.spawn(move || {
                for (e, o) in events.iter().zip(outs) {
                    *o = check(e, keys);
                }
            });
        }
    });
    out
}

/// `verify_strict` over the PAE of every event on `threads` threads and nothing else: the limit
/// of any ingest that verifies. Returns the seconds taken; fails if any event does not verify.
pub fn verify_limit(
    events: &[PgEvent],
    keys: &HashMap<String, VerifyingKey>,
    threads: usize,
) -> Result<f64> {
    ensure!(threads > 0, "threads must be at least 1");
    let chunk = events.len().div_ceil(threads).max(1);
    let start = Instant::now();
    let bad: usize = std::thread::scope(|s| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    part.iter()
                        .filter(|e| {
                            let Some(key) = keys.get(&e.key_id) else {
                                return true;
                            };
                            let signature = Signature::from_bytes(&e.signature);
                            key.verify_strict(&pae(&e.payload_type, &e.payload), &signature)
                                .is_err()
                        })
                        .count()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("verifier thread panicked"))
            .sum()
    });
    let seconds = start.elapsed().as_secs_f64();
    ensure!(bad == 0, "{bad} of {} events do not verify", events.len());
    Ok(seconds)
}

/// A row ready to write.
struct Row<'a> {
    seq: i64,
    event_hash: [u8; 32],
    signer: &'a str,
    payload_type: &'a str,
    payload: &'a [u8],
    signature: &'a [u8],
    chain: [u8; 32],
}

impl Row<'_> {
    fn hashed(&self) -> RowRef<'_> {
        RowRef {
            seq: self.seq as u64,
            event_hash: &self.event_hash,
            signer: self.signer,
            payload_type: self.payload_type,
            payload: self.payload,
            signature: self.signature,
        }
    }
}

/// Numbers the rows after `(seq, head)` and chains them in order; returns the new head.
fn chain_rows(rows: &mut [Row<'_>], mut seq: u64, mut head: [u8; 32]) -> (u64, [u8; 32]) {
    for r in rows {
        seq += 1;
        r.seq = seq as i64;
        head = chain_hash(&head, &r.hashed());
        r.chain = head;
    }
    (seq, head)
}

fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// Runs a command and fails with its output if it does not succeed.
fn run(cmd: &mut Command) -> Result<String> {
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

fn id_of(flag: &str, user: Option<&str>) -> Result<u32> {
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
fn ensure_user(user: &str) -> Result<(u32, u32)> {
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
    client: Client,
    statements: HashMap<(String, WriteMethod, usize), Statement>,
    method: Option<WriteMethod>,
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

    /// Ingest with verification (verify_strict over the DSSE PAE, on `threads` threads) + hash
    /// chain + unique index, one transaction per batch.
    pub fn ingest(
        &mut self,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
    ) -> Result<PgIngest> {
        ensure!(config.batch > 0, "batch must be at least 1");
        ensure!(config.threads > 0, "threads must be at least 1");
        let (method, probe) = match self.method {
            Some(m) => (m, None),
            None => {
                let probe = self.probe(events, keys, config)?;
                let m = if probe.copy_events_per_sec >= probe.insert_events_per_sec {
                    WriteMethod::Copy
                } else {
                    WriteMethod::Insert
                };
                (m, Some(probe))
            }
        };
        let start = Instant::now();
        let stats = self.pipeline(TABLE, events, keys, config, method)?;
        let seconds = start.elapsed().as_secs_f64();
        Ok(PgIngest {
            events: events.len() as u64,
            appended: stats.appended,
            duplicates: stats.duplicates,
            rejected: stats.rejected,
            seconds,
            events_per_sec: events.len() as f64 / seconds,
            method: method.as_str(),
            probe,
        })
    }

    /// Runs the whole pipeline on the first `min(len, 8 batches)` events into a fresh scratch
    /// table, twice per method (COPY, INSERT, INSERT, COPY).
    fn probe(
        &mut self,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
    ) -> Result<PgProbe> {
        let sample = &events[..events.len().min(8 * config.batch)];
        let mut seconds: HashMap<WriteMethod, f64> = HashMap::new();
        for method in [
            WriteMethod::Copy,
            WriteMethod::Insert,
            WriteMethod::Insert,
            WriteMethod::Copy,
        ] {
            self.client.batch_execute(&format!(
                "drop table if exists {PROBE_TABLE}; \
                 create table {PROBE_TABLE} (like {TABLE} including all)"
            ))?;
            self.statements.retain(|(t, _, _), _| t != PROBE_TABLE);
            let start = Instant::now();
            self.pipeline(PROBE_TABLE, sample, keys, config, method)?;
            *seconds.entry(method).or_default() += start.elapsed().as_secs_f64();
        }
        self.client
            .batch_execute(&format!("drop table {PROBE_TABLE}"))?;
        self.statements.retain(|(t, _, _), _| t != PROBE_TABLE);
        let rate = |m| 2.0 * sample.len() as f64 / seconds[&m];
        Ok(PgProbe {
            events: sample.len() as u64,
            copy_events_per_sec: rate(WriteMethod::Copy),
            insert_events_per_sec: rate(WriteMethod::Insert),
        })
    }

    /// Verifier thread (one batch ahead) feeding the writer on this thread.
    fn pipeline(
        &mut self,
        table: &str,
        events: &[PgEvent],
        keys: &HashMap<String, VerifyingKey>,
        config: &PgConfig,
        method: WriteMethod,
    ) -> Result<Stats> {
        let (mut seq, mut head) = self.head(table)?;
        let mut stats = Stats::default();
        let (batch, threads) = (config.batch, config.threads);
        std::thread::scope(|s| -> Result<()> {
            let (tx, rx) = mpsc::sync_channel::<(usize, Vec<Option<[u8; 32]>>)>(1);
            s.spawn(move || {
                for (i, part) in events.chunks(batch).enumerate() {
                    if tx
                        .send((i * batch, verify_batch(part, keys, threads)))
                        .is_err()
                    {
                        return; // the writer stopped
                    }
                }
            });
            for (offset, verdicts) in rx {
                let part = &events[offset..offset + verdicts.len()];
                let mut seen = HashSet::with_capacity(part.len());
                let mut rows = Vec::with_capacity(part.len());
                for (e, verdict) in part.iter().zip(verdicts) {
                    let Some(hash) = verdict else {
                        stats.rejected += 1;
                        continue;
                    };
                    if !seen.insert(hash) {
                        stats.duplicates += 1;
                        continue;
                    }
                    rows.push(Row {
                        seq: 0,
                        event_hash: hash,
                        signer: &e.key_id,
                        payload_type: &e.payload_type,
                        payload: &e.payload,
                        signature: &e.signature,
                        chain: GENESIS,
                    });
                }
                let mut next = chain_rows(&mut rows, seq, head);
                match self.write(table, &rows, method) {
                    Ok(()) => {}
                    Err(e) if e.downcast_ref().is_some_and(is_unique_violation) => {
                        let known = self.known_hashes(table, &rows)?;
                        if known.is_empty() {
                            return Err(e); // not a duplicate event: a concurrent writer?
                        }
                        let before = rows.len();
                        rows.retain(|r| !known.contains(&r.event_hash));
                        stats.duplicates += (before - rows.len()) as u64;
                        next = chain_rows(&mut rows, seq, head);
                        self.write(table, &rows, method)
                            .context("writing a batch again without the duplicates")?;
                    }
                    Err(e) => return Err(e),
                }
                (seq, head) = next;
                stats.appended += rows.len() as u64;
            }
            Ok(())
        })?;
        Ok(stats)
    }

    /// The last row's `seq` and `chain`, or `(0, genesis)`.
    fn head(&mut self, table: &str) -> Result<(u64, [u8; 32])> {
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

    /// Which of the rows' event hashes the table already holds.
    fn known_hashes(&mut self, table: &str, rows: &[Row<'_>]) -> Result<HashSet<[u8; 32]>> {
        let hashes: Vec<&[u8]> = rows.iter().map(|r| &r.event_hash[..]).collect();
        let found = self.client.query(
            &format!("select event_hash from {table} where event_hash = any($1)"),
            &[&hashes],
        )?;
        found
            .iter()
            .map(|r| {
                let h: &[u8] = r.get(0);
                h.try_into().context("stored event hash is not 32 bytes")
            })
            .collect()
    }

    fn statement(&mut self, table: &str, method: WriteMethod, rows: usize) -> Result<Statement> {
        let key = (table.to_string(), method, rows);
        if let Some(s) = self.statements.get(&key) {
            return Ok(s.clone());
        }
        let sql = match method {
            WriteMethod::Copy => {
                format!("copy {table} ({COLUMNS}) from stdin (format binary)")
            }
            WriteMethod::Insert => {
                let values: Vec<String> = (0..rows)
                    .map(|i| {
                        let p: Vec<String> = (1..=7).map(|c| format!("${}", 7 * i + c)).collect();
                        format!("({})", p.join(","))
                    })
                    .collect();
                format!(
                    "insert into {table} ({COLUMNS}) values {}",
                    values.join(",")
                )
            }
        };
        let s = self.client.prepare(&sql)?;
        self.statements.insert(key, s.clone());
        Ok(s)
    }

    /// Writes the rows in one transaction.
    fn write(&mut self, table: &str, rows: &[Row<'_>], method: WriteMethod) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        match method {
            WriteMethod::Copy => {
                // One statement: its own transaction.
                let stmt = self.statement(table, method, 0)?;
                let mut w = BinaryCopyInWriter::new(self.client.copy_in(&stmt)?, &COPY_TYPES);
                for r in rows {
                    w.write(&[
                        &r.seq,
                        &r.event_hash,
                        &r.signer,
                        &r.payload_type,
                        &r.payload,
                        &r.signature,
                        &r.chain,
                    ])?;
                }
                w.finish()?;
            }
            WriteMethod::Insert => {
                let chunks: Vec<&[Row<'_>]> = rows.chunks(INSERT_ROWS_PER_STATEMENT).collect();
                let mut stmts = Vec::with_capacity(chunks.len());
                for c in &chunks {
                    stmts.push(self.statement(table, method, c.len())?);
                }
                if chunks.len() == 1 {
                    // One statement: its own transaction.
                    self.client.execute(&stmts[0], &insert_params(chunks[0]))?;
                } else {
                    let mut tx = self.client.transaction()?;
                    for (c, s) in chunks.iter().zip(&stmts) {
                        tx.execute(s, &insert_params(c))?;
                    }
                    tx.commit()?;
                }
            }
        }
        Ok(())
    }

    /// Fills the table to `rows` rows quickly (bulk COPY of synthetic rows with a correct chain,
    /// no verification, not timed) — used to reach 1M / 10M rows.
    ///
    /// Filler rows have the benchmark's payload type, the signer [`FILL_SIGNER`], a payload as
    /// long as the mean payload already in the table (400 bytes if it is empty) made unique by
    /// its `seq`, and a 64-byte pseudo-random signature that is not a valid signature (nothing
    /// checks it after ingest). They are written with binary `COPY`, 50,000 rows per
    /// transaction. When at least 100,000 rows are added, the unique index on `event_hash` is
    /// dropped first and built again at the end (which also checks that every hash is unique);
    /// the primary key stays. Then the table is analysed.
    pub fn fill_to(&mut self, rows: u64) -> Result<()> {
        let have = self.head(TABLE)?.0;
        if have >= rows {
            return Ok(());
        }
        // Maintaining the unique index row by row costs more than building it once.
        let rebuild = rows - have >= FILL_REBUILD_INDEX_FROM;
        if rebuild {
            self.client
                .batch_execute(&format!("drop index {TABLE}_event_hash"))?;
        }
        let filled = self.fill_rows(rows);
        if rebuild {
            // Also after a failed fill: the table keeps its dedup.
            let built = self
                .client
                .batch_execute(&index_sql(TABLE))
                .context("rebuilding the unique index after filling");
            filled?;
            built?;
        } else {
            filled?;
        }
        self.client.batch_execute(&format!("analyze {TABLE}"))?;
        Ok(())
    }

    fn fill_rows(&mut self, rows: u64) -> Result<()> {
        let (mut seq, mut head) = self.head(TABLE)?;
        if seq >= rows {
            return Ok(());
        }
        let mean: Option<f64> = self
            .client
            .query_one(
                &format!("select avg(length(payload))::float8 from {TABLE}"),
                &[],
            )?
            .get(0);
        let payload_len = mean
            .map_or(FILL_DEFAULT_PAYLOAD, |m| m.round() as usize)
            .max(8);
        let mut template = vec![0u8; payload_len];
        blake3::Hasher::new()
            .update(b"provledger bench-pg filler payload")
            .finalize_xof()
            .fill(&mut template);
        let stmt = self.statement(TABLE, WriteMethod::Copy, 0)?;
        while seq < rows {
            let n = (rows - seq).min(FILL_CHUNK) as usize;
            let mut payloads = Vec::with_capacity(n);
            let mut signatures = Vec::with_capacity(n);
            for i in 0..n as u64 {
                let s = seq + 1 + i;
                let mut p = template.clone();
                p[..8].copy_from_slice(&s.to_be_bytes());
                payloads.push(p);
                let mut sig = [0u8; 64];
                blake3::Hasher::new()
                    .update(&s.to_be_bytes())
                    .finalize_xof()
                    .fill(&mut sig);
                signatures.push(sig);
            }
            let mut batch: Vec<Row<'_>> = payloads
                .iter()
                .zip(&signatures)
                .map(|(p, sig)| Row {
                    seq: 0,
                    event_hash: event_hash(EVENT_PAYLOAD_TYPE, p, FILL_SIGNER, sig),
                    signer: FILL_SIGNER,
                    payload_type: EVENT_PAYLOAD_TYPE,
                    payload: p,
                    signature: sig,
                    chain: GENESIS,
                })
                .collect();
            (seq, head) = chain_rows(&mut batch, seq, head);
            let mut w = BinaryCopyInWriter::new(self.client.copy_in(&stmt)?, &COPY_TYPES);
            for r in &batch {
                w.write(&[
                    &r.seq,
                    &r.event_hash,
                    &r.signer,
                    &r.payload_type,
                    &r.payload,
                    &r.signature,
                    &r.chain,
                ])?;
            }
            w.finish().context("filling the table")?;
        }
        Ok(())
    }

    /// Time to prove that row 1 is in the chain under the latest head: read every row from 1 to
    /// the head in order and re-hash the chain, checking it reproduces the stored head.
    pub fn prove_first_row(&mut self) -> Result<PgChainProof> {
        let start = Instant::now();
        let (head_seq, head) = self.head(TABLE)?;
        ensure!(head_seq > 0, "the table is empty");
        let reader = self.client.copy_out(&format!(
            "copy (select seq, event_hash, signer, payload_type, payload, signature \
             from {TABLE} where seq >= 1 order by seq) to stdout (format binary)"
        ))?;
        let mut rows = BinaryCopyOutIter::new(
            reader,
            &[
                Type::INT8,
                Type::BYTEA,
                Type::TEXT,
                Type::TEXT,
                Type::BYTEA,
                Type::BYTEA,
            ],
        );
        let mut chain = GENESIS;
        let mut last = 0u64;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0);
            ensure!(
                seq as u64 == last + 1,
                "row {} missing (found {seq})",
                last + 1
            );
            last = seq as u64;
            chain = chain_hash(
                &chain,
                &RowRef {
                    seq: seq as u64,
                    event_hash: r.get(1),
                    signer: r.get(2),
                    payload_type: r.get(3),
                    payload: r.get(4),
                    signature: r.get(5),
                },
            );
        }
        ensure!(
            last == head_seq,
            "the chain ends at row {last}, the head is row {head_seq}"
        );
        ensure!(
            chain == head,
            "re-hashing rows 1..={head_seq} does not reproduce the stored head"
        );
        Ok(PgChainProof {
            rows: head_seq,
            seconds: start.elapsed().as_secs_f64(),
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

/// The bind parameters of a multi-row `INSERT` of these rows.
fn insert_params<'r>(rows: &'r [Row<'_>]) -> Vec<&'r (dyn ToSql + Sync)> {
    let mut p: Vec<&(dyn ToSql + Sync)> = Vec::with_capacity(7 * rows.len());
    for r in rows {
        p.extend_from_slice(&[
            &r.seq,
            &r.event_hash,
            &r.signer,
            &r.payload_type,
            &r.payload,
            &r.signature,
            &r.chain,
        ]);
    }
    p
}

fn table_sql(table: &str) -> String {
    format!(
        "create table {table} (
             seq bigint primary key,
             event_hash bytea not null,
             signer text not null,
             payload_type text not null,
             payload bytea not null,
             signature bytea not null,
             chain bytea not null);
         {};",
        index_sql(table)
    )
}

fn index_sql(table: &str) -> String {
    format!("create unique index {table}_event_hash on {table} (event_hash)")
}

#[derive(Debug, Default)]
struct Stats {
    appended: u64,
    duplicates: u64,
    rejected: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use provledger::envelope::{envelope_id, sign};
    use provledger::note::NoteSigner;

    fn signer(name: &str, seed: u8) -> NoteSigner {
        NoteSigner::from_seed(name, &[seed; 32]).unwrap()
    }

    fn events(n: usize, from: usize) -> (Vec<PgEvent>, HashMap<String, VerifyingKey>) {
        let signers = [
            signer("gen-a.example/synth", 1),
            signer("gen-b.example/synth", 2),
        ];
        let keys = signers
            .iter()
            .map(|s| (s.id().name.clone(), *s.verifier().verifying_key()))
            .collect();
        let events = (from..from + n)
            .map(|i| {
                let env = sign(
                    &signers[i % 2],
                    EVENT_PAYLOAD_TYPE,
                    format!("event {i}").into_bytes(),
                );
                PgEvent::try_from(&env).unwrap()
            })
            .collect();
        (events, keys)
    }

    /// A cluster, or `None` (test skipped) when the server is not installed.
    fn cluster() -> Option<PgCluster> {
        match PgCluster::start() {
            Ok(c) => Some(c),
            Err(e) if e.downcast_ref::<NotInstalled>().is_some() => {
                eprintln!("skipped: {e:#}");
                None
            }
            Err(e) => panic!("{e:#}"),
        }
    }

    #[test]
    fn event_hash_is_the_ledgers_envelope_id() {
        let env = sign(
            &signer("gen.example/synth", 7),
            EVENT_PAYLOAD_TYPE,
            b"payload".to_vec(),
        );
        let e = PgEvent::try_from(&env).unwrap();
        assert_eq!(
            event_hash(&e.payload_type, &e.payload, &e.key_id, &e.signature),
            envelope_id(&env)
        );
    }

    #[test]
    fn chain_depends_on_every_column_and_the_previous_link() {
        let row = RowRef {
            seq: 1,
            event_hash: &[1; 32],
            signer: "s",
            payload_type: "t",
            payload: b"p",
            signature: &[2; 64],
        };
        let base = chain_hash(&GENESIS, &row);
        let variants = [
            RowRef { seq: 2, ..row },
            RowRef {
                event_hash: &[3; 32],
                ..row
            },
            RowRef {
                signer: "st",
                payload_type: "",
                ..row
            },
            RowRef {
                payload: b"q",
                ..row
            },
            RowRef {
                signature: &[4; 64],
                ..row
            },
        ];
        for v in variants {
            assert_ne!(chain_hash(&GENESIS, &v), base);
        }
        assert_ne!(chain_hash(&[9; 32], &row), base);
    }

    #[test]
    fn verification_rejects_unknown_keys_and_bad_signatures() {
        let (mut evs, keys) = events(8, 0);
        evs[1].signature[5] ^= 1;
        evs[2].key_id = "nobody.example/synth".into();
        evs[3].payload.push(b'!');
        let verdicts = verify_batch(&evs, &keys, 3);
        let ok: Vec<bool> = verdicts.iter().map(Option::is_some).collect();
        assert_eq!(ok, [true, false, false, false, true, true, true, true]);
        assert!(verify_limit(&evs, &keys, 2).is_err());
        assert!(verify_limit(&evs[4..], &keys, 2).is_ok());
    }

    #[test]
    fn cluster_ingest_dedup_fill_and_proof() {
        let Some(mut pg) = cluster() else { return };
        let dir = pg.dir().to_path_buf();
        let (evs, keys) = events(300, 0);
        let config = PgConfig {
            batch: 64,
            threads: 2,
        };

        // Auto: both methods probed, the table gets every event once.
        let r = pg.ingest(&evs[..200], &keys, &config).unwrap();
        assert_eq!(
            (r.events, r.appended, r.duplicates, r.rejected),
            (200, 200, 0, 0)
        );
        assert!(r.probe.is_some());
        assert_eq!(pg.row_count().unwrap(), 200);

        // Duplicates of the table and of the batch, and a forged event, with each method.
        for method in [WriteMethod::Copy, WriteMethod::Insert] {
            pg.force_method(Some(method));
            let mut batch: Vec<PgEvent> = evs[150..220].to_vec(); // 50 known, 20 new
            batch.push(evs[210].clone()); // duplicate within the batch
            let mut forged = evs[299].clone();
            forged.payload[0] ^= 1;
            batch.push(forged);
            let r = pg.ingest(&batch, &keys, &config).unwrap();
            assert_eq!(r.method, method.as_str());
            let new = if method == WriteMethod::Copy { 20 } else { 0 };
            assert_eq!((r.appended, r.duplicates, r.rejected), (new, 71 - new, 1));
        }
        assert_eq!(pg.row_count().unwrap(), 220);
        pg.force_method(Some(WriteMethod::Insert));
        pg.ingest(&evs[220..], &keys, &config).unwrap();
        assert_eq!(pg.row_count().unwrap(), 300);

        // Append-only.
        assert!(
            pg.client
                .execute("delete from events where seq = 1", &[])
                .is_err()
        );
        assert!(
            pg.client
                .execute("update events set signer = 'x' where seq = 1", &[])
                .is_err()
        );

        let p = pg.prove_first_row().unwrap();
        assert_eq!(p.rows, 300);
        pg.fill_to(5_000).unwrap();
        pg.fill_to(4_000).unwrap(); // no-op
        assert_eq!(pg.row_count().unwrap(), 5_000);
        assert_eq!(pg.prove_first_row().unwrap().rows, 5_000);
        pg.ingest(&events(10, 1000).0, &keys, &config).unwrap();
        assert_eq!(pg.prove_first_row().unwrap().rows, 5_010);

        // A changed row no longer reproduces the head.
        pg.client
            .batch_execute(
                "alter table events disable trigger events_no_update;
                 update events set payload = 'tampered' where seq = 2;",
            )
            .unwrap();
        assert!(pg.prove_first_row().is_err());

        drop(pg);
        assert!(!dir.exists(), "the cluster's directory is removed");
    }

    #[test]
    fn insert_batches_larger_than_one_statement() {
        let Some(mut pg) = cluster() else { return };
        let (evs, keys) = events(INSERT_ROWS_PER_STATEMENT + 100, 0);
        pg.force_method(Some(WriteMethod::Insert));
        let config = PgConfig {
            batch: evs.len(),
            threads: 2,
        };
        let r = pg.ingest(&evs, &keys, &config).unwrap();
        assert_eq!(r.appended, evs.len() as u64);
        // Again: every row is a duplicate, the whole multi-statement transaction rolls back.
        let r = pg
            .ingest(&evs[..INSERT_ROWS_PER_STATEMENT + 50], &keys, &config)
            .unwrap();
        assert_eq!(r.appended, 0);
        assert_eq!(pg.prove_first_row().unwrap().rows, evs.len() as u64);

        // A large fill drops and rebuilds the unique index: dedup still works after it.
        pg.fill_to(FILL_REBUILD_INDEX_FROM + 10_000).unwrap();
        let r = pg.ingest(&evs[..10], &keys, &config).unwrap();
        assert_eq!((r.appended, r.duplicates), (0, 10));
        let indexes: i64 = pg
            .client
            .query_one(
                "select count(*) from pg_indexes where tablename = 'events'",
                &[],
            )
            .unwrap()
            .get(0);
        assert_eq!(indexes, 2);
        assert_eq!(
            pg.prove_first_row().unwrap().rows,
            FILL_REBUILD_INDEX_FROM + 10_000
        );
    }
}
