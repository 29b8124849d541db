//! The DataLoader loaders of one request, one type per kind of entity.
//!
//! GHL has no batch read for contacts, notes, appointments or single tasks and notes, so their
//! keys load one call each, at once and concurrently (bounded per location by the client); each
//! call is shared with identical ones in flight (`flights`). Tasks batch for real through
//! `POST /locations/{locationId}/tasks/search` when the token has `locations/tasks.readonly`.
//! Values are per-key results, so one failing contact does not fail its siblings.

use std::collections::HashMap;
use std::convert::Infallible;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::dataloader::{DataLoader, Loader};
use futures_util::future::{join_all, BoxFuture};

use super::keys::{FetchOne, Loaded, TasksOf};
use super::waves::Waves;
use super::DataLayer;
use crate::highlevel::models::Task;
use crate::highlevel::{GhlError, Tenant, SCOPE_TASKS_SEARCH};

/// Contact ids per tasks-search call: small enough that one page usually holds all their tasks,
/// so the calls for a big batch run side by side instead of paging one after another.
const TASK_SEARCH_CONTACTS_PER_CALL: usize = 20;

/// What every loader of a request fetches with: the shared layer and the request's tenant.
#[derive(Clone)]
pub struct Fetcher {
    pub(super) layer: DataLayer,
    pub(super) tenant: Tenant,
    /// The request's resolver waves, which tell a tasks batch when it is complete.
    pub(super) waves: Arc<Waves>,
}

impl Fetcher {
    /// One key through the table of shared in-flight calls. The call keeps its answer in the
    /// shared cache before it leaves the table, so a read arriving just after it finished finds
    /// the answer instead of starting a second call (many subscribers reading after one event).
    pub async fn one<K: FetchOne>(&self, key: K) -> Loaded<K> {
        // Asked again here: a call for this key may have finished (and kept its answer) while
        // this request waited for its batch to start.
        if let Some(kept) = self.layer.inner.cache.peek(&self.tenant, key.entity()).and_then(K::from_cached) {
            return Ok(kept);
        }
        let flights = K::flights(&self.layer.inner.flights);
        flights
            .run(&self.tenant, key.clone(), K::ENDPOINT, |tenant| {
                let (layer, key) = (self.layer.clone(), key.clone());
                let epoch = layer.inner.cache.epoch();
                async move {
                    let loaded = key.fetch(&layer.inner.client, &tenant).await;
                    if let Ok(value) = &loaded {
                        layer.inner.cache.store_fetched(&tenant, key.entity(), K::to_cached(value), epoch);
                    }
                    loaded
                }
            })
            .await
    }

    /// A loader whose batches start at once.
    pub fn singles<K: FetchOne>(&self) -> DataLoader<Singles<K>> {
        DataLoader::new(Singles { fetcher: self.clone(), kind: PhantomData }, spawn_in_span).delay(Duration::ZERO)
    }

    /// The tasks loader: when the token may search, a batch gathers contacts into one search
    /// until it is complete (`waves`), at most the batch delay; without that scope it starts at
    /// once like the others.
    pub fn tasks(&self) -> DataLoader<TasksLoader> {
        let searches = self.tenant.grants(SCOPE_TASKS_SEARCH) == Some(true);
        let loader = TasksLoader { fetcher: self.clone(), searches };
        let most = self.layer.inner.options.batch_delay;
        if !searches {
            return DataLoader::new(loader, spawn_in_span).delay(Duration::ZERO);
        }
        if !self.waves.is_driven() {
            return DataLoader::new(loader, spawn_in_span).delay(most);
        }
        let waves = self.waves.clone();
        let gathering = move |batch: BoxFuture<'static, ()>| {
            let gathered = waves.gathered(most);
            spawn_in_span(Box::pin(async move {
                gathered.await;
                batch.await
            }))
        };
        DataLoader::new(loader, gathering).delay(Duration::ZERO)
    }
}

/// Batches run on their own task, inside the span of the request that started them (traces).
fn spawn_in_span(batch: BoxFuture<'static, ()>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(tracing::Instrument::in_current_span(batch))
}

/// Loads each key of a batch with its own call, all at once.
pub struct Singles<K> {
    fetcher: Fetcher,
    kind: PhantomData<fn() -> K>,
}

impl<K: FetchOne> Loader<K> for Singles<K> {
    type Value = Loaded<K>;
    type Error = Infallible;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Self::Value>, Self::Error> {
        let values = join_all(keys.iter().cloned().map(|key| self.fetcher.one(key))).await;
        Ok(keys.iter().cloned().zip(values).collect())
    }
}

/// Tasks of contacts: through the location-wide search when the token may, else one call each.
pub struct TasksLoader {
    fetcher: Fetcher,
    searches: bool,
}

impl Loader<TasksOf> for TasksLoader {
    type Value = Loaded<TasksOf>;
    type Error = Infallible;

    async fn load(&self, keys: &[TasksOf]) -> Result<HashMap<TasksOf, Self::Value>, Self::Error> {
        if !self.searches {
            let values = join_all(keys.iter().cloned().map(|key| self.fetcher.one(key))).await;
            return Ok(keys.iter().cloned().zip(values).collect());
        }
        let chunks: Vec<&[TasksOf]> = keys.chunks(TASK_SEARCH_CONTACTS_PER_CALL).collect();
        let found = join_all(chunks.iter().map(|chunk| self.search(chunk))).await;
        Ok(found.into_iter().flatten().collect())
    }
}

impl TasksLoader {
    /// The tasks of up to [`TASK_SEARCH_CONTACTS_PER_CALL`] contacts, page by page.
    async fn search(&self, contacts: &[TasksOf]) -> Vec<(TasksOf, Loaded<TasksOf>)> {
        let ids: Vec<String> = contacts.iter().map(|k| k.0.as_str().to_owned()).collect();
        match self.search_pages(&ids).await {
            Ok(tasks) => {
                let mut by_contact: HashMap<&str, Vec<Task>> = ids.iter().map(|id| (id.as_str(), Vec::new())).collect();
                for task in tasks {
                    if let Some(list) = task.contact_id.as_deref().and_then(|id| by_contact.get_mut(id)) {
                        list.push(task);
                    }
                }
                contacts.iter().map(|key| (key.clone(), Ok(Arc::new(by_contact.remove(key.0.as_str()).unwrap_or_default())))).collect()
            }
            Err(error) => contacts.iter().map(|key| (key.clone(), Err(error.clone()))).collect(),
        }
    }

    async fn search_pages(&self, contact_ids: &[String]) -> Result<Vec<Task>, GhlError> {
        let Fetcher { layer, tenant, .. } = &self.fetcher;
        let limit = layer.inner.options.tasks_search_page_size.get();
        let mut all = Vec::new();
        loop {
            let skip = u32::try_from(all.len()).unwrap_or(u32::MAX);
            let page = layer.inner.client.search_tasks(tenant, contact_ids, limit, skip).await?;
            let full_page = page.len() >= limit as usize;
            all.extend(page);
            if !full_page {
                return Ok(all);
            }
        }
    }
}
