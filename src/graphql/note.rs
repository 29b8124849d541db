//! `Note`: a text entry on a contact, and the input that writes one.

use async_graphql::{Context, InputObject, Object, ID};

use super::contact::Contact;
use super::datetime::{ghl_date, DateTime};
use super::shared::Shared;
use crate::error::FieldResult;
use crate::highlevel::models::{self, NoteWrite};

/// A note written on a contact.
pub struct Note {
    data: Shared<models::Note>,
    contact_id: String,
}

impl Note {
    pub fn new(data: impl Into<Shared<models::Note>>, contact_id: &str) -> Self {
        let data = data.into();
        let contact_id = data.contact_id.clone().filter(|c| !c.is_empty()).unwrap_or_else(|| contact_id.to_owned());
        Self { data, contact_id }
    }
}

#[Object]
impl Note {
    /// GHL's note id.
    async fn id(&self) -> ID {
        ID(self.data.id.clone())
    }

    /// Id of the contact the note is on.
    async fn contact_id(&self) -> ID {
        ID(self.contact_id.clone())
    }

    /// The note's text.
    async fn body(&self) -> Option<&str> {
        self.data.body.as_deref()
    }

    /// Optional title.
    async fn title(&self) -> Option<&str> {
        self.data.title.as_deref()
    }

    /// Id of the GHL user who wrote it.
    async fn user_id(&self) -> Option<ID> {
        self.data.user_id.clone().map(ID)
    }

    /// When the note was written (GHL's `dateAdded`).
    async fn created_at(&self) -> Option<DateTime> {
        ghl_date(self.data.date_added.as_deref())
    }

    /// The contact the note is on.
    async fn contact(&self, ctx: &Context<'_>) -> FieldResult<Option<Contact>> {
        Contact::by_id(ctx, &self.contact_id).await
    }
}

/// The text of a note; on update, omitted `title` and `userId` stay as they are.
#[derive(InputObject, Clone, Debug)]
pub struct NoteInput {
    /// The note's text.
    pub body: String,
    /// Optional title.
    pub title: Option<String>,
    /// Id of the GHL user writing it.
    pub user_id: Option<ID>,
}

impl From<NoteInput> for NoteWrite {
    fn from(input: NoteInput) -> Self {
        NoteWrite { body: Some(input.body), title: input.title, user_id: input.user_id.map(|id| id.0) }
    }
}
