//! [`MqttConfig`] and its parts, and how they become rumqttc's options and rustls's
//! configuration — every value checked first, since rumqttc panics on some.

use std::{fmt, sync::Arc, time::Duration};

use rumqttc::{MqttOptions, TlsConfiguration};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use super::{
    MQTT_MAX_PACKET,
    broker_url::{BrokerUrl, redact_url},
    config_error,
};
use crate::transport::TransportError;

/// Where and how to connect; see the [module documentation](super) for what each part means.
///
/// Build it with [`MqttConfig::new`], then set the fields. Its `Debug` output hides the URL's
/// password.
#[derive(Clone)]
#[non_exhaustive]
pub struct MqttConfig {
    /// `mqtt://[user[:password]@]host[:port]` or `mqtts://…` (percent-encoded user and password).
    pub url: String,
    /// The MQTT client id: stable per instance (the persistent session is keyed on it), unique
    /// among the broker's clients.
    pub client_id: String,
    /// Topic filters to subscribe to at QoS 1 on every connection, e.g.
    /// [`Codec::subscriptions`](crate::codec::Codec::subscriptions). Empty for a publish-only
    /// transport.
    pub subscriptions: Vec<String>,
    /// Subscribe as the shared-subscription group `$share/{group}/{filter}`, so that several
    /// instances split the messages between them. `None` (the default) for a plain subscription.
    pub share_group: Option<String>,
    /// Keep-alive interval: 0 (off) or at least 1 s, whole seconds. 30 s by default.
    pub keep_alive: Duration,
    /// Whether the broker forgets the session on disconnect. `false` by default (a persistent
    /// session: un-acknowledged messages are kept and redelivered).
    pub clean_session: bool,
    /// The largest MQTT packet sent or accepted, in bytes. 1 MiB by default; keep the broker's
    /// message size limit below it (see [Packet size](super#packet-size)).
    pub max_packet_size: usize,
    /// Capacity of the inbound channel the consumer reads (and of the driver's local buffer).
    /// 1024 by default.
    pub inbound_capacity: usize,
    /// The most QoS 1 publishes of ours awaiting the broker's PUBACK. 100 by default.
    pub max_inflight: u16,
    /// How long to wait for the TCP (and TLS) connection and the ConnAck; whole seconds, at least
    /// 1 s. 10 s by default.
    pub connect_timeout: Duration,
    /// Delays between reconnection attempts.
    pub reconnect: ReconnectBackoff,
    /// The certificates to trust (and present) for `mqtts://`. Required for `mqtts://`.
    pub tls: Option<TlsConfig>,
}

impl MqttConfig {
    /// A configuration for `url` and `client_id`, with the defaults documented on each field and
    /// no subscriptions.
    pub fn new(url: impl Into<String>, client_id: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client_id: client_id.into(),
            subscriptions: Vec::new(),
            share_group: None,
            keep_alive: Duration::from_secs(30),
            clean_session: false,
            max_packet_size: 1024 * 1024,
            inbound_capacity: 1024,
            max_inflight: 100,
            connect_timeout: Duration::from_secs(10),
            reconnect: ReconnectBackoff::default(),
            tls: None,
        }
    }

    /// The filters actually subscribed to: [`MqttConfig::subscriptions`], with the
    /// shared-subscription prefix when [`MqttConfig::share_group`] is set.
    pub fn subscription_filters(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .map(|filter| match &self.share_group {
                Some(group) => format!("$share/{group}/{filter}"),
                None => filter.clone(),
            })
            .collect()
    }
}

impl fmt::Debug for MqttConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MqttConfig")
            .field("url", &redact_url(&self.url))
            .field("client_id", &self.client_id)
            .field("subscriptions", &self.subscriptions)
            .field("share_group", &self.share_group)
            .field("keep_alive", &self.keep_alive)
            .field("clean_session", &self.clean_session)
            .field("max_packet_size", &self.max_packet_size)
            .field("inbound_capacity", &self.inbound_capacity)
            .field("max_inflight", &self.max_inflight)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect", &self.reconnect)
            .field("tls", &self.tls)
            .finish()
    }
}

/// Capped exponential backoff between reconnection attempts: `initial`, then doubling up to `max`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReconnectBackoff {
    /// The first delay. 100 ms by default.
    pub initial: Duration,
    /// The longest delay. 30 s by default.
    pub max: Duration,
}

