//! The install flow: `GET /oauth/install` redirects to GHL's consent screen with a signed `state`;
//! `GET /oauth/callback` checks that state, trades the code for a pair, stores it, and answers a
//! plain page naming the location. Neither route needs an API key: a GHL user's browser calls them,
//! and the single-use state plus GHL's single-use code are what guard them.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tracing::warn;

use super::grant::{GrantClient, GrantError};
use super::state::StateSigner;
use super::tokens::TokenManager;

/// What the consent redirect needs.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    /// GHL's consent screen, e.g. `https://marketplace.gohighlevel.com/oauth/chooselocation`.
    pub consent_url: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: String,
}

struct Flow {
    config: FlowConfig,
    signer: StateSigner,
    grants: GrantClient,
    tokens: Arc<TokenManager>,
}

/// `/oauth/install` and `/oauth/callback`.
pub fn routes(config: FlowConfig, signer: StateSigner, grants: GrantClient, tokens: Arc<TokenManager>) -> Router {
    Router::new()
        .route("/oauth/install", get(install))
        .route("/oauth/callback", get(callback))
        .with_state(Arc::new(Flow { config, signer, grants, tokens }))
}

async fn install(State(flow): State<Arc<Flow>>) -> Response {
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let config = &flow.config;
    let separator = if config.consent_url.contains('?') { '&' } else { '?' };
    let target = format!(
        "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}",
        config.consent_url,
        encode(&config.client_id),
        encode(&config.redirect_uri),
        encode(&config.scopes),
        encode(&flow.signer.issue()),
    );
    match HeaderValue::from_str(&target) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))]).into_response(),
        Err(_) => page(StatusCode::INTERNAL_SERVER_ERROR, "Install failed", "The consent URL is not valid; check --oauth-consent-url."),
    }
}

async fn callback(State(flow): State<Arc<Flow>>, Query(params): Query<HashMap<String, String>>) -> Response {
    let get = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    if let Err(refused) = flow.signer.redeem(get("state").unwrap_or("")) {
        warn!(reason = %refused, "OAuth callback refused");
        return page(StatusCode::BAD_REQUEST, "Install refused", &refused.to_string());
    }
    if get("error").is_some() {
        return page(StatusCode::BAD_REQUEST, "Install cancelled", "GHL did not grant access. Start again from /oauth/install.");
    }
    let Some(code) = get("code") else {
        return page(StatusCode::BAD_REQUEST, "Install refused", "The callback carries no `code`.");
    };
    let granted = match flow.grants.exchange_code(code).await {
        Ok(granted) => granted,
        Err(GrantError::InvalidGrant) => return page(StatusCode::BAD_REQUEST, "Install refused", "GHL refused the authorization code (used or expired). Start again from /oauth/install."),
        Err(error) => {
            warn!(error = %error, "code exchange failed");
            return page(StatusCode::BAD_GATEWAY, "Install failed", "GHL's token endpoint did not answer as expected; try again.");
        }
    };
    match flow.tokens.install(granted, get("locationId")).await {
        Ok(record) => page(
            StatusCode::OK,
            "App installed",
            &format!("The app is installed for location {} with scopes: {}.", record.location_id, record.scopes),
        ),
        Err(error) => {
            warn!(error = %error, "storing the new install failed");
            page(StatusCode::INTERNAL_SERVER_ERROR, "Install failed", "The tokens could not be stored; try again.")
        }
    }
}

/// A plain HTML page; `text` is escaped.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{}</p></body></html>",
        escape(text)
    );
    (status, [(header::CACHE_CONTROL, "no-store")], Html(body)).into_response()
}

fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".into(),
            '>' => "&gt;".into(),
            '&' => "&amp;".into(),
            '"' => "&quot;".into(),
            '\'' => "&#39;".into(),
            c => c.to_string(),
        })
        .collect()
}
