//! Typed keys of the entities the data layer loads: the key's type says what it loads and how.
//!
//! Each kind names its slot among a request's loaders and its table of shared in-flight calls, so
//! a load is routed by the key's type at compile time.

use std::convert::Infallible;
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};

use crate::highlevel::models::{BusinessContactsEnvelope, Contact, Event, Note, Task};
use crate::highlevel::{GhlClient, GhlError, PathId, Tenant};

use super::cache::{Cached, Entity};
use super::flights::{FlightTables, Flights};
use super::loaders::{Fetcher, Singles, TasksLoader};
use super::request::{Slot, Slots};

/// What loading a key gives: its value, or why GHL could not give it.
pub type Loaded<K> = Result<<K as Key>::Value, GhlError>;

/// A kind of entity the data layer loads.
pub trait Key: Clone + Eq + Hash + Send + Sync + 'static {
    /// `Option<Arc<T>>` for one object (`None`: GHL has no such object), `Arc<Vec<T>>` for a list.
    type Value: Clone + Send + Sync + 'static;
    /// The DataLoader's loader of this kind.
    type Loader: Loader<Self, Value = Loaded<Self>, Error = Infallible>;
    /// Whether a load of this kind brings a contact, whose tasks a pending batch should await.
    const BRINGS_CONTACT: bool = false;

    /// This kind's slot among a request's loaders.
    fn slot(slots: &Slots) -> &Slot<Self>;

    /// A request's loader of this kind.
    fn loader(fetcher: &Fetcher) -> DataLoader<Self::Loader>;

    /// What the shared cache calls this key.
    fn entity(&self) -> Entity;

    /// The value as the shared cache keeps it, and back.
    fn to_cached(value: &Self::Value) -> Cached;
    fn from_cached(cached: Cached) -> Option<Self::Value>;
}

/// A kind GHL serves one key per call (a `GET`), shared across requests while in flight.
pub trait FetchOne: Key {
    /// The path template of the call, for errors and metrics.
    const ENDPOINT: &'static str;

    fn fetch(&self, client: &GhlClient, tenant: &Tenant) -> impl Future<Output = Loaded<Self>> + Send;

    /// This kind's table of in-flight calls.
    fn flights(tables: &FlightTables) -> &Flights<Self, Self::Value>;
}

/// A contact by id (`GET /contacts/{contactId}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContactKey(pub PathId);

/// The tasks of a contact (`GET /contacts/{contactId}/tasks`, or batched through `tasks/search`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TasksOf(pub PathId);

/// The notes of a contact (`GET /contacts/{contactId}/notes`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NotesOf(pub PathId);

/// The appointments of a contact (`GET /contacts/{contactId}/appointments`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppointmentsOf(pub PathId);

/// One task of a contact (`GET /contacts/{contactId}/tasks/{taskId}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskKey(pub PathId, pub PathId);

/// One note of a contact (`GET /contacts/{contactId}/notes/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NoteKey(pub PathId, pub PathId);

/// A page of a business's contacts (`GET /contacts/business/{businessId}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BusinessPage {
    pub business: PathId,
    pub limit: u32,
    pub skip: u64,
}

/// A missing object is a value (`None`), not an error, so it is remembered like any other.
fn found<T>(result: Result<T, GhlError>) -> Result<Option<Arc<T>>, GhlError> {
    match result {
        Ok(value) => Ok(Some(Arc::new(value))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

/// A kind fetched one key per call, whose batches start at once (GHL has no batch read for it).
macro_rules! kind {
    ($key:ty, $value:ty, $slot:ident, $variant:ident($($field:tt),+), $endpoint:literal, |$this:ident, $client:ident, $tenant:ident| $fetch:expr) => {
        kind!(@fetch $key, $value, $slot, $endpoint, |$this, $client, $tenant| $fetch);
        impl Key for $key {
            type Value = $value;
            type Loader = Singles<Self>;
            const BRINGS_CONTACT: bool = kind!(@brings $slot);
            fn slot(slots: &Slots) -> &Slot<Self> {
                &slots.$slot
            }
            fn loader(fetcher: &Fetcher) -> DataLoader<Self::Loader> {
                fetcher.singles()
            }
            kind!(@cache $variant($($field),+));
        }
    };
    (@brings contacts) => {
        true
    };
    (@brings $slot:ident) => {
        false
    };
    (@cache $variant:ident($($field:tt),+)) => {
        fn entity(&self) -> Entity {
            Entity::$variant($(self.$field.clone()),+)
        }
        fn to_cached(value: &Self::Value) -> Cached {
            Cached::$variant(value.clone())
        }
        fn from_cached(cached: Cached) -> Option<Self::Value> {
            match cached {
                Cached::$variant(value) => Some(value),
                _ => None,
            }
        }
    };
    (@fetch $key:ty, $value:ty, $slot:ident, $endpoint:literal, |$this:ident, $client:ident, $tenant:ident| $fetch:expr) => {
        impl FetchOne for $key {
            const ENDPOINT: &'static str = $endpoint;
            async fn fetch(&self, $client: &GhlClient, $tenant: &Tenant) -> Loaded<Self> {
                let $this = self;
                $fetch
            }
            fn flights(tables: &FlightTables) -> &Flights<Self, Self::Value> {
                &tables.$slot
            }
        }
    };
}

kind!(ContactKey, Option<Arc<Contact>>, contacts, Contact(0), "/contacts/{contactId}", |key, client, tenant| found(client.get_contact(tenant, &key.0).await));
kind!(NotesOf, Arc<Vec<Note>>, notes, Notes(0), "/contacts/{contactId}/notes", |key, client, tenant| client.list_notes(tenant, &key.0).await.map(Arc::new));
kind!(AppointmentsOf, Arc<Vec<Event>>, appointments, Appointments(0), "/contacts/{contactId}/appointments", |key, client, tenant| {
    client.list_appointments(tenant, &key.0).await.map(Arc::new)
});
kind!(TaskKey, Option<Arc<Task>>, task, Task(0, 1), "/contacts/{contactId}/tasks/{taskId}", |key, client, tenant| found(
    client.get_task(tenant, &key.0, &key.1).await
));
kind!(NoteKey, Option<Arc<Note>>, note, Note(0, 1), "/contacts/{contactId}/notes/{id}", |key, client, tenant| found(
    client.get_note(tenant, &key.0, &key.1).await
));

// Tasks have a loader of their own: with `locations/tasks.readonly` they batch into `tasks/search`.
kind!(@fetch TasksOf, Arc<Vec<Task>>, tasks, "/contacts/{contactId}/tasks", |key, client, tenant| client.list_tasks(tenant, &key.0).await.map(Arc::new));
impl Key for TasksOf {
    type Value = Arc<Vec<Task>>;
    type Loader = TasksLoader;
    fn slot(slots: &Slots) -> &Slot<Self> {
        &slots.tasks
    }
    fn loader(fetcher: &Fetcher) -> DataLoader<Self::Loader> {
        fetcher.tasks()
    }
    kind!(@cache Tasks(0));
}

impl BusinessPage {
    /// Shared while in flight, never kept: a page is read once per request.
    pub async fn fetch(&self, client: &GhlClient, tenant: &Tenant) -> Result<Arc<BusinessContactsEnvelope>, GhlError> {
        client.contacts_by_business(tenant, &self.business, self.limit, self.skip).await.map(Arc::new)
    }
}
