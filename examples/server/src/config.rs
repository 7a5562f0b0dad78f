//! The server's configuration (PRODUCT.md §9): defaults < TOML file (`--config FILE`) <
//! environment (`PRAAN_*`) < flags. Every setting has one name: `--ack-timeout` on the command
//! line, `PRAAN_ACK_TIMEOUT` in the environment, `ack-timeout` in the file. Unknown flags and
//! unknown file keys are errors; an unknown `PRAAN_*` variable is reported as a warning (the
//! environment is shared with other tools). Durations use humantime (`500ms`, `2s`, `1m`, `90d`).
//! [`Config::describe`] shows the effective configuration with secrets redacted.

use std::{
    collections::BTreeMap,
    fmt, fs,
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use praan_core::{codec::TopicPrefix, domain::Timezone};
use praan_http::{ApiKey, Scope};

/// Why the configuration cannot be used: one line, naming the setting and where its value came
/// from.
#[derive(Clone, PartialEq, Eq, Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a value came from.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Source {
    /// The built-in default.
    Default,
    /// The TOML file.
    File(PathBuf),
    /// An environment variable.
    Env(String),
    /// A command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(var) => write!(f, "env {var}"),
            Self::Flag => f.write_str("flag"),
        }
    }
}

/// One setting: its name (flag without `--`, file key), default, whether it is secret, and help.
struct Setting {
    name: &'static str,
    default: Option<&'static str>,
    secret: bool,
    help: &'static str,
}

const fn setting(
    name: &'static str,
    default: Option<&'static str>,
    secret: bool,
    help: &'static str,
) -> Setting {
    Setting {
        name,
        default,
        secret,
        help,
    }
}

/// Every setting, in the order of PRODUCT.md §9 (and the extras after it).
const SETTINGS: &[Setting] = &[
    setting(
        "http-addr",
        Some("127.0.0.1:3000"),
        false,
        "REST API listen address",
    ),
    setting(
        "http-header-timeout",
        Some("10s"),
        false,
        "how long a client may take to send a request's headers (slowloris guard)",
    ),
    setting(
        "database-url",
        Some("sqlite://praan.db"),
        true,
        "sqlite://PATH or mongodb://HOST/DATABASE (selects the store; database default praan)",
    ),
    setting(
        "mqtt-url",
        None,
        true,
        "external broker (mqtt://, mqtts://, user:pass@); unset = embedded broker",
    ),
    setting(
        "mqtt-ca-file",
        None,
        false,
        "PEM file of the CA certificates an mqtts:// broker's certificate must chain to",
    ),
    setting(
        "broker-addr",
        Some("127.0.0.1:1883"),
        false,
        "where the embedded broker listens",
    ),
    setting("topic-prefix", Some("device"), false, "MQTT topic prefix"),
    setting(
        "ack-timeout",
        Some("30s"),
        false,
        "wait per command attempt",
    ),
    setting(
        "max-retries",
        Some("3"),
        false,
        "resends after the first publish (0 allowed)",
    ),
    setting(
        "offline-after",
        Some("5m"),
        false,
        "silence after which a device is offline",
    ),
    setting(
        "timezone",
        Some("UTC"),
        false,
        "default IANA zone for schedules",
    ),
    setting(
        "api-keys",
        None,
        true,
        "key:scope,key:scope (scope read or write); unset = no auth",
    ),
    setting(
        "cors-origins",
        None,
        false,
        "origins browsers may call the API from: * or a comma-separated list; unset = none",
    ),
    setting(
        "rate-limit",
        None,
        false,
        "requests per second per API key (or client IP), bursts of twice that; unset = no limit",
    ),
    setting(
        "simulate",
        Some("0"),
        false,
        "N in-process simulated devices (demo)",
    ),
    setting(
        "simulate-interval",
        Some("10s"),
        false,
        "time between two readings of a simulated device",
    ),
    setting(
        "retention-readings",
        Some("90d"),
        false,
        "how long readings are kept",
    ),
    setting(
        "retention-commands",
        Some("30d"),
        false,
        "how long commands are kept",
    ),
    setting(
        "client-id",
        Some("praan-server"),
        false,
        "MQTT client id (the persistent session is keyed on it)",
    ),
    setting(
        "mqtt-data-sessions",
        Some("0"),
        false,
        "extra MQTT sessions that share the readings (0-255); raise past one broker in-flight window",
    ),
    setting(
        "log",
        Some("info"),
        false,
        "error, warn, info, debug or trace",
    ),
];

