//! The one client of GHL's `POST /oauth/token`: trades an install's code, or a refresh token, for
//! a new pair. Form-encoded, no bearer. Bodies are parsed straight into secrets; errors carry
//! GHL's OAuth error name only, never a body or a token. Which location a new pair is for comes
//! from GHL's answer alone ([`Granted::location`]), never from the callback URL.

use std::time::Duration;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tracing::{debug, instrument};

use crate::highlevel::PathId;

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
    pub user_type: Option<UserType>,
    pub location_id: Option<String>,
    pub company_id: Option<String>,
    pub user_id: Option<String>,
}

/// GHL's `userType`: whose token this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum UserType {
    /// A sub-account (location) token: `locationId` names it.
    Location,
    /// An agency token: no `locationId`, it acts for the company.
    Company,
    /// A kind GHL may add later; nothing is installed for it.
    #[serde(other)]
    Other,
}

/// Why a code exchange's answer cannot become an install. Nothing is stored for any of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotInstallable {
    #[error("GHL's token response names no location")]
    NoLocation,
    #[error("GHL's token response names a location whose id is not valid")]
    InvalidLocation,
    #[error("GHL issued an agency (Company) token: agency installs are not supported yet")]
    Agency,
    #[error("GHL issued a token for an unknown kind of account")]
    UnknownUserType,
}

impl Granted {
    /// The location this pair is for, taken from GHL's answer only and validated as an id, since
    /// it becomes a file name and appears on pages and in `tokens list`.
    pub fn location(&self) -> Result<PathId, NotInstallable> {
        match self.user_type {
            Some(UserType::Company) => Err(NotInstallable::Agency),
            Some(UserType::Other) => Err(NotInstallable::UnknownUserType),
            // `userType` is documented as always present; a `locationId` alone is still a location token.
            Some(UserType::Location) | None => {
                let id = self.location_id.as_deref().filter(|id| !id.is_empty()).ok_or(NotInstallable::NoLocation)?;
                PathId::parse(id, "locationId").map_err(|_| NotInstallable::InvalidLocation)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GrantError {
    /// `invalid_grant`: the code or refresh token is used, expired or revoked.
    #[error("GHL refused the grant (invalid_grant)")]
    InvalidGrant,
    /// `invalid_client` (or a 401): the app's client id or secret is wrong. A configuration
    /// problem: retrying cannot help.
    #[error("GHL rejected the app's client credentials (invalid_client): check GHL_CLIENT_ID / GHL_CLIENT_SECRET")]
    InvalidClient,
    /// Our request is wrong in some other way; no location is to blame.
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
    #[serde(rename = "userType")]
    user_type: Option<UserType>,
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
        let http = reqwest::Client::builder().timeout(config.timeout).user_agent(concat!("ghl-subgraph/", env!("CARGO_PKG_VERSION"))).build()?;
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
                user_type: body.user_type,
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
        } else if error == "invalid_client" || status.as_u16() == 401 {
            Err(GrantError::InvalidClient)
        } else {
            Err(GrantError::Rejected(format!(
                "status {status}, error `{}`",
                error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>()
            )))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(user_type: Option<UserType>, location_id: Option<&str>) -> Granted {
        Granted {
            access_token: SecretString::from("at"),
            refresh_token: SecretString::from("rt"),
            expires_at: Utc::now(),
            scopes: String::new(),
            user_type,
            location_id: location_id.map(str::to_owned),
            company_id: Some("co".into()),
            user_id: None,
        }
    }

    #[test]
    fn the_location_comes_from_a_location_token_only_and_must_be_an_id() {
        assert_eq!(granted(Some(UserType::Location), Some("loc-1")).location().map(|l| l.to_string()), Ok("loc-1".into()));
        assert_eq!(granted(None, Some("loc-1")).location().map(|l| l.to_string()), Ok("loc-1".into()));
        assert_eq!(granted(Some(UserType::Location), None).location(), Err(NotInstallable::NoLocation));
        assert_eq!(granted(Some(UserType::Location), Some("")).location(), Err(NotInstallable::NoLocation));
        for bad in ["../x", "a\u{1b}[2J", "<b>x</b>", "a b"] {
            assert_eq!(granted(Some(UserType::Location), Some(bad)).location(), Err(NotInstallable::InvalidLocation), "{bad:?}");
        }
        assert_eq!(granted(Some(UserType::Company), Some("loc-1")).location(), Err(NotInstallable::Agency));
        assert_eq!(granted(Some(UserType::Other), Some("loc-1")).location(), Err(NotInstallable::UnknownUserType));
    }

    #[test]
    fn user_types_parse_and_unknown_ones_do_not_break_the_body() {
        let parse = |raw: &str| serde_json::from_str::<UserType>(raw).ok();
        assert_eq!(parse("\"Location\""), Some(UserType::Location));
        assert_eq!(parse("\"Company\""), Some(UserType::Company));
        assert_eq!(parse("\"Planet\""), Some(UserType::Other));
    }
}
