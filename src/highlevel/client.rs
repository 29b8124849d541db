//! `GhlClient`: the pooled transport (`transport`) plus one typed async fn per GHL endpoint.
//!
//! Every call goes through `call`: each attempt passes the circuit breaker, the per-location rate limiter and a concurrency bound, carries
//! `Authorization` and `Version`, and is classified into a [`GhlError`]; safe failures are retried
//! with backoff. No endpoint fn has to care about any of it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use hyper::{Method, StatusCode};
use metrics::{counter, gauge, histogram};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{debug, instrument, warn};
use url::Url;

use super::breaker::{BreakerConfig, CircuitBreaker, Transition};
use super::error::{GhlError, GhlErrorKind, Unavailability, UpstreamCall};
use super::ids::PathId;
use super::limiter::{LimiterConfig, Pace, RateLimiter};
use super::models::*;
use super::probe::RateLimitHeaders;
use super::retry::{backoff, is_retryable, RetryBudget, RetryConfig};
use super::tenant::Tenant;
use super::transport::{Reply, Transport, TransportError};
use super::API_VERSION;

/// How to reach GHL and how hard to push it.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// e.g. `https://services.leadconnectorhq.com` (no trailing slash needed).
    pub base_url: String,
    pub connect_timeout: Duration,
    /// Per attempt, including reading the body.
    pub request_timeout: Duration,
    /// Upstream calls in flight at once for one location.
    pub max_concurrency_per_location: std::num::NonZeroUsize,
    pub limiter: LimiterConfig,
    pub retry: RetryConfig,
    pub breaker: BreakerConfig,
}

#[derive(Clone)]
pub struct GhlClient {
    inner: Arc<Inner>,
}

struct Inner {
    transport: Transport,
    base_url: String,
    /// `base_url` parsed once (`None` when it is no base URL: each request then fails, unsent).
    /// A call's URL is this with its path and query set, not the whole text parsed again: the
    /// host's parse (IDNA) was about 4 % of a single-contact query's instructions.
    base: Option<Url>,
    request_timeout: Duration,
    max_concurrency: usize,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
    limiter: RateLimiter,
    breaker: CircuitBreaker,
    retry: RetryConfig,
    retry_budget: RetryBudget,
}

/// GHL's API version header (names are lower case on the wire; made once, not parsed per call).
const VERSION: HeaderName = HeaderName::from_static("version");

/// A path with its template, so errors and logs name the endpoint without ids.
struct Route {
    template: &'static str,
    path: String,
}