/// The store, chosen by the URL's scheme.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum DatabaseUrl {
    /// `sqlite://PATH`: a file (created if missing).
    Sqlite(String),
    /// `mongodb://…` or `mongodb+srv://…`.
    Mongo(String),
}

/// The effective configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// REST API listen address.
    pub http_addr: SocketAddr,
    /// How long a client may take to send a request's headers.
    pub http_header_timeout: Duration,
    /// The store.
    pub database_url: DatabaseUrl,
    /// An external broker; `None` runs the embedded one.
    pub mqtt_url: Option<String>,
    /// The CA certificates (PEM file) an `mqtts://` broker's certificate must chain to.
    pub mqtt_ca_file: Option<PathBuf>,
    /// Where the embedded broker listens.
    pub broker_addr: SocketAddr,
    /// MQTT topic prefix.
    pub topic_prefix: TopicPrefix,
    /// Wait per command attempt.
    pub ack_timeout: Duration,
    /// Resends after the first publish.
    pub max_retries: u32,
    /// Silence after which a device is offline.
    pub offline_after: Duration,
    /// Default zone for schedules.
    pub timezone: Timezone,
    /// API keys; empty = no auth.
    pub api_keys: Vec<ApiKey>,
    /// Cross-origin browsers allowed.
    pub cors: praan_http::Cors,
    /// Requests per second per client; `None` for no limit.
    pub rate_limit: Option<praan_http::RateLimit>,
    /// In-process simulated devices.
    pub simulate: usize,
    /// Time between two readings of a simulated device.
    pub simulate_interval: Duration,
    /// How long readings are kept.
    pub retention_readings: Duration,
    /// How long commands (and schedule runs) are kept.
    pub retention_commands: Duration,
    /// MQTT client id.
    pub client_id: String,
    /// Data sessions that share the readings besides the control session (`MqttPool`).
    pub mqtt_data_sessions: u8,
    /// Log level.
    pub log: tracing::Level,
    /// Where each value came from, and the raw values, for [`Config::describe`].
    raw: BTreeMap<&'static str, (String, Source)>,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Invocation {
    /// Run with this configuration; `warnings` are to be logged once logging is up.
    Run {
        /// The configuration.
        config: Box<Config>,
        /// Unknown `PRAAN_*` variables and the like.
        warnings: Vec<String>,
    },
    /// Print this text (help or version) and exit successfully.
    Print(String),
}

