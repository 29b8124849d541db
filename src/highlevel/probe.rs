//! Test calls for the connection check (`crate::check`): one attempt each, answered with what a
//! diagnosis needs (the status and its classified kind, GHL's `X-RateLimit-*` headers, the time
//! taken, and for a failed connection which kind: DNS, refused, TLS, timeout).
//!
//! Only read-only endpoints can be probed ([`Probe`] has no write), so a check never changes data
//! in GHL. The bodies are decoded into the same models the typed calls use, so "answers" also
//! means "answers in a shape this server reads".

use std::error::Error as _;
use std::time::{Duration, Instant};

use hyper::header::HeaderMap;
use hyper::Method;
use serde::de::DeserializeOwned;

use super::client::{classify, GhlClient};
use super::error::GhlErrorKind;
use super::ids::PathId;
use super::models::{ContactEnvelope, EventsEnvelope, NotesEnvelope, SearchBody, SearchEnvelope, TaskSearchBody, TaskSearchEnvelope, TasksEnvelope};
use super::tenant::Tenant;
use super::transport::{Reply, TransportError};

/// A read-only GHL call the check makes.
#[derive(Clone, Copy, Debug)]
pub enum Probe<'a> {
    /// `POST /contacts/search` for one contact of the tenant's location.
    SearchContacts,
    GetContact(&'a PathId),
    Tasks(&'a PathId),
    Notes(&'a PathId),
    Appointments(&'a PathId),
    /// `POST /locations/{locationId}/tasks/search` for one contact's tasks.
    SearchTasks(&'a PathId),
}

/// What one probe found.
#[derive(Clone, Debug)]
pub struct ProbeOutcome {
    /// `METHOD /path/{template}`.
    pub endpoint: String,
    pub elapsed: Duration,
    /// GHL's status, when it answered at all.
    pub status: Option<u16>,
    pub result: Result<Answer, ProbeFailure>,
    /// GHL's rate-limit headers on this answer (all `None` without an answer).
    pub rate_limit: RateLimitHeaders,
}

/// A 2xx answer GHL sent in the documented shape.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// How many items it held (contacts, tasks, …; 1 for a single object).
    pub items: usize,
    /// The first contact's id (searches only).
    pub first_contact: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProbeFailure {
    /// No HTTP answer.
    Transport(TransportFault),
    /// GHL answered with an error status, classified as the client classifies it.
    Refused(GhlErrorKind),
    /// A 2xx whose body is not the documented shape.
    Unreadable,
}

/// Why no HTTP answer came, told apart from the error chain (hyper-util → io / rustls).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportFault {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens at the host and port (connection refused).
    Refused,
    /// The TLS handshake failed: certificate, name, or not TLS on that port.
    Tls,
    /// No connection within the connect timeout.
    ConnectTimeout,
    /// Connected, but no (whole) answer within the request timeout.
    Timeout,
    /// The connection could not be opened for another reason (unreachable network, …).
    Connect,
    /// The connection broke during the exchange.
    Broken,
}

/// GHL's documented `X-RateLimit-*` headers (and the SDK's `x-ratelimit-daily-reset`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RateLimitHeaders {
    pub max: Option<u64>,
    pub remaining: Option<u64>,
    pub interval_ms: Option<u64>,
    pub daily_limit: Option<u64>,
    pub daily_remaining: Option<u64>,
    /// Undocumented; a number (epoch seconds or milliseconds) when sent.
    pub daily_reset: Option<u64>,
}

impl RateLimitHeaders {
    pub(super) fn read(headers: &HeaderMap) -> Self {
        let number = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().parse::<u64>().ok());
        Self {
            max: number("x-ratelimit-max"),
            remaining: number("x-ratelimit-remaining"),
            interval_ms: number("x-ratelimit-interval-milliseconds"),
            daily_limit: number("x-ratelimit-limit-daily"),
            daily_remaining: number("x-ratelimit-daily-remaining"),
            daily_reset: number("x-ratelimit-daily-reset"),
        }
    }

    /// True when GHL sent any of them.
    pub fn any(&self) -> bool {
        *self != Self::default()
    }
}

impl GhlClient {
    /// Makes one test call for `tenant` and reports what happened; never fails itself.
    pub async fn probe(&self, tenant: &Tenant, probe: Probe<'_>) -> ProbeOutcome {
        let location = tenant.location_id();
        let (method, template, path, body) = match probe {
            Probe::SearchContacts => {
                let body = SearchBody { location_id: location, page_limit: 1, query: None, search_after: None };
                (Method::POST, "/contacts/search", "/contacts/search".to_owned(), serde_json::to_vec(&body).ok())
            }
            Probe::GetContact(id) => (Method::GET, "/contacts/{contactId}", format!("/contacts/{}", id.segment()), None),
            Probe::Tasks(id) => (Method::GET, "/contacts/{contactId}/tasks", format!("/contacts/{}/tasks", id.segment()), None),
            Probe::Notes(id) => (Method::GET, "/contacts/{contactId}/notes", format!("/contacts/{}/notes", id.segment()), None),
            Probe::Appointments(id) => (Method::GET, "/contacts/{contactId}/appointments", format!("/contacts/{}/appointments", id.segment()), None),
            Probe::SearchTasks(id) => {
                let ids = [id.as_str().to_owned()];
                let body = TaskSearchBody { contact_id: &ids, limit: 1, skip: 0 };
                // The location was validated as a path id when the configuration was read.
                let segment = PathId::parse(location, "locationId").map(|l| l.segment()).unwrap_or_default();
                (Method::POST, "/locations/{locationId}/tasks/search", format!("/locations/{segment}/tasks/search"), serde_json::to_vec(&body).ok())
            }
        };
        let endpoint = format!("{method} {template}");
        let started = Instant::now();
        let exchanged = self.exchange(tenant, method, &path, body).await;
        let elapsed = started.elapsed();
        match exchanged {
            Err(error) => ProbeOutcome {
                endpoint,
                elapsed,
                status: None,
                result: Err(ProbeFailure::Transport(fault_of(&error))),
                rate_limit: RateLimitHeaders::default(),
            },
            Ok(Reply { status, headers, body: bytes }) => {
                let result = if status.is_success() {
                    decode(probe, &bytes).ok_or(ProbeFailure::Unreadable)
                } else {
                    Err(ProbeFailure::Refused(classify(status, &headers, &bytes)))
                };
                ProbeOutcome { endpoint, elapsed, status: Some(status.as_u16()), result, rate_limit: RateLimitHeaders::read(&headers) }
            }
        }
    }
}

fn decode(probe: Probe<'_>, bytes: &[u8]) -> Option<Answer> {
    fn read<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
        super::client::decode(bytes).ok()
    }
    let items = |items: usize| Answer { items, first_contact: None };
    Some(match probe {
        Probe::SearchContacts => {
            let found: SearchEnvelope = read(bytes)?;
            Answer { items: found.contacts.len(), first_contact: found.contacts.into_iter().next().map(|c| c.id) }
        }
        Probe::GetContact(_) => read::<ContactEnvelope>(bytes).map(|_| items(1))?,
        Probe::Tasks(_) => items(read::<TasksEnvelope>(bytes)?.tasks.len()),
        Probe::Notes(_) => items(read::<NotesEnvelope>(bytes)?.notes.len()),
        Probe::Appointments(_) => items(read::<EventsEnvelope>(bytes)?.events.len()),
        Probe::SearchTasks(_) => items(read::<TaskSearchEnvelope>(bytes)?.tasks.len()),
    })
}

