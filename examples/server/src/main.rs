//! `praan-server`: the whole praan system in one process — see the crate README.

#![doc = include_str!("../README.md")]

use std::{
    io::{IsTerminal as _, Write as _},
    process::ExitCode,
    sync::Arc,
};

use praan_server::{Config, Invocation, Server};
use tracing::{error, info, warn};

fn main() -> ExitCode {
    let invocation = match Config::load(std::env::args().skip(1), std::env::vars()) {
        Ok(invocation) => invocation,
        Err(e) => {
            eprintln!("praan-server: {e}");
            return ExitCode::from(2);
        }
    };
    let (config, warnings) = match invocation {
        Invocation::Print(text) => {
            let _ = std::io::stdout().write_all(text.as_bytes());
            return ExitCode::SUCCESS;
        }
        Invocation::Run { config, warnings } => (*config, warnings),
    };
    init_logging(config.log);
    for warning in warnings {
        warn!("{warning}");
    }
    info!(
        "praan-server {} starting with:\n{}",
        env!("CARGO_PKG_VERSION"),
        config.describe()
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("praan-server: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(config))
}

/// Logs at `level` to stderr (colours on a terminal only); the embedded broker's chatter is kept
/// to warnings unless the level is `trace`.
fn init_logging(level: tracing::Level) {
    use tracing_subscriber::{
        filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
    };
    let broker = if level == tracing::Level::TRACE {
        level
    } else {
        tracing::Level::WARN
    };
    // rumqttd's router logs every client that disconnects first as an "error"; that is noise.
    let router = if level == tracing::Level::TRACE {
        tracing::level_filters::LevelFilter::TRACE
    } else {
        tracing::level_filters::LevelFilter::OFF
    };
    let filter = Targets::new()
        .with_default(level)
        .with_target("rumqttd", broker)
        .with_target("rumqttd::router::routing", router);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal()),
        )
        .with(filter)
        .init();
}

async fn run(config: Config) -> ExitCode {
    let metrics = match metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            Some(Arc::new(move || handle.render()) as Arc<dyn Fn() -> String + Send + Sync>)
        }
        Err(e) => {
            warn!("metrics are off: {e}");
            None
        }
    };
    let server = match Server::start(config, metrics).await {
        Ok(server) => server,
        Err(e) => {
            error!("{e}");
            eprintln!("praan-server: {e}");
            return ExitCode::FAILURE;
        }
    };
    match server.http_addr() {
        Ok(addr) => info!("REST API on http://{addr} (GET / lists the routes)"),
        Err(e) => warn!("{e}"),
    }
    server.run_until(shutdown_signal()).await;
    ExitCode::SUCCESS
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(e) => {
                    warn!("cannot listen for SIGTERM: {e}");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => info!("SIGINT received"),
            _ = terminate.recv() => info!("SIGTERM received"),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
        info!("Ctrl-C received");
    }
}
