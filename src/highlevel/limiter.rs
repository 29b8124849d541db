//! Pacing per location, matched to GHL's limits: a burst window (100 per 10 s) and a daily budget.
//!
//! The limiter learns from GHL's `X-RateLimit-*` headers: the `Max` and `Interval` GHL reports are
//! one limit (a trial token's 25 per 10 s, a sandbox's 20 per second) kept *as well as* the
//! configured one, so a call goes when both have room; a `Remaining` lower than we counted (other
//! clients share the budget) is booked as calls already made, so we slow down before GHL answers 429.
//!
//! Calls that must wait queue by [`Priority`]: later calls of an operation already under way go
//! first (its earlier calls are spent; refusing it now would waste them), then new operations,
//! then background jobs, which may also take only their share of each window
//! ([`LimiterConfig::background_share`]) so interactive traffic keeps the rest. A call is admitted
//! only when the calls queued ahead of it leave it a slot within its wait; otherwise it is refused
//! at once, before it spends anything. The head of the queue sleeps until its slot; the others
//! sleep until woken, and a caller that goes away leaves the queue at once (cancel-safe).
//! With a [`SharedBudget`] (`--redis-url`) the queue and priorities stay per process, but each
//! slot is booked in the window every replica shares; while it is unreachable this process keeps
//! to its own window at limit ÷ expected replicas, and says so (a warning and a metric).

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{Days, Utc};
use hyper::header::HeaderMap;
use tokio::sync::Notify;

use super::shared::{Observation, SharedBudget, Take, Taken};
use super::tenant::Priority;

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
    /// The share of each burst window background jobs (imports) may use, in (0, 1]; the rest is
    /// left to interactive traffic.
    pub background_share: f64,
    /// The window replicas share; `None`: this process's own only.
    pub shared: Option<SharedBudget>,
}

/// A burst limit: `max` calls per `interval`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub interval: Duration,
}

impl Limit {
    fn per_second(self) -> f64 {
        f64::from(self.max) / self.interval.as_secs_f64().max(1e-3)
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} calls per {}", self.max, humantime::format_duration(self.interval))
    }
}

/// Why our limiter did not let a call through (GHL never saw it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The calls queued ahead leave no slot within the wait this call is allowed.
    Busy { retry_after: Duration, limit: Limit },
    /// Too many calls are queued for this location already.
    QueueFull { retry_after: Duration, queued: usize },
    /// The daily budget is spent until it resets.
    DailyExhausted { retry_after: Duration },
}

impl Refusal {
    pub fn retry_after(&self) -> Duration {
        match self {
            Self::Busy { retry_after, .. } | Self::QueueFull { retry_after, .. } | Self::DailyExhausted { retry_after } => *retry_after,
        }
    }

    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Busy { .. } => "busy",
            Self::QueueFull { .. } => "queue_full",
            Self::DailyExhausted { .. } => "daily",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let wait = |d: Duration| humantime::format_duration(Duration::from_millis(d.as_millis().max(1) as u64));
        match self {
            Self::Busy { retry_after, limit } => write!(
                f,
                "the location's GHL budget ({limit}) is taken by the calls queued ahead for longer than this call may wait; retry in {}",
                wait(*retry_after)
            ),
            Self::QueueFull { retry_after, queued } => {
                write!(f, "{queued} calls are already queued for this location's GHL budget; retry in {}", wait(*retry_after))
            }
            Self::DailyExhausted { retry_after } => write!(
                f,
                "the location's daily GHL budget is spent; it resets in {}",
                humantime::format_duration(Duration::from_secs(retry_after.as_secs().max(1)))
            ),
        }
    }
}

/// What a location's budget allows now: for planning a job (an import's ETA).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pace {
    /// The strictest of the configured and learned burst limits.
    pub limit: Limit,
    /// Calls per second background jobs may make at best.
    pub background_per_second: f64,
    /// The share of each burst window background jobs may use (`--import-share`).
    pub background_share: f64,
    /// Calls left in today's budget, as far as we know.
    pub daily_remaining: u64,
}

