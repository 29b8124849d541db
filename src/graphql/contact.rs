//! The `Contact` entity, its custom fields and the inputs that create and update it.
//!
//! A `Contact` wraps GHL's wire contact as fetched; nested lists resolve through the request's
//! data layer, so each (endpoint, contact) is fetched at most once per request.

use std::sync::Arc;

use async_graphql::{ComplexObject, Context, InputObject, Object, SimpleObject, ID};

use super::appointment::Appointment;
use super::datetime::{ghl_date, DateTime};
use super::note::Note;
use super::request_context::Scope;
use super::shared::Shared;
use super::task::Task;
use crate::data::{AppointmentsOf, ContactKey, NotesOf, TasksOf};
use crate::error::{AppError, AppResult, FieldResult};
use crate::highlevel::models::{self, ContactWrite, CustomFieldWrite};
use crate::highlevel::PathId;

/// How many items a contact's nested list counts for in complexity (GHL returns a handful).
const LIST_WEIGHT: usize = 10;

/// A person in a GHL location (sub-account), with their tasks, notes and appointments.
pub struct Contact {
    data: Arc<models::Contact>,
}

impl Contact {
    pub fn new(data: Arc<models::Contact>) -> Self {
        Self { data }
    }

    /// Loads a contact through the data layer; `None` when GHL has no such contact.
    pub async fn by_id(ctx: &Context<'_>, id: &str) -> FieldResult<Option<Contact>> {
        let scope = Scope::for_read(ctx)?;
        let found = scope.load(ContactKey(PathId::parse(id, "contactId")?)).await?;
        Ok(found.map(Contact::new))
    }

    fn path_id(&self) -> AppResult<PathId> {
        Ok(PathId::parse(&self.data.id, "id")?)
    }
}

#[Object]
impl Contact {
    /// GHL's contact id.
    async fn id(&self) -> ID {
        ID(self.data.id.clone())
    }

    /// Full name; GHL's `name`, or first and last name joined when GHL sent none.
    async fn name(&self) -> Option<String> {
        let data = &self.data;
        data.name.clone().filter(|n| !n.trim().is_empty()).or_else(|| {
            let joined = [data.first_name.as_deref(), data.last_name.as_deref()].into_iter().flatten().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(" ");
            (!joined.is_empty()).then_some(joined)
        })
    }

    /// Given name.
    async fn first_name(&self) -> Option<&str> {
        self.data.first_name.as_deref()
    }

    /// Family name.
    async fn last_name(&self) -> Option<&str> {
        self.data.last_name.as_deref()
    }

    /// Primary email address.
    async fn email(&self) -> Option<&str> {
        self.data.email.as_deref()
    }

    /// Primary phone number, E.164 as GHL stores it.
    async fn phone(&self) -> Option<&str> {
        self.data.phone.as_deref()
    }

    /// Company the contact works for.
    async fn company_name(&self) -> Option<&str> {
        self.data.company_name.as_deref()
    }

    /// Tags on the contact.
    async fn tags(&self) -> &[String] {
        &self.data.tags
    }

    /// Do-not-disturb across all channels.
    async fn dnd(&self) -> Option<bool> {
        self.data.dnd
    }

    /// Where the contact came from (free text set by GHL or the integration).
    async fn source(&self) -> Option<&str> {
        self.data.source.as_deref()
    }

    /// GHL's contact type, e.g. `lead` or `customer`.
    #[graphql(name = "type")]
    async fn contact_type(&self) -> Option<&str> {
        self.data.contact_type.as_deref()
    }

    /// Id of the GHL user the contact is assigned to.
    async fn assigned_to(&self) -> Option<ID> {
        self.data.assigned_to.clone().map(ID)
    }

    /// Street address.
    async fn address1(&self) -> Option<&str> {
        self.data.address1.as_deref()
    }

    /// City.
    async fn city(&self) -> Option<&str> {
        self.data.city.as_deref()
    }

    /// State or region.
    async fn state(&self) -> Option<&str> {
        self.data.state.as_deref()
    }

    /// Postal code.
    async fn postal_code(&self) -> Option<&str> {
        self.data.postal_code.as_deref()
    }

    /// Country, as GHL stores it (usually an ISO 3166 alpha-2 code).
    async fn country(&self) -> Option<&str> {
        self.data.country.as_deref()
    }

    /// Website URL.
    async fn website(&self) -> Option<&str> {
        self.data.website.as_deref()
    }

    /// IANA time zone, e.g. `America/Chicago`.
    async fn timezone(&self) -> Option<&str> {
        self.data.timezone.as_deref()
    }