/// Which transport failure `error` is. The transport says "timeout" and "connect"; what failed
/// within a connect is found further down the chain: hyper-util's "dns error", an I/O error's
/// kind, or rustls's error (wrapped in an I/O error, so read from its text).
pub(crate) fn fault_of(error: &TransportError) -> TransportFault {
    let chain = || std::iter::successors(error.source(), |e| (*e).source());
    let io_kind = error.io_kind();
    let text = chain().map(|e| e.to_string().to_ascii_lowercase()).collect::<Vec<_>>().join(": ");
    let mentions = |words: &[&str]| words.iter().any(|w| text.contains(w));
    if error.is_timeout() || io_kind == Some(std::io::ErrorKind::TimedOut) {
        return if error.is_connect() { TransportFault::ConnectTimeout } else { TransportFault::Timeout };
    }
    if mentions(&["dns error", "failed to lookup address", "name or service not known", "no address associated", "nodename nor servname"]) {
        return TransportFault::Dns;
    }
    if io_kind == Some(std::io::ErrorKind::ConnectionRefused) {
        return TransportFault::Refused;
    }
    if mentions(&["certificate", "tls", "handshake", "corrupt message", "peer is incompatible", "unexpected message"]) {
        return TransportFault::Tls;
    }
    if error.is_connect() {
        TransportFault::Connect
    } else {
        TransportFault::Broken
    }
}
