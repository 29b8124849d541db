//! The `Mutation` root: each mutation makes exactly the GHL call it maps to, then updates the
//! request's loader cache so later reads in the same request see the change.
//!
//! All of them need the `contacts.write` scope; without it they fail with `FORBIDDEN` before any
//! upstream call (when scopes are unknown, as with forwarded tokens, GHL decides).

use std::sync::Arc;

use async_graphql::{Context, Object, ID};

use super::contact::{within_tag_limits, Contact, CreateContactInput, UpdateContactInput};
use super::loaders::{ContactKey, NoteKey, NotesOf, TaskKey, TasksOf};
use super::note::{Note, NoteInput};
use super::request_context::Scope;
use super::task::{CreateTaskInput, Task, UpdateTaskInput};
use crate::error::{AppError, AppResult, FieldResult};
use crate::highlevel::models::{self, TaskWrite};
use crate::highlevel::PathId;

pub struct Mutation;

#[Object]
impl Mutation {
    /// Creates a contact in the location (`POST /contacts/`).
    async fn create_contact(&self, ctx: &Context<'_>, input: CreateContactInput) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let body = input.into_wire()?;
        let created = Arc::new(scope.client.create_contact(&scope.tenant, body).await?);
        if let Ok(id) = PathId::parse(&created.id, "id") {
            scope.loader.feed_one(ContactKey(id), Ok(Some(created.clone()))).await;
        }
        Ok(Some(Contact::new(created)))
    }

    /// Changes fields of a contact (`PUT /contacts/{contactId}`).
    async fn update_contact(&self, ctx: &Context<'_>, id: ID, input: UpdateContactInput) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let body = input.into_wire()?;
        let updated = Arc::new(scope.client.update_contact(&scope.tenant, &id, body).await?);
        scope.loader.feed_one(ContactKey(id), Ok(Some(updated.clone()))).await;
        Ok(Some(Contact::new(updated)))
    }

    /// Deletes a contact (`DELETE /contacts/{contactId}`); true when GHL confirms.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let deleted = scope.client.delete_contact(&scope.tenant, &id).await?;
        scope.loader.feed_one(ContactKey(id), Ok(None)).await;
        Ok(Some(deleted))
    }

    /// Adds tags to a contact (`POST /contacts/{contactId}/tags`) and returns the contact.
    async fn add_contact_tags(&self, ctx: &Context<'_>, id: ID, tags: Vec<String>) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let tags = checked_tags(tags)?;
        let now = scope.client.add_tags(&scope.tenant, &id, &tags).await?;
        Ok(Some(with_tags(ctx, scope, id, now).await?))
    }

    /// Removes tags from a contact (`DELETE /contacts/{contactId}/tags`) and returns the contact.
    async fn remove_contact_tags(&self, ctx: &Context<'_>, id: ID, tags: Vec<String>) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let tags = checked_tags(tags)?;
        let now = scope.client.remove_tags(&scope.tenant, &id, &tags).await?;
        Ok(Some(with_tags(ctx, scope, id, now).await?))
    }

    /// Creates a task on a contact (`POST /contacts/{contactId}/tasks`).
    async fn create_task(&self, ctx: &Context<'_>, contact_id: ID, input: CreateTaskInput) -> FieldResult<Option<Task>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        if input.title.trim().is_empty() {
            return Err(AppError::BadUserInput("a task needs a non-empty title".into()).into());
        }
        let task = scope.client.create_task(&scope.tenant, &contact, &input.into()).await?;
        Ok(Some(remember_task(scope, contact, task).await))
    }

    /// Changes a task (`PUT /contacts/{contactId}/tasks/{taskId}`).
    async fn update_task(&self, ctx: &Context<'_>, contact_id: ID, id: ID, input: UpdateTaskInput) -> FieldResult<Option<Task>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let task_id = PathId::parse(&id, "id")?;
        let body: TaskWrite = input.into();
        if body.title.is_none() && body.body.is_none() && body.due_date.is_none() && body.completed.is_none() && body.assigned_to.is_none() {
            return Err(AppError::BadUserInput("updateTask needs at least one field to change".into()).into());
        }
        let task = scope.client.update_task(&scope.tenant, &contact, &task_id, &body).await?;
        Ok(Some(remember_task(scope, contact, task).await))
    }

    /// Marks a task completed or pending (`PUT /contacts/{contactId}/tasks/{taskId}/completed`).
    async fn complete_task(
        &self,
        ctx: &Context<'_>,
        contact_id: ID,
        id: ID,
        #[graphql(default = true)] completed: bool,
    ) -> FieldResult<Option<Task>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let task_id = PathId::parse(&id, "id")?;
        let task = scope.client.complete_task(&scope.tenant, &contact, &task_id, completed).await?;
        Ok(Some(remember_task(scope, contact, task).await))
    }

    /// Deletes a task (`DELETE /contacts/{contactId}/tasks/{taskId}`); true when GHL confirms.
    async fn delete_task(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let task_id = PathId::parse(&id, "id")?;
        let deleted = scope.client.delete_task(&scope.tenant, &contact, &task_id).await?;
        forget(scope, TasksOf(contact.clone()), task_id.as_str(), |t: &models::Task| &t.id).await;
        scope.loader.feed_one(TaskKey(contact, task_id), Ok(None)).await;
        Ok(Some(deleted))
    }

    /// Writes a note on a contact (`POST /contacts/{contactId}/notes`).
    async fn create_note(&self, ctx: &Context<'_>, contact_id: ID, input: NoteInput) -> FieldResult<Option<Note>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        checked_note(&input)?;
        let note = scope.client.create_note(&scope.tenant, &contact, &input.into()).await?;
        Ok(Some(remember_note(scope, contact, note).await))
    }

    /// Rewrites a note (`PUT /contacts/{contactId}/notes/{id}`).
    async fn update_note(&self, ctx: &Context<'_>, contact_id: ID, id: ID, input: NoteInput) -> FieldResult<Option<Note>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let note_id = PathId::parse(&id, "id")?;
        checked_note(&input)?;
        let note = scope.client.update_note(&scope.tenant, &contact, &note_id, &input.into()).await?;
        Ok(Some(remember_note(scope, contact, note).await))
    }

    /// Deletes a note (`DELETE /contacts/{contactId}/notes/{id}`); true when GHL confirms.
    async fn delete_note(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let note_id = PathId::parse(&id, "id")?;
        let deleted = scope.client.delete_note(&scope.tenant, &contact, &note_id).await?;
        forget(scope, NotesOf(contact.clone()), note_id.as_str(), |n: &models::Note| &n.id).await;
        scope.loader.feed_one(NoteKey(contact, note_id), Ok(None)).await;
        Ok(Some(deleted))
    }
}

