//! Builds the running application: upstream (GHL or the embedded sandbox), client, schema,
//! router, listener. `App::build` binds (port 0 allowed) so tests can read the real port.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use axum::{Json, Router};
use secrecy::SecretString;
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tracing::{info, warn};

use crate::auth::Auth;
use crate::config::{AuthKind, PersistedMode, ServeArgs, Upstream};
use crate::graphql::{self, ApqCache, CursorKey, GraphqlState, LoaderOptions, OperationLimits, PersistedQueries, Safelist, SchemaOptions};
use crate::oauth::OAuthApp;
use crate::host_guard::HostPolicy;
use crate::readiness::Readiness;
use crate::serve::ConnectionLimits;
use crate::highlevel::{BreakerConfig, ClientOptions, GhlClient, LimiterConfig, RetryConfig, Scopes, Tenant};

pub struct App {
    listener: TcpListener,
    router: Router,
    connection_limits: ConnectionLimits,
    upstream: String,
    #[cfg(feature = "sandbox")]
    sandbox: Option<ghl_sandbox::RunningSandbox>,
}

impl App {
    /// Validates the config, starts the embedded sandbox if needed, and binds the listener.
    pub async fn build(args: ServeArgs) -> anyhow::Result<Self> {
        let upstream = args.upstream()?;
        let on_sandbox = upstream == Upstream::EmbeddedSandbox;
        #[cfg(feature = "sandbox")]
        let mut sandbox = None;
        let callers = Arc::new(args.api_keys.clone().unwrap_or_default());
        let mut oauth_routes = None;
        let (base_url, auth) = match upstream {
            Upstream::Remote { base_url } => {
                let auth = match args.auth {
                    AuthKind::Forward => Auth::Forward,
                    AuthKind::Oauth => {
                        let oauth = OAuthApp::build(&args.oauth, &base_url, callers.clone(), args.request_timeout).await?;
                        oauth_routes = Some(oauth.routes);
                        Auth::OAuth(oauth.auth)
                    }
                    AuthKind::Static => Auth::Static(Tenant::new(
                        args.ghl_location_id.clone().unwrap_or_default(),
                        SecretString::from(args.ghl_token.clone().unwrap_or_default()),
                        Some(Scopes::parse(args.static_scopes())),
                    )),
                };
                (base_url, auth)
            }
            #[cfg(feature = "sandbox")]
            Upstream::EmbeddedSandbox => {
                let config = ghl_sandbox::SandboxConfig {
                    contacts: args.sandbox_contacts,
                    latency: args.sandbox_latency,
                    ..Default::default()
                };
                let running = ghl_sandbox::Sandbox::spawn(config).await.context("starting the embedded GHL sandbox")?;
                let base_url = running.base_url();
                sandbox = Some(running);
                let tenant = Tenant::new(
                    ghl_sandbox::LOCATION_ID,
                    SecretString::from(ghl_sandbox::WRITE_TOKEN),
                    Some(Scopes::parse("contacts.readonly contacts.write locations/tasks.readonly")),
                );
                (base_url, Auth::Static(tenant))
            }
            #[cfg(not(feature = "sandbox"))]
            Upstream::EmbeddedSandbox => anyhow::bail!(crate::config::ConfigError::NoSandbox),
        };

        let client = GhlClient::new(ClientOptions {
            base_url: base_url.clone(),
            connect_timeout: args.connect_timeout,
            request_timeout: args.request_timeout,
            max_concurrency_per_location: args.max_concurrency_per_location,
            limiter: LimiterConfig {
                burst_max: args.rate_limit.max,
                burst_interval: args.rate_limit.interval,
                daily_max: args.daily_limit,
                max_wait: args.limiter_max_wait,
                max_queue: args.limiter_max_queue,
            },
            retry: RetryConfig { max_attempts: args.retry_max_attempts.max(1), base_delay: args.retry_base_delay, ..RetryConfig::default() },
            breaker: BreakerConfig { failure_threshold: args.breaker_threshold.max(1), cool_down: args.breaker_cool_down },
        })
        .context("building the HTTP client for GHL")?;
        let schema = graphql::build_schema(&SchemaOptions {
            limits: OperationLimits {
                max_depth: args.max_depth,
                max_complexity: args.max_complexity,
                max_aliases: args.max_aliases,
                max_root_fields: args.max_root_fields,
                max_directives: args.max_directives,
                max_query_bytes: args.max_query_bytes,
                max_recursion: args.max_recursion,
                max_expanded_fields: args.max_expanded_fields,
                max_entities: args.max_entities,
            },
            introspection: args.introspection.unwrap_or(on_sandbox),
            field_suggestions: args.field_suggestions.unwrap_or(on_sandbox),
        });
        let state = GraphqlState {
            schema,
            client,
            auth: Arc::new(auth),
            loader_options: LoaderOptions {
                tasks_search_page_size: args.tasks_search_page_size,
                operation_timeout: args.operation_timeout,
                batch_delay: args.batch_delay,
                cursor_key: cursor_key(&args),
            },
            max_batch: args.max_batch,
            csrf_prevention: args.csrf_prevention,
            persisted: Arc::new(persisted_queries(&args)?),
            callers,
            max_body_bytes: args.max_body_bytes,
        };
        let _ = crate::metrics::handle();
        let metrics_key = args.metrics_key.as_ref().map(|key| sha256(secrecy::ExposeSecret::expose_secret(key)));
        let static_tenant = match state.auth.as_ref() {
            Auth::Static(tenant) => Some(tenant.clone()),
            _ => None,
        };
        let readiness = Arc::new(Readiness::new(state.client.clone(), static_tenant));
        let mut router = router(state, args.max_body_bytes, args.body_read_timeout, metrics_key).route("/readyz", get(move || readyz(readiness.clone())));
        if let Some(oauth_routes) = oauth_routes {
            router = router.merge(oauth_routes);
        }

        let listener = TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
        let public = !listener.local_addr()?.ip().is_loopback();
        let hosts = HostPolicy::new(!public, &args.allowed_hosts);
        let router = router
            .layer(axum::middleware::from_fn_with_state(hosts, crate::host_guard::check))
            .layer(axum::middleware::from_fn(crate::response_headers::add));
        let keys = args.api_keys.as_ref().map_or(0, |k| k.len());
        if public && keys == 0 && matches!(args.auth, AuthKind::Static) && !on_sandbox {
            // Anyone who reached the port would act in GHL as the configured token (F8).
            anyhow::bail!(
                "refusing to listen on {} (reachable from other machines) with a static GHL token and no API keys: \
                 set SUBGRAPH_API_KEYS, or listen on 127.0.0.1",
                args.listen
            );
        } else if public && keys == 0 {
            warn!(addr = %args.listen, "listening on a non-loopback address without API keys (SUBGRAPH_API_KEYS): any caller may use the subgraph");
        }
        if keys > 0 {
            info!(keys, "callers must present an API key in x-api-key");
        }
        Ok(Self {
            listener,
            router,
            connection_limits: ConnectionLimits { max_connections: args.max_connections, header_read_timeout: args.header_read_timeout },
            upstream: base_url,
            #[cfg(feature = "sandbox")]
            sandbox,
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
            format!("  Health:   http://{addr}/healthz  http://{addr}/readyz"),
        ];
        #[cfg(feature = "sandbox")]
        if self.sandbox.is_some() {
            lines.push(format!("Running on the embedded GHL sandbox at {} (location `{}`, seeded data, no credentials needed).", self.upstream, ghl_sandbox::LOCATION_ID));
            lines.push("To use real GHL: set GHL_TOKEN (a private integration token), GHL_LOCATION_ID and GHL_SCOPES, or pass --auth forward.".into());
            return lines.join("\n");
        }
        lines.push(format!("Upstream GHL API: {}", self.upstream));
        lines.join("\n")
    }

    /// Serves until `shutdown` resolves, then drains in-flight requests.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        info!(addr = ?self.listener.local_addr().ok(), "serving");
        crate::serve::serve(self.listener, self.router, self.connection_limits, shutdown).await;
        #[cfg(feature = "sandbox")]
        if let Some(sandbox) = self.sandbox {
            sandbox.shutdown().await;
        }
        Ok(())
    }
}

