//! A circuit breaker per location: after a run of upstream failures, calls fail fast with
//! `UPSTREAM_UNAVAILABLE` for a cool-down, then one probe decides whether to close again.
//! It keeps an outage from turning every GraphQL request into a slow timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self { failure_threshold: 5, cool_down: Duration::from_secs(5) }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    /// One probe is in flight; everyone else fails fast.
    HalfOpen,
}

pub struct CircuitBreaker {
    config: BreakerConfig,
    states: Mutex<HashMap<String, State>>,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, states: Mutex::new(HashMap::new()) }
    }

    /// Whether a call to `location` may go now.
    pub fn allow(&self, location: &str) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let Some(state) = states.get_mut(location) else {
            return true;
        };
        match *state {
            State::Closed { .. } => true,
            State::Open { until } if Instant::now() >= until => {
                *state = State::HalfOpen;
                true
            }
            State::Open { .. } | State::HalfOpen => false,
        }
    }

    /// Records the outcome of a call that was let through. Returns true when this opened the circuit.
    pub fn record(&self, location: &str, failed: bool) -> bool {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if !failed && !states.contains_key(location) {
            return false; // the common case: healthy and never failed, nothing to track
        }
        let state = states.entry(location.to_owned()).or_insert(State::Closed { failures: 0 });
        let open = State::Open { until: Instant::now() + self.config.cool_down };
        let (next, opened) = match (*state, failed) {
            (_, false) => (State::Closed { failures: 0 }, false),
            (State::Closed { failures }, true) if failures + 1 >= self.config.failure_threshold => (open, true),
            (State::Closed { failures }, true) => (State::Closed { failures: failures + 1 }, false),
            (State::HalfOpen, true) => (open, true),
            (State::Open { until }, true) => (State::Open { until }, false),
        };
        *state = next;
        opened
    }

    /// True while calls to `location` fail fast (for metrics).
    pub fn is_open(&self, location: &str) -> bool {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        matches!(states.get(location), Some(State::Open { .. } | State::HalfOpen))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_once_after_the_cool_down() {
        let breaker = CircuitBreaker::new(BreakerConfig { failure_threshold: 3, cool_down: Duration::from_millis(30) });
        for _ in 0..2 {
            assert!(breaker.allow("a"));
            assert!(!breaker.record("a", true));
        }
        assert!(breaker.allow("a"));
        assert!(breaker.record("a", true), "third failure opens");
        assert!(!breaker.allow("a"));
        assert!(breaker.allow("b"), "other locations are unaffected");
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.allow("a"), "one probe after the cool-down");
        assert!(!breaker.allow("a"), "only one");
        breaker.record("a", false);
        assert!(breaker.allow("a"));
        assert!(!breaker.is_open("a"));
    }
}
