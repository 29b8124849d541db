//! `POST /webhooks/ghl`: GHL's change events, verified, turned into cache invalidations and
//! published on the event bus.
//!
//! The signature is the guard (no API key): Ed25519 over the raw bytes (`signature`), or with
//! `--webhook-legacy-rsa` GHL's retired RSA signature on bodies without one (`legacy_rsa`). A body
//! that is unsigned, badly signed, outside the time window or malformed changes nothing; a
//! replayed `webhookId` answers 200 so GHL stops sending it; events for locations this
//! subgraph does not serve are ignored. GHL delivers again only after a 429, so anything else
//! we answer is final.
//!
//! - `events`: GHL's payloads read as changes (kind, location, ids).
//! - `installs`: INSTALL / UNINSTALL, which (in OAuth mode) mint a location's token under its
//!   agency, or forget its tokens and purge its cached data.
//! - `signature`: the key and the check.
//! - `legacy_rsa`: the retired `x-wh-signature` (RSA SHA-256), only when asked for.
//! - `bus`: the in-process event bus the subscriptions will read.
//! - `seen`: the `webhookId`s applied already (shared across replicas with `--redis-url`).

mod bus;
mod events;
mod installs;
mod legacy_rsa;
mod seen;
mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use metrics::{counter, histogram};
use serde_json::json;
use tracing::{debug, info_span, warn, Instrument as _};

pub use bus::{EventBus, LocalBus};
pub use legacy_rsa::{LegacyRsaKey, LEGACY_SIGNATURE_HEADER};
pub use seen::{LocalIds, SeenIds, REMEMBER_IDS_FOR};
pub use signature::{WebhookKey, SIGNATURE_HEADER};

use crate::data::{ChangeEvent, ChangeKind, DataLayer, Subject};
use crate::oauth::TokenManager;

/// Largest webhook body accepted (GHL's events are a few KiB).
const MAX_BODY_BYTES: usize = 256 * 1024;

/// How the receiver checks and applies events.
#[derive(Clone, Debug)]
pub struct WebhookSettings {
    pub key: WebhookKey,
    /// Checks `x-wh-signature` on deliveries without `x-ghl-signature`; `None`: refused.
    pub legacy_rsa: Option<LegacyRsaKey>,
    /// Oldest (or furthest in the future) `timestamp` accepted.
    pub max_age: Duration,
    /// The one location served (static mode); `None`: every location (forward and OAuth mode).
    pub location: Option<String>,
}

/// Deliveries applied at once; more answer 429 (GHL delivers those again later).
const MAX_IN_FLIGHT: usize = 64;

/// The receiver's state.
pub struct Receiver {
    settings: WebhookSettings,
    seen: Arc<dyn SeenIds>,
    data: DataLayer,
    bus: Arc<dyn EventBus>,
    in_flight: tokio::sync::Semaphore,
    /// Set when the server begins to stop: events then get 429, so GHL delivers them again.
    stopping: std::sync::atomic::AtomicBool,
    /// OAuth mode's tokens, which INSTALL and UNINSTALL change.
    tokens: Option<Arc<TokenManager>>,
}

