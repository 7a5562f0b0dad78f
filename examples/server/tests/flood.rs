//! An HTTP flood on loopback (wrk, bounded) against `praan-server` with a rate limit: the
//! flooding key gets 429s, another key keeps being served, and MQTT ingestion keeps storing.

#![allow(
    clippy::unwrap_used,
    reason = "tests: a failed unwrap is a failed test"
)]

mod support;

use std::{collections::BTreeSet, path::PathBuf, process::Stdio, time::Duration};

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
