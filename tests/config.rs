//! Configuration as an operator uses it: a TOML file, `PROVLEDGER_*` variables and flags given
//! to the real binary, each overriding the one before, seen in what the running server accepts;
//! and `provledger config check`.

mod common;

use common::process::ServerProcess;
use common::*;
use provledger::proto::Role;
use provledger::proto::log_service_client::LogServiceClient;
use tonic::Code;

fn write(dir: &std::path::Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// An event whose signed payload is about `size` bytes (padding in an attribute-free field).
fn event_of_size(i: u64, size: usize) -> provledger::proto::ProvenanceEvent {
    let mut event = generated_event(i);
    event.generator.as_mut().unwrap().run_id = "r".repeat(size.saturating_sub(200));
    event
}

/// Appends an event of about `size` payload bytes; the status code.
async fn append_sized(
    url: &str,
    signer: &provledger::note::NoteSigner,
    i: u64,
    size: usize,
) -> Code {
    let mut client = LogServiceClient::connect(url.to_string()).await.unwrap();
    match client
        .append(request(signed(signer, &event_of_size(i, size))))
        .await
    {
        Ok(_) => Code::Ok,
        Err(status) => {
            if status.code() == Code::ResourceExhausted {
                assert!(status.message().starts_with("event.payload:"), "{status:?}");
            }
            status.code()
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_override_the_environment_which_overrides_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let config = write(
        tmp.path(),
        "provledger.toml",
        "[limits]\nmax_payload_bytes = 1000\n[server]\norigin = \"config.test/log\"\n",
    );
    let data = tmp.path().join("data");
    // File only: 1,000 bytes.
    let server = ServerProcess::start(&data, &["--config", &config], &[]).unwrap();
    let generator = register_at(
        &server.url,
        &server.admin(),
        "gen.test/cfg",
        Role::Generator,
    )
    .await;
    assert_eq!(
        append_sized(&server.url, &generator, 1, 900).await,
        Code::Ok
    );
    assert_eq!(
        append_sized(&server.url, &generator, 2, 1500).await,
        Code::ResourceExhausted
    );
    drop(server);
    // The environment beats the file: 2,000.
    let env = [("PROVLEDGER_LIMITS_MAX_PAYLOAD_BYTES", "2000")];
    let server = ServerProcess::start(&data, &["--config", &config], &env).unwrap();
    assert_eq!(
        append_sized(&server.url, &generator, 3, 1500).await,
        Code::Ok
    );
    assert_eq!(
        append_sized(&server.url, &generator, 4, 2500).await,
        Code::ResourceExhausted
    );
    drop(server);
    // A flag beats both: 3,000; `--set` reaches any setting.
    let server = ServerProcess::start(
        &data,
        &[
            "--config",
            &config,
            "--max-payload",
            "3000",
            "--set",
            "limits.max_parents=2",
        ],
        &env,
    )
    .unwrap();
    assert_eq!(
        append_sized(&server.url, &generator, 5, 2500).await,
        Code::Ok
    );
    assert_eq!(
        append_sized(&server.url, &generator, 6, 3500).await,
        Code::ResourceExhausted
    );
    let mut event = generated_event(7);
    event.action = provledger::proto::Action::Derived as i32;
    event.parents = (0..3)
        .map(|i| provledger::proto::Parent {
            record: Some(record("Lead", &format!("00Q{i:012}"))),
            leaf_index: None,
        })
        .collect();
    let status = LogServiceClient::connect(server.url.clone())
        .await
        .unwrap()
        .append(request(signed(&generator, &event)))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert!(
        status.message().contains("event.payload.parents"),
        "{status:?}"
    );
    // The origin came from the file when the directory was created.
    let vkey = std::fs::read_to_string(server.dir.root.join("log.vkey")).unwrap();
    assert!(vkey.starts_with("config.test/log+"), "{vkey}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_over_its_rate_is_refused_and_others_are_not() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        &tmp.path().join("data"),
        &[
            "--set",
            "limits.key_rate_per_second=0.5",
            "--set",
            "limits.key_rate_burst=3",
        ],
        &[],
    )
    .unwrap();
    let admin = server.admin();
    let busy = register_at(&server.url, &admin, "gen.test/busy", Role::Generator).await;
    let calm = register_at(&server.url, &admin, "gen.test/calm", Role::Generator).await;
    let mut client = LogServiceClient::connect(server.url.clone()).await.unwrap();
    for i in 0..3 {
        client
            .append(request(signed(&busy, &generated_event(i))))
            .await
            .unwrap();
    }
    let status = client
        .append(request(signed(&busy, &generated_event(3))))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::ResourceExhausted);
    assert!(
        status
            .message()
            .contains("event.key_id: key \"gen.test/busy\""),
        "{status:?}"
    );
    // Another key has its own budget; a forged envelope in the busy key's name is refused for
    // its signature, never charged to the key.
    client
        .append(request(signed(&calm, &generated_event(10))))
        .await
        .unwrap();
    let mut forged = signed(&calm, &generated_event(11));
    forged.key_id = "gen.test/busy".into();
    let status = client.append(request(forged)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    // After 2 s the busy key has a token again.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    client
        .append(request(signed(&busy, &generated_event(4))))
        .await
        .unwrap();
}

#[test]
fn config_check_prints_the_effective_settings_or_names_the_fault() {
    let tmp = tempfile::tempdir().unwrap();
    let good = write(
        tmp.path(),
        "good.toml",
        "[lineage]\nmax_depth = 20\nproduction_environments = [\"live\"]\n",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(["config", "check", &good])
        .env("PROVLEDGER_LIMITS_QUEUE_APPENDS", "64")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("max_depth = 20  # file {good}")),
        "{stdout}"
    );
    assert!(
        stdout.contains("production_environments = [\"live\"]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("queue_appends = 64  # env PROVLEDGER_LIMITS_QUEUE_APPENDS"),
        "{stdout}"
    );
    assert!(
        stdout.contains("max_payload_bytes = 262144  # default"),
        "{stdout}"
    );
    // The printout is itself a configuration file that checks.
    let printed = write(tmp.path(), "printed.toml", &stdout);
    let again = std::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
        .args(["config", "check", &printed])
        .output()
        .unwrap();
    assert!(again.status.success());

    for (text, expected) in [
        ("[lineage]\nmax_dept = 20\n", "unknown field `max_dept`"),
        ("[lineage]\nmax_depth = \"deep\"\n", "line 2"),
        (
            "[limits]\nqueue_appends = 0\n",
            "limits.queue_appends: must be at least 1",
        ),
        ("[access]\nread = \"token\"\n", "access.tokens: required"),
        (
            "[access]\nread = \"everyone\"\n",
            "unknown variant `everyone`",
        ),
    ] {
        let bad = write(tmp.path(), "bad.toml", text);
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_provledger"))
            .args(["config", "check", &bad])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}: {stderr}");
        assert!(
            stderr.contains(expected),
            "{text}: {stderr:?} lacks {expected:?}"
        );
    }
}
