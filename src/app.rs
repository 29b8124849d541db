//! Serving: the router of HTTP routes over the [`Services`], on a listener it is given (bound by
//! `main`, or by a test on `127.0.0.1:0`), until shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{info, warn};

use crate::callers::CallerKeys;
use crate::config::HttpConfig;
use crate::graphql::{self, GraphqlState};
use crate::host_guard::HostPolicy;
use crate::readiness::Readiness;
use crate::serve::ConnectionLimits;
use crate::services::Services;

pub struct App {
    listener: TcpListener,
    router: Router,
    connection_limits: ConnectionLimits,
    upstream: String,
    webhooks: Arc<crate::webhooks::Receiver>,
    live_stop: tokio::sync::watch::Sender<bool>,
    #[cfg(feature = "sandbox")]
    sandbox: Option<ghl_sandbox::RunningSandbox>,
}

impl App {
    /// The routes over `services`, served on `listener`. Refuses a listener other machines can
    /// reach when anyone reaching it would act in GHL as the configured token (no API keys).
    pub fn new(listener: TcpListener, services: Services, http: &HttpConfig) -> anyhow::Result<Self> {
        let addr = listener.local_addr()?;
        let public = !addr.ip().is_loopback();
        let keys = services.graphql.callers.len();
        let static_token = services.static_tenant.is_some() && !services.on_embedded_sandbox();
        if public && keys == 0 && static_token {
            // Anyone who reached the port would act in GHL as the configured token (F8).
            anyhow::bail!(
                "refusing to listen on {addr} (reachable from other machines) with a static GHL token and no API keys: \
                 set SUBGRAPH_API_KEYS, or listen on 127.0.0.1"
            );
        } else if public && keys == 0 {
            warn!(%addr, "listening on a non-loopback address without API keys (SUBGRAPH_API_KEYS): any caller may use the subgraph");
        }
        if keys > 0 {
            info!(keys, "callers must present an API key in x-api-key");
        }
        let _ = crate::metrics::handle();
        let metrics_key = http.metrics_key.as_ref().map(|key| Arc::new(CallerKeys::single(secrecy::ExposeSecret::expose_secret(key))));
        let readiness = Arc::new(Readiness::new(services.client.clone(), services.static_tenant.clone()));
        let mut router =
            router(services.graphql, http.max_body_bytes, http.body_read_timeout, metrics_key).route("/readyz", get(move || readyz(readiness.clone())));
        if let Some(oauth_routes) = services.oauth_routes {
            router = router.merge(oauth_routes);
        }
        // Guarded by its signature, not by API keys.
        let webhooks = services.webhooks.clone();
        let live_stop = services.live_stop;
        router = router.merge(crate::webhooks::routes(services.webhooks));
        // The embedded sandbox sends its webhooks here, as GHL would.
        #[cfg(feature = "sandbox")]
        if let Some(sandbox) = &services.sandbox {
            let host = if addr.ip().is_unspecified() { std::net::IpAddr::from([127, 0, 0, 1]) } else { addr.ip() };
            sandbox.set_webhook_url(Some(format!("http://{}/webhooks/ghl", SocketAddr::new(host, addr.port()))));
        }
        let hosts = HostPolicy::new(!public, &http.allowed_hosts);
        let router = router.layer(axum::middleware::from_fn_with_state(hosts, edge));
        Ok(Self {
            listener,
            router,
            connection_limits: http.connections,
            upstream: services.upstream_url,
            webhooks,
            live_stop,
            #[cfg(feature = "sandbox")]
            sandbox: services.sandbox,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// What a person starting the server needs to know, for the terminal.
    pub fn banner(&self) -> String {
        let addr = self.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| "?".into());
        let mut lines = vec![
            format!("ghl-subgraph listening on http://{addr}"),
            format!("  GraphQL:  http://{addr}/graphql (POST; GET for queries)"),
            format!("  GraphiQL: http://{addr}/graphql (open in a browser)"),
            format!("  Subscriptions: ws://{addr}/ws (graphql-transport-ws, graphql-ws), or SSE on /graphql (Accept: text/event-stream)"),
            format!("  Health:   http://{addr}/healthz  http://{addr}/readyz"),
        ];
        #[cfg(feature = "sandbox")]
        if self.sandbox.is_some() {
            lines.push(format!(
                "Running on the embedded GHL sandbox at {} (location `{}`, seeded data, no credentials needed).",
                self.upstream,
                ghl_sandbox::LOCATION_ID
            ));
            lines.push(format!(
                "  Webhooks: the sandbox delivers a signed GHL event for every write to http://{addr}/webhooks/ghl (log: {}/__sandbox/webhooks)",
                self.upstream
            ));
            lines.push("To use real GHL: set GHL_TOKEN (a private integration token), GHL_LOCATION_ID and GHL_SCOPES, or pass --auth forward.".into());
            return lines.join("\n");
        }
        lines.push(format!("Upstream GHL API: {}", self.upstream));
        lines.join("\n")
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        info!(addr = ?self.listener.local_addr().ok(), "serving");
        // While in-flight requests drain, webhooks answer 429, so GHL delivers them again.
        let webhooks = self.webhooks.clone();
        let live_stop = self.live_stop.clone();
        let shutdown = async move {
            shutdown.await;
            webhooks.stop_taking();
            // Every subscription completes (its clients hear `complete`).
            let _ = live_stop.send(true);
        };
        crate::serve::serve(self.listener, self.router, self.connection_limits, shutdown).await;
        #[cfg(feature = "sandbox")]
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
        Ok(())
    }
}

/// The HTTP surface: `/graphql` (POST, GET, GraphiQL), vendored GraphiQL assets, health.
pub fn router(state: GraphqlState, max_body_bytes: usize, body_read_timeout: std::time::Duration, metrics_key: Option<Arc<CallerKeys>>) -> Router {
    Router::new()
        .merge(graphql::routes(state.clone()))
        .merge(graphql::live_routes(state.clone()))
        .route("/", get(|| async { axum::response::Redirect::temporary("/graphql") }))
        .route("/graphiql/{file}", get(graphql::graphiql_asset))
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(move |headers: axum::http::HeaderMap| metrics(headers, metrics_key.clone())))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout))
        .with_state(state)
}

