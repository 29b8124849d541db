//! A circuit breaker per location: after a run of upstream failures, calls fail fast with
//! `UPSTREAM_UNAVAILABLE` for a cool-down, then one probe decides whether to close again.
//! It keeps an outage from turning every GraphQL request into a slow timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: std::num::NonZeroU32,
    /// How long it stays open before a probe.
    pub cool_down: Duration,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; the others still fail fast.
    HalfOpen,
}

/// Circuits kept before healthy ones are forgotten (forward mode keys them by credential).
const MAX_TRACKED: usize = 10_000;

pub struct CircuitBreaker {
    config: BreakerConfig,
    states: Mutex<HashMap<String, State>>,
}

/// Permission to make one call. A probe that ends without an outcome (its caller went away, the
/// limiter refused it, its deadline passed) hands the probe to the next caller when dropped, so
/// a half-open circuit can never stay stuck.
#[must_use]
pub struct Admission<'a> {
    breaker: &'a CircuitBreaker,
    location: &'a str,
    probe: bool,
    settled: bool,
}

/// What a recorded outcome did to the circuit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    None,
    Opened,
    Closed,
}

impl CircuitBreaker {
    pub fn new(config: BreakerConfig) -> Self {
        Self { config, states: Mutex::new(HashMap::new()) }
    }

    /// Lets a call through, or `None` while the circuit is open (or its probe is out).
    pub fn admit<'a>(&'a self, location: &'a str) -> Option<Admission<'a>> {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        let probe = match states.get_mut(location) {
            None | Some(State::Closed { .. }) => false,
            Some(state) => match *state {
                State::Open { until } if Instant::now() >= until => {
                    *state = State::HalfOpen;
                    true
                }
                _ => return None,
            },
        };
        Some(Admission { breaker: self, location, probe, settled: false })
    }

    fn record(&self, location: &str, failed: bool) -> Transition {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if !failed && !states.contains_key(location) {
            return Transition::None; // the common case: healthy and never failed, nothing to track
        }
        if states.len() >= MAX_TRACKED && !states.contains_key(location) {
            states.retain(|_, state| *state != State::Closed { failures: 0 });
        }
        let state = states.entry(location.to_owned()).or_insert(State::Closed { failures: 0 });
        let open = State::Open { until: Instant::now() + self.config.cool_down };
        let (next, transition) = match (*state, failed) {
            (State::Closed { .. }, false) => (State::Closed { failures: 0 }, Transition::None),
            (State::Open { .. } | State::HalfOpen, false) => (State::Closed { failures: 0 }, Transition::Closed),
            (State::Closed { failures }, true) if failures + 1 >= self.config.failure_threshold.get() => (open, Transition::Opened),
            (State::Closed { failures }, true) => (State::Closed { failures: failures + 1 }, Transition::None),
            (State::HalfOpen, true) => (open, Transition::Opened),
            (State::Open { until }, true) => (State::Open { until }, Transition::None),
        };
        *state = next;
        transition
    }

    /// A probe that ended without an outcome: the next caller may probe at once.
    fn release_probe(&self, location: &str) {
        let mut states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(state @ State::HalfOpen) = states.get_mut(location) {
            *state = State::Open { until: Instant::now() };
        }
    }

    #[cfg(test)]
    fn is_open(&self, location: &str) -> bool {
        let states = self.states.lock().unwrap_or_else(|p| p.into_inner());
        matches!(states.get(location), Some(State::Open { .. } | State::HalfOpen))
    }
}

impl Admission<'_> {
    /// Books the call's outcome: `failed` when GHL itself failed (5xx, timeout, broken connection).
    pub fn record(mut self, failed: bool) -> Transition {
        self.settled = true;
        self.breaker.record(self.location, failed)
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.breaker.release_probe(self.location);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_then_probes_once_after_the_cool_down() {
        let breaker = CircuitBreaker::new(BreakerConfig { failure_threshold: std::num::NonZeroU32::new(3).unwrap(), cool_down: Duration::from_millis(30) });
        for _ in 0..2 {
            assert_eq!(breaker.admit("a").expect("closed").record(true), Transition::None);
        }
        assert_eq!(breaker.admit("a").expect("closed").record(true), Transition::Opened, "third failure opens");
        assert!(breaker.admit("a").is_none());
        assert!(breaker.admit("b").is_some(), "other locations are unaffected");
        std::thread::sleep(Duration::from_millis(40));
        let probe = breaker.admit("a").expect("one probe after the cool-down");
        assert!(breaker.admit("a").is_none(), "only one");
        assert_eq!(probe.record(false), Transition::Closed);
        assert!(breaker.admit("a").is_some());
        assert!(!breaker.is_open("a"));
    }

    #[test]
    fn a_probe_dropped_without_an_outcome_lets_the_next_caller_probe() {
        let breaker = CircuitBreaker::new(BreakerConfig { failure_threshold: std::num::NonZeroU32::MIN, cool_down: Duration::from_millis(10) });
        assert_eq!(breaker.admit("a").expect("closed").record(true), Transition::Opened);
        std::thread::sleep(Duration::from_millis(20));
        let abandoned = breaker.admit("a").expect("probe");
        assert!(breaker.admit("a").is_none(), "the probe is out");
        drop(abandoned);
        let probe = breaker.admit("a").expect("the abandoned probe is handed on");
        assert_eq!(probe.record(false), Transition::Closed);
    }
}
