//! A contact's tasks: `GET/POST /contacts/{contactId}/tasks`, `GET/PUT/DELETE …/tasks/{taskId}` and
//! `PUT …/tasks/{taskId}/completed`. Unknown task ids are GHL's 400 `Task not found`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::Serialize;

use super::contacts::Succeded;
use super::items;
use crate::auth::{ContactsRead, ContactsWrite, Scoped};
use crate::data::dates;
use crate::data::model::Task;
use crate::data::wire::TaskWire;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody, Patch};

#[derive(Serialize)]
struct TasksBody<'a> {
    tasks: Vec<TaskWire<'a>>,
}

#[derive(Serialize)]
struct TaskBody<'a> {
    task: TaskWire<'a>,
}

const TASK_NOT_FOUND: ApiError = ApiError::NotFound("Task not found");

pub(crate) async fn list(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, Path(contact_id): Path<String>) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let tasks = contact.tasks.iter().map(|t| TaskWire::new(t, &contact.id)).collect();
    Ok(reply::ok(&TasksBody { tasks }))
}

pub(crate) async fn get(
    Scoped(caller, _): Scoped<ContactsRead>,
    State(app): State<App>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let store = app.read();
    let contact = store.owned(&contact_id, caller.location_id())?;
    let task = items::find(&contact.tasks, &task_id, TASK_NOT_FOUND)?;
    Ok(reply::ok(&TaskBody { task: TaskWire::new(task, &contact.id) }))
}

/// `CreateTaskParams` (title, dueDate and completed required) or `UpdateTaskBody` (all optional).
struct TaskInput {
    title: Option<String>,
    body: Patch<String>,
    due_date: Option<i64>,
    completed: Option<bool>,
    assigned_to: Patch<String>,
}

impl TaskInput {
    fn parse(body: &serde_json::Value, create: bool) -> Result<Self, ApiError> {
        let mut f = Fields::new(body)?;
        let title = if create { f.required_string("title") } else { f.string("title").into_option() };
        let input = Self {
            title,
            body: f.string("body"),
            due_date: f.iso_date("dueDate", create),
            completed: if create { f.required_bool("completed") } else { f.bool("completed") },
            assigned_to: f.string("assignedTo"),
        };
        f.finish()?;
        Ok(input)
    }

    fn apply(self, task: &mut Task) {
        if let Some(title) = self.title {
            task.title = title;
        }
        self.body.apply_to(&mut task.body);
        self.assigned_to.apply_to(&mut task.assigned_to);
        if let Some(due) = self.due_date {
            task.due_date = due;
        }
        if let Some(completed) = self.completed {
            task.completed = completed;
        }
    }
}

pub(crate) async fn create(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path(contact_id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    store.owned(&contact_id, caller.location_id())?;
    let input = TaskInput::parse(&body, true)?;
    let now = dates::now_ms();
    let mut task = Task { id: store.new_id(), title: String::new(), body: None, assigned_to: None, due_date: now, completed: false };
    input.apply(&mut task);
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    contact.tasks.push(task);
    let task = contact.tasks.last().ok_or(TASK_NOT_FOUND)?;
    Ok(reply::created(&TaskBody { task: TaskWire::new(task, &contact.id) }))
}

pub(crate) async fn update(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, task_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    edit(&app, caller.location_id(), &contact_id, &task_id, |task| {
        TaskInput::parse(&body, false)?.apply(task);
        Ok(())
    })
}

pub(crate) async fn complete(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, task_id)): Path<(String, String)>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    edit(&app, caller.location_id(), &contact_id, &task_id, |task| {
        let mut f = Fields::new(&body)?;
        let completed = f.required_bool("completed");
        f.finish()?;
        if let Some(completed) = completed {
            task.completed = completed;
        }
        Ok(())
    })
}

/// Finds the task (an unknown id is an error before the body is looked at), lets `change` apply
/// the body to it and replies with the task.
fn edit(app: &App, location_id: &str, contact_id: &str, task_id: &str, change: impl FnOnce(&mut Task) -> Result<(), ApiError>) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(contact_id, location_id)?;
    let task = items::find_mut(&mut contact.tasks, task_id, TASK_NOT_FOUND)?;
    change(task)?;
    Ok(reply::ok(&TaskBody { task: TaskWire::new(task, &contact.id) }))
}

pub(crate) async fn delete(
    Scoped(caller, _): Scoped<ContactsWrite>,
    State(app): State<App>,
    Path((contact_id, task_id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut store = app.write();
    let contact = store.owned_mut(&contact_id, caller.location_id())?;
    items::remove(&mut contact.tasks, &task_id, TASK_NOT_FOUND)?;
    Ok(reply::ok(&Succeded { succeded: true }))
}