impl Config {
    /// Reads the configuration from `args` (without the program name) and `env` (name, value
    /// pairs), and the file named by `--config` / `PRAAN_CONFIG`, if any.
    pub fn load(
        args: impl IntoIterator<Item = String>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Invocation, ConfigError> {
        let mut flags = BTreeMap::new();
        let mut config_file = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "-h" | "--help" => return Ok(Invocation::Print(help())),
                "-V" | "--version" => {
                    return Ok(Invocation::Print(format!(
                        "praan-server {}\n",
                        env!("CARGO_PKG_VERSION")
                    )));
                }
                _ => {}
            }
            let Some(flag) = arg.strip_prefix("--") else {
                return Err(ConfigError(format!(
                    "unexpected argument {arg:?} (see --help)"
                )));
            };
            let (name, inline) = match flag.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (flag.to_owned(), None),
            };
            let value = match inline {
                Some(v) => v,
                None => args
                    .next()
                    .ok_or_else(|| ConfigError(format!("--{name} needs a value")))?,
            };
            if name == "config" {
                config_file = Some(PathBuf::from(value));
                continue;
            }
            let key = known(&name)
                .ok_or_else(|| ConfigError(format!("unknown flag --{name} (see --help)")))?;
            flags.insert(key, value);
        }

        let mut from_env = BTreeMap::new();
        let mut warnings = Vec::new();
        for (var, value) in env {
            let Some(rest) = var.strip_prefix("PRAAN_") else {
                continue;
            };
            if rest == "CONFIG" {
                config_file.get_or_insert_with(|| PathBuf::from(&value));
                continue;
            }
            let name = rest.to_ascii_lowercase().replace('_', "-");
            match known(&name) {
                Some(key) => {
                    from_env.insert(key, (value, var));
                }
                None if rest.starts_with("TEST_") || rest == "REQUIRE_BACKENDS" => {}
                None => warnings.push(format!("ignoring unknown environment variable {var}")),
            }
        }

        let mut raw: BTreeMap<&'static str, (String, Source)> = SETTINGS
            .iter()
            .filter_map(|s| s.default.map(|d| (s.name, (d.to_owned(), Source::Default))))
            .collect();
        if let Some(path) = &config_file {
            for (key, value) in read_file(path)? {
                raw.insert(key, (value, Source::File(path.clone())));
            }
        }
        for (key, (value, var)) in from_env {
            raw.insert(key, (value, Source::Env(var)));
        }
        for (key, value) in flags {
            raw.insert(key, (value, Source::Flag));
        }
        let config = Self::resolve(raw)?;
        Ok(Invocation::Run {
            config: Box::new(config),
            warnings,
        })
    }

    fn resolve(raw: BTreeMap<&'static str, (String, Source)>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| raw.get(name).map(|(v, s)| (v.as_str(), s));
        let parse = |name: &'static str| -> Result<Option<Value<'_>>, ConfigError> {
            Ok(get(name).map(|(value, source)| Value {
                name,
                value,
                source,
            }))
        };
        let required = |name: &'static str| -> Result<Value<'_>, ConfigError> {
            parse(name)?.ok_or_else(|| ConfigError(format!("--{name} is required")))
        };
        if raw.contains_key("mqtt-ca-file") && !raw.contains_key("mqtt-url") {
            return Err(ConfigError(
                "--mqtt-ca-file is for an external mqtts:// broker (--mqtt-url); the embedded \
                 broker speaks plain MQTT on loopback"
                    .into(),
            ));
        }
        if raw
            .get("mqtt-url")
            .is_some_and(|(url, _)| url.starts_with("mqtts://"))
            && !raw.contains_key("mqtt-ca-file")
        {
            return Err(ConfigError(
                "--mqtt-url mqtts://… needs --mqtt-ca-file: the CA certificates its certificate \
                 must chain to (praan trusts no built-in roots)"
                    .into(),
            ));
        }
        Ok(Self {
            http_addr: required("http-addr")?.socket_addr()?,
            http_header_timeout: required("http-header-timeout")?.positive_duration()?,
            database_url: required("database-url")?.database_url()?,
            mqtt_url: parse("mqtt-url")?.map(|v| v.mqtt_url()).transpose()?,
            mqtt_ca_file: parse("mqtt-ca-file")?.map(|v| PathBuf::from(v.value)),
            broker_addr: required("broker-addr")?.socket_addr()?,
            topic_prefix: required("topic-prefix")?.topic_prefix()?,
            ack_timeout: required("ack-timeout")?.positive_duration()?,
            max_retries: required("max-retries")?.number()?,
            offline_after: required("offline-after")?.positive_duration()?,
            timezone: required("timezone")?.timezone()?,
            api_keys: parse("api-keys")?
                .map(|v| v.api_keys())
                .transpose()?
                .unwrap_or_default(),
            cors: parse("cors-origins")?
                .map(|v| v.cors())
                .transpose()?
                .unwrap_or(praan_http::Cors::Off),
            rate_limit: parse("rate-limit")?.map(|v| v.rate_limit()).transpose()?,
            simulate: required("simulate")?.number()?,
            simulate_interval: required("simulate-interval")?.positive_duration()?,
            retention_readings: required("retention-readings")?.positive_duration()?,
            retention_commands: required("retention-commands")?.positive_duration()?,
            client_id: required("client-id")?.client_id()?,
            mqtt_data_sessions: required("mqtt-data-sessions")?.number()?,
            log: required("log")?.level()?,
            raw,
        })
    }

    /// The effective configuration, one `name = value (source)` per line, secrets redacted.
    pub fn describe(&self) -> String {
        let mut out = String::new();
        for setting in SETTINGS {
            let (value, source) = match self.raw.get(setting.name) {
                Some((value, source)) => (redact(setting, value), source.to_string()),
                None => ("(unset)".to_owned(), "default".to_owned()),
            };
            out.push_str(&format!("{} = {value} ({source})\n", setting.name));
        }
        out
    }
}

