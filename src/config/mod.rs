//! Typed configuration: clap derive with an env var for every flag, parsed once at start-up.
//!
//! `ghl-subgraph` alone means `ghl-subgraph serve`. With no GHL token and no base URL, `serve`
//! runs on the embedded sandbox. Bad combinations fail here with a message that says what to set.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::ExposeSecret as _;

/// Production GraphQL subgraph over the HighLevel (GHL) Contacts API.
#[derive(Parser, Debug)]
#[command(name = "ghl-subgraph", version, about, args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub serve: ServeArgs,
    /// Log lines as `text` or `json` (one object per line). Default: text on a terminal, json otherwise.
    #[arg(long, env = "LOG_FORMAT", value_enum, global = true)]
    pub log_format: Option<crate::telemetry::LogFormat>,
    /// OTLP endpoint that traces are exported to, e.g. `http://collector:4318` (HTTP) or
    /// `http://collector:4317` (gRPC). Unset: no traces. The other `OTEL_*` variables apply too.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT", global = true, value_parser = http_url)]
    pub otlp_endpoint: Option<String>,
    /// OTLP wire protocol.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_PROTOCOL", global = true, default_value = "http/protobuf",
          value_parser = ["grpc", "http/protobuf", "http/json"])]
    pub otlp_protocol: String,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the GraphQL server (the default).
    Serve(Box<ServeArgs>),
    /// Print the federation SDL (the contents of schema.graphql).
    Schema,
    /// Run the GHL sandbox alone: a seeded simulator of the GHL Contacts API.
    #[cfg(feature = "sandbox")]
    Sandbox(ghl_sandbox::SandboxArgs),
    /// Inspect or remove the OAuth tokens stored per location (`--auth oauth`).
    Tokens(TokensArgs),
    /// Import contacts from a CSV or JSON lines file (upserts, journaled, resumable).
    Import(Box<ImportArgs>),
    /// Check the GHL connection with the settings `serve` would use: test calls, a diagnosis and
    /// what to do for each finding. Exits 0 when everything needed works (warnings allowed), 1 otherwise.
    Check(Box<CheckArgs>),
}

/// Flags of `check`: those of `serve`, plus how to report.
#[derive(Args, Debug, Clone)]
pub struct CheckArgs {
    /// Print one JSON document instead of text (fields in README, "Connection check").
    #[arg(long)]
    pub json: bool,
    /// OAuth mode: the stored location to make the test calls for (default: the first whose access token is valid).
    #[arg(long)]
    pub location: Option<String>,
    #[command(flatten)]
    pub serve: ServeArgs,
}

pub use crate::oauth::{TokensAction, TokensArgs};
pub use serve::{AuthConfig, ClientConfig, GraphqlConfig, HttpConfig, PersistedConfig, RedisConfig, ServeConfig, UpstreamConfig, WebhookConfig};

pub use import::ImportArgs;

mod import;
mod serve;

impl Cli {
    /// Parses the command line and environment. A refused value is never echoed (clap's own
    /// message repeats it, and several settings are secrets): the error names the setting and
    /// says why, then the process exits with clap's usage status.
    pub fn parse_or_exit() -> Self {
        match Self::try_parse() {
            Ok(cli) => cli,
            Err(error) => exit_without_values(error),
        }
    }

    /// The command to run, with `serve` as the default.
    pub fn into_command(self) -> Command {
        self.command.unwrap_or_else(|| Command::Serve(Box::new(self.serve)))
    }
}

/// How the subgraph authenticates to GHL.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthKind {
    /// One configured token (private integration token or OAuth access token) for one location.
    Static,
    /// Forward each caller's `Authorization: Bearer` to GHL; `x-ghl-location-id` names the location.
    Forward,
    /// OAuth app mode: install flow, one stored token pair per location, `x-ghl-location-id` per request.
    Oauth,
}

/// Flags of `serve`, by concern; [`ServeConfig`](crate::config::ServeConfig) is what they become once validated.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub graphql: GraphqlArgs,
    #[command(flatten)]
    pub ghl: GhlArgs,
    #[command(flatten)]
    pub pacing: PacingArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub webhooks: WebhookArgs,
    #[command(flatten)]
    pub sandbox: EmbeddedSandboxArgs,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    #[command(flatten)]
    pub redis: RedisArgs,
}

/// The HTTP edge: where to listen and what a connection or request may take.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "HTTP")]
pub struct HttpArgs {
    /// Address to listen on, `IP:PORT` or `HOST:PORT` (e.g. `localhost:4000`); port 0 picks a free port (the bound address is printed).
    #[arg(long, env = "LISTEN_ADDR", default_value = "127.0.0.1:0", value_parser = listen_addr)]
    pub listen: SocketAddr,

    /// Largest request body accepted, in bytes (larger answers 413).
    #[arg(long, env = "GRAPHQL_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Longest a connection may take to send a request's headers; also how long an idle
    /// keep-alive connection stays open.
    #[arg(long, env = "HTTP_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = positive_duration)]
    pub header_read_timeout: Duration,

    /// Longest a request may take to send its body.
    #[arg(long, env = "HTTP_BODY_READ_TIMEOUT", default_value = "30s", value_parser = positive_duration)]
    pub body_read_timeout: Duration,

    /// Host names this server answers to besides loopback names, comma-separated (a loopback
    /// listener refuses any other `Host`, against DNS rebinding; a browser `Origin` must be this
    /// server or one of these).
    #[arg(long, env = "HTTP_ALLOWED_HOSTS", value_delimiter = ',')]
    pub allowed_hosts: Vec<String>,