pub struct RateLimiter {
    config: LimiterConfig,
    /// The limits of this process's own windows: the configured ones, or with a shared budget
    /// this replica's share of them (its fallback).
    local: LimiterConfig,
    locations: Mutex<HashMap<String, Arc<Location>>>,
    /// Whether the last shared booking failed (so the warning is said once per outage).
    on_fallback: AtomicBool,
}

/// Budgets kept before idle ones are forgotten.
const MAX_TRACKED: usize = 10_000;

struct Location {
    state: Mutex<State>,
}

/// Queue order: higher priority first, then arrival.
type Place = (Reverse<Priority>, u64);

struct State {
    window: Window,
    queue: BTreeMap<Place, Arc<Notify>>,
    /// Waiters per priority (indexed by `rank`), to count who is ahead without walking the queue.
    waiting: [usize; 3],
    next_seq: u64,
}

fn rank(priority: Priority) -> usize {
    match priority {
        Priority::Background => 0,
        Priority::New => 1,
        Priority::UnderWay => 2,
    }
}

impl State {
    /// Waiters that go before a new call of `priority`.
    fn ahead_of(&self, priority: Priority) -> usize {
        self.waiting[rank(priority)..].iter().sum()
    }

    fn queued(&self) -> usize {
        self.waiting.iter().sum()
    }

    fn leave(&mut self, place: Place) {
        if self.queue.remove(&place).is_some() {
            self.waiting[rank(place.0 .0)] -= 1;
        }
        // Whoever is first now re-checks its slot (a spare wake-up costs one look).
        if let Some(head) = self.queue.values().next() {
            head.notify_one();
        }
    }
}

impl Location {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Still counts for GHL: calls in its burst window, a daily block, or waiters.
    fn is_busy(&self, now: Instant) -> bool {
        let mut state = self.lock();
        state.window.expire(now);
        !state.queue.is_empty() || !state.window.sent.is_empty() || state.window.daily_blocked_until.is_some_and(|until| until > now)
    }
}

struct Window {
    configured: Limit,
    /// The limit GHL reports in its headers, when it differs from the configured one.
    learned: Option<Limit>,
    /// Send times, oldest first (our own calls and calls GHL says others made).
    sent: VecDeque<Instant>,
    /// Send times of background calls (also in `sent`).
    background: VecDeque<Instant>,
    background_share: f64,
    day: chrono::NaiveDate,
    day_count: u64,
    daily_max: u64,
    /// Set when GHL says the daily budget is spent.
    daily_blocked_until: Option<Instant>,
    /// The longest upstream round trip of about the last window (rises at once; held while a
    /// call it delayed can still share a GHL window with calls sent now).
    round_trip: Duration,
    /// When `round_trip` was last raised (or replaced).
    round_trip_since: Option<Instant>,
}

/// GHL counts a call when it arrives, up to a round trip after we sent it: a window we track
/// from send times must last that much longer, plus a small margin.
fn with_margin(interval: Duration, round_trip: Duration) -> Duration {
    interval + interval / 50 + round_trip + Duration::from_millis(5)
}

impl Window {
    /// A call GHL counted up to `round_trip` after we booked it; the margin keeps the longest of
    /// the last window and a quarter. Decaying per observation instead (as an average would)
    /// forgot a slow call within a second of busy traffic, while that call still shared GHL's
    /// window with calls booked a window later: a 429 under load.
    fn note_round_trip(&mut self, now: Instant, round_trip: Duration, interval: Duration) {
        let held = self.round_trip_since.is_some_and(|since| now.duration_since(since) < interval + interval / 4);
        if round_trip >= self.round_trip || !held {
            self.round_trip = round_trip.min(interval / 4);
            self.round_trip_since = Some(now);
        }
    }
}

