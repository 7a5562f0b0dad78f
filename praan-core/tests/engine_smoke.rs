//! The harness itself: a command is acked, a silent device times out, a restart resumes.

mod support;

use std::time::Duration;

use praan_core::domain::{AckStatus, CommandStatus};
use support::*;

#[tokio::test]
async fn ack_and_timeout_through_the_harness() {
    let mut sim = Sim::new("2026-11-28T09:00:00Z", &["d1"]).await;
    let cmd = sim.fan("d1", 3).await;
    let sent = sim.take_sent();
    assert_eq!(actions(&sent), [act("setFanSpeed", 3)]);
    sim.ack(&sent[0], AckStatus::Success).await;
    assert_eq!(
        sim.stored(cmd.command_id).await.status,
        CommandStatus::Acknowledged
    );

    let silent = sim.fan("d1", 4).await;
    sim.advance_to(sim.now().saturating_add(Duration::from_secs(200)))
        .await;
    let sent = sim.take_sent();
    assert_eq!(sent.len(), 4, "maxRetries 3: four publishes");
    assert!(
        sent.windows(2).all(|w| w[0].raw == w[1].raw),
        "byte-identical"
    );
    let gaps: Vec<_> = sent
        .windows(2)
        .map(|w| w[1].at.saturating_duration_since(w[0].at))
        .collect();
    assert_eq!(gaps, [Duration::from_secs(30); 3]);
    assert_eq!(
        sim.stored(silent.command_id).await.status,
        CommandStatus::Timeout
    );
    sim.restart().await;
    assert_eq!(
        sim.stored(silent.command_id).await.status,
        CommandStatus::Timeout
    );
}
