//! Serving HTTP on a listener we are given: one task per connection, served by hyper directly
//! (not `axum::serve`) so that a connection is bounded: at most `max_connections` at once (more are
//! closed on accept), and its request headers must arrive within `header_read_timeout`, which also
//! ends idle keep-alive connections. Slow, idle or piled-up sockets cannot hold the server's memory.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics::counter;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tower::Service;
use tracing::{debug, warn};

/// How connections are bounded.
#[derive(Clone, Copy, Debug)]
pub struct ConnectionLimits {
    pub max_connections: u32,
    pub header_read_timeout: Duration,
}

/// How long in-flight requests may take to finish after shutdown begins.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Serves `router` on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(listener: TcpListener, router: Router, limits: ConnectionLimits, shutdown: impl Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(limits.max_connections as usize));
    let (stop, stopping) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => match slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        tokio::spawn(serve_connection(stream, router.clone(), limits.header_read_timeout, stopping.clone(), slot));
                    }
                    Err(_) => {
                        counter!("http_connections_refused_total").increment(1);
                        debug!("connection refused: too many open connections");
                    }
                },
                Err(error) => {
                    // Typically EMFILE: back off instead of spinning.
                    warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection gives its slot back when it ends: holding all slots means all have ended.
    if tokio::time::timeout(DRAIN_TIMEOUT, slots.acquire_many(limits.max_connections)).await.is_err() {
        warn!("some connections were still open after the drain timeout");
    }
}

async fn serve_connection(stream: TcpStream, router: Router, header_read_timeout: Duration, mut stopping: watch::Receiver<bool>, _slot: OwnedSemaphorePermit) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |request: Request<Incoming>| router.clone().call(request));
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .keep_alive(true)
        .serve_connection(TokioIo::new(stream), service)
        // `/ws`: the socket is handed to the subscription, which lives on after this returns
        // (subscriptions are capped on their own, `--max-subscriptions`).
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                debug!(%error, "connection ended with an error");
            }
        }
        _ = stopped(&mut stopping) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once shutdown has begun.
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await.map(|_| ());
}
