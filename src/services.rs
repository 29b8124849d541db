//! The composition root: from a validated [`ServeConfig`] to everything that serves, without a
//! listener. The upstream (GHL, or the embedded sandbox started here), the auth mode, the GHL
//! client, the data layer, the schema and the routes. A command that only needs a GHL client
//! (a connection check, an import) builds this and never binds a port.

use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use secrecy::SecretString;
use tracing::info;

use crate::auth::Auth;
use crate::callers::CallerKeys;
use crate::check::{Access, ConnectionChecker, OAuthSetup, WebhookSetup};
use crate::config::{AuthConfig, PersistedConfig, ServeConfig, UpstreamConfig};
use crate::data::DataLayer;
use crate::graphql::{self, ApqCache, CursorKey, GraphqlShared, GraphqlState, LiveFeed, PersistedQueries, RequestOptions, Safelist};
use crate::highlevel::{ClientOptions, GhlClient, LimiterConfig, Scopes, SharedBudget, Tenant, SCOPE_WRITE};
use crate::jobs::{ImportRegistry, ImportSettings, Importer, RegistryLimits};
use crate::oauth::{OAuthApp, TokenStore};
use crate::redis::{Redis, RedisBus, RedisTokenStore, SharedIds, SharedRateBudget};
use crate::webhooks::{EventBus, LocalBus, Receiver, WebhookSettings};

/// What serves requests, before it is given a listener.
pub struct Services {
    /// The GHL client every call goes through.
    pub client: GhlClient,
    /// The one tenant of static mode (the embedded sandbox included); `None` in forward and OAuth mode.
    pub static_tenant: Option<Tenant>,
    /// The GraphQL endpoint's state.
    pub graphql: GraphqlState,
    /// Routes of OAuth mode (`/oauth/install`, `/oauth/callback`).
    pub oauth_routes: Option<Router>,
    /// Where GHL calls go.
    pub upstream_url: String,
    /// `POST /webhooks/ghl`.
    pub webhooks: Arc<Receiver>,
    /// Changes GHL reported, for subscribers.
    pub bus: Arc<dyn EventBus>,
    /// Sent `true` when the server stops: every subscription then completes.
    pub live_stop: tokio::sync::watch::Sender<bool>,
    #[cfg(feature = "sandbox")]
    pub(crate) sandbox: Option<ghl_sandbox::RunningSandbox>,
}

impl Services {
    /// Starts the embedded sandbox if the config asks for it, and builds the rest.
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        let callers = Arc::new(config.graphql.callers.clone());
        let redis = match &config.redis {
            Some(settings) => Some(Redis::connect(&settings.url, &settings.prefix).await.context("setting up the Redis connection")?),
            None => None,
        };
        #[cfg(feature = "sandbox")]
        let mut sandbox = None;
        let mut oauth_routes = None;
        let mut oauth_tokens = None;
        let (upstream_url, auth) = match &config.upstream {
            UpstreamConfig::Remote { base_url, auth } => {
                let auth = match auth {
                    AuthConfig::Forward => Auth::Forward,
                    AuthConfig::Static { token, location, scopes } => Auth::Static(Tenant::new(location.clone(), token.clone(), Some(scopes.clone()))),
                    AuthConfig::OAuth(settings) => {
                        let shared =
                            redis.as_ref().map(|redis| Arc::new(RedisTokenStore::new(redis.clone(), &settings.token_store_key)) as Arc<dyn TokenStore>);
                        let oauth = OAuthApp::build(settings, base_url, callers.clone(), config.client.request_timeout, shared).await?;
                        oauth_routes = Some(oauth.routes);
                        oauth_tokens = Some(oauth.tokens);
                        Auth::OAuth(oauth.auth)
                    }
                };
                (base_url.clone(), auth)
            }
            #[cfg(feature = "sandbox")]
            UpstreamConfig::EmbeddedSandbox { contacts, latency } => {
                let (running, tenant) = spawn_embedded(*contacts, *latency).await?;
                let base_url = running.base_url();
                sandbox = Some(running);
                (base_url, Auth::Static(tenant))
            }
            #[cfg(not(feature = "sandbox"))]
            UpstreamConfig::EmbeddedSandbox { .. } => anyhow::bail!(crate::config::ConfigError::NoSandbox),
        };
        let shared_budget = redis
            .as_ref()
            .zip(config.redis.as_ref())
            .map(|(redis, settings)| SharedBudget { window: Arc::new(SharedRateBudget::new(redis.clone())), expected_replicas: settings.expected_replicas });
        let client = client(config, &upstream_url, shared_budget)?;
        let static_tenant = match &auth {
            Auth::Static(tenant) => Some(tenant.clone()),
            _ => None,
        };
        let redis_bus = redis.as_ref().map(|redis| Arc::new(RedisBus::new(redis.clone(), config.graphql.subscription_queue)));
        let bus: Arc<dyn EventBus> = match &redis_bus {
            Some(shared) => shared.clone(),
            None => Arc::new(LocalBus::new(config.graphql.subscription_queue)),
        };
        let (live_stop, stopping) = tokio::sync::watch::channel(false);
        let live = Arc::new(LiveFeed::new(bus.clone(), config.graphql.subscriptions.clone(), config.graphql.subscription_queue, stopping));
        #[cfg(feature = "sandbox")]
        let settings = webhook_settings(config, static_tenant.as_ref(), sandbox.as_ref())?;
        #[cfg(not(feature = "sandbox"))]
        let settings = webhook_settings(config, static_tenant.as_ref())?;
        let checker = Arc::new(checker(config, client.clone(), &upstream_url, static_tenant.as_ref(), &settings));
        let graphql = graphql_state(config, client.clone(), auth, callers, live, checker)?;
        let mut receiver = Receiver::new(settings, graphql.data.clone(), bus.clone());
        if let (Some(redis), Some(shared)) = (&redis, &redis_bus) {
            shared.follow(graphql.data.clone()).context("subscribing to the other replicas' changes")?;
            receiver = receiver.with_seen_ids(Arc::new(SharedIds::new(redis.clone())));
        }
        let webhooks = Arc::new(match oauth_tokens {
            Some(tokens) => receiver.with_tokens(tokens),
            None => receiver,
        });
        Ok(Self {
            client,
            static_tenant,
            graphql,
            oauth_routes,
            upstream_url,
            webhooks,
            bus,
            live_stop,
            #[cfg(feature = "sandbox")]
            sandbox,
        })
    }

    /// The import engine over this client for the one tenant of static mode (the `import`
    /// command); forward and OAuth mode have no tenant without a request.
    pub fn importer(&self, config: &ServeConfig) -> anyhow::Result<Importer> {
        let tenant = self.static_tenant.clone().context(
            "the import command acts for one location: use --auth static with GHL_TOKEN and GHL_LOCATION_ID (forward and OAuth mode are not supported)",
        )?;
        if tenant.grants(SCOPE_WRITE) == Some(false) {
            anyhow::bail!("importing needs the GHL scope `{SCOPE_WRITE}`: add it to GHL_SCOPES (--ghl-scopes) if the token carries it");
        }
        Ok(import_settings(config, &self.client).importer(tenant))
    }

    /// Whether calls go to the sandbox this process started.
    pub fn on_embedded_sandbox(&self) -> bool {
        #[cfg(feature = "sandbox")]
        return self.sandbox.is_some();
        #[cfg(not(feature = "sandbox"))]
        false
    }
}

