//! HTTP abuse against `praan-server`: a flood on loopback (wrk, bounded) with a rate limit — the
//! flooding key gets 429s, another key keeps being served, and MQTT ingestion keeps storing — and
//! a client that sends its request headers a few bytes at a time (slowloris), which is cut off.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{collections::BTreeSet, path::PathBuf, process::Stdio, time::Duration};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use praan_core::clock::{Clock, SystemClock};
use support::{Server, wait_until};

/// Requests per second allowed per key; a burst of twice that.
const RATE: u64 = 50;
/// How long wrk floods.
const FLOOD: Duration = Duration::from_secs(4);

/// wrk from `PRAAN_TEST_WRK_BIN` (scripts/test-services.sh), or `None` with a loud skip —
/// a failure when `PRAAN_REQUIRE_BACKENDS=1`.
fn wrk() -> Option<PathBuf> {
    let bin = std::env::var_os("PRAAN_TEST_WRK_BIN").map(PathBuf::from);
    if bin.is_none() {
        let why = "PRAAN_TEST_WRK_BIN is not set (run `scripts/test-services.sh start` and \
                   `source .services/env`)";
        assert!(
            std::env::var("PRAAN_REQUIRE_BACKENDS").as_deref() != Ok("1"),
            "flood: {why}, and PRAAN_REQUIRE_BACKENDS=1 requires wrk"
        );
        eprintln!("SKIPPED flood: {why}");
    }
    bin
}

/// A number on the wrk output line that contains `label` (e.g. "requests in").
fn wrk_figure(output: &str, label: &str) -> Option<u64> {
    let line = output.lines().find(|l| l.contains(label))?;
    line.split_whitespace()
        .filter_map(|w| w.parse::<u64>().ok())
        .next_back()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_rate_limited_while_other_clients_and_ingestion_carry_on() {
    let Some(wrk) = wrk() else { return };
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            "--api-keys=flood-key:read,probe-key:read",
            &format!("--rate-limit={RATE}"),
            "--simulate=3",
            "--simulate-interval=100ms",
        ],
    )
    .await;
    let probe = "Authorization: Bearer probe-key\r\n";
    let latest = async || {
        server
            .try_request_with("GET", "/api/device/SIM_0001/latest", None, probe)
            .await
            .unwrap()
    };
    wait_until(
        "the first simulated reading",
        Duration::from_secs(20),
        || async { latest().await.status == 200 },
    )
    .await;

    let url = format!(
        "http://127.0.0.1:{}/api/device/SIM_0001/latest",
        server.http_port
    );
    let flood = tokio::process::Command::new(&wrk)
        .args(["-t2", "-c32", "--timeout", "5s"])
        .arg(format!("-d{}s", FLOOD.as_secs()))
        .args(["-H", "Authorization: Bearer flood-key"])
        .arg(&url)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let flooding = tokio::spawn(flood.wait_with_output());

    // While it floods: the other key is served every time, and the device's latest reading keeps
    // moving (ingestion is not starved).
    let mut probes = 0;
    let mut seen = BTreeSet::new();
    while !flooding.is_finished() {
        let r = latest().await;
        assert_eq!(r.status, 200, "the probe key during the flood: {}", r.body);
        seen.insert(r.json["data"]["timestamp"].as_str().unwrap().to_owned());
        probes += 1;
        SystemClock
            .sleep_until(SystemClock.now().saturating_add(Duration::from_millis(200)))
            .await;
    }
    let out = flooding.await.unwrap().unwrap();
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {report}{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let requests = wrk_figure(&report, "requests in").unwrap();
    let refused = wrk_figure(&report, "Non-2xx or 3xx responses").unwrap_or(0);
    let allowed = RATE * (FLOOD.as_secs() + 1) + 2 * RATE;
    assert!(
        requests > 4 * allowed,
        "the flood was not a flood ({requests} requests):\n{report}"
    );
    assert!(
        requests - refused <= allowed,
        "{} of {requests} flood requests served, more than the limit allows ({allowed}):\n{report}",
        requests - refused
    );
    // The refusals are the rate limit's: past its burst, the flooding key gets 429
    // `rate_limited` (and nothing else but 200s).
    let mut refusals = 0;
    for _ in 0..4 * RATE {
        let r = server
            .try_request_with(
                "GET",
                "/api/device/SIM_0001/latest",
                None,
                "Authorization: Bearer flood-key\r\n",
            )
            .await
            .unwrap();
        match r.status {
            200 => {}
            429 => {
                assert_eq!(r.json["code"], "rate_limited", "{}", r.body);
                refusals += 1;
            }
            other => panic!("the flooding key got {other}: {}", r.body),
        }
    }
    assert!(
        refusals > 0,
        "no 429 in {} requests past the burst",
        4 * RATE
    );
    eprintln!(
        "flood: {requests} requests, {refused} refused; then {refusals} of {} refused; \
         {probes} probes, {} distinct latest readings",
        4 * RATE,
        seen.len()
    );
    assert!(probes >= 10, "only {probes} probes during the flood");
    assert!(
        seen.len() >= probes / 2,
        "the latest reading moved only {} times in {probes} probes: {seen:?}",
        seen.len()
    );
}

/// A client trickling a request's headers (a valid header line every 200 ms, never the blank line
/// that ends them) is disconnected once `--http-header-timeout` passes, while other clients are
/// served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_its_headers_slowly_is_disconnected() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &["--http-header-timeout=1s"]).await;
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", server.http_port))
        .await
        .unwrap();
    slow.write_all(b"GET /livez HTTP/1.1\r\nHost: praan\r\n")
        .await
        .unwrap();
    let deadline = SystemClock.now().saturating_add(Duration::from_secs(20));
    let mut lines = 0;
    let closed = loop {
        assert!(
            SystemClock.now() < deadline,
            "still connected after {lines} header lines over 20 s"
        );
        // A write to a connection the server closed fails (or its answer is readable).
        if slow.write_all(b"X-Slow: yes\r\n").await.is_err() {
            break true;
        }
        lines += 1;
        let mut buf = [0_u8; 256];
        let wait =
            SystemClock.sleep_until(SystemClock.now().saturating_add(Duration::from_millis(200)));
        tokio::select! {
            read = slow.read(&mut buf) => match read {
                Ok(0) | Err(_) => break true,
                Ok(n) => {
                    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                    assert!(text.starts_with("HTTP/1.1 408"), "answered: {text}");
                    break true;
                }
            },
            () = wait => {}
        }
        // Meanwhile another client is served.
        if lines % 5 == 0 {
            assert_eq!(server.get("/livez").await.status, 200);
        }
    };
    assert!(closed);
    assert!(
        lines >= 2,
        "closed after {lines} header lines: before the deadline"
    );
    assert_eq!(server.get("/livez").await.status, 200);
}
