//! Serving the router over TCP, or over TLS (see `tls`), with limits on slow
//! clients: a client has [`HEADER_READ_TIMEOUT`] to send a request's
//! headers (and `tls::HANDSHAKE_TIMEOUT` to complete its handshake), so
//! connections that trickle bytes (slowloris) are closed instead of pinning
//! a task each, and everyone else is served meanwhile. Handshakes happen on
//! each connection's own task, never in the accept loop. Handlers
//! themselves are bounded by the router's request timeout.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

use super::tls::Tls;

/// Longest time a client may take to send a request's headers.
pub(super) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Accepts connections until `shutdown` completes, then stops accepting at
/// once and gives the requests in flight up to `grace` to finish. Idle
/// keep-alive connections close at once, and so do handshakes under way; a
/// client still sending its request (or a slow handler) is cut off when the
/// grace runs out, so a stop never waits on a client. With `tls`, every
/// connection is HTTPS.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<Tls>,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
) -> std::io::Result<()> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    // Tells handshakes under way that certd is stopping.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let stream = match accepted {
                    Ok((stream, _)) => stream,
                    Err(error) => {
                        // E.g. out of file descriptors: pause rather than spin.
                        tracing::warn!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let builder = builder.clone();
                let app = app.clone();
                let watcher = graceful.watcher();
                match &tls {
                    None => {
                        tokio::spawn(serve_connection(builder, TokioIo::new(stream), app, watcher));
                    }
                    Some(tls) => {
                        let tls = tls.clone();
                        let mut stop = stop.clone();
                        tokio::spawn(async move {
                            let stream = tokio::select! {
                                stream = tls.accept(stream) => stream,
                                _ = stop.wait_for(|stopping| *stopping) => None,
                            };
                            if let Some(stream) = stream {
                                serve_connection(builder, TokioIo::new(stream), app, watcher).await;
                            }
                        });
                    }
                }
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    if tokio::time::timeout(grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "connections still open when the shutdown grace ran out; closing them"
        );
    }
    Ok(())
}

/// Serves one connection (HTTP/1.1 or HTTP/2) until it closes.
async fn serve_connection<I>(
    builder: auto::Builder<TokioExecutor>,
    io: TokioIo<I>,
    app: Router,
    watcher: Watcher,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app);
    let connection = builder.serve_connection_with_upgrades(io, service);
    // Client errors (resets, timeouts) end only that connection.
    let _ = watcher.watch(connection.into_owned()).await;
}
