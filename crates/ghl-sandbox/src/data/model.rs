//! The records the store keeps: a contact owns its tasks, notes and appointments, so a lookup by
//! contact id finds everything under it. Dates are epoch milliseconds; `wire` formats them.

use serde_json::Value;

#[derive(Clone, Debug)]
pub(crate) struct Contact {
    pub id: String,
    pub location_id: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company_name: Option<String>,
    pub business_id: Option<String>,
    pub timezone: Option<String>,
    pub dnd: bool,
    /// `DndSettingsSchema` as given or seeded; stored as JSON because GHL echoes it back verbatim.
    pub dnd_settings: Option<Value>,
    /// GHL's `type`: `lead` or `customer`.
    pub kind: String,
    pub source: Option<String>,
    pub assigned_to: Option<String>,
    pub address1: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
    pub postal_code: Option<String>,
    pub website: Option<String>,
    pub gender: Option<String>,
    pub tags: Vec<String>,
    /// Already in GHL's stored form, `1990-09-25T00:00:00.000Z`.
    pub date_of_birth: Option<String>,
    pub date_added: i64,
    pub date_updated: i64,
    pub last_activity: Option<i64>,
    pub custom_fields: Vec<CustomField>,
    pub attribution: Option<Attribution>,
    pub followers: Vec<String>,
    pub tasks: Vec<Task>,
    pub notes: Vec<Note>,
    pub appointments: Vec<Appointment>,
    /// Computed from the fields above by [`Contact::reindex`] after every write.
    pub derived: Derived,
}

/// Fields GHL answers that follow from others, computed once per write rather than per read.
#[derive(Clone, Debug, Default)]
pub(crate) struct Derived {
    pub full_name: Option<String>,
    pub full_name_lower: Option<String>,
    pub first_name_lower: Option<String>,
    pub last_name_lower: Option<String>,
    pub email_lower: Option<String>,
    /// Lowercased name, email, phone and company, for the `query` parameter of list and search.
    pub haystack: String,
}

impl Contact {
    pub(crate) fn full_name(&self) -> Option<String> {
        self.derived.full_name.clone()
    }

    fn compute_full_name(&self) -> Option<String> {
        match (&self.first_name, &self.last_name) {
            (Some(f), Some(l)) => Some(format!("{f} {l}")),
            (Some(f), None) => Some(f.clone()),
            (None, Some(l)) => Some(l.clone()),
            (None, None) => None,
        }
    }

    /// Recomputes derived fields after a write.
    pub(crate) fn reindex(&mut self) {
        let mut h = String::new();
        for part in [&self.first_name, &self.last_name, &self.email, &self.phone, &self.company_name].into_iter().flatten() {
            h.push_str(&part.to_lowercase());
            h.push('\u{1f}');
        }
        let full_name = self.compute_full_name();
        if let Some(name) = &full_name {
            h.push_str(&name.to_lowercase());
        }
        self.derived = Derived {
            full_name_lower: full_name.as_deref().map(str::to_lowercase),
            full_name,
            first_name_lower: self.first_name.as_deref().map(str::to_lowercase),
            last_name_lower: self.last_name.as_deref().map(str::to_lowercase),
            email_lower: self.email.as_deref().map(str::to_lowercase),
            haystack: h,
        };
    }

    /// Case-insensitive substring match on name, email, phone and company (the `query` parameter).
    pub(crate) fn matches_query(&self, needle_lower: &str) -> bool {
        needle_lower.is_empty() || self.derived.haystack.contains(needle_lower)
    }
}

/// `CustomFieldSchema`: `{id, value}`, the value always a string on the REST API.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct CustomField {
    pub id: String,
    pub value: String,
}

/// `AttributionSource`: `url` is required by the spec; the rest is optional.
#[derive(Clone, Debug)]
pub(crate) struct Attribution {
    pub url: String,
    pub utm_source: Option<String>,
    pub medium: Option<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct Task {
    pub id: String,
    pub title: String,
    pub body: Option<String>,
    pub assigned_to: Option<String>,
    pub due_date: i64,
    pub completed: bool,
}

#[derive(Clone, Debug)]
pub(crate) struct Note {
    pub id: String,
    pub body: String,
    pub user_id: Option<String>,
    pub title: Option<String>,
    pub color: Option<String>,
    pub pinned: bool,
    pub date_added: i64,
}

#[derive(Clone, Debug)]
pub(crate) struct Appointment {
    pub id: String,
    pub calendar_id: String,
    pub title: String,
    pub status: String,
    pub assigned_user_id: String,
    pub notes: Option<String>,
    pub address: Option<String>,
    pub start: i64,
    pub end: i64,
    pub date_added: i64,
    pub date_updated: i64,
}

/// A business (company) of a location; contacts point at it through `businessId`.
#[derive(Clone, Debug)]
pub(crate) struct Business {
    pub id: String,
    pub name: String,
}