/// What `ghl-subgraph check` runs on: the connection check built from the settings `serve`
/// reads, without a schema, a listener or the OAuth install flow (the token store is only read,
/// never created), and the embedded sandbox when no GHL setting is given.
pub struct CheckServices {
    pub checker: ConnectionChecker,
    #[cfg(feature = "sandbox")]
    _sandbox: Option<ghl_sandbox::RunningSandbox>,
}

impl CheckServices {
    pub async fn build(config: &ServeConfig) -> anyhow::Result<Self> {
        #[cfg(feature = "sandbox")]
        let mut running = None;
        let (base_url, static_tenant) = match &config.upstream {
            UpstreamConfig::Remote { base_url, auth } => {
                let tenant = match auth {
                    AuthConfig::Static { token, location, scopes } => Some(Tenant::new(location.clone(), token.clone(), Some(scopes.clone()))),
                    AuthConfig::Forward | AuthConfig::OAuth(_) => None,
                };
                (base_url.clone(), tenant)
            }
            #[cfg(feature = "sandbox")]
            UpstreamConfig::EmbeddedSandbox { contacts, latency } => {
                let (sandbox, tenant) = spawn_embedded(*contacts, *latency).await?;
                let base_url = sandbox.base_url();
                running = Some(sandbox);
                (base_url, Some(tenant))
            }
            #[cfg(not(feature = "sandbox"))]
            UpstreamConfig::EmbeddedSandbox { .. } => anyhow::bail!(crate::config::ConfigError::NoSandbox),
        };
        let client = client(config, &base_url, None)?;
        #[cfg(feature = "sandbox")]
        let settings = webhook_settings(config, static_tenant.as_ref(), running.as_ref())?;
        #[cfg(not(feature = "sandbox"))]
        let settings = webhook_settings(config, static_tenant.as_ref())?;
        let checker = checker(config, client, &base_url, static_tenant.as_ref(), &settings);
        Ok(Self {
            checker,
            #[cfg(feature = "sandbox")]
            _sandbox: running,
        })
    }
}

/// The embedded sandbox and the tenant of its write token.
#[cfg(feature = "sandbox")]
async fn spawn_embedded(contacts: usize, latency: std::time::Duration) -> anyhow::Result<(ghl_sandbox::RunningSandbox, Tenant)> {
    let settings = ghl_sandbox::SandboxConfig { contacts, latency, ..Default::default() };
    let running = ghl_sandbox::Sandbox::spawn(settings).await.context("starting the embedded GHL sandbox")?;
    let scopes = Scopes::parse("contacts.readonly contacts.write locations/tasks.readonly");
    Ok((running, Tenant::new(ghl_sandbox::LOCATION_ID, SecretString::from(ghl_sandbox::WRITE_TOKEN), Some(scopes))))
}

