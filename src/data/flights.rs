//! Identical reads in flight share one GHL call, across requests: the same key, for the same
//! location and credential, while a call for it runs.
//!
//! The call runs on its own task, so it always finishes (and gives back its limiter slot and
//! permit) even when every caller waiting for it has gone. Each caller waits only until its own
//! deadline; one that joined a call whose starter ran out of time asks again on its own time.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures_util::future::{BoxFuture, FutureExt, Shared};
use metrics::counter;
use tokio::sync::oneshot;
use tracing::Instrument;

use super::keys::{AppointmentsOf, BusinessPage, ContactKey, NoteKey, NotesOf, TaskKey, TasksOf};
use crate::highlevel::models::{BusinessContactsEnvelope, Contact, Event, Note, Task};
use crate::highlevel::{GhlError, GhlErrorKind, Tenant, Unavailability, UpstreamCall};

/// How often a caller asks again after joining calls that ran out of their starters' time.
const MAX_RESTARTS: usize = 3;

/// One table per kind of read.
#[derive(Default)]
pub struct FlightTables {
    pub(super) contacts: Flights<ContactKey, Option<Arc<Contact>>>,
    pub(super) tasks: Flights<TasksOf, Arc<Vec<Task>>>,
    pub(super) notes: Flights<NotesOf, Arc<Vec<Note>>>,
    pub(super) appointments: Flights<AppointmentsOf, Arc<Vec<Event>>>,
    pub(super) task: Flights<TaskKey, Option<Arc<Task>>>,
    pub(super) note: Flights<NoteKey, Option<Arc<Note>>>,
    pub(super) business: Flights<BusinessPage, Arc<BusinessContactsEnvelope>>,
}

/// The calls in flight for one kind of read, by tenant and key.
pub struct Flights<K, T> {
    calls: Arc<Mutex<HashMap<FlightKey<K>, SharedCall<T>>>>,
}

impl<K, T> Default for Flights<K, T> {
    fn default() -> Self {
        Self { calls: Arc::default() }
    }
}

/// What makes two reads the same call.
#[derive(Clone, PartialEq, Eq, Hash)]
struct FlightKey<K> {
    location: String,
    credential: [u8; 32],
    key: K,
}

type SharedCall<T> = Shared<BoxFuture<'static, Result<T, GhlError>>>;

impl<K, T> Flights<K, T>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    T: Clone + Send + Sync + 'static,
{
    /// The result of `fetch(tenant)` for `key`, or of the identical call already in flight.
    /// `endpoint` (the path template) names the call in errors and metrics.
    pub async fn run<F, Fut>(&self, tenant: &Tenant, key: K, endpoint: &'static str, fetch: F) -> Result<T, GhlError>
    where
        F: Fn(Tenant) -> Fut,
        Fut: Future<Output = Result<T, GhlError>> + Send + 'static,
    {
        let key = FlightKey { location: tenant.location_id().to_owned(), credential: tenant.credential_fingerprint(), key };
        for _ in 0..MAX_RESTARTS {
            let (call, joined) = self.join_or_start(tenant, &key, endpoint, &fetch);
            let result = match tenant.deadline() {
                Some(deadline) => match tokio::time::timeout_at(deadline.into(), call).await {
                    Ok(result) => result,
                    Err(_) => return Err(deadline_exceeded(endpoint)),
                },
                None => call.await,
            };
            let starter_ran_out = matches!(&result, Err(e) if e.kind == GhlErrorKind::Unavailable { reason: Unavailability::DeadlineExceeded });
            let time_left = tenant.deadline().is_none_or(|deadline| Instant::now() < deadline);
            if !(joined && starter_ran_out && time_left) {
                return result;
            }
        }
        Err(deadline_exceeded(endpoint))
    }

    /// The call in flight for `key`, started on its own task when there is none; `true` when joined.
    fn join_or_start<F, Fut>(&self, tenant: &Tenant, key: &FlightKey<K>, endpoint: &'static str, fetch: &F) -> (SharedCall<T>, bool)
    where
        F: Fn(Tenant) -> Fut,
        Fut: Future<Output = Result<T, GhlError>> + Send + 'static,
    {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = calls.get(key) {
            counter!("ghl_upstream_shared_gets_total", "endpoint" => endpoint).increment(1);
            return (existing.clone(), true);
        }
        let (sender, receiver) = oneshot::channel();
        let call = async move {
            receiver.await.unwrap_or_else(|_| {
                tracing::error!(endpoint, "a shared GHL call's task ended abnormally");
                Err(GhlError::at(
                    GhlErrorKind::Unavailable { reason: Unavailability::ConnectionLost },
                    UpstreamCall { method: "GET", path: endpoint, status: None },
                ))
            })
        }
        .boxed()
        .shared();
        calls.insert(key.clone(), call.clone());
        drop(calls);
        // Spawned outside the lock: the guard takes it again when the task ends, however it ends.
        let forget = ForgetOnDrop { calls: self.calls.clone(), key: key.clone() };
        let fetching = fetch(tenant.clone());
        tokio::spawn(
            async move {
                let _forget = forget;
                let _ = sender.send(fetching.await);
            }
            .in_current_span(),
        );
        (call, false)
    }
}

/// Removes a shared call from its table when its task ends.
struct ForgetOnDrop<K: Eq + Hash, T> {
    calls: Arc<Mutex<HashMap<FlightKey<K>, SharedCall<T>>>>,
    key: FlightKey<K>,
}

impl<K, T> Drop for ForgetOnDrop<K, T>
where
    K: Eq + Hash,
{
    fn drop(&mut self) {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

fn deadline_exceeded(endpoint: &'static str) -> GhlError {
    GhlError::at(GhlErrorKind::Unavailable { reason: Unavailability::DeadlineExceeded }, UpstreamCall { method: "GET", path: endpoint, status: None })
}
