//! Fault injection: rules that make matching API requests fail in a chosen way (a status before or
//! after the request is applied, extra latency, a reset connection before or after the request is
//! applied, a malformed or slow body),
//! on the next `count` matches, on a share (`probability`) of them, or always.
//! The gateway asks for a [`Plan`] per request; this module only decides, it never touches I/O.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One fault rule, as posted to `POST /__sandbox/faults`, e.g.
/// `{"method":"GET","path":"/contacts/*/tasks","kind":"status","status":503,"count":2}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// HTTP method to match (case-insensitive); `None` matches any.
    #[serde(default)]
    pub method: Option<String>,
    /// Path glob: `*` matches exactly one segment, a final `**` any number; a trailing `/` is ignored.
    pub path: String,
    #[serde(flatten)]
    pub kind: FaultKind,
    /// Fire on the next `count` matching requests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// Fire on this share (0.0–1.0) of matching requests (seeded RNG).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
}

impl Fault {
    /// A fault on every request to `path` (any method).
    pub fn new(path: impl Into<String>, kind: FaultKind) -> Self {
        Self { method: None, path: path.into(), kind, count: None, probability: None }
    }

    /// Only on `method` requests.
    pub fn method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Only on the next `count` matching requests.
    pub fn times(mut self, count: u32) -> Self {
        self.count = Some(count);
        self
    }

    /// Only on this share of matching requests.
    pub fn probability(mut self, probability: f64) -> Self {
        self.probability = Some(probability);
        self
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.path.starts_with('/') {
            return Err("path must start with /".to_owned());
        }
        if let Some(p) = self.probability {
            if !(0.0..=1.0).contains(&p) {
                return Err("probability must be between 0 and 1".to_owned());
            }
        }
        if let FaultKind::Status { status, .. } | FaultKind::StatusAfter { status } = self.kind {
            if !(100..=999).contains(&status) {
                return Err("status must be an HTTP status code".to_owned());
            }
        }
        Ok(())
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method)) && glob_matches(&self.path, path)
    }
}

fn yes() -> bool {
    true
}

/// How a fault breaks a request.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer `status` without applying the request. With `rateLimitHeaders` (default true) the
    /// response carries the usual `X-RateLimit-*` headers (for 429: `X-RateLimit-Remaining: 0`).
    Status {
        status: u16,
        #[serde(default = "yes", rename = "rateLimitHeaders")]
        rate_limit_headers: bool,
    },
    /// Apply the request, then answer `status` instead of its real answer (keeping the
    /// `X-RateLimit-*` headers): GHL's `POST /contacts/` has answered 422 while still creating the
    /// contact (UPSTREAM.md §f, highlevel-api-docs #64). Webhooks go out as for the real answer.
    StatusAfter { status: u16 },
    /// Wait this long, then handle the request normally.
    Latency {
        #[serde(rename = "latencyMs")]
        latency_ms: u64,
    },
    /// Close the connection (TCP RST) before answering; the request is not applied.
    ResetBefore,
    /// Apply the request, then close the connection (TCP RST) without answering.
    ResetAfter,
    /// Apply the request and answer 200 with its JSON body cut in half.
    Malformed,
    /// Apply the request, send the headers, then trickle the body over about three seconds.
    SlowBody,
}

/// What to do with one request: extra latency, then at most one breaking action.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Plan {
    pub latency: Duration,
    pub action: Option<FaultKind>,
}

pub(crate) struct FaultSet {
    /// Lets the hot path skip the lock when no fault is set.
    any: AtomicBool,
    inner: Mutex<Inner>,
}

struct Inner {
    faults: Vec<Fault>,
    rng: fastrand::Rng,
}