/// The setting's canonical name, if `name` is one.
fn known(name: &str) -> Option<&'static str> {
    SETTINGS.iter().find(|s| s.name == name).map(|s| s.name)
}

/// A value as shown in logs: secrets are hidden (URLs keep everything but the password).
fn redact(setting: &Setting, value: &str) -> String {
    if !setting.secret {
        return value.to_owned();
    }
    if setting.name == "api-keys" {
        let scopes: Vec<&str> = value
            .split(',')
            .map(|pair| pair.rsplit_once(':').map_or("?", |(_, scope)| scope.trim()))
            .collect();
        return format!("[{} keys redacted: {}]", scopes.len(), scopes.join(","));
    }
    redact_url_password(value)
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_owned()
            };
            format!("{scheme}://{masked}@{host}{tail}")
        }
        None => url.to_owned(),
    }
}

/// The keys of a TOML file as setting names and string values; unknown keys are errors.
fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let text = fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
    let table: toml::Table = toml::from_str(&text)
        .map_err(|e| ConfigError(format!("config file {}: {}", path.display(), e.message())))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let name = known(&key).ok_or_else(|| {
            ConfigError(format!(
                "config file {}: unknown key {key:?}",
                path.display()
            ))
        })?;
        let text = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            other => {
                return Err(ConfigError(format!(
                    "config file {}: {key} must be a string or an integer, not {}",
                    path.display(),
                    other.type_str()
                )));
            }
        };
        out.push((name, text));
    }
    Ok(out)
}

/// A raw value with its name and source, parsed into what a setting needs.
struct Value<'a> {
    name: &'static str,
    value: &'a str,
    source: &'a Source,
}

