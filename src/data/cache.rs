//! The shared cache: what GHL answered, kept across requests, per tenant, bounded by bytes and
//! TTL (moka). A hit makes no upstream call and spends no rate budget.
//!
//! Keys hold the tenant's budget key (the location, and in forward mode a fingerprint of the
//! caller's credential), so two callers with different tokens never share an entry. Only answers
//! are kept, never errors; "GHL has no such object" is kept shortly (negative entry). Every write
//! and invalidation bumps an epoch, and a fetch that started before it does not store its answer:
//! a value read before a change is never served after it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::counter;
use moka::sync::Cache;

use super::writes::ContactPage;
use crate::highlevel::models::{Contact, Event, Note, Task};
use crate::highlevel::{PathId, Tenant};

/// Longest a negative entry ("no such object") is kept.
pub(super) const NEGATIVE_TTL: Duration = Duration::from_secs(30);

/// Longest a page of contacts (a search, a business's contacts) is kept: any contact change in
/// the location may reorder or refill it, so it lives shorter than an entity.
pub(super) const PAGE_TTL: Duration = Duration::from_secs(30);

/// How much and how long to keep.
#[derive(Clone, Debug)]
pub struct CacheOptions {
    /// How long an answer is served from the cache; zero turns caching off.
    pub ttl: Duration,
    /// Upper bound of the cache's size, in (estimated) bytes of the answers it holds.
    pub max_bytes: u64,
}

/// What an entry is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Entity {
    Contact(PathId),
    Tasks(PathId),
    Notes(PathId),
    Appointments(PathId),
    Task(PathId, PathId),
    Note(PathId, PathId),
    /// A page, under its location's page generation.
    Page(PageQuery, u64),
}

/// Which page of contacts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PageQuery {
    /// `POST /contacts/search`; `after` is the `searchAfter` cursor as JSON.
    Search { query: Option<String>, limit: u32, after: Option<String> },
    /// `GET /contacts/business/{businessId}`.
    Business { business: PathId, limit: u32, skip: u64 },
}

/// A kept answer.
#[derive(Clone, Debug)]
pub enum Cached {
    Contact(Option<Arc<Contact>>),
    Tasks(Arc<Vec<Task>>),
    Notes(Arc<Vec<Note>>),
    Appointments(Arc<Vec<Event>>),
    Task(Option<Arc<Task>>),
    Note(Option<Arc<Note>>),
    Page(Arc<ContactPage>),
}

impl Entity {
    fn kind(&self) -> &'static str {
        match self {
            Self::Contact(_) => "contact",
            Self::Tasks(_) => "tasks",
            Self::Notes(_) => "notes",
            Self::Appointments(_) => "appointments",
            Self::Task(..) => "task",
            Self::Note(..) => "note",
            Self::Page(..) => "page",
        }
    }

    pub(super) fn is_page(&self) -> bool {
        matches!(self, Self::Page(..))
    }
}

impl Cached {
    pub(super) fn is_negative(&self) -> bool {
        matches!(self, Self::Contact(None) | Self::Task(None) | Self::Note(None))
    }

