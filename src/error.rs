//! The registry of stable error codes ([`ErrorCode`]), the one error type of the GraphQL edge
//! ([`AppError`]), and the two ways out: a GraphQL error (`extensions.code`) and an HTTP refusal
//! ([`Refusal`], a GraphQL-shaped body). Nothing else writes a code.
//!
//! Upstream failures add `extensions.upstream` (status, method, path template). Messages are our
//! own words: never an upstream body, a URL with credentials, or a token.

use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::{ErrorExtensionValues, Name, ServerError, Value};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::highlevel::{GhlError, GhlErrorKind};

/// Every code a client can see in `extensions.code`. The names are a public contract (README
/// lists them, a test checks both ways): add codes, never rename one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No or a bad API key, or GHL refused the token.
    Unauthenticated,
    /// The token lacks a scope, or the API key may not reach the location.
    Forbidden,
    NotFound,
    BadUserInput,
    RateLimited,
    UpstreamUnavailable,
    /// A bug on our side.
    Internal,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    /// No operation to run: several without `operationName`, or an unknown name.
    OperationResolutionFailure,
    OperationLimit,
    IntrospectionDisabled,
    PersistedQueryNotFound,
    PersistedQueryNotSupported,
    PersistedQueryHashMismatch,
    PersistedQueryNotInSafelist,
    CsrfPrevention,
    PayloadTooLarge,
    HostNotAllowed,
    /// A malformed HTTP request: not JSON, no `query`, a bad batch.
    BadRequest,
    /// A subscriber fell behind its bounded queue and was ended.
    SlowConsumer,
    /// The caller (or the server) holds as many subscriptions as it may.
    TooManySubscriptions,
    /// The server holds as many import jobs as it may.
    TooManyImports,
}

impl ErrorCode {
    pub const ALL: [Self; 23] = [
        Self::Unauthenticated,
        Self::Forbidden,
        Self::NotFound,
        Self::BadUserInput,
        Self::RateLimited,
        Self::UpstreamUnavailable,
        Self::Internal,
        Self::GraphqlParseFailed,
        Self::GraphqlValidationFailed,
        Self::OperationResolutionFailure,
        Self::OperationLimit,
        Self::IntrospectionDisabled,
        Self::PersistedQueryNotFound,
        Self::PersistedQueryNotSupported,
        Self::PersistedQueryHashMismatch,
        Self::PersistedQueryNotInSafelist,
        Self::CsrfPrevention,
        Self::PayloadTooLarge,
        Self::HostNotAllowed,
        Self::BadRequest,
        Self::SlowConsumer,
        Self::TooManySubscriptions,
        Self::TooManyImports,
    ];

    /// The stable name clients switch on.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::RateLimited => "RATE_LIMITED",
            Self::UpstreamUnavailable => "UPSTREAM_UNAVAILABLE",
            Self::Internal => "INTERNAL",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::OperationResolutionFailure => "OPERATION_RESOLUTION_FAILURE",
            Self::OperationLimit => "OPERATION_LIMIT",
            Self::IntrospectionDisabled => "INTROSPECTION_DISABLED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotSupported => "PERSISTED_QUERY_NOT_SUPPORTED",
            Self::PersistedQueryHashMismatch => "PERSISTED_QUERY_HASH_MISMATCH",
            Self::PersistedQueryNotInSafelist => "PERSISTED_QUERY_NOT_IN_SAFELIST",
            Self::CsrfPrevention => "CSRF_PREVENTION",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::HostNotAllowed => "HOST_NOT_ALLOWED",
            Self::BadRequest => "BAD_REQUEST",
            Self::SlowConsumer => "SLOW_CONSUMER",
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::TooManyImports => "TOO_MANY_IMPORTS",
        }
    }

    /// The HTTP status of a refusal with this code, for the codes that refuse a whole HTTP
    /// request; the others travel in a GraphQL response (200, or 400 for a request error).
    pub const fn http_status(self) -> Option<StatusCode> {
        match self {
            Self::Unauthenticated => Some(StatusCode::UNAUTHORIZED),
            Self::CsrfPrevention | Self::BadRequest => Some(StatusCode::BAD_REQUEST),
            Self::PayloadTooLarge => Some(StatusCode::PAYLOAD_TOO_LARGE),
            Self::HostNotAllowed => Some(StatusCode::FORBIDDEN),
            _ => None,
        }
    }

    /// A request error with this code (no path: nothing ran).
    pub fn server_error(self, message: impl Into<String>) -> ServerError {
        let mut error = ServerError::new(message, None);
        error.extensions = Some(self.extensions());
        error
    }

    /// `error` with this code, unless it already carries one.
    pub fn fill_in(self, mut error: ServerError) -> ServerError {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        if extensions.get("code").is_none() {
            extensions.set("code", self.as_str());
        }
        error
    }

    fn extensions(self) -> ErrorExtensionValues {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", self.as_str());
        extensions
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

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
    #[error("{0}")]
    SlowConsumer(String),
    #[error("{0}")]
    TooManySubscriptions(String),
    #[error("{0}")]
    TooManyImports(String),
}

