//! Every forbidden way to read the real clock or sleep; clippy must reject each one.

/// Reads the clock five ways and sleeps three ways.
pub async fn forbidden() {
    let _ = chrono::Utc::now();
    let _ = chrono::Local::now();
    let _ = std::time::SystemTime::now();
    let _ = std::time::Instant::now();
    let _ = tokio::time::Instant::now();
    std::thread::sleep(std::time::Duration::ZERO);
    tokio::time::sleep(std::time::Duration::ZERO).await;
    tokio::time::sleep_until(tokio::time::Instant::from_std(std::time::Instant::now())).await;
}
