//! HTTP → GraphQL: our own handler instead of async-graphql-axum's extractor, to control what
//! the GraphQL-over-HTTP spec asks for: content negotiation (`application/json` for clients that
//! accept only that), 405 for mutations over GET, capped batches, 400 for malformed requests, and
//! request errors (nothing executed) answered without `data`. `tests/federation/audit.mjs` audits it.
//!
//! The guards (declared body size, API key, CSRF) run before this handler, as layers that
//! [`routes`] attaches (`guards`); then persisted queries resolve. The GraphiQL page needs no guard.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, ServerError, Value, Variables};
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::handler::Handler;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get as get_route;
use axum::Router;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::connection_check::CheckAccess;
use super::expansion::FieldTally;
use super::graphiql;
use super::guards;
use super::introspection::SchemaReader;
use super::media::{content_type_essence, MediaType, JSON};
use super::persisted::{ApqPartition, PersistedQueries};
use super::reauth::execute_with_reauth;
use super::request_context::{RequestContext, RequestOptions};
use super::AppSchema;
use crate::auth::{Auth, Credentials, LOCATION_HEADER};
use crate::callers::{CallerId, CallerKeys, API_KEY_HEADER};
use crate::data::DataLayer;
use crate::error::{ErrorCode, Refusal};

/// What the GraphQL endpoint needs, behind one `Arc`: axum clones a handler's state on every
/// request, and a clone of the fields themselves would be a dozen reference counts.
#[derive(Clone)]
pub struct GraphqlState(Arc<GraphqlShared>);

impl GraphqlState {
    pub fn new(shared: GraphqlShared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for GraphqlState {
    type Target = GraphqlShared;

    fn deref(&self) -> &GraphqlShared {
        &self.0
    }
}

/// The fields of [`GraphqlState`].
pub struct GraphqlShared {
    pub schema: AppSchema,
    pub data: DataLayer,
    pub auth: Arc<Auth>,
    pub request_options: RequestOptions,
    /// Most operations accepted in one batched (JSON array) request; 0 turns batching off.
    pub max_batch: usize,
    /// Refuse "simple" requests (GET, non-JSON POST) that lack a preflight header.
    pub csrf_prevention: bool,
    pub persisted: Arc<PersistedQueries>,
    /// Caller API keys; empty lets every caller in.
    pub callers: Arc<CallerKeys>,
    /// Largest request body accepted (a larger declared `Content-Length` is refused unread).
    pub max_body_bytes: usize,
    /// What subscriptions share: the event bus, their counts, the stop signal.
    pub live: Arc<super::LiveFeed>,
    /// The connection check, handed only to operators' requests (`connection_check`).
    pub checker: Arc<crate::check::ConnectionChecker>,
    /// Contact import jobs started through the API, per tenant and caller.
    pub imports: Arc<crate::jobs::ImportRegistry>,
}

/// `/graphql`: GET (queries from the URL, or GraphiQL for a browser) and POST, each behind the
/// guards it needs. The route's state is applied here, so it merges into any router.
pub fn routes<S: Clone + Send + Sync + 'static>(state: GraphqlState) -> Router<S> {
    let post_guards = from_fn_with_state(state.clone(), guards::check);
    let get_guards = from_fn_with_state(state.clone(), graphiql_or_guards);
    Router::new().route("/graphql", get_route(get.layer(get_guards)).post(post.layer(post_guards))).with_state(state)
}

/// `POST /graphql`, after its guards.
async fn post(State(state): State<GraphqlState>, headers: HeaderMap, body: Bytes) -> Response {
    let essence = content_type_essence(&headers);
    let streamed = super::live::wants_event_stream(&headers);
    let Some(media) = MediaType::negotiate(&headers).or(streamed.then_some(MediaType::Json)) else {
        return not_acceptable();
    };
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
    let (requests, batched) = match batch {
        BatchRequest::Single(request) => (vec![request], false),
        BatchRequest::Batch(requests) => (requests, true),
    };
    if !batched && super::live::wants_event_stream(&headers) {
        let partition = apq_partition(&state.auth, &headers);
        return match requests.into_iter().next().map(|request| prepare(&state, &partition, request)) {
            Some(Ok(request)) if !request.query.trim().is_empty() => super::live::sse(&state, &headers, request).await,
            Some(Err(refused)) => execute(&state, &headers, MediaType::Json, vec![Err(refused)], false).await,
            _ => request_error(MediaType::Json, StatusCode::BAD_REQUEST, "the request has no `query`"),
        };
    }
    let partition = apq_partition(&state.auth, &headers);
    let prepared: Vec<Prepared> = requests.into_iter().map(|request| prepare(&state, &partition, request)).collect();
    // async-graphql reads a missing `query` as "" and would answer a 200 parse error; the spec
    // calls a request without a document malformed.
    if prepared.iter().any(|p| p.as_ref().is_ok_and(|r| r.query.trim().is_empty())) {
        return request_error(media, StatusCode::BAD_REQUEST, "the request has no `query`");
    }
    execute(&state, &headers, media, prepared, batched).await
}

/// A request ready to run, or the request error that stops it (persisted query refusals).
type Prepared = Result<Request, ServerError>;

fn prepare(state: &GraphqlState, partition: &ApqPartition, mut request: Request) -> Prepared {
    state.persisted.resolve(&mut request, partition).map_err(|e| e.into_server_error())?;
    Ok(request)
}

/// The tenant's APQ partition, from the headers alone: the tenant itself is only known later
/// (an OAuth tenant may first need a token refresh). Static mode has one tenant; otherwise the
/// caller's credential, location and API key name it, as `Tenant::budget_key` does.
fn apq_partition(auth: &Auth, headers: &HeaderMap) -> ApqPartition {
    if matches!(auth, Auth::Static(_)) {
        return ApqPartition::shared();
    }
    let value = |name: &str| headers.get(name).map_or(&[][..], HeaderValue::as_bytes);
    ApqPartition::of(&[value(header::AUTHORIZATION.as_str()), value(LOCATION_HEADER), value(API_KEY_HEADER)])
}

/// The URL parameters of a GET request, named as the spec names them (async-graphql's
/// `parse_query_string` reads `operation_name` instead of `operationName`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct GetParams {
    query: Option<String>,
    operation_name: Option<String>,
    /// JSON, URL-encoded.
    variables: Option<String>,
    /// JSON, URL-encoded.
    extensions: Option<String>,
}

