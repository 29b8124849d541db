//! The control API under `/__sandbox/` (no auth: the sandbox is a development tool on loopback):
//! the request log, fault injection, a description of the seeded credentials, the webhook key,
//! deliveries and delivery faults, each location's duplicate setting, app installs and uninstalls
//! (`/__sandbox/installs/{locationId}`) and sub-accounts added later (`/__sandbox/locations`). Changes made in the GHL app (`/__sandbox/contacts…`) are
//! `app_edits`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::auth::STATIC_TOKENS;
use crate::duplicates::DuplicateSetting;
use crate::error::ApiError;
use crate::faults::Fault;
use crate::installs::actions;
use crate::reply;
use crate::state::App;
use crate::validate::JsonBody;
use crate::webhooks::WebhookFault;
use crate::{API_VERSION, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OTHER_LOCATION_ID};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/__sandbox/requests", get(requests).delete(clear_requests))
        .route("/__sandbox/faults", get(faults).post(add_fault).delete(clear_faults))
        .route("/__sandbox/info", get(info))
        .route("/__sandbox/locations/{locationId}/duplicate-setting", get(duplicate_setting).put(set_duplicate_setting))
        .route("/__sandbox/installs/{locationId}", post(install).delete(uninstall))
        .route("/__sandbox/locations", post(add_location))
        .route("/__sandbox/webhook-public-key", get(webhook_public_key))
        .route("/__sandbox/webhooks", get(webhooks))
        .route("/__sandbox/webhook-faults", get(webhook_faults).post(add_webhook_fault).delete(clear_webhook_faults))
}

/// A location installs the app (INSTALL event); `{"installed": false}` when it already had.
async fn install(State(app): State<App>, Path(location): Path<String>) -> Result<Response, ApiError> {
    let user = app.read().first_user(&location).map(str::to_owned).ok_or(ApiError::NotFound("Location not found"))?;
    let installed = app.installs().installed_at(&location).is_none();
    actions::install_location(&app, &location, &user);
    Ok(reply::ok(&json!({"installed": installed})))
}

/// A location uninstalls the app: its OAuth tokens are revoked, an UNINSTALL event goes.
async fn uninstall(State(app): State<App>, Path(location): Path<String>) -> Response {
    reply::ok(&json!({"uninstalled": actions::uninstall_location(&app, &location)}))
}

/// `{"locationId": "..."}`: a new, empty sub-account of the company, installed at once (INSTALL
/// without userId/companyId) when the agency install has `installToFutureLocations`.
async fn add_location(State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "camelCase")]
    struct Body {
        location_id: String,
    }
    let Body { location_id } = serde_json::from_value(body).map_err(|e| ApiError::invalid(e.to_string()))?;
    let installed = actions::add_location(&app, &location_id).map_err(|()| ApiError::BadRequest(format!("Location {location_id} exists")))?;
    Ok(reply::created(&json!({"locationId": location_id, "installed": installed})))
}

/// The Ed25519 key the sandbox signs webhooks with, as 64 hex digits.
async fn webhook_public_key(State(app): State<App>) -> Response {
    reply::ok(&json!({"publicKey": app.webhooks.public_key_hex()}))
}

/// Every webhook delivery: event, webhookId, last status, attempts.
async fn webhooks(State(app): State<App>) -> Response {
    reply::ok(&json!({"deliveries": app.webhooks.deliveries()}))
}

async fn webhook_faults(State(app): State<App>) -> Response {
    reply::ok(&json!({"faults": app.webhooks.faults.list()}))
}

/// E.g. `{"kind":"drop","event":"TaskCreate","count":1}`; kinds `drop`, `duplicate`, `delay` (with
/// `delayMs`), `reorder`, `misSign`.
async fn add_webhook_fault(State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let fault: WebhookFault = serde_json::from_value(body).map_err(|e| ApiError::invalid(e.to_string()))?;
    fault.validate().map_err(ApiError::invalid)?;
    let response = reply::created(&json!({"fault": fault}));
    app.webhooks.faults.add(fault);
    Ok(response)
}

async fn clear_webhook_faults(State(app): State<App>) -> StatusCode {
    app.webhooks.faults.clear();
    StatusCode::NO_CONTENT
}

/// `{"setting": "email-then-phone"}`; an unknown location is a 400 `Location not found`.
async fn duplicate_setting(State(app): State<App>, Path(location): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    if !store.is_location(&location) {
        return Err(ApiError::NotFound("Location not found"));
    }
    Ok(reply::ok(&json!({"setting": store.duplicate_setting(&location)})))
}

/// Takes `{"setting": "phone-then-email"}` (see `DuplicateSetting`); answers the new setting.
async fn set_duplicate_setting(State(app): State<App>, Path(location): Path<String>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        setting: DuplicateSetting,
    }
    let Body { setting } = serde_json::from_value(body).map_err(|e| ApiError::invalid(e.to_string()))?;
    app.write().set_duplicate_setting(&location, setting).map_err(|_| ApiError::NotFound("Location not found"))?;
    Ok(reply::ok(&json!({"setting": setting})))
}

async fn requests(State(app): State<App>) -> Response {
    reply::ok(&json!({"requests": app.log.snapshot()}))
}

async fn clear_requests(State(app): State<App>) -> StatusCode {
    app.log.clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(app): State<App>) -> Response {
    reply::ok(&json!({"faults": app.faults.list()}))
}

async fn add_fault(State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let fault: Fault = serde_json::from_value(body).map_err(|e| ApiError::invalid(e.to_string()))?;
    fault.validate().map_err(ApiError::invalid)?;
    let response = reply::created(&json!({"fault": fault}));
    app.faults.add(fault);
    Ok(response)
}

async fn clear_faults(State(app): State<App>) -> StatusCode {
    app.faults.clear();
    StatusCode::NO_CONTENT
}

async fn info(State(app): State<App>) -> impl IntoResponse {
    let tokens: Vec<_> =
        STATIC_TOKENS.iter().map(|(token, location, scopes)| json!({"token": token, "locationId": location, "scope": scopes.join(" ")})).collect();
    let store = app.read();
    reply::ok(&json!({
        "baseUrl": app.base_url,
        "version": API_VERSION,
        "locations": [
            {"id": LOCATION_ID, "contacts": store.count(LOCATION_ID), "duplicateSetting": store.duplicate_setting(LOCATION_ID)},
            {"id": OTHER_LOCATION_ID, "contacts": store.count(OTHER_LOCATION_ID), "duplicateSetting": store.duplicate_setting(OTHER_LOCATION_ID)},
        ],
        "tokens": tokens,
        "oauth": {"clientId": OAUTH_CLIENT_ID, "clientSecret": OAUTH_CLIENT_SECRET},
    }))
}