impl Default for ReconnectBackoff {
    fn default() -> Self {
        Self {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// TLS settings for `mqtts://` (rustls with the ring provider). The library reads no files: the
/// embedder passes the certificates' contents.
#[derive(Clone)]
#[non_exhaustive]
pub enum TlsConfig {
    /// Trust the CA certificates of a PEM bundle, and optionally authenticate with a client
    /// certificate.
    Pem {
        /// One or more PEM `CERTIFICATE` blocks: the CAs that may sign the broker's certificate.
        ca: Vec<u8>,
        /// A client certificate to present (mutual TLS), if the broker asks for one.
        client_auth: Option<ClientAuth>,
    },
    /// A complete rustls client configuration, for anything else (ALPN, custom verifiers, …).
    Rustls(Arc<rustls::ClientConfig>),
}

impl TlsConfig {
    /// Trust the CA certificates in `ca_pem`; no client certificate.
    pub fn ca_pem(ca_pem: impl Into<Vec<u8>>) -> Self {
        Self::Pem {
            ca: ca_pem.into(),
            client_auth: None,
        }
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pem { ca, client_auth } => f
                .debug_struct("Pem")
                .field("ca_bytes", &ca.len())
                .field("client_auth", client_auth)
                .finish(),
            Self::Rustls(_) => f.write_str("Rustls(..)"),
        }
    }
}

/// A client certificate for mutual TLS, PEM-encoded.
#[derive(Clone)]
pub struct ClientAuth {
    /// The certificate chain, leaf first (PEM `CERTIFICATE` blocks).
    pub cert_chain_pem: Vec<u8>,
    /// The private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_pem: Vec<u8>,
}

impl fmt::Debug for ClientAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print the key.
        f.debug_struct("ClientAuth")
            .field("cert_chain_bytes", &self.cert_chain_pem.len())
            .finish_non_exhaustive()
    }
}

/// rumqttc's options for `config`, every value checked first (rumqttc panics on some).
pub(super) fn mqtt_options(config: &MqttConfig) -> Result<MqttOptions, TransportError> {
    let url = BrokerUrl::parse(&config.url)?;
    if config.client_id.is_empty() || config.client_id.len() > 65_535 {
        return Err(config_error("client_id must be 1 to 65535 bytes"));
    }
    if config.client_id.chars().any(char::is_control) {
        return Err(config_error(
            "client_id must not contain control characters",
        ));
    }
    let keep_alive = config.keep_alive;
    if !(keep_alive.is_zero()
        || (keep_alive >= Duration::from_secs(1) && keep_alive.as_secs() <= u64::from(u16::MAX)))
    {
        return Err(config_error("keep_alive must be 0 or 1 s to 65535 s"));
    }
    if !(128..=MQTT_MAX_PACKET).contains(&config.max_packet_size) {
        return Err(config_error(
            "max_packet_size must be 128 bytes to 256 MiB - 1",
        ));
    }
    if config.max_inflight == 0 {
        return Err(config_error("max_inflight must be at least 1"));
    }
    if let Some(group) = &config.share_group
        && (group.is_empty()
            || group
                .chars()
                .any(|c| matches!(c, '/' | '+' | '#' | '\0') || c.is_control()))
    {
        return Err(config_error(
            "share_group must be non-empty, without '/', '+', '#' or control characters",
        ));
    }
    for filter in &config.subscriptions {
        check_filter(filter)?;
    }

    let mut options = MqttOptions::new(config.client_id.clone(), url.host, url.port);
    options
        .set_keep_alive(Duration::from_secs(keep_alive.as_secs()))
        .set_clean_session(config.clean_session)
        .set_max_packet_size(config.max_packet_size, config.max_packet_size)
        .set_inflight(config.max_inflight)
        .set_manual_acks(true);
    if let Some((user, password)) = url.credentials {
        options.set_credentials(user, password);
    }
    match (url.tls, &config.tls) {
        (true, Some(tls)) => {
            options.set_transport(rumqttc::Transport::Tls(TlsConfiguration::Rustls(
                rustls_config(tls)?,
            )));
        }
        (true, None) => {
            return Err(config_error(
                "an mqtts:// broker needs MqttConfig::tls (the CA certificates to trust)",
            ));
        }
        (false, Some(_)) => {
            return Err(config_error(
                "MqttConfig::tls is set but the URL is mqtt:// (use mqtts://)",
            ));
        }
        (false, None) => {}
    }
    Ok(options)
}

