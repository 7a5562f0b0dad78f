//! `praan-simulator`: runs N simulated purifiers against an MQTT broker until Ctrl-C (or
//! SIGTERM), then shuts them down gracefully. See the crate README for the flags.

use std::{io::IsTerminal, process::ExitCode, str::FromStr, sync::Arc, time::Duration};

use praan_core::{
    clock::{Clock, SystemClock},
    codec::TopicPrefix,
    domain::{FanSpeed, FanState},
};
use praan_simulator::{
    BrokerUrl, ConfigError, Fleet, FleetConfig, Mode,
    config::parse_duration,
    fleet::{Counters, CountersSnapshot},
};
use tracing::{Level, error, info};

const USAGE: &str = "\
praan-simulator: simulated air purifiers speaking praan's MQTT wire protocol

USAGE:
    praan-simulator [OPTIONS]

OPTIONS:
    --broker URL          MQTT broker, mqtt://[user:password@]host[:port]
                          [default: mqtt://127.0.0.1:1883]
    --devices N           how many devices, each with its own MQTT session [default: 1]
    --prefix PREFIX       MQTT topic prefix [default: device]
    --id-prefix PREFIX    device ids are PREFIX0001, PREFIX0002, ... [default: SIM_]
    --first N             number of the first device (to run several processes) [default: 1]
    --interval DURATION   time between two readings of a device, e.g. 500ms, 1s, 2m
                          [default: 2m]
    --seed N              fleet seed: the same seed gives the same readings [default: 1]
    --seed-compat         behave like the old devices in the field: silent while off, and
                          switch off after 10 s when turned on at speed 0 (autoOff)
    --initial-speed N     start every device at speed N (0 = off) [default: a seeded 1-5]
    --connect-rate N      new MQTT sessions per second at start [default: 500]
    --keep-alive DURATION MQTT keep-alive [default: 60s]
    --connect-timeout DURATION
                          longest wait for a ConnAck (whole seconds) [default: 30s]
    --persistent-session  clean_session = false (the broker queues commands while away)
    --stats DURATION      log the counters this often, 0 for never [default: 10s]
    --log LEVEL           error, warn, info, debug or trace [default: info]
    -h, --help            print this help
    -V, --version         print the version
";

struct Args {
    config: FleetConfig,
    stats: Duration,
    log: Level,
}

fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, ConfigError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut config = FleetConfig::new(BrokerUrl::parse("mqtt://127.0.0.1:1883")?, clock);
    let mut stats = Duration::from_secs(10);
    let mut log = Level::INFO;
    while let Some(flag) = args.next() {
        let (flag, inline) = match flag.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_owned(), Some(v.to_owned())),
            _ => (flag, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| ConfigError(format!("{flag} needs a value")))
        };
        let number = |v: String| {
            v.parse::<u64>()
                .map_err(|_| ConfigError(format!("{flag}: {v:?} is not a whole number")))
        };
        match flag.as_str() {
            "-h" | "--help" => {
                print_help();
                return Ok(None);
            }
            "-V" | "--version" => {
                print_version();
                return Ok(None);
            }
            "--broker" => config.broker = BrokerUrl::parse(&value()?)?,
            "--devices" => config.devices = to_usize(number(value()?)?)?,
            "--prefix" => {
                config.topic_prefix = TopicPrefix::new(value()?)
                    .map_err(|e| ConfigError(format!("--prefix: {}", e.reason)))?;
            }
            "--id-prefix" => config.id_prefix = value()?,
            "--first" => config.first = to_usize(number(value()?)?)?,
            "--interval" => config.interval = parse_duration(&value()?)?,
            "--seed" => config.seed = number(value()?)?,
            "--seed-compat" => config.mode = Mode::SeedCompat,
            "--initial-speed" => {
                let n = number(value()?)?;
                let speed = u8::try_from(n)
                    .ok()
                    .and_then(|n| FanSpeed::new(n).ok())
                    .ok_or_else(|| ConfigError("--initial-speed must be 0 to 5".into()))?;
                config.initial = Some(FanState::at_speed(speed));
            }
            "--connect-rate" => {
                config.connect_rate = u32::try_from(number(value()?)?)
                    .map_err(|_| ConfigError("--connect-rate is too large".into()))?;
            }
            "--keep-alive" => config.keep_alive = parse_duration(&value()?)?,
            "--connect-timeout" => config.connect_timeout = parse_duration(&value()?)?,
            "--persistent-session" => config.persistent_session = true,
            "--stats" => stats = parse_duration(&value()?)?,
            "--log" => {
                log = Level::from_str(&value()?).map_err(|_| {
                    ConfigError("--log must be error, warn, info, debug or trace".into())
                })?;
            }
            other => return Err(ConfigError(format!("unknown option {other:?}"))),
        }
    }
    config.validate()?;
    Ok(Some(Args { config, stats, log }))
}