/// In front of every route, as one middleware (each axum layer clones and boxes the services
/// inside it on every request): the request runs in an `HTTP request` span that continues the
/// caller's W3C trace, a foreign `Host` or `Origin` is refused (`host_guard`), and every answer
/// gets the security headers (`response_headers`).
async fn edge(
    axum::extract::State(hosts): axum::extract::State<HostPolicy>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let (method, path) = (request.method(), request.uri().path());
    let span = tracing::info_span!(
        "HTTP request",
        otel.name = %format_args!("{method} {path}"),
        otel.kind = "server",
        http.request.method = %method,
        url.path = %path,
        http.response.status_code = tracing::field::Empty,
    );
    if !span.is_disabled() {
        crate::telemetry::continue_trace(&span, request.headers());
    }
    let answer = async move {
        match hosts.refuse(request.headers()) {
            Some(refused) => refused,
            None => next.run(request).await,
        }
    };
    let mut response = tracing::Instrument::instrument(answer, span.clone()).await;
    crate::response_headers::add(&mut response);
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// `GET /readyz`: 200 when this replica can serve, else 503 with the reason.
async fn readyz(readiness: Arc<Readiness>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match readiness.verdict().await {
        None => Json(json!({ "status": "ready" })).into_response(),
        Some(reason) => (axum::http::StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "not_ready", "reason": reason }))).into_response(),
    }
}

/// `GET /metrics`: Prometheus text format; with `METRICS_API_KEY`, only for `Bearer <key>`.
async fn metrics(headers: axum::http::HeaderMap, key: Option<Arc<CallerKeys>>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(key) = key {
        let presented = headers.get(axum::http::header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(crate::auth::bearer_token);
        if key.check(presented).is_err() {
            return crate::error::Refusal::new(crate::error::ErrorCode::Unauthenticated, "send METRICS_API_KEY as a bearer token")
                .with_header(axum::http::header::WWW_AUTHENTICATE, axum::http::HeaderValue::from_static("Bearer"))
                .into_response_as("application/json");
        }
    }
    match crate::metrics::handle() {
        Some(handle) => ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
