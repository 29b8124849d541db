//! The HTTP surface: the route table (paths exactly as in the spec, with and without the trailing
//! slash of `/contacts/`), the gateway middleware over every API route, the NestJS-style 404 for
//! unknown routes and methods, the unauthenticated `/__sandbox/` control routes and the app edits
//! (`/__sandbox/contacts…`), which run the same handlers without the gateway.

mod app_edits;
mod appointments;
mod contact_input;
mod contacts;
mod control;
mod items;
mod list;
mod notes;
pub(crate) mod oauth;
mod search;
mod tags;
mod tasks;
mod tasks_search;

use axum::http::{Method, Uri};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post, put};
use axum::Router;

use crate::error::ApiError;
use crate::gateway::gateway;
use crate::state::App;

pub(crate) fn router(app: App) -> Router {
    let api = api_routes().layer(from_fn_with_state(app.clone(), crate::webhooks::emit_after_writes));
    // What the GHL app can do besides the API: appointments have no API route in the sandbox.
    let app_side = api_routes()
        .route("/contacts/{contactId}/appointments", post(appointments::create))
        .route("/contacts/{contactId}/appointments/{appointmentId}", put(appointments::update).delete(appointments::delete))
        .layer(from_fn_with_state(app.clone(), crate::webhooks::emit_after_writes))
        .with_state(app.clone());
    api.layer(from_fn_with_state(app.clone(), gateway)).merge(control::routes()).merge(app_edits::routes(app.clone(), app_side)).with_state(app)
}

/// GHL's API: the route table both the public router and the app edits serve.
fn api_routes() -> Router<App> {
    Router::new()
        .route("/contacts/", get(list::list).post(contacts::create))
        .route("/contacts", get(list::list).post(contacts::create))
        .route("/contacts/search", post(search::search))
        .route("/contacts/upsert", post(contacts::upsert))
        .route("/contacts/business/{businessId}", get(list::by_business))
        .route("/contacts/{contactId}", get(contacts::get).put(contacts::update).delete(contacts::delete))
        .route("/contacts/{contactId}/tasks", get(tasks::list).post(tasks::create))
        .route("/contacts/{contactId}/tasks/{taskId}", get(tasks::get).put(tasks::update).delete(tasks::delete))
        .route("/contacts/{contactId}/tasks/{taskId}/completed", put(tasks::complete))
        .route("/contacts/{contactId}/notes", get(notes::list).post(notes::create))
        .route("/contacts/{contactId}/notes/{id}", get(notes::get).put(notes::update).delete(notes::delete))
        .route("/contacts/{contactId}/appointments", get(appointments::list))
        .route("/contacts/{contactId}/tags", post(tags::add).delete(tags::remove))
        .route("/locations/{locationId}/tasks/search", post(tasks_search::search))
        .route("/oauth/token", post(oauth::token))
        .route("/oauth/chooselocation", get(oauth::choose_location))
        .route("/oauth/locationToken", post(oauth::location_token))
        .route("/oauth/installedLocations", get(oauth::installed_locations))
        .method_not_allowed_fallback(no_route)
        .fallback(no_route)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute { method: method.to_string(), path: uri.path().to_owned() }
}
