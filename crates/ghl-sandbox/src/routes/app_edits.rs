//! Changes made in the GHL app, out of band: `/__sandbox/contacts…` routes that change the store as
//! the matching API routes do (same bodies, answers and errors) and emit the webhook GHL would send,
//! but with no bearer token, no request-log entry and no rate limit. Each runs the API's own handler:
//! the request is rewritten (`/__sandbox` stripped, PATCH → PUT) and given to the API router without
//! the gateway, as a caller with every scope of the contact's location. Appointments, which have no
//! API route here, are written only this way.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::request::Parts;
use axum::http::Method;
use axum::response::Response;
use axum::routing::{patch, post, put};
use axum::Router;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::auth::{Caller, Grant};
use crate::error::ApiError;
use crate::scopes::{CONTACTS_READONLY, CONTACTS_WRITE, LOCATIONS_TASKS_READONLY};
use crate::state::App;

/// The store (to find a contact's location) and the gateway-less router the edits run through.
#[derive(Clone)]
struct Edits {
    app: App,
    api: Router,
}

/// `api`: the API routes plus appointment writes, with webhooks but without the gateway.
pub(super) fn routes(app: App, api: Router) -> Router<App> {
    Router::new()
        .route("/__sandbox/contacts", post(create))
        .route("/__sandbox/contacts/", post(create))
        .route("/__sandbox/contacts/{contactId}", patch(edit).delete(edit))
        .route("/__sandbox/contacts/{contactId}/tags", post(edit).delete(edit))
        .route("/__sandbox/contacts/{contactId}/tasks", post(edit))
        .route("/__sandbox/contacts/{contactId}/tasks/{taskId}", put(edit).delete(edit))
        .route("/__sandbox/contacts/{contactId}/tasks/{taskId}/completed", put(edit))
        .route("/__sandbox/contacts/{contactId}/notes", post(edit))
        .route("/__sandbox/contacts/{contactId}/notes/{noteId}", put(edit).delete(edit))
        .route("/__sandbox/contacts/{contactId}/appointments", post(edit))
        .route("/__sandbox/contacts/{contactId}/appointments/{appointmentId}", put(edit).delete(edit))
        .method_not_allowed_fallback(super::no_route)
        .with_state(Edits { app, api })
}

/// Most bytes of a create's body read: axum's default body limit, which the API routes have too.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// A contact created in the app: the location is the body's `locationId`.
async fn create(State(edits): State<Edits>, request: Request) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, BODY_LIMIT).await.map_err(|e| ApiError::BadRequest(format!("Could not read the request body: {e}")))?;
    // Without a usable `locationId` the API's own validation answers (422), whatever the location.
    let location = serde_json::from_slice::<Value>(&bytes).ok().and_then(|b| b.get("locationId")?.as_str().map(str::to_owned));
    if location.as_deref().is_some_and(|l| !edits.app.read().is_location(l)) {
        return Err(ApiError::NotFound("Location not found"));
    }
    edits.forward(location.unwrap_or_default(), parts, Body::from(bytes)).await
}

/// A change to an existing contact or one of its records: the location is the contact's.
async fn edit(State(edits): State<Edits>, Path(params): Path<Vec<(String, String)>>, request: Request) -> Result<Response, ApiError> {
    let contact_id = params.iter().find(|(name, _)| name == "contactId").map(|(_, id)| id.as_str()).unwrap_or_default();
    let location = edits.app.read().contact(contact_id).map(|c| c.location_id.clone()).ok_or(ApiError::NotFound("Contact not found"))?;
    let (parts, body) = request.into_parts();
    edits.forward(location, parts, body).await
}

impl Edits {
    /// Runs the API route the edit mirrors. The request is built afresh: the outer route's
    /// extensions (matched path, path parameters) would otherwise mix with the inner route's.
    async fn forward(&self, location_id: String, parts: Parts, body: Body) -> Result<Response, ApiError> {
        let path = parts.uri.path().strip_prefix("/__sandbox").unwrap_or("/");
        let path = if path == "/contacts" { "/contacts/" } else { path };
        let uri = match parts.uri.query() {
            Some(query) => format!("{path}?{query}"),
            None => path.to_owned(),
        };
        let method = if parts.method == Method::PATCH { Method::PUT } else { parts.method };
        let mut request = Request::builder().method(method).uri(uri).body(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        *request.headers_mut() = parts.headers;
        request.extensions_mut().insert(app_user(location_id));
        Ok(match self.api.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        })
    }
}

/// Someone in the GHL app: everything a token can do, in that location.
fn app_user(location_id: String) -> Caller {
    let scopes = [CONTACTS_READONLY, CONTACTS_WRITE, LOCATIONS_TASKS_READONLY].map(str::to_owned).to_vec();
    Caller { token: Arc::from("ghl-app"), grant: Arc::new(Grant { location_id, company_id: None, scopes, expires_at: None }) }
}
