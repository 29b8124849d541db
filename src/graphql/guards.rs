//! The request guards of the GraphQL routes, as one axum middleware: each refuses with a
//! [`Refusal`](crate::error::Refusal) in the negotiated media type, before the body is read.
//! [`routes`](super::routes) puts them on `/graphql`. Order: declared body size (413), API key
//! (401), CSRF (400); the handler then resolves persisted queries.

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

/// The first refusal of a request with a body, in order: declared body size, API key, CSRF.
fn refusal(state: &GraphqlState, request: &Request) -> Option<Response> {
    declared_body_size(state, request.headers()).or_else(|| caller_refusal(state, request))
}

/// The first refusal of a request without a body (GET): API key, then CSRF.
pub fn caller_refusal(state: &GraphqlState, request: &Request) -> Option<Response> {
    api_key(state, request.headers()).or_else(|| csrf_prevention(state, request))
}

/// 413 at once for a declared `Content-Length` over the limit: the body is never read, and the
/// connection closes (the client may still be sending it).
fn declared_body_size(state: &GraphqlState, headers: &HeaderMap) -> Option<Response> {
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_none_or(|length| length <= state.max_body_bytes as u64) {
        return None;
    }
    let message = format!("the request body is larger than {} bytes", state.max_body_bytes);
    Some(
        Refusal::new(ErrorCode::PayloadTooLarge, message)
            .with_header(header::CONNECTION, HeaderValue::from_static("close"))
            .into_response_as(MediaType::for_refusal(headers).as_str()),
    )
}

/// 401 with `WWW-Authenticate` unless the request presents a configured API key (every caller
/// passes when none is configured). A caller without a key never gets to send a body.
fn api_key(state: &GraphqlState, headers: &HeaderMap) -> Option<Response> {
    let error = state.callers.check(Credentials::from_headers(headers).api_key()).err()?;
    Some(
        Refusal::new(error.code(), error.to_string())
            .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("ApiKey header=\"x-api-key\""))
            .into_response_as(MediaType::for_refusal(headers).as_str()),
    )
}

/// CSRF prevention as Apollo Router does it: a request a browser could send cross-site without a
/// preflight (anything but a JSON POST) needs a non-empty preflight header.
fn csrf_prevention(state: &GraphqlState, request: &Request) -> Option<Response> {
    let headers = request.headers();
    let simple = request.method() != Method::POST || content_type_essence(headers) != JSON;
    if !(state.csrf_prevention && simple && !has_preflight_header(headers)) {
        return None;
    }
    let message = "this request was blocked as a possible cross-site request forgery: send a non-empty \
         `apollo-require-preflight` (or `x-apollo-operation-name`) header, or POST with `Content-Type: application/json`";
    Some(Refusal::new(ErrorCode::CsrfPrevention, message).into_response_as(MediaType::for_refusal(headers).as_str()))
}

/// The guards as one middleware (each axum layer clones and boxes the services inside it on
/// every request, so three guards are one layer).
pub async fn check(State(state): State<GraphqlState>, request: Request, next: Next) -> Response {
    match refusal(&state, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
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
