//! The `Mutation` root: each mutation makes exactly the GHL call it maps to through the data layer,
//! which updates what the request knows, so later reads in the same request see the change.
//!
//! All of them need the `contacts.write` scope; without it they fail with `FORBIDDEN` before any
//! upstream call (when scopes are unknown, as with forwarded tokens, GHL decides).

use std::sync::Arc;

use async_graphql::{Context, Object, ID};

use super::contact::{within_tag_limits, Contact, CreateContactInput, UpdateContactInput};
use super::note::{Note, NoteInput};
use super::request_context::Scope;
use super::task::{CreateTaskInput, Task, UpdateTaskInput};
use crate::data::ContactKey;
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
        Ok(Some(Contact::new(scope.data.create_contact(body).await?)))
    }

    /// Changes fields of a contact (`PUT /contacts/{contactId}`).
    async fn update_contact(&self, ctx: &Context<'_>, id: ID, input: UpdateContactInput) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let body = input.into_wire()?;
        Ok(Some(Contact::new(scope.data.update_contact(&id, body).await?)))
    }

    /// Deletes a contact (`DELETE /contacts/{contactId}`); true when GHL confirms.
    async fn delete_contact(&self, ctx: &Context<'_>, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        Ok(Some(scope.data.delete_contact(&id).await?))
    }

    /// Adds tags to a contact (`POST /contacts/{contactId}/tags`) and returns the contact.
    async fn add_contact_tags(&self, ctx: &Context<'_>, id: ID, tags: Vec<String>) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let tags = checked_tags(tags)?;
        let now = scope.data.add_tags(&id, &tags).await?;
        Ok(Some(with_tags(ctx, scope, id, now).await?))
    }

    /// Removes tags from a contact (`DELETE /contacts/{contactId}/tags`) and returns the contact.
    async fn remove_contact_tags(&self, ctx: &Context<'_>, id: ID, tags: Vec<String>) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_write(ctx)?;
        let id = PathId::parse(&id, "id")?;
        let tags = checked_tags(tags)?;
        let now = scope.data.remove_tags(&id, &tags).await?;
        Ok(Some(with_tags(ctx, scope, id, now).await?))
    }

    /// Creates a task on a contact (`POST /contacts/{contactId}/tasks`).
    async fn create_task(&self, ctx: &Context<'_>, contact_id: ID, input: CreateTaskInput) -> FieldResult<Option<Task>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        if input.title.trim().is_empty() {
            return Err(AppError::BadUserInput("a task needs a non-empty title".into()).into());
        }
        let task = scope.data.create_task(&contact, &input.into()).await?;
        Ok(Some(Task::new(task, contact.as_str())))
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
        let task = scope.data.update_task(&contact, &task_id, &body).await?;
        Ok(Some(Task::new(task, contact.as_str())))
    }

    /// Marks a task completed or pending (`PUT /contacts/{contactId}/tasks/{taskId}/completed`).
    async fn complete_task(&self, ctx: &Context<'_>, contact_id: ID, id: ID, #[graphql(default = true)] completed: bool) -> FieldResult<Option<Task>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let task_id = PathId::parse(&id, "id")?;
        let task = scope.data.complete_task(&contact, &task_id, completed).await?;
        Ok(Some(Task::new(task, contact.as_str())))
    }

    /// Deletes a task (`DELETE /contacts/{contactId}/tasks/{taskId}`); true when GHL confirms.
    async fn delete_task(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let task_id = PathId::parse(&id, "id")?;
        Ok(Some(scope.data.delete_task(&contact, &task_id).await?))
    }

    /// Writes a note on a contact (`POST /contacts/{contactId}/notes`).
    async fn create_note(&self, ctx: &Context<'_>, contact_id: ID, input: NoteInput) -> FieldResult<Option<Note>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        checked_note(&input)?;
        let note = scope.data.create_note(&contact, &input.into()).await?;
        Ok(Some(Note::new(note, contact.as_str())))
    }

    /// Rewrites a note (`PUT /contacts/{contactId}/notes/{id}`).
    async fn update_note(&self, ctx: &Context<'_>, contact_id: ID, id: ID, input: NoteInput) -> FieldResult<Option<Note>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let note_id = PathId::parse(&id, "id")?;
        checked_note(&input)?;
        let note = scope.data.update_note(&contact, &note_id, &input.into()).await?;
        Ok(Some(Note::new(note, contact.as_str())))
    }

    /// Deletes a note (`DELETE /contacts/{contactId}/notes/{id}`); true when GHL confirms.
    async fn delete_note(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<bool>> {
        let scope = Scope::for_write(ctx)?;
        let contact = PathId::parse(&contact_id, "contactId")?;
        let note_id = PathId::parse(&id, "id")?;
        Ok(Some(scope.data.delete_note(&contact, &note_id).await?))
    }

    /// Starts importing contacts in the background: each row is validated, then upserted
    /// (`POST /contacts/upsert`, matched by email or phone) within the import's share of the rate budget.
    async fn start_contact_import(
        &self,
        ctx: &Context<'_>,
        input: Vec<CreateContactInput>,
        options: Option<super::import::ContactImportOptions>,
    ) -> FieldResult<super::import::ContactImport> {
        super::import::start(ctx, input, options).await
    }

    /// Stops an import: no new rows are sent; rows in flight finish.
    async fn cancel_contact_import(&self, ctx: &Context<'_>, id: ID) -> FieldResult<super::import::ContactImport> {
        super::import::cancel(ctx, &id)
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

/// The contact after a tag change. When the caller selected only `id` and `tags` and the request
/// has not loaded the contact, the tag call's answer is enough; otherwise the contact comes from the
/// data layer (which applied the new tags to a loaded contact, or reads GHL once).
async fn with_tags(ctx: &Context<'_>, scope: &Scope, id: PathId, tags: Vec<String>) -> AppResult<Contact> {
    let only_tags = ctx.field().selection_set().all(|f| matches!(f.name(), "id" | "tags" | "__typename"));
    let key = ContactKey(id.clone());
    if only_tags && !scope.data.knows(&key) {
        return Ok(Contact::new(Arc::new(models::Contact { id: id.as_str().to_owned(), tags, ..Default::default() })));
    }
    let contact = scope.load(key).await?.ok_or_else(|| AppError::NotFound("contact not found in GHL".into()))?;
    Ok(Contact::new(contact))
}