fn until_utc_midnight() -> Duration {
    let now = Utc::now();
    let midnight = (now.date_naive() + Days::new(1)).and_hms_opt(0, 0, 0).map(|m| m.and_utc());
    midnight.and_then(|m| (m - now).to_std().ok()).unwrap_or(Duration::from_secs(3600))
}

/// How long until a call with `ahead` calls queued before it fits `cap` calls per `horizon`,
/// given the send times `sent`: exact for `ahead == 0`, an estimate beyond (the calls ahead are
/// assumed to go as soon as they fit).
fn wait_to_fit(sent: &VecDeque<Instant>, now: Instant, horizon: Duration, cap: u32, ahead: usize) -> Duration {
    let cap = cap.max(1) as usize;
    let start = sent.partition_point(|&t| now.duration_since(t) >= horizon);
    let live = sent.len() - start;
    let position = live + ahead;
    if position < cap {
        return Duration::ZERO;
    }
    // The call in `position` goes one window after the one `cap` places before it.
    let windows = (position - live) / cap + 1;
    let windows_u32 = u32::try_from(windows).unwrap_or(u32::MAX);
    match position.checked_sub(windows * cap) {
        None => horizon.saturating_mul(windows_u32 - 1),
        Some(earlier) => (sent[start + earlier] + horizon.saturating_mul(windows_u32)).saturating_duration_since(now),
    }
}

impl Window {
    fn new(config: &LimiterConfig) -> Self {
        Self {
            configured: Limit { max: config.burst_max.max(1), interval: config.burst_interval },
            learned: None,
            sent: VecDeque::new(),
            background: VecDeque::new(),
            background_share: config.background_share.clamp(0.01, 1.0),
            day: Utc::now().date_naive(),
            day_count: 0,
            daily_max: config.daily_max,
            daily_blocked_until: None,
            round_trip: Duration::ZERO,
            round_trip_since: None,
        }
    }

    fn limits(&self) -> impl Iterator<Item = Limit> {
        std::iter::once(self.configured).chain(self.learned)
    }

    /// The limit GHL itself counts against: what it reported, else what we were told.
    fn ghl_limit(&self) -> Limit {
        self.learned.unwrap_or(self.configured)
    }

    /// The strictest limit in calls per second.
    fn strictest(&self) -> Limit {
        self.limits().min_by(|a, b| a.per_second().total_cmp(&b.per_second())).unwrap_or(self.configured)
    }

    fn horizon(&self, limit: Limit) -> Duration {
        with_margin(limit.interval, self.round_trip)
    }

    fn background_cap(&self, limit: Limit) -> u32 {
        ((f64::from(limit.max) * self.background_share).floor() as u32).max(1)
    }

    fn expire(&mut self, now: Instant) {
        let horizon = self.limits().map(|l| self.horizon(l)).max().unwrap_or_default();
        for sent in [&mut self.sent, &mut self.background] {
            while sent.front().is_some_and(|&t| now.duration_since(t) >= horizon) {
                sent.pop_front();
            }
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

    /// Zero when a call of `priority` may go now (with `ahead` calls before it: an estimate of
    /// its wait), else how long until every limit has room for it.
    fn wait_for_slot(&self, now: Instant, priority: Priority, ahead: usize) -> Duration {
        let mut wait = Duration::ZERO;
        for limit in self.limits() {
            let horizon = self.horizon(limit);
            wait = wait.max(wait_to_fit(&self.sent, now, horizon, limit.max, ahead));
            if priority == Priority::Background {
                wait = wait.max(wait_to_fit(&self.background, now, horizon, self.background_cap(limit), ahead));
            }
        }
        wait
    }

    fn book(&mut self, now: Instant, priority: Priority) {
        self.sent.push_back(now);
        if priority == Priority::Background {
            self.background.push_back(now);
        }
        self.day_count += 1;
        self.trim();
    }

    /// Books calls GHL says were made by others sharing the budget.
    fn book_others(&mut self, now: Instant, calls: usize) {
        self.sent.extend(std::iter::repeat_n(now, calls));
        self.trim();
    }

    fn trim(&mut self) {
        let keep = self.limits().map(|l| l.max as usize).max().unwrap_or(1) * 4;
        for sent in [&mut self.sent, &mut self.background] {
            while sent.len() > keep {
                sent.pop_front();
            }
        }
    }

    fn busy(&self, now: Instant, priority: Priority, ahead: usize) -> Refusal {
        let wait = self.wait_for_slot(now, priority, ahead);
        let per_call = Duration::from_secs_f64(1.0 / self.strictest().per_second());
        Refusal::Busy { retry_after: wait.max(per_call), limit: self.strictest() }
    }
}

/// Takes a queued call out of the line however its wait ends (granted, refused, or dropped).
struct Waiting<'a> {
    location: &'a Location,
    place: Place,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.location.lock().leave(self.place);
    }
}