impl GetParams {
    /// The GraphQL request, or why the URL does not hold one. Without `query`, `extensions` may
    /// name a persisted query.
    fn into_request(self) -> Result<Request, &'static str> {
        let query = self.query.filter(|q| !q.trim().is_empty());
        if query.is_none() && self.extensions.is_none() {
            return Err("pass the operation as the `query` URL parameter");
        }
        let mut request = Request::new(query.unwrap_or_default());
        if let Some(name) = self.operation_name {
            request = request.operation_name(name);
        }
        if let Some(variables) = self.variables {
            let variables: Variables = serde_json::from_str(&variables).map_err(|_| "`variables` must be a JSON object")?;
            request = request.variables(variables);
        }
        if let Some(extensions) = self.extensions {
            request.extensions = serde_json::from_str(&extensions).map_err(|_| "`extensions` must be a JSON object")?;
        }
        Ok(request)
    }
}

/// In front of `GET /graphql`: a browser asking for a page (HTML, no operation in the URL) gets
/// GraphiQL, which needs no key; the page then sends its own requests through the guards, which
/// every other GET passes first.
async fn graphiql_or_guards(State(state): State<GraphqlState>, request: axum::extract::Request, next: Next) -> Response {
    let wants_html = request.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|accept| accept.contains("text/html"));
    let has_query = Query::<GetParams>::try_from_uri(request.uri()).is_ok_and(|Query(p)| p.query.is_some() || p.extensions.is_some());
    if wants_html && !has_query {
        return graphiql::page(!state.callers.is_empty());
    }
    match guards::caller_refusal(&state, &request) {
        Some(refused) => refused,
        None => next.run(request).await,
    }
}