impl GhlClient {
    pub fn new(options: ClientOptions) -> Result<Self, rustls::Error> {
        let transport = Transport::new(options.connect_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner {
                transport,
                base_url: options.base_url.trim_end_matches('/').to_owned(),
                base: Url::parse(&options.base_url).ok().filter(|base| !base.cannot_be_a_base()),
                request_timeout: options.request_timeout,
                max_concurrency: options.max_concurrency_per_location.get(),
                in_flight: Mutex::new(HashMap::new()),
                limiter: RateLimiter::new(options.limiter),
                breaker: CircuitBreaker::new(options.breaker),
                retry_budget: RetryBudget::new(options.retry.budget_ratio),
                retry: options.retry,
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// What `tenant`'s rate budget allows now (for planning a background job).
    pub fn pace(&self, tenant: &Tenant) -> Pace {
        self.inner.limiter.pace(tenant.budget_key())
    }

    // ---- contacts ---------------------------------------------------------------------------

    pub async fn get_contact(&self, tenant: &Tenant, id: &PathId) -> Result<Contact, GhlError> {
        let route = Route::new("/contacts/{contactId}", format!("/contacts/{}", id.segment()));
        let envelope: ContactEnvelope = self.call(tenant, Method::GET, route, &[], None::<&()>).await?;
        Ok(envelope.contact)
    }

    pub async fn search_contacts(
        &self,
        tenant: &Tenant,
        query: Option<&str>,
        page_limit: u32,
        search_after: Option<&[Value]>,
    ) -> Result<SearchEnvelope, GhlError> {
        let body = SearchBody { location_id: tenant.location_id(), page_limit, query, search_after };
        let route = Route::fixed("/contacts/search");
        self.call(tenant, Method::POST, route, &[], Some(&body)).await
    }

    pub async fn contacts_by_business(&self, tenant: &Tenant, business_id: &PathId, limit: u32, skip: u64) -> Result<BusinessContactsEnvelope, GhlError> {
        let route = Route::new("/contacts/business/{businessId}", format!("/contacts/business/{}", business_id.segment()));
        let query = [("locationId", tenant.location_id().to_owned()), ("limit", limit.to_string()), ("skip", skip.to_string())];
        self.call(tenant, Method::GET, route, &query, None::<&()>).await
    }

    pub async fn create_contact(&self, tenant: &Tenant, mut body: ContactWrite) -> Result<Contact, GhlError> {
        body.location_id = Some(tenant.location_id().to_owned());
        let envelope: ContactEnvelope = self.call(tenant, Method::POST, Route::fixed("/contacts/"), &[], Some(&body)).await?;
        Ok(envelope.contact)
    }

    /// `POST /contacts/upsert`: GHL matches an existing contact by email or phone (per the
    /// location's duplicate setting) and updates it, or creates one. Re-sending the same body is
    /// harmless, which is why imports use it instead of `POST /contacts/`.
    pub async fn upsert_contact(&self, tenant: &Tenant, mut body: ContactWrite) -> Result<UpsertEnvelope, GhlError> {
        body.location_id = Some(tenant.location_id().to_owned());
        self.call(tenant, Method::POST, Route::fixed("/contacts/upsert"), &[], Some(&body)).await
    }

    /// What is left of the location's daily budget, from `X-RateLimit-Daily-Remaining` of one
    /// cheap read (`GET /contacts/?limit=1`), paced by the limiter like any call; `None` when
    /// GHL sent no such header.
    pub async fn daily_remaining(&self, tenant: &Tenant) -> Result<Option<u64>, GhlError> {
        let call = UpstreamCall { method: "GET", path: "/contacts/", status: None };
        let budget = tenant.budget_key();
        if let Err(refusal) = self.inner.limiter.acquire(budget, tenant.priority(), tenant.deadline()).await {
            return Err(GhlError::at(GhlErrorKind::refused_by_limiter(refusal), call));
        }
        let started = Instant::now();
        let path = format!("/contacts/?locationId={}&limit=1", tenant.location_id());
        let Reply { status, headers, body } = self.exchange(tenant, Method::GET, &path, None).await.map_err(|e| transport_error(&e, false, call.clone()))?;
        self.inner.limiter.observe(budget, status.as_u16(), &headers, started.elapsed());
        if status.is_success() {
            return Ok(RateLimitHeaders::read(&headers).daily_remaining);
        }
        Err(GhlError::at(classify(status, &headers, &body), UpstreamCall { status: Some(status.as_u16()), ..call }))
    }

    pub async fn update_contact(&self, tenant: &Tenant, id: &PathId, mut body: ContactWrite) -> Result<Contact, GhlError> {
        body.location_id = None;
        let route = Route::new("/contacts/{contactId}", format!("/contacts/{}", id.segment()));
        let envelope: UpdateContactEnvelope = self.call(tenant, Method::PUT, route, &[], Some(&body)).await?;
        Ok(envelope.contact)
    }

    pub async fn delete_contact(&self, tenant: &Tenant, id: &PathId) -> Result<bool, GhlError> {
        let route = Route::new("/contacts/{contactId}", format!("/contacts/{}", id.segment()));
        let envelope: DeleteEnvelope = self.call(tenant, Method::DELETE, route, &[], None::<&()>).await?;
        Ok(envelope.succeded)
    }

    pub async fn add_tags(&self, tenant: &Tenant, id: &PathId, tags: &[String]) -> Result<Vec<String>, GhlError> {
        let route = Route::new("/contacts/{contactId}/tags", format!("/contacts/{}/tags", id.segment()));
        let envelope: TagsEnvelope = self.call(tenant, Method::POST, route, &[], Some(&TagsBody { tags })).await?;
        Ok(envelope.tags)
    }

    pub async fn remove_tags(&self, tenant: &Tenant, id: &PathId, tags: &[String]) -> Result<Vec<String>, GhlError> {
        let route = Route::new("/contacts/{contactId}/tags", format!("/contacts/{}/tags", id.segment()));
        let envelope: TagsEnvelope = self.call(tenant, Method::DELETE, route, &[], Some(&TagsBody { tags })).await?;
        Ok(envelope.tags)
    }

    // ---- tasks ------------------------------------------------------------------------------

    pub async fn list_tasks(&self, tenant: &Tenant, contact: &PathId) -> Result<Vec<Task>, GhlError> {
        let route = Route::new("/contacts/{contactId}/tasks", format!("/contacts/{}/tasks", contact.segment()));
        let envelope: TasksEnvelope = self.call(tenant, Method::GET, route, &[], None::<&()>).await?;
        Ok(envelope.tasks)
    }

    pub async fn get_task(&self, tenant: &Tenant, contact: &PathId, task: &PathId) -> Result<Task, GhlError> {
        let route = Route::task(contact, task, "");
        let envelope: TaskEnvelope = self.call(tenant, Method::GET, route, &[], None::<&()>).await?;
        Ok(envelope.task)
    }

    pub async fn create_task(&self, tenant: &Tenant, contact: &PathId, body: &TaskWrite) -> Result<Task, GhlError> {
        let route = Route::new("/contacts/{contactId}/tasks", format!("/contacts/{}/tasks", contact.segment()));
        let envelope: TaskEnvelope = self.call(tenant, Method::POST, route, &[], Some(body)).await?;
        Ok(envelope.task)
    }

    pub async fn update_task(&self, tenant: &Tenant, contact: &PathId, task: &PathId, body: &TaskWrite) -> Result<Task, GhlError> {
        let envelope: TaskEnvelope = self.call(tenant, Method::PUT, Route::task(contact, task, ""), &[], Some(body)).await?;
        Ok(envelope.task)
    }

    pub async fn complete_task(&self, tenant: &Tenant, contact: &PathId, task: &PathId, completed: bool) -> Result<Task, GhlError> {
        let route = Route::task(contact, task, "/completed");
        let envelope: TaskEnvelope = self.call(tenant, Method::PUT, route, &[], Some(&CompletedBody { completed })).await?;
        Ok(envelope.task)
    }

    pub async fn delete_task(&self, tenant: &Tenant, contact: &PathId, task: &PathId) -> Result<bool, GhlError> {
        let envelope: DeleteEnvelope = self.call(tenant, Method::DELETE, Route::task(contact, task, ""), &[], None::<&()>).await?;
        Ok(envelope.succeded)
    }

    /// One page of `POST /locations/{locationId}/tasks/search` for the given contacts.
    pub async fn search_tasks(&self, tenant: &Tenant, contact_ids: &[String], limit: u32, skip: u32) -> Result<Vec<Task>, GhlError> {
        let location = PathId::parse(tenant.location_id(), "locationId")?;
        let route = Route::new("/locations/{locationId}/tasks/search", format!("/locations/{}/tasks/search", location.segment()));
        let body = TaskSearchBody { contact_id: contact_ids, limit, skip };
        let envelope: TaskSearchEnvelope = self.call(tenant, Method::POST, route, &[], Some(&body)).await?;
        Ok(envelope.tasks)
    }

    // ---- notes ------------------------------------------------------------------------------

    pub async fn list_notes(&self, tenant: &Tenant, contact: &PathId) -> Result<Vec<Note>, GhlError> {
        let route = Route::new("/contacts/{contactId}/notes", format!("/contacts/{}/notes", contact.segment()));
        let envelope: NotesEnvelope = self.call(tenant, Method::GET, route, &[], None::<&()>).await?;
        Ok(envelope.notes)
    }

    pub async fn get_note(&self, tenant: &Tenant, contact: &PathId, note: &PathId) -> Result<Note, GhlError> {
        let envelope: NoteEnvelope = self.call(tenant, Method::GET, Route::note(contact, note), &[], None::<&()>).await?;
        Ok(envelope.note)
    }

    pub async fn create_note(&self, tenant: &Tenant, contact: &PathId, body: &NoteWrite) -> Result<Note, GhlError> {
        let route = Route::new("/contacts/{contactId}/notes", format!("/contacts/{}/notes", contact.segment()));
        let envelope: NoteEnvelope = self.call(tenant, Method::POST, route, &[], Some(body)).await?;
        Ok(envelope.note)
    }

    pub async fn update_note(&self, tenant: &Tenant, contact: &PathId, note: &PathId, body: &NoteWrite) -> Result<Note, GhlError> {
        let envelope: NoteEnvelope = self.call(tenant, Method::PUT, Route::note(contact, note), &[], Some(body)).await?;
        Ok(envelope.note)
    }

    pub async fn delete_note(&self, tenant: &Tenant, contact: &PathId, note: &PathId) -> Result<bool, GhlError> {
        let envelope: DeleteEnvelope = self.call(tenant, Method::DELETE, Route::note(contact, note), &[], None::<&()>).await?;
        Ok(envelope.succeded)
    }

    // ---- appointments -----------------------------------------------------------------------

    pub async fn list_appointments(&self, tenant: &Tenant, contact: &PathId) -> Result<Vec<Event>, GhlError> {
        let route = Route::new("/contacts/{contactId}/appointments", format!("/contacts/{}/appointments", contact.segment()));
        let envelope: EventsEnvelope = self.call(tenant, Method::GET, route, &[], None::<&()>).await?;
        Ok(envelope.events)
    }

    // ---- the one place that sends ------------------------------------------------------------

    /// Sends one logical call (with retries) and decodes the success body.
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        tenant: &Tenant,
        method: Method,
        route: Route,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, GhlError> {
        let template = route.template;
        let call = UpstreamCall { method: method_name(&method), path: template, status: Some(200) };
        let query: Vec<(String, String)> = query.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        let body = match body {
            Some(body) => Some(Bytes::from(serde_json::to_vec(body).map_err(|_| GhlError::at(GhlErrorKind::Rejected { detail: None }, call.clone()))?)),
            None => None,
        };
        let bytes = self.send_with_retries(tenant, &method, &route, &query, body).await?;
        decode(&bytes).map_err(|e| {
            warn!(error = %e, endpoint = template, "GHL sent an unreadable success body");
            GhlError::at(GhlErrorKind::InvalidResponse, call)
        })
    }

    /// Attempts a call until it succeeds, fails for good, or runs out of attempts, budget or time.
    async fn send_with_retries(
        &self,
        tenant: &Tenant,
        method: &Method,
        route: &Route,
        query: &[(String, String)],
        body: Option<Bytes>,
    ) -> Result<Bytes, GhlError> {
        let config = &self.inner.retry;
        self.inner.retry_budget.deposit();
        let mut attempt = 0;
        loop {
            let error = match self.attempt(tenant, method, route, query, body.clone(), attempt + 1).await {
                Ok(bytes) => return Ok(bytes),
                Err(error) => error,
            };
            if attempt + 1 >= config.max_attempts.get() || !is_retryable(method, &error) {
                return Err(error);
            }
            let wait = backoff(config, attempt, &error);
            if tenant.deadline().is_some_and(|deadline| Instant::now() + wait >= deadline) {
                return Err(error);
            }
            if !self.inner.retry_budget.withdraw() {
                counter!("ghl_upstream_retries_refused_total", "endpoint" => route.template).increment(1);
                return Err(error);
            }
            counter!("ghl_upstream_retries_total", "endpoint" => route.template).increment(1);
            warn!(endpoint = route.template, attempt = attempt + 1, wait_ms = wait.as_millis() as u64, error = %error, "retrying GHL call");
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One HTTP exchange with GHL: breaker, limiter, concurrency bound, timeout, classification.
    /// Its span names the endpoint by template (never ids in a value, a token or a body).
    #[instrument(
        name = "ghl.call",
        skip_all,
        fields(
            otel.name = %format_args!("GHL {} {}", method, route.template),
            otel.kind = "client",
            method = %method,
            endpoint = route.template,
            location = tenant.location_id(),
            attempt = attempt,
            status = tracing::field::Empty,
            limiter_wait_ms = tracing::field::Empty,
        )
    )]
    async fn attempt(
        &self,
        tenant: &Tenant,
        method: &Method,
        route: &Route,
        query: &[(String, String)],
        body: Option<Bytes>,
        attempt: u32,
    ) -> Result<Bytes, GhlError> {
        let location = tenant.location_id();
        let budget = tenant.budget_key();
        let mut call = UpstreamCall { method: method_name(method), path: route.template, status: None };
        let unavailable = |reason, call: &UpstreamCall| GhlError::at(GhlErrorKind::Unavailable { reason }, call.clone());

        let Some(admission) = self.inner.breaker.admit(budget) else {
            counter!("ghl_circuit_rejections_total").increment(1);
            return Err(unavailable(Unavailability::CircuitOpen, &call));
        };
        let booked = match self.inner.limiter.acquire(budget, tenant.priority(), tenant.deadline()).await {
            Ok(waited) => {
                tenant.mark_under_way();
                histogram!("ghl_limiter_wait_seconds").record(waited.as_secs_f64());
                tracing::Span::current().record("limiter_wait_ms", u64::try_from(waited.as_millis()).unwrap_or(u64::MAX));
                Instant::now()
            }
            Err(refusal) => {
                counter!("ghl_limiter_rejections_total", "reason" => refusal.reason()).increment(1);
                return Err(GhlError::at(GhlErrorKind::refused_by_limiter(refusal), call));
            }
        };
        let permit = self.permit(budget).acquire_owned();
        let _permit = match tenant.deadline() {
            Some(deadline) => match tokio::time::timeout_at(deadline.into(), permit).await {
                Ok(permit) => permit,
                Err(_) => return Err(unavailable(Unavailability::DeadlineExceeded, &call)),
            },
            None => permit.await,
        };
        // The deadline, when nearer than the per-call timeout, bounds this attempt; its expiry is
        // then this operation running out of time, not GHL failing, and never trips the breaker.
        let (timeout, deadline_bound) = match tenant.deadline() {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                (left.min(self.inner.request_timeout), left < self.inner.request_timeout)
            }
            None => (self.inner.request_timeout, false),
        };
        if timeout.is_zero() {
            return Err(unavailable(Unavailability::DeadlineExceeded, &call));
        }

        let started = Instant::now();
        let outcome = self.send(tenant, method, &route.path, query, body, timeout).await;
        let result = match outcome {
            Err(error) => Err(transport_error(&error, deadline_bound, call.clone())),
            Ok(Reply { status, headers, body: bytes }) => {
                tracing::Span::current().record("status", status.as_u16());
                call.status = Some(status.as_u16());
                // From the booking, not the send: a call that waited for a connection permit
                // reached GHL that much later than its slot (the limiter's margin).
                self.inner.limiter.observe(budget, status.as_u16(), &headers, booked.elapsed());
                if status.is_success() {
                    Ok(bytes)
                } else {
                    let kind = classify(status, &headers, &bytes);
                    debug!(status = status.as_u16(), ?kind, "GHL call failed");
                    Err(GhlError::at(kind, call.clone()))
                }
            }
        };

        debug!(status = call.status, elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX), "GHL call answered");
        let status_label = call.status.map_or_else(|| "none".to_owned(), |s| s.to_string());
        counter!("ghl_upstream_calls_total", "endpoint" => route.template, "method" => call.method, "status" => status_label).increment(1);
        histogram!("ghl_upstream_call_duration_seconds", "endpoint" => route.template).record(started.elapsed().as_secs_f64());
        let failed = matches!(
            &result,
            Err(GhlError {
                kind: GhlErrorKind::Unavailable {
                    reason: Unavailability::ServerError | Unavailability::Timeout | Unavailability::ConnectFailed | Unavailability::ConnectionLost
                },
                ..
            })
        );
        match admission.record(failed) {
            Transition::Opened => {
                warn!(location, "GHL circuit opened after repeated failures");
                gauge!("ghl_circuit_open", "location" => location.to_owned()).set(1.0);
            }
            Transition::Closed => {
                debug!(location, "GHL circuit closed");
                gauge!("ghl_circuit_open", "location" => location.to_owned()).set(0.0);
            }
            Transition::None => {}
        }
        result
    }

    /// Sends `path` (with its query) as every call sends it: `Authorization`, `Version`, `Accept`,
    /// within `timeout`.
    async fn send(
        &self,
        tenant: &Tenant,
        method: &Method,
        path: &str,
        query: &[(String, String)],
        body: Option<Bytes>,
        timeout: Duration,
    ) -> Result<Reply, TransportError> {
        let base = self.inner.base.as_ref().ok_or(TransportError::Unsendable("the GHL base URL is not a URL with a host"))?;
        let mut url = url_on(base, path);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let authorization = tenant.authorization().ok_or(TransportError::Unsendable("the token cannot be sent as a header"))?;
        let mut headers = HeaderMap::with_capacity(6);
        headers.insert(AUTHORIZATION, authorization.clone());
        headers.insert(VERSION, HeaderValue::from_static(API_VERSION));
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        headers.insert(USER_AGENT, HeaderValue::from_static(concat!("ghl-subgraph/", env!("CARGO_PKG_VERSION"))));
        if body.is_some() {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        }
        self.inner.transport.send(method.clone(), &url, headers, body, timeout).await
    }

    /// One exchange sent as every call sends it, answered raw, for callers that read the status,
    /// the rate-limit headers and the transport error themselves (the connection check's `probe`,
    /// `daily_remaining`). No breaker, limiter or retry here: a check reports what GHL does.
    pub(super) async fn exchange(&self, tenant: &Tenant, method: Method, path: &str, body: Option<Vec<u8>>) -> Result<Reply, TransportError> {
        self.send(tenant, &method, path, &[], body.map(Bytes::from), self.inner.request_timeout).await
    }

    fn permit(&self, location_id: &str) -> Arc<Semaphore> {
        let mut map = self.inner.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(semaphore) = map.get(location_id) {
            return semaphore.clone();
        }
        if map.len() >= MAX_TRACKED_PERMITS {
            // Forward mode keys permits by credential: forget the ones nobody holds.
            map.retain(|_, semaphore| Arc::strong_count(semaphore) > 1);
        }
        let semaphore = Arc::new(Semaphore::new(self.inner.max_concurrency));
        map.insert(location_id.to_owned(), semaphore.clone());
        semaphore
    }
}

/// Concurrency bounds kept before unused ones are forgotten.
const MAX_TRACKED_PERMITS: usize = 10_000;

impl Route {
    fn new(template: &'static str, path: String) -> Self {
        Self { template, path }
    }

