//! The transports subscriptions travel on, as federation gateways speak them: WebSocket at `/ws`
//! (`graphql-transport-ws`, Apollo Router's default, and the legacy `graphql-ws`), and GraphQL
//! over SSE on `/graphql` for `Accept: text/event-stream` ("distinct connections" mode: POST as
//! the `graphql-sse` client sends, GET as Hive Gateway does).
//!
//! The caller is identified as for queries: the API key and the location from the headers, or
//! for WebSocket from the `connection_init` payload (browsers cannot set headers on a socket).
//! Each operation gets a context of its own: a subscription a live one (its memo starts over at
//! every event, no deadline), a query or mutation sent over the socket an ordinary one.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use async_graphql::futures_util::stream::BoxStream;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql::parser::types::OperationType;
use async_graphql::{Data, Executor, Request, Response};
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::Message;
use axum::extract::{State, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::routing::get;
use axum::Router;
use futures_util::{SinkExt as _, StreamExt as _};
use metrics::counter;
use secrecy::SecretString;
use serde_json::Value as Json;
use tokio::sync::broadcast;

use super::handler::GraphqlState;
use super::request_context::RequestContext;
use super::subscription::{Admitted, LiveContext, Transport};
use crate::auth::{bearer_token, Credentials, LOCATION_HEADER};
use crate::callers::{CallerId, API_KEY_HEADER};
use crate::error::AppError;
use crate::highlevel::Tenant;

/// How often an idle stream says it is alive (SSE comments, WebSocket pings).
const KEEP_ALIVE: Duration = Duration::from_secs(12);

/// `GET /ws`, upgraded to a GraphQL WebSocket.
pub fn routes<S: Clone + Send + Sync + 'static>(state: GraphqlState) -> Router<S> {
    Router::new().route("/ws", get(websocket)).with_state(state)
}

async fn websocket(State(state): State<GraphqlState>, protocol: GraphQLProtocol, headers: HeaderMap, upgrade: WebSocketUpgrade) -> HttpResponse {
    let from_headers = Credentials::from_headers(&headers);
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| async move {
            let executor = PerOperation { state: state.clone(), tenant: Arc::default(), caller: Arc::default(), transport: Transport::WebSocket };
            let (caller, caller_id) = (executor.tenant.clone(), executor.caller.clone());
            // Both halves of the socket: a ping every `KEEP_ALIVE` shares the sink with the
            // protocol's messages, so idle proxies keep the connection.
            let (sink, stream) = socket.split();
            let sink = Arc::new(tokio::sync::Mutex::new(sink));
            let pinger = tokio::spawn({
                let sink = sink.clone();
                async move {
                    let mut every = tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
                    loop {
                        every.tick().await;
                        if sink.lock().await.send(Message::Ping(Default::default())).await.is_err() {
                            break;
                        }
                    }
                }
            });
            let out = futures_util::sink::unfold(sink, |sink, message: Message| async move {
                sink.lock().await.send(message).await?;
                Ok::<_, axum::Error>(sink)
            });
            GraphQLWebSocket::new_with_pair(out, stream, executor, protocol)
                .on_connection_init(move |payload| async move {
                    let credentials = with_payload(from_headers, &payload);
                    let tenant = identify(&state, &credentials).await.map_err(|e| async_graphql::Error::new(e.to_string()))?;
                    let _ = caller.set(tenant);
                    let _ = caller_id.set(CallerId::of(credentials.api_key()));
                    Ok(Data::default())
                })
                .serve()
                .await;
            pinger.abort();
        })
        .into_response()
}

/// The caller's credentials from the headers, overridden by what `connection_init` names
/// (`authorization`, `x-ghl-location-id`, `x-api-key`, at the top or under `headers`).
fn with_payload(mut credentials: Credentials, payload: &Json) -> Credentials {
    let field = |name: &str| {
        let find = |object: &Json| object.as_object()?.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).and_then(|(_, v)| v.as_str().map(str::to_owned));
        find(payload).or_else(|| find(&payload["headers"]))
    };
    if let Some(token) = field("authorization").as_deref().map(|v| bearer_token(v).unwrap_or(v).to_owned()).filter(|t| !t.is_empty()) {
        credentials.bearer = Some(SecretString::from(token));
    }
    if let Some(location) = field(LOCATION_HEADER) {
        credentials.location = Some(location);
    }
    if let Some(key) = field(API_KEY_HEADER).map(|k| k.trim().to_owned()).filter(|k| !k.is_empty()) {
        credentials.api_key = Some(SecretString::from(key));
    }
    credentials
}

