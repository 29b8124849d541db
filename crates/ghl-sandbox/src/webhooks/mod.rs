//! Webhooks out, like GHL: every successful write (through the API, by the subgraph or anyone else,
//! or as a change made in the GHL app through `/__sandbox/contacts…`) is delivered as GHL's event to
//! the configured URL, signed with the sandbox's Ed25519 key in `x-ghl-signature`, with `timestamp`
//! and `webhookId`. A delivery is retried only after a 429, as GHL does; delivery faults (`faults`)
//! can drop, duplicate, delay, reorder or mis-sign it; every delivery is recorded
//! (`GET /__sandbox/webhooks`). Which write becomes which event is `events`; app installs and
//! uninstalls are `installs`.

mod events;
mod faults;
mod installs;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub(crate) use events::emit_after_writes;
use faults::WebhookFaults;
pub use faults::{WebhookFault, WebhookFaultKind, REORDER_HOLD};
pub(crate) use installs::{install_event, uninstall_event};

/// One delivery and how it went.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WebhookDelivery {
    pub event: String,
    pub webhook_id: String,
    /// The receiver's last answer; `None` when it could not be reached or the delivery was dropped.
    pub status: Option<u16>,
    /// POSTs made: 0 when dropped, more after a 429, both sends of a duplicate.
    pub attempts: u32,
    /// The delivery fault applied (`drop`, `duplicate`, `delay`, `reorder`, `misSign`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// Where and how events go.
pub(crate) struct WebhookSender {
    url: RwLock<Option<String>>,
    key: SigningKey,
    http: reqwest::Client,
    retries: u32,
    retry_interval: Duration,
    deliveries: Mutex<Vec<WebhookDelivery>>,
    pub(crate) faults: WebhookFaults,
    /// Numbers events in emit order, so a held (reordered) delivery waits only for later ones.
    next_seq: AtomicU64,
    held: Mutex<Vec<Outgoing>>,
}

/// Most deliveries remembered.
const MAX_RECORDED: usize = 10_000;

/// One signed event on its way.
struct Outgoing {
    seq: u64,
    url: String,
    event: String,
    webhook_id: String,
    body: Vec<u8>,
    signature: String,
    fault: Option<WebhookFaultKind>,
}

impl WebhookSender {
    pub(crate) fn new(url: Option<String>, seed: u64, retries: u32, retry_interval: Duration) -> Self {
        let mut bytes = [0u8; 32];
        for (i, chunk) in bytes.chunks_mut(8).enumerate() {
            chunk.copy_from_slice(&(seed ^ (0x9e37_79b9_7f4a_7c15_u64.wrapping_mul(i as u64 + 1))).to_le_bytes());
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
        Self {
            url: RwLock::new(url),
            key: SigningKey::from_bytes(&bytes),
            http,
            retries,
            retry_interval,
            deliveries: Mutex::new(Vec::new()),
            faults: WebhookFaults::default(),
            next_seq: AtomicU64::new(0),
            held: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn set_url(&self, url: Option<String>) {
        *self.url.write().unwrap_or_else(|e| e.into_inner()) = url;
    }

    fn url(&self) -> Option<String> {
        self.url.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Whether events go anywhere.
    pub(crate) fn enabled(&self) -> bool {
        self.url.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }

    /// The public key, as 64 hex digits.
    pub(crate) fn public_key_hex(&self) -> String {
        self.key.verifying_key().to_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }

    pub(crate) fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.deliveries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Vec<Outgoing>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Signs `event` and sends it in the background, as its delivery fault (if any) says.
    pub(crate) fn emit(self: &Arc<Self>, mut event: Value) {
        let Some(url) = self.url() else { return };
        let webhook_id = format!("sbx-{:016x}", fastrand::u64(..));
        event["webhookId"] = json!(webhook_id);
        event["timestamp"] = json!(chrono::Utc::now().to_rfc3339());
        let kind = event["type"].as_str().unwrap_or("").to_owned();
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let fault = self.faults.take(&kind);
        let signed = if fault == Some(WebhookFaultKind::MisSign) { [b"mis-signed:".as_slice(), &body].concat() } else { body.clone() };
        let signature = base64::engine::general_purpose::STANDARD.encode(self.key.sign(&signed).to_bytes());
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        let out = Outgoing { seq, url, event: kind, webhook_id, body, signature, fault };
        let sender = self.clone();
        match fault {
            Some(WebhookFaultKind::Drop) => self.record(&out, None, 0),
            Some(WebhookFaultKind::Reorder) => {
                self.held().push(out);
                // Nothing came after it in time: it goes anyway.
                tokio::spawn(async move {
                    tokio::time::sleep(REORDER_HOLD).await;
                    let out = {
                        let mut held = sender.held();
                        held.iter().position(|o| o.seq == seq).map(|i| held.remove(i))
                    };
                    if let Some(out) = out {
                        sender.deliver(out).await;
                    }
                });
            }
            _ => {
                tokio::spawn(async move {
                    sender.deliver(out).await;
                    // Held deliveries of earlier events go right after this one, so they arrive swapped.
                    let released: Vec<Outgoing> = {
                        let mut held = sender.held();
                        let (earlier, later) = std::mem::take(&mut *held).into_iter().partition(|o| o.seq < seq);
                        *held = later;
                        earlier
                    };
                    for out in released {
                        sender.deliver(out).await;
                    }
                });
            }
        }
    }

    /// Sends one event (late, or twice, if its fault says so) and records how it went.
    async fn deliver(&self, out: Outgoing) {
        if let Some(WebhookFaultKind::Delay { delay_ms }) = out.fault {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        }
        let (mut status, mut attempts) = self.post(&out).await;
        if out.fault == Some(WebhookFaultKind::Duplicate) {
            let (again, more) = self.post(&out).await;
            (status, attempts) = (again, attempts + more);
        }
        self.record(&out, status, attempts);
    }

    /// POSTs the body until it is answered with something other than 429 or retries run out.
    /// A retry goes to the URL set when it is made, as GHL reads the app's webhook setting then
    /// (after a 429 from a stopping replica, the one that took over gets it).
    async fn post(&self, out: &Outgoing) -> (Option<u16>, u32) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            let url = if attempts == 1 { out.url.clone() } else { self.url().unwrap_or_else(|| out.url.clone()) };
            let sent =
                self.http.post(&url).header("content-type", "application/json").header("x-ghl-signature", &out.signature).body(out.body.clone()).send().await;
            let status = sent.ok().map(|r| r.status().as_u16());
            if status == Some(429) && attempts <= self.retries {
                tokio::time::sleep(self.retry_interval).await;
                continue;
            }
            return (status, attempts);
        }
    }

    fn record(&self, out: &Outgoing, status: Option<u16>, attempts: u32) {
        let mut deliveries = self.deliveries.lock().unwrap_or_else(|e| e.into_inner());
        if deliveries.len() >= MAX_RECORDED {
            deliveries.remove(0);
        }
        let fault = out.fault.map(|f| f.name().to_owned());
        deliveries.push(WebhookDelivery { event: out.event.clone(), webhook_id: out.webhook_id.clone(), status, attempts, fault });
    }
}