    /// Its size in bytes, estimated from its JSON form (computed once, when stored).
    fn weight(&self) -> u32 {
        let bytes = match self {
            Self::Contact(c) => serde_json::to_vec(&c.as_deref()).map(|v| v.len()),
            Self::Tasks(l) => serde_json::to_vec(&**l).map(|v| v.len()),
            Self::Notes(l) => serde_json::to_vec(&**l).map(|v| v.len()),
            Self::Appointments(l) => serde_json::to_vec(&**l).map(|v| v.len()),
            Self::Task(t) => serde_json::to_vec(&t.as_deref()).map(|v| v.len()),
            Self::Note(n) => serde_json::to_vec(&n.as_deref()).map(|v| v.len()),
            Self::Page(p) => p.contacts.iter().map(|c| serde_json::to_vec(&**c).map(|v| v.len())).sum(),
        };
        u32::try_from(bytes.unwrap_or(0) + 128).unwrap_or(u32::MAX)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    tenant: Arc<str>,
    entity: Entity,
}

/// The cache shared by every request of this process.
pub struct SharedCache {
    entries: Option<Cache<CacheKey, Cached>>,
    epoch: AtomicU64,
    ttl: Duration,
    /// The tenants that stored entries, by location: a change names its location, and its exact
    /// keys are dropped for each of them (moka's predicate invalidation is by clock tick, so it
    /// would also hide answers stored in the same tick, after the change).
    tenants: std::sync::Mutex<std::collections::HashMap<String, std::collections::HashSet<Arc<str>>>>,
    /// Bumped by any contact change of a location: pages are keyed by it, so a bump makes every
    /// kept page of the location unreachable at once (they expire within `PAGE_TTL`).
    page_generations: std::sync::Mutex<std::collections::HashMap<String, u64>>,
}

/// Which entries a change without all its ids may have made stale.
pub type WideMatch = Box<dyn Fn(&Entity) -> bool + Send + Sync>;

/// Tenants remembered per location; beyond this a location's changes fall back to a predicate.
const MAX_TENANTS_PER_LOCATION: usize = 256;

/// Answers expire after the TTL, negative ones and pages sooner; a rewrite restarts the clock.
struct PerKind {
    ttl: Duration,
}

impl moka::Expiry<CacheKey, Cached> for PerKind {
    fn expire_after_create(&self, key: &CacheKey, value: &Cached, _: Instant) -> Option<Duration> {
        Some(if value.is_negative() {
            self.ttl.min(NEGATIVE_TTL)
        } else if key.entity.is_page() {
            self.ttl.min(PAGE_TTL)
        } else {
            self.ttl
        })
    }

    fn expire_after_update(&self, key: &CacheKey, value: &Cached, at: Instant, _: Option<Duration>) -> Option<Duration> {
        self.expire_after_create(key, value, at)
    }
}

impl SharedCache {
    pub fn new(options: &CacheOptions) -> Self {
        let entries = (!options.ttl.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(options.max_bytes)
                .weigher(|_: &CacheKey, value: &Cached| value.weight())
                .expire_after(PerKind { ttl: options.ttl })
                .support_invalidation_closures()
                .eviction_listener(|key: Arc<CacheKey>, _, cause| {
                    if cause == moka::notification::RemovalCause::Size {
                        counter!("ghl_cache_evictions_total", "kind" => key.entity.kind()).increment(1);
                    }
                })
                .build()
        });
        Self { entries, epoch: AtomicU64::new(0), ttl: options.ttl, tenants: Default::default(), page_generations: Default::default() }
    }

    /// How long a fresh answer stays served; `None` when caching is off.
    pub fn ttl(&self) -> Option<Duration> {
        self.entries.as_ref().map(|_| self.ttl)
    }

    /// The kept answer for `entity`, if any.
    pub fn get(&self, tenant: &Tenant, entity: Entity) -> Option<Cached> {
        let entries = self.entries.as_ref()?;
        let kind = entity.kind();
        let found = entries.get(&CacheKey { tenant: tenant.budget_key_shared(), entity });
        let outcome = if found.is_some() { "hit" } else { "miss" };
        counter!("ghl_cache_lookups_total", "kind" => kind, "outcome" => outcome).increment(1);
        found
    }

    /// As `get`, uncounted: a second look just before a call.
    pub fn peek(&self, tenant: &Tenant, entity: Entity) -> Option<Cached> {
        self.entries.as_ref()?.get(&CacheKey { tenant: tenant.budget_key_shared(), entity })
    }

    /// The epoch a fetch starts in; its answer is kept only if no write came in meanwhile.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Keeps a fetched answer, unless a write or invalidation happened since `epoch`.
    pub fn store_fetched(&self, tenant: &Tenant, entity: Entity, value: Cached, epoch: u64) {
        let Some(entries) = &self.entries else { return };
        if self.epoch() == epoch {
            entries.insert(CacheKey { tenant: self.known(tenant), entity }, value);
        }
    }