/// The cursor key from `CURSOR_SECRET`, else one of this process only (said once, at start-up).
fn cursor_key(args: &ServeArgs) -> CursorKey {
    match &args.cursor_secret {
        Some(secret) => CursorKey::from_secret(secret),
        None => {
            info!("CURSOR_SECRET is not set: pagination cursors are signed with a key of this process only (set it on every replica behind a router)");
            CursorKey::random()
        }
    }
}

/// The persisted query mode from the flags; a bad safelist file stops start-up.
fn persisted_queries(args: &ServeArgs) -> anyhow::Result<PersistedQueries> {
    Ok(match args.persisted_queries {
        PersistedMode::Off => PersistedQueries::Off,
        PersistedMode::Apq => {
            let capacity = std::num::NonZeroUsize::new(args.apq_cache_size).context("GRAPHQL_APQ_CACHE_SIZE must be at least 1")?;
            PersistedQueries::Apq(ApqCache::new(capacity, args.max_query_bytes))
        }
        PersistedMode::Safelist => {
            let path = args.safelist_file.as_deref().context("--persisted-queries safelist needs --safelist-file")?;
            let list = Safelist::load(path)?;
            info!(operations = list.len(), "only operations from the safelist run");
            PersistedQueries::Safelist(list)
        }
    })
}

/// The HTTP surface: `/graphql` (POST, GET, GraphiQL), vendored GraphiQL assets, health.
pub fn router(state: GraphqlState, max_body_bytes: usize, body_read_timeout: std::time::Duration, metrics_key: Option<[u8; 32]>) -> Router {
    Router::new()
        .merge(graphql::routes(state.clone()))
        .route("/", get(|| async { axum::response::Redirect::temporary("/graphql") }))
        .route("/graphiql/{file}", get(graphql::graphiql_asset))
        .route("/healthz", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/metrics", get(move |headers: axum::http::HeaderMap| metrics(headers, metrics_key)))
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(RequestBodyTimeoutLayer::new(body_read_timeout))
        .with_state(state)
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
async fn metrics(headers: axum::http::HeaderMap, key: Option<[u8; 32]>) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Some(key) = key {
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| sha256(token.trim()));
        if !presented.is_some_and(|presented| bool::from(subtle::ConstantTimeEq::ct_eq(&presented[..], &key[..]))) {
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

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
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
