//! Binding, serving and stopping. Connections are served by hand (hyper, HTTP/1.1 keep-alive) rather
//! than with `axum::serve` so that a reset fault can kill its own connection: each request carries a
//! [`ConnectionHandle`] whose `reset()` makes the connection's task close the socket with a TCP RST.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tower::Service;

use crate::config::{RateLimit, SandboxConfig};
use crate::duplicates::{DuplicateSetting, UnknownLocation};
use crate::faults::Fault;
use crate::oauth::TokenAnswer;
use crate::request_log::RecordedRequest;
use crate::routes;
use crate::state::{App, Shared};
use crate::store::Store;
use crate::LOCATION_ID;

/// Starts sandboxes.
pub struct Sandbox;

impl Sandbox {
    /// Seeds the data, binds `config.listen` (port 0 picks a free port) and serves in the background
    /// until the returned handle is shut down or dropped.
    pub async fn spawn(config: SandboxConfig) -> io::Result<RunningSandbox> {
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (contacts, seed, duplicates) = (config.contacts, config.seed, config.duplicate_setting);
        // 100,000 contacts take a moment to generate: keep the runtime's worker threads free.
        let store = tokio::task::spawn_blocking(move || Store::seeded(contacts, seed).with_duplicate_setting(duplicates)).await.map_err(io::Error::other)?;
        let host = if addr.ip().is_unspecified() { "127.0.0.1".to_owned() } else { addr.ip().to_string() };
        let host = if addr.is_ipv6() && !addr.ip().is_unspecified() { format!("[{host}]") } else { host };
        let base_url = format!("http://{host}:{}", addr.port());
        let app: App = Arc::new(Shared::new(&config, store, base_url.clone()));
        let router = routes::router(app.clone());
        let (shutdown, stopped) = watch::channel(());
        let task = tokio::spawn(accept_loop(listener, router, stopped));
        tracing::debug!(%base_url, contacts, "sandbox listening");
        Ok(RunningSandbox { app, addr, base_url, shutdown: Some(shutdown), task: Some(task) })
    }
}

/// A running sandbox. Dropping it stops the server and closes its connections.
pub struct RunningSandbox {
    app: App,
    addr: SocketAddr,
    base_url: String,
    shutdown: Option<watch::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningSandbox {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn base_url(&self) -> String {
        self.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every API request (not `/__sandbox/` ones) in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.app.log.snapshot()
    }

    pub fn clear_requests(&self) {
        self.app.log.clear();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.app.faults.add(fault);
    }

    pub fn clear_faults(&self) {
        self.app.faults.clear();
    }

    /// Ids of the contacts of [`LOCATION_ID`] currently stored, oldest `dateAdded` first.
    pub fn contact_ids(&self) -> Vec<String> {
        self.contact_ids_in(LOCATION_ID)
    }

    /// Ids of the contacts of `location_id` currently stored, oldest `dateAdded` first.
    pub fn contact_ids_in(&self, location_id: &str) -> Vec<String> {
        self.app.read().ordered(location_id, None).map(|c| c.id.clone()).collect()
    }

    /// Businesses of [`LOCATION_ID`] that at least one contact points at.
    pub fn business_ids(&self) -> Vec<String> {
        self.app.read().business_ids(LOCATION_ID)
    }

    /// Changes the burst limit from now on (counts in the current windows are kept).
    pub fn set_rate_limit(&self, limit: RateLimit) {
        self.app.limiter.set_limit(limit);
    }

    /// Where webhook events go from now on (`None`: nowhere).
    pub fn set_webhook_url(&self, url: Option<String>) {
        self.app.webhooks.set_url(url);
    }

    /// The key webhooks are signed with, as 64 hex digits (`--webhook-public-key` takes it).
    pub fn webhook_public_key(&self) -> String {
        self.app.webhooks.public_key_hex()
    }

    /// Every webhook delivery so far.
    pub fn webhook_deliveries(&self) -> Vec<crate::WebhookDelivery> {
        self.app.webhooks.deliveries()
    }

    /// Adds a delivery fault (after those already set; the first matching one applies).
    pub fn add_webhook_fault(&self, fault: crate::WebhookFault) {
        self.app.webhooks.faults.add(fault);
    }

    /// Removes every delivery fault; a delivery already held back by `reorder` still goes.
    pub fn clear_webhook_faults(&self) {
        self.app.webhooks.faults.clear();
    }

    /// Changes `location_id`'s "Allow Duplicate Contact" setting from the next write on.
    pub fn set_duplicate_setting(&self, location_id: &str, setting: DuplicateSetting) -> Result<(), UnknownLocation> {
        self.app.write().set_duplicate_setting(location_id, setting)
    }

    /// `location_id`'s "Allow Duplicate Contact" setting (the default for an unknown location).
    pub fn duplicate_setting(&self, location_id: &str) -> DuplicateSetting {
        self.app.read().duplicate_setting(location_id)
    }

    /// Changes the latency added before every API answer.
    pub fn set_latency(&self, latency: Duration) {
        self.app.set_latency(latency);
    }

    /// `location_id` installs the app (as from GHL's marketplace): an INSTALL event goes if new.
    pub fn install_location(&self, location_id: &str) {
        let user = self.app.read().first_user(location_id).unwrap_or_default().to_owned();
        crate::installs::actions::install_location(&self.app, location_id, &user);
    }

    /// `location_id` uninstalls the app: its OAuth tokens stop working, an UNINSTALL event goes.
    /// False when it was not installed.
    pub fn uninstall_location(&self, location_id: &str) -> bool {
        crate::installs::actions::uninstall_location(&self.app, location_id)
    }

    /// A new, empty sub-account of the company; true when the agency install's
    /// `installToFutureLocations` installed it (its INSTALL has no userId/companyId).
    /// `None` when the id is taken.
    pub fn add_location(&self, location_id: &str) -> Option<bool> {
        crate::installs::actions::add_location(&self.app, location_id).ok()
    }

    /// Changes how `POST /oauth/token` describes the tokens it issues from now on.
    pub fn set_token_answer(&self, answer: TokenAnswer) {
        self.app.set_token_answer(answer);
    }

    /// Stops accepting, closes every connection and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        // Dropping the sender tells the accept loop and every connection to stop.
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl std::fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSandbox").field("base_url", &self.base_url).finish_non_exhaustive()
    }
}

