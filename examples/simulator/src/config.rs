//! What a fleet runs with: [`FleetConfig`], the broker address [`BrokerUrl`], and the tiny
//! duration syntax of the command line ([`parse_duration`]).

use std::{fmt, sync::Arc, time::Duration};

use praan_core::{
    clock::Clock,
    codec::TopicPrefix,
    domain::{DEVICE_ID_MAX_LEN, DeviceId, FanState},
};

use crate::model::Mode;

/// A configuration the simulator cannot run with.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A plain-TCP MQTT broker address: `mqtt://[user[:password]@]host[:port]` (`tcp://` also
/// accepted; the port defaults to 1883).
#[derive(Clone, PartialEq, Eq)]
pub struct BrokerUrl {
    /// Host name or IP address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name and password, if given.
    pub credentials: Option<(String, String)>,
}

impl BrokerUrl {
    /// Parses `mqtt://[user[:password]@]host[:port]`.
    pub fn parse(url: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| Err(ConfigError(format!("broker URL {url:?}: {why}")));
        let Some((scheme, rest)) = url.split_once("://") else {
            return bad("expected mqtt://host:port");
        };
        match scheme {
            "mqtt" | "tcp" => {}
            "mqtts" | "ssl" => {
                return bad("the simulator speaks plain MQTT only (use mqtt://)");
            }
            _ => return bad("the scheme must be mqtt://"),
        }
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return bad("no path, query or fragment is allowed");
        }
        let (credentials, hostport) = match rest.rsplit_once('@') {
            Some((user, hostport)) => {
                let (u, p) = user.split_once(':').unwrap_or((user, ""));
                (Some((u.to_owned(), p.to_owned())), hostport)
            }
            None => (None, rest),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let Some((host, after)) = v6.split_once(']') else {
                return bad("unclosed '[' in an IPv6 host");
            };
            (host, after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return bad("the host is empty");
        }
        let port = match port {
            None => 1883,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return bad("the port must be 1 to 65535"),
            },
        };
        Ok(Self {
            host: host.to_owned(),
            port,
            credentials,
        })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.credentials {
            Some((user, _)) => write!(f, "mqtt://{user}:***@{host}:{}", self.port),
            None => write!(f, "mqtt://{host}:{}", self.port),
        }
    }
}

impl fmt::Debug for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Parses a duration such as `500ms`, `1s`, `2m`, `1h` or `1m30s` (units `ms`, `s`, `m`, `h`;
/// whole numbers).
pub fn parse_duration(s: &str) -> Result<Duration, ConfigError> {
    let bad = || {
        Err(ConfigError(format!(
            "duration {s:?}: expected e.g. 500ms, 1s, 2m, 1h or 1m30s"
        )))
    };
    let mut rest = s.trim();
    if rest.is_empty() {
        return bad();
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let Ok(n) = rest[..digits].parse::<u64>() else {
            return bad();
        };
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let part = match &rest[..letters] {
            "ms" => Duration::from_millis(n),
            "s" => Duration::from_secs(n),
            "m" => n
                .checked_mul(60)
                .map(Duration::from_secs)
                .unwrap_or(Duration::MAX),
            "h" => n
                .checked_mul(3600)
                .map(Duration::from_secs)
                .unwrap_or(Duration::MAX),
            _ => return bad(),
        };
        rest = &rest[letters..];
        let Some(t) = total.checked_add(part) else {
            return bad();
        };
        total = t;
    }
    Ok(total)
}

/// Reconnection backoff: the first wait, doubled after each failed attempt up to the cap, reset
/// by a successful connection.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Backoff {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for Backoff {
    /// 500 ms doubling to 30 s.
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
        }
    }
}

/// How a fleet of simulated devices runs.
#[derive(Clone, Debug)]
pub struct FleetConfig {
    /// The broker.
    pub broker: BrokerUrl,
    /// How many devices.
    pub devices: usize,
    /// The number of the first device (ids are `{id_prefix}{n:04}`, n = first, first+1, …), so
    /// several processes can share a broker without id clashes.
    pub first: usize,
    /// The device id prefix (default `SIM_`).
    pub id_prefix: String,
    /// The MQTT topic prefix (default `device`).
    pub topic_prefix: TopicPrefix,
    /// Time between two readings of a device (default 2 min). Each device's phase in the interval
    /// is spread evenly over the fleet, after one reading when it first connects.
    pub interval: Duration,
    /// The fleet seed; device `n`'s generator is seeded from it and `n`.
    pub seed: u64,
    /// Standard or seed-compat behaviour.
    pub mode: Mode,
    /// Every device's power and speed at start; `None` draws a running speed per device.
    pub initial: Option<FanState>,
    /// New MQTT sessions opened per second at start (the connect ramp; default 500).
    pub connect_rate: u32,
    /// MQTT keep-alive (default 60 s).
    pub keep_alive: Duration,
    /// How long a connection attempt (TCP connect to ConnAck) and a socket flush may take
    /// (default 30 s, whole seconds; a busy broker accepting thousands of sessions is slow).
    pub connect_timeout: Duration,
    /// `clean_session = false`: the broker keeps each device's subscription and queued commands
    /// while it is away (default false, as the old devices).
    pub persistent_session: bool,
    /// Reconnection backoff.
    pub backoff: Backoff,
    /// How long a graceful shutdown may take before the remaining sessions are dropped
    /// (default 10 s).
    pub shutdown_timeout: Duration,
    /// The clock: `SystemClock` in the binary.
    pub clock: Arc<dyn Clock>,
}

