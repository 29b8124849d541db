//! The one client of GHL's token endpoints: `POST /oauth/token` trades an install's code, or a
//! refresh token, for a new pair (form-encoded, no bearer); `POST /oauth/locationToken` mints a
//! location's access token from an agency (Company) token. Bodies are parsed straight into
//! secrets; errors carry GHL's OAuth error name only, never a body or a token. Whose a new pair is
//! comes from GHL's answer alone ([`Granted::holder`]), never from the callback URL.

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
    /// Only for a Company token: what the agency approved.
    pub agency: AgencyGrant,
}

/// What an agency install approved (GHL's token response, Company tokens only).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgencyGrant {
    #[serde(default)]
    pub approved_locations: Vec<String>,
    #[serde(default)]
    pub install_to_future_locations: bool,
    #[serde(default)]
    pub approve_all_locations: bool,
}

/// A location access token minted from a Company token: it comes without a refresh token.
pub struct Minted {
    pub access_token: SecretString,
    pub expires_at: DateTime<Utc>,
    pub scopes: String,
    pub user_id: Option<String>,
}

/// Whose a new pair is.
#[derive(Debug, PartialEq, Eq)]
pub enum Holder {
    Location(PathId),
    /// An agency install: the company's own pair, which mints its locations' tokens.
    Company(PathId),
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
    #[error("GHL's Company token response names no valid company")]
    NoCompany,
    #[error("GHL issued a token for an unknown kind of account")]
    UnknownUserType,
}