    /// Key Prometheus must send as `Authorization: Bearer <key>` to read `/metrics` (which names
    /// tenant location ids); unset, `/metrics` is open. A secret: prefer the env var.
    #[arg(long, env = "METRICS_API_KEY", hide_env_values = true, value_parser = metrics_key)]
    pub metrics_key: Option<secrecy::SecretString>,

    /// Most client connections open at once; further ones are closed at once.
    #[arg(long, env = "HTTP_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
}

/// The GraphQL edge: operation limits, what the schema shows, persisted queries, callers.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "GraphQL")]
pub struct GraphqlArgs {
    /// Most operations in one batched (JSON array) request; 0 turns batching off.
    #[arg(long, env = "GRAPHQL_MAX_BATCH", default_value_t = 10)]
    pub max_batch: usize,

    /// Most subscriptions one caller (tenant) holds open at once, over every transport.
    #[arg(long, env = "GRAPHQL_MAX_SUBSCRIPTIONS_PER_CALLER", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions_per_caller: u32,

    /// Most subscriptions open at once in this process.
    #[arg(long, env = "GRAPHQL_MAX_SUBSCRIPTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_subscriptions: u32,

    /// Events a subscriber may fall behind before it is ended with `SLOW_CONSUMER`.
    #[arg(long, env = "GRAPHQL_SUBSCRIPTION_QUEUE", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=65_536))]
    pub subscription_queue: u32,

    /// Deepest selection nesting accepted (`__typename` and introspection not counted).
    #[arg(long, env = "GRAPHQL_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Highest complexity accepted: each field counts 1, `contacts` lists multiply by `first`,
    /// a contact's tasks/notes/appointments by 10. Introspection is not counted.
    #[arg(long, env = "GRAPHQL_MAX_COMPLEXITY", default_value_t = 10_000)]
    pub max_complexity: usize,

    /// Most aliases in one operation (those inside introspection not counted).
    #[arg(long, env = "GRAPHQL_MAX_ALIASES", default_value_t = 100)]
    pub max_aliases: usize,

    /// Most root fields in one operation.
    #[arg(long, env = "GRAPHQL_MAX_ROOT_FIELDS", default_value_t = 50)]
    pub max_root_fields: usize,

    /// Most directives in one operation.
    #[arg(long, env = "GRAPHQL_MAX_DIRECTIVES", default_value_t = 50)]
    pub max_directives: usize,

    /// Longest operation text accepted, in bytes (bounds the parser's tokens).
    #[arg(long, env = "GRAPHQL_MAX_QUERY_BYTES", default_value_t = 32 * 1024)]
    pub max_query_bytes: usize,

    /// Deepest nesting the parser follows: selection sets, and `{`, `[` and `(` open at once
    /// (checked before parsing). At most 128: deeper, the parser could overflow the stack.
    #[arg(long, env = "GRAPHQL_MAX_RECURSION", default_value_t = 64,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=crate::graphql::NESTING_CEILING as u64))]
    pub max_recursion: usize,

    /// Most fields one request selects with every fragment spread inlined (`__typename`
    /// included; a batch counts all its operations). Counts selections as written, not results.
    #[arg(long, env = "GRAPHQL_MAX_EXPANDED_FIELDS", default_value_t = 2000)]
    pub max_expanded_fields: usize,

    /// Most entity references (`_entities` representations) one operation may resolve; each
    /// reference also counts its whole selection against `--max-complexity`.
    #[arg(long, env = "GRAPHQL_MAX_ENTITIES", default_value_t = 1000,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub max_entities: usize,

    /// Allow introspection (`__schema`, `__type`). Default: on with the embedded sandbox, off otherwise.
    #[arg(long, env = "GRAPHQL_INTROSPECTION")]
    pub introspection: Option<bool>,

    /// "Did you mean …?" hints in errors. Default: on with the embedded sandbox, off otherwise.
    #[arg(long, env = "GRAPHQL_FIELD_SUGGESTIONS")]
    pub field_suggestions: Option<bool>,

    /// Refuse GETs and non-JSON POSTs that lack a non-empty `apollo-require-preflight` or
    /// `x-apollo-operation-name` header (Apollo Router's CSRF prevention).
    #[arg(long, env = "GRAPHQL_CSRF_PREVENTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub csrf_prevention: bool,

    /// Persisted queries: `off`, `apq` (Apollo automatic persisted queries) or `safelist`
    /// (only operations from `--safelist-file` run).
    #[arg(long, env = "GRAPHQL_PERSISTED_QUERIES", value_enum, default_value = "apq")]
    pub persisted_queries: PersistedMode,

    /// JSON file of allowed operations for `--persisted-queries safelist`: a map of sha256 →
    /// operation text, a list of operations, or an Apollo persisted query manifest.
    #[arg(long, env = "GRAPHQL_SAFELIST_FILE")]
    pub safelist_file: Option<std::path::PathBuf>,

    /// Most operations the APQ registry keeps (least recently used are dropped).
    #[arg(long, env = "GRAPHQL_APQ_CACHE_SIZE", default_value_t = 1000)]
    pub apq_cache_size: usize,

