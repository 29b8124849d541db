//! Pacing per location, matched to GHL's limits: a burst window (100 per 10 s) and a daily budget.
//!
//! The limiter also learns from GHL's `X-RateLimit-*` headers: a smaller `Max` or longer `Interval`
//! than configured is adopted (trial tokens get 25 per 10 s), and a `Remaining` lower than we
//! counted (other clients share the budget) is booked as calls already made, so we slow down
//! before GHL answers 429. Calls queue in FIFO order up to a maximum wait, then fail fast.
//! In-process only; a Redis-backed limiter for several replicas plugs in behind the same methods.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use reqwest::header::HeaderMap;

/// The limits to keep, before anything is learned from GHL.
#[derive(Clone, Debug)]
pub struct LimiterConfig {
    pub burst_max: u32,
    pub burst_interval: Duration,
    pub daily_max: u64,
    /// Longest a call may wait in the queue; beyond it the call fails fast with `RATE_LIMITED`.
    pub max_wait: Duration,
    /// Most calls waiting per location.
    pub max_queue: usize,
}

/// Why a call was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The burst window is full for longer than the caller may wait.
    Busy { retry_after: Duration },
    /// The daily budget is spent until it resets.
    DailyExhausted { retry_after: Duration },
}

impl Refusal {
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::Busy { retry_after } | Self::DailyExhausted { retry_after } => *retry_after,
        }
    }
}

pub struct RateLimiter {
    config: LimiterConfig,
    locations: Mutex<HashMap<String, Arc<Location>>>,
}

struct Location {
    /// FIFO line: the head waits for a slot while holding it.
    line: tokio::sync::Mutex<()>,
    waiting: AtomicUsize,
    window: Mutex<Window>,
}

/// Budgets kept before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

impl Location {
    /// Still counts for GHL: calls in its burst window or a daily block.
    fn is_busy(&self, now: Instant) -> bool {
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        window.expire(now);
        !window.sent.is_empty() || window.daily_blocked_until.is_some_and(|until| until > now)
    }
}

struct Window {
    /// Send times in the current burst window (our own calls and calls GHL says others made).
    sent: VecDeque<Instant>,
    max: u32,
    interval: Duration,
    day: chrono::NaiveDate,
    day_count: u64,
    daily_max: u64,
    /// Set when GHL says the daily budget is spent.
    daily_blocked_until: Option<Instant>,
    /// Recent upstream round trip (rises at once, decays slowly).
    round_trip: Duration,
}

/// GHL counts a call when it arrives, up to a round trip after we sent it: a window we track
/// from send times must last that much longer, plus a small margin.
fn with_margin(interval: Duration, round_trip: Duration) -> Duration {
    interval + interval / 50 + round_trip + Duration::from_millis(5)
}

fn until_utc_midnight() -> Duration {
    let now = Utc::now();
    let midnight = (now.date_naive() + Days::new(1)).and_hms_opt(0, 0, 0).map(|m| m.and_utc());
    midnight.and_then(|m| (m - now).to_std().ok()).unwrap_or(Duration::from_secs(3600))
}

impl Window {
    fn new(config: &LimiterConfig) -> Self {
        Self {
            sent: VecDeque::new(),
            max: config.burst_max.max(1),
            interval: config.burst_interval,
            day: Utc::now().date_naive(),
            day_count: 0,
            daily_max: config.daily_max,
            daily_blocked_until: None,
            round_trip: Duration::ZERO,
        }
    }

    fn expire(&mut self, now: Instant) {
        let horizon = with_margin(self.interval, self.round_trip);
        while self.sent.front().is_some_and(|&t| now.duration_since(t) >= horizon) {
            self.sent.pop_front();
        }
        let today = Utc::now().date_naive();
        if today != self.day {
            self.day = today;
            self.day_count = 0;
        }
        if self.daily_blocked_until.is_some_and(|until| now >= until) {
            self.daily_blocked_until = None;
        }
    }

    fn daily_refusal(&self, now: Instant) -> Option<Refusal> {
        if let Some(until) = self.daily_blocked_until {
            return Some(Refusal::DailyExhausted { retry_after: until - now });
        }
        (self.day_count >= self.daily_max).then(|| Refusal::DailyExhausted { retry_after: until_utc_midnight() })
    }

