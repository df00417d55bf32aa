//! The real `provledger serve` binary: `--log-format json` writes JSON lines to stderr, and the
//! server it starts answers `GET /metrics` on its gRPC port, allocator figures included.

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_json_lines_and_serves_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args([
            "--log-format",
            "json",
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let serving = tokio::time::timeout(Duration::from_secs(60), async {
        let mut seen = Vec::new();
        while let Some(line) = lines.next_line().await.unwrap() {
            // Every line is one JSON object.
            let value: serde_json::Value =
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if value["fields"]["message"] == "serving" {
                return value;
            }
            seen.push(line);
        }
        panic!(
            "stderr closed before \"serving\"; it said:\n{}",
            seen.join("\n")
        );
    })
    .await
    .expect("the server logged \"serving\" in time");
    assert_eq!(serving["level"], "INFO");
    assert_eq!(serving["fields"]["size"], 1);
    let listen = serving["fields"]["listen"]
        .as_str()
        .expect("listen address")
        .to_string();

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let uri: hyper::Uri = format!("http://{listen}/metrics").parse().unwrap();
    let response = client.get(uri).await.expect("GET /metrics");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(
        text.lines().any(|l| l == "provledger_tree_size 1"),
        "tree size missing:\n{text}"
    );
    // The binary's allocator reports what it holds; the resident figure includes that.
    if cfg!(not(target_env = "msvc")) {
        let gauge = |name: &str| -> f64 {
            let prefix = format!("{name} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} missing:\n{text}"))
        };
        let allocated = gauge("provledger_allocator_allocated_bytes");
        let resident = gauge("provledger_allocator_resident_bytes");
        assert!(
            allocated > 0.0 && allocated <= resident,
            "{allocated} > {resident}"
        );
    }

    child.kill().await.unwrap();
}
