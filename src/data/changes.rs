//! A change GHL reported: what kind of entity, what happened, where, and the ids it named.
//! Webhooks produce them; the data layer forgets what they made stale; subscribers hear of them.
//! Serializable: with `--redis-url` they travel to the other replicas.

use serde::{Deserialize, Serialize};

/// What happened, as subscribers see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    Created,
    Updated,
    Deleted,
    Completed,
    TagsChanged,
    DndChanged,
}

/// The kind of entity that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Subject {
    Contact,
    Task,
    Note,
    Appointment,
    /// The app's install on the location (`Deleted`: GHL uninstalled it there).
    Installation,
}

/// One applied change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeEvent {
    /// GHL's event type, e.g. `TaskCreate`.
    pub event_type: String,
    pub subject: Subject,
    pub kind: ChangeKind,
    pub location_id: String,
    /// The contact the change is about (the contact itself, or the owner of the task/note/appointment).
    pub contact_id: Option<String>,
    /// The task, note or appointment id (for contact events: `None`).
    pub item_id: Option<String>,
}