impl Granted {
    /// Whose pair this is, taken from GHL's answer only and validated as an id, since it becomes
    /// a file name and appears on pages and in `tokens list`.
    pub fn holder(&self) -> Result<Holder, NotInstallable> {
        match self.user_type {
            Some(UserType::Company) => {
                let id = self.company_id.as_deref().filter(|id| !id.is_empty()).ok_or(NotInstallable::NoCompany)?;
                PathId::parse(id, "companyId").map(Holder::Company).map_err(|_| NotInstallable::NoCompany)
            }
            Some(UserType::Other) => Err(NotInstallable::UnknownUserType),
            // `userType` is documented as always present; a `locationId` alone is still a location token.
            Some(UserType::Location) | None => {
                let id = self.location_id.as_deref().filter(|id| !id.is_empty()).ok_or(NotInstallable::NoLocation)?;
                PathId::parse(id, "locationId").map(Holder::Location).map_err(|_| NotInstallable::InvalidLocation)
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
    #[serde(flatten)]
    agency: AgencyGrant,
}

#[derive(Deserialize)]
struct MintedBody {
    access_token: String,
    expires_in: u64,
    #[serde(default)]
    scope: String,
    #[serde(rename = "userId")]
    user_id: Option<String>,
}

/// Whose refresh token is sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Location,
    Company,
}

impl Kind {
    fn user_type(self) -> &'static str {
        match self {
            Self::Location => "Location",
            Self::Company => "Company",
        }
    }
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

    /// `authorization_code`, for a location (or, with [`Kind::Company`], an agency) installing the app.
    #[instrument(skip_all)]
    pub async fn exchange_code(&self, code: &str, kind: Kind) -> Result<Granted, GrantError> {
        self.post(&[("grant_type", "authorization_code"), ("code", code), ("user_type", kind.user_type()), ("redirect_uri", &self.config.redirect_uri)]).await
    }

    /// `refresh_token`: GHL answers a new pair and the old refresh token stops working.
    #[instrument(skip_all, fields(holder = %holder))]
    pub async fn refresh(&self, holder: &str, kind: Kind, refresh_token: &SecretString) -> Result<Granted, GrantError> {
        self.post(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token.expose_secret()), ("user_type", kind.user_type())]).await
    }

    /// `POST /oauth/locationToken` with the agency's access token. Nothing rotates, so a lost
    /// answer costs nothing: minting again gives another. `InvalidGrant` means GHL refused the
    /// Company token (401); `Rejected`, that it will not mint for this location (not installed).
    #[instrument(skip_all, fields(company = %company_id, location = %location_id))]
    pub async fn location_token(&self, company_token: &SecretString, company_id: &str, location_id: &str) -> Result<Minted, GrantError> {
        let url = format!("{}/oauth/locationToken", self.config.base_url.trim_end_matches('/'));
        let request = self
            .http
            .post(url)
            .bearer_auth(company_token.expose_secret())
            .header("Version", "2021-07-28")
            .form(&[("companyId", company_id), ("locationId", location_id)]);
        let (status, body) = answer(request).await?;
        debug!(status = status.as_u16(), "locationToken answered");
        if status.is_success() {
            let body: MintedBody = serde_json::from_slice(&body).map_err(|_| GrantError::Rejected("unreadable locationToken response".into()))?;
            return Ok(Minted {
                access_token: SecretString::from(body.access_token),
                expires_at: expiry(body.expires_in),
                scopes: body.scope,
                user_id: body.user_id,
            });
        }
        match status.as_u16() {
            401 => Err(GrantError::InvalidGrant),
            408 | 429 | 500.. => Err(GrantError::Unavailable(format!("status {status}"))),
            _ => Err(GrantError::Rejected(format!("locationToken status {status}"))),
        }
    }

    async fn post(&self, fields: &[(&str, &str)]) -> Result<Granted, GrantError> {
        let mut form = vec![("client_id", self.config.client_id.as_str()), ("client_secret", self.config.client_secret.expose_secret())];
        form.extend_from_slice(fields);
        let url = format!("{}/oauth/token", self.config.base_url.trim_end_matches('/'));
        let (status, body) = answer(self.http.post(url).form(&form)).await?;
        debug!(status = status.as_u16(), "token endpoint answered");
        if status.is_success() {
            let body: TokenBody = serde_json::from_slice(&body).map_err(|_| GrantError::Rejected("unreadable token response".into()))?;
            return Ok(Granted {
                access_token: SecretString::from(body.access_token),
                refresh_token: SecretString::from(body.refresh_token),
                expires_at: expiry(body.expires_in),
                scopes: body.scope,
                user_type: body.user_type,
                location_id: body.location_id,
                company_id: body.company_id,
                user_id: body.user_id,
                agency: body.agency,
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

/// `expires_in` seconds from now, bounded.
fn expiry(expires_in: u64) -> DateTime<Utc> {
    let expires_in = i64::try_from(expires_in).unwrap_or(i64::MAX / 1000);
    Utc::now() + chrono::Duration::seconds(expires_in.min(10 * 365 * 86_400))
}

/// GHL's status and body, read whole; a request that does not complete is `Unavailable`.
async fn answer(request: reqwest::RequestBuilder) -> Result<(reqwest::StatusCode, bytes::Bytes), GrantError> {
    let response = request.send().await.map_err(|e| GrantError::Unavailable(describe(&e)))?;
    let status = response.status();
    let body = response.bytes().await.map_err(|e| GrantError::Unavailable(describe(&e)))?;
    Ok((status, body))
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
            agency: AgencyGrant::default(),
        }
    }

    #[test]
    fn the_holder_comes_from_ghls_answer_only_and_must_be_an_id() {
        let location = |g: Granted| g.holder().map(|h| format!("{h:?}"));
        assert_eq!(location(granted(Some(UserType::Location), Some("loc-1"))), Ok("Location(PathId(\"loc-1\"))".into()));
        assert_eq!(granted(None, Some("loc-1")).holder(), granted(Some(UserType::Location), Some("loc-1")).holder());
        assert_eq!(granted(Some(UserType::Location), None).holder(), Err(NotInstallable::NoLocation));
        assert_eq!(granted(Some(UserType::Location), Some("")).holder(), Err(NotInstallable::NoLocation));
        for bad in ["../x", "a\u{1b}[2J", "<b>x</b>", "a b"] {
            assert_eq!(granted(Some(UserType::Location), Some(bad)).holder(), Err(NotInstallable::InvalidLocation), "{bad:?}");
        }
        assert!(matches!(granted(Some(UserType::Company), Some("loc-1")).holder(), Ok(Holder::Company(id)) if id.as_str() == "co"));
        let mut no_company = granted(Some(UserType::Company), None);
        no_company.company_id = Some("../co".into());
        assert_eq!(no_company.holder(), Err(NotInstallable::NoCompany));
        assert_eq!(granted(Some(UserType::Other), Some("loc-1")).holder(), Err(NotInstallable::UnknownUserType));
    }

    #[test]
    fn user_types_parse_and_unknown_ones_do_not_break_the_body() {
        let parse = |raw: &str| serde_json::from_str::<UserType>(raw).ok();
        assert_eq!(parse("\"Location\""), Some(UserType::Location));
        assert_eq!(parse("\"Company\""), Some(UserType::Company));
        assert_eq!(parse("\"Planet\""), Some(UserType::Other));
    }
}