impl Value<'_> {
    fn error(&self, why: impl fmt::Display) -> ConfigError {
        ConfigError(format!(
            "--{} ({}): {:?} {why}",
            self.name, self.source, self.value
        ))
    }

    fn socket_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.value
            .parse()
            .map_err(|_| self.error("is not an address like 127.0.0.1:3000"))
    }

    fn number<T: std::str::FromStr>(&self) -> Result<T, ConfigError> {
        self.value
            .parse()
            .map_err(|_| self.error("is not a whole number in range"))
    }

    fn positive_duration(&self) -> Result<Duration, ConfigError> {
        let d = humantime::parse_duration(self.value)
            .map_err(|e| self.error(format!("is not a duration like 500ms, 2s, 1m, 90d ({e})")))?;
        if d.is_zero() {
            return Err(self.error("must be longer than zero"));
        }
        Ok(d)
    }

    fn database_url(&self) -> Result<DatabaseUrl, ConfigError> {
        if let Some(path) = self.value.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(self.error("names no file (sqlite://PATH)"));
            }
            return Ok(DatabaseUrl::Sqlite(self.value.to_owned()));
        }
        if self.value.starts_with("mongodb://") || self.value.starts_with("mongodb+srv://") {
            return Ok(DatabaseUrl::Mongo(self.value.to_owned()));
        }
        Err(ConfigError(format!(
            "--{} ({}): {:?} is not sqlite://PATH or mongodb://...",
            self.name,
            self.source,
            redact_url_password(self.value)
        )))
    }

    fn mqtt_url(&self) -> Result<String, ConfigError> {
        let ok = ["mqtt://", "mqtts://"].iter().any(|s| {
            self.value
                .strip_prefix(s)
                .is_some_and(|rest| !rest.is_empty())
        });
        if ok {
            Ok(self.value.to_owned())
        } else {
            Err(ConfigError(format!(
                "--{} ({}): {:?} is not mqtt://host[:port] or mqtts://host[:port]",
                self.name,
                self.source,
                redact_url_password(self.value)
            )))
        }
    }

    fn topic_prefix(&self) -> Result<TopicPrefix, ConfigError> {
        TopicPrefix::new(self.value).map_err(|e| self.error(e))
    }

    fn timezone(&self) -> Result<Timezone, ConfigError> {
        Timezone::parse(self.value).map_err(|e| self.error(e))
    }

    fn client_id(&self) -> Result<String, ConfigError> {
        let ok = !self.value.is_empty()
            && self.value.len() <= 128
            && self
                .value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if ok {
            Ok(self.value.to_owned())
        } else {
            Err(self.error("must be 1-128 characters of A-Z a-z 0-9 - _ ."))
        }
    }

    fn level(&self) -> Result<tracing::Level, ConfigError> {
        self.value
            .parse()
            .map_err(|_| self.error("is not one of error, warn, info, debug, trace"))
    }

    fn cors(&self) -> Result<praan_http::Cors, ConfigError> {
        if self.value.trim() == "*" {
            return Ok(praan_http::Cors::Any);
        }
        let origins: Vec<String> = self
            .value
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(str::to_owned)
            .collect();
        for origin in &origins {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            let ok = host.is_some_and(|h| !h.is_empty() && !h.contains(['/', '?', '#', ' ']));
            if !ok {
                return Err(self.error(format!(
                    "has {origin:?}, not an origin like https://ops.example.com"
                )));
            }
        }
        Ok(praan_http::Cors::Origins(origins))
    }

    fn rate_limit(&self) -> Result<praan_http::RateLimit, ConfigError> {
        let per_second: u32 = self.number()?;
        if per_second == 0 {
            return Err(self.error("must be at least 1 (leave it unset for no limit)"));
        }
        Ok(praan_http::RateLimit {
            per_second: f64::from(per_second),
            burst: per_second.saturating_mul(2),
        })
    }

    fn api_keys(&self) -> Result<Vec<ApiKey>, ConfigError> {
        let mut keys = Vec::new();
        for pair in self
            .value
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let Some((key, scope)) = pair.rsplit_once(':') else {
                return Err(ConfigError(format!(
                    "--{} ({}): every entry must be key:scope (scope read or write)",
                    self.name, self.source
                )));
            };
            let scope = match scope.trim() {
                "read" => Scope::Read,
                "write" => Scope::Write,
                other => {
                    return Err(ConfigError(format!(
                        "--{} ({}): scope {other:?} is not read or write",
                        self.name, self.source
                    )));
                }
            };
            let key = ApiKey::new(key.trim(), scope).ok_or_else(|| {
                ConfigError(format!("--{} ({}): an empty key", self.name, self.source))
            })?;
            keys.push(key);
        }
        Ok(keys)
    }
}