/// How the webhook route checks deliveries; the embedded sandbox signs with a key of its own.
fn webhook_settings(
    config: &ServeConfig,
    static_tenant: Option<&Tenant>,
    #[cfg(feature = "sandbox")] sandbox: Option<&ghl_sandbox::RunningSandbox>,
) -> anyhow::Result<WebhookSettings> {
    #[cfg(feature = "sandbox")]
    let key = match sandbox {
        Some(running) => running.webhook_public_key().parse().map_err(anyhow::Error::msg)?,
        None => config.webhooks.key.clone(),
    };
    #[cfg(not(feature = "sandbox"))]
    let key = config.webhooks.key.clone();
    let location = static_tenant.map(|tenant| tenant.location_id().to_owned());
    Ok(WebhookSettings { key, legacy_rsa: config.webhooks.legacy_rsa.clone(), max_age: config.webhooks.max_age, location })
}

/// The connection check over the client and settings `serve` uses.
fn checker(config: &ServeConfig, client: GhlClient, base_url: &str, static_tenant: Option<&Tenant>, webhooks: &WebhookSettings) -> ConnectionChecker {
    let embedded_sandbox = config.upstream.is_embedded_sandbox();
    let access = match (&config.upstream, static_tenant) {
        (UpstreamConfig::Remote { auth: AuthConfig::OAuth(settings), .. }, _) => {
            Access::OAuth(OAuthSetup { store: settings.token_store.clone(), key: settings.token_store_key.clone(), refresh_margin: settings.refresh_margin })
        }
        (_, Some(tenant)) => Access::Static { tenant: tenant.clone(), embedded_sandbox },
        (_, None) => Access::Forward,
    };
    let upstream = crate::check::Upstream {
        client,
        base_url: base_url.to_owned(),
        connect_timeout: config.client.connect_timeout,
        request_timeout: config.client.request_timeout,
    };
    ConnectionChecker::new(upstream, access, WebhookSetup::from_settings(webhooks, embedded_sandbox))
}

/// The GHL client; its limiter books in `shared` when replicas share one budget.
fn client(config: &ServeConfig, base_url: &str, shared: Option<SharedBudget>) -> anyhow::Result<GhlClient> {
    let settings = &config.client;
    GhlClient::new(ClientOptions {
        base_url: base_url.to_owned(),
        connect_timeout: settings.connect_timeout,
        request_timeout: settings.request_timeout,
        max_concurrency_per_location: settings.max_concurrency_per_location,
        limiter: LimiterConfig { shared, ..settings.limiter.clone() },
        retry: settings.retry.clone(),
        breaker: settings.breaker.clone(),
    })
    .context("building the HTTP client for GHL")
}

/// What imports share: the client (whose limiter holds them to `--import-share`), the retry policy.
fn import_settings(config: &ServeConfig, client: &GhlClient) -> ImportSettings {
    ImportSettings::new(client.clone(), config.client.limiter.daily_max, config.client.retry.clone())
}

/// The GraphQL endpoint's state: schema, data layer, auth, callers and request guards.
fn graphql_state(
    config: &ServeConfig,
    client: GhlClient,
    auth: Auth,
    callers: Arc<CallerKeys>,
    live: Arc<LiveFeed>,
    checker: Arc<ConnectionChecker>,
) -> anyhow::Result<GraphqlState> {
    let settings = &config.graphql;
    Ok(GraphqlState::new(GraphqlShared {
        schema: graphql::build_schema(&settings.schema),
        data: DataLayer::new(client.clone(), settings.data.clone()),
        auth: Arc::new(auth),
        request_options: RequestOptions { operation_timeout: settings.operation_timeout, cursor_key: cursor_key(config) },
        max_batch: settings.max_batch,
        csrf_prevention: settings.csrf_prevention,
        persisted: Arc::new(persisted_queries(config)?),
        callers,
        max_body_bytes: config.http.max_body_bytes,
        imports: Arc::new(ImportRegistry::new(RegistryLimits::default(), import_settings(config, &client))),
        live,
        checker,
    }))
}

/// The cursor key from `CURSOR_SECRET`, else one of this process only (said once, at start-up).
fn cursor_key(config: &ServeConfig) -> CursorKey {
    match &config.graphql.cursor_secret {
        Some(secret) => CursorKey::from_secret(secret),
        None => {
            info!("CURSOR_SECRET is not set: pagination cursors are signed with a key of this process only (set it on every replica behind a router)");
            CursorKey::random()
        }
    }
}

/// The persisted query mode; a bad safelist file stops start-up.
fn persisted_queries(config: &ServeConfig) -> anyhow::Result<PersistedQueries> {
    Ok(match &config.graphql.persisted {
        PersistedConfig::Off => PersistedQueries::Off,
        PersistedConfig::Apq { capacity } => PersistedQueries::Apq(ApqCache::new(*capacity, config.graphql.schema.limits.max_query_bytes)),
        PersistedConfig::Safelist { path } => {
            let list = Safelist::load(path)?;
            info!(operations = list.len(), "only operations from the safelist run");
            PersistedQueries::Safelist(list)
        }
    })
}