impl RateLimiter {
    pub fn new(config: LimiterConfig) -> Self {
        let mut local = config.clone();
        if let Some(shared) = &config.shared {
            local.burst_max = (config.burst_max / shared.expected_replicas.max(1)).max(1);
        }
        Self { config, local, locations: Mutex::new(HashMap::new()), on_fallback: AtomicBool::new(false) }
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
        let state = State { window: Window::new(&self.local), queue: BTreeMap::new(), waiting: [0; 3], next_seq: 0 };
        let location = Arc::new(Location { state: Mutex::new(state) });
        map.insert(id.to_owned(), location.clone());
        location
    }

    /// Waits for a slot for one call to `location`, in `priority` order, or refuses at once when
    /// the calls ahead leave none within the configured maximum wait or `deadline`.
    /// Returns how long the call waited.
    pub async fn acquire(&self, location: &str, priority: Priority, deadline: Option<Instant>) -> Result<Duration, Refusal> {
        if let Some(shared) = &self.config.shared {
            if let Ok(outcome) = self.acquire_shared(shared, location, priority, deadline).await {
                if self.on_fallback.swap(false, Ordering::AcqRel) {
                    tracing::info!("the shared GHL rate budget is reachable again");
                }
                metrics::gauge!("ghl_limiter_shared").set(1.0);
                return outcome;
            }
            metrics::counter!("ghl_limiter_shared_fallback_total").increment(1);
            metrics::gauge!("ghl_limiter_shared").set(0.0);
            if !self.on_fallback.swap(true, Ordering::AcqRel) {
                tracing::warn!(
                    share = self.local.burst_max,
                    "the shared GHL rate budget is unreachable: this replica keeps to its share of the limit (limit ÷ --expected-replicas) until it is back"
                );
            }
        }
        self.acquire_local(location, priority, deadline).await
    }

