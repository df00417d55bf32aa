//! The server under test runs as a separate process (this binary re-executed with
//! `serve-child`), so its CPU time and memory are measured apart from the clients'.

use anyhow::{Context, Result, anyhow, bail};
use provledger::api::{ServerConfig, serve};
use provledger::datadir::DataDir;
use provledger::ledger::LedgerConfig;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How the server process is configured beyond its defaults.
#[derive(Debug, Clone, Default)]
pub struct ChildOptions {
    /// The sequencer's least interval between commits under load, in microseconds (the
    /// server's `batch.min_interval_us`); `None` keeps the server's default.
    pub commit_interval_us: Option<u64>,
}

/// A running server process.
pub struct ServerProcess {
    child: Child,
    pub url: String,
    clock_ticks: f64,
}

impl ServerProcess {
    /// Starts a server on `data` and waits until its health check answers SERVING. Returns it
    /// and the time from process start to serving.
    pub async fn start(data: &Path) -> Result<(ServerProcess, Duration)> {
        Self::start_with(data, &ChildOptions::default()).await
    }

    /// [`ServerProcess::start`] with the server's batching set by `options`.
    pub async fn start_with(
        data: &Path,
        options: &ChildOptions,
    ) -> Result<(ServerProcess, Duration)> {
        let started = Instant::now();
        let mut command = Command::new(std::env::current_exe()?);
        command.args(["serve-child", "--data"]).arg(data);
        if let Some(us) = options.commit_interval_us {
            command.arg("--commit-interval-us").arg(us.to_string());
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server process")?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let addr = tokio::task::spawn_blocking(move || -> Result<String> {
            let mut lines = BufReader::new(stdout).lines();
            loop {
                let line = lines
                    .next()
                    .ok_or_else(|| anyhow!("server exited before listening"))??;
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let addr = addr.to_string();
                    std::thread::spawn(move || for _ in lines {});
                    return Ok(addr);
                }
            }
        })
        .await??;
        let url = format!("http://{addr}");
        wait_serving(&url).await?;
        let serving = started.elapsed();
        Ok((
            ServerProcess {
                child,
                url,
                clock_ticks: clock_ticks(),
            },
            serving,
        ))
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU seconds (user + system) the server has used so far.
    pub fn cpu_seconds(&self) -> Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the command name, which is in parentheses and may hold spaces.
        let after = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest)
            .ok_or_else(|| anyhow!("unreadable /proc stat"))?;
        let fields: Vec<&str> = after.split_whitespace().collect();
        let utime: f64 = fields.get(11).ok_or_else(|| anyhow!("no utime"))?.parse()?;
        let stime: f64 = fields.get(12).ok_or_else(|| anyhow!("no stime"))?.parse()?;
        Ok((utime + stime) / self.clock_ticks)
    }

    /// (current RSS, peak RSS) in MiB.
    pub fn rss_mib(&self) -> Result<(f64, f64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let field = |name: &str| -> f64 {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
                / 1024.0
        };
        Ok((field("VmRSS:"), field("VmHWM:")))
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn stop(mut self) -> Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        if !status.success() {
            bail!("could not signal the server");
        }
        let exit = self.child.wait()?;
        if !exit.success() {
            bail!("server exited with {exit}");
        }
        Ok(())
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Clock ticks per second (`USER_HZ`), the unit of `/proc` CPU times.
pub fn clock_ticks() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

async fn wait_serving(url: &str) -> Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let deadline = Instant::now() + Duration::from_secs(120);
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
            bail!("server at {url} did not become healthy");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// The child side: serve `data` on an ephemeral loopback port until SIGTERM.
pub fn serve_child(data: &Path, options: &ChildOptions) -> Result<()> {
    let dir = DataDir::new(data);
    if !dir.is_initialised() {
        dir.init("bench.provledger/log")?;
    }
    let mut config = LedgerConfig::default();
    if let Some(us) = options.commit_interval_us {
        config.batch.min_interval = Duration::from_micros(us);
    }
    let ledger = Arc::new(dir.open_ledger(config)?);
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening on {}", listener.local_addr()?);
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        serve(
            listener,
            ledger.clone(),
            ServerConfig::default(),
            async move {
                term.recv().await;
            },
        )
        .await?;
        anyhow::Ok(())
    })?;
    ledger.shutdown();
    Ok(())
}