    /// A write's answer: what GHL holds now.
    pub fn store_written(&self, tenant: &Tenant, entity: Entity, value: Cached) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.insert(CacheKey { tenant: self.known(tenant), entity }, value);
    }

    /// `tenant`'s key, remembered under its location.
    fn known(&self, tenant: &Tenant) -> Arc<str> {
        let key = tenant.budget_key_shared();
        let mut tenants = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
        match tenants.get_mut(tenant.location_id()) {
            Some(known) if known.contains(&key) => {}
            // Past the cap it stops growing; the location's changes then use a predicate.
            Some(known) => {
                if known.len() <= MAX_TENANTS_PER_LOCATION {
                    known.insert(key.clone());
                }
            }
            None => {
                tenants.insert(tenant.location_id().to_owned(), std::iter::once(key.clone()).collect());
            }
        }
        key
    }

    /// The generation pages of `location` are kept under now.
    pub fn page_generation(&self, location: &str) -> u64 {
        self.page_generations.lock().unwrap_or_else(|p| p.into_inner()).get(location).copied().unwrap_or(0)
    }

    /// Every kept page of `location` is out of date.
    pub fn pages_changed(&self, location: &str) {
        if self.entries.is_none() {
            return;
        }
        self.epoch.fetch_add(1, Ordering::AcqRel);
        *self.page_generations.lock().unwrap_or_else(|p| p.into_inner()).entry(location.to_owned()).or_insert(0) += 1;
    }

    /// Forgets `exact` for every tenant of `location` (and what `wide` matches, when given): a
    /// change made elsewhere.
    pub fn invalidate_changed(&self, location: &str, exact: &[Entity], wide: Option<WideMatch>) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let tenants: Option<Vec<Arc<str>>> = {
            let known = self.tenants.lock().unwrap_or_else(|p| p.into_inner());
            known.get(location).filter(|t| t.len() <= MAX_TENANTS_PER_LOCATION).map(|t| t.iter().cloned().collect())
        };
        match tenants {
            Some(tenants) => {
                for tenant in tenants {
                    for entity in exact {
                        entries.invalidate(&CacheKey { tenant: tenant.clone(), entity: entity.clone() });
                    }
                }
                if let Some(wide) = wide {
                    self.invalidate_where(location, wide);
                }
            }
            // Too many tenants to name: one predicate covers them all.
            None => {
                let exact = exact.to_vec();
                self.invalidate_where(location, move |entity| exact.contains(entity) || wide.as_ref().is_some_and(|wide| wide(entity)));
            }
        }
    }

    /// Applies a write to a kept entry (`change` gives `None` when it cannot, which drops it).
    pub fn amend(&self, tenant: &Tenant, entity: Entity, change: impl FnOnce(Cached) -> Option<Cached>) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let key = CacheKey { tenant: tenant.budget_key_shared(), entity };
        match entries.get(&key).map(change) {
            Some(Some(changed)) => entries.insert(key, changed),
            Some(None) => entries.invalidate(&key),
            None => {}
        }
    }

    /// Forgets every entry of `location` (all its tenants) that `matches`: a change made elsewhere.
    pub fn invalidate_where(&self, location: &str, matches: impl Fn(&Entity) -> bool + Send + Sync + 'static) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        let location = location.to_owned();
        let tenant_of = move |tenant: &str| tenant == location || tenant.strip_prefix(location.as_str()).is_some_and(|rest| rest.starts_with('#'));
        if entries.invalidate_entries_if(move |key, _| tenant_of(&key.tenant) && matches(&key.entity)).is_err() {
            // Only possible without invalidation closures, which the builder turns on; be safe.
            entries.invalidate_all();
        }
    }

    /// Forgets every entry (and every page generation moves on).
    pub fn invalidate_all(&self) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.invalidate_all();
        for generation in self.page_generations.lock().unwrap_or_else(|p| p.into_inner()).values_mut() {
            *generation += 1;
        }
    }

    /// Forgets `entity`: its next read goes to GHL.
    pub fn invalidate(&self, tenant: &Tenant, entity: Entity) {
        let Some(entries) = &self.entries else { return };
        self.epoch.fetch_add(1, Ordering::AcqRel);
        entries.invalidate(&CacheKey { tenant: tenant.budget_key_shared(), entity });
    }
}
