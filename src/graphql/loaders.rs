//! Per-request batching loaders over GHL: each distinct (endpoint, id) is fetched at most once.
//!
//! GHL has no batch read for contacts, notes or appointments, so those keys load one by one, at
//! once and concurrently (bounded per location by the client). Tasks batch for real through
//! `POST /locations/{locationId}/tasks/search` when the token has `locations/tasks.readonly`.
//! Values are per-key results, so one failing contact does not fail its siblings.
//!
//! DataLoader caches a value once its batch is done, and the client shares identical GETs while
//! they are in flight; between the two, a repeated key could slip through. The request's
//! `Settled` memo closes that gap, so a key is fetched at most once per request.

use std::any::Any;
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex};

use async_graphql::dataloader::Loader;
use futures_util::future::join_all;

use crate::highlevel::models::{Contact, Event, Note, Task};
use crate::highlevel::{GhlClient, GhlError, PathId, Tenant, SCOPE_TASKS_SEARCH};

/// Contact ids per tasks-search call: small enough that one page usually holds all their tasks,
/// so the calls for a big batch run side by side instead of paging one after another.
const TASK_SEARCH_CONTACTS_PER_CALL: usize = 20;

/// A contact by id (`GET /contacts/{contactId}`); `Ok(None)` when GHL has none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ContactKey(pub PathId);

/// The tasks of a contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TasksOf(pub PathId);

/// The notes of a contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NotesOf(pub PathId);

/// The appointments of a contact.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct AppointmentsOf(pub PathId);

/// One task (`GET /contacts/{contactId}/tasks/{taskId}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskKey(pub PathId, pub PathId);

/// One note (`GET /contacts/{contactId}/notes/{id}`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NoteKey(pub PathId, pub PathId);

/// A single object, `None` when GHL has no such object.
pub type Found<T> = Result<Option<Arc<T>>, GhlError>;
/// A list belonging to one contact.
pub type ListOf<T> = Result<Arc<Vec<T>>, GhlError>;

pub struct GhlLoader {
    client: GhlClient,
    tenant: Tenant,
    tasks_search_page_size: u32,
    settled: Settled,
}

/// Results this request already fetched, by `kind:id`, shared by the request's loaders.
#[derive(Clone, Default)]
pub struct Settled(Arc<Mutex<HashMap<String, Arc<dyn Any + Send + Sync>>>>);

impl Settled {
    /// The settled value for `key`, or the result of `fetch`, remembered for the rest of the request.
    async fn get_or<V, F>(&self, key: String, fetch: F) -> V
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = V>,
    {
        let known = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(&key).and_then(|v| v.downcast_ref::<V>().cloned());
        if let Some(value) = known {
            return value;
        }
        let value = fetch.await;
        self.0.lock().unwrap_or_else(|p| p.into_inner()).insert(key, Arc::new(value.clone()));
        value
    }
}

impl GhlLoader {
    pub fn new(client: GhlClient, tenant: Tenant, tasks_search_page_size: u32, settled: Settled) -> Self {
        Self { client, tenant, tasks_search_page_size: tasks_search_page_size.max(1), settled }
    }

    /// Tasks of many contacts through the location-wide search, page by page.
    async fn search_tasks(&self, contacts: &[TasksOf]) -> HashMap<TasksOf, ListOf<Task>> {
        let chunks: Vec<&[TasksOf]> = contacts.chunks(TASK_SEARCH_CONTACTS_PER_CALL).collect();
        let found = join_all(chunks.iter().map(|chunk| {
            let ids: Vec<String> = chunk.iter().map(|k| k.0.as_str().to_owned()).collect();
            async move { (self.search_task_pages(&ids).await, ids) }
        }))
        .await;
        let mut out = HashMap::with_capacity(contacts.len());
        for (chunk, (result, ids)) in chunks.into_iter().zip(found) {
            match result {
                Ok(tasks) => {
                    let mut by_contact: HashMap<&str, Vec<Task>> = ids.iter().map(|id| (id.as_str(), Vec::new())).collect();
                    for task in tasks {
                        if let Some(list) = task.contact_id.as_deref().and_then(|id| by_contact.get_mut(id)) {
                            list.push(task);
                        }
                    }
                    for key in chunk {
                        let list = by_contact.remove(key.0.as_str()).unwrap_or_default();
                        out.insert(key.clone(), Ok(Arc::new(list)));
                    }
                }
                Err(error) => out.extend(chunk.iter().map(|key| (key.clone(), Err(error.clone())))),
            }
        }
        out
    }