impl Receiver {
    pub fn new(settings: WebhookSettings, data: DataLayer, bus: Arc<dyn EventBus>) -> Self {
        let seen = Arc::new(LocalIds::default());
        let stopping = std::sync::atomic::AtomicBool::new(false);
        Self { settings, seen, data, bus, in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT), stopping, tokens: None }
    }

    /// Delivery ids shared with other replicas (`--redis-url`) instead of this process's own.
    pub fn with_seen_ids(mut self, seen: Arc<dyn SeenIds>) -> Self {
        self.seen = seen;
        self
    }

    /// OAuth mode: INSTALL and UNINSTALL mint or forget locations' tokens.
    pub fn with_tokens(mut self, tokens: Arc<TokenManager>) -> Self {
        self.tokens = Some(tokens);
        self
    }

    /// From now on every delivery answers 429: GHL's one status that makes it deliver again
    /// (to another replica, or to this one after its restart).
    pub fn stop_taking(&self) {
        self.stopping.store(true, std::sync::atomic::Ordering::Release);
    }

    /// Checks and applies one delivery; the status and outcome to answer.
    async fn receive(&self, headers: &HeaderMap, body: &[u8]) -> (StatusCode, &'static str, Option<String>) {
        let received = std::time::Instant::now();
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        // The current signature decides when present; the legacy one only stands in for it.
        let verified = match (header(SIGNATURE_HEADER), &self.settings.legacy_rsa) {
            (Some(signature), _) => self.settings.key.verifies(body, signature),
            (None, Some(legacy)) => match header(LEGACY_SIGNATURE_HEADER) {
                Some(signature) => legacy.verifies(body, signature),
                None => return (StatusCode::UNAUTHORIZED, "unsigned", None),
            },
            (None, None) => return (StatusCode::UNAUTHORIZED, "unsigned", None),
        };
        if !verified {
            return (StatusCode::UNAUTHORIZED, "bad_signature", None);
        }
        // Checked after the signature: only GHL learns that we are busy.
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return (StatusCode::TOO_MANY_REQUESTS, "deferred", None);
        };
        if self.stopping.load(std::sync::atomic::Ordering::Acquire) {
            return (StatusCode::TOO_MANY_REQUESTS, "deferred", None);
        }
        if let Some((event, delivery)) = installs::parse(body) {
            return self.apply_lifecycle(event, delivery).await;
        }
        let (event, delivery) = match events::parse(body) {
            Ok(parsed) => parsed,
            Err(events::EventError::Unrelated(kind)) => return (StatusCode::OK, "ignored", Some(kind)),
            Err(events::EventError::Malformed) => return (StatusCode::BAD_REQUEST, "malformed", None),
        };
        let kind = Some(event.event_type.clone());
        let sent_ago = match self.admit(&delivery, &event.location_id).await {
            Ok(sent_ago) => sent_ago,
            Err(outcome) => return (outcome.0, outcome.1, kind),
        };
        self.data.changed_elsewhere(&event);
        histogram!("ghl_webhook_invalidation_seconds").record(received.elapsed());
        if let Some(sent_ago) = sent_ago {
            histogram!("ghl_webhook_delivery_lag_seconds").record(sent_ago);
        }
        self.bus.publish(event);
        (StatusCode::OK, "applied", kind)
    }

    /// The checks every verified event passes before it is applied: its time window, a location
    /// we serve, not seen before (its id is claimed then). `Ok` with how long ago it was sent, when known.
    async fn admit(&self, delivery: &events::Delivery, location: &str) -> Result<Option<Duration>, (StatusCode, &'static str)> {
        let mut sent_ago = None;
        if let Some(timestamp) = &delivery.timestamp {
            let age = chrono::DateTime::parse_from_rfc3339(timestamp).ok().map(|at| chrono::Utc::now() - at.with_timezone(&chrono::Utc));
            if age.and_then(|age| age.abs().to_std().ok()).is_none_or(|age| age > self.settings.max_age) {
                return Err((StatusCode::BAD_REQUEST, "stale"));
            }
            sent_ago = age.and_then(|age| age.to_std().ok());
        }
        if self.settings.location.as_deref().is_some_and(|served| served != location) {
            return Err((StatusCode::OK, "ignored"));
        }
        if let Some(id) = &delivery.webhook_id {
            if !self.seen.claim(id).await {
                return Err((StatusCode::OK, "duplicate"));
            }
        }
        Ok(sent_ago)
    }

    /// INSTALL mints the location's token when one of our agencies covers it; UNINSTALL forgets
    /// its tokens and purges its cached data. A token call or store write that fails answers 429,
    /// the one status GHL delivers again after.
    async fn apply_lifecycle(&self, event: installs::AppEvent, delivery: events::Delivery) -> (StatusCode, &'static str, Option<String>) {
        let kind = Some(event.event_type().to_owned());
        if let Err(outcome) = self.admit(&delivery, &event.location_id).await {
            return (outcome.0, outcome.1, kind);
        }
        let applied = match (&event.lifecycle, &self.tokens) {
            (installs::Lifecycle::Install, Some(tokens)) => tokens.location_installed(&event.location_id, event.company_id.as_deref()).await,
            (installs::Lifecycle::Install, None) => Ok(false),
            (installs::Lifecycle::Uninstall, tokens) => {
                let forgotten = match tokens {
                    Some(tokens) => tokens.location_uninstalled(&event.location_id).await.map(|_| true),
                    None => Ok(true),
                };
                // Its cached data goes, and its subscriptions end.
                let gone = ChangeEvent {
                    event_type: event.event_type().to_owned(),
                    subject: Subject::Installation,
                    kind: ChangeKind::Deleted,
                    location_id: event.location_id.clone(),
                    contact_id: None,
                    item_id: None,
                };
                self.data.changed_elsewhere(&gone);
                self.bus.publish(gone);
                forgotten
            }
        };
        let outcome = match applied {
            Ok(true) => (StatusCode::OK, "applied", kind),
            Ok(false) => (StatusCode::OK, "ignored", kind),
            Err(error) => {
                warn!(location = %event.location_id, error = %error, "an install event could not be applied yet; GHL will deliver it again");
                if let Some(id) = &delivery.webhook_id {
                    self.seen.release(id).await;
                }
                return (StatusCode::TOO_MANY_REQUESTS, "deferred", kind);
            }
        };
        outcome
    }
}

