//! The real `provledger serve` binary as a child process: started on a loopback port chosen at
//! run time, with its own environment, killed when dropped, its memory readable from /proc.

use provledger::datadir::DataDir;
use provledger::keyfile;
use provledger::note::NoteSigner;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct ServerProcess {
    pub child: Child,
    pub url: String,
    pub dir: DataDir,
    /// Everything the server wrote to stderr so far.
    pub stderr: Arc<Mutex<String>>,
}

impl ServerProcess {
    /// Runs `provledger serve --data DATA --listen 127.0.0.1:0 ARGS…` with `env` added to the
    /// environment, and waits for its "listening on" line.
    pub fn start(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_provledger"));
        command
            .args(["serve", "--data", data.to_str().unwrap()])
            .args(["--listen", "127.0.0.1:0"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            command.env(k, v);
        }
        let mut child = command.spawn().map_err(|e| e.to_string())?;
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().unwrap();
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(addr) = line.strip_prefix("listening on ") {
                        break addr.to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    return Err(stderr.lock().unwrap().clone());
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Ok(ServerProcess {
            child,
            url: format!("http://{addr}"),
            dir: DataDir::new(data),
            stderr,
        })
    }

    /// The first admin key `serve` created in the data directory.
    pub fn admin(&self) -> NoteSigner {
        keyfile::read(&self.dir.admin_key()).unwrap()
    }

    /// The server's resident memory now, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib_of(self.child.id())
    }

    /// SIGKILL, and wait for the process to go.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The resident memory of process `pid` now, in KiB (0 once it has gone).
pub fn rss_kib_of(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
