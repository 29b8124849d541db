//! `ServeConfig`: the flags of `serve`, validated once and typed for the modules that use them.
//!
//! Every check of a combination of flags happens in [`ServeConfig::try_from`]; what is built from
//! a `ServeConfig` never checks a setting again. Only what needs I/O (opening the token store,
//! reading the safelist file) can still fail later, while services are built.

use std::net::SocketAddr;
use std::num::{NonZeroU32, NonZeroUsize};
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;

use super::{AuthKind, ConfigError, PersistedMode, ServeArgs, Upstream};
use crate::callers::CallerKeys;
use crate::data::{CacheOptions, DataOptions};
use crate::graphql::{OperationLimits, SchemaOptions};
use crate::highlevel::{BreakerConfig, LimiterConfig, RetryConfig, Scopes};
use crate::oauth::OAuthSettings;
use crate::serve::ConnectionLimits;
use crate::webhooks::{LegacyRsaKey, WebhookKey};

/// Everything `serve` needs, validated.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Where `main` binds (tests bind a listener of their own).
    pub listen: SocketAddr,
    pub http: HttpConfig,
    pub upstream: UpstreamConfig,
    pub client: ClientConfig,
    pub graphql: GraphqlConfig,
    pub webhooks: WebhookConfig,
    /// `Some`: replicas share state in Redis; `None`: everything in process, as one replica.
    pub redis: Option<RedisConfig>,
}

/// Where replicas share state.
#[derive(Clone, Debug)]
pub struct RedisConfig {
    pub url: crate::redis::RedisUrl,
    pub prefix: String,
    /// Replicas sharing GHL's budget: each keeps to limit ÷ this while Redis is unreachable.
    pub expected_replicas: u32,
}

/// How `POST /webhooks/ghl` checks deliveries.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    pub key: WebhookKey,
    pub max_age: Duration,
    /// The key `x-wh-signature` is checked with; `None`: the legacy signature is refused.
    pub legacy_rsa: Option<LegacyRsaKey>,
}

/// The HTTP edge.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub connections: ConnectionLimits,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub allowed_hosts: Vec<String>,
    pub metrics_key: Option<SecretString>,
}

/// Where GHL calls go and as whom.
#[derive(Clone, Debug)]
pub enum UpstreamConfig {
    /// No GHL settings at all: start the built-in sandbox and use its write token.
    EmbeddedSandbox { contacts: usize, latency: Duration },
    /// A real GHL (or a sandbox started elsewhere).
    Remote { base_url: String, auth: AuthConfig },
}

/// How requests authenticate to a remote GHL.
#[derive(Clone, Debug)]
pub enum AuthConfig {
    /// One token for one location, with the scopes it is known to carry.
    Static { token: SecretString, location: String, scopes: Scopes },
    /// The caller's own bearer token, for the location it names.
    Forward,
    /// The app's token pair per installed location.
    OAuth(Box<OAuthSettings>),
}

/// How the GHL client sends.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub max_concurrency_per_location: NonZeroUsize,
    pub limiter: LimiterConfig,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

/// The GraphQL edge and the per-request data layer.
#[derive(Clone, Debug)]
pub struct GraphqlConfig {
    pub schema: SchemaOptions,
    pub data: DataOptions,
    pub operation_timeout: Duration,
    /// Most operations in one batched request; 0 turns batching off.
    pub max_batch: usize,
    pub subscriptions: crate::graphql::SubscriptionLimits,
    /// Events a subscriber may fall behind (the event bus's capacity).
    pub subscription_queue: usize,
    pub csrf_prevention: bool,
    pub persisted: PersistedConfig,
    pub callers: CallerKeys,
    pub cursor_secret: Option<SecretString>,
}

/// Persisted queries, as chosen.
#[derive(Clone, Debug)]
pub enum PersistedConfig {
    Off,
    Apq { capacity: NonZeroUsize },
    Safelist { path: PathBuf },
}

impl UpstreamConfig {
    pub fn is_embedded_sandbox(&self) -> bool {
        matches!(self, Self::EmbeddedSandbox { .. })
    }
}

impl TryFrom<ServeArgs> for ServeConfig {
    type Error = ConfigError;

