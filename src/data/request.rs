//! One request's view of the data layer: each (entity, id) is loaded at most once per request.
//!
//! A memo of shared loads sits in front of the loaders: the first ask for a key starts its load
//! (through that kind's DataLoader, which batches it with its wave), every later or concurrent ask
//! awaits the same result. Writes replace or amend the memo's entries, so a read after a mutation
//! in the same request sees the change. Nothing here outlives the request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::dataloader::DataLoader;
use futures_util::future::{BoxFuture, FutureExt, Shared};

use super::keys::{AppointmentsOf, ContactKey, Key, NoteKey, NotesOf, TaskKey, TasksOf};
use super::loaders::Fetcher;
use crate::error::AppError;
use crate::highlevel::Tenant;

/// The data of one request, for one tenant.
pub struct RequestData {
    pub(super) fetcher: Fetcher,
    slots: Slots,
    freshness: Mutex<Freshness>,
}

/// What the request read, as far as a response cache may keep its answer.
#[derive(Default)]
struct Freshness {
    /// It wrote something.
    uncacheable: bool,
    /// It read a "no such object", which is kept for a shorter time.
    negative: bool,
    /// It read a page of contacts, which is kept for a shorter time.
    paged: bool,
}

/// One slot per kind of entity.
#[derive(Default)]
pub struct Slots {
    pub(super) contacts: Slot<ContactKey>,
    pub(super) tasks: Slot<TasksOf>,
    pub(super) notes: Slot<NotesOf>,
    pub(super) appointments: Slot<AppointmentsOf>,
    pub(super) task: Slot<TaskKey>,
    pub(super) note: Slot<NoteKey>,
}

/// A kind's loader (made on first use) and what this request loaded or is loading of it.
pub struct Slot<K: Key> {
    loader: OnceLock<Arc<DataLoader<K::Loader>>>,
    memo: Mutex<HashMap<K, SharedLoad<K>>>,
}

impl Slots {
    fn clear(&self) {
        lock(&self.contacts.memo).clear();
        lock(&self.tasks.memo).clear();
        lock(&self.notes.memo).clear();
        lock(&self.appointments.memo).clear();
        lock(&self.task.memo).clear();
        lock(&self.note.memo).clear();
    }
}

impl<K: Key> Default for Slot<K> {
    fn default() -> Self {
        Self { loader: OnceLock::new(), memo: Mutex::default() }
    }
}

type SharedLoad<K> = Shared<BoxFuture<'static, Result<<K as Key>::Value, AppError>>>;

impl RequestData {
    pub(super) fn new(fetcher: Fetcher) -> Self {
        Self { fetcher, slots: Slots::default(), freshness: Mutex::default() }
    }

    /// The tenant this request acts for (its deadline included).
    pub fn tenant(&self) -> &Tenant {
        &self.fetcher.tenant
    }

    /// What the operation's execution tells each time its resolvers go idle (see `waves`).
    pub fn waves(&self) -> Arc<super::waves::Waves> {
        self.fetcher.waves.clone()
    }

    /// Counts a read of contacts (a page) until the guard drops: a tasks batch awaits them.
    pub(super) fn contact_read(&self) -> super::waves::ContactRead {
        self.fetcher.waves.contact_read()
    }

    /// Forgets what this request loaded: a subscription starts over at each event, whose change
    /// the shared cache has already dropped.
    pub fn start_over(&self) {
        self.slots.clear();
        *lock(&self.freshness) = Freshness::default();
    }

    /// The value of `key`: loaded once per request, however often and concurrently it is asked for.
    pub async fn load<K: Key>(&self, key: K) -> Result<K::Value, AppError> {
        let slot = K::slot(&self.slots);
        let load = {
            let mut memo = lock(&slot.memo);
            match memo.get(&key) {
                Some(load) => load.clone(),
                None => {
                    let cache = &self.fetcher.layer.inner.cache;
                    let load = match cache.get(self.tenant(), key.entity()).and_then(K::from_cached) {
                        Some(kept) => futures_util::future::ready(Ok(kept)).boxed().shared(),
                        None => {
                            let loader = slot.loader.get_or_init(|| Arc::new(K::loader(&self.fetcher))).clone();
                            start(loader, key.clone(), self.fetcher.clone(), cache.epoch())
                        }
                    };
                    memo.insert(key, load.clone());
                    load
                }
            }
        };
        let value = load.await?;
        if K::to_cached(&value).is_negative() {
            lock(&self.freshness).negative = true;
        }
        Ok(value)
    }