    /// Key that signs pagination cursors, at least 16 characters (`openssl rand -hex 32`). Replicas
    /// behind one router must share it, or a cursor from one is refused by another. Unset: a random
    /// key per process (cursors stop working across restarts). Never logged.
    #[arg(long, env = "CURSOR_SECRET", hide_env_values = true)]
    pub cursor_secret: Option<secrecy::SecretString>,

    /// API keys callers must present in `x-api-key`, comma-separated (at least 16 characters
    /// each). Hashed at start-up; never logged. Unset: no key needed.
    #[arg(long, env = "SUBGRAPH_API_KEYS", hide_env_values = true)]
    pub api_keys: Option<crate::callers::CallerKeys>,

    /// Longest one GraphQL operation may spend on GHL calls, queueing and retries included.
    #[arg(long, env = "GRAPHQL_OPERATION_TIMEOUT", default_value = "30s", value_parser = duration_within::<1, 600_000>)]
    pub operation_timeout: Duration,

    /// The longest the tasks loader waits to gather contacts into one `tasks/search` call (with
    /// scope `locations/tasks.readonly`); it starts sooner once the query's resolvers are idle
    /// with no contact read in flight. Other loads start at once: GHL has no batch read for them.
    #[arg(long, env = "GRAPHQL_BATCH_DELAY", default_value = "2ms", value_parser = duration_within::<0, 100>)]
    pub batch_delay: Duration,
}

/// Where GHL is, as whom to call it, and how calls are sent.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "GHL")]
pub struct GhlArgs {
    /// How to authenticate to GHL.
    #[arg(long, env = "GHL_AUTH", value_enum, default_value = "static")]
    pub auth: AuthKind,

    /// GHL API base URL. Default: https://services.leadconnectorhq.com when a token is set, else the embedded sandbox.
    #[arg(long, env = "GHL_BASE_URL")]
    pub ghl_base_url: Option<String>,

    /// GHL token for `--auth static` (a private integration token). Never logged.
    #[arg(long, env = "GHL_TOKEN", hide_env_values = true)]
    pub ghl_token: Option<String>,

    /// The GHL location (sub-account) id the static token belongs to.
    #[arg(long, env = "GHL_LOCATION_ID")]
    pub ghl_location_id: Option<String>,

    /// Scopes the static token carries, space- or comma-separated. Mutations need `contacts.write`;
    /// `locations/tasks.readonly` lets tasks of many contacts load in one call.
    /// [default: contacts.readonly]
    #[arg(long, env = "GHL_SCOPES")]
    pub ghl_scopes: Option<String>,

    /// Timeout to open a connection to GHL.
    #[arg(long, env = "GHL_CONNECT_TIMEOUT", default_value = "5s", value_parser = humantime::parse_duration)]
    pub connect_timeout: Duration,

    /// Timeout of one GHL call, body included.
    #[arg(long, env = "GHL_REQUEST_TIMEOUT", default_value = "30s", value_parser = duration_within::<1, 600_000>)]
    pub request_timeout: Duration,

    /// GHL calls in flight at once per location.
    #[arg(long, env = "GHL_MAX_CONCURRENCY", default_value_t = 128)]
    pub max_concurrency_per_location: usize,

    /// Page size of the location-wide tasks search.
    #[arg(long, env = "GHL_TASKS_SEARCH_PAGE_SIZE", default_value_t = 100)]
    pub tasks_search_page_size: u32,
}

/// How hard to push GHL, and what to do when it fails.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Rate limits, retries and circuit breaker")]
pub struct PacingArgs {
    /// GHL burst limit per location: `N/interval` (e.g. `100/10s`), or a preset: `marketplace`
    /// (100/10s) or `trial` (25/10s, sandbox and trial private tokens). The limit GHL reports in
    /// its `X-RateLimit-*` headers is kept as well: calls go when both have room.
    #[arg(long, env = "GHL_RATE_LIMIT", default_value = "marketplace")]
    pub rate_limit: BurstLimit,

    /// GHL daily request budget per location (trial accounts: 10000).
    #[arg(long, env = "GHL_DAILY_LIMIT", default_value_t = 200_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub daily_limit: u64,

    /// Longest a GHL call waits for the rate limiter before failing with RATE_LIMITED.
    #[arg(long, env = "GHL_LIMITER_MAX_WAIT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub limiter_max_wait: Duration,

    /// Share of each location's burst budget that background jobs (contact imports) may use,
    /// above 0 and at most 1; the rest is left to queries and mutations, which also go first.
    #[arg(long, env = "GHL_IMPORT_SHARE", default_value_t = 0.5, value_parser = share)]
    pub import_share: f64,

    /// Most GHL calls queued per location before new ones fail fast.
    #[arg(long, env = "GHL_LIMITER_MAX_QUEUE", default_value_t = 10_000, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_000_000))]
    pub limiter_max_queue: usize,

    /// Attempts per GHL call, the first included (safe calls only are retried).
    #[arg(long, env = "GHL_RETRY_MAX_ATTEMPTS", default_value_t = 3)]
    pub retry_max_attempts: u32,

    /// First retry backoff; doubles per attempt, with full jitter.
    #[arg(long, env = "GHL_RETRY_BASE_DELAY", default_value = "100ms", value_parser = duration_within::<1, 10_000>)]
    pub retry_base_delay: Duration,

    /// Consecutive upstream failures that open a location's circuit breaker.
    #[arg(long, env = "GHL_BREAKER_THRESHOLD", default_value_t = 5)]
    pub breaker_threshold: u32,

