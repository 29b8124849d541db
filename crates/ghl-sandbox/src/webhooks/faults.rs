//! Delivery faults, for testing webhook receivers: rules that make the next matching deliveries
//! (of one event type, or of any) go missing, arrive twice, late, out of order or badly signed.
//! This module only decides which fault a delivery gets; the sender in `webhooks` does the I/O.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The event types the sandbox sends; a fault's `event` must name one of them.
pub(crate) const EVENT_TYPES: &[&str] = &[
    "ContactCreate",
    "ContactUpdate",
    "ContactDelete",
    "ContactDndUpdate",
    "ContactTagUpdate",
    "TaskCreate",
    "TaskComplete",
    "TaskDelete",
    "NoteCreate",
    "NoteUpdate",
    "NoteDelete",
    "AppointmentCreate",
    "AppointmentUpdate",
    "AppointmentDelete",
];

/// One delivery fault, as posted to `POST /__sandbox/webhook-faults`, e.g.
/// `{"kind":"delay","delayMs":500,"event":"TaskCreate","count":1}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookFault {
    #[serde(flatten)]
    pub kind: WebhookFaultKind,
    /// Only deliveries of this event type (e.g. `TaskCreate`); `None` matches every event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// Only the next `count` matching deliveries; `None`: every one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

/// What a fault does to a delivery.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum WebhookFaultKind {
    /// Never sent; recorded with status `None` and 0 attempts.
    Drop,
    /// The identical signed body (same `webhookId`) sent twice, one after the other.
    Duplicate,
    /// Sent after `delayMs`.
    Delay {
        #[serde(rename = "delayMs")]
        delay_ms: u64,
    },
    /// Held back and sent right after the next event that goes out (or after [`REORDER_HOLD`]).
    Reorder,
    /// Signed over other bytes: a well-formed signature (64 bytes, base64) that does not verify.
    MisSign,
}

/// The longest a reordered delivery waits for a next event before it goes anyway.
pub const REORDER_HOLD: Duration = Duration::from_secs(3);

impl WebhookFaultKind {
    /// The name in JSON (`misSign`), as [`crate::WebhookDelivery::fault`] reports it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Drop => "drop",
            Self::Duplicate => "duplicate",
            Self::Delay { .. } => "delay",
            Self::Reorder => "reorder",
            Self::MisSign => "misSign",
        }
    }
}

impl WebhookFault {
    pub fn new(kind: WebhookFaultKind) -> Self {
        Self { kind, event: None, count: None }
    }

    /// Deliveries that are never sent.
    pub fn drop() -> Self {
        Self::new(WebhookFaultKind::Drop)
    }

    /// Deliveries sent twice.
    pub fn duplicate() -> Self {
        Self::new(WebhookFaultKind::Duplicate)
    }

    /// Deliveries sent after `delay` (whole milliseconds).
    pub fn delay(delay: Duration) -> Self {
        Self::new(WebhookFaultKind::Delay { delay_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX) })
    }

    /// Deliveries that swap places with the next one.
    pub fn reorder() -> Self {
        Self::new(WebhookFaultKind::Reorder)
    }

    /// Deliveries whose signature does not verify.
    pub fn mis_sign() -> Self {
        Self::new(WebhookFaultKind::MisSign)
    }

    /// Only deliveries of this event type.
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Only the next `count` matching deliveries.
    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Some(event) = &self.event {
            if !EVENT_TYPES.contains(&event.as_str()) {
                return Err(format!("event must be one of the following values: {}", EVENT_TYPES.join(", ")));
            }
        }
        if self.count == Some(0) {
            return Err("count must not be less than 1".to_owned());
        }
        Ok(())
    }

    fn matches(&self, event: &str) -> bool {
        self.count != Some(0) && self.event.as_deref().is_none_or(|e| e == event)
    }
}

/// The faults in force, in the order they were added.
#[derive(Default)]
pub(crate) struct WebhookFaults {
    faults: Mutex<Vec<WebhookFault>>,
}

impl WebhookFaults {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<WebhookFault>> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, fault: WebhookFault) {
        self.lock().push(fault);
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    pub(crate) fn list(&self) -> Vec<WebhookFault> {
        self.lock().clone()
    }

    /// The fault one delivery of `event` gets: the first matching rule, which is used up by one
    /// if counted (and removed at zero). Later rules are not consumed.
    pub(crate) fn take(&self, event: &str) -> Option<WebhookFaultKind> {
        let mut faults = self.lock();
        let index = faults.iter().position(|f| f.matches(event))?;
        let fault = &mut faults[index];
        let kind = fault.kind;
        if let Some(count) = fault.count.as_mut() {
            *count -= 1;
            if *count == 0 {
                faults.remove(index);
            }
        }
        Some(kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_deserialize_from_the_documented_json() {
        let fault: WebhookFault = serde_json::from_str(r#"{"kind":"delay","delayMs":250,"event":"TaskCreate","count":2}"#).expect("valid");
        assert_eq!(fault, WebhookFault::delay(Duration::from_millis(250)).event("TaskCreate").times(2));
        let fault: WebhookFault = serde_json::from_str(r#"{"kind":"misSign"}"#).expect("valid");
        assert_eq!(fault, WebhookFault::mis_sign());
        assert!(serde_json::from_str::<WebhookFault>(r#"{"kind":"delay"}"#).is_err(), "delay needs delayMs");
        assert!(serde_json::from_str::<WebhookFault>(r#"{"kind":"lose"}"#).is_err());
        assert_eq!(serde_json::to_value(WebhookFault::reorder().times(1)).expect("json"), serde_json::json!({"kind": "reorder", "count": 1}));
        assert!(WebhookFault::drop().event("TaskUpdate").validate().is_err(), "GHL has no TaskUpdate");
    }

    #[test]
    fn the_first_matching_fault_applies_and_counted_ones_run_out() {
        let faults = WebhookFaults::default();
        faults.add(WebhookFault::drop().event("TaskCreate").times(1));
        faults.add(WebhookFault::duplicate().times(2));
        assert_eq!(faults.take("NoteCreate"), Some(WebhookFaultKind::Duplicate));
        assert_eq!(faults.take("TaskCreate"), Some(WebhookFaultKind::Drop));
        assert_eq!(faults.take("TaskCreate"), Some(WebhookFaultKind::Duplicate));
        assert_eq!(faults.take("TaskCreate"), None);
        assert!(faults.list().is_empty());
    }
}