    /// As [`acquire`](Self::acquire), each slot booked in the shared window. `Err(())` when the
    /// window cannot be asked: the caller falls back to this process's own window.
    async fn acquire_shared(
        &self,
        shared: &SharedBudget,
        location: &str,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<Result<Duration, Refusal>, ()> {
        let loc = self.location(location);
        let start = Instant::now();
        let give_up_at = deadline.map_or(start + self.config.max_wait, |d| d.min(start + self.config.max_wait));
        let configured = self.configured();
        let per_call = Duration::from_secs_f64(1.0 / configured.per_second());
        let busy = |wait: Duration| Refusal::Busy { retry_after: wait.max(per_call), limit: configured };
        let (place, wake, ahead, round_trip) = {
            let mut state = loc.lock();
            let queued = state.queued();
            if queued >= self.config.max_queue {
                return Ok(Err(Refusal::QueueFull { retry_after: per_call * u32::try_from(queued).unwrap_or(u32::MAX), queued }));
            }
            let place = (Reverse(priority), state.next_seq);
            state.next_seq += 1;
            let ahead = state.ahead_of(priority);
            let wake = Arc::new(Notify::new());
            state.queue.insert(place, wake.clone());
            state.waiting[rank(priority)] += 1;
            (place, wake, ahead, state.window.round_trip)
        };
        let _waiting = Waiting { location: &loc, place };
        let take = |ahead: usize, book: bool| Take {
            configured,
            round_trip,
            background: priority == Priority::Background,
            background_share: self.config.background_share,
            daily_max: self.config.daily_max,
            ahead,
            book,
        };
        let mut estimated = ahead == 0;
        loop {
            let now = Instant::now();
            let is_head = loc.lock().queue.keys().next() == Some(&place);
            if !is_head && !estimated {
                // Admission: refused at once when the calls ahead leave no slot within the wait.
                estimated = true;
                match shared.window.take(location, take(ahead, false)).await.map_err(|_| ())? {
                    Taken::DailyExhausted(retry_after) => return Ok(Err(Refusal::DailyExhausted { retry_after })),
                    Taken::Wait(wait) if now + wait > give_up_at => return Ok(Err(busy(wait))),
                    _ => {}
                }
            }
            let until = if is_head {
                match shared.window.take(location, take(0, true)).await.map_err(|_| ())? {
                    Taken::Granted => {
                        // Booked here too: if the shared window goes away, our own window knows our share is spent.
                        loc.lock().window.book(Instant::now(), priority);
                        return Ok(Ok(now - start));
                    }
                    Taken::DailyExhausted(retry_after) => return Ok(Err(Refusal::DailyExhausted { retry_after })),
                    Taken::Wait(wait) if now + wait > give_up_at => return Ok(Err(busy(wait))),
                    Taken::Wait(wait) => now + wait,
                }
            } else if now >= give_up_at {
                return Ok(Err(busy(Duration::ZERO)));
            } else {
                give_up_at
            };
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// The configured burst limit, across every replica.
    fn configured(&self) -> Limit {
        Limit { max: self.config.burst_max.max(1), interval: self.config.burst_interval }
    }

    async fn acquire_local(&self, location: &str, priority: Priority, deadline: Option<Instant>) -> Result<Duration, Refusal> {
        let loc = self.location(location);
        let start = Instant::now();
        let give_up_at = deadline.map_or(start + self.config.max_wait, |d| d.min(start + self.config.max_wait));
        let (place, wake) = {
            let mut state = loc.lock();
            state.window.expire(start);
            if let Some(refusal) = state.window.daily_refusal(start) {
                return Err(refusal);
            }
            let ahead = state.ahead_of(priority);
            // Uncontended (the usual case): no queue entry and no timer.
            if ahead == 0 && state.window.wait_for_slot(start, priority, 0).is_zero() {
                state.window.book(start, priority);
                return Ok(Duration::ZERO);
            }
            let queued = state.queued();
            if queued >= self.config.max_queue {
                let per_call = Duration::from_secs_f64(1.0 / state.window.strictest().per_second());
                return Err(Refusal::QueueFull { retry_after: per_call * u32::try_from(queued).unwrap_or(u32::MAX), queued });
            }
            let estimate = state.window.wait_for_slot(start, priority, ahead);
            if start + estimate > give_up_at {
                return Err(state.window.busy(start, priority, ahead));
            }
            let place = (Reverse(priority), state.next_seq);
            state.next_seq += 1;
            let wake = Arc::new(Notify::new());
            state.queue.insert(place, wake.clone());
            state.waiting[rank(priority)] += 1;
            (place, wake)
        };
        let _waiting = Waiting { location: &loc, place };
        loop {
            let now = Instant::now();
            let head_wait = {
                let mut state = loc.lock();
                state.window.expire(now);
                if let Some(refusal) = state.window.daily_refusal(now) {
                    return Err(refusal);
                }
                let is_head = state.queue.keys().next() == Some(&place);
                if is_head {
                    let wait = state.window.wait_for_slot(now, priority, 0);
                    if wait.is_zero() {
                        state.window.book(now, priority);
                        // `_waiting` leaves the line and wakes the next head.
                        return Ok(now - start);
                    }
                    if now + wait > give_up_at {
                        return Err(state.window.busy(now, priority, 0));
                    }
                    Some(wait)
                } else if now >= give_up_at {
                    let ahead = state.queue.range(..place).count();
                    return Err(state.window.busy(now, priority, ahead));
                } else {
                    None
                }
            };
            let until = head_wait.map_or(give_up_at, |wait| now + wait);
            tokio::select! {
                () = wake.notified() => {}
                () = tokio::time::sleep_until(until.into()) => {}
            }
        }
    }

    /// What `location`'s budget allows now, for planning background work.
    pub fn pace(&self, location: &str) -> Pace {
        let loc = self.location(location);
        let mut state = loc.lock();
        state.window.expire(Instant::now());
        let window = &state.window;
        // With a shared budget the local window holds only this replica's fallback share.
        let limits: Vec<Limit> = match &self.config.shared {
            Some(_) => std::iter::once(self.configured()).chain(window.learned).collect(),
            None => window.limits().collect(),
        };
        let limit = limits.iter().copied().min_by(|a, b| a.per_second().total_cmp(&b.per_second())).unwrap_or(window.configured);
        let background_per_second =
            limits.iter().map(|&l| f64::from(window.background_cap(l)) / l.interval.as_secs_f64().max(1e-3)).fold(f64::INFINITY, f64::min);
        let daily_remaining = if window.daily_blocked_until.is_some() { 0 } else { window.daily_max.saturating_sub(window.day_count) };
        Pace { limit, background_per_second, background_share: window.background_share, daily_remaining }
    }

    /// Learns from GHL's rate-limit headers on any response (429 included) and from its round trip.
    pub fn observe(&self, location: &str, status: u16, headers: &HeaderMap, round_trip: Duration) {
        // Only GHL's answers to calls it accepted speak for this budget: a 401/403 (a bad or foreign
        // token) or a 4xx/5xx may carry another budget's headers.
        if !(200..300).contains(&status) && status != 429 {
            return;
        }
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(shared) = &self.config.shared {
            shared.window.observe(
                location,
                Observation {
                    configured: self.configured(),
                    reported_max: number("x-ratelimit-max").and_then(|m| u32::try_from(m).ok()).filter(|&m| m > 0),
                    reported_interval: number("x-ratelimit-interval-milliseconds").filter(|&ms| ms > 0).map(Duration::from_millis),
                    remaining: if status == 429 { Some(0) } else { number("x-ratelimit-remaining") },
                    daily_spent: number("x-ratelimit-daily-remaining") == Some(0),
                    round_trip,
                },
            );
        }
        let loc = self.location(location);
        let now = Instant::now();
        let mut state = loc.lock();
        let window = &mut state.window;
        let reported_max = number("x-ratelimit-max").and_then(|m| u32::try_from(m).ok()).filter(|&m| m > 0);
        let reported_interval = number("x-ratelimit-interval-milliseconds").filter(|&ms| ms > 0).map(Duration::from_millis);
        if reported_max.is_some() || reported_interval.is_some() {
            // Max and interval describe one limit: adopt them together (a part not sent keeps its value).
            let known = window.ghl_limit();
            let reported = Limit { max: reported_max.unwrap_or(known.max), interval: reported_interval.unwrap_or(known.interval) };
            window.learned = (reported != window.configured).then_some(reported);
        }
        let ghl_limit = window.ghl_limit();
        window.note_round_trip(now, round_trip, ghl_limit.interval);
        window.expire(now);
        // What we counted in GHL's window (a slight overcount: it includes the margin).
        let horizon = window.horizon(ghl_limit);
        let counted = window.sent.len() - window.sent.partition_point(|&t| now.duration_since(t) >= horizon);
        let our_remaining = (ghl_limit.max as usize).saturating_sub(counted);
        let ghl_remaining = if status == 429 { Some(0) } else { number("x-ratelimit-remaining").map(|r| r as usize) };
        if let Some(remaining) = ghl_remaining {
            if remaining < our_remaining {
                window.book_others(now, our_remaining - remaining);
            }
        }
        if number("x-ratelimit-daily-remaining") == Some(0) {
            window.daily_blocked_until = Some(now + until_utc_midnight());
        }
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
            background_share: 0.5,
            shared: None,
        })
    }

    #[tokio::test]
    async fn calls_beyond_the_burst_wait_for_the_window_and_hopeless_waits_fail_fast() {
        let limiter = limiter(2, 200, 300);
        assert!(limiter.acquire("a", Priority::New, None).await.is_ok());
        assert!(limiter.acquire("a", Priority::New, None).await.is_ok());
        let waited = limiter.acquire("a", Priority::New, None).await.expect("third waits, then goes");
        assert!(waited >= Duration::from_millis(150), "{waited:?}");
        // Another location has its own budget.
        assert!(limiter.acquire("b", Priority::New, None).await.is_ok_and(|waited| waited < Duration::from_millis(50)));
        let short = RateLimiter::new(LimiterConfig { max_wait: Duration::from_millis(10), ..limiter.config.clone() });
        short.acquire("a", Priority::New, None).await.unwrap();
        short.acquire("a", Priority::New, None).await.unwrap();
        assert!(matches!(short.acquire("a", Priority::New, None).await, Err(Refusal::Busy { .. })));
    }

    #[tokio::test]
    async fn a_lower_remaining_from_ghl_is_booked_as_calls_made() {
        let limiter = limiter(10, 10_000, 5);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-remaining", "0".parse().unwrap());
        limiter.observe("a", 200, &headers, Duration::ZERO);
        assert!(matches!(limiter.acquire("a", Priority::New, None).await, Err(Refusal::Busy { .. })));
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
            assert!(limiter.acquire("a", Priority::New, None).await.is_ok());
        }
    }

