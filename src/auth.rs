//! Who the subgraph calls GHL as, for each request.
//!
//! `static`: one configured token (a GHL private integration token) for one location.
//! `forward`: the caller's own `Authorization: Bearer` goes to GHL, for the location named in
//! `x-ghl-location-id`; its scopes are unknown, so GHL's answers decide.

use axum::http::{header::AUTHORIZATION, HeaderMap};
use secrecy::SecretString;

use crate::error::AppError;
use crate::highlevel::{PathId, Tenant};

/// The header naming the GHL location in `forward` mode.
pub const LOCATION_HEADER: &str = "x-ghl-location-id";

#[derive(Clone, Debug)]
pub enum Auth {
    Static(Tenant),
    Forward,
}

impl Auth {
    /// The tenant of a request; an error (not a panic, not a 500) when the caller is unidentified.
    pub fn tenant_for(&self, headers: &HeaderMap) -> Result<Tenant, AppError> {
        match self {
            Self::Static(tenant) => Ok(tenant.clone()),
            Self::Forward => {
                let token = headers
                    .get(AUTHORIZATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| AppError::Unauthenticated("send the GHL access token as `Authorization: Bearer <token>`".into()))?;
                let location = headers
                    .get(LOCATION_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| AppError::Unauthenticated(format!("send the GHL location id in the `{LOCATION_HEADER}` header")))?;
                let location = PathId::parse(location.trim(), "x-ghl-location-id")
                    .map_err(|_| AppError::BadUserInput(format!("`{LOCATION_HEADER}` is not a valid GHL location id")))?;
                Ok(Tenant::new(location.as_str(), SecretString::from(token.to_owned()), None))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forward_mode_needs_a_bearer_token_and_a_location() {
        let mut headers = HeaderMap::new();
        assert!(matches!(Auth::Forward.tenant_for(&headers), Err(AppError::Unauthenticated(_))));
        headers.insert(AUTHORIZATION, "Bearer abc".parse().unwrap());
        assert!(matches!(Auth::Forward.tenant_for(&headers), Err(AppError::Unauthenticated(_))));
        headers.insert(LOCATION_HEADER, "../etc".parse().unwrap());
        assert!(matches!(Auth::Forward.tenant_for(&headers), Err(AppError::BadUserInput(_))));
        headers.insert(LOCATION_HEADER, "loc-1".parse().unwrap());
        let tenant = Auth::Forward.tenant_for(&headers).unwrap();
        assert_eq!(tenant.location_id(), "loc-1");
        assert!(tenant.scopes().is_none());
    }
}
