//! `POST /locations/{locationId}/tasks/search` (scope `locations/tasks.readonly`): tasks across a
//! location's contacts, filtered by `contactId[]`, `completed`, `assignedTo[]`, `businessId` and
//! `query` (title or body), ordered by `dueDate` then id, paged with `limit` (default 25) and `skip`.
//! Answers `{"tasks": [TaskSchema + contactId]}`; the spec types the items as arrays, which is a
//! spec bug — GHL returns task objects.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use crate::auth::{Scoped, TasksSearch};
use crate::data::model::{Contact, Task};
use crate::data::wire::TaskWire;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody};

#[derive(Serialize)]
struct TasksBody<'a> {
    tasks: Vec<TaskWire<'a>>,
}

pub(crate) async fn search(
    Scoped(caller, _): Scoped<TasksSearch>,
    State(app): State<App>,
    Path(location_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    caller.ensure_location(&location_id)?;
    let mut f = Fields::new(&body)?;
    let contact_ids = f.string_array("contactId");
    let completed = f.bool("completed");
    let assigned_to = f.string_array("assignedTo");
    let query = f.string("query").into_option().map(|q| q.trim().to_lowercase()).unwrap_or_default();
    let limit = f.integer("limit", 1, 1000).unwrap_or(25) as usize;
    let skip = f.integer("skip", 0, u64::from(u32::MAX)).unwrap_or(0) as usize;
    let business_id = f.string("businessId").into_option();
    f.finish()?;

    let store = app.read();
    let contacts: Vec<&Contact> = match &contact_ids {
        Some(ids) => ids.iter().filter_map(|id| store.contact(id)).filter(|c| c.location_id == location_id).collect(),
        None => store.ordered(&location_id, None).collect(),
    };
    let mut tasks: Vec<(&Task, &Contact)> = contacts
        .into_iter()
        .filter(|c| business_id.as_deref().is_none_or(|b| c.business_id.as_deref() == Some(b)))
        .flat_map(|c| c.tasks.iter().map(move |t| (t, c)))
        .filter(|(t, _)| completed.is_none_or(|done| t.completed == done))
        .filter(|(t, _)| assigned_to.as_ref().is_none_or(|users| t.assigned_to.as_ref().is_some_and(|a| users.contains(a))))
        .filter(|(t, _)| query.is_empty() || t.title.to_lowercase().contains(&query) || t.body.as_deref().is_some_and(|b| b.to_lowercase().contains(&query)))
        .collect();
    tasks.sort_by(|(a, _), (b, _)| a.due_date.cmp(&b.due_date).then_with(|| a.id.cmp(&b.id)));
    let tasks = tasks.into_iter().skip(skip).take(limit).map(|(t, c)| TaskWire::new(t, &c.id)).collect();
    Ok(reply::ok(&TasksBody { tasks }))
}