    #[tokio::test]
    async fn a_stricter_max_from_ghl_is_adopted() {
        let limiter = limiter(100, 10_000, 5);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-max", "2".parse().unwrap());
        limiter.observe("a", 200, &headers, Duration::ZERO);
        limiter.acquire("a", Priority::New, None).await.unwrap();
        limiter.acquire("a", Priority::New, None).await.unwrap();
        assert!(matches!(limiter.acquire("a", Priority::New, None).await, Err(Refusal::Busy { .. })));
    }

    #[tokio::test]
    async fn an_exhausted_daily_budget_fails_fast() {
        let limiter = RateLimiter::new(LimiterConfig {
            burst_max: 100,
            burst_interval: Duration::from_secs(10),
            daily_max: 1,
            max_wait: Duration::from_secs(10),
            max_queue: 10_000,
            background_share: 0.5,
            shared: None,
        });
        limiter.acquire("a", Priority::New, None).await.unwrap();
        assert!(matches!(limiter.acquire("a", Priority::New, None).await, Err(Refusal::DailyExhausted { .. })));
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-daily-remaining", "0".parse().unwrap());
        limiter.observe("b", 200, &headers, Duration::ZERO);
        assert!(matches!(limiter.acquire("b", Priority::New, None).await, Err(Refusal::DailyExhausted { .. })));
    }

