//! [`MqttPool`]: one MQTT session for commands, acks and presence, plus data sessions that split
//! the readings between them through a shared subscription — used as one [`Transport`].
//!
//! A broker sends one subscriber connection at most its in-flight window of un-acknowledged QoS 1
//! messages (rumqttd 0.20: 100, fixed; Mosquitto: `max_inflight_messages`), and praan
//! acknowledges a reading only after the store committed it, so one session ingests at most one
//! window per commit. With `n` data sessions the pipeline's batches hold up to `n` windows.
//!
//! - The **control session** is [`MqttConfig`] as given, without the data filters: it publishes
//!   the commands and receives the acks and the (retained) presence messages. Retained messages
//!   are not sent to shared subscriptions, and a device's acks and statuses stay in order on one
//!   connection.
//! - Each **data session** `i` (1 to `n`) has the client id `{client_id}-data{i}` (stable, so its
//!   persistent session survives restarts like the control session's) and subscribes to the data
//!   filters as `$share/{group}/{filter}`, where the group is [`MqttConfig::share_group`] or, when
//!   that is unset, the client id. Readings of one device may then arrive through different
//!   sessions, out of order: the store keys them on `(deviceId, timestamp)`, so order does not
//!   matter to them.

use std::{future::Future, sync::Arc};

use async_trait::async_trait;
use futures_util::future::{join, join_all};
use tokio::sync::mpsc;

use super::{
    Delivery, Inbound, MqttConfig, MqttStats, MqttTransport, Outbound, Transport, TransportError,
    TransportPool, pool::MAX_MEMBERS,
};
use crate::clock::Clock;

/// The control session and the data sessions, as one [`Transport`]; see the
/// [module documentation](self). Clones share the sessions.
#[derive(Clone, Debug)]
pub struct MqttPool {
    pool: TransportPool,
    sessions: Arc<[MqttTransport]>,
}

impl MqttPool {
    /// Prepares the control session (`config` without `data_filters`) and `data_sessions` data
    /// sessions subscribed to `data_filters` in a shared group (e.g. `Codec::data_subscription`).
    /// Returns the pool, the one channel every session's messages arrive on, and the driver (every
    /// session's driver and the pool's forwarding), which the embedder spawns.
    ///
    /// With no data sessions this is one session with every filter, like
    /// [`MqttTransport::connect`]. Fails with [`TransportError::Config`] on an unusable
    /// configuration, a data filter that is not among [`MqttConfig::subscriptions`], a share
    /// group containing `/`, `+` or `#`, or more than 255 data sessions.
    pub fn connect(
        config: MqttConfig,
        data_filters: &[String],
        data_sessions: usize,
        clock: Arc<dyn Clock>,
    ) -> Result<
        (
            Self,
            mpsc::Receiver<Inbound>,
            impl Future<Output = ()> + Send + 'static,
        ),
        TransportError,
    > {
        if data_sessions >= MAX_MEMBERS {
            return Err(config_error(format!(
                "at most {} data sessions, not {data_sessions}",
                MAX_MEMBERS - 1
            )));
        }
        let configs = session_configs(config, data_filters, data_sessions)?;
        let capacity = configs
            .first()
            .map_or(1, |c: &MqttConfig| c.inbound_capacity);
        let mut sessions = Vec::with_capacity(configs.len());
        let mut members = Vec::with_capacity(configs.len());
        let mut drivers = Vec::with_capacity(configs.len());
        for config in configs {
            let (session, inbound, driver) = MqttTransport::connect(config, clock.clone())?;
            members.push((Arc::new(session.clone()) as Arc<dyn Transport>, inbound));
            sessions.push(session);
            drivers.push(driver);
        }
        let (pool, inbound, forwarding) = TransportPool::new(members, capacity)?;
        let driver = async move {
            join(join_all(drivers), forwarding).await;
        };
        Ok((
            Self {
                pool,
                sessions: sessions.into(),
            },
            inbound,
            driver,
        ))
    }

    /// Stops every session (see [`MqttTransport::disconnect`]); the merged channel closes once
    /// they all have ended.
    pub fn disconnect(&self) {
        for session in self.sessions.iter() {
            session.disconnect();
        }
    }

    /// The sessions, the control session first.
    pub fn sessions(&self) -> &[MqttTransport] {
        &self.sessions
    }