impl FaultSet {
    pub(crate) fn new(seed: u64) -> Self {
        Self { any: AtomicBool::new(false), inner: Mutex::new(Inner { faults: Vec::new(), rng: fastrand::Rng::with_seed(seed) }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, fault: Fault) {
        let mut inner = self.lock();
        inner.faults.push(fault);
        self.any.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        inner.faults.clear();
        self.any.store(false, Ordering::Release);
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.lock().faults.clone()
    }

    /// Decides the faults of one request. Latency faults add up; the first breaking fault that
    /// fires wins, and later ones are not consumed. Used-up `count` faults are removed.
    pub(crate) fn plan(&self, method: &str, path: &str) -> Plan {
        if !self.any.load(Ordering::Acquire) {
            return Plan::default();
        }
        let mut inner = self.lock();
        let Inner { faults, rng } = &mut *inner;
        let mut plan = Plan::default();
        for fault in faults.iter_mut() {
            let is_latency = matches!(fault.kind, FaultKind::Latency { .. });
            if (!is_latency && plan.action.is_some()) || !fault.matches(method, path) {
                continue;
            }
            if fault.count == Some(0) || fault.probability.is_some_and(|p| rng.f64() >= p) {
                continue;
            }
            if let Some(count) = fault.count.as_mut() {
                *count -= 1;
            }
            match &fault.kind {
                FaultKind::Latency { latency_ms } => plan.latency += Duration::from_millis(*latency_ms),
                other => plan.action = Some(other.clone()),
            }
        }
        faults.retain(|f| f.count != Some(0));
        self.any.store(!faults.is_empty(), Ordering::Release);
        plan
    }
}

/// `*` matches one segment, a final `**` the rest (possibly nothing); trailing slashes are ignored.
fn glob_matches(pattern: &str, path: &str) -> bool {
    let mut pattern = pattern.trim_end_matches('/').split('/');
    let mut path = path.trim_end_matches('/').split('/');
    loop {
        match (pattern.next(), path.next()) {
            (Some("**"), _) => return true,
            (None, None) => return true,
            (Some(p), Some(s)) if p == "*" && !s.is_empty() => {}
            (Some(p), Some(s)) if p == s => {}
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_matches_exactly_one_segment() {
        assert!(glob_matches("/contacts/*/tasks", "/contacts/abc/tasks"));
        assert!(glob_matches("/contacts/*/tasks", "/contacts/abc/tasks/"));
        assert!(!glob_matches("/contacts/*/tasks", "/contacts/abc/tasks/t1"));
        assert!(!glob_matches("/contacts/*", "/contacts/"));
        assert!(glob_matches("/contacts/", "/contacts"));
        assert!(glob_matches("/contacts/**", "/contacts/a/notes/b"));
        assert!(glob_matches("/**", "/oauth/token"));
    }

    #[test]
    fn counted_faults_fire_that_many_times_then_disappear() {
        let set = FaultSet::new(1);
        set.add(Fault::new("/contacts/*", FaultKind::Status { status: 503, rate_limit_headers: true }).method("GET").times(2));
        assert!(set.plan("POST", "/contacts/x").action.is_none());
        assert!(set.plan("GET", "/contacts/x").action.is_some());
        assert!(set.plan("get", "/contacts/y").action.is_some());
        assert!(set.plan("GET", "/contacts/x").action.is_none());
        assert!(set.list().is_empty());
    }

    #[test]
    fn latency_adds_up_and_the_first_breaking_fault_wins() {
        let set = FaultSet::new(1);
        set.add(Fault::new("/**", FaultKind::Latency { latency_ms: 10 }));
        set.add(Fault::new("/**", FaultKind::Malformed).times(1));
        set.add(Fault::new("/**", FaultKind::ResetBefore).times(1));
        set.add(Fault::new("/**", FaultKind::Latency { latency_ms: 5 }));
        let plan = set.plan("GET", "/contacts/x");
        assert_eq!(plan.latency, Duration::from_millis(15));
        assert_eq!(plan.action, Some(FaultKind::Malformed));
        assert_eq!(set.plan("GET", "/contacts/x").action, Some(FaultKind::ResetBefore));
    }

    #[test]
    fn probability_fires_on_about_that_share() {
        let set = FaultSet::new(3);
        set.add(Fault::new("/**", FaultKind::Malformed).probability(0.3));
        let fired = (0..1000).filter(|_| set.plan("GET", "/x").action.is_some()).count();
        assert!((200..400).contains(&fired), "fired {fired} times");
    }

    #[test]
    fn faults_deserialize_from_the_documented_json() {
        let fault: Fault = serde_json::from_str(r#"{"method":"GET","path":"/contacts/*/tasks","kind":"status","status":503,"count":2}"#).expect("valid");
        assert_eq!(fault.kind, FaultKind::Status { status: 503, rate_limit_headers: true });
        assert_eq!(fault.count, Some(2));
        let fault: Fault = serde_json::from_str(r#"{"path":"/x","kind":"latency","latencyMs":250,"probability":0.5}"#).expect("valid");
        assert_eq!(fault.kind, FaultKind::Latency { latency_ms: 250 });
        let fault: Fault = serde_json::from_str(r#"{"method":"POST","path":"/contacts/","kind":"status_after","status":422,"count":1}"#).expect("valid");
        assert_eq!(fault.kind, FaultKind::StatusAfter { status: 422 });
        let fault: Fault = serde_json::from_str(r#"{"path":"/x","kind":"reset_before"}"#).expect("valid");
        assert_eq!(fault.kind, FaultKind::ResetBefore);
    }
}