/// Lets a request's handler kill the connection it arrived on.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionHandle(Arc<Notify>);

impl ConnectionHandle {
    /// Closes the connection with a TCP RST; nothing more is read or written on it.
    pub(crate) fn reset(&self) {
        self.0.notify_one();
    }
}

async fn accept_loop(listener: TcpListener, router: Router, mut stopped: watch::Receiver<()>) {
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(stream, router.clone(), stopped.clone()));
                }
                Err(e) => {
                    // Typically EMFILE: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            },
            _ = stopped.changed() => break,
        }
    }
}

async fn serve_connection(stream: TcpStream, router: Router, mut stopped: watch::Receiver<()>) {
    let _ = stream.set_nodelay(true);
    let linger = ResetSwitch::new(&stream);
    let reset = Arc::new(Notify::new());
    let handle = ConnectionHandle(reset.clone());
    let service = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        req.extensions_mut().insert(handle.clone());
        router.clone().call(req)
    });
    let connection = hyper::server::conn::http1::Builder::new().keep_alive(true).serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        }
        _ = reset.notified() => linger.arm(),
        _ = stopped.changed() => {}
    }
    // Dropping `connection` here closes the socket (with RST if the switch was armed).
}

/// A second descriptor of the socket, kept to set `SO_LINGER` to zero once hyper owns the stream:
/// closing a socket with zero linger sends RST instead of FIN, which is what a reset fault means.
struct ResetSwitch(Option<std::net::TcpStream>);

impl ResetSwitch {
    #[cfg(unix)]
    fn new(stream: &TcpStream) -> Self {
        use std::os::fd::AsFd;
        Self(stream.as_fd().try_clone_to_owned().ok().map(std::net::TcpStream::from))
    }

    #[cfg(not(unix))]
    fn new(_stream: &TcpStream) -> Self {
        Self(None)
    }

    fn arm(self) {
        if let Some(dup) = self.0 {
            let socket = tokio::net::TcpSocket::from_std_stream(dup);
            if let Err(e) = socket.set_zero_linger() {
                tracing::debug!(error = %e, "could not set SO_LINGER; the reset will be a plain close");
            }
        }
    }
}
