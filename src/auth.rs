//! Who the subgraph calls GHL as, for each request.
//!
//! `static`: one configured token (a GHL private integration token) for one location.
//! `forward`: the caller's own `Authorization: Bearer` goes to GHL, for the location named in
//! `x-ghl-location-id`; its scopes are unknown, so GHL's answers decide.
//! `oauth`: the app's own token pair for the location in `x-ghl-location-id`, which the caller's
//! API key must be allowed to reach; tokens refresh themselves (`oauth::TokenManager`).

use axum::http::{header::AUTHORIZATION, HeaderMap};
use std::sync::Arc;

use secrecy::SecretString;

use crate::callers::CallerKeys;
use crate::error::AppError;
use crate::oauth::TokenManager;
use crate::highlevel::{PathId, Tenant};

/// The header naming the GHL location in `forward` mode.
pub const LOCATION_HEADER: &str = "x-ghl-location-id";

#[derive(Clone, Debug)]
pub enum Auth {
    Static(Tenant),
    Forward,
    OAuth(OAuthAuth),
}

/// OAuth app mode: the stored pairs, and which caller may reach which location.
#[derive(Clone)]
pub struct OAuthAuth {
    pub tokens: Arc<TokenManager>,
    pub callers: Arc<CallerKeys>,
}

impl std::fmt::Debug for OAuthAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthAuth").field("callers", &self.callers).finish_non_exhaustive()
    }
}

impl Auth {
    /// The tenant of a request; an error (not a panic, not a 500) when the caller is unidentified.
    /// Async because an OAuth tenant may first need its token refreshed.
    pub async fn tenant_for(&self, headers: &HeaderMap) -> Result<Tenant, AppError> {
        match self {
            Self::Static(tenant) => Ok(tenant.clone()),
            Self::OAuth(oauth) => {
                let location = location_of(headers)?;
                // Checked before any token is touched, so a refused caller causes no upstream call.
                if !oauth.callers.may_reach(headers, location.as_str()) {
                    return Err(AppError::Forbidden(format!("this API key may not reach location `{}`", location.as_str())));
                }
                Ok(oauth.tokens.tenant(location.as_str()).await?)
            }
            Self::Forward => {
                let token = headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(bearer_token)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| AppError::Unauthenticated("send the GHL access token as `Authorization: Bearer <token>`".into()))?;
                let location = location_of(headers)?;
                Ok(Tenant::forwarded(location.as_str(), SecretString::from(token.to_owned())))
            }
        }
    }
}

/// The location named in `x-ghl-location-id`, checked to be a valid GHL id.
/// The token of an `Authorization: Bearer …` value; the scheme is case-insensitive (RFC 9110).
fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn location_of(headers: &HeaderMap) -> Result<PathId, AppError> {
    let location = headers
        .get(LOCATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| AppError::Unauthenticated(format!("send the GHL location id in the `{LOCATION_HEADER}` header")))?;
    PathId::parse(location.trim(), "x-ghl-location-id").map_err(|_| AppError::BadUserInput(format!("`{LOCATION_HEADER}` is not a valid GHL location id")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn forward_mode_needs_a_bearer_token_and_a_location() {
        let mut headers = HeaderMap::new();
        assert!(matches!(Auth::Forward.tenant_for(&headers).await, Err(AppError::Unauthenticated(_))));
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(matches!(Auth::Forward.tenant_for(&headers).await, Err(AppError::Unauthenticated(_))));
        headers.insert(LOCATION_HEADER, "../etc".parse().unwrap());
        assert!(matches!(Auth::Forward.tenant_for(&headers).await, Err(AppError::BadUserInput(_))));
        headers.insert(LOCATION_HEADER, "loc-1".parse().unwrap());
        let tenant = Auth::Forward.tenant_for(&headers).await.unwrap();
        assert_eq!(tenant.location_id(), "loc-1");
        assert!(tenant.scopes().is_none());
    }
}