    fn fixed(template: &'static str) -> Self {
        Self { template, path: template.to_owned() }
    }

    fn task(contact: &PathId, task: &PathId, suffix: &'static str) -> Self {
        let template = if suffix.is_empty() { "/contacts/{contactId}/tasks/{taskId}" } else { "/contacts/{contactId}/tasks/{taskId}/completed" };
        Self::new(template, format!("/contacts/{}/tasks/{}{suffix}", contact.segment(), task.segment()))
    }

    fn note(contact: &PathId, note: &PathId) -> Self {
        Self::new("/contacts/{contactId}/notes/{id}", format!("/contacts/{}/notes/{}", contact.segment(), note.segment()))
    }
}

/// A JSON body, its UTF-8 checked once as a whole (`from_slice` checks each string on its own,
/// about 3 % of a nested query's instructions).
pub(super) fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let text = std::str::from_utf8(body).map_err(serde::de::Error::custom)?;
    serde_json::from_str(text)
}

fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "OTHER",
    }
}

/// `deadline_bound`: the attempt's timeout was the operation's deadline, not the per-call timeout.
fn transport_error(error: &TransportError, deadline_bound: bool, call: UpstreamCall) -> GhlError {
    let reason = if error.is_timeout() && deadline_bound {
        Unavailability::DeadlineExceeded
    } else if error.is_timeout() {
        Unavailability::Timeout
    } else if error.is_connect() {
        Unavailability::ConnectFailed
    } else {
        Unavailability::ConnectionLost
    };
    // The causes may name the host; keep them at debug level.
    let causes: Vec<String> = std::iter::successors(std::error::Error::source(error), |e| e.source()).map(ToString::to_string).collect();
    debug!(error = %error, causes = %causes.join(": "), %reason, "GHL transport error");
    GhlError::at(GhlErrorKind::Unavailable { reason }, call)
}

