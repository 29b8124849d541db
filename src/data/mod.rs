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
//! - `waves`: when a request's tasks batch has gathered all it can (its resolvers idle).
//!
//! A read asks the request's memo, then the shared cache, then GHL (through the flights).
//!
//! With replicas (`--redis-url`), our own writes also reach the others' caches ([`Peers`]): a
//! client that writes through one replica and reads through another (a router's round robin)
//! reads its write, without waiting for GHL's webhook.

mod cache;
mod changes;
mod flights;
mod keys;
mod loaders;
mod request;
mod waves;
mod writes;

use std::num::NonZeroU32;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use futures_util::future::BoxFuture;

pub use cache::CacheOptions;
pub use changes::{ChangeEvent, ChangeKind, Subject};
pub use keys::{AppointmentsOf, ContactKey, Key, NoteKey, NotesOf, TaskKey, TasksOf};
pub use request::RequestData;
pub use waves::Waves;
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
    /// The longest the tasks loader waits to gather contacts into one `tasks/search` call.
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
    /// The other replicas, told of our own writes (none when this replica runs alone).
    peers: OnceLock<Arc<dyn Peers>>,
}

/// The other replicas' caches: what our own writes made stale there.
pub trait Peers: Send + Sync {
    /// Resolves once `change` is on its way to every other replica (or could not be sent).
    fn written_here(&self, change: ChangeEvent) -> BoxFuture<'static, ()>;
}

impl DataLayer {
    pub fn new(client: GhlClient, options: DataOptions) -> Self {
        let cache = SharedCache::new(&options.cache);
        Self { inner: Arc::new(Inner { cache, client, options, flights: FlightTables::default(), peers: OnceLock::new() }) }
    }

    /// From now on, our own writes are told to `peers` too.
    pub fn tell_writes_to(&self, peers: Arc<dyn Peers>) {
        let _ = self.inner.peers.set(peers);
    }

    /// The data of one request acting for `tenant` (whose deadline bounds its calls).
    pub fn for_request(&self, tenant: Tenant) -> RequestData {
        RequestData::new(Fetcher { layer: self.clone(), tenant, waves: Arc::default() })
    }
}

impl DataLayer {
    /// A location that uninstalled the app: every entry of it, for every tenant, is forgotten.
    fn forget_location(&self, location: &str) {
        self.inner.cache.invalidate_where(location, |_| true);
        self.inner.cache.pages_changed(location);
    }

    /// Forgets every cached answer: changes may have been missed (the other replicas' webhooks
    /// while Redis was unreachable).
    pub fn forget_everything(&self) {
        self.inner.cache.invalidate_all();
    }

    /// A change GHL reported (a webhook): forgets every cached entry it may have made stale, for
    /// every tenant of its location: the exact entries when the event names its ids, more (by a
    /// predicate) when it lacks one.
    pub fn changed_elsewhere(&self, event: &ChangeEvent) {
        use cache::Entity;
        let cache = &self.inner.cache;
        let id = |raw: &Option<String>| raw.as_deref().and_then(|raw| PathId::parse(raw, "id").ok());
        let (contact, item) = (id(&event.contact_id), id(&event.item_id));
        let deleted = event.kind == ChangeKind::Deleted;
        type Wide = Option<cache::WideMatch>;
        let (exact, wide): (Vec<Entity>, Wide) = match (event.subject, contact) {
            (Subject::Contact, Some(c)) if deleted => {
                let gone = c.clone();
                let items: Wide = Some(Box::new(move |e| matches!(e, Entity::Task(o, _) | Entity::Note(o, _) if *o == gone)));
                (vec![Entity::Contact(c.clone()), Entity::Tasks(c.clone()), Entity::Notes(c.clone()), Entity::Appointments(c)], items)
            }
            (Subject::Contact, Some(c)) => (vec![Entity::Contact(c)], None),
            (Subject::Contact, None) => (vec![], Some(Box::new(|e| !e.is_page()))),
            (Subject::Task, Some(c)) => match item {
                Some(t) => (vec![Entity::Tasks(c.clone()), Entity::Task(c, t)], None),
                None => (vec![Entity::Tasks(c.clone())], Some(Box::new(move |e| matches!(e, Entity::Task(o, _) if *o == c)))),
            },
            (Subject::Task, None) => {
                (vec![], Some(Box::new(move |e| matches!(e, Entity::Tasks(_)) || matches!(e, Entity::Task(_, t) if item.as_ref().is_none_or(|i| i == t)))))
            }
            (Subject::Note, Some(c)) => match item {
                Some(n) => (vec![Entity::Notes(c.clone()), Entity::Note(c, n)], None),
                None => (vec![Entity::Notes(c.clone())], Some(Box::new(move |e| matches!(e, Entity::Note(o, _) if *o == c)))),
            },
            (Subject::Note, None) => {
                (vec![], Some(Box::new(move |e| matches!(e, Entity::Notes(_)) || matches!(e, Entity::Note(_, n) if item.as_ref().is_none_or(|i| i == n)))))
            }
            (Subject::Appointment, Some(c)) => (vec![Entity::Appointments(c)], None),
            (Subject::Appointment, None) => (vec![], Some(Box::new(|e| matches!(e, Entity::Appointments(_))))),
            (Subject::Installation, _) => return self.forget_location(&event.location_id),
        };
        if event.subject == Subject::Contact {
            cache.pages_changed(&event.location_id);
        }
        cache.invalidate_changed(&event.location_id, &exact, wide);
    }
}