    /// How long an open circuit fails fast before one probe call.
    #[arg(long, env = "GHL_BREAKER_COOL_DOWN", default_value = "5s", value_parser = humantime::parse_duration)]
    pub breaker_cool_down: Duration,
}

/// The shared cache of GHL's answers.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Cache")]
pub struct CacheArgs {
    /// How long GHL's answers (contacts, their tasks, notes and appointments, single tasks and
    /// notes) are served from the shared cache; pages of contacts are kept at most 30 s; `0s`
    /// turns it off. Our own writes and GHL's webhooks update it; a change whose webhook GHL
    /// dropped shows once its entry expires.
    #[arg(long, env = "CACHE_TTL", default_value = "5m", value_parser = humantime::parse_duration)]
    pub cache_ttl: Duration,

    /// Most memory the cache holds, in bytes of kept answers (estimated); the least used go first.
    #[arg(long, env = "CACHE_MAX_BYTES", default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1..))]
    pub cache_max_bytes: u64,
}

/// `POST /webhooks/ghl`: GHL's change events.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Webhooks")]
pub struct WebhookArgs {
    /// Ed25519 key that GHL's `x-ghl-signature` is checked with: PEM, base64 or 64 hex digits.
    /// Default: GHL's published key.
    #[arg(long, env = "WEBHOOK_PUBLIC_KEY")]
    pub webhook_public_key: Option<crate::webhooks::WebhookKey>,

    /// Oldest (or furthest ahead) event `timestamp` accepted; older deliveries change nothing.
    #[arg(long, env = "WEBHOOK_MAX_AGE", default_value = "5m", value_parser = positive_duration)]
    pub webhook_max_age: Duration,

    /// Also accept GHL's retired RSA signature (`x-wh-signature`, RSA SHA-256) on deliveries that
    /// carry no `x-ghl-signature`. GHL stopped sending it in July 2026.
    #[arg(long, env = "WEBHOOK_LEGACY_RSA", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub webhook_legacy_rsa: bool,

    /// RSA public key for `x-wh-signature`: PEM text or a PEM file's path. Default: GHL's published key.
    #[arg(long, env = "WEBHOOK_LEGACY_RSA_KEY", value_parser = legacy_rsa_key)]
    pub webhook_legacy_rsa_key: Option<crate::webhooks::LegacyRsaKey>,
}

/// A PEM key given inline or as a file's path.
fn legacy_rsa_key(value: &str) -> Result<crate::webhooks::LegacyRsaKey, String> {
    if value.trim_start().starts_with("-----BEGIN") {
        return value.parse();
    }
    std::fs::read_to_string(value).map_err(|e| format!("cannot read {value}: {e}"))?.parse()
}

/// The GHL simulator `serve` starts when no GHL credentials are given.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Embedded sandbox")]
pub struct EmbeddedSandboxArgs {
    /// Contacts the embedded sandbox seeds (only without a GHL token), at most 1,000,000 (the sandbox's cap).
    #[arg(long, env = "SANDBOX_CONTACTS", default_value_t = 200, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=1_000_000))]
    pub sandbox_contacts: usize,

    /// Latency the embedded sandbox adds to every call, e.g. `50ms`.
    #[arg(long, env = "SANDBOX_LATENCY", default_value = "0ms", value_parser = humantime::parse_duration)]
    pub sandbox_latency: Duration,
}

/// `--auth oauth`: the GHL marketplace app and where its tokens live.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "OAuth app mode")]
pub struct OAuthArgs {
    /// The GHL app's client id.
    #[arg(long, env = "GHL_CLIENT_ID")]
    pub ghl_client_id: Option<String>,

    /// The GHL app's client secret. Never logged.
    #[arg(long, env = "GHL_CLIENT_SECRET", hide_env_values = true)]
    pub ghl_client_secret: Option<secrecy::SecretString>,

    /// This server's `/oauth/callback` URL as registered with the app, e.g. `https://subgraph.example.com/oauth/callback`.
    #[arg(long, env = "GHL_REDIRECT_URI", value_parser = http_url)]
    pub ghl_redirect_uri: Option<String>,

    /// Scopes the install asks for, space-separated.
    #[arg(long, env = "GHL_OAUTH_SCOPES", default_value = "contacts.readonly contacts.write locations/tasks.readonly")]
    pub ghl_oauth_scopes: String,

    /// GHL's consent screen.
    #[arg(long, env = "GHL_OAUTH_CONSENT_URL", default_value = "https://marketplace.gohighlevel.com/oauth/chooselocation")]
    pub oauth_consent_url: String,

    /// How long an install link (its signed `state`) stays valid.
    #[arg(long, env = "GHL_OAUTH_STATE_TTL", default_value = "10m", value_parser = humantime::parse_duration)]
    pub oauth_state_ttl: Duration,

    /// Directory of the encrypted token store (one file per location).
    #[arg(long, env = "TOKEN_STORE", default_value = "./ghl-tokens")]
    pub token_store: std::path::PathBuf,

    /// Key of the token store: 32 bytes as 64 hex digits or base64 (`openssl rand -hex 32`). Never logged.
    #[arg(long, env = "TOKEN_STORE_KEY", hide_env_values = true)]
    pub token_store_key: Option<crate::oauth::StoreKey>,

    /// Refresh an access token this long before it expires (at most half its lifetime, so a pair
    /// just received is never due at once).
    #[arg(long, env = "GHL_REFRESH_MARGIN", default_value = "5m", value_parser = humantime::parse_duration)]
    pub refresh_margin: Duration,