    /// The sessions' counters, added up.
    pub fn stats(&self) -> MqttStats {
        self.sessions
            .iter()
            .map(MqttTransport::stats)
            .fold(MqttStats::default(), |sum, s| MqttStats {
                connections: sum.connections + s.connections,
                connection_errors: sum.connection_errors + s.connection_errors,
                sessions_lost: sum.sessions_lost + s.sessions_lost,
                received: sum.received + s.received,
                acks_sent: sum.acks_sent + s.acks_sent,
                backpressure_pauses: sum.backpressure_pauses + s.backpressure_pauses,
                oversized_incoming: sum.oversized_incoming + s.oversized_incoming,
                subscribed: sum.subscribed + s.subscribed,
                subscribe_failures: sum.subscribe_failures + s.subscribe_failures,
            })
    }
}

#[async_trait]
impl Transport for MqttPool {
    /// Publishes through the control session.
    async fn publish(&self, message: Outbound) -> Result<(), TransportError> {
        self.pool.publish(message).await
    }

    /// Acknowledges through the session that delivered the message.
    async fn ack(&self, delivery: Delivery) -> Result<(), TransportError> {
        self.pool.ack(delivery).await
    }

    /// Whether every session is connected.
    fn is_connected(&self) -> bool {
        self.pool.is_connected()
    }
}

/// The control session's configuration, then each data session's.
fn session_configs(
    config: MqttConfig,
    data_filters: &[String],
    data_sessions: usize,
) -> Result<Vec<MqttConfig>, TransportError> {
    if data_sessions == 0 {
        return Ok(vec![config]);
    }
    if let Some(missing) = data_filters
        .iter()
        .find(|f| !config.subscriptions.contains(f))
    {
        return Err(config_error(format!(
            "the data filter {missing:?} is not among the subscriptions"
        )));
    }
    let group = config
        .share_group
        .clone()
        .unwrap_or_else(|| config.client_id.clone());
    if group.is_empty() || group.contains(['/', '+', '#']) {
        return Err(config_error(format!(
            "the share group {group:?} (the client id unless share_group is set) must be \
             non-empty without '/', '+' or '#'"
        )));
    }
    let data = (1..=data_sessions).map(|i| {
        let mut session = config.clone();
        session.client_id = format!("{}-data{i}", config.client_id);
        session.subscriptions = data_filters.to_vec();
        session.share_group = Some(group.clone());
        session
    });
    let mut control = config.clone();
    control.subscriptions.retain(|f| !data_filters.contains(f));
    Ok(std::iter::once(control).chain(data).collect())
}

fn config_error(reason: String) -> TransportError {
    TransportError::Config {
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> MqttConfig {
        let mut config = MqttConfig::new("mqtt://127.0.0.1:1883", "praan-1");
        config.subscriptions = vec![
            "device/+/data".to_owned(),
            "device/+/ack".to_owned(),
            "device/+/status".to_owned(),
        ];
        config
    }

    #[test]
    fn data_sessions_share_the_data_filters_and_the_control_session_keeps_the_rest()
    -> Result<(), TransportError> {
        let data = vec!["device/+/data".to_owned()];
        let configs = session_configs(config(), &data, 2)?;
        assert_eq!(configs.len(), 3);
        assert_eq!(configs[0].client_id, "praan-1");
        assert_eq!(
            configs[0].subscription_filters(),
            ["device/+/ack", "device/+/status"]
        );
        for (i, session) in configs[1..].iter().enumerate() {
            assert_eq!(session.client_id, format!("praan-1-data{}", i + 1));
            assert_eq!(
                session.subscription_filters(),
                ["$share/praan-1/device/+/data"]
            );
        }
        Ok(())
    }

    #[test]
    fn no_data_sessions_is_the_plain_session() -> Result<(), TransportError> {
        let configs = session_configs(config(), &["device/+/data".to_owned()], 0)?;
        assert_eq!(configs.len(), 1);
        assert_eq!(configs[0].subscriptions.len(), 3);
        Ok(())
    }

    #[test]
    fn refuses_unknown_data_filters_bad_groups_and_too_many_sessions() {
        let unknown = session_configs(config(), &["other/+/data".to_owned()], 1);
        assert!(matches!(unknown, Err(TransportError::Config { .. })));
        let mut bad = config();
        bad.client_id = "a/b".to_owned();
        let bad_group = session_configs(bad, &["device/+/data".to_owned()], 1);
        assert!(matches!(bad_group, Err(TransportError::Config { .. })));
        let too_many = MqttPool::connect(
            config(),
            &["device/+/data".to_owned()],
            MAX_MEMBERS,
            Arc::new(crate::clock::FakeClock::default()),
        );
        assert!(matches!(too_many, Err(TransportError::Config { .. })));
    }
}
