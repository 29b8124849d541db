//! The request guards of the GraphQL routes, as axum middleware: each refuses with a
//! [`Refusal`](crate::error::Refusal) in the negotiated media type, before the body is read.
//! [`routes`](super::routes) puts them on `/graphql`; a new route (webhooks, WebSocket) takes the
//! ones it needs. Order on `/graphql`: declared body size (413), API key (401), CSRF (400); the
//! handler then resolves persisted queries.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;

use super::handler::GraphqlState;
use super::media::{content_type_essence, MediaType, JSON};
use crate::auth::Credentials;
use crate::error::{ErrorCode, Refusal};

/// Headers a browser cannot send cross-site without a CORS preflight; either one, non-empty,
/// shows the request is not a "simple" cross-site request (Apollo's names, so Apollo clients
/// and GraphiQL already send them).
const PREFLIGHT_HEADERS: [&str; 2] = ["apollo-require-preflight", "x-apollo-operation-name"];

/// 413 at once for a declared `Content-Length` over the limit: the body is never read, and the
/// connection closes (the client may still be sending it).
pub async fn declared_body_size(State(state): State<GraphqlState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > state.max_body_bytes as u64) {
        let message = format!("the request body is larger than {} bytes", state.max_body_bytes);
        return Refusal::new(ErrorCode::PayloadTooLarge, message)
            .with_header(header::CONNECTION, HeaderValue::from_static("close"))
            .into_response_as(MediaType::for_refusal(headers).as_str());
    }
    next.run(request).await
}

/// 401 with `WWW-Authenticate` unless the request presents a configured API key (every caller
/// passes when none is configured). A caller without a key never gets to send us a body.
pub async fn api_key(State(state): State<GraphqlState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    if let Err(error) = state.callers.check(Credentials::from_headers(headers).api_key()) {
        return Refusal::new(error.code(), error.to_string())
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey header=\"x-api-key\""))
            .into_response_as(MediaType::for_refusal(headers).as_str());
    }
    next.run(request).await
}

/// CSRF prevention as Apollo Router does it: a request a browser could send cross-site without a
/// preflight (anything but a JSON POST) needs a non-empty preflight header.
pub async fn csrf_prevention(State(state): State<GraphqlState>, request: Request, next: Next) -> Response {
    let headers = request.headers();
    let simple = request.method() != Method::POST || content_type_essence(headers) != JSON;
    if state.csrf_prevention && simple && !has_preflight_header(headers) {
        let message = "this request was blocked as a possible cross-site request forgery: send a non-empty \
             `apollo-require-preflight` (or `x-apollo-operation-name`) header, or POST with `Content-Type: application/json`";
        return Refusal::new(ErrorCode::CsrfPrevention, message).into_response_as(MediaType::for_refusal(headers).as_str());
    }
    next.run(request).await
}

fn has_preflight_header(headers: &HeaderMap) -> bool {
    PREFLIGHT_HEADERS.iter().any(|name| headers.get(*name).is_some_and(|v| !v.as_bytes().iter().all(u8::is_ascii_whitespace)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_non_empty_preflight_header_counts() {
        assert!(!has_preflight_header(&HeaderMap::new()));
        for (name, value, expected) in [
            ("apollo-require-preflight", "true", true),
            ("x-apollo-operation-name", "Op", true),
            ("apollo-require-preflight", " ", false),
            ("x-requested-with", "x", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(name, value.parse().unwrap());
            assert_eq!(has_preflight_header(&headers), expected, "{name}: {value:?}");
        }
    }
}