    /// Who installs the app, as its marketplace distribution says: `location` (each sub-account,
    /// one rotating pair each) or `agency` (one Company token that mints every location's token
    /// and recovers any location whose pair was lost; adds the `oauth.write oauth.readonly` scopes).
    #[arg(long, env = "GHL_OAUTH_INSTALL_LEVEL", value_enum, default_value = "location")]
    pub oauth_install_level: crate::oauth::InstallLevel,
}

/// Scale-out: replicas that share GHL's rate budget, tokens, invalidations and events in Redis.
#[derive(Args, Debug, Clone)]
#[command(next_help_heading = "Scale-out (Redis)")]
pub struct RedisArgs {
    /// Redis to share state with the other replicas: `redis://`, `rediss://` (TLS) or
    /// `unix:///path/redis.sock`. Unset: everything stays in this process (one replica). May
    /// hold a password: never logged.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<crate::redis::RedisUrl>,

    /// Prefix of every Redis key and channel (one per GHL app and deployment; README lists the keys).
    #[arg(long, env = "REDIS_PREFIX", default_value = "ghl-subgraph", value_parser = redis_prefix)]
    pub redis_prefix: String,

    /// Replicas expected to share GHL's budget: while Redis is unreachable each keeps to this
    /// share of the limit (limit ÷ replicas).
    #[arg(long, env = "EXPECTED_REPLICAS", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub expected_replicas: u32,
}

/// Letters, digits, `-`, `_`, `.` and `:`: a key prefix that needs no quoting anywhere.
fn redis_prefix(value: &str) -> Result<String, String> {
    let ok = !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    ok.then(|| value.to_owned()).ok_or_else(|| "must be 1 to 64 letters, digits, `-`, `_`, `.` or `:`".to_owned())
}

/// How the server treats persisted queries.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PersistedMode {
    /// Full operation text only.
    Off,
    /// Apollo automatic persisted queries: a hash runs a text registered earlier.
    Apq,
    /// Only operations from the safelist file run.
    Safelist,
}

/// A burst limit: at most `max` calls per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BurstLimit {
    pub max: u32,
    pub interval: Duration,
}

impl std::str::FromStr for BurstLimit {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let preset = |max| Ok(Self { max, interval: Duration::from_secs(10) });
        match raw.trim() {
            "marketplace" => preset(100),
            "trial" => preset(25),
            other => {
                let (max, interval) = other.split_once('/').ok_or("expected N/interval (e.g. 100/10s), `marketplace` or `trial`")?;
                let max: u32 = max.trim().parse().map_err(|_| "the count before `/` must be a positive integer")?;
                let interval = humantime::parse_duration(interval.trim()).map_err(|e| format!("bad interval: {e}"))?;
                if max == 0 || interval.is_zero() {
                    return Err("the limit and its interval must be positive".into());
                }
                Ok(Self { max, interval })
            }
        }
    }
}

/// Where GHL calls go and as whom, decided once from the flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Upstream {
    /// No credentials: start the built-in sandbox and use its write token.
    EmbeddedSandbox,
    /// A real GHL (or a sandbox started elsewhere).
    Remote { base_url: String },
}

/// GHL's production API.
pub const GHL_BASE_URL: &str = "https://services.leadconnectorhq.com";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("GHL_TOKEN (--ghl-token) is set but GHL_LOCATION_ID (--ghl-location-id) is not: name the location the token belongs to")]
    MissingLocation,
    #[error("GHL_BASE_URL is set but GHL_TOKEN is not: set a token, use --auth forward, or unset GHL_BASE_URL to run on the embedded sandbox")]
    MissingToken,
    #[error("--auth forward cannot be combined with GHL_TOKEN: the caller's token is used")]
    TokenWithForward,
    #[error("GHL_BASE_URL must start with http:// or https://")]
    BadBaseUrl,
    #[error("this build has no embedded sandbox (feature `sandbox`): set GHL_TOKEN and GHL_LOCATION_ID")]
    NoSandbox,
    #[error("GHL_TOKEN (--ghl-token) is set but empty (was the secret injected?): set it, or unset it to run on the embedded sandbox")]
    EmptyToken,
    #[error("{0} is set but GHL_TOKEN is not: set the token too, or unset {0} to run on the embedded sandbox")]
    PartialStatic(&'static str),
    #[error("GRAPHQL_SAFELIST_FILE (--safelist-file) only applies with --persisted-queries safelist")]
    SafelistWithoutMode,
    #[error("GHL_LOCATION_ID (--ghl-location-id) is not a GHL location id (letters, digits, `-` and `_`)")]
    BadLocation,
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("--persisted-queries safelist needs --safelist-file (GRAPHQL_SAFELIST_FILE)")]
    MissingSafelist,
    #[error("--auth oauth needs {0}")]
    MissingOAuth(&'static str),
    #[error("--auth oauth cannot be combined with GHL_TOKEN: each location's own token is used")]
    TokenWithOAuth,
    /// Checked here rather than by clap, whose errors echo the value.
    #[error("CURSOR_SECRET (--cursor-secret) must be at least {MIN_CURSOR_SECRET_LEN} characters (e.g. `openssl rand -hex 32`)")]
    ShortCursorSecret,
}

/// Shortest `CURSOR_SECRET` accepted.
pub const MIN_CURSOR_SECRET_LEN: usize = 16;

