//! The log of API requests in arrival order, for tests to assert batching, caching and retries.
//! An entry is opened when a request arrives and completed with its status when the answer is
//! known (0 for reset connections). It keeps the newest 100,000 entries.

use std::collections::VecDeque;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

const CAPACITY: usize = 100_000;

/// One API request as the sandbox saw it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RecordedRequest {
    pub method: String,
    /// The path, without the query string.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The status answered; 0 while in flight or when the connection was reset.
    pub status: u16,
    /// The location of the caller's token, when it had a valid one.
    pub location_id: Option<String>,
}

/// Identifies an open entry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket(u64);

pub(crate) struct RequestLog {
    inner: Mutex<Inner>,
}

struct Inner {
    entries: VecDeque<RecordedRequest>,
    /// Sequence number of `entries[0]`.
    first: u64,
}

impl RequestLog {
    pub(crate) fn new() -> Self {
        Self { inner: Mutex::new(Inner { entries: VecDeque::new(), first: 0 }) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn open(&self, method: &str, path: &str, query: Option<&str>) -> Ticket {
        let entry = RecordedRequest { method: method.to_owned(), path: path.to_owned(), query: query.map(str::to_owned), status: 0, location_id: None };
        let mut inner = self.lock();
        if inner.entries.len() == CAPACITY {
            inner.entries.pop_front();
            inner.first += 1;
        }
        inner.entries.push_back(entry);
        Ticket(inner.first + inner.entries.len() as u64 - 1)
    }

    pub(crate) fn complete(&self, ticket: Ticket, status: u16, location_id: Option<&str>) {
        let mut inner = self.lock();
        let Some(index) = ticket.0.checked_sub(inner.first) else {
            return;
        };
        if let Some(entry) = usize::try_from(index).ok().and_then(|i| inner.entries.get_mut(i)) {
            entry.status = status;
            entry.location_id = location_id.map(str::to_owned);
        }
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().entries.iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        let mut inner = self.lock();
        let len = inner.entries.len() as u64;
        inner.entries.clear();
        inner.first += len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_keep_arrival_order_and_get_their_status_later() {
        let log = RequestLog::new();
        let a = log.open("GET", "/a", None);
        let b = log.open("POST", "/b", Some("x=1"));
        log.complete(b, 201, Some("loc"));
        log.complete(a, 200, None);
        let entries = log.snapshot();
        assert_eq!(entries.iter().map(|e| (e.path.as_str(), e.status)).collect::<Vec<_>>(), [("/a", 200), ("/b", 201)]);
        log.clear();
        log.complete(a, 500, None);
        assert!(log.snapshot().is_empty(), "completing a cleared entry is a no-op");
        let c = log.open("GET", "/c", None);
        log.complete(c, 204, None);
        assert_eq!(log.snapshot()[0].status, 204);
    }
}
