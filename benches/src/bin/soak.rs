//! The soak of issue 10 (see `praan_benches::soak`):
//!
//! ```text
//! soak [--devices N] [--seconds S] [--warm-up S] [--server PATH]
//! ```
//!
//! Defaults: 10,000 devices for 600 s after a 20 s warm-up, against the `praan-server` next to
//! this binary (`cargo build --release -p praan-example-server -p praan-benches --bin praan-server --bin soak`).
//! Mosquitto comes from `PRAAN_TEST_MOSQUITTO_BIN` (`scripts/test-services.sh start && source
//! .services/env`). `scripts/soak.sh` does all of that. Exit code 0 when it passes, 1 when not,
//! 2 when it could not run.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use praan_benches::{
    latency::P4_TARGET,
    soak::{SoakConfig, SoakReport, soak},
    sqlite::{BoxError, runtime},
};
use praan_simulator::brokers::mosquitto_from_env;

fn config() -> Result<SoakConfig, BoxError> {
    let mut config = SoakConfig {
        server: std::env::current_exe()?
            .parent()
            .ok_or("this binary has no directory")?
            .join("praan-server"),
        mosquitto: mosquitto_from_env().ok_or(
            "PRAAN_TEST_MOSQUITTO_BIN is not set (scripts/test-services.sh start && source \
             .services/env)",
        )?,
        devices: 10_000,
        duration: Duration::from_secs(600),
        warm_up: Duration::from_secs(20),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--devices" => config.devices = value()?.parse()?,
            "--seconds" => config.duration = Duration::from_secs(value()?.parse()?),
            "--warm-up" => config.warm_up = Duration::from_secs(value()?.parse()?),
            "--server" => config.server = PathBuf::from(value()?),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !config.server.is_file() {
        return Err(format!(
            "{} is missing: cargo build --release -p praan-example-server",
            config.server.display()
        )
        .into());
    }
    Ok(config)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

fn print(report: &SoakReport) {
    let c = &report.config;
    let lines = [
        format!(
            "soak: {} devices (own MQTT sessions) at 1 reading/s through Mosquitto to praan-server \
             (SQLite) for {:?} after a {:?} warm-up",
            c.devices, c.duration, c.warm_up
        ),
        format!(
            "  memory (server RSS): start {}, end {}, max {} (flat: end <= {})",
            mib(report.rss_start),
            mib(report.rss_end),
            mib(report.rss_max),
            mib(report.rss_limit())
        ),
        format!(
            "  devices: {} reconnects, {} connection errors, {} readings dropped",
            report.reconnects, report.connection_errors, report.dropped
        ),
        format!(
            "  readings: {} published, {} stored, {} duplicates; {} rejected; {} ERROR lines in \
             the server log",
            report.published, report.stored, report.duplicates, report.rejected, report.log_errors
        ),
        format!(
            "  ingest lag (probe reading -> visible at /latest, every 250 ms): {} probes, {} lost, \
             p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (P4: p99 <= {} ms)",
            report.probes,
            report.lost_probes,
            report.lag.p50.as_secs_f64() * 1e3,
            report.lag.p99.as_secs_f64() * 1e3,
            report.lag.max.as_secs_f64() * 1e3,
            P4_TARGET.as_millis()
        ),
        format!("  {}", if report.passes() { "PASS" } else { "FAIL" }),
    ];
    let mut out = std::io::stdout().lock();
    for line in lines {
        let _ = std::io::Write::write_all(&mut out, format!("{line}\n").as_bytes());
    }
}

fn main() -> ExitCode {
    let outcome = config().and_then(|config| runtime()?.block_on(soak(config)));
    match outcome {
        Ok(report) => {
            print(&report);
            if report.passes() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("soak: {e}");
            ExitCode::from(2)
        }
    }
}
