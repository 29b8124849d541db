//! `GhlClient`: a pooled `reqwest::Client` plus one typed async fn per GHL endpoint.
//!
//! Every call goes through [`GhlClient::call`], which adds `Authorization` and `Version`, bounds
//! concurrency per location, and classifies failures into [`GhlError`]. Retries and rate-limit
//! shaping plug in there too, so no endpoint fn has to care.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, AUTHORIZATION, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Semaphore;
use tracing::{debug, instrument, warn};

use super::error::{GhlError, GhlErrorKind, UpstreamCall};
use super::ids::PathId;
use super::models::*;
use super::tenant::Tenant;
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
    pub max_concurrency_per_location: usize,
}

#[derive(Clone)]
pub struct GhlClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: String,
    max_concurrency: usize,
    in_flight: Mutex<HashMap<String, Arc<Semaphore>>>,
}

/// A path with its template, so errors and logs name the endpoint without ids.
struct Route {
    template: &'static str,
    path: String,
}

impl GhlClient {
    pub fn new(options: ClientOptions) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(options.connect_timeout)
            .timeout(options.request_timeout)
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("ghl-subgraph/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base_url: options.base_url.trim_end_matches('/').to_owned(),
                max_concurrency: options.max_concurrency_per_location.max(1),
                in_flight: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn base_url(&self) -> &str {
        &self.inner.base_url
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

    pub async fn contacts_by_business(
        &self,
        tenant: &Tenant,
        business_id: &PathId,
        limit: u32,
        skip: u64,
    ) -> Result<BusinessContactsEnvelope, GhlError> {
        let route = Route::new("/contacts/business/{businessId}", format!("/contacts/business/{}", business_id.segment()));
        let query = [
            ("locationId", tenant.location_id().to_owned()),
            ("limit", limit.to_string()),
            ("skip", skip.to_string()),
        ];
        self.call(tenant, Method::GET, route, &query, None::<&()>).await
    }

    pub async fn create_contact(&self, tenant: &Tenant, mut body: ContactWrite) -> Result<Contact, GhlError> {
        body.location_id = Some(tenant.location_id().to_owned());
        let envelope: ContactEnvelope = self.call(tenant, Method::POST, Route::fixed("/contacts/"), &[], Some(&body)).await?;
        Ok(envelope.contact)
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

    #[instrument(name = "ghl.call", skip_all, fields(method = %method, endpoint = route.template, location = tenant.location_id()))]
    async fn call<T: DeserializeOwned, B: Serialize + ?Sized>(
        &self,
        tenant: &Tenant,
        method: Method,
        route: Route,
        query: &[(&str, String)],
        body: Option<&B>,
    ) -> Result<T, GhlError> {
        let mut call = UpstreamCall { method: method_name(&method), path: route.template, status: None };
        let _permit = self.permit(tenant.location_id()).acquire_owned().await;

        let mut request = self
            .inner
            .http
            .request(method, format!("{}{}", self.inner.base_url, route.path))
            .header(AUTHORIZATION, tenant.bearer())
            .header("Version", API_VERSION)
            .header("Accept", "application/json");
        if !query.is_empty() {
            request = request.query(query);
        }
        if let Some(body) = body {
            request = request.json(body);
        }

        let response = request.send().await.map_err(|e| transport_error(&e, call.clone()))?;
        let status = response.status();
        call.status = Some(status.as_u16());
        let headers = response.headers().clone();
        let bytes = response.bytes().await.map_err(|e| transport_error(&e, call.clone()))?;

        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                warn!(error = %e, "GHL sent an unreadable success body");
                GhlError::at(GhlErrorKind::InvalidResponse, call)
            });
        }
        let kind = classify(status, &headers, &bytes);
        debug!(status = status.as_u16(), ?kind, "GHL call failed");
        Err(GhlError::at(kind, call))
    }

    fn permit(&self, location_id: &str) -> Arc<Semaphore> {
        let mut map = self.inner.in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        map.entry(location_id.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.inner.max_concurrency)))
            .clone()
    }
}

impl Route {
    fn new(template: &'static str, path: String) -> Self {
        Self { template, path }
    }

    fn fixed(template: &'static str) -> Self {
        Self { template, path: template.to_owned() }
    }

    fn task(contact: &PathId, task: &PathId, suffix: &'static str) -> Self {
        let template = if suffix.is_empty() {
            "/contacts/{contactId}/tasks/{taskId}"
        } else {
            "/contacts/{contactId}/tasks/{taskId}/completed"
        };
        Self::new(template, format!("/contacts/{}/tasks/{}{suffix}", contact.segment(), task.segment()))
    }

    fn note(contact: &PathId, note: &PathId) -> Self {
        Self::new("/contacts/{contactId}/notes/{id}", format!("/contacts/{}/notes/{}", contact.segment(), note.segment()))
    }
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

fn transport_error(error: &reqwest::Error, call: UpstreamCall) -> GhlError {
    let reason = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body interrupted"
    } else {
        "request failed"
    };
    // reqwest's Display includes the URL (ids, never tokens); keep it at debug level.
    debug!(error = %error, reason, "GHL transport error");
    GhlError::at(GhlErrorKind::Unavailable { reason }, call)
}

/// Maps a non-2xx answer to a kind, reading GHL's `message` only to tell cases apart.
fn classify(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> GhlErrorKind {
    let message = serde_json::from_slice::<ErrorBody>(body).unwrap_or_default().message_text().to_ascii_lowercase();
    match status.as_u16() {
        404 => GhlErrorKind::NotFound,
        400 if message.contains("not found") => GhlErrorKind::NotFound,
        400 | 422 => GhlErrorKind::Rejected,
        401 if message.contains("not authorized for this scope") => GhlErrorKind::MissingScope,
        401 => GhlErrorKind::Unauthenticated,
        403 => GhlErrorKind::Forbidden,
        429 => GhlErrorKind::RateLimited { retry_after: retry_after(headers) },
        408 | 500..=599 => GhlErrorKind::Unavailable { reason: "server error" },
        _ => GhlErrorKind::Rejected,
    }
}

/// `Retry-After` (seconds) if present, else GHL's burst window length.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
    header(RETRY_AFTER)
        .map(Duration::from_secs)
        .or_else(|| header(reqwest::header::HeaderName::from_static("x-ratelimit-interval-milliseconds")).map(Duration::from_millis))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(classify(StatusCode::UNPROCESSABLE_ENTITY, &headers, invalid), GhlErrorKind::Rejected);
    }

    #[test]
    fn rate_limited_uses_the_interval_header_when_retry_after_is_absent() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-interval-milliseconds", "10000".parse().unwrap());
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, &headers, b""),
            GhlErrorKind::RateLimited { retry_after: Some(Duration::from_secs(10)) }
        );
    }
}
