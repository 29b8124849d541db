//! The connection check: real test calls to GHL and a look at the settings that decide whether
//! this server can work, each reported as a [`Check`] with a plain diagnosis and what to do. One
//! engine for `ghl-subgraph check` and the `connectionCheck` query. It only reads: no write call
//! to GHL (writes are judged by scopes alone), no token refresh (refresh tokens work once), and
//! the token store is opened read-only. Test calls bypass the cache and the limiter on purpose:
//! they report GHL's own answers and headers.
//!
//! - `upstream`: base URL, token, location, scopes and each endpoint family, from `highlevel`'s probes.
//! - `rate`: rate-limit headroom from GHL's `X-RateLimit-*` headers.
//! - `oauth`: the token store and each stored location's token state.
//! - `webhooks`: which keys the webhook route verifies deliveries with.
//! - `report`: the report and its text and JSON forms.

mod oauth;
mod rate;
mod report;
mod upstream;
mod webhooks;

use std::time::Duration;

use secrecy::SecretString;

pub use oauth::OAuthSetup;
pub use report::{Check, Report, Status};
pub use webhooks::WebhookSetup;

use crate::highlevel::{GhlClient, Tenant};

/// Where GHL is and how long a call may take (the diagnoses name the limits).
#[derive(Clone)]
pub struct Upstream {
    pub client: GhlClient,
    pub base_url: String,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
}

/// As whom the test calls are made, as `serve` would make them.
#[derive(Clone, Debug)]
pub enum Access {
    /// One configured token (or the embedded sandbox's), with the scopes it is configured with.
    Static { tenant: Tenant, embedded_sandbox: bool },
    /// Callers bring their own tokens: only a caller's (the GraphQL check's) can be tested.
    Forward,
    /// Stored token pairs per location.
    OAuth(OAuthSetup),
}

/// The engine, built once from the same settings `serve` uses.
pub struct ConnectionChecker {
    upstream: Upstream,
    access: Access,
    webhooks: WebhookSetup,
}

impl ConnectionChecker {
    pub fn new(upstream: Upstream, access: Access, webhooks: WebhookSetup) -> Self {
        Self { upstream, access, webhooks }
    }

    /// Runs every check. `caller`: the tenant of the GraphQL request (forward and OAuth mode test
    /// its token); `location`: in OAuth mode, the stored location to test (default: the first
    /// whose access token is valid).
    pub async fn run(&self, caller: Option<Tenant>, location: Option<&str>) -> Report {
        let (mode, source) = match &self.access {
            Access::Static { embedded_sandbox: true, .. } => ("embedded-sandbox", upstream::ScopeSource::Sandbox),
            Access::Static { .. } => ("static", upstream::ScopeSource::Configured),
            Access::Forward => ("forward", upstream::ScopeSource::Caller),
            Access::OAuth(_) => ("oauth", upstream::ScopeSource::Granted),
        };
        let mut stored = Vec::new();
        let tenant = match &self.access {
            Access::Static { tenant, .. } => Some(tenant.clone()),
            Access::Forward => caller,
            Access::OAuth(setup) => {
                let wanted = location.map(str::to_owned).or_else(|| caller.as_ref().map(|t| t.location_id().to_owned()));
                let inspection = oauth::inspect(setup, wanted.as_deref()).await;
                stored = inspection.checks;
                caller.or(inspection.tenant)
            }
        };
        let mut checks = match &tenant {
            Some(tenant) => upstream::run(&self.upstream, tenant, source).await,
            // No token to test: an anonymous call still shows whether GHL is reachable.
            None => upstream::reach_only(&self.upstream, &Tenant::new("-", SecretString::from(String::new()), None), mode).await,
        };
        checks.extend(stored);
        checks.push(webhooks::check(&self.webhooks));
        Report::new(report::display_url(&self.upstream.base_url), mode, tenant.map(|t| t.location_id().to_owned()), checks)
    }
}