impl FleetConfig {
    /// The defaults: one device, `SIM_` ids, topic prefix `device`, a reading every 2 minutes,
    /// seed 1, standard behaviour.
    pub fn new(broker: BrokerUrl, clock: Arc<dyn Clock>) -> Self {
        Self {
            broker,
            devices: 1,
            first: 1,
            id_prefix: "SIM_".to_owned(),
            topic_prefix: TopicPrefix::default(),
            interval: Duration::from_secs(120),
            seed: 1,
            mode: Mode::Standard,
            initial: None,
            connect_rate: 500,
            keep_alive: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(30),
            persistent_session: false,
            backoff: Backoff::default(),
            shutdown_timeout: Duration::from_secs(10),
            clock,
        }
    }

    /// The device ids, in order; an error if one breaks the DeviceId grammar.
    pub fn device_ids(&self) -> Result<Vec<DeviceId>, ConfigError> {
        let last = self.first.saturating_add(self.devices);
        (self.first..last)
            .map(|n| {
                let id = format!("{}{n:04}", self.id_prefix);
                DeviceId::new(&id).map_err(|e| {
                    ConfigError(format!(
                        "device id {id:?} (from --id-prefix): {} (at most {DEVICE_ID_MAX_LEN} \
                         characters of A-Z a-z 0-9 _ . -)",
                        e.reason
                    ))
                })
            })
            .collect()
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.devices == 0 {
            return Err(ConfigError("at least one device is needed".into()));
        }
        if self.interval < Duration::from_millis(1) {
            return Err(ConfigError("the interval must be at least 1 ms".into()));
        }
        if self.connect_rate == 0 {
            return Err(ConfigError("the connect rate must be at least 1/s".into()));
        }
        if self.keep_alive < Duration::from_secs(1) && !self.keep_alive.is_zero() {
            return Err(ConfigError(
                "the keep-alive must be 0 (off) or at least 1 s".into(),
            ));
        }
        if self.connect_timeout < Duration::from_secs(1) {
            return Err(ConfigError(
                "the connect timeout must be at least 1 s".into(),
            ));
        }
        if self.backoff.initial.is_zero() || self.backoff.max < self.backoff.initial {
            return Err(ConfigError(
                "the backoff must start above 0 and not exceed its cap".into(),
            ));
        }
        Ok(())
    }

    /// The seed of device `n`'s generator (SplitMix64 of the fleet seed and `n`).
    pub fn device_seed(&self, n: usize) -> u64 {
        let mut z = self
            .seed
            .wrapping_add((n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls() {
        let u = BrokerUrl::parse("mqtt://127.0.0.1:1884").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.credentials),
            ("127.0.0.1", 1884, None)
        );
        let u = BrokerUrl::parse("tcp://localhost").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("localhost", 1883));
        let u = BrokerUrl::parse("mqtt://ann:s3:cret@[::1]:1999/").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1999), "{u}");
        assert_eq!(u.credentials, Some(("ann".into(), "s3:cret".into())));
        assert_eq!(u.to_string(), "mqtt://ann:***@[::1]:1999");
        for bad in [
            "127.0.0.1:1883",
            "mqtts://h:8883",
            "http://h",
            "mqtt://",
            "mqtt://h:0",
            "mqtt://h:70000",
            "mqtt://h/x",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1s").unwrap(), Duration::from_secs(1));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("0s").unwrap(), Duration::ZERO);
        for bad in ["", "1", "s", "1.5s", "-1s", "1d", "1 s", "ms500"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ids_and_seeds() {
        let mut c = FleetConfig::new(
            BrokerUrl::parse("mqtt://h").unwrap(),
            Arc::new(praan_core::clock::SystemClock),
        );
        c.devices = 3;
        c.first = 9;
        let ids: Vec<_> = c
            .device_ids()
            .unwrap()
            .iter()
            .map(|i| i.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["SIM_0009", "SIM_0010", "SIM_0011"]);
        assert_ne!(c.device_seed(1), c.device_seed(2));
        c.id_prefix = "bad/".into();
        assert!(c.device_ids().is_err());
        c.id_prefix = "SIM_".into();
        c.interval = Duration::ZERO;
        assert!(c.validate().is_err());
    }
}