/// Maps a non-2xx answer to a kind, reading GHL's `message` only to tell cases apart.
pub(super) fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> GhlErrorKind {
    let text = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default().message_text();
    let message = text.to_ascii_lowercase();
    let rejected = || GhlErrorKind::Rejected { detail: validation_detail(&text) };
    match status.as_u16() {
        404 => GhlErrorKind::NotFound,
        400 if message.contains("not found") => GhlErrorKind::NotFound,
        400 | 422 => rejected(),
        401 if message.contains("not authorized for this scope") => GhlErrorKind::MissingScope,
        401 => GhlErrorKind::Unauthenticated,
        403 => GhlErrorKind::Forbidden,
        429 if RateLimitHeaders::read(headers).daily_remaining == Some(0) => GhlErrorKind::DailyBudgetExhausted { retry_after: None },
        429 => GhlErrorKind::RateLimited { retry_after: retry_after(headers) },
        408 | 500..=599 => GhlErrorKind::Unavailable { reason: Unavailability::ServerError },
        _ => GhlErrorKind::Rejected { detail: None },
    }
}

/// GHL's validation message, safe to show the caller: its own words about the caller's input,
/// without control characters, at most 300 characters.
fn validation_detail(text: &str) -> Option<String> {
    let clean: String = text.chars().filter(|c| !c.is_control()).take(300).collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

/// `Retry-After` (seconds) if present, else GHL's burst window length.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    header(RETRY_AFTER).map(Duration::from_secs).or_else(|| header(HeaderName::from_static("x-ratelimit-interval-milliseconds")).map(Duration::from_millis))
}