    fn queued(limiter: &RateLimiter, location: &str) -> usize {
        limiter.location(location).lock().queued()
    }

    #[tokio::test]
    async fn calls_under_way_go_first_then_new_ones_then_background() {
        let limiter = Arc::new(limiter(1, 150, 3_000));
        limiter.acquire("a", Priority::New, None).await.unwrap();
        let (order_tx, mut order_rx) = tokio::sync::mpsc::unbounded_channel();
        for priority in [Priority::Background, Priority::New, Priority::UnderWay, Priority::New] {
            let (limiter, order_tx) = (limiter.clone(), order_tx.clone());
            tokio::spawn(async move {
                limiter.acquire("a", priority, None).await.unwrap();
                order_tx.send(priority).unwrap();
            });
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(order_tx);
        let mut order = Vec::new();
        while let Some(priority) = order_rx.recv().await {
            order.push(priority);
        }
        assert_eq!(order, [Priority::UnderWay, Priority::New, Priority::New, Priority::Background]);
        assert_eq!(queued(&limiter, "a"), 0);
    }

    #[tokio::test]
    async fn background_calls_take_at_most_their_share_and_interactive_ones_keep_the_rest() {
        let limiter = limiter(4, 400, 5_000);
        for _ in 0..2 {
            assert_eq!(limiter.acquire("a", Priority::Background, None).await.unwrap(), Duration::ZERO);
        }
        // The background share (2 of 4) is spent: interactive calls still go at once.
        for _ in 0..2 {
            assert_eq!(limiter.acquire("a", Priority::New, None).await.unwrap(), Duration::ZERO);
        }
        let pace = limiter.pace("a");
        assert_eq!(pace.limit, Limit { max: 4, interval: Duration::from_millis(400) });
        assert!((pace.background_per_second - 5.0).abs() < 1e-9, "{pace:?}");
        let waited = limiter.acquire("a", Priority::Background, None).await.unwrap();
        assert!(waited >= Duration::from_millis(350), "{waited:?}");
    }

    #[tokio::test]
    async fn the_limit_ghl_reports_is_kept_as_one_pair_beside_the_configured_one() {
        let limiter = limiter(100, 10_000, 1_000);
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-max", "2".parse().unwrap());
        headers.insert("x-ratelimit-interval-milliseconds", "300".parse().unwrap());
        limiter.observe("a", 200, &headers, Duration::ZERO);
        limiter.acquire("a", Priority::New, None).await.unwrap();
        limiter.acquire("a", Priority::New, None).await.unwrap();
        // 2 per 300 ms, not 2 per 10 s (the configured interval with GHL's max).
        let waited = limiter.acquire("a", Priority::New, None).await.expect("waits one short window");
        assert!(waited >= Duration::from_millis(250) && waited < Duration::from_millis(900), "{waited:?}");
        assert_eq!(limiter.pace("a").limit, Limit { max: 2, interval: Duration::from_millis(300) });
    }

    #[tokio::test]
    async fn a_call_the_queue_leaves_no_slot_for_is_refused_at_once_and_says_why() {
        let limiter = Arc::new(limiter(1, 100, 350));
        limiter.acquire("a", Priority::New, None).await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..3 {
            let limiter = limiter.clone();
            waiters.push(tokio::spawn(async move { limiter.acquire("a", Priority::New, None).await }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let asked = Instant::now();
        let refusal = limiter.acquire("a", Priority::New, None).await.expect_err("four calls ahead need 400 ms");
        assert!(asked.elapsed() < Duration::from_millis(50), "refused after {:?}", asked.elapsed());
        assert!(matches!(refusal, Refusal::Busy { limit: Limit { max: 1, .. }, .. }), "{refusal:?}");
        assert!(refusal.to_string().contains("1 calls per 100ms"), "{refusal}");
        for waiter in waiters {
            assert!(waiter.await.unwrap().is_ok());
        }
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_leaves_the_queue_and_the_next_one_moves_up() {
        let limiter = Arc::new(limiter(1, 200, 2_000));
        limiter.acquire("a", Priority::New, None).await.unwrap();
        let head = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("a", Priority::New, None).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let next = {
            let limiter = limiter.clone();
            tokio::spawn(async move { limiter.acquire("a", Priority::New, None).await })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(queued(&limiter, "a"), 2);
        head.abort();
        let _ = head.await;
        assert_eq!(queued(&limiter, "a"), 1);
        let waited = next.await.unwrap().expect("takes the slot the first waiter left");
        assert!(waited < Duration::from_millis(350), "{waited:?}");
        assert_eq!(queued(&limiter, "a"), 0);
    }
}