/// Checks an MQTT topic filter: non-empty, `+` only as a whole level, `#` only as the whole last
/// level, no NUL.
pub(super) fn check_filter(filter: &str) -> Result<(), TransportError> {
    let bad = |why: &str| Err(config_error(format!("subscription {filter:?}: {why}")));
    if filter.is_empty() || filter.len() > 65_535 {
        return bad("must be 1 to 65535 bytes");
    }
    if filter.contains('\0') {
        return bad("must not contain NUL");
    }
    let levels: Vec<&str> = filter.split('/').collect();
    for (i, level) in levels.iter().enumerate() {
        if level.contains('+') && *level != "+" {
            return bad("'+' must be a whole level");
        }
        if level.contains('#') && (*level != "#" || i + 1 != levels.len()) {
            return bad("'#' must be the whole last level");
        }
    }
    Ok(())
}

/// A rustls client configuration (ring provider) from [`TlsConfig`].
pub(super) fn rustls_config(tls: &TlsConfig) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let (ca, client_auth) = match tls {
        TlsConfig::Rustls(config) => return Ok(config.clone()),
        TlsConfig::Pem { ca, client_auth } => (ca, client_auth),
    };
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca) {
        let cert = cert.map_err(|e| config_error(format!("reading the CA certificates: {e}")))?;
        roots
            .add(cert)
            .map_err(|e| config_error(format!("adding a CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(config_error("the CA PEM holds no certificate"));
    }
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| config_error(format!("TLS protocol versions: {e}")))?
    .with_root_certificates(roots);
    let config = match client_auth {
        None => builder.with_no_client_auth(),
        Some(auth) => {
            let chain = CertificateDer::pem_slice_iter(&auth.cert_chain_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| config_error(format!("reading the client certificate: {e}")))?;
            if chain.is_empty() {
                return Err(config_error(
                    "the client certificate PEM holds no certificate",
                ));
            }
            let key = PrivateKeyDer::from_pem_slice(&auth.key_pem)
                .map_err(|e| config_error(format!("reading the client key: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| config_error(format!("the client certificate: {e}")))?
        }
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_debug_output_do_not_show_the_password() {
        let err = BrokerUrl::parse("mqtt://user:hunter2@h/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("user:***@h"), "{err}");
        let config = MqttConfig::new("mqtts://user:hunter2@h", "c");
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("user:***@h"), "{debug}");
    }

    #[test]
    fn checks_filters_and_share_groups() {
        for ok in ["device/+/data", "#", "a/#", "+", "+/+/ack"] {
            assert!(check_filter(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a/b+", "a/#/b", "a#", "a/\0"] {
            assert!(check_filter(bad).is_err(), "{bad:?}");
        }
        let mut config = MqttConfig::new("mqtt://h", "c");
        config.subscriptions = vec!["device/+/data".into(), "device/+/ack".into()];
        assert_eq!(config.subscription_filters(), config.subscriptions);
        config.share_group = Some("praan".into());
        assert_eq!(
            config.subscription_filters(),
            vec!["$share/praan/device/+/data", "$share/praan/device/+/ack"]
        );
        assert!(mqtt_options(&config).is_ok());
        config.share_group = Some("a/b".into());
        assert!(matches!(
            mqtt_options(&config),
            Err(TransportError::Config { .. })
        ));
    }

    #[test]
    fn refuses_unusable_configurations_instead_of_panicking() {
        let base = MqttConfig::new("mqtt://h", "c");
        type Change = Box<dyn Fn(&mut MqttConfig)>;
        let cases: Vec<(&str, Change)> = vec![
            ("empty client id", Box::new(|c| c.client_id.clear())),
            (
                "sub-second keep-alive",
                Box::new(|c| c.keep_alive = Duration::from_millis(500)),
            ),
            ("tiny packets", Box::new(|c| c.max_packet_size = 10)),
            ("no in-flight", Box::new(|c| c.max_inflight = 0)),
            (
                "mqtts without roots",
                Box::new(|c| c.url = "mqtts://h".into()),
            ),
            (
                "roots without mqtts",
                Box::new(|c| c.tls = Some(TlsConfig::ca_pem("x"))),
            ),
            (
                "no certificate in the PEM",
                Box::new(|c| {
                    c.url = "mqtts://h".into();
                    c.tls = Some(TlsConfig::ca_pem("not a pem"));
                }),
            ),
        ];
        for (what, change) in cases {
            let mut config = base.clone();
            change(&mut config);
            assert!(
                matches!(mqtt_options(&config), Err(TransportError::Config { .. })),
                "{what}"
            );
        }
        let mut config = base;
        config.keep_alive = Duration::ZERO;
        config.clean_session = true;
        assert!(mqtt_options(&config).is_ok());
    }
}