/// `base` with `path` (and its `?query`) after the base's own path: the URL that parsing the
/// two texts joined gives, without parsing the scheme and host again.
fn url_on(base: &Url, path: &str) -> Url {
    let (path, query) = match path.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path, None),
    };
    let mut url = base.clone();
    url.set_path(&format!("{}{path}", base.path().trim_end_matches('/')));
    url.set_query(query);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_on_the_parsed_base_are_the_joined_texts_parsed() {
        let paths = [
            "/contacts/abc123",
            "/contacts/abc123/tasks/t1",
            "/contacts/?locationId=loc&limit=20&query=ann%20smith",
            "/contacts/search/duplicate?locationId=loc&email=a%2Bb%40x.com",
            "/contacts/a%20b/notes",
            "/contacts/é/notes?x=ü y",
            "/contacts/a b|c{d}",
            "/contacts/",
            "/contacts/x?",
            "/contacts/x?a=1?b=2",
        ];
        for base in ["http://127.0.0.1:4321", "https://services.leadconnectorhq.com/", "https://proxy.example/ghl/v1", "https://proxy.example/ghl/v1/"] {
            let parsed = Url::parse(base).unwrap();
            for path in paths {
                let joined = Url::parse(&format!("{}{path}", base.trim_end_matches('/'))).unwrap();
                assert_eq!(url_on(&parsed, path).as_str(), joined.as_str(), "{base} + {path}");
            }
        }
    }

    #[test]
    fn missing_scope_401_is_told_apart_from_a_bad_token() {
        let headers = HeaderMap::new();
        let scope = br#"{"statusCode":401,"message":"The token is not authorized for this scope."}"#;
        assert_eq!(classify(StatusCode::UNAUTHORIZED, &headers, scope), GhlErrorKind::MissingScope);
        let jwt = br#"{"statusCode":401,"message":"Invalid JWT"}"#;
        assert_eq!(classify(StatusCode::UNAUTHORIZED, &headers, jwt), GhlErrorKind::Unauthenticated);
    }

    #[test]
    fn not_found_400_and_validation_422_are_classified() {
        let headers = HeaderMap::new();
        let nf = br#"{"statusCode":400,"message":"Contact not found"}"#;
        assert_eq!(classify(StatusCode::BAD_REQUEST, &headers, nf), GhlErrorKind::NotFound);
        let invalid = br#"{"statusCode":422,"message":["title must be a string"],"error":"Unprocessable Entity"}"#;
        assert_eq!(classify(StatusCode::UNPROCESSABLE_ENTITY, &headers, invalid), GhlErrorKind::Rejected { detail: Some("title must be a string".into()) });
    }

    #[test]
    fn rate_limited_uses_the_interval_header_when_retry_after_is_absent() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-interval-milliseconds", "10000".parse().unwrap());
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS, &headers, b""), GhlErrorKind::RateLimited { retry_after: Some(Duration::from_secs(10)) });
    }
}
