//! The one client of GHL's `POST /oauth/token`: trades an install's code, or a refresh token, for
//! a new pair. Form-encoded, no bearer. Bodies are parsed straight into secrets; errors carry
//! GHL's OAuth error name only, never a body or a token.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{debug, instrument};

/// Where and as whom to ask for tokens.
#[derive(Clone, Debug)]
pub struct GrantConfig {
    /// GHL API base (the token endpoint is `{base_url}/oauth/token`).
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretString,
    pub redirect_uri: String,
    pub timeout: Duration,
}

#[derive(Clone)]
pub struct GrantClient {
    http: reqwest::Client,
    config: GrantConfig,
}

/// A fresh pair and what it is for.
pub struct Granted {
    pub access_token: SecretString,
    pub refresh_token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub scopes: String,
    pub location_id: Option<String>,
    pub company_id: Option<String>,
    pub user_id: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// `invalid_grant`: the code or refresh token is used, expired or revoked.
    #[error("GHL refused the grant (invalid_grant)")]
    InvalidGrant,
    /// Our client credentials or request are wrong; no location is to blame.
    #[error("GHL refused the token request ({0})")]
    Rejected(String),
    #[error("GHL's token endpoint is unavailable ({0})")]
    Unavailable(String),
}

#[derive(Deserialize)]
struct TokenBody {
    access_token: String,
    refresh_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: String,
    #[serde(rename = "locationId")]
    location_id: Option<String>,
    #[serde(rename = "companyId")]
    company_id: Option<String>,
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: Option<String>,
}

impl GrantClient {
    pub fn new(config: GrantConfig) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .user_agent(concat!("ghl-subgraph/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, config })
    }

    /// `authorization_code`, for a location installing the app.
    #[instrument(skip_all)]
    pub async fn exchange_code(&self, code: &str) -> Result<Granted, GrantError> {
        self.post(&[("grant_type", "authorization_code"), ("code", code), ("user_type", "Location"), ("redirect_uri", &self.config.redirect_uri)]).await
    }

    /// `refresh_token`: GHL answers a new pair and the old refresh token stops working.
    #[instrument(skip_all, fields(location = %location))]
    pub async fn refresh(&self, location: &str, refresh_token: &SecretString) -> Result<Granted, GrantError> {
        self.post(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret()), ("user_type", "Location")]).await
    }

    async fn post(&self, fields: &[(&str, &str)]) -> Result<Granted, GrantError> {
        let mut form = vec![("client_id", self.config.client_id.as_str()), ("client_secret", self.config.client_secret.expose_secret())];
        form.extend_from_slice(fields);
        let url = format!("{}/oauth/token", self.config.base_url.trim_end_matches('/'));
        let response = self.http.post(url).form(&form).send().await.map_err(|e| GrantError::Unavailable(describe(&e)))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| GrantError::Unavailable(describe(&e)))?;
        debug!(status = status.as_u16(), "token endpoint answered");
        if status.is_success() {
            let body: TokenBody = serde_json::from_slice(&body).map_err(|_| GrantError::Rejected("unreadable token response".into()))?;
            let expires_in = i64::try_from(body.expires_in).unwrap_or(i64::MAX / 1000);
            return Ok(Granted {
                access_token: SecretString::from(body.access_token),
                refresh_token: SecretString::from(body.refresh_token),
                expires_at: Utc::now() + chrono::Duration::seconds(expires_in.min(10 * 365 * 86_400)),
                scopes: body.scope,
                location_id: body.location_id,
                company_id: body.company_id,
                user_id: body.user_id,
            });
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(GrantError::Unavailable(format!("status {status}")));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body).ok().and_then(|b| b.error).unwrap_or_default();
        if error == "invalid_grant" {
            Err(GrantError::InvalidGrant)
        } else {
            Err(GrantError::Rejected(format!("status {status}, error `{}`", error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>())))
        }
    }
}

/// A reqwest error without its URL (which is ours, but keep errors free of anything that could vary).
fn describe(error: &reqwest::Error) -> String {
    if error.is_timeout() {
        "timeout".into()
    } else if error.is_connect() {
        "connection failed".into()
    } else {
        "connection lost".into()
    }
}
