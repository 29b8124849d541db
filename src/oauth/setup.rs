//! Wiring of OAuth mode from the flags: opens the store (a wrong key fails start-up), loads every
//! location, and builds the auth variant and the install routes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tracing::{info, warn};

use super::flow::{routes, FlowConfig};
use super::grant::{GrantClient, GrantConfig};
use super::state::StateSigner;
use super::store::FileStore;
use super::tokens::TokenManager;
use crate::auth::OAuthAuth;
use crate::callers::CallerKeys;
use crate::config::OAuthArgs;

/// OAuth mode, ready to serve.
pub struct OAuthApp {
    pub auth: OAuthAuth,
    pub routes: Router,
}

impl OAuthApp {
    pub async fn build(args: &OAuthArgs, base_url: &str, callers: Arc<CallerKeys>, timeout: Duration) -> anyhow::Result<Self> {
        let key = args.token_store_key.as_ref().context("TOKEN_STORE_KEY is required with --auth oauth")?;
        let client_id = args.ghl_client_id.clone().context("GHL_CLIENT_ID is required with --auth oauth")?;
        let client_secret = args.ghl_client_secret.clone().context("GHL_CLIENT_SECRET is required with --auth oauth")?;
        let redirect_uri = args.ghl_redirect_uri.clone().context("GHL_REDIRECT_URI is required with --auth oauth")?;
        // The recorder first: loading publishes the reinstall gauge.
        let _ = crate::metrics::handle();
        if callers.is_empty() {
            warn!("--auth oauth without SUBGRAPH_API_KEYS: any caller may act for every installed location");
        }
        let store = FileStore::open(&args.token_store, key).with_context(|| format!("opening the token store {}", args.token_store.display()))?;
        let grants = GrantClient::new(GrantConfig { base_url: base_url.to_owned(), client_id: client_id.clone(), client_secret, redirect_uri: redirect_uri.clone(), timeout })
            .context("building the HTTP client for GHL's token endpoint")?;
        let tokens = TokenManager::load(Arc::new(store), grants.clone(), args.refresh_margin, install_url(&redirect_uri))
            .await
            .context("loading the token store (is TOKEN_STORE_KEY the key it was written with?)")?;
        let tokens = Arc::new(tokens);
        info!(store = %args.token_store.display(), install = %tokens.install_url(), "OAuth app mode");
        let flow = FlowConfig { consent_url: args.oauth_consent_url.clone(), client_id, redirect_uri, scopes: args.ghl_oauth_scopes.clone() };
        let routes = routes(flow, StateSigner::new(key, args.oauth_state_ttl), grants, tokens.clone());
        Ok(Self { auth: OAuthAuth { tokens }, routes })
    }
}

/// `/oauth/install` on the same origin as the registered callback.
fn install_url(redirect_uri: &str) -> String {
    match redirect_uri.rsplit_once("/oauth/callback") {
        Some((origin, _)) => format!("{origin}/oauth/install"),
        None => {
            let origin = redirect_uri.splitn(4, '/').take(3).collect::<Vec<_>>().join("/");
            format!("{origin}/oauth/install")
        }
    }
}