    async fn search_task_pages(&self, contact_ids: &[String]) -> Result<Vec<Task>, GhlError> {
        let limit = self.tasks_search_page_size;
        let mut all = Vec::new();
        loop {
            let skip = u32::try_from(all.len()).unwrap_or(u32::MAX);
            let page = self.client.search_tasks(&self.tenant, contact_ids, limit, skip).await?;
            let full_page = page.len() >= limit as usize;
            all.extend(page);
            if !full_page {
                return Ok(all);
            }
        }
    }
}

/// Runs `fetch` for every key concurrently and collects the per-key results.
async fn each<K, V, F, Fut>(keys: &[K], fetch: F) -> HashMap<K, V>
where
    K: Clone + Eq + std::hash::Hash,
    F: Fn(K) -> Fut,
    Fut: std::future::Future<Output = V>,
{
    let values = join_all(keys.iter().cloned().map(&fetch)).await;
    keys.iter().cloned().zip(values).collect()
}

/// A missing object is a value (`None`), not an error, so it is cached like any other.
fn found<T>(result: Result<T, GhlError>) -> Found<T> {
    match result {
        Ok(value) => Ok(Some(Arc::new(value))),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(e),
    }
}

impl Loader<ContactKey> for GhlLoader {
    type Value = Found<Contact>;
    type Error = Infallible;

    async fn load(&self, keys: &[ContactKey]) -> Result<HashMap<ContactKey, Self::Value>, Self::Error> {
        Ok(each(keys, |ContactKey(id)| {
            self.settled.get_or(format!("contact:{id}"), async move { found(self.client.get_contact(&self.tenant, &id).await) })
        })
        .await)
    }
}

impl Loader<TasksOf> for GhlLoader {
    type Value = ListOf<Task>;
    type Error = Infallible;

    async fn load(&self, keys: &[TasksOf]) -> Result<HashMap<TasksOf, Self::Value>, Self::Error> {
        if self.tenant.grants(SCOPE_TASKS_SEARCH) == Some(true) {
            return Ok(self.search_tasks(keys).await);
        }
        Ok(each(keys, |TasksOf(id)| {
            self.settled.get_or(format!("tasks:{id}"), async move { self.client.list_tasks(&self.tenant, &id).await.map(Arc::new) })
        })
        .await)
    }
}

impl Loader<NotesOf> for GhlLoader {
    type Value = ListOf<Note>;
    type Error = Infallible;

    async fn load(&self, keys: &[NotesOf]) -> Result<HashMap<NotesOf, Self::Value>, Self::Error> {
        Ok(each(keys, |NotesOf(id)| {
            self.settled.get_or(format!("notes:{id}"), async move { self.client.list_notes(&self.tenant, &id).await.map(Arc::new) })
        })
        .await)
    }
}

impl Loader<AppointmentsOf> for GhlLoader {
    type Value = ListOf<Event>;
    type Error = Infallible;

    async fn load(&self, keys: &[AppointmentsOf]) -> Result<HashMap<AppointmentsOf, Self::Value>, Self::Error> {
        Ok(each(keys, |AppointmentsOf(id)| {
            self.settled
                .get_or(format!("appointments:{id}"), async move { self.client.list_appointments(&self.tenant, &id).await.map(Arc::new) })
        })
        .await)
    }
}

impl Loader<TaskKey> for GhlLoader {
    type Value = Found<Task>;
    type Error = Infallible;

    async fn load(&self, keys: &[TaskKey]) -> Result<HashMap<TaskKey, Self::Value>, Self::Error> {
        Ok(each(keys, |TaskKey(contact, task)| {
            self.settled.get_or(format!("task:{contact}/{task}"), async move { found(self.client.get_task(&self.tenant, &contact, &task).await) })
        })
        .await)
    }
}

impl Loader<NoteKey> for GhlLoader {
    type Value = Found<Note>;
    type Error = Infallible;

    async fn load(&self, keys: &[NoteKey]) -> Result<HashMap<NoteKey, Self::Value>, Self::Error> {
        Ok(each(keys, |NoteKey(contact, note)| {
            self.settled.get_or(format!("note:{contact}/{note}"), async move { found(self.client.get_note(&self.tenant, &contact, &note).await) })
        })
        .await)
    }
}