impl AppError {
    /// The stable code clients switch on.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unauthenticated(_) => ErrorCode::Unauthenticated,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::BadUserInput(_) => ErrorCode::BadUserInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::Internal => ErrorCode::Internal,
            Self::SlowConsumer(_) => ErrorCode::SlowConsumer,
            Self::TooManySubscriptions(_) => ErrorCode::TooManySubscriptions,
            Self::TooManyImports(_) => ErrorCode::TooManyImports,
            Self::Upstream(e) => match e.kind {
                GhlErrorKind::InvalidId { .. } | GhlErrorKind::Rejected { .. } => ErrorCode::BadUserInput,
                GhlErrorKind::NotFound => ErrorCode::NotFound,
                GhlErrorKind::Unauthenticated => ErrorCode::Unauthenticated,
                GhlErrorKind::MissingScope | GhlErrorKind::Forbidden => ErrorCode::Forbidden,
                GhlErrorKind::RateLimited { .. } | GhlErrorKind::Throttled { .. } | GhlErrorKind::DailyBudgetExhausted { .. } => ErrorCode::RateLimited,
                GhlErrorKind::Unavailable { .. } | GhlErrorKind::InvalidResponse => ErrorCode::UpstreamUnavailable,
            },
        }
    }

    /// True when GHL refused the access token itself (invalid or expired; a missing scope is
    /// `FORBIDDEN`, and our own `UNAUTHENTICATED` refusals are not GHL's).
    pub fn is_rejected_token(&self) -> bool {
        matches!(self, Self::Upstream(GhlError { kind: GhlErrorKind::Unauthenticated, .. }))
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

/// The one conversion of an [`AppError`] to a GraphQL error. The `AppError` stays attached as the
/// error's `source`, so code after execution (re-authentication) asks for the typed error
/// (`ServerError::source::<AppError>()`) instead of reading our own serialized code back.
impl From<FieldError> for async_graphql::Error {
    fn from(FieldError(error): FieldError) -> Self {
        let mut extensions = error.code().extensions();
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
            if let Some(wait) = kind.retry_after() {
                extensions.set("retryAfterMs", u64::try_from(wait.as_millis()).unwrap_or(u64::MAX));
            }
        }
        let message = error.to_string();
        async_graphql::Error { message, source: Some(Arc::new(error)), extensions: Some(extensions) }
    }
}

pub type AppResult<T> = Result<T, AppError>;

/// The result type of every resolver.
pub type FieldResult<T> = Result<T, FieldError>;

/// An HTTP request refused before anything ran: a status, a code and a message, answered as a
/// GraphQL response with one error and no `data`. Every guard and malformed-request answer uses it.
#[derive(Debug)]
pub struct Refusal {
    status: StatusCode,
    error: ServerError,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Refusal {
    /// A refusal with the code's own status (400 for a code that has none).
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { status: code.http_status().unwrap_or(StatusCode::BAD_REQUEST), error: code.server_error(message), headers: Vec::new() }
    }

    /// The same refusal with another status (e.g. 415 or 405 for a `BAD_REQUEST`).
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Adds a response header (`WWW-Authenticate`, `Allow`, `Connection: close`).
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The response, its body written as `content_type` (the negotiated GraphQL media type).
    pub fn into_response_as(self, content_type: &'static str) -> Response {
        let body = serde_json::json!({ "errors": [self.error] });
        let mut response = (self.status, [(header::CONTENT_TYPE, content_type)], body.to_string()).into_response();
        response.headers_mut().extend(self.headers);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_screaming_snake_names() {
        let names: std::collections::HashSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(names.len(), ErrorCode::ALL.len());
        assert!(names.iter().all(|n| n.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')), "{names:?}");
    }

    #[test]
    fn a_graphql_error_carries_the_code_and_the_typed_source() {
        let error = async_graphql::Error::from(FieldError(AppError::Forbidden("no".into()))).into_server_error(Default::default());
        assert_eq!(error.extensions.as_ref().and_then(|e| e.get("code")), Some(&Value::from("FORBIDDEN")));
        assert!(matches!(error.source::<AppError>(), Some(AppError::Forbidden(_))));
    }

    #[test]
    fn a_refusal_is_a_graphql_shaped_body_with_its_status() {
        let response = Refusal::new(ErrorCode::PayloadTooLarge, "too big").into_response_as("application/json");
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
    }
}