impl ServeArgs {
    /// The static token's scopes (`GHL_SCOPES`, by default read-only).
    pub fn static_scopes(&self) -> &str {
        self.ghl.ghl_scopes.as_deref().unwrap_or("contacts.readonly")
    }

    /// Validates the combination of flags and says where GHL calls go.
    pub fn upstream(&self) -> Result<Upstream, ConfigError> {
        if let Some(url) = &self.ghl.ghl_base_url {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError::BadBaseUrl);
            }
        }
        if self.graphql.max_expanded_fields == 0 {
            return Err(ConfigError::Zero("GRAPHQL_MAX_EXPANDED_FIELDS"));
        }
        if self.graphql.cursor_secret.as_ref().is_some_and(|s| s.expose_secret().chars().count() < MIN_CURSOR_SECRET_LEN) {
            return Err(ConfigError::ShortCursorSecret);
        }
        if self.graphql.persisted_queries == PersistedMode::Safelist && self.graphql.safelist_file.is_none() {
            return Err(ConfigError::MissingSafelist);
        }
        if self.graphql.persisted_queries != PersistedMode::Safelist && self.graphql.safelist_file.is_some() {
            return Err(ConfigError::SafelistWithoutMode);
        }
        if let Some(location) = self.ghl.ghl_location_id.as_deref() {
            if crate::highlevel::PathId::parse(location, "locationId").is_err() {
                return Err(ConfigError::BadLocation);
            }
        }
        if self.ghl.ghl_token.as_deref().is_some_and(|t| t.trim().is_empty()) {
            return Err(ConfigError::EmptyToken);
        }
        let token = self.ghl.ghl_token.as_deref();
        if token.is_none() && self.ghl.auth == AuthKind::Static {
            // The sandbox only stands in when no GHL setting at all is given.
            let partial = [(self.ghl.ghl_location_id.is_some(), "GHL_LOCATION_ID"), (self.ghl.ghl_scopes.is_some(), "GHL_SCOPES")];
            if let Some((_, name)) = partial.iter().find(|(set, _)| *set) {
                return Err(ConfigError::PartialStatic(name));
            }
        }
        let remote = |url: &Option<String>| Upstream::Remote { base_url: url.clone().unwrap_or_else(|| GHL_BASE_URL.to_owned()) };
        if self.ghl.auth == AuthKind::Oauth {
            serve::oauth_settings(self)?;
        }
        match (self.ghl.auth, token, &self.ghl.ghl_base_url) {
            (AuthKind::Oauth, Some(_), _) => Err(ConfigError::TokenWithOAuth),
            (AuthKind::Oauth, None, url) => Ok(remote(url)),
            (AuthKind::Forward, Some(_), _) => Err(ConfigError::TokenWithForward),
            (AuthKind::Forward, None, url) => Ok(remote(url)),
            (AuthKind::Static, Some(_), _) if self.ghl.ghl_location_id.as_deref().unwrap_or("").is_empty() => Err(ConfigError::MissingLocation),
            (AuthKind::Static, Some(_), url) => Ok(remote(url)),
            (AuthKind::Static, None, Some(_)) => Err(ConfigError::MissingToken),
            (AuthKind::Static, None, None) if cfg!(feature = "sandbox") => Ok(Upstream::EmbeddedSandbox),
            (AuthKind::Static, None, None) => Err(ConfigError::NoSandbox),
        }
    }
}

/// `IP:PORT`, or `HOST:PORT` resolved once here; of several addresses the first IPv4 one, so
/// `localhost` means 127.0.0.1 (what the default and the docs use) rather than `::1`.
fn listen_addr(value: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = value.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let usage = "must be IP:PORT or HOST:PORT, e.g. 127.0.0.1:4000 or localhost:4000";
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value).map_err(|e| format!("{usage} ({e})"))?.collect();
    addrs.iter().find(|a| a.is_ipv4()).or(addrs.first()).copied().ok_or_else(|| format!("{usage} (the host resolves to no address)"))
}

/// A duration above zero (`250ms`, `10s`).
fn positive_duration(value: &str) -> Result<Duration, String> {
    match humantime::parse_duration(value) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        Ok(_) => Err("must be above zero".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// At least 16 characters; the error never repeats the value.
fn metrics_key(value: &str) -> Result<secrecy::SecretString, String> {
    if value.trim().chars().count() < 16 {
        return Err("METRICS_API_KEY must be at least 16 characters (the value is not shown)".into());
    }
    Ok(secrecy::SecretString::from(value.trim().to_owned()))
}

/// The message of a refused value without the value itself; other clap errors as clap prints them.
pub fn message_without_values(error: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue};
    error.get(ContextKind::InvalidValue)?;
    let setting = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.clone(),
        _ => "a setting".to_owned(),
    };
    let reason = match (std::error::Error::source(error), error.get(ContextKind::ValidValue)) {
        (Some(source), _) => source.to_string(),
        (None, Some(ContextValue::Strings(valid))) => format!("use one of {}", valid.join(", ")),
        (None, _) => "not an accepted value".to_owned(),
    };
    Some(format!("error: invalid value for {setting} (the value is not shown): {reason}\n\nFor more information, try '--help'."))
}

fn exit_without_values(error: clap::Error) -> ! {
    match message_without_values(&error) {
        Some(message) => {
            eprintln!("{message}");
            std::process::exit(2);
        }
        None => error.exit(),
    }
}

