//! Why an OAuth-mode request has no usable token; mapped once into the GraphQL error codes.

use crate::error::AppError;
use crate::highlevel::{GhlError, GhlErrorKind, Unavailability};

use super::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("location `{location}` has not installed the app: install it at {install_url}")]
    NotInstalled { location: String, install_url: String },
    #[error("GHL refused to refresh the token of location `{location}`, a location-level install with no agency token to recover it from: reinstall the app at {install_url}")]
    NeedsReinstall { location: String, install_url: String },
    /// The agency's own pair was refused: none of its locations can be minted until it installs again.
    #[error(
        "GHL refused the agency token of company `{company}`, which location `{location}` is minted from: the agency must reinstall the app at {install_url}"
    )]
    AgencyNeedsReinstall { company: String, location: String, install_url: String },
    /// GHL's token endpoint could not be reached or answered 5xx; the pair on disk is unchanged.
    #[error("GHL's token endpoint is unavailable: {0}")]
    Unavailable(String),
    /// GHL refused our client credentials or sent something unreadable: a configuration problem.
    #[error("GHL's token endpoint refused the request: {0}")]
    Rejected(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<OAuthError> for AppError {
    fn from(error: OAuthError) -> Self {
        match error {
            OAuthError::NotInstalled { .. } | OAuthError::NeedsReinstall { .. } | OAuthError::AgencyNeedsReinstall { .. } => {
                AppError::Unauthenticated(error.to_string())
            }
            OAuthError::Unavailable(_) => AppError::Upstream(GhlError::new(GhlErrorKind::Unavailable { reason: Unavailability::ServerError })),
            OAuthError::Rejected(_) | OAuthError::Store(_) => {
                tracing::error!(error = %error, "OAuth token unavailable");
                AppError::Internal
            }
        }
    }
}
