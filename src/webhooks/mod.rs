//! `POST /webhooks/ghl`: GHL's change events, verified, turned into cache invalidations and
//! published on the event bus.
//!
//! The signature is the guard (no API key): Ed25519 over the raw bytes (`signature`). A body
//! that is unsigned, badly signed, outside the time window or malformed changes nothing; a
//! replayed `webhookId` answers 200 so GHL stops sending it; events for locations this
//! subgraph does not serve are ignored. GHL delivers again only after a 429, so anything else
//! we answer is final.
//!
//! - `events`: GHL's payloads read as changes (kind, location, ids).
//! - `signature`: the key and the check.
//! - `bus`: the in-process event bus the subscriptions will read.

mod bus;
mod events;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use metrics::counter;
use serde_json::json;
use tracing::{debug, info_span, warn, Instrument as _};

pub use bus::{EventBus, LocalBus};
pub use signature::{WebhookKey, SIGNATURE_HEADER};

use crate::data::DataLayer;

/// Largest webhook body accepted (GHL's events are a few KiB).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// How long a `webhookId` is remembered: GHL's retries span about 70 minutes.
const REMEMBER_IDS_FOR: Duration = Duration::from_secs(2 * 60 * 60);

/// Most `webhookId`s remembered at once.
const MAX_REMEMBERED_IDS: u64 = 1_000_000;

/// How the receiver checks and applies events.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub key: WebhookKey,
    /// Oldest (or furthest in the future) `timestamp` accepted.
    pub max_age: Duration,
    /// The one location served (static mode); `None`: every location (forward and OAuth mode).
    pub location: Option<String>,
}

/// The receiver's state.
pub struct Receiver {
    settings: WebhookSettings,
    seen: moka::sync::Cache<String, ()>,
    data: DataLayer,
    bus: Arc<dyn EventBus>,
}

impl Receiver {
    pub fn new(settings: WebhookSettings, data: DataLayer, bus: Arc<dyn EventBus>) -> Self {
        let seen = moka::sync::Cache::builder().max_capacity(MAX_REMEMBERED_IDS).time_to_live(REMEMBER_IDS_FOR).build();
        Self { settings, seen, data, bus }
    }

    /// Checks and applies one delivery; the status and outcome to answer.
    fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, &'static str, Option<String>) {
        let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
            return (StatusCode::UNAUTHORIZED, "unsigned", None);
        };
        if !self.settings.key.verifies(body, signature) {
            return (StatusCode::UNAUTHORIZED, "bad_signature", None);
        }
        let (event, delivery) = match events::parse(body) {
            Ok(parsed) => parsed,
            Err(events::EventError::Unrelated(kind)) => return (StatusCode::OK, "ignored", Some(kind)),
            Err(events::EventError::Malformed) => return (StatusCode::BAD_REQUEST, "malformed", None),
        };
        let kind = Some(event.event_type.clone());
        if let Some(timestamp) = &delivery.timestamp {
            let fresh = chrono::DateTime::parse_from_rfc3339(timestamp).ok().is_some_and(|at| {
                let age = (chrono::Utc::now() - at.with_timezone(&chrono::Utc)).abs();
                age.to_std().is_ok_and(|age| age <= self.settings.max_age)
            });
            if !fresh {
                return (StatusCode::BAD_REQUEST, "stale", kind);
            }
        }
        if self.settings.location.as_deref().is_some_and(|served| served != event.location_id) {
            return (StatusCode::OK, "ignored", kind);
        }
        if let Some(id) = &delivery.webhook_id {
            if self.seen.contains_key(id) {
                return (StatusCode::OK, "duplicate", kind);
            }
        }
        self.data.changed_elsewhere(&event);
        if let Some(id) = delivery.webhook_id {
            self.seen.insert(id, ());
        }
        self.bus.publish(event);
        (StatusCode::OK, "applied", kind)
    }
}

/// The webhook route, with its own body limit and no API-key guard.
pub fn routes(receiver: Arc<Receiver>) -> Router {
    Router::new().route("/webhooks/ghl", post(receive)).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(receiver)
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let span = info_span!("ghl.webhook", outcome = tracing::field::Empty, event = tracing::field::Empty);
    async move {
        let (status, outcome, kind) = receiver.receive(&headers, &body);
        let kind = kind.unwrap_or_else(|| "unknown".to_owned());
        tracing::Span::current().record("outcome", outcome).record("event", kind.as_str());
        counter!("ghl_webhook_events_total", "type" => kind.clone(), "outcome" => outcome).increment(1);
        if status.is_success() {
            debug!(event = %kind, outcome, "webhook");
        } else {
            warn!(event = %kind, outcome, status = status.as_u16(), "webhook refused");
        }
        (status, Json(json!({ "status": outcome }))).into_response()
    }
    .instrument(span)
    .await
}