    /// How long a response built from what this request read may be kept by a private cache:
    /// the shortest TTL of what it read (a "no such object" and a page are kept shorter); `None`
    /// when caching is off or the request wrote.
    pub fn max_age(&self) -> Option<std::time::Duration> {
        let mut ttl = self.fetcher.layer.inner.cache.ttl()?;
        let freshness = lock(&self.freshness);
        if freshness.uncacheable {
            return None;
        }
        if freshness.negative {
            ttl = ttl.min(super::cache::NEGATIVE_TTL);
        }
        if freshness.paged {
            ttl = ttl.min(super::cache::PAGE_TTL);
        }
        Some(ttl)
    }

    /// Marks the response as not for any cache (writes change things).
    pub(super) fn uncacheable(&self) {
        lock(&self.freshness).uncacheable = true;
    }

    /// The response holds a page of contacts, kept shorter than entities.
    pub(super) fn read_page(&self) {
        lock(&self.freshness).paged = true;
    }

    /// Whether this request has loaded, or is loading, `key`.
    pub fn knows<K: Key>(&self, key: &K) -> bool {
        lock(&K::slot(&self.slots).memo).contains_key(key)
    }

    /// What GHL holds for `key` now (a write's answer), for this request and the shared cache.
    pub fn put<K: Key>(&self, key: K, value: K::Value) {
        self.uncacheable();
        self.fetcher.layer.inner.cache.store_written(self.tenant(), key.entity(), K::to_cached(&value));
        self.remember(key, value);
    }

    /// What this request knows of `key` from now on (e.g. a contact of a listed page).
    pub fn remember<K: Key>(&self, key: K, value: K::Value) {
        let ready = futures_util::future::ready(Ok(value)).boxed().shared();
        lock(&K::slot(&self.slots).memo).insert(key, ready);
    }

    /// Applies a write's `change` to what this request loaded or is loading for `key`, and to
    /// the shared cache's entry; a key never asked for stays unknown (its first load reads GHL,
    /// which already has the change).
    pub fn amend<K: Key>(&self, key: &K, change: impl Fn(K::Value) -> K::Value + Clone + Send + Sync + 'static) {
        let shared = change.clone();
        self.fetcher.layer.inner.cache.amend(self.tenant(), key.entity(), move |kept| K::from_cached(kept).map(|value| K::to_cached(&shared(value))));
        let mut memo = lock(&K::slot(&self.slots).memo);
        if let Some(before) = memo.get(key).cloned() {
            memo.insert(key.clone(), async move { before.await.map(change) }.boxed().shared());
        }
    }

    /// Forgets `key` in the shared cache (this request keeps what it read).
    pub fn forget<K: Key>(&self, key: &K) {
        self.fetcher.layer.inner.cache.invalidate(self.tenant(), key.entity());
    }
}

/// The load of `key` through its kind's loader, shared by every ask of this request; its answer
/// is kept in the shared cache unless a write came in since `epoch`.
fn start<K: Key>(loader: Arc<DataLoader<K::Loader>>, key: K, fetcher: Fetcher, epoch: u64) -> SharedLoad<K> {
    let reading = K::BRINGS_CONTACT.then(|| fetcher.waves.contact_read());
    async move {
        let _reading = reading;
        match loader.load_one(key.clone()).await {
            Ok(Some(Ok(value))) => {
                fetcher.layer.inner.cache.store_fetched(&fetcher.tenant, key.entity(), K::to_cached(&value), epoch);
                Ok(value)
            }
            Ok(Some(loaded)) => loaded.map_err(AppError::from),
            Ok(None) => Err(AppError::Internal),
            Err(never) => match never {},
        }
    }
    .boxed()
    .shared()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
