//! The install flow: `GET /oauth/install` redirects to GHL's consent screen with a signed `state`
//! and leaves the install cookie; `GET /oauth/callback` checks that state against the cookie, trades
//! the code for a pair, stores it under the location GHL's answer names, and answers a plain page.
//! Neither route needs an API key: a GHL user's browser calls them, and the single-use state bound
//! to that browser plus GHL's single-use code are what guard them. Pages escape everything they show.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use tracing::{error, warn};

use super::browser::{self, CookieScope};
use super::grant::{GrantClient, GrantError, Kind};
use super::state::StateSigner;
use super::tokens::{InstallError, TokenManager};

/// Whose install `/oauth/install` asks for, as the app's distribution in GHL's marketplace says.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InstallLevel {
    /// A sub-account installs the app: one rotating pair per location.
    #[default]
    Location,
    /// An agency installs it for its sub-accounts: one Company pair that mints every location's token.
    Agency,
}

/// What the consent redirect needs.
#[derive(Clone, Debug)]
pub struct FlowConfig {
    pub level: InstallLevel,
    /// GHL's consent screen, e.g. `https://marketplace.gohighlevel.com/oauth/chooselocation`.
    pub consent_url: String,
    pub client_id: String,
    pub redirect_uri: String,
    pub scopes: String,
}

struct Flow {
    config: FlowConfig,
    cookie: CookieScope,
    signer: StateSigner,
    grants: GrantClient,
    tokens: Arc<TokenManager>,
}

/// `/oauth/install` and `/oauth/callback`.
pub fn routes(config: FlowConfig, signer: StateSigner, grants: GrantClient, tokens: Arc<TokenManager>) -> Router {
    Router::new().route("/oauth/install", get(install)).route("/oauth/callback", get(callback)).with_state(Arc::new(Flow {
        cookie: CookieScope::for_redirect_uri(&config.redirect_uri),
        config,
        signer,
        grants,
        tokens,
    }))
}

async fn install(State(flow): State<Arc<Flow>>) -> Response {
    let encode = |s: &str| utf8_percent_encode(s, NON_ALPHANUMERIC).to_string();
    let config = &flow.config;
    let issued = flow.signer.issue();
    let separator = if config.consent_url.contains('?') { '&' } else { '?' };
    let target = format!(
        "{}{separator}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}",
        config.consent_url,
        encode(&config.client_id),
        encode(&config.redirect_uri),
        encode(&config.scopes),
        encode(&issued.state),
    );
    let cookie = browser::set_cookie(&issued.browser_secret, flow.signer.ttl(), &flow.cookie);
    match (HeaderValue::from_str(&target), cookie) {
        (Ok(location), Some(cookie)) => {
            (StatusCode::FOUND, [(header::LOCATION, location), (header::SET_COOKIE, cookie), (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))])
                .into_response()
        }
        _ => page(StatusCode::INTERNAL_SERVER_ERROR, "Install failed", "The consent URL is not valid; check --oauth-consent-url."),
    }
}

async fn callback(State(flow): State<Arc<Flow>>, headers: HeaderMap, Query(params): Query<HashMap<String, String>>) -> Response {
    let get = |name: &str| params.get(name).map(String::as_str).filter(|v| !v.is_empty());
    if let Err(refused) = flow.signer.redeem(get("state").unwrap_or(""), browser::secret(&headers)) {
        warn!(reason = %refused, "OAuth callback refused");
        return page(StatusCode::BAD_REQUEST, "Install refused", &refused.to_string());
    }
    // The state is spent: its cookie has no further use.
    let mut response = complete(&flow, get("code"), get("error").is_some()).await;
    response.headers_mut().append(header::SET_COOKIE, browser::clear_cookie(&flow.cookie));
    response
}

/// The callback once its state is accepted. The callback's other parameters (`locationId` among
/// them) are never read: which location is installed is GHL's answer to the code exchange.
async fn complete(flow: &Flow, code: Option<&str>, cancelled: bool) -> Response {
    if cancelled {
        return page(StatusCode::BAD_REQUEST, "Install cancelled", "GHL did not grant access. Start again from /oauth/install.");
    }
    let Some(code) = code else {
        return page(StatusCode::BAD_REQUEST, "Install refused", "The callback carries no `code`.");
    };
    let kind = match flow.config.level {
        InstallLevel::Location => Kind::Location,
        InstallLevel::Agency => Kind::Company,
    };
    let granted = match flow.grants.exchange_code(code, kind).await {
        Ok(granted) => granted,
        Err(GrantError::InvalidGrant) => {
            return page(StatusCode::BAD_REQUEST, "Install refused", "GHL refused the authorization code (used or expired). Start again from /oauth/install.")
        }
        Err(GrantError::InvalidClient) => {
            error!("code exchange refused: GHL rejected the app's client id or secret (check GHL_CLIENT_ID / GHL_CLIENT_SECRET)");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Install failed: the app is misconfigured",
                "GHL rejected this app's credentials: the app's client id or secret is wrong: check GHL_CLIENT_ID / GHL_CLIENT_SECRET. Retrying will not help until the operator fixes them.",
            );
        }
        Err(error) => {
            warn!(error = %error, "code exchange failed");
            return page(StatusCode::BAD_GATEWAY, "Install failed", "GHL's token endpoint did not answer as expected; try again.");
        }
    };
    match flow.tokens.install(granted).await {
        Ok(record) => match &record.agency {
            Some(agency) => page(
                StatusCode::OK,
                "App installed for the agency",
                &format!(
                    "The app is installed for agency {} and its {} approved location(s) ({}){}, with scopes: {}. Each location's token is minted from the agency's when it is first used.",
                    record.company_id.as_deref().unwrap_or_default(),
                    agency.approved_locations.len(),
                    agency.approved_locations.join(", "),
                    if agency.install_to_future_locations { ", and future locations" } else { "" },
                    record.scopes
                ),
            ),
            None => page(StatusCode::OK, "App installed", &format!("The app is installed for location {} with scopes: {}.", record.location_id, record.scopes)),
        },
        Err(InstallError::NotInstallable(refused)) => {
            warn!(reason = %refused, "install refused");
            page(StatusCode::BAD_REQUEST, "Install refused", &format!("{refused}; nothing was stored. Start again from /oauth/install."))
        }
        Err(InstallError::Store(error)) => {
            warn!(error = %error, "storing the new install failed");
            page(StatusCode::INTERNAL_SERVER_ERROR, "Install failed", "The tokens could not be stored; try again.")
        }
    }
}

/// A plain HTML page; `title` and `text` are escaped.
fn page(status: StatusCode, title: &str, text: &str) -> Response {
    let (title, text) = (escape(title), escape(text));
    let body = format!("<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1><p>{text}</p></body></html>");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pages_escape_their_title_and_text() {
        let response = page(StatusCode::BAD_REQUEST, "<t>", "<script>alert('x')</script> & \"q\"");
        let body = axum::body::to_bytes(response.into_body(), 4096).await.unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(!body.contains("<script>") && !body.contains("<t>"), "{body}");
        assert!(body.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"), "{body}");
    }
}