/// The `--help` text, generated from [`SETTINGS`].
fn help() -> String {
    let mut out = String::from(
        "praan-server: the praan example server (embedded broker, store, engine, REST API)\n\n\
         USAGE:\n    praan-server [OPTIONS]\n\n\
         Every option can also be set as PRAAN_<NAME> in the environment or as <name> in a TOML\n\
         file given with --config FILE; flags win over the environment, which wins over the file.\n\n\
         OPTIONS:\n",
    );
    out.push_str("    --config FILE\n            a TOML file of settings (env PRAAN_CONFIG)\n");
    for s in SETTINGS {
        let env = format!("PRAAN_{}", s.name.to_ascii_uppercase().replace('-', "_"));
        let default = s
            .default
            .map_or(String::new(), |d| format!(" [default: {d}]"));
        out.push_str(&format!(
            "    --{} VALUE\n            {}{default} (env {env})\n",
            s.name, s.help
        ));
    }
    out.push_str("    -h, --help      print this help\n    -V, --version   print the version\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;

    fn load(args: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let invocation = Config::load(
            args.iter().map(|s| (*s).to_owned()),
            env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )?;
        match invocation {
            Invocation::Run { config, .. } => Ok(*config),
            Invocation::Print(text) => panic!("printed {text}"),
        }
    }

    #[test]
    fn no_flags_at_all_gives_the_zero_setup_defaults() {
        let c = load(&[], &[]).unwrap();
        assert_eq!(c.http_addr, "127.0.0.1:3000".parse().unwrap());
        assert_eq!(
            c.database_url,
            DatabaseUrl::Sqlite("sqlite://praan.db".into())
        );
        assert_eq!(c.mqtt_url, None);
        assert_eq!(c.broker_addr, "127.0.0.1:1883".parse().unwrap());
        assert_eq!(c.ack_timeout, Duration::from_secs(30));
        assert_eq!(c.max_retries, 3);
        assert_eq!(c.offline_after, Duration::from_secs(300));
        assert_eq!(c.simulate, 0);
        assert_eq!(c.retention_readings, Duration::from_secs(90 * 86_400));
        assert_eq!(c.retention_commands, Duration::from_secs(30 * 86_400));
        assert!(c.api_keys.is_empty());
    }

    #[test]
    fn flags_win_over_env_which_wins_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("praan.toml");
        fs::write(
            &file,
            "ack-timeout = \"5s\"\nmax-retries = 1\nsimulate = 2\ntimezone = \"Asia/Kolkata\"\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = load(
            &["--config", path, "--ack-timeout=500ms"],
            &[("PRAAN_ACK_TIMEOUT", "2s"), ("PRAAN_MAX_RETRIES", "0")],
        )
        .unwrap();
        assert_eq!(c.ack_timeout, Duration::from_millis(500), "flag");
        assert_eq!(c.max_retries, 0, "env over file");
        assert_eq!(c.simulate, 2, "file over default");
        assert!(c.describe().contains("ack-timeout = 500ms (flag)"));
        assert!(
            c.describe()
                .contains("max-retries = 0 (env PRAAN_MAX_RETRIES)")
        );
        assert!(
            c.describe()
                .contains(&format!("simulate = 2 (file {path})"))
        );
    }

    #[test]
    fn unknown_flags_and_file_keys_are_errors_unknown_env_a_warning() {
        let e = load(&["--ack-timout", "1s"], &[]).unwrap_err();
        assert!(e.0.contains("unknown flag --ack-timout"), "{e}");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        fs::write(&file, "ack_timeout = \"1s\"\n").unwrap();
        let e = load(&["--config", file.to_str().unwrap()], &[]).unwrap_err();
        assert!(e.0.contains("unknown key \"ack_timeout\""), "{e}");
        let invocation = Config::load(
            Vec::new(),
            vec![
                ("PRAAN_ACK_TIMOUT".to_owned(), "1s".to_owned()),
                ("PRAAN_TEST_MONGODB_URI".to_owned(), "x".to_owned()),
            ],
        )
        .unwrap();
        let Invocation::Run { warnings, .. } = invocation else {
            panic!("expected a run");
        };
        assert_eq!(
            warnings,
            vec!["ignoring unknown environment variable PRAAN_ACK_TIMOUT".to_owned()]
        );
    }

    #[test]
    fn bad_values_are_one_line_errors_naming_the_setting_and_source() {
        type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case<'_>] = &[
            (
                &["--ack-timeout", "soon"],
                &[],
                "--ack-timeout (flag): \"soon\"",
            ),
            (
                &[],
                &[("PRAAN_MAX_RETRIES", "-1")],
                "--max-retries (env PRAAN_MAX_RETRIES)",
            ),
            (&["--http-addr", "localhost"], &[], "--http-addr (flag)"),
            (
                &["--database-url", "postgres://x"],
                &[],
                "not sqlite://PATH or mongodb://",
            ),
            (&["--mqtt-url", "http://x"], &[], "not mqtt://host"),
            (&["--timezone", "+05:30"], &[], "--timezone (flag)"),
            (&["--api-keys", "abc"], &[], "key:scope"),
            (&["--api-keys", "abc:admin"], &[], "scope \"admin\""),
            (&["--offline-after", "0s"], &[], "longer than zero"),
            (&["--ack-timeout"], &[], "--ack-timeout needs a value"),
            (&["serve"], &[], "unexpected argument"),
        ];
        for (args, env, expected) in cases {
            let e = load(args, env).unwrap_err();
            assert!(e.0.contains(expected), "{args:?} {env:?}: {e}");
            assert!(!e.0.contains('\n'), "one line: {e}");
        }
    }

    #[test]
    fn cors_and_rate_limit_are_optional_and_checked() {
        let c = load(&[], &[]).unwrap();
        assert_eq!((c.cors, c.rate_limit), (praan_http::Cors::Off, None));
        let c = load(
            &[
                "--cors-origins",
                "https://a.example, http://b.example:8080",
                "--rate-limit",
                "50",
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            c.cors,
            praan_http::Cors::Origins(vec![
                "https://a.example".to_owned(),
                "http://b.example:8080".to_owned()
            ])
        );
        assert_eq!(
            c.rate_limit,
            Some(praan_http::RateLimit {
                per_second: 50.0,
                burst: 100
            })
        );
        assert_eq!(
            load(&["--cors-origins", "*"], &[]).unwrap().cors,
            praan_http::Cors::Any
        );
        assert!(load(&["--cors-origins", "ops.example"], &[]).is_err());
        assert!(load(&["--rate-limit", "0"], &[]).is_err());
    }

    #[test]
    fn secrets_are_redacted_in_the_description() {
        let c = load(
            &[
                "--api-keys",
                "s3cret-w:write,s3cret-r:read",
                "--mqtt-url",
                "mqtts://praan:hunter2@broker:8883",
                "--mqtt-ca-file",
                "/etc/praan/broker-ca.crt",
                "--database-url",
                "mongodb://admin:pw@db:27017/praan",
            ],
            &[],
        )
        .unwrap();
        let text = c.describe();
        for secret in ["s3cret", "hunter2", ":pw@"] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        assert!(text.contains("mqtts://praan:***@broker:8883"), "{text}");
        assert!(text.contains("[2 keys redacted: write,read]"), "{text}");
        assert_eq!(c.api_keys.len(), 2);
        assert_eq!(
            c.mqtt_url.as_deref(),
            Some("mqtts://praan:hunter2@broker:8883")
        );
    }

    #[test]
    fn help_lists_every_setting_with_its_env_name() {
        let Invocation::Print(text) = Config::load(vec!["--help".to_owned()], Vec::new()).unwrap()
        else {
            panic!("help prints");
        };
        for s in SETTINGS {
            assert!(text.contains(&format!("--{}", s.name)));
        }
        assert!(text.contains("PRAAN_ACK_TIMEOUT"));
    }
}
