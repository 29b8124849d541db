//! What can go wrong talking to GHL, classified once from the status and body GHL sent.
//!
//! A [`GhlError`] never holds the upstream body, a token or a URL with ids: only a kind and
//! the endpoint's path template, so it is safe to log and to map into a GraphQL error.

use std::fmt;
use std::time::Duration;

pub use super::limiter::Refusal;

/// The endpoint a failed call was made to, as a template (`/contacts/{contactId}/tasks`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamCall {
    pub method: &'static str,
    pub path: &'static str,
    pub status: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GhlErrorKind {
    /// A caller-supplied id that cannot go into a URL.
    InvalidId { field: &'static str, reason: &'static str },
    /// GHL has no such object (404, or 400 "… not found").
    NotFound,
    /// The token is missing, invalid or expired.
    Unauthenticated,
    /// GHL's 401 "The token is not authorized for this scope."
    MissingScope,
    /// GHL's 403, e.g. an object of another location.
    Forbidden,
    /// GHL refused the input (400 / 422), with GHL's own words about it when it gave any
    /// (trimmed, control characters dropped: GHL's validation message, never a whole body).
    Rejected { detail: Option<String> },
    /// GHL's 429 (`retry_after` from `Retry-After` or `X-RateLimit-Interval-Milliseconds`).
    RateLimited { retry_after: Option<Duration> },
    /// Our own limiter refused the call before it reached GHL, and says why.
    Throttled { refusal: Refusal },
    /// The location's daily request budget is spent (our limiter's count, or GHL's 429 with
    /// `X-RateLimit-Daily-Remaining: 0`): nothing goes through until it resets.
    DailyBudgetExhausted { retry_after: Option<Duration> },
    /// 5xx, a timeout, a broken connection, or the circuit breaker is open.
    Unavailable { reason: Unavailability },
    /// A 2xx whose body is not what the spec promises.
    InvalidResponse,
}

/// Why GHL could not be used; decides whether a call may be retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unavailability {
    /// GHL answered 5xx (or 408).
    ServerError,
    /// No answer within the per-attempt timeout.
    Timeout,
    /// The connection could not be opened: the request provably never reached GHL.
    ConnectFailed,
    /// The connection broke after the request may have been sent.
    ConnectionLost,
    /// Recent calls failed; this one was not attempted (circuit breaker open).
    CircuitOpen,
    /// The operation's deadline passed before GHL answered.
    DeadlineExceeded,
}

impl fmt::Display for Unavailability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ServerError => "server error",
            Self::Timeout => "timeout",
            Self::ConnectFailed => "connection failed",
            Self::ConnectionLost => "connection lost",
            Self::CircuitOpen => "too many recent failures; retrying shortly",
            Self::DeadlineExceeded => "operation deadline exceeded",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GhlError {
    pub kind: GhlErrorKind,
    pub call: Option<UpstreamCall>,
}

impl GhlErrorKind {
    /// Our limiter's refusal: a spent daily budget (which pauses jobs), or a call it would not queue.
    pub(crate) fn refused_by_limiter(refusal: Refusal) -> Self {
        match refusal {
            Refusal::DailyExhausted { retry_after } => Self::DailyBudgetExhausted { retry_after: Some(retry_after) },
            refusal => Self::Throttled { refusal },
        }
    }

    /// How long to wait before trying again, when GHL or our limiter said.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::RateLimited { retry_after } => *retry_after,
            Self::Throttled { refusal } => Some(refusal.retry_after()),
            Self::DailyBudgetExhausted { retry_after } => *retry_after,
            _ => None,
        }
    }
}

impl GhlError {
    pub fn new(kind: GhlErrorKind) -> Self {
        Self { kind, call: None }
    }

    pub(crate) fn at(kind: GhlErrorKind, call: UpstreamCall) -> Self {
        Self { kind, call: Some(call) }
    }

    pub fn is_not_found(&self) -> bool {
        self.kind == GhlErrorKind::NotFound
    }
}

impl fmt::Display for GhlErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidId { field, reason } => write!(f, "`{field}` {reason}"),
            Self::NotFound => f.write_str("not found in GHL"),
            Self::Unauthenticated => f.write_str("GHL rejected the credentials (invalid or expired token)"),
            Self::MissingScope => f.write_str("the GHL token is not authorized for the scope this operation needs"),
            Self::Forbidden => f.write_str("the GHL token does not have access to this location or object"),
            Self::Rejected { detail: None } => f.write_str("GHL rejected the input"),
            Self::Rejected { detail: Some(detail) } => write!(f, "GHL rejected the input: {detail}"),
            Self::RateLimited { .. } => f.write_str("GHL answered 429: rate limit reached; retry later"),
            Self::Throttled { refusal } => write!(f, "not sent to GHL: this server's rate limiter refused the call: {refusal}"),
            Self::DailyBudgetExhausted { .. } => f.write_str("the location's daily GHL request budget is spent; retry after it resets"),
            Self::Unavailable { reason } => write!(f, "GHL is unavailable ({reason})"),
            Self::InvalidResponse => f.write_str("GHL sent a response this server cannot read"),
        }
    }
}

impl fmt::Display for GhlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.call {
            Some(call) => match call.status {
                Some(status) => write!(f, "{} ({} {} answered {status})", self.kind, call.method, call.path),
                None => write!(f, "{} ({} {})", self.kind, call.method, call.path),
            },
            None => write!(f, "{}", self.kind),
        }
    }
}

impl std::error::Error for GhlError {}
