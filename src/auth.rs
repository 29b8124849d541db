//! Who the subgraph calls GHL as, for each request.
//!
//! `static`: one configured token (a GHL private integration token) for one location.
//! `forward`: the caller's own `Authorization: Bearer` goes to GHL, for the location named in
//! `x-ghl-location-id`; its scopes are unknown, so GHL's answers decide.
//! `oauth`: the app's own token pair for the location in `x-ghl-location-id`, from a
//! [`TokenSource`] (the OAuth token manager, which refreshes itself).
//! In every mode an API key scoped to locations must reach the request's location. What the
//! request presents arrives as [`Credentials`]; this module reads no HTTP and knows no OAuth.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{header::AUTHORIZATION, HeaderMap};
use secrecy::{ExposeSecret, SecretString};

use crate::callers::{CallerKeys, API_KEY_HEADER};
use crate::error::AppError;
use crate::highlevel::{PathId, Tenant};

/// The header naming the GHL location in `forward` and `oauth` mode.
pub const LOCATION_HEADER: &str = "x-ghl-location-id";

/// What a request presents about who it is: read from HTTP headers now, from a WebSocket
/// `connection_init` payload later. Nothing here is checked yet.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The token of `Authorization: Bearer …`.
    pub bearer: Option<SecretString>,
    /// `x-ghl-location-id`, as sent.
    pub location: Option<String>,
    /// `x-api-key`, trimmed.
    pub api_key: Option<SecretString>,
}

impl Credentials {
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        Self {
            bearer: text(AUTHORIZATION.as_str()).and_then(bearer_token).filter(|t| !t.is_empty()).map(|t| SecretString::from(t.to_owned())),
            location: text(LOCATION_HEADER).map(str::to_owned),
            api_key: text(API_KEY_HEADER).map(str::trim).filter(|k| !k.is_empty()).map(|k| SecretString::from(k.to_owned())),
        }
    }

    /// The presented API key, for [`CallerKeys`].
    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_ref().map(ExposeSecret::expose_secret)
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer", &self.bearer.is_some())
            .field("location", &self.location)
            .field("api_key", &self.api_key.is_some())
            .finish()
    }
}

/// A future a [`TokenSource`] answers with.
pub type TenantFuture<'a> = Pin<Box<dyn Future<Output = Result<Tenant, AppError>> + Send + 'a>>;

/// Where the tenants of `oauth` mode come from (implemented by `oauth::TokenManager`). Methods
/// take `Arc<Self>` because a refresh runs on its own task, which outlives the request.
pub trait TokenSource: Send + Sync {
    /// The tenant of `location`, its token refreshed first when it is about to expire.
    fn tenant<'a>(self: Arc<Self>, location: &'a str) -> TenantFuture<'a>;
    /// After GHL refused `rejected`'s token: a refreshed tenant (or another request's refresh).
    fn refresh_after_rejection<'a>(self: Arc<Self>, rejected: &'a Tenant) -> TenantFuture<'a>;
}

/// Who requests act as in GHL.
#[derive(Clone, Debug)]
#[allow(clippy::enum_variant_names)] // `OAuth` is the protocol's name, not a repeat of `Auth`.
pub enum Auth {
    Static(Tenant),
    Forward,
    OAuth(OAuthAuth),
}

/// OAuth app mode: the stored pairs, one per installed location.
#[derive(Clone)]
pub struct OAuthAuth {
    pub tokens: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for OAuthAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAuth").finish_non_exhaustive()
    }
}

impl Auth {
    /// The tenant of a request; an error (not a panic, not a 500) when the caller is unidentified
    /// or its API key may not reach the location. The key is checked before any token is touched,
    /// so a refused caller causes no upstream call. Async because an OAuth tenant may first need
    /// its token refreshed.
    pub async fn tenant_for(&self, credentials: &Credentials, callers: &CallerKeys) -> Result<Tenant, AppError> {
        let reaches = |location: &str| match callers.may_reach(credentials.api_key(), location) {
            true => Ok(()),
            false => Err(AppError::Forbidden(format!("this API key may not reach location `{location}`"))),
        };
        match self {
            Self::Static(tenant) => {
                reaches(tenant.location_id())?;
                Ok(tenant.clone())
            }
            Self::OAuth(oauth) => {
                let location = location_of(credentials)?;
                reaches(location.as_str())?;
                oauth.tokens.clone().tenant(location.as_str()).await
            }
            Self::Forward => {
                let token = credentials
                    .bearer
                    .clone()
                    .ok_or_else(|| AppError::Unauthenticated("send the GHL access token as `Authorization: Bearer <token>`".into()))?;
                let location = location_of(credentials)?;
                reaches(location.as_str())?;
                Ok(Tenant::forwarded(location.as_str(), token))
            }
        }
    }
}

/// The token of an `Authorization: Bearer …` value; the scheme is case-insensitive (RFC 9110).
pub fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The location named in `x-ghl-location-id`, checked to be a valid GHL id.
fn location_of(credentials: &Credentials) -> Result<PathId, AppError> {
    let location =
        credentials.location.as_deref().ok_or_else(|| AppError::Unauthenticated(format!("send the GHL location id in the `{LOCATION_HEADER}` header")))?;
    PathId::parse(location.trim(), "x-ghl-location-id").map_err(|_| AppError::BadUserInput(format!("`{LOCATION_HEADER}` is not a valid GHL location id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn forward(headers: &HeaderMap) -> Result<Tenant, AppError> {
        Auth::Forward.tenant_for(&Credentials::from_headers(headers), &CallerKeys::default()).await
    }

    #[tokio::test]
    async fn forward_mode_needs_a_bearer_token_and_a_location() {
        let mut headers = HeaderMap::new();
        assert!(matches!(forward(&headers).await, Err(AppError::Unauthenticated(_))));
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(matches!(forward(&headers).await, Err(AppError::Unauthenticated(_))));
        headers.insert(LOCATION_HEADER, "../etc".parse().unwrap());
        assert!(matches!(forward(&headers).await, Err(AppError::BadUserInput(_))));
        headers.insert(LOCATION_HEADER, "loc-1".parse().unwrap());
        let tenant = forward(&headers).await.unwrap();
        assert_eq!(tenant.location_id(), "loc-1");
        assert!(tenant.scopes().is_none());
    }

    #[tokio::test]
    async fn a_scoped_key_is_refused_for_another_location_in_every_mode() {
        let keys: CallerKeys = "key-a-0123456789abcdef=loc-1".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(API_KEY_HEADER, "key-a-0123456789abcdef".parse().unwrap());
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        headers.insert(LOCATION_HEADER, "loc-2".parse().unwrap());
        let credentials = Credentials::from_headers(&headers);
        let static_auth = Auth::Static(Tenant::forwarded("loc-2", SecretString::from("t".to_owned())));
        assert!(matches!(static_auth.tenant_for(&credentials, &keys).await, Err(AppError::Forbidden(_))));
        assert!(matches!(Auth::Forward.tenant_for(&credentials, &keys).await, Err(AppError::Forbidden(_))));
    }
}
