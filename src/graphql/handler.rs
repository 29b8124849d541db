//! HTTP → GraphQL: our own handler instead of async-graphql-axum's extractor, to control what
//! the GraphQL-over-HTTP spec asks for: content negotiation (`application/json` for clients that
//! accept only that), 405 for mutations over GET, capped batches, and request-error status codes.

use std::sync::Arc;

use async_graphql::http::parse_query_string;
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request};
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::graphiql;
use super::request_context::{LoaderOptions, RequestContext};
use super::AppSchema;
use crate::auth::Auth;
use crate::highlevel::GhlClient;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";

/// What the GraphQL endpoint needs; cheap to clone.
#[derive(Clone)]
pub struct GraphqlState {
    pub schema: AppSchema,
    pub client: GhlClient,
    pub auth: Arc<Auth>,
    pub loader_options: LoaderOptions,
    /// Most operations accepted in one batched (JSON array) request; 0 turns batching off.
    pub max_batch: usize,
}

/// The media type a response is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }

    /// Picks from `Accept`: the first acceptable type wins; none or `*/*` means `application/json`.
    fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let mut any = false;
        for part in accept.split(',') {
            let mut params = part.split(';');
            let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = params.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            if refused {
                continue;
            }
            match media.as_str() {
                GRAPHQL_RESPONSE_JSON => return Some(Self::GraphqlResponseJson),
                JSON => return Some(Self::Json),
                "*/*" | "application/*" => any = true,
                _ => {}
            }
        }
        any.then_some(Self::Json)
    }
}

/// `POST /graphql`.
pub async fn post(State(state): State<GraphqlState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence != JSON {
        return request_error(media, StatusCode::UNSUPPORTED_MEDIA_TYPE, "send the GraphQL request as `Content-Type: application/json`");
    }
    let batch: BatchRequest = match serde_json::from_slice(&body) {
        Ok(batch) => batch,
        Err(_) => return request_error(media, StatusCode::BAD_REQUEST, "the body is not a valid GraphQL request (JSON with a `query` string)"),
    };
    if let BatchRequest::Batch(requests) = &batch {
        if requests.is_empty() || requests.len() > state.max_batch {
            let message = match state.max_batch {
                0 => "batched requests are turned off".to_owned(),
                n => format!("a batch must hold between 1 and {n} operations"),
            };
            return request_error(media, StatusCode::BAD_REQUEST, &message);
        }
    }
    execute(&state, &headers, media, batch).await
}

/// `GET /graphql`: queries from the URL, or GraphiQL for a browser.
pub async fn get(State(state): State<GraphqlState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let query = query.unwrap_or_default();
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html && !query.split('&').any(|pair| pair.starts_with("query=")) {
        return graphiql::page();
    }
    let Some(media) = MediaType::negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match parse_query_string(&query) {
        Ok(request) => request,
        Err(_) => return request_error(media, StatusCode::BAD_REQUEST, "pass the operation as the `query` URL parameter"),
    };
    if is_mutation(&request) {
        let mut response = request_error(media, StatusCode::METHOD_NOT_ALLOWED, "mutations are only accepted over POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, media, BatchRequest::Single(request)).await
}

/// True when the operation that would run is a mutation (unparsable queries are left to the executor).
fn is_mutation(request: &Request) -> bool {
    let Ok(document) = async_graphql::parser::parse_query(&request.query) else {
        return false;
    };
    let operation = match &request.operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)).map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    operation.is_some_and(|op| op.node.ty == OperationType::Mutation)
}

async fn execute(state: &GraphqlState, headers: &HeaderMap, media: MediaType, batch: BatchRequest) -> Response {
    let tenant = state.auth.tenant_for(headers);
    let with_context = |request: Request| {
        request.data(RequestContext::new(tenant.clone(), &state.client, &state.loader_options))
    };
    let response = match batch {
        BatchRequest::Single(request) => BatchResponse::Single(state.schema.execute(with_context(request)).await),
        BatchRequest::Batch(requests) => {
            let mut responses = Vec::with_capacity(requests.len());
            for request in requests {
                responses.push(state.schema.execute(with_context(request)).await);
            }
            BatchResponse::Batch(responses)
        }
    };
    // With application/graphql-response+json, a request that never executed (parse or validation
    // error: no `data`) is a 4xx; with application/json it stays 200, as legacy clients expect.
    let status = match (&response, media) {
        (BatchResponse::Single(r), MediaType::GraphqlResponseJson) if r.data == async_graphql::Value::Null && r.is_err() => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    json_response(status, media, &response)
}

fn json_response<T: serde::Serialize>(status: StatusCode, media: MediaType, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, media.as_str())], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A request the server refuses before running it, in GraphQL's error shape.
fn request_error(media: MediaType, status: StatusCode, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": "BAD_REQUEST" } }] });
    json_response(status, media, &body)
}

fn not_acceptable() -> Response {
    let body = json!({ "errors": [{ "message": "accept application/graphql-response+json or application/json" }] });
    (StatusCode::NOT_ACCEPTABLE, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn json_only_clients_get_application_json() {
        assert_eq!(MediaType::negotiate(&accept("application/json")), Some(MediaType::Json));
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(MediaType::negotiate(&accept("*/*")), Some(MediaType::Json));
    }

    #[test]
    fn graphql_response_json_is_used_when_preferred() {
        let both = accept("application/graphql-response+json, application/json;q=0.9");
        assert_eq!(MediaType::negotiate(&both), Some(MediaType::GraphqlResponseJson));
        assert_eq!(MediaType::negotiate(&accept("text/html")), None);
    }

    #[test]
    fn mutations_are_detected_for_the_selected_operation() {
        let doc = "query A { contact(id: \"1\") { id } } mutation B { deleteContact(id: \"1\") }";
        assert!(!is_mutation(&Request::new(doc).operation_name("A")));
        assert!(is_mutation(&Request::new(doc).operation_name("B")));
        assert!(is_mutation(&Request::new("mutation { deleteContact(id: \"1\") }")));
    }
}
