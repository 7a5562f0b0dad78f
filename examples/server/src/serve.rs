//! Serving the router over HTTP/1.1 with a deadline for each request's headers.
//!
//! `axum::serve` gives hyper no timer, so hyper's `header_read_timeout` never fires: a client that
//! sends its request headers a byte at a time (slowloris) keeps its connection and task for as
//! long as it likes, and a few thousand such clients exhaust the process's file descriptors. This
//! loop is `axum::serve` with that deadline (and `TCP_NODELAY`): hyper closes a connection whose
//! next request's headers are not complete in time, and idle keep-alive connections with it. Bodies
//! are bounded by praan-http's request timeout.

use std::{future::Future, pin::pin, sync::Arc, time::Duration};

use axum::{Router, extract::ConnectInfo, http::Request};
use hyper::body::Incoming;
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
    service::TowerToHyperService,
};
use praan_core::clock::Clock;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tracing::{debug, warn};

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting and waits for the
/// connections under way to finish their requests. Each connection's requests carry its peer
/// address as `ConnectInfo<SocketAddr>` (for rate limiting by IP). A failed `accept` (e.g. out of
/// file descriptors) is logged and retried after a second on `clock`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    header_timeout: Duration,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .keep_alive(true);
    let graceful = GracefulShutdown::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    warn!("accepting an HTTP connection failed: {e}");
                    clock.sleep_until(clock.now().saturating_add(Duration::from_secs(1))).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            debug!(%peer, "TCP_NODELAY not set: {e}");
        }
        let service = ServiceBuilder::new()
            .map_request(move |mut request: Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            })
            .service(router.clone());
        let connection =
            http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                debug!(%peer, "HTTP connection ended: {e}");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
}
