//! What one GraphQL request carries: the tenant it acts for and its own DataLoader.
//!
//! Built by the HTTP handler for every request (never global), so caches and batching never mix
//! callers or locations.

use std::any::TypeId;
use std::collections::HashMap;
use std::convert::Infallible;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::dataloader::{DataLoader, HashMapCache, Loader};
use async_graphql::Context;

use super::connection::{CursorKey, TenantCursors};
use super::loaders::{Found, GhlLoader, ListOf, Settled, TasksOf};
use crate::error::AppError;
use crate::highlevel::{GhlClient, Tenant, SCOPE_READ, SCOPE_TASKS_SEARCH, SCOPE_WRITE};

/// The tenant and loader of one request, or why the request has none.
pub struct RequestContext {
    scope: Result<Scope, AppError>,
    /// Where each entity id sits in `_entities(representations:)`, worked out once, on the first
    /// failed reference (so its error can name its own entry).
    entity_positions: OnceLock<HashMap<String, Vec<usize>>>,
}

/// A request that knows which location it acts for.
pub struct Scope {
    pub tenant: Tenant,
    pub client: GhlClient,
    /// Contacts, notes, appointments, single tasks and notes. GHL has no batch read for them, so
    /// a batch (the keys of one resolver wave) starts without waiting; its members still finish
    /// together, which keeps the next wave together too.
    pub loader: DataLoader<GhlLoader, HashMapCache>,
    /// Tasks of contacts: with `locations/tasks.readonly` they batch into `tasks/search`, so this
    /// loader waits `batch_delay` to gather keys; without it, it starts at once like the other.
    tasks_loader: DataLoader<GhlLoader, HashMapCache>,
    /// Signs and checks `after` cursors, bound to this tenant's location.
    pub cursors: TenantCursors,
}

impl RequestContext {
    /// The operation's deadline starts now: every upstream call it makes stops by then.
    pub fn new(tenant: Result<Tenant, AppError>, client: &GhlClient, options: &LoaderOptions) -> Self {
        let deadline = Instant::now() + options.operation_timeout;
        let settled = Settled::default();
        let loader = |tenant: &Tenant| {
            let ghl = GhlLoader::new(client.clone(), tenant.clone(), options.tasks_search_page_size, settled.clone());
            DataLoader::with_cache(ghl, tokio::spawn, HashMapCache::default())
        };
        let scope = tenant.map(|tenant| tenant.until(deadline)).map(|tenant| {
            let tasks_delay = match tenant.grants(SCOPE_TASKS_SEARCH) {
                Some(true) => options.batch_delay,
                _ => Duration::ZERO,
            };
            let tasks_loader = loader(&tenant).delay(tasks_delay);
            let cursors = options.cursor_key.for_location(tenant.location_id());
            Scope { loader: loader(&tenant).delay(Duration::ZERO), tasks_loader, cursors, tenant, client: client.clone() }
        });
        Self { scope, entity_positions: OnceLock::new() }
    }

    /// The positions of `id` among the request's `_entities` representations.
    pub fn entity_positions(&self, id: &str, representations: impl FnOnce() -> Vec<Option<String>>) -> &[usize] {
        let positions = self.entity_positions.get_or_init(|| {
            let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
            for (index, id) in representations().into_iter().enumerate() {
                if let Some(id) = id {
                    positions.entry(id).or_default().push(index);
                }
            }
            positions
        });
        positions.get(id).map_or(&[], Vec::as_slice)
    }
}

/// Knobs of the per-request loaders, and the key of the cursors they page with.
#[derive(Clone, Debug)]
pub struct LoaderOptions {
    pub tasks_search_page_size: u32,
    /// Longest one GraphQL operation may spend on GHL calls, queueing and retries included.
    pub operation_timeout: Duration,
    /// How long the tasks loader waits to gather contacts into one `tasks/search` call.
    pub batch_delay: Duration,
    /// Signs connection cursors (`CURSOR_SECRET`, or random per process).
    pub cursor_key: CursorKey,
}

impl Scope {
    /// The request's scope, failing when the caller could not be identified.
    pub fn of<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let request = ctx.data::<RequestContext>().map_err(|_| AppError::Internal)?;
        request.scope.as_ref().map_err(Clone::clone)
    }

    /// A read scope check (only refuses when the token's scopes are known and lack it).
    pub fn for_read<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let scope = Self::of(ctx)?;
        scope.require(SCOPE_READ)?;
        Ok(scope)
    }

    /// The scope of a mutation: refuses before any upstream call without `contacts.write`.
    pub fn for_write<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let scope = Self::of(ctx)?;
        scope.require(SCOPE_WRITE)?;
        Ok(scope)
    }

    fn require(&self, needed: &str) -> Result<(), AppError> {
        match self.tenant.grants(needed) {
            Some(false) => Err(AppError::Forbidden(format!(
                "this operation needs the GHL scope `{needed}`, which the scopes this token is known to have lack: \
                 with a static token, add it to GHL_SCOPES (--ghl-scopes) if the token carries it; with OAuth, reinstall the app with that scope"
            ))),
            _ => Ok(()),
        }
    }
}

impl Scope {
    /// One object through the request's loader (cached, batched).
    pub async fn found<K, T>(&self, key: K) -> Result<Option<Arc<T>>, AppError>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Send + Sync + 'static,
        GhlLoader: Loader<K, Value = Found<T>, Error = Infallible>,
    {
        let loaded = self.loader_for::<K>().load_one(key).await.unwrap_or_else(|never| match never {});
        loaded.ok_or(AppError::Internal)?.map_err(AppError::from)
    }

    /// The loader that holds keys of type `K` (tasks have their own, see the fields).
    pub fn loader_for<K: 'static>(&self) -> &DataLoader<GhlLoader, HashMapCache> {
        if TypeId::of::<K>() == TypeId::of::<TasksOf>() {
            &self.tasks_loader
        } else {
            &self.loader
        }
    }

    /// A contact's list (tasks, notes, appointments) through the request's loader.
    pub async fn list<K, T>(&self, key: K) -> Result<Arc<Vec<T>>, AppError>
    where
        K: Send + Sync + Hash + Eq + Clone + 'static,
        T: Send + Sync + 'static,
        GhlLoader: Loader<K, Value = ListOf<T>, Error = Infallible>,
    {
        let loaded = self.loader_for::<K>().load_one(key).await.unwrap_or_else(|never| match never {});
        loaded.ok_or(AppError::Internal)?.map_err(AppError::from)
    }
}
