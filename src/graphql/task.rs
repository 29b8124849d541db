//! `Task`: a to-do on a contact, and the inputs that create and change it.

use async_graphql::{Context, Enum, InputObject, Object, ID};

use super::contact::Contact;
use super::datetime::{ghl_date, DateTime};
use super::shared::Shared;
use crate::error::FieldResult;
use crate::highlevel::models::{self, TaskWrite};

/// Whether a task is still to do.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum TaskStatus {
    /// Not completed yet.
    Pending,
    /// Marked completed.
    Completed,
}

/// A to-do item on a contact.
pub struct Task {
    data: Shared<models::Task>,
    contact_id: String,
}

impl Task {
    /// `contact_id` is used when GHL's task omits it (it does on some endpoints).
    pub fn new(data: impl Into<Shared<models::Task>>, contact_id: &str) -> Self {
        let data = data.into();
        let contact_id = data.contact_id.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| contact_id.to_owned());
        Self { data, contact_id }
    }

    fn completed_flag(&self) -> bool {
        self.data.completed.unwrap_or(false)
    }
}

#[Object]
impl Task {
    /// GHL's task id.
    async fn id(&self) -> ID {
        ID(self.data.id.clone())
    }

    /// Id of the contact the task belongs to.
    async fn contact_id(&self) -> ID {
        ID(self.contact_id.clone())
    }

    /// Short title.
    async fn title(&self) -> Option<&str> {
        self.data.title.as_deref()
    }

    /// Longer description.
    async fn body(&self) -> Option<&str> {
        self.data.body.as_deref()
    }

    /// When the task is due.
    async fn due_date(&self) -> Option<DateTime> {
        ghl_date(self.data.due_date.as_deref())
    }

    /// Whether the task is completed.
    async fn completed(&self) -> bool {
        self.completed_flag()
    }

    /// `PENDING` or `COMPLETED`, derived from `completed`.
    async fn status(&self) -> TaskStatus {
        if self.completed_flag() {
            TaskStatus::Completed
        } else {
            TaskStatus::Pending
        }
    }

    /// Id of the GHL user the task is assigned to.
    async fn assigned_to(&self) -> Option<ID> {
        self.data.assigned_to.clone().map(ID)
    }

    /// The contact the task belongs to.
    async fn contact(&self, ctx: &Context<'_>) -> FieldResult<Option<Contact>> {
        Contact::by_id(ctx, &self.contact_id).await
    }
}

/// A new task.
#[derive(InputObject, Clone, Debug)]
pub struct CreateTaskInput {
    /// Short title.
    pub title: String,
    /// Longer description.
    pub body: Option<String>,
    /// When the task is due.
    pub due_date: DateTime,
    /// Create it already completed.
    #[graphql(default = false)]
    pub completed: bool,
    /// Id of the GHL user to assign it to.
    pub assigned_to: Option<ID>,
}

/// Changes to a task; omitted fields stay as they are.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateTaskInput {
    /// Short title.
    pub title: Option<String>,
    /// Longer description.
    pub body: Option<String>,
    /// When the task is due.
    pub due_date: Option<DateTime>,
    /// Completed or not.
    pub completed: Option<bool>,
    /// Id of the GHL user to assign it to.
    pub assigned_to: Option<ID>,
}

impl From<CreateTaskInput> for TaskWrite {
    fn from(input: CreateTaskInput) -> Self {
        TaskWrite {
            title: Some(input.title),
            body: input.body,
            due_date: Some(input.due_date.to_rfc3339()),
            completed: Some(input.completed),
            assigned_to: input.assigned_to.map(|id| id.0),
        }
    }
}

impl From<UpdateTaskInput> for TaskWrite {
    fn from(input: UpdateTaskInput) -> Self {
        TaskWrite {
            title: input.title,
            body: input.body,
            due_date: input.due_date.map(|d| d.to_rfc3339()),
            completed: input.completed,
            assigned_to: input.assigned_to.map(|id| id.0),
        }
    }
}