    /// Date of birth as GHL sent it (formats vary by endpoint).
    async fn date_of_birth(&self) -> Option<String> {
        match self.data.date_of_birth.as_ref()? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// Id of the business (company record) the contact belongs to.
    async fn business_id(&self) -> Option<ID> {
        self.data.business_id.clone().map(ID)
    }

    /// Id of the GHL location (sub-account) that owns the contact.
    async fn location_id(&self) -> Option<ID> {
        self.data.location_id.clone().map(ID)
    }

    /// Values of the location's custom fields on this contact.
    async fn custom_fields(&self) -> Vec<CustomFieldValue> {
        self.data.custom_fields.iter().map(CustomFieldValue::from_wire).collect()
    }

    /// When the contact was created.
    async fn date_added(&self) -> Option<DateTime> {
        ghl_date(self.data.date_added.as_deref())
    }

    /// When the contact was last changed.
    async fn date_updated(&self) -> Option<DateTime> {
        ghl_date(self.data.date_updated.as_deref())
    }

    /// The contact's tasks (to-dos); null, with an error at this path, when GHL could not list them.
    #[graphql(complexity = "LIST_WEIGHT.saturating_mul(child_complexity)")]
    async fn tasks(&self, ctx: &Context<'_>) -> FieldResult<Option<Vec<Task>>> {
        let scope = Scope::for_read(ctx)?;
        let tasks = scope.load(TasksOf(self.path_id()?)).await?;
        Ok(Some(Shared::items(&tasks).map(|t| Task::new(t, &self.data.id)).collect()))
    }

    /// Notes written on the contact; null, with an error at this path, when GHL could not list them.
    #[graphql(complexity = "LIST_WEIGHT.saturating_mul(child_complexity)")]
    async fn notes(&self, ctx: &Context<'_>) -> FieldResult<Option<Vec<Note>>> {
        let scope = Scope::for_read(ctx)?;
        let notes = scope.load(NotesOf(self.path_id()?)).await?;
        Ok(Some(Shared::items(&notes).map(|n| Note::new(n, &self.data.id)).collect()))
    }

    /// Calendar appointments booked with the contact; null, with an error at this path, when GHL could not list them.
    #[graphql(complexity = "LIST_WEIGHT.saturating_mul(child_complexity)")]
    async fn appointments(&self, ctx: &Context<'_>) -> FieldResult<Option<Vec<Appointment>>> {
        let scope = Scope::for_read(ctx)?;
        let events = scope.load(AppointmentsOf(self.path_id()?)).await?;
        Ok(Some(Shared::items(&events).map(|e| Appointment::new(e, &self.data.id)).collect()))
    }
}

/// The value of one custom field on a contact.
#[derive(SimpleObject)]
#[graphql(complex)]
pub struct CustomFieldValue {
    /// Id of the custom field definition.
    pub id: ID,
    #[graphql(skip)]
    raw: serde_json::Value,
}

#[ComplexObject]
impl CustomFieldValue {
    /// The value as text: strings as they are, numbers and booleans printed, lists and objects as JSON.
    async fn value(&self) -> Option<String> {
        match &self.raw {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some(s.clone()),
            other => Some(other.to_string()),
        }
    }
}

impl CustomFieldValue {
    fn from_wire(field: &models::CustomField) -> Self {
        Self { id: ID(field.id.clone()), raw: field.value.clone() }
    }
}

/// A custom field value to set; name the field by `id` or by `key`.
#[derive(InputObject, Clone, Debug)]
pub struct CustomFieldInput {
    /// Id of the custom field definition.
    pub id: Option<ID>,
    /// Key of the custom field, e.g. `contact.job_reference`.
    pub key: Option<String>,
    /// The value, as text.
    pub value: String,
}

/// Fields of a new contact; at least one of name, firstName, lastName, email or phone.
#[derive(InputObject, Clone, Debug, Default)]
pub struct CreateContactInput {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Primary email address.
    pub email: Option<String>,
    /// Primary phone number (E.164 preferred, e.g. +14155550123).
    pub phone: Option<String>,
    /// Company the contact works for.
    pub company_name: Option<String>,
    /// Street address.
    pub address1: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country code, e.g. `US`.
    pub country: Option<String>,
    /// Website URL.
    pub website: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Where the contact came from.
    pub source: Option<String>,
    /// Id of the GHL user to assign the contact to.
    pub assigned_to: Option<ID>,
    /// Do-not-disturb across all channels.
    pub dnd: Option<bool>,
    /// Initial tags.
    pub tags: Option<Vec<String>>,
    /// Custom field values.
    pub custom_fields: Option<Vec<CustomFieldInput>>,
}

/// Fields to change on a contact; omitted fields stay as they are. `tags` replaces all tags.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateContactInput {
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Full name.
    pub name: Option<String>,
    /// Primary email address.
    pub email: Option<String>,
    /// Primary phone number.
    pub phone: Option<String>,
    /// Street address.
    pub address1: Option<String>,
    /// City.
    pub city: Option<String>,
    /// State or region.
    pub state: Option<String>,
    /// Postal code.
    pub postal_code: Option<String>,
    /// Country code.
    pub country: Option<String>,
    /// Website URL.
    pub website: Option<String>,
    /// IANA time zone.
    pub timezone: Option<String>,
    /// Date of birth, `YYYY-MM-DD`.
    pub date_of_birth: Option<String>,
    /// Where the contact came from.
    pub source: Option<String>,
    /// Id of the GHL user to assign the contact to.
    pub assigned_to: Option<ID>,
    /// Do-not-disturb across all channels.
    pub dnd: Option<bool>,
    /// Replaces all tags (use addContactTags / removeContactTags to change some).
    pub tags: Option<Vec<String>>,
    /// Custom field values.
    pub custom_fields: Option<Vec<CustomFieldInput>>,
}

