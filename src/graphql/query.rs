//! The `Query` root: contacts by id, search and business, single tasks and notes, and the
//! federation entity resolver for `Contact`.

use async_graphql::{Any, Context, Object, PathSegment, ID};

use super::connection::{page, page_request, ContactConnection, PageCursor};
use super::connection_check::ConnectionCheck;
use super::contact::Contact;
use super::note::Note;
use super::request_context::{RequestContext, Scope};
use super::task::Task;
use crate::data::{ContactPage, NoteKey, TaskKey};
use crate::error::{AppError, FieldError, FieldResult};
use crate::highlevel::PathId;

/// GHL caps search text at 75 characters.
const MAX_QUERY_LEN: usize = 75;

pub struct Query;

#[Object]
impl Query {
    /// An import job started by this caller; null when there is none with this id.
    async fn contact_import(&self, ctx: &Context<'_>, id: ID) -> FieldResult<Option<super::import::ContactImport>> {
        super::import::find(ctx, &id)
    }

    /// A contact by its GHL id; null when GHL has no such contact.
    async fn contact(&self, ctx: &Context<'_>, id: ID) -> FieldResult<Option<Contact>> {
        Contact::by_id(ctx, &id).await
    }

    /// Contacts of the location, newest last, optionally matching a search text (name, email, phone, company).
    #[graphql(complexity = "(first.max(1) as usize).saturating_mul(child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Search text, at most 75 characters.")] query: Option<String>,
        #[graphql(default = 20, desc = "Page size, 0 to 100.")] first: i32,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> FieldResult<Option<ContactConnection>> {
        let scope = Scope::for_read(ctx)?;
        let (first, cursor) = page_request(&scope.cursors, first, after.as_deref())?;
        let search_after = match cursor {
            None => None,
            Some(PageCursor::SearchAfter(values)) => Some(values),
            Some(PageCursor::Skip(_)) => return Err(AppError::BadUserInput("`after` is a cursor of another list".into()).into()),
        };
        let query = query.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
        if query.as_ref().is_some_and(|q| q.chars().count() > MAX_QUERY_LEN) {
            return Err(AppError::BadUserInput(format!("`query` must be at most {MAX_QUERY_LEN} characters")).into());
        }
        if first == 0 {
            return Ok(Some(page(&scope.cursors, Vec::new(), 0, search_after.is_some(), None)));
        }
        let ContactPage { contacts, total } = scope.data.search_contacts(query.as_deref(), first + 1, search_after.as_deref()).await?;
        let rows =
            contacts.into_iter().map(|contact| (PageCursor::SearchAfter(contact.search_after.clone().unwrap_or_default()), Contact::new(contact))).collect();
        Ok(Some(page(&scope.cursors, rows, first, search_after.is_some(), total)))
    }

    /// Contacts that belong to a business (company record), in pages.
    #[graphql(complexity = "(first.max(1) as usize).saturating_mul(child_complexity)")]
    async fn contacts_by_business(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "GHL business id.")] business_id: ID,
        #[graphql(default = 20, desc = "Page size, 0 to 100.")] first: i32,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> FieldResult<Option<ContactConnection>> {
        let scope = Scope::for_read(ctx)?;
        let business = PathId::parse(&business_id, "businessId")?;
        let (first, cursor) = page_request(&scope.cursors, first, after.as_deref())?;
        let skip = match cursor {
            None => 0,
            Some(PageCursor::Skip(skip)) => skip,
            Some(PageCursor::SearchAfter(_)) => return Err(AppError::BadUserInput("`after` is a cursor of another list".into()).into()),
        };
        if first == 0 {
            return Ok(Some(page(&scope.cursors, Vec::new(), 0, skip > 0, None)));
        }
        let ContactPage { contacts, total } = scope.data.contacts_by_business(&business, first + 1, skip).await?;
        let rows = contacts.into_iter().zip(skip + 1..).map(|(contact, next)| (PageCursor::Skip(next), Contact::new(contact))).collect();
        Ok(Some(page(&scope.cursors, rows, first, skip > 0, total)))
    }

    /// One task of a contact; null when GHL has no such task.
    async fn task(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<Task>> {
        let scope = Scope::for_read(ctx)?;
        let key = TaskKey(PathId::parse(&contact_id, "contactId")?, PathId::parse(&id, "id")?);
        Ok(scope.load(key).await?.map(|task| Task::new(task, &contact_id)))
    }

    /// One note of a contact; null when GHL has no such note.
    async fn note(&self, ctx: &Context<'_>, contact_id: ID, id: ID) -> FieldResult<Option<Note>> {
        let scope = Scope::for_read(ctx)?;
        let key = NoteKey(PathId::parse(&contact_id, "contactId")?, PathId::parse(&id, "id")?);
        Ok(scope.load(key).await?.map(|note| Note::new(note, &contact_id)))
    }

    /// Runs test calls against GHL and reports whether this server can work, each check with a
    /// diagnosis and what to do. Needs an operator API key (one without a location list).
    async fn connection_check(&self, ctx: &Context<'_>) -> FieldResult<Option<ConnectionCheck>> {
        super::connection_check::run(ctx).await.map(Some)
    }

    /// Federation: resolves `Contact` references from other subgraphs through the data layer.
    /// A reference that fails is null with its own error; the other entries still resolve.
    #[graphql(entity)]
    async fn find_contact_by_id(&self, ctx: &Context<'_>, id: ID) -> FieldResult<Option<Contact>> {
        match Contact::by_id(ctx, &id).await {
            Ok(found) => Ok(found),
            Err(error) => {
                report_failed_entity(ctx, &id, error);
                Ok(None)
            }
        }
    }
}

/// Adds `error` at `_entities.<i>` for each representation of contact `id` (async-graphql would
/// otherwise fail the whole list for one bad reference).
fn report_failed_entity(ctx: &Context<'_>, id: &str, error: FieldError) {
    let field = ctx.item.node.response_key().node.to_string();
    let representations = || {
        ctx.param_value::<Vec<Any>>("representations", None)
            .map(|(_, all)| all.into_iter().map(|Any(value)| representation_id(&value)).collect())
            .unwrap_or_default()
    };
    let positions: Vec<usize> = match ctx.data::<RequestContext>() {
        Ok(request) => request.entity_positions(id, representations).to_vec(),
        Err(_) => Vec::new(),
    };
    let server_error = |path: Vec<PathSegment>| {
        let mut error = async_graphql::Error::from(error.clone()).into_server_error(ctx.item.pos);
        error.path = path;
        error
    };
    if positions.is_empty() {
        ctx.add_error(server_error(vec![PathSegment::Field(field.clone())]));
    }
    for index in positions {
        ctx.add_error(server_error(vec![PathSegment::Field(field.clone()), PathSegment::Index(index)]));
    }
}

fn representation_id(value: &async_graphql::Value) -> Option<String> {
    match value {
        async_graphql::Value::Object(fields) => match fields.get("id") {
            Some(async_graphql::Value::String(id)) => Some(id.clone()),
            Some(async_graphql::Value::Number(n)) => Some(n.to_string()),
            _ => None,
        },
        _ => None,
    }
}