/// The webhook route, with its own body limit and no API-key guard.
pub fn routes(receiver: Arc<Receiver>) -> Router {
    Router::new().route("/webhooks/ghl", post(receive)).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES)).with_state(receiver)
}

async fn receive(State(receiver): State<Arc<Receiver>>, headers: HeaderMap, body: Bytes) -> Response {
    let span = info_span!("ghl.webhook", outcome = tracing::field::Empty, event = tracing::field::Empty);
    async move {
        let (status, outcome, kind) = receiver.receive(&headers, &body).await;
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

#[cfg(test)]
mod tests {
    use std::num::{NonZeroU32, NonZeroUsize};

    use base64::Engine as _;
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;
    use crate::data::{CacheOptions, DataOptions};
    use crate::highlevel::{BreakerConfig, ClientOptions, GhlClient, LimiterConfig, RetryConfig};

    fn receiver(signing: &SigningKey, bus: Arc<LocalBus>) -> Receiver {
        let client = GhlClient::new(ClientOptions {
            base_url: "http://127.0.0.1:9".into(),
            connect_timeout: Duration::from_secs(1),
            request_timeout: Duration::from_secs(1),
            max_concurrency_per_location: NonZeroUsize::MIN,
            limiter: LimiterConfig {
                burst_max: 10,
                burst_interval: Duration::from_secs(1),
                daily_max: 10,
                max_wait: Duration::from_secs(1),
                max_queue: 10,
                background_share: 0.5,
                shared: None,
            },
            retry: RetryConfig::with(NonZeroU32::MIN, Duration::from_millis(10)),
            breaker: BreakerConfig { failure_threshold: NonZeroU32::MIN, cool_down: Duration::from_secs(1) },
        })
        .expect("client");
        let options =
            DataOptions { tasks_search_page_size: NonZeroU32::MIN, batch_delay: Duration::ZERO, cache: CacheOptions { ttl: Duration::ZERO, max_bytes: 1 } };
        let key: String = signing.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect();
        let settings = WebhookSettings { key: key.parse().expect("key"), legacy_rsa: None, max_age: Duration::from_secs(300), location: None };
        Receiver::new(settings, DataLayer::new(client, options), bus)
    }

    fn signed(signing: &SigningKey, webhook_id: &str) -> (HeaderMap, Vec<u8>) {
        let body = serde_json::to_vec(
            &json!({ "type": "ContactUpdate", "locationId": "loc", "id": "c1", "webhookId": webhook_id, "timestamp": chrono::Utc::now().to_rfc3339() }),
        )
        .unwrap();
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, base64::engine::general_purpose::STANDARD.encode(signing.sign(&body).to_bytes()).parse().unwrap());
        (headers, body)
    }

    #[tokio::test]
    async fn a_stopping_receiver_answers_429_so_ghl_delivers_again_and_applies_nothing() {
        let signing = SigningKey::from_bytes(&[5; 32]);
        let bus = Arc::new(LocalBus::new(8));
        let mut events = bus.subscribe();
        let receiver = receiver(&signing, bus.clone());

        let (headers, body) = signed(&signing, "w1");
        assert_eq!(receiver.receive(&headers, &body).await.1, "applied");
        assert_eq!(events.try_recv().map(|e| e.event_type).ok().as_deref(), Some("ContactUpdate"));

        receiver.stop_taking();
        let (headers, body) = signed(&signing, "w2");
        let (status, outcome, _) = receiver.receive(&headers, &body).await;
        assert_eq!((status, outcome), (StatusCode::TOO_MANY_REQUESTS, "deferred"));
        assert!(events.try_recv().is_err(), "nothing published");
        assert!(receiver.seen.claim("w2").await, "not remembered, so GHL's next delivery applies");
    }
}
