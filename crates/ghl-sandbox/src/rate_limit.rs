//! GHL's rate limits, per token (a token belongs to one location, so per token-location): a burst
//! window of `max` requests per `interval` and a daily quota, both fixed windows that start with the
//! first request. Every API response reports the state in GHL's `X-RateLimit-*` headers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

use crate::config::RateLimit;

const DAY: Duration = Duration::from_secs(86_400);

/// The numbers the headers report.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quota {
    pub max: u32,
    pub remaining: u32,
    pub interval: Duration,
    pub daily_limit: u64,
    pub daily_remaining: u64,
}

impl Quota {
    /// Writes `X-RateLimit-Max`, `-Remaining`, `-Interval-Milliseconds`, `-Limit-Daily`, `-Daily-Remaining`.
    pub(crate) fn write(&self, headers: &mut HeaderMap) {
        let pairs: [(&'static str, u64); 5] = [
            ("x-ratelimit-max", u64::from(self.max)),
            ("x-ratelimit-remaining", u64::from(self.remaining)),
            ("x-ratelimit-interval-milliseconds", u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX)),
            ("x-ratelimit-limit-daily", self.daily_limit),
            ("x-ratelimit-daily-remaining", self.daily_remaining),
        ];
        for (name, value) in pairs {
            headers.insert(HeaderName::from_static(name), HeaderValue::from(value));
        }
    }

    /// The same quota with the burst window used up (for injected 429s).
    pub(crate) fn exhausted(self) -> Self {
        Self { remaining: 0, ..self }
    }
}

struct Bucket {
    window_start: Instant,
    used: u32,
    day_start: Instant,
    day_used: u64,
}

pub(crate) struct RateLimiter {
    limit: Mutex<RateLimit>,
    daily_limit: AtomicU64,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit, daily_limit: u64) -> Self {
        Self { limit: Mutex::new(limit), daily_limit: AtomicU64::new(daily_limit), buckets: Mutex::new(HashMap::new()) }
    }

    pub(crate) fn set_limit(&self, limit: RateLimit) {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner()) = limit;
    }

    fn limit(&self) -> RateLimit {
        *self.limit.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts one request of `key`: `Ok` with the quota left, or `Err` when over a limit (not counted).
    pub(crate) fn acquire(&self, key: &str) -> Result<Quota, Quota> {
        let limit = self.limit();
        let daily_limit = self.daily_limit.load(Ordering::Relaxed);
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let bucket = match buckets.get_mut(key) {
            Some(b) => b,
            None => buckets.entry(key.to_owned()).or_insert(Bucket { window_start: now, used: 0, day_start: now, day_used: 0 }),
        };
        if now.duration_since(bucket.window_start) >= limit.interval {
            bucket.window_start = now;
            bucket.used = 0;
        }
        if now.duration_since(bucket.day_start) >= DAY {
            bucket.day_start = now;
            bucket.day_used = 0;
        }
        let allowed = bucket.used < limit.max && bucket.day_used < daily_limit;
        if allowed {
            bucket.used += 1;
            bucket.day_used += 1;
        }
        let quota = Quota {
            max: limit.max,
            remaining: limit.max.saturating_sub(bucket.used),
            interval: limit.interval,
            daily_limit,
            daily_remaining: daily_limit.saturating_sub(bucket.day_used),
        };
        if allowed {
            Ok(quota)
        } else {
            Err(quota)
        }
    }

    /// The quota of `key` without counting a request (a fresh one for unknown keys or `None`).
    pub(crate) fn peek(&self, key: Option<&str>) -> Quota {
        let limit = self.limit();
        let daily_limit = self.daily_limit.load(Ordering::Relaxed);
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let (used, day_used) = match key.and_then(|k| buckets.get(k)) {
            Some(b) => (
                if now.duration_since(b.window_start) >= limit.interval { 0 } else { b.used },
                if now.duration_since(b.day_start) >= DAY { 0 } else { b.day_used },
            ),
            None => (0, 0),
        };
        Quota {
            max: limit.max,
            remaining: limit.max.saturating_sub(used),
            interval: limit.interval,
            daily_limit,
            daily_remaining: daily_limit.saturating_sub(day_used),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_burst_window_refuses_past_max_and_reopens_after_the_interval() {
        let limiter = RateLimiter::new(RateLimit { max: 2, interval: Duration::from_millis(50) }, 100);
        assert_eq!(limiter.acquire("t").map(|q| q.remaining).ok(), Some(1));
        assert_eq!(limiter.acquire("t").map(|q| q.remaining).ok(), Some(0));
        assert!(limiter.acquire("t").is_err());
        assert!(limiter.acquire("other").is_ok(), "buckets are per token");
        std::thread::sleep(Duration::from_millis(60));
        assert!(limiter.acquire("t").is_ok());
    }

    #[test]
    fn the_daily_limit_is_enforced_across_windows() {
        let limiter = RateLimiter::new(RateLimit { max: 100, interval: Duration::from_secs(10) }, 3);
        for _ in 0..3 {
            assert!(limiter.acquire("t").is_ok());
        }
        let refused = limiter.acquire("t").expect_err("over the daily limit");
        assert_eq!(refused.daily_remaining, 0);
    }
}
