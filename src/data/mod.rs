//! The data layer: the one place where GHL entities are read and written, between the GraphQL
//! schema (which asks) and the GHL client (which calls).
//!
//! - `keys`: typed keys, one per kind of entity; a key's type routes its load.
//! - `loaders`: one DataLoader loader per kind (tasks batch into `tasks/search`).
//! - `request`: a request's memo, so each (entity, id) is loaded at most once per request.
//! - `writes`: lists and mutations, which update what the request knows (write-through).
//! - `changes`: what GHL reports changed (webhooks), as the layer and subscribers read it.
//! - `cache`: answers kept across requests per tenant (moka), written through by our own writes;
//!   pages of contacts (searches, a business's contacts) kept shorter.
//! - `flights`: identical reads in flight share one call across requests, per tenant.
//!
//! A read asks the request's memo, then the shared cache, then GHL (through the flights).

mod cache;
mod changes;
mod flights;
mod keys;
mod loaders;
mod request;
mod writes;

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

pub use cache::CacheOptions;
pub use changes::{ChangeEvent, ChangeKind, Subject};
pub use keys::{AppointmentsOf, ContactKey, Key, NoteKey, NotesOf, TaskKey, TasksOf};
pub use request::RequestData;
pub use writes::ContactPage;

use crate::highlevel::{GhlClient, PathId, Tenant};
use cache::SharedCache;
use flights::FlightTables;
use loaders::Fetcher;

/// How the per-request loaders batch.
#[derive(Clone, Debug)]
pub struct DataOptions {
    /// Page size of the location-wide tasks search.
    pub tasks_search_page_size: NonZeroU32,
    /// How long the tasks loader waits to gather contacts into one `tasks/search` call.
    pub batch_delay: Duration,
    /// The shared cache (a zero TTL turns it off).
    pub cache: CacheOptions,
}

/// What every request shares: the client and the calls in flight. Cheap to clone.
#[derive(Clone)]
pub struct DataLayer {
    inner: Arc<Inner>,
}

struct Inner {
    client: GhlClient,
    options: DataOptions,
    flights: FlightTables,
    cache: SharedCache,
}

impl DataLayer {
    pub fn new(client: GhlClient, options: DataOptions) -> Self {
        Self { inner: Arc::new(Inner { cache: SharedCache::new(&options.cache), client, options, flights: FlightTables::default() }) }
    }

    /// The data of one request acting for `tenant` (whose deadline bounds its calls).
    pub fn for_request(&self, tenant: Tenant) -> RequestData {
        RequestData::new(Fetcher { layer: self.clone(), tenant })
    }
}

impl DataLayer {
    /// A change GHL reported (a webhook): forgets every cached entry it may have made stale, for
    /// every tenant of its location. A missing id widens what is forgotten.
    pub fn changed_elsewhere(&self, event: &ChangeEvent) {
        use cache::Entity;
        let contact = event.contact_id.clone();
        let item = event.item_id.clone();
        let of_contact = move |id: &PathId| contact.as_deref().is_none_or(|c| c == id.as_str());
        let is_item = move |id: &PathId| item.as_deref().is_none_or(|i| i == id.as_str());
        let deleted = event.kind == ChangeKind::Deleted;
        let matches: Box<dyn Fn(&Entity) -> bool + Send + Sync> = match event.subject {
            Subject::Contact => Box::new(move |entity| match entity {
                Entity::Contact(c) => of_contact(c),
                Entity::Page(_) => true,
                Entity::Tasks(c) | Entity::Notes(c) | Entity::Appointments(c) | Entity::Task(c, _) | Entity::Note(c, _) => deleted && of_contact(c),
            }),
            Subject::Task => Box::new(move |entity| match entity {
                Entity::Tasks(c) => of_contact(c),
                Entity::Task(c, t) => of_contact(c) && is_item(t),
                _ => false,
            }),
            Subject::Note => Box::new(move |entity| match entity {
                Entity::Notes(c) => of_contact(c),
                Entity::Note(c, n) => of_contact(c) && is_item(n),
                _ => false,
            }),
            Subject::Appointment => Box::new(move |entity| matches!(entity, Entity::Appointments(c) if of_contact(c))),
        };
        self.inner.cache.invalidate_where(&event.location_id, matches);
    }
}
