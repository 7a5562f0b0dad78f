//! The binary's start-up failures: a taken port, a bad URL, an unreachable database — each a
//! one-line error on stderr and a non-zero exit, quickly; and `--help` / `--version`.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

use std::{
    process::{Command, Output, Stdio},
    time::Duration,
};

use praan_core::clock::{Clock, SystemClock};
use praan_simulator::brokers::free_port;

/// Runs `praan-server` with `args` in a temp dir; kills it after 30 s.
async fn run(args: &[String]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_praan-server"))
        .args(args)
        .current_dir(dir.path())
        .env_remove("PRAAN_API_KEYS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(30));
    while child.try_wait().unwrap().is_none() {
        if SystemClock.now() >= deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after 30 s: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        SystemClock
            .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(20)))
            .await;
    }
    child.wait_with_output().unwrap()
}

/// The flags of a server that would start (free ports, a SQLite file in its directory).
fn base() -> Vec<String> {
    vec![
        format!("--http-addr=127.0.0.1:{}", free_port().unwrap()),
        format!("--broker-addr=127.0.0.1:{}", free_port().unwrap()),
        "--database-url=sqlite://praan.db".to_owned(),
    ]
}

/// Asserts a failed exit with exactly one `praan-server:` line on stderr containing `expected`.
fn assert_one_line_error(out: &Output, expected: &str) {
    assert!(!out.status.success(), "exit status {}", out.status);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("praan-server: "))
        .collect();
    assert_eq!(lines.len(), 1, "one error line:\n{stderr}");
    assert!(
        lines[0].contains(expected),
        "{expected:?} in {:?}",
        lines[0]
    );
}

#[tokio::test]
async fn a_taken_http_port_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut args = base();
    args[0] = format!("--http-addr={}", taken.local_addr().unwrap());
    assert_one_line_error(&run(&args).await, "cannot listen for HTTP on");
}

#[tokio::test]
async fn a_taken_broker_port_is_a_one_line_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut args = base();
    args[1] = format!("--broker-addr={}", taken.local_addr().unwrap());
    assert_one_line_error(&run(&args).await, "cannot start the embedded MQTT broker");
}

#[tokio::test]
async fn bad_urls_are_one_line_errors() {
    for (flag, expected) in [
        (
            "--database-url=postgres://db/praan",
            "not sqlite://PATH or mongodb://",
        ),
        ("--mqtt-url=http://broker", "not mqtt://host"),
        ("--http-addr=localhost", "--http-addr (flag)"),
    ] {
        let mut args = base();
        args.push(flag.to_owned());
        let out = run(&args).await;
        assert_eq!(out.status.code(), Some(2), "{flag}: a configuration error");
        assert_one_line_error(&out, expected);
    }
}

#[tokio::test]
async fn an_unreachable_database_is_a_one_line_error() {
    let mut args = base();
    args.push(format!(
        "--database-url=mongodb://127.0.0.1:{}/?serverSelectionTimeoutMS=500&connectTimeoutMS=500",
        free_port().unwrap()
    ));
    assert_one_line_error(&run(&args).await, "--database-url mongodb://127.0.0.1:");
}

#[tokio::test]
async fn help_and_version_print_and_exit_zero() {
    let help = run(&["--help".to_owned()]).await;
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--database-url"));
    let version = run(&["--version".to_owned()]).await;
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("praan-server "));
}

#[tokio::test]
async fn a_ca_file_needs_an_external_broker_and_must_exist() {
    let mut args = base();
    args.push("--mqtt-ca-file=ca.crt".to_owned());
    let out = run(&args).await;
    assert_eq!(out.status.code(), Some(2), "a configuration error");
    assert_one_line_error(&out, "--mqtt-ca-file is for an external mqtts:// broker");

    let mut args = base();
    args.push(format!(
        "--mqtt-url=mqtts://127.0.0.1:{}",
        free_port().unwrap()
    ));
    args.push("--mqtt-ca-file=no-such-ca.crt".to_owned());
    assert_one_line_error(&run(&args).await, "--mqtt-ca-file no-such-ca.crt: ");

    // Without a CA, an mqtts:// broker is refused up front rather than trusted blindly.
    let mut args = base();
    args.push(format!(
        "--mqtt-url=mqtts://127.0.0.1:{}",
        free_port().unwrap()
    ));
    let out = run(&args).await;
    assert_eq!(out.status.code(), Some(2), "a configuration error");
    assert_one_line_error(&out, "needs --mqtt-ca-file");
}