    /// Zero when a call may go now, else how long until the oldest call leaves the window.
    fn wait_for_slot(&self, now: Instant) -> Duration {
        if self.sent.len() < self.max as usize {
            return Duration::ZERO;
        }
        let oldest = self.sent[self.sent.len() - self.max as usize];
        (oldest + with_margin(self.interval, self.round_trip)).saturating_duration_since(now)
    }

    fn book(&mut self, now: Instant, calls: usize) {
        self.sent.extend(std::iter::repeat_n(now, calls));
        let keep = self.max as usize * 4;
        while self.sent.len() > keep {
            self.sent.pop_front();
        }
    }
}

impl RateLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        Self { config, locations: Mutex::new(HashMap::new()) }
    }

    fn location(&self, id: &str) -> Arc<Location> {
        let mut map = self.locations.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(location) = map.get(id) {
            return location.clone();
        }
        if map.len() >= MAX_TRACKED {
            // Forward mode keys budgets by credential, so callers can mint keys: forget idle ones.
            let now = Instant::now();
            map.retain(|_, location| Arc::strong_count(location) > 1 || location.is_busy(now));
        }
        let location = Arc::new(Location { line: tokio::sync::Mutex::new(()), waiting: AtomicUsize::new(0), window: Mutex::new(Window::new(&self.config)) });
        map.insert(id.to_owned(), location.clone());
        location
    }

    /// Waits for a slot for one call to `location` (FIFO), or refuses at once when the wait would
    /// exceed the configured maximum or `deadline`. Returns how long the call waited.
    pub async fn acquire(&self, location: &str, deadline: Option<Instant>) -> Result<Duration, Refusal> {
        let loc = self.location(location);
        let start = Instant::now();
        let give_up_at = deadline.map_or(start + self.config.max_wait, |d| d.min(start + self.config.max_wait));
        let ahead = loc.waiting.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave(&loc.waiting);
        {
            let mut window = loc.window.lock().unwrap_or_else(|p| p.into_inner());
            window.expire(start);
            if let Some(refusal) = window.daily_refusal(start) {
                return Err(refusal);
            }
            // Calls ahead of us each need a slot: estimate the wait and refuse early if hopeless.
            let per_call = window.interval / window.max;
            let estimate = window.wait_for_slot(start) + per_call * u32::try_from(ahead).unwrap_or(u32::MAX);
            if ahead >= self.config.max_queue || start + estimate > give_up_at {
                return Err(Refusal::Busy { retry_after: estimate.max(per_call) });
            }
        }
        // Uncontended (the usual case): no timer needed to wait for the head of the line.
        let _head = match loc.line.try_lock() {
            Ok(head) => head,
            Err(_) => match tokio::time::timeout_at(give_up_at.into(), loc.line.lock()).await {
                Ok(head) => head,
                Err(_) => return Err(Refusal::Busy { retry_after: self.config.burst_interval / self.config.burst_max.max(1) }),
            },
        };
        loop {
            let now = Instant::now();
            let wait = {
                let mut window = loc.window.lock().unwrap_or_else(|p| p.into_inner());
                window.expire(now);
                if let Some(refusal) = window.daily_refusal(now) {
                    return Err(refusal);
                }
                let wait = window.wait_for_slot(now);
                if wait.is_zero() {
                    window.book(now, 1);
                    window.day_count += 1;
                    return Ok(now - start);
                }
                wait
            };
            if now + wait > give_up_at {
                return Err(Refusal::Busy { retry_after: wait });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Learns from GHL's rate-limit headers on any response (429 included) and from its round trip.
    pub fn observe(&self, location: &str, status: u16, headers: &HeaderMap, round_trip: Duration) {
        // Only GHL's answers to calls it accepted speak for this budget: a 401/403 (a bad or foreign
        // token) or a 4xx/5xx may carry another budget's headers.
        if !(200..300).contains(&status) && status != 429 {
            return;
        }
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        let loc = self.location(location);
        let now = Instant::now();
        let mut window = loc.window.lock().unwrap_or_else(|p| p.into_inner());
        window.round_trip = round_trip.max(window.round_trip.mul_f64(0.8) + round_trip.mul_f64(0.2)).min(window.interval / 4);
        window.expire(now);
        if let Some(max) = number("x-ratelimit-max").and_then(|m| u32::try_from(m).ok()).filter(|&m| m > 0) {
            window.max = window.max.min(max).max(1);
        }
        if let Some(ms) = number("x-ratelimit-interval-milliseconds").filter(|&ms| ms > 0) {
            window.interval = window.interval.max(Duration::from_millis(ms));
        }
        // After `expire`, what is left is (a slight overcount of) the calls in GHL's window.
        let our_remaining = (window.max as usize).saturating_sub(window.sent.len());
        let ghl_remaining = if status == 429 { Some(0) } else { number("x-ratelimit-remaining").map(|r| r as usize) };
        if let Some(remaining) = ghl_remaining {
            if remaining < our_remaining {
                window.book(now, our_remaining - remaining);
            }
        }
        if number("x-ratelimit-daily-remaining") == Some(0) {
            window.daily_blocked_until = Some(now + until_utc_midnight());
        }
    }
}

/// Leaves the queue count when dropped, whatever path the call takes.
struct Leave<'a>(&'a AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(max: u32, interval_ms: u64, max_wait_ms: u64) -> RateLimiter {
        RateLimiter::new(LimiterConfig {
            burst_max: max,
            burst_interval: Duration::from_millis(interval_ms),
            daily_max: 1_000,
            max_wait: Duration::from_millis(max_wait_ms),
            max_queue: 100,
        })
    }

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_the_window_and_hopeless_waits_fail_fast() {
        let limiter = limiter(2, 200, 300);
        assert!(limiter.acquire("a", None).await.is_ok());
        assert!(limiter.acquire("a", None).await.is_ok());
        let waited = limiter.acquire("a", None).await.expect("third waits, then goes");
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        // Another location has its own budget.
        assert!(limiter.acquire("b", None).await.is_ok_and(|waited| waited < Duration::from_millis(50)));
        let short = RateLimiter::new(LimiterConfig { max_wait: Duration::from_millis(10), ..limiter.config.clone() });
        short.acquire("a", None).await.unwrap();
        short.acquire("a", None).await.unwrap();
        assert!(matches!(short.acquire("a", None).await, Err(Refusal::Busy { .. })));
    }

    #[tokio::test]
    async fn a_lower_remaining_from_ghl_is_booked_as_calls_made() {
        let limiter = limiter(10, 10_000, 5);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        limiter.observe("a", 200, &headers, Duration::ZERO);
        assert!(matches!(limiter.acquire("a", None).await, Err(Refusal::Busy { .. })));
    }

    #[tokio::test]
    async fn limits_claimed_on_refused_calls_are_not_adopted() {
        let limiter = limiter(10, 10_000, 5);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-max", "1".parse().unwrap());
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        headers.insert("x-ratelimit-daily-remaining", "0".parse().unwrap());
        for status in [401, 403, 422, 500] {
            limiter.observe("a", status, &headers, Duration::ZERO);
        }
        for _ in 0..5 {
            assert!(limiter.acquire("a", None).await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_stricter_max_from_ghl_is_adopted() {
        let limiter = limiter(100, 10_000, 5);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-max", "2".parse().unwrap());
        limiter.observe("a", 200, &headers, Duration::ZERO);
        limiter.acquire("a", None).await.unwrap();
        limiter.acquire("a", None).await.unwrap();
        assert!(matches!(limiter.acquire("a", None).await, Err(Refusal::Busy { .. })));
    }

    #[tokio::test]
    async fn an_exhausted_daily_budget_fails_fast() {
        let limiter = RateLimiter::new(LimiterConfig {
            burst_max: 100,
            burst_interval: Duration::from_secs(10),
            daily_max: 1,
            max_wait: Duration::from_secs(10),
            max_queue: 10_000,
        });
        limiter.acquire("a", None).await.unwrap();
        assert!(matches!(limiter.acquire("a", None).await, Err(Refusal::DailyExhausted { .. })));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-daily-remaining", "0".parse().unwrap());
        limiter.observe("b", 200, &headers, Duration::ZERO);
        assert!(matches!(limiter.acquire("b", None).await, Err(Refusal::DailyExhausted { .. })));
    }
}