/// `GET /graphql`: queries from the URL, after the guards.
async fn get(State(state): State<GraphqlState>, headers: HeaderMap, uri: Uri) -> Response {
    let params = Query::<GetParams>::try_from_uri(&uri);
    let streamed = super::live::wants_event_stream(&headers);
    let Some(media) = MediaType::negotiate(&headers).or(streamed.then_some(MediaType::Json)) else {
        return not_acceptable();
    };
    let request = match params.map_err(|_| "the URL parameters are malformed").and_then(|Query(p)| p.into_request()) {
        Ok(request) => request,
        Err(message) => return request_error(media, StatusCode::BAD_REQUEST, message),
    };
    let request = match prepare(&state, &apq_partition(&state.auth, &headers), request) {
        Ok(request) if request.query.trim().is_empty() => return request_error(media, StatusCode::BAD_REQUEST, "the request has no `query`"),
        Ok(request) => request,
        Err(refused) => return execute(&state, &headers, media, vec![Err(refused)], false).await,
    };
    if is_mutation(&request) {
        let mut response = request_error(media, StatusCode::METHOD_NOT_ALLOWED, "mutations are only accepted over POST");
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    if streamed {
        return super::live::sse(&state, &headers, request).await;
    }
    execute(&state, &headers, media, vec![Ok(request)], false).await
}

/// True when the operation that would run is a mutation (unparsable queries are left to the executor).
fn is_mutation(request: &Request) -> bool {
    super::operation_type(request) == Some(OperationType::Mutation)
}

/// Runs each prepared request in turn; `batched` says whether the client sent a JSON array.
async fn execute(state: &GraphqlState, headers: &HeaderMap, media: MediaType, requests: Vec<Prepared>, batched: bool) -> Response {
    // A key scoped to locations (`key=loc1|loc2`) holds in every auth mode; `auth` checks it
    // before any token is touched.
    let credentials = Credentials::from_headers(headers);
    let tenant = state.auth.tenant_for(&credentials, &state.callers).await;
    // The operations of one HTTP request share one budget of expanded fields (`limits`).
    let tally = FieldTally::default();
    // With keys configured, only an unrestricted (router or operator) key reads the SDL while
    // introspection is off; without keys there is nobody to tell apart.
    let schema_reader = state.callers.is_empty() || state.callers.is_unrestricted(credentials.api_key());
    // Only an operator's key (configured, reaching every location) may run the connection check.
    let operator = state.callers.is_unrestricted(credentials.api_key());
    let mut responses = Vec::with_capacity(requests.len());
    for prepared in requests {
        let response = match prepared {
            Ok(request) => {
                let context = |tenant| RequestContext::new(tenant, &state.data, &state.request_options);
                let mut request = request.data(tally.clone()).data(CallerId::of(credentials.api_key())).data(state.imports.clone());
                if schema_reader {
                    request = request.data(SchemaReader);
                }
                if operator {
                    request = request.data(CheckAccess(state.checker.clone()));
                }
                execute_with_reauth(&state.schema, &state.auth, request, &tenant, context).await
            }
            Err(refused) => async_graphql::Response::from_errors(vec![refused]),
        };
        responses.push(response);
    }
    for response in &mut responses {
        for error in &mut response.errors {
            // What is still without a code failed before execution: choosing the operation.
            *error = ErrorCode::OperationResolutionFailure.fill_in(std::mem::replace(error, ServerError::new("", None)));
        }
    }
    let response = match responses.pop() {
        Some(single) if !batched => BatchResponse::Single(single),
        last => {
            responses.extend(last);
            BatchResponse::Batch(responses)
        }
    };
    // With application/graphql-response+json, a request that never executed is a 400; with
    // application/json it stays 200, as legacy clients expect. Batches are outside the spec: 200.
    let status = match (&response, media) {
        (BatchResponse::Single(r), MediaType::GraphqlResponseJson) if is_request_error(r) => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    };
    match &response {
        BatchResponse::Single(r) => {
            let mut written = json_response(status, media, &WireResponse::from(r));
            if let Some(cache_control) = r.http_headers.get(header::CACHE_CONTROL) {
                written.headers_mut().insert(header::CACHE_CONTROL, cache_control.clone());
            }
            written
        }
        BatchResponse::Batch(rs) => json_response(status, media, &rs.iter().map(WireResponse::from).collect::<Vec<_>>()),
    }
}

/// True when the request failed before any resolver ran (parse, validation, limits, variables):
/// then there is no `data`. async-graphql reports variable errors at the field that uses the
/// variable, so a path alone does not mean "executed"; an error a resolver raised has a path and
/// our `extensions.code` (`error.rs`). A resolver error that nulls the whole result is a partial
/// response: 200 with `"data": null`.
fn is_request_error(response: &async_graphql::Response) -> bool {
    response.data == Value::Null && !response.errors.is_empty() && !response.errors.iter().any(raised_by_resolver)
}

fn raised_by_resolver(error: &ServerError) -> bool {
    !error.path.is_empty() && error.extensions.as_ref().is_some_and(|e| e.get("code").is_some())
}

/// A response as written: without `data` after a request error, as the GraphQL spec asks
/// (async-graphql would write `"data": null`).
#[derive(Serialize)]
struct WireResponse<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "no_errors")]
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, Value>,
}

