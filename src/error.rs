//! The one error type of the GraphQL edge and its single mapping to GraphQL errors.
//!
//! Codes are stable SCREAMING_SNAKE strings in `extensions.code`; upstream failures add
//! `extensions.upstream` (status, method, path template). Messages are our own words: never an
//! upstream body, a URL with credentials, or a token.

use async_graphql::indexmap::IndexMap;
use async_graphql::{ErrorExtensionValues, Name, Value};

use crate::highlevel::{GhlError, GhlErrorKind};

#[derive(Clone, Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Upstream(#[from] GhlError),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    NotFound(String),
    /// A bug on our side; the message is generic on purpose.
    #[error("internal error")]
    Internal,
}

impl AppError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated(_) => "UNAUTHENTICATED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Internal => "INTERNAL",
            Self::Upstream(e) => match e.kind {
                GhlErrorKind::InvalidId { .. } | GhlErrorKind::Rejected { .. } => "BAD_USER_INPUT",
                GhlErrorKind::NotFound => "NOT_FOUND",
                GhlErrorKind::Unauthenticated => "UNAUTHENTICATED",
                GhlErrorKind::MissingScope | GhlErrorKind::Forbidden => "FORBIDDEN",
                GhlErrorKind::RateLimited { .. } => "RATE_LIMITED",
                GhlErrorKind::Unavailable { .. } | GhlErrorKind::InvalidResponse => "UPSTREAM_UNAVAILABLE",
            },
        }
    }
}

/// What resolvers return as their error: an [`AppError`] on its way to the client.
///
/// It deliberately has no `Display`, so that the only conversion to `async_graphql::Error` is ours
/// (async-graphql's blanket `From<impl Display>` would silently drop the code).
#[derive(Clone, Debug)]
pub struct FieldError(pub AppError);

impl From<AppError> for FieldError {
    fn from(error: AppError) -> Self {
        Self(error)
    }
}

impl From<GhlError> for FieldError {
    fn from(error: GhlError) -> Self {
        Self(AppError::Upstream(error))
    }
}

impl From<FieldError> for async_graphql::Error {
    fn from(FieldError(error): FieldError) -> Self {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", error.code());
        if let AppError::Upstream(GhlError { kind, call }) = &error {
            if let Some(call) = call {
                let mut upstream = IndexMap::new();
                upstream.insert(Name::new("method"), Value::from(call.method));
                upstream.insert(Name::new("path"), Value::from(call.path));
                if let Some(status) = call.status {
                    upstream.insert(Name::new("status"), Value::from(status));
                }
                extensions.set("upstream", Value::Object(upstream));
            }
            if let GhlErrorKind::RateLimited { retry_after: Some(wait) } = kind {
                extensions.set("retryAfterMs", u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            }
        }
        async_graphql::Error { message: error.to_string(), source: None, extensions: Some(extensions) }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The result type of every resolver.
pub type FieldResult<T> = Result<T, FieldError>;