/// A duration from `MIN_MS` to `MAX_MS` milliseconds, e.g. `250ms`, `5s`.
fn duration_within<const MIN_MS: u64, const MAX_MS: u64>(value: &str) -> Result<Duration, String> {
    let duration = humantime::parse_duration(value).map_err(|e| e.to_string())?;
    let range = || format!("{} to {}", humantime::format_duration(Duration::from_millis(MIN_MS)), humantime::format_duration(Duration::from_millis(MAX_MS)));
    if duration < Duration::from_millis(MIN_MS) || duration > Duration::from_millis(MAX_MS) {
        return Err(format!("must be from {}", range()));
    }
    Ok(duration)
}

/// A share above 0 and at most 1, as a fraction (`0.5`) or a percentage (`50%`).
fn share(value: &str) -> Result<f64, String> {
    let parsed = match value.trim().strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => value.trim().parse::<f64>(),
    };
    match parsed {
        Ok(share) if share > 0.0 && share <= 1.0 => Ok(share),
        _ => Err("must be a share above 0 and at most 1 (e.g. 0.5 or 50%)".to_owned()),
    }
}

/// An absolute `http://` or `https://` URL with a host.
fn http_url(value: &str) -> Result<String, String> {
    let rest = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")).ok_or("must be an http:// or https:// URL")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    if host.is_empty() || value.chars().any(char::is_whitespace) {
        return Err("must be an absolute URL with a host, e.g. https://subgraph.example.com/oauth/callback".into());
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> ServeArgs {
        let mut argv = vec!["ghl-subgraph", "serve"];
        argv.extend_from_slice(extra);
        match Cli::try_parse_from(argv).unwrap().into_command() {
            Command::Serve(args) => *args,
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn the_cache_is_on_by_default_for_five_minutes_and_zero_turns_it_off() {
        assert_eq!(args(&[]).cache.cache_ttl, Duration::from_secs(300));
        assert_eq!(args(&["--cache-ttl", "0s"]).cache.cache_ttl, Duration::ZERO);
    }

    #[test]
    fn no_credentials_means_the_embedded_sandbox() {
        let mut a = args(&[]);
        a.ghl.ghl_token = None;
        a.ghl.ghl_base_url = None;
        assert_eq!(a.upstream(), Ok(Upstream::EmbeddedSandbox));
    }

    #[test]
    fn an_empty_token_or_a_partial_static_configuration_never_falls_back_to_the_sandbox() {
        let mut a = args(&[]);
        (a.ghl.ghl_base_url, a.ghl.ghl_location_id, a.ghl.ghl_scopes) = (None, None, None);
        a.ghl.ghl_token = Some(String::new());
        assert_eq!(a.upstream(), Err(ConfigError::EmptyToken));
        a.ghl.ghl_token = None;
        a.ghl.ghl_location_id = Some("ve9EPM428h8vShlRW1KT".into());
        assert_eq!(a.upstream(), Err(ConfigError::PartialStatic("GHL_LOCATION_ID")));
        (a.ghl.ghl_location_id, a.ghl.ghl_scopes) = (None, Some("contacts.write".into()));
        assert_eq!(a.upstream(), Err(ConfigError::PartialStatic("GHL_SCOPES")));
        a.ghl.ghl_scopes = None;
        assert_eq!(a.upstream(), Ok(Upstream::EmbeddedSandbox));
    }

    #[test]
    fn nonsense_settings_fail_at_start_naming_the_setting() {
        for (flag, value) in [
            ("--operation-timeout", "0s"),
            ("--request-timeout", "0s"),
            ("--daily-limit", "0"),
            ("--limiter-max-queue", "0"),
            ("--retry-base-delay", "10m"),
            ("--batch-delay", "10s"),
            ("--ghl-redirect-uri", "not a url"),
            ("--header-read-timeout", "0s"),
            ("--max-entities", "0"),
            ("--sandbox-contacts", "100000000"),
            ("--listen", "no-port-here"),
        ] {
            let error = Cli::try_parse_from(["ghl-subgraph", "serve", flag, value]).err().unwrap_or_else(|| panic!("{flag} {value} accepted"));
            let message = message_without_values(&error).unwrap_or_else(|| panic!("{flag}: {error}"));
            assert!(message.contains(flag), "{message}");
        }
        let mut a = args(&["--safelist-file", "ops.json"]);
        (a.ghl.ghl_token, a.ghl.ghl_location_id, a.ghl.ghl_scopes, a.ghl.ghl_base_url) = (None, None, None, None);
        assert_eq!(a.upstream(), Err(ConfigError::SafelistWithoutMode));
        let mut a = args(&["--ghl-token", "t", "--ghl-location-id", "../etc/passwd"]);
        a.ghl.ghl_base_url = None;
        assert_eq!(a.upstream(), Err(ConfigError::BadLocation));
    }

    #[test]
    fn a_token_needs_its_location() {
        let mut a = args(&["--ghl-token", "t"]);
        a.ghl.ghl_location_id = None;
        assert_eq!(a.upstream(), Err(ConfigError::MissingLocation));
        a.ghl.ghl_location_id = Some("loc".into());
        assert_eq!(a.upstream(), Ok(Upstream::Remote { base_url: GHL_BASE_URL.into() }));
    }

    #[test]
    fn a_base_url_without_a_token_is_refused_in_static_mode() {
        let mut a = args(&["--ghl-base-url", "http://127.0.0.1:9"]);
        a.ghl.ghl_token = None;
        assert_eq!(a.upstream(), Err(ConfigError::MissingToken));
        a.ghl.auth = AuthKind::Forward;
        assert_eq!(a.upstream(), Ok(Upstream::Remote { base_url: "http://127.0.0.1:9".into() }));
    }

    #[test]
    fn rate_limits_take_presets_and_explicit_values() {
        assert_eq!(args(&[]).pacing.rate_limit, BurstLimit { max: 100, interval: Duration::from_secs(10) });
        assert_eq!(args(&["--rate-limit", "trial"]).pacing.rate_limit.max, 25);
        assert_eq!(args(&["--rate-limit", "20/1s"]).pacing.rate_limit, BurstLimit { max: 20, interval: Duration::from_secs(1) });
        assert!(Cli::try_parse_from(["ghl-subgraph", "serve", "--rate-limit", "0/1s"]).is_err());
        assert!(Cli::try_parse_from(["ghl-subgraph", "serve", "--rate-limit", "lots"]).is_err());
    }

    #[test]
    fn hardening_flags_default_to_csrf_on_apq_and_no_keys() {
        let a = args(&[]);
        assert!(a.graphql.csrf_prevention);
        assert_eq!(a.graphql.persisted_queries, PersistedMode::Apq);
        assert!(a.graphql.api_keys.is_none());
        assert!(!args(&["--csrf-prevention", "false"]).graphql.csrf_prevention);
        let mut safelist = args(&["--persisted-queries", "safelist"]);
        safelist.ghl.ghl_token = None;
        safelist.ghl.ghl_base_url = None;
        assert_eq!(safelist.upstream(), Err(ConfigError::MissingSafelist));
        assert!(Cli::try_parse_from(["ghl-subgraph", "serve", "--api-keys", "short"]).is_err());
    }

    #[test]
    fn parser_nesting_stays_under_the_stack_safe_ceiling() {
        assert_eq!(args(&[]).graphql.max_recursion, 64);
        assert_eq!(args(&["--max-recursion", "128"]).graphql.max_recursion, 128);
        for refused in ["129", "0"] {
            assert!(Cli::try_parse_from(["ghl-subgraph", "serve", "--max-recursion", refused]).is_err(), "{refused}");
        }
        let mut none = args(&["--max-expanded-fields", "0"]);
        none.ghl.ghl_token = None;
        none.ghl.ghl_base_url = None;
        assert_eq!(none.upstream(), Err(ConfigError::Zero("GRAPHQL_MAX_EXPANDED_FIELDS")));
        assert_eq!(args(&[]).graphql.max_expanded_fields, 2000);
    }

    #[test]
    fn oauth_mode_fails_fast_without_its_credentials_and_store_key() {
        let mut a = args(&["--auth", "oauth"]);
        a.ghl.ghl_token = None;
        a.oauth.ghl_client_id = Some("id".into());
        a.oauth.ghl_client_secret = Some("secret".into());
        a.oauth.ghl_redirect_uri = Some("https://x/oauth/callback".into());
        a.oauth.token_store_key = None;
        assert!(matches!(a.upstream(), Err(ConfigError::MissingOAuth(what)) if what.starts_with("TOKEN_STORE_KEY")));
        a.oauth.token_store_key = Some("ab".repeat(32).parse().unwrap());
        assert_eq!(a.upstream(), Ok(Upstream::Remote { base_url: GHL_BASE_URL.into() }));
        assert_eq!(a.oauth.refresh_margin, Duration::from_secs(300));
    }

    #[test]
    fn a_short_cursor_secret_is_refused_without_echoing_it() {
        let mut a = args(&["--cursor-secret", "too-short-value"]);
        a.ghl.ghl_token = None;
        a.ghl.ghl_base_url = None;
        let error = a.upstream().expect_err("15 characters");
        assert_eq!(error, ConfigError::ShortCursorSecret);
        assert!(!error.to_string().contains("too-short-value"));
        assert!(!format!("{a:?}").contains("too-short-value"), "Debug redacts it");
        a.graphql.cursor_secret = Some("sixteen-chars-ok".into());
        assert_eq!(a.upstream(), Ok(Upstream::EmbeddedSandbox));
    }

    #[test]
    fn listen_takes_host_names_and_localhost_means_ipv4_loopback() {
        assert_eq!(args(&["--listen", "localhost:0"]).http.listen, "127.0.0.1:0".parse().unwrap());
        assert_eq!(args(&["--listen", "[::1]:4000"]).http.listen, "[::1]:4000".parse().unwrap());
        assert_eq!(args(&["--listen", "0.0.0.0:4001"]).http.listen, "0.0.0.0:4001".parse().unwrap());
    }

    #[test]
    fn sandbox_contacts_are_capped_at_a_million() {
        assert_eq!(args(&["--sandbox-contacts", "1000000"]).sandbox.sandbox_contacts, 1_000_000);
        let error = Cli::try_parse_from(["ghl-subgraph", "serve", "--sandbox-contacts", "1000001"]).unwrap_err();
        let message = message_without_values(&error).unwrap();
        assert!(message.contains("--sandbox-contacts") && message.contains("0..=1000000"), "{message}");
    }

    #[test]
    fn durations_are_human_strings() {
        let a = args(&["--request-timeout", "1500ms", "--connect-timeout", "2s"]);
        assert_eq!(a.ghl.request_timeout, Duration::from_millis(1500));
        assert_eq!(a.ghl.connect_timeout, Duration::from_secs(2));
    }
}