impl<'a> From<&'a async_graphql::Response> for WireResponse<'a> {
    fn from(response: &'a async_graphql::Response) -> Self {
        Self { data: (!is_request_error(response)).then_some(&response.data), errors: &response.errors, extensions: &response.extensions }
    }
}

fn no_errors(errors: &&[ServerError]) -> bool {
    errors.is_empty()
}

fn json_response<T: Serialize>(status: StatusCode, media: MediaType, body: &T) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (status, [(header::CONTENT_TYPE, media.as_str())], bytes).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A malformed request the server refuses before running it, in GraphQL's error shape.
fn request_error(media: MediaType, status: StatusCode, message: &str) -> Response {
    Refusal::new(ErrorCode::BadRequest, message).with_status(status).into_response_as(media.as_str())
}

fn not_acceptable() -> Response {
    let body = json!({ "errors": [{ "message": "accept application/graphql-response+json or application/json" }] });
    (StatusCode::NOT_ACCEPTABLE, [(header::CONTENT_TYPE, JSON)], body.to_string()).into_response()
}

#[cfg(test)]
mod tests {
    use async_graphql::ErrorExtensions;

    use super::*;

    fn get_params(query: &str) -> Result<Request, &'static str> {
        let uri: axum::http::Uri = format!("/graphql?{query}").parse().unwrap();
        Query::<GetParams>::try_from_uri(&uri).unwrap().0.into_request()
    }

    #[test]
    fn get_reads_the_spec_parameter_names() {
        let request = get_params("query=query%20B%20%7B%20__typename%20%7D&operationName=B&variables=%7B%22id%22%3A%221%22%7D").unwrap();
        assert_eq!(request.operation_name.as_deref(), Some("B"));
        assert_eq!(request.variables.get("id").map(ToString::to_string).as_deref(), Some("\"1\""));
        assert!(get_params("operationName=B").is_err(), "no query");
        assert!(get_params("query=%7B__typename%7D&variables=%5B1%5D").is_err(), "variables not an object");
    }

    #[test]
    fn request_errors_have_no_data_and_execution_errors_keep_it() {
        let request_error = async_graphql::Response::from_errors(vec![ServerError::new("Unknown field", None)]);
        assert!(is_request_error(&request_error));
        let written = serde_json::to_value(WireResponse::from(&request_error)).unwrap();
        assert!(written.get("data").is_none(), "{written}");

        let mut unset_variable = ServerError::new("Variable id is not defined.", None);
        unset_variable.path = vec![async_graphql::PathSegment::Field("contact".into())];
        assert!(is_request_error(&async_graphql::Response::from_errors(vec![unset_variable])));

        let mut nulled_root = async_graphql::Error::new("upstream failed")
            .extend_with(|_, e| e.set("code", ErrorCode::UpstreamUnavailable.as_str()))
            .into_server_error(async_graphql::Pos::default());
        nulled_root.path = vec![async_graphql::PathSegment::Field("contacts".into())];
        let partial = async_graphql::Response::from_errors(vec![nulled_root]);
        assert!(!is_request_error(&partial));
        let written = serde_json::to_value(WireResponse::from(&partial)).unwrap();
        assert_eq!(written["data"], serde_json::Value::Null);
        assert!(written.as_object().unwrap().contains_key("data"), "{written}");
    }

    #[test]
    fn mutations_are_detected_for_the_selected_operation() {
        let doc = "query A { contact(id: \"1\") { id } } mutation B { deleteContact(id: \"1\") }";
        assert!(!is_mutation(&Request::new(doc).operation_name("A")));
        assert!(is_mutation(&Request::new(doc).operation_name("B")));
        assert!(is_mutation(&Request::new("mutation { deleteContact(id: \"1\") }")));
    }
}