/// The longest note body accepted (about 20 pages of text).
pub const MAX_NOTE_CHARS: usize = 50_000;

fn checked_tags(tags: Vec<String>) -> AppResult<Vec<String>> {
    let tags: Vec<String> = tags.into_iter().map(|t| t.trim().to_owned()).collect();
    if tags.is_empty() || tags.iter().any(String::is_empty) {
        return Err(AppError::BadUserInput("`tags` must be a non-empty list of non-empty strings".into()));
    }
    within_tag_limits(&tags)?;
    Ok(tags)
}

fn checked_note(input: &NoteInput) -> AppResult<()> {
    if input.body.trim().is_empty() {
        return Err(AppError::BadUserInput("a note needs a non-empty body".into()));
    }
    if input.body.chars().count() > MAX_NOTE_CHARS {
        return Err(AppError::BadUserInput(format!("a note body has at most {MAX_NOTE_CHARS} characters")));
    }
    Ok(())
}

/// The contact after a tag change. When the caller selected only `id` and `tags`, the tag call's
/// answer is enough; otherwise the contact comes from the loader (cached, or one GET).
async fn with_tags(ctx: &Context<'_>, scope: &Scope, id: PathId, tags: Vec<String>) -> AppResult<Contact> {
    let only_tags = ctx.field().selection_set().all(|f| matches!(f.name(), "id" | "tags" | "__typename"));
    let cached = scope.loader.get_cached_values::<ContactKey>().remove(&ContactKey(id.clone()));
    let base = match cached {
        Some(Ok(Some(contact))) => contact,
        _ if only_tags => Arc::new(models::Contact { id: id.as_str().to_owned(), ..Default::default() }),
        _ => scope.found(ContactKey(id.clone())).await?.ok_or_else(|| AppError::NotFound("contact not found in GHL".into()))?,
    };
    let updated = Arc::new(models::Contact { tags, ..(*base).clone() });
    if !only_tags || base.date_added.is_some() {
        scope.loader.feed_one(ContactKey(id), Ok(Some(updated.clone()))).await;
    }
    Ok(Contact::new(updated))
}

async fn remember_task(scope: &Scope, contact: PathId, task: models::Task) -> Task {
    let task = Arc::new(task);
    upsert(scope, TasksOf(contact.clone()), (*task).clone(), |t: &models::Task| &t.id).await;
    if let Ok(task_id) = PathId::parse(&task.id, "id") {
        scope.loader.feed_one(TaskKey(contact.clone(), task_id), Ok(Some(task.clone()))).await;
    }
    Task::new(task, contact.as_str())
}

async fn remember_note(scope: &Scope, contact: PathId, note: models::Note) -> Note {
    let note = Arc::new(note);
    upsert(scope, NotesOf(contact.clone()), (*note).clone(), |n: &models::Note| &n.id).await;
    if let Ok(note_id) = PathId::parse(&note.id, "id") {
        scope.loader.feed_one(NoteKey(contact.clone(), note_id), Ok(Some(note.clone()))).await;
    }
    Note::new(note, contact.as_str())
}

/// Replaces or appends `item` in a contact's cached list, if that list was loaded in this request.
async fn upsert<K, T>(scope: &Scope, key: K, item: T, id_of: fn(&T) -> &String)
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: Clone + Send + Sync + 'static,
    super::loaders::GhlLoader: async_graphql::dataloader::Loader<K, Value = super::loaders::ListOf<T>, Error = std::convert::Infallible>,
{
    let loader = scope.loader_for::<K>();
    if let Some(Ok(list)) = loader.get_cached_values::<K>().remove(&key) {
        let mut list = (*list).clone();
        match list.iter_mut().find(|existing| id_of(existing) == id_of(&item)) {
            Some(existing) => *existing = item,
            None => list.push(item),
        }
        loader.feed_one(key, Ok(Arc::new(list))).await;
    }
}

/// Removes an item from a contact's cached list, if that list was loaded in this request.
async fn forget<K, T>(scope: &Scope, key: K, id: &str, id_of: fn(&T) -> &String)
where
    K: Send + Sync + std::hash::Hash + Eq + Clone + 'static,
    T: Clone + Send + Sync + 'static,
    super::loaders::GhlLoader: async_graphql::dataloader::Loader<K, Value = super::loaders::ListOf<T>, Error = std::convert::Infallible>,
{
    let loader = scope.loader_for::<K>();
    if let Some(Ok(list)) = loader.get_cached_values::<K>().remove(&key) {
        let list: Vec<T> = list.iter().filter(|item| id_of(item) != id).cloned().collect();
        loader.feed_one(key, Ok(Arc::new(list))).await;
    }
}