    fn try_from(args: ServeArgs) -> Result<Self, ConfigError> {
        let upstream = args.upstream()?;
        let on_sandbox = upstream == Upstream::EmbeddedSandbox;
        let (http, graphql, ghl, pacing) = (&args.http, &args.graphql, &args.ghl, &args.pacing);
        let non_zero = |value: usize, name| NonZeroUsize::new(value).ok_or(ConfigError::Zero(name));
        let upstream = match upstream {
            Upstream::EmbeddedSandbox => UpstreamConfig::EmbeddedSandbox { contacts: args.sandbox.sandbox_contacts, latency: args.sandbox.sandbox_latency },
            Upstream::Remote { base_url } => {
                let auth = match ghl.auth {
                    AuthKind::Forward => AuthConfig::Forward,
                    AuthKind::Static => AuthConfig::Static {
                        token: SecretString::from(ghl.ghl_token.clone().unwrap_or_default()),
                        location: ghl.ghl_location_id.clone().unwrap_or_default(),
                        scopes: Scopes::parse(args.static_scopes()),
                    },
                    AuthKind::Oauth => AuthConfig::OAuth(Box::new(oauth_settings(&args)?)),
                };
                UpstreamConfig::Remote { base_url, auth }
            }
        };
        let retry_attempts = NonZeroU32::new(pacing.retry_max_attempts).ok_or(ConfigError::Zero("GHL_RETRY_MAX_ATTEMPTS"))?;
        let breaker_threshold = NonZeroU32::new(pacing.breaker_threshold).ok_or(ConfigError::Zero("GHL_BREAKER_THRESHOLD"))?;
        let client = ClientConfig {
            connect_timeout: ghl.connect_timeout,
            request_timeout: ghl.request_timeout,
            max_concurrency_per_location: non_zero(ghl.max_concurrency_per_location, "GHL_MAX_CONCURRENCY")?,
            limiter: LimiterConfig {
                burst_max: pacing.rate_limit.max,
                burst_interval: pacing.rate_limit.interval,
                daily_max: pacing.daily_limit,
                max_wait: pacing.limiter_max_wait,
                max_queue: pacing.limiter_max_queue,
                background_share: pacing.import_share,
                shared: None,
            },
            retry: RetryConfig::with(retry_attempts, pacing.retry_base_delay),
            breaker: BreakerConfig { failure_threshold: breaker_threshold, cool_down: pacing.breaker_cool_down },
        };
        let persisted = match graphql.persisted_queries {
            PersistedMode::Off => PersistedConfig::Off,
            PersistedMode::Apq => PersistedConfig::Apq { capacity: non_zero(graphql.apq_cache_size, "GRAPHQL_APQ_CACHE_SIZE")? },
            PersistedMode::Safelist => PersistedConfig::Safelist { path: graphql.safelist_file.clone().ok_or(ConfigError::MissingSafelist)? },
        };
        let tasks_search_page_size = NonZeroU32::new(ghl.tasks_search_page_size).ok_or(ConfigError::Zero("GHL_TASKS_SEARCH_PAGE_SIZE"))?;
        let graphql = GraphqlConfig {
            schema: SchemaOptions {
                limits: OperationLimits {
                    max_depth: graphql.max_depth,
                    max_complexity: graphql.max_complexity,
                    max_aliases: graphql.max_aliases,
                    max_root_fields: graphql.max_root_fields,
                    max_directives: graphql.max_directives,
                    max_query_bytes: graphql.max_query_bytes,
                    max_recursion: graphql.max_recursion,
                    max_expanded_fields: graphql.max_expanded_fields,
                    max_entities: graphql.max_entities,
                },
                introspection: graphql.introspection.unwrap_or(on_sandbox),
                field_suggestions: graphql.field_suggestions.unwrap_or(on_sandbox),
            },
            data: DataOptions {
                tasks_search_page_size,
                batch_delay: graphql.batch_delay,
                cache: CacheOptions { ttl: args.cache.cache_ttl, max_bytes: args.cache.cache_max_bytes },
            },
            operation_timeout: graphql.operation_timeout,
            max_batch: graphql.max_batch,
            subscriptions: crate::graphql::SubscriptionLimits {
                per_caller: graphql.max_subscriptions_per_caller as usize,
                total: graphql.max_subscriptions as usize,
            },
            subscription_queue: graphql.subscription_queue as usize,
            csrf_prevention: graphql.csrf_prevention,
            persisted,
            callers: graphql.api_keys.clone().unwrap_or_default(),
            cursor_secret: graphql.cursor_secret.clone(),
        };
        let http = HttpConfig {
            connections: ConnectionLimits { max_connections: http.max_connections, header_read_timeout: http.header_read_timeout },
            max_body_bytes: http.max_body_bytes,
            body_read_timeout: http.body_read_timeout,
            allowed_hosts: http.allowed_hosts.clone(),
            metrics_key: http.metrics_key.clone(),
        };
        let legacy_rsa = args.webhooks.webhook_legacy_rsa.then(|| args.webhooks.webhook_legacy_rsa_key.clone().unwrap_or_else(LegacyRsaKey::ghl));
        let webhooks =
            WebhookConfig { key: args.webhooks.webhook_public_key.clone().unwrap_or_else(WebhookKey::ghl), max_age: args.webhooks.webhook_max_age, legacy_rsa };
        let redis = args.redis.redis_url.clone().map(|url| RedisConfig {
            url,
            prefix: args.redis.redis_prefix.clone(),
            expected_replicas: args.redis.expected_replicas,
        });
        Ok(Self { listen: args.http.listen, http, upstream, client, graphql, webhooks, redis })
    }
}

/// OAuth mode's settings, or the first one missing.
pub(super) fn oauth_settings(args: &ServeArgs) -> Result<OAuthSettings, ConfigError> {
    let oauth = &args.oauth;
    let missing = |what| ConfigError::MissingOAuth(what);
    let text = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
    Ok(OAuthSettings {
        client_id: text(&oauth.ghl_client_id).ok_or(missing("GHL_CLIENT_ID (--ghl-client-id)"))?,
        client_secret: oauth.ghl_client_secret.clone().ok_or(missing("GHL_CLIENT_SECRET (--ghl-client-secret)"))?,
        redirect_uri: text(&oauth.ghl_redirect_uri).ok_or(missing("GHL_REDIRECT_URI (--ghl-redirect-uri)"))?,
        scopes: oauth.ghl_oauth_scopes.clone(),
        consent_url: oauth.oauth_consent_url.clone(),
        state_ttl: oauth.oauth_state_ttl,
        token_store: oauth.token_store.clone(),
        token_store_key: oauth.token_store_key.clone().ok_or(missing("TOKEN_STORE_KEY: 32 bytes as 64 hex digits (`openssl rand -hex 32`)"))?,
        refresh_margin: oauth.refresh_margin,
        level: oauth.oauth_install_level,
    })
}
