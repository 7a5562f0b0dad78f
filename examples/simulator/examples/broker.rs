//! A loopback MQTT broker (embedded rumqttd) for trying the simulator when no broker is at hand:
//!
//! ```text
//! cargo run -p praan-simulator --example broker -- 1883
//! ```
//!
//! Listens on 127.0.0.1 only (MQTT 3.1.1, no TLS, no auth, console off) until killed. The
//! optional second argument is the connection limit (default 20,000).

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let port = args.next().map_or(Ok(1883), |p| p.parse::<u16>());
    let max_connections = args.next().map_or(Ok(20_000), |n| n.parse::<usize>());
    let (Ok(port), Ok(max_connections)) = (port, max_connections) else {
        eprintln!("usage: broker [PORT [MAX_CONNECTIONS]]");
        return ExitCode::from(2);
    };
    let server = ServerSettings {
        name: "v4".into(),
        listen: SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: 256 * 1024,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    let config = Config {
        router: RouterConfig {
            max_connections,
            max_outgoing_packet_count: 1000,
            max_segment_size: 100 * 1024 * 1024,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_owned(), server)])),
        ..Config::default()
    };
    eprintln!(
        "rumqttd on mqtt://127.0.0.1:{port} (max {max_connections} connections); Ctrl-C to stop"
    );
    match Broker::new(config).start() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rumqttd: {e}");
            ExitCode::FAILURE
        }
    }
}