/// The API key checked, then the tenant, as for queries.
async fn identify(state: &GraphqlState, credentials: &Credentials) -> Result<Tenant, AppError> {
    state.callers.check(credentials.api_key()).map_err(|e| AppError::Unauthenticated(e.to_string()))?;
    state.auth.tenant_for(credentials, &state.callers).await
}

/// Runs each operation with a context of its own for the connection's caller.
#[derive(Clone)]
struct PerOperation {
    state: GraphqlState,
    /// Set by `connection_init` (WebSocket) or from the headers (SSE).
    tenant: Arc<OnceLock<Tenant>>,
    /// Who the connection's caller is (what it owns, such as import jobs, is its own).
    caller: Arc<OnceLock<CallerId>>,
    transport: Transport,
}

impl PerOperation {
    /// `request` with its own context: a live one for a subscription, an ordinary one otherwise.
    fn prepared(&self, request: Request, subscription: bool) -> Request {
        let tenant = self.tenant.get().cloned().ok_or_else(|| AppError::Unauthenticated("the connection was not initialised".into()));
        let (data, options) = (&self.state.data, &self.state.request_options);
        let caller = self.caller.get().cloned().unwrap_or_else(|| CallerId::of(None));
        let request = request.data(caller).data(self.state.imports.clone());
        if subscription {
            let request_context = Arc::new(RequestContext::live(tenant, data, options));
            request.data(LiveContext { request: request_context, feed: self.state.live.clone() })
        } else {
            request.data(RequestContext::new(tenant, data, options))
        }
    }
}

impl Executor for PerOperation {
    async fn execute(&self, request: Request) -> Response {
        let subscription = super::operation_type(&request) == Some(OperationType::Subscription);
        self.state.schema.execute(self.prepared(request, subscription)).await
    }

    /// A subscription joins the identical one of the same caller already running (or starts it):
    /// one execution per event, however many subscribers (Apollo Router deduplicates alike).
    fn execute_stream(&self, request: Request, session_data: Option<Arc<Data>>) -> BoxStream<'static, Response> {
        let session = session_data.unwrap_or_default();
        let tenant = self.tenant.get().cloned();
        let subscription = super::operation_type(&request) == Some(OperationType::Subscription);
        let (Some(tenant), true) = (tenant, subscription) else {
            return self.state.schema.execute_stream_with_session_data(self.prepared(request, subscription), session);
        };
        let feed = self.state.live.clone();
        let admitted = match feed.admit(tenant.budget_key(), self.transport) {
            Ok(admitted) => admitted,
            Err(error) => return futures_util::stream::once(async move { Response::from_errors(vec![error.code().server_error(error.to_string())]) }).boxed(),
        };
        let key = SharedKey {
            tenant: tenant.budget_key().to_owned(),
            caller: self.caller.get().cloned(),
            query: request.query.clone(),
            operation: request.operation_name.clone(),
            variables: serde_json::to_string(&request.variables).unwrap_or_default(),
        };
        let (shared, results) = feed.shared.join(key, feed.queue, || self.state.schema.execute_stream_with_session_data(self.prepared(request, true), session));
        subscriber(shared, results, admitted)
    }
}

/// What makes two subscriptions the same execution.
#[derive(Clone, PartialEq, Eq, Hash)]
struct SharedKey {
    tenant: String,
    /// What a subscription sees may be the caller's own (its imports).
    caller: Option<CallerId>,
    query: String,
    operation: Option<String>,
    variables: String,
}

/// The executions running, by what they execute; each is shared by its subscribers.
#[derive(Default)]
pub struct SharedExecutions(Arc<Mutex<HashMap<SharedKey, Weak<Shared>>>>);

/// One execution and where its results go; it stops when its last subscriber goes.
struct Shared {
    results: broadcast::Sender<Option<Arc<Response>>>,
    ended: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    key: SharedKey,
    registry: Weak<Mutex<HashMap<SharedKey, Weak<Shared>>>>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
        if let Some(registry) = self.registry.upgrade() {
            let mut executions = registry.lock().unwrap_or_else(|p| p.into_inner());
            if executions.get(&self.key).is_some_and(|w| w.strong_count() == 0) {
                executions.remove(&self.key);
            }
        }
    }
}

