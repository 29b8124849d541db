//! The only code that speaks HTTP to GHL (or the sandbox): one typed async fn per endpoint.
//!
//! Nothing here knows about GraphQL. Callers pass a [`Tenant`] (location + credential + scopes)
//! on every call, so limits and caches can be keyed per location.

mod breaker;
mod client;
mod error;
mod ids;
mod limiter;
pub mod models;
mod probe;
mod retry;
mod shared;
mod tenant;
mod transport;

pub use breaker::BreakerConfig;
pub use client::{ClientOptions, GhlClient};
pub use error::{GhlError, GhlErrorKind, Unavailability, UpstreamCall};
pub use ids::PathId;
/// For the limiter bench (in process vs Redis) in `redis::budget`'s tests.
#[cfg(test)]
pub use limiter::RateLimiter;
pub use limiter::{LimiterConfig, Pace};
pub use probe::{Probe, ProbeFailure, ProbeOutcome, RateLimitHeaders, TransportFault};
pub use retry::RetryConfig;
pub use shared::{Observation, SharedBudget, SharedWindow, Take, Taken, Unreachable};
#[cfg(test)]
pub use tenant::Priority;
pub use tenant::{Scopes, Tenant, SCOPE_READ, SCOPE_TASKS_SEARCH, SCOPE_WRITE};

/// The `Version` header value the contacts, locations and oauth services require.
pub const API_VERSION: &str = "2021-07-28";
