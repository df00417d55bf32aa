//! The server under test: the real `provledger` binary, run as its own process on a data
//! directory, listening on a loopback port chosen at run time; killed with SIGKILL; audited
//! offline with `provledger audit` while it is down.
//!
//! A started [`Server`] is serving (its health check answered SERVING) before `start` returns.
//! Dropping a [`Server`] kills the process if it still runs, so no server outlives the harness.

use anyhow::{Context, Result, anyhow, bail};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a server may take from spawn to serving (a restart re-indexes what the crash left
/// unindexed, and the store may be large).
const START_TIMEOUT: Duration = Duration::from_secs(120);

/// Where the binary is and where its logs go.
#[derive(Debug, Clone)]
pub struct Binary {
    pub path: PathBuf,
    /// The servers' stderr, appended across starts.
    pub log: PathBuf,
}

impl Binary {
    fn log_file(&self) -> Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("opening {}", self.log.display()))
    }

    /// `provledger init --data DIR --origin ORIGIN`.
    pub fn init(&self, data: &Path, origin: &str) -> Result<()> {
        let out = Command::new(&self.path)
            .args(["init", "--origin", origin, "--data"])
            .arg(data)
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        if !out.status.success() {
            bail!(
                "provledger init failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    /// `provledger audit --data DIR`: Ok(None) when it passed, Ok(Some(report)) when it did not.
    pub fn audit(&self, data: &Path) -> Result<Option<String>> {
        let out = Command::new(&self.path)
            .args(["audit", "--data"])
            .arg(data)
            .output()
            .with_context(|| format!("running {}", self.path.display()))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if out.status.success() && stdout.contains("audit passed") {
            return Ok(None);
        }
        Ok(Some(format!(
            "{}{}",
            stdout,
            String::from_utf8_lossy(&out.stderr)
        )))
    }

    fn spawn(&self, data: &Path) -> Result<Child> {
        Command::new(&self.path)
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(data)
            .stdout(Stdio::piped())
            .stderr(Stdio::from(self.log_file()?))
            .spawn()
            .with_context(|| format!("starting {}", self.path.display()))
    }

    /// Starts a server and kills it `after` later, whatever it is doing by then (opening the
    /// store, catching the indexes up, or serving).
    pub async fn kill_during_start(&self, data: &Path, after: Duration) -> Result<()> {
        let mut child = self.spawn(data)?;
        tokio::time::sleep(after).await;
        child.kill().context("killing the server")?;
        child.wait().context("waiting for the server")?;
        Ok(())
    }

    /// Starts a server on `data` and waits until it serves.
    pub async fn start(&self, data: &Path) -> Result<Server> {
        let mut child = self.spawn(data)?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| anyhow!("the server's stdout is not piped"))?;
        let log = self.log.clone();
        let addr = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                let line = lines.next().ok_or_else(|| {
                    anyhow!(
                        "the server exited before listening (its log: {})",
                        log.display()
                    )
                })??;
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let addr = addr.to_string();
                    // Keep draining stdout so the server never blocks on a full pipe.
                    std::thread::spawn(move || for _ in lines {});
                    return Ok(addr);
                }
            }
        })
        .await??;
        let server = Server {
            child,
            url: format!("http://{addr}"),
        };
        wait_serving(&server.url).await?;
        Ok(server)
    }
}

/// A running server process.
pub struct Server {
    child: Child,
    pub url: String,
}

impl Server {
    /// SIGKILL: no drain, no index sync, no flush. Waits for the process to be gone.
    pub fn kill(mut self) -> Result<()> {
        self.child.kill().context("killing the server")?;
        self.child.wait().context("waiting for the server")?;
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

async fn wait_serving(url: &str) -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(channel) = tonic::transport::Channel::from_shared(url.to_string())?
            .connect()
            .await
        {
            let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
            if let Ok(answer) = health
                .check(tonic_health::pb::HealthCheckRequest {
                    service: "provledger.v1.LogService".into(),
                })
                .await
                && answer.into_inner().status == ServingStatus::Serving as i32
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            bail!("the server at {url} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
