//! Typed configuration of a sandbox: where it listens, how much data it seeds, and the latency and
//! rate limits it imposes. Parsing of human strings (`100/10s`) lives here; the CLI maps onto it.

use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use crate::duplicates::DuplicateSetting;

/// Most contacts the `--contacts` flag seeds: all are held in memory, and far more would
/// exhaust it instead of failing at the command line.
pub const MAX_CONTACTS: usize = 1_000_000;

/// Everything a sandbox needs to start. `Default` is what tests usually want.
#[derive(Clone, Debug)]
pub struct SandboxConfig {
    /// Address to bind; port 0 picks a free port (see [`crate::RunningSandbox::addr`]).
    pub listen: SocketAddr,
    /// Number of seeded contacts in [`crate::LOCATION_ID`] ([`crate::OTHER_LOCATION_ID`] gets 10); the CLI caps it at [`MAX_CONTACTS`].
    pub contacts: usize,
    /// Seed of the data generator (and of probabilistic faults): same seed, same data.
    pub seed: u64,
    /// Added before answering every API call.
    pub latency: Duration,
    /// Burst limit per token and location.
    pub rate_limit: RateLimit,
    /// Requests per day per token and location.
    pub daily_limit: u64,
    /// `expires_in` of OAuth access tokens; they stop working after it.
    pub access_token_ttl: Duration,
    /// `expires_in` of an agency's (Company) own access tokens; `None`: as `access_token_ttl`.
    /// (Location tokens minted from one live `access_token_ttl`.)
    pub company_token_ttl: Option<Duration>,
    /// Where signed webhook events go after each write (`None`: nowhere).
    pub webhook_url: Option<String>,
    /// Deliveries again after a 429 (GHL: 6, about 10 minutes apart).
    pub webhook_retries: u32,
    pub webhook_retry_interval: Duration,
    /// Every location's "Allow Duplicate Contact" setting at start (see [`DuplicateSetting`]);
    /// [`crate::RunningSandbox::set_duplicate_setting`] changes one location's.
    pub duplicate_setting: DuplicateSetting,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
            contacts: 200,
            seed: 42,
            latency: Duration::ZERO,
            rate_limit: RateLimit::default(),
            daily_limit: 200_000,
            access_token_ttl: Duration::from_secs(86_399),
            company_token_ttl: None,
            webhook_url: None,
            webhook_retries: 6,
            webhook_retry_interval: Duration::from_secs(600),
            duplicate_setting: DuplicateSetting::default(),
        }
    }
}

/// At most `max` requests per `interval` (GHL: 100 per 10 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub interval: Duration,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self { max: 100, interval: Duration::from_secs(10) }
    }
}

/// Why a rate limit string was refused.
#[derive(Debug, thiserror::Error)]
pub enum ParseRateLimitError {
    #[error("expected MAX/INTERVAL, e.g. 100/10s")]
    Shape,
    #[error("invalid maximum {0:?}: expected a positive integer")]
    Max(String),
    #[error("invalid interval {0:?}: {1}")]
    Interval(String, humantime::DurationError),
    #[error("the interval must be longer than zero")]
    ZeroInterval,
}

impl FromStr for RateLimit {
    type Err = ParseRateLimitError;

    /// Parses `100/10s`, `20/1s`, `25/10s`, `5/500ms` (a bare number after `/` means seconds).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (max, interval) = s.trim().split_once('/').ok_or(ParseRateLimitError::Shape)?;
        let max: u32 = max.trim().parse().ok().filter(|m| *m > 0).ok_or_else(|| ParseRateLimitError::Max(max.to_owned()))?;
        let interval = interval.trim();
        let interval = if interval.chars().all(|c| c.is_ascii_digit()) && !interval.is_empty() {
            humantime::parse_duration(&format!("{interval}s"))
        } else {
            humantime::parse_duration(interval)
        }
        .map_err(|e| ParseRateLimitError::Interval(interval.to_owned(), e))?;
        if interval.is_zero() {
            return Err(ParseRateLimitError::ZeroInterval);
        }
        Ok(Self { max, interval })
    }
}

impl std::fmt::Display for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.max, humantime::format_duration(self.interval))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limits_parse_from_max_slash_interval() {
        let limit: RateLimit = "100/10s".parse().expect("valid");
        assert_eq!(limit, RateLimit { max: 100, interval: Duration::from_secs(10) });
        let limit: RateLimit = "20/1s".parse().expect("valid");
        assert_eq!(limit.interval, Duration::from_secs(1));
        let limit: RateLimit = "5/500ms".parse().expect("valid");
        assert_eq!(limit.interval, Duration::from_millis(500));
        let limit: RateLimit = "25/10".parse().expect("valid");
        assert_eq!(limit.interval, Duration::from_secs(10));
    }

    #[test]
    fn malformed_rate_limits_are_refused() {
        for bad in ["", "100", "0/10s", "x/10s", "10/abc", "10/0s"] {
            assert!(bad.parse::<RateLimit>().is_err(), "{bad:?} should be refused");
        }
    }
}
