//! The one error enum of the sandbox's HTTP API and its mapping to GHL's (NestJS) error bodies:
//! `{"statusCode": N, "message": "..."}`, with `message` an array for 422. OAuth errors use the
//! RFC 6749 shape `{"error": "...", "error_description": "..."}` instead.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::reply;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// Missing, unknown or expired bearer token.
    #[error("Invalid JWT")]
    InvalidToken,
    #[error("version header was not found.")]
    MissingVersion,
    #[error("version header is invalid")]
    InvalidVersion,
    #[error("The token is not authorized for this scope.")]
    MissingScope,
    /// The resource, or a `locationId` in the request, belongs to another location.
    #[error("The token does not have access to this location.")]
    WrongLocation,
    /// An id GHL cannot find: GHL answers 400 (not 404) with e.g. `Contact not found`.
    #[error("{0}")]
    NotFound(&'static str),
    /// A body that is not JSON, or a request GHL refuses with 400.
    #[error("{0}")]
    BadRequest(String),
    /// `POST /contacts/` with the email or phone of an existing contact.
    #[error("This location does not allow duplicated contacts.")]
    Duplicate { contact_id: String, contact_name: Option<String>, matching_field: &'static str },
    /// Validation failures, one message per problem (class-validator wording).
    #[error("Unprocessable Entity: {0:?}")]
    Unprocessable(Vec<String>),
    #[error("Too Many Requests")]
    RateLimited,
    /// No route: NestJS's `Cannot GET /x`.
    #[error("Cannot {method} {path}")]
    NoRoute { method: String, path: String },
    /// A status injected by a fault.
    #[error("injected status {0}")]
    Injected(StatusCode),
    /// `POST /oauth/token` and `/oauth/chooselocation` refusals.
    #[error("{error}: {description}")]
    OAuth { status: StatusCode, error: &'static str, description: String },
}

impl ApiError {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Self::InvalidToken | Self::MissingVersion | Self::InvalidVersion | Self::MissingScope => StatusCode::UNAUTHORIZED,
            Self::WrongLocation => StatusCode::FORBIDDEN,
            Self::NotFound(_) | Self::BadRequest(_) | Self::Duplicate { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::NoRoute { .. } => StatusCode::NOT_FOUND,
            Self::Injected(status) | Self::OAuth { status, .. } => *status,
        }
    }

    /// One 422 message.
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::Unprocessable(vec![message.into()])
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let code = status.as_u16();
        let body = match &self {
            Self::Unprocessable(messages) => {
                json!({"statusCode": code, "message": messages, "error": "Unprocessable Entity"})
            }
            Self::BadRequest(message) => {
                json!({"statusCode": code, "message": message, "error": "Bad Request"})
            }
            Self::Duplicate { contact_id, contact_name, matching_field } => json!({
                "statusCode": code,
                "message": self.to_string(),
                "meta": {"contactName": contact_name, "contactId": contact_id, "matchingField": matching_field},
            }),
            Self::NoRoute { .. } => {
                json!({"statusCode": code, "message": self.to_string(), "error": "Not Found"})
            }
            Self::Injected(status) => {
                json!({"statusCode": code, "message": status.canonical_reason().unwrap_or("Injected fault")})
            }
            Self::OAuth { error, description, .. } => json!({"error": error, "error_description": description}),
            _ => json!({"statusCode": code, "message": self.to_string()}),
        };
        reply::json(status, &body)
    }
}
