//! When and how long to wait before trying a GHL call again.
//!
//! Only what is safe is retried: GET, PUT and DELETE on 429, 502, 503, 504, timeouts and broken
//! connections; POST only when the connection could not even be opened (the request provably
//! never reached GHL). Waits use exponential backoff with full jitter, or GHL's own hint on 429,
//! and every retry spends from a budget refilled by first attempts, so retries never multiply an outage.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use hyper::Method;

use super::error::{GhlError, GhlErrorKind, Unavailability};

#[derive(Clone, Debug)]
pub struct RetryConfig {
    /// Attempts per call, the first included.
    pub max_attempts: NonZeroU32,
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// Share of first attempts that may be retried over time (0.2 = one retry per five calls).
    pub budget_ratio: f64,
}

impl RetryConfig {
    /// The configured attempts and first backoff, with the fixed ceiling and retry budget.
    pub fn with(max_attempts: NonZeroU32, base_delay: Duration) -> Self {
        Self { max_attempts, base_delay, max_delay: Duration::from_secs(2), budget_ratio: 0.2 }
    }
}

/// Whether `error` on a `method` call may be retried at all.
pub fn is_retryable(method: &Method, error: &GhlError) -> bool {
    let idempotent = matches!(*method, Method::GET | Method::PUT | Method::DELETE);
    let status = error.call.as_ref().and_then(|c| c.status);
    match &error.kind {
        GhlErrorKind::Unavailable { reason: Unavailability::ConnectFailed } => true,
        GhlErrorKind::RateLimited { .. } => idempotent && status == Some(429),
        GhlErrorKind::Unavailable { reason: Unavailability::ServerError } => idempotent && matches!(status, Some(502..=504)),
        GhlErrorKind::Unavailable { reason: Unavailability::Timeout | Unavailability::ConnectionLost } => idempotent,
        _ => false,
    }
}

/// The wait before attempt `attempt + 1` (attempt counts from 0).
pub fn backoff(config: &RetryConfig, attempt: u32, error: &GhlError) -> Duration {
    if let GhlErrorKind::RateLimited { retry_after: Some(hint) } = error.kind {
        // GHL said when; add a little jitter so waiters do not return in lockstep.
        return hint + config.base_delay.mul_f64(fastrand::f64());
    }
    let exp = config.base_delay.saturating_mul(2u32.saturating_pow(attempt));
    exp.min(config.max_delay).mul_f64(fastrand::f64())
}

/// Tokens for retries: each first attempt adds `ratio`, each retry takes one.
pub struct RetryBudget {
    ratio: f64,
    tokens: Mutex<f64>,
}

/// Retries allowed before any traffic, and the most that can be saved up.
const INITIAL_TOKENS: f64 = 10.0;
const MAX_TOKENS: f64 = 100.0;

impl RetryBudget {
    pub fn new(ratio: f64) -> Self {
        Self { ratio, tokens: Mutex::new(INITIAL_TOKENS) }
    }

    pub fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *tokens = (*tokens + self.ratio).min(MAX_TOKENS);
    }

    pub fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::highlevel::UpstreamCall;

    fn error(kind: GhlErrorKind, status: Option<u16>) -> GhlError {
        GhlError { kind, call: Some(UpstreamCall { method: "GET", path: "/x", status }) }
    }

    #[test]
    fn posts_are_retried_only_when_the_request_never_left() {
        let refused = error(GhlErrorKind::Unavailable { reason: Unavailability::ConnectFailed }, None);
        let lost = error(GhlErrorKind::Unavailable { reason: Unavailability::ConnectionLost }, None);
        let busy = error(GhlErrorKind::Unavailable { reason: Unavailability::ServerError }, Some(503));
        assert!(is_retryable(&Method::POST, &refused));
        assert!(!is_retryable(&Method::POST, &lost));
        assert!(!is_retryable(&Method::POST, &busy));
        assert!(is_retryable(&Method::GET, &lost));
        assert!(is_retryable(&Method::PUT, &busy));
    }

    #[test]
    fn only_gateway_statuses_and_429_are_retried() {
        let internal = error(GhlErrorKind::Unavailable { reason: Unavailability::ServerError }, Some(500));
        let limited = error(GhlErrorKind::RateLimited { retry_after: None }, Some(429));
        let not_found = error(GhlErrorKind::NotFound, Some(404));
        assert!(!is_retryable(&Method::GET, &internal));
        assert!(is_retryable(&Method::DELETE, &limited));
        assert!(!is_retryable(&Method::GET, &not_found));
    }

    #[test]
    fn backoff_is_bounded_and_honours_ghl_hints() {
        let config = RetryConfig::with(NonZeroU32::new(3).unwrap(), Duration::from_millis(100));
        let busy = error(GhlErrorKind::Unavailable { reason: Unavailability::ServerError }, Some(503));
        for attempt in 0..10 {
            assert!(backoff(&config, attempt, &busy) <= config.max_delay);
        }
        let hinted = error(GhlErrorKind::RateLimited { retry_after: Some(Duration::from_secs(3)) }, Some(429));
        assert!(backoff(&config, 0, &hinted) >= Duration::from_secs(3));
    }

    #[test]
    fn the_budget_runs_dry_without_first_attempts() {
        let budget = RetryBudget::new(0.5);
        let mut granted = 0;
        while budget.withdraw() {
            granted += 1;
        }
        assert_eq!(granted, INITIAL_TOKENS as usize);
        budget.deposit();
        budget.deposit();
        assert!(budget.withdraw());
        assert!(!budget.withdraw());
    }
}
