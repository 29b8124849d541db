//! The seam to a rate budget shared by several replicas (`--redis-url`): the limiter keeps its
//! queue and priorities per process, and asks the shared window for each slot instead of its own.
//! When the shared window cannot answer, the limiter falls back to its own window holding this
//! replica to its share of the limit (limit ÷ expected replicas).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::BoxFuture;

use super::limiter::Limit;

/// One question to the shared window.
#[derive(Clone, Copy, Debug)]
pub struct Take {
    /// The configured limit (the learned one is shared by the window itself).
    pub configured: Limit,
    /// This replica's recent upstream round trip: the window's margin.
    pub round_trip: Duration,
    pub background: bool,
    pub background_share: f64,
    pub daily_max: u64,
    /// Calls queued ahead of this one (here); `0` and `book`: take the slot if there is one.
    pub ahead: usize,
    pub book: bool,
}

/// The shared window's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Taken {
    /// Booked: the call may go.
    Granted,
    /// No room: how long until there is (for `ahead` calls before it).
    Wait(Duration),
    /// The daily budget is spent; it resets in this long.
    DailyExhausted(Duration),
}

/// What one GHL answer said about the budget.
#[derive(Clone, Copy, Debug)]
pub struct Observation {
    pub configured: Limit,
    pub reported_max: Option<u32>,
    pub reported_interval: Option<Duration>,
    /// Calls left in GHL's window (0 on a 429).
    pub remaining: Option<u64>,
    pub daily_spent: bool,
    pub round_trip: Duration,
}

/// The shared window could not be asked (unreachable, slow): the caller falls back.
#[derive(Clone, Copy, Debug)]
pub struct Unreachable;

/// A budget window every replica books in.
pub trait SharedWindow: Send + Sync {
    fn take<'a>(&'a self, budget: &'a str, take: Take) -> BoxFuture<'a, Result<Taken, Unreachable>>;
    /// Learns from one GHL answer (in the background: never delays the response).
    fn observe(&self, budget: &str, observation: Observation);
}

/// The shared window and how many replicas share it.
#[derive(Clone)]
pub struct SharedBudget {
    pub window: Arc<dyn SharedWindow>,
    /// While the window is unreachable each replica keeps to limit ÷ this.
    pub expected_replicas: u32,
}

impl fmt::Debug for SharedBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedBudget").field("expected_replicas", &self.expected_replicas).finish_non_exhaustive()
    }
}