fn to_usize(n: u64) -> Result<usize, ConfigError> {
    usize::try_from(n).map_err(|_| ConfigError(format!("{n} is too large")))
}

#[allow(clippy::print_stdout)] // --help prints to stdout, as every CLI does
fn print_help() {
    print!("{USAGE}");
}

#[allow(clippy::print_stdout)] // --version prints to stdout, as every CLI does
fn print_version() {
    println!("praan-simulator {}", env!("CARGO_PKG_VERSION"));
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => return ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("praan-simulator: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_max_level(args.log)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error!("cannot start the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(args))
}

async fn run(args: Args) -> ExitCode {
    let Args { config, stats, .. } = args;
    let clock = Arc::clone(&config.clock);
    let fleet = match Fleet::new(config.clone()) {
        Ok(f) => f,
        Err(e) => {
            error!("{e}");
            return ExitCode::from(2);
        }
    };
    info!(
        broker = %config.broker,
        devices = config.devices,
        first = %fleet.device_ids().first().map(|d| d.as_str()).unwrap_or_default(),
        interval_ms = u64::try_from(config.interval.as_millis()).unwrap_or(u64::MAX),
        mode = ?config.mode,
        seed = config.seed,
        "praan-simulator starting (Ctrl-C to stop)"
    );
    let counters = fleet.counters();
    let reporter =
        (!stats.is_zero()).then(|| tokio::spawn(report_stats(Arc::clone(&clock), counters, stats)));
    let last = fleet.run(shutdown_signal()).await;
    if let Some(r) = reporter {
        r.abort();
    }
    info!(
        readings = last.readings_published,
        dropped = last.readings_dropped,
        acks = last.acks_published,
        reconnects = last.reconnects,
        shutdown_notices = last.shutdown_notices,
        shutdown_timeouts = last.shutdown_timeouts,
        "praan-simulator stopped"
    );
    ExitCode::SUCCESS
}

/// Logs the counters and the reading rate every `every`.
async fn report_stats(clock: Arc<dyn Clock>, counters: Arc<Counters>, every: Duration) {
    let mut prev: CountersSnapshot = counters.snapshot();
    let mut at = clock.now();
    loop {
        let next = at.saturating_add(every);
        clock.sleep_until(next).await;
        let now = clock.now();
        let cur = counters.snapshot();
        let secs = now.saturating_duration_since(at).as_secs_f64().max(1e-3);
        let rate = (cur.readings_published - prev.readings_published) as f64 / secs;
        let acked = (cur.pubacks - prev.pubacks) as f64 / secs;
        info!(
            connected = cur.connected,
            readings_per_s = format!("{rate:.1}"),
            pubacks_per_s = format!("{acked:.1}"),
            readings = cur.readings_published,
            dropped = cur.readings_dropped,
            commands = cur.commands_received,
            duplicates = cur.commands_duplicate,
            acks = cur.acks_published,
            reconnects = cur.reconnects,
            connection_errors = cur.connection_errors,
            ticks_skipped = cur.ticks_skipped,
            "simulator stats"
        );
        prev = cur;
        at = now;
    }
}

/// Completes on Ctrl-C or, on Unix, SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => info!("Ctrl-C: shutting down gracefully"),
        () = term => info!("SIGTERM: shutting down gracefully"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Args>, ConfigError> {
        parse_args(args.iter().map(|s| (*s).to_owned()))
    }

    #[test]
    fn flags() {
        let a = parse(&[
            "--broker",
            "mqtt://127.0.0.1:1999",
            "--devices=25",
            "--prefix",
            "acme/fleet",
            "--id-prefix",
            "AIR_",
            "--interval",
            "1s",
            "--seed",
            "7",
            "--seed-compat",
            "--initial-speed",
            "0",
        ])
        .unwrap()
        .unwrap();
        let c = &a.config;
        assert_eq!((c.broker.port, c.devices, c.seed), (1999, 25, 7));
        assert_eq!(c.topic_prefix.as_str(), "acme/fleet");
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.mode, Mode::SeedCompat);
        assert_eq!(c.initial, Some(FanState::OFF));
        assert_eq!(c.device_ids().unwrap()[0].as_str(), "AIR_0001");
        let d = parse(&[]).unwrap().unwrap();
        assert_eq!(d.config.interval, Duration::from_secs(120));
        assert_eq!(d.config.mode, Mode::Standard);
        for bad in [
            &["--devices"][..],
            &["--devices", "x"],
            &["--devices", "0"],
            &["--interval", "2"],
            &["--initial-speed", "6"],
            &["--prefix", "a/+"],
            &["--wat"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
