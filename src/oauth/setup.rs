//! Wiring of OAuth mode from the flags: opens the store (a wrong key fails start-up), loads every
//! location, and builds the auth variant and the install routes.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use tracing::{info, warn};

use super::flow::{routes, FlowConfig, InstallLevel};
use super::grant::{GrantClient, GrantConfig};
use super::state::StateSigner;
use super::store::StoreKey;
use super::store::{FileStore, TokenStore};
use super::tokens::TokenManager;
use crate::auth::OAuthAuth;
use crate::callers::CallerKeys;

/// OAuth mode's settings, validated at start-up (`config`).
#[derive(Clone, Debug)]
pub struct OAuthSettings {
    pub client_id: String,
    pub client_secret: secrecy::SecretString,
    /// This server's `/oauth/callback`, as registered with the app.
    pub redirect_uri: String,
    /// Scopes the install asks for, space-separated.
    pub scopes: String,
    pub consent_url: String,
    /// How long an install link stays valid.
    pub state_ttl: Duration,
    pub token_store: std::path::PathBuf,
    pub token_store_key: StoreKey,
    /// Refresh an access token this long before it expires.
    pub refresh_margin: Duration,
    /// Location-level or agency installs.
    pub level: super::flow::InstallLevel,
}

/// OAuth mode, ready to serve.
pub struct OAuthApp {
    pub auth: OAuthAuth,
    pub routes: Router,
    /// For the webhook receiver: INSTALL and UNINSTALL change them.
    pub tokens: Arc<TokenManager>,
}

impl OAuthApp {
    /// `shared`: the store replicas share (`--redis-url`) instead of `TOKEN_STORE`'s directory.
    pub async fn build(
        args: &OAuthSettings,
        base_url: &str,
        callers: Arc<CallerKeys>,
        timeout: Duration,
        shared: Option<Arc<dyn TokenStore>>,
    ) -> anyhow::Result<Self> {
        let key = &args.token_store_key;
        let (client_id, client_secret, redirect_uri) = (args.client_id.clone(), args.client_secret.clone(), args.redirect_uri.clone());
        // The recorder first: loading publishes the reinstall gauge.
        let _ = crate::metrics::handle();
        if callers.is_empty() {
            warn!("--auth oauth without SUBGRAPH_API_KEYS: any caller may act for every installed location");
        }
        let (store, store_name): (Arc<dyn TokenStore>, String) = match shared {
            Some(shared) => (shared, "redis".to_owned()),
            None => (
                Arc::new(FileStore::open(&args.token_store, key).with_context(|| format!("opening the token store {}", args.token_store.display()))?),
                args.token_store.display().to_string(),
            ),
        };
        let grants = GrantClient::new(GrantConfig {
            base_url: base_url.to_owned(),
            client_id: client_id.clone(),
            client_secret,
            redirect_uri: redirect_uri.clone(),
            timeout,
        })
        .context("building the HTTP client for GHL's token endpoint")?;
        let tokens = TokenManager::load(store, grants.clone(), args.refresh_margin, install_url(&redirect_uri))
            .await
            .context("loading the token store (is TOKEN_STORE_KEY the key it was written with?)")?;
        let tokens = Arc::new(tokens);
        info!(store = %store_name, install = %tokens.install_url(), "OAuth app mode");
        let scopes = match args.level {
            InstallLevel::Location => args.scopes.clone(),
            // The agency's token mints location tokens (`oauth.write`) and lists installs (`oauth.readonly`).
            InstallLevel::Agency => {
                let mut scopes: Vec<&str> = args.scopes.split_whitespace().collect();
                for needed in ["oauth.write", "oauth.readonly"] {
                    if !scopes.contains(&needed) {
                        scopes.push(needed);
                    }
                }
                scopes.join(" ")
            }
        };
        let flow = FlowConfig { level: args.level, consent_url: args.consent_url.clone(), client_id, redirect_uri, scopes };
        let routes = routes(flow, StateSigner::new(key, args.state_ttl), grants, tokens.clone());
        Ok(Self { auth: OAuthAuth { tokens: tokens.clone() }, routes, tokens })
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