type Results = broadcast::Receiver<Option<Arc<Response>>>;

impl SharedExecutions {
    /// The running execution of `key`, or a new one of `start()`; with a receiver of its results.
    fn join(&self, key: SharedKey, queue: usize, start: impl FnOnce() -> BoxStream<'static, Response>) -> (Arc<Shared>, Results) {
        // Upgraded under the lock, dropped outside it: the last `Arc` of an execution takes the
        // lock again in its `Drop`.
        let running = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key).and_then(Weak::upgrade);
        if let Some(running) = running.filter(|s| !s.ended.load(Ordering::Acquire)) {
            let results = running.results.subscribe();
            return (running, results);
        }
        let (sender, results) = broadcast::channel(queue);
        let ended = Arc::new(AtomicBool::new(false));
        let mut stream = start();
        let task = tokio::spawn({
            let (sender, ended) = (sender.clone(), ended.clone());
            async move {
                while let Some(response) = stream.next().await {
                    let _ = sender.send(Some(Arc::new(response)));
                }
                ended.store(true, Ordering::Release);
                let _ = sender.send(None);
            }
        });
        let shared = Arc::new(Shared { results: sender, ended, task, key: key.clone(), registry: Arc::downgrade(&self.0) });
        // Two identical first subscribers may both start one; the later is found from now on.
        let replaced = self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::downgrade(&shared));
        drop(replaced);
        (shared, results)
    }
}

/// One subscriber's stream of its shared execution's results; one that falls behind is ended.
fn subscriber(shared: Arc<Shared>, results: Results, admitted: Admitted) -> BoxStream<'static, Response> {
    futures_util::stream::unfold(Some((shared, results, admitted)), |state| async move {
        let (shared, mut results, admitted) = state?;
        match results.recv().await {
            Ok(Some(response)) => {
                counter!("graphql_subscription_events_total").increment(1);
                Some((copy(&response), Some((shared, results, admitted))))
            }
            Ok(None) | Err(broadcast::error::RecvError::Closed) => None,
            Err(broadcast::error::RecvError::Lagged(missed)) => {
                counter!("graphql_subscribers_dropped_total", "reason" => "slow_consumer").increment(1);
                let error = AppError::SlowConsumer(format!("this subscriber fell {missed} events behind and was ended; subscribe again (and read faster)"));
                Some((Response::from_errors(vec![error.code().server_error(error.to_string())]), None))
            }
        }
    })
    .boxed()
}

/// A result for one more subscriber.
fn copy(response: &Response) -> Response {
    let mut copied = Response::new(response.data.clone());
    copied.errors = response.errors.clone();
    copied.extensions = response.extensions.clone();
    copied
}

/// True when the client asks for an event stream (and not for JSON first).
pub fn wants_event_stream(headers: &HeaderMap) -> bool {
    headers.get_all(axum::http::header::ACCEPT).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|media| {
        let essence = media.split(';').next().unwrap_or("").trim();
        essence.eq_ignore_ascii_case("text/event-stream")
    })
}

/// One operation over SSE: `next` events, then `complete`; keep-alive comments while idle.
pub async fn sse(state: &GraphqlState, headers: &HeaderMap, request: Request) -> HttpResponse {
    let credentials = Credentials::from_headers(headers);
    let tenant = identify(state, &credentials).await;
    let executor = PerOperation { state: state.clone(), tenant: Arc::default(), caller: Arc::default(), transport: Transport::Sse };
    let _ = executor.caller.set(CallerId::of(credentials.api_key()));
    let refused = match tenant {
        Ok(tenant) => {
            let _ = executor.tenant.set(tenant);
            None
        }
        Err(error) => Some(Response::from_errors(vec![error.code().server_error(error.to_string())])),
    };
    let responses: BoxStream<'static, Response> = match refused {
        Some(response) => futures_util::stream::once(async move { response }).boxed(),
        None => executor.execute_stream(request, None),
    };
    let events = responses
        .map(|response| Ok::<_, Infallible>(Event::default().event("next").data(serde_json::to_string(&response).unwrap_or_default())))
        .chain(futures_util::stream::once(async { Ok(Event::default().event("complete").data("")) }));
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)).into_response()
}