impl CreateContactInput {
    pub fn into_wire(self) -> AppResult<ContactWrite> {
        let identifies =
            [&self.name, &self.first_name, &self.last_name, &self.email, &self.phone].iter().any(|f| f.as_deref().is_some_and(|s| !s.trim().is_empty()));
        if !identifies {
            return Err(AppError::BadUserInput("a contact needs at least one of name, firstName, lastName, email or phone".into()));
        }
        Ok(ContactWrite {
            location_id: None,
            first_name: self.first_name,
            last_name: self.last_name,
            name: self.name,
            email: self.email,
            phone: self.phone,
            company_name: self.company_name,
            address1: self.address1,
            city: self.city,
            state: self.state,
            postal_code: self.postal_code,
            country: self.country,
            website: self.website,
            timezone: self.timezone,
            date_of_birth: self.date_of_birth,
            source: self.source,
            assigned_to: self.assigned_to.map(|id| id.0),
            dnd: self.dnd,
            tags: self.tags.map(|tags| within_tag_limits(&tags).map(|()| tags)).transpose()?,
            custom_fields: custom_fields(self.custom_fields)?,
        })
    }
}

impl UpdateContactInput {
    pub fn into_wire(self) -> AppResult<ContactWrite> {
        let wire = ContactWrite {
            location_id: None,
            first_name: self.first_name,
            last_name: self.last_name,
            name: self.name,
            email: self.email,
            phone: self.phone,
            company_name: None,
            address1: self.address1,
            city: self.city,
            state: self.state,
            postal_code: self.postal_code,
            country: self.country,
            website: self.website,
            timezone: self.timezone,
            date_of_birth: self.date_of_birth,
            source: self.source,
            assigned_to: self.assigned_to.map(|id| id.0),
            dnd: self.dnd,
            tags: self.tags.map(|tags| within_tag_limits(&tags).map(|()| tags)).transpose()?,
            custom_fields: custom_fields(self.custom_fields)?,
        };
        let empty = serde_json::to_value(&wire).ok().and_then(|v| v.as_object().map(|o| o.is_empty())).unwrap_or(false);
        if empty {
            return Err(AppError::BadUserInput("updateContact needs at least one field to change".into()));
        }
        Ok(wire)
    }
}

/// Most tags one call may set, add or remove, and the longest tag: GHL's tags are short labels;
/// without a cap a caller could forward megabytes of tags in one request.
pub const MAX_TAGS: usize = 100;
pub const MAX_TAG_CHARS: usize = 255;

pub fn within_tag_limits(tags: &[String]) -> AppResult<()> {
    if tags.len() > MAX_TAGS || tags.iter().any(|t| t.chars().count() > MAX_TAG_CHARS) {
        return Err(AppError::BadUserInput(format!("`tags` takes at most {MAX_TAGS} tags of at most {MAX_TAG_CHARS} characters")));
    }
    Ok(())
}

fn custom_fields(fields: Option<Vec<CustomFieldInput>>) -> AppResult<Option<Vec<CustomFieldWrite>>> {
    fields
        .map(|fields| {
            fields
                .into_iter()
                .map(|f| match (f.id, f.key) {
                    (None, None) => Err(AppError::BadUserInput("each custom field needs an `id` or a `key`".into())),
                    (id, key) => Ok(CustomFieldWrite { id: id.map(|i| i.0), key, field_value: f.value }),
                })
                .collect()
        })
        .transpose()
}
