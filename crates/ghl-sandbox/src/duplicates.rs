//! A location's "Allow Duplicate Contact" setting and how writes find an existing contact by it.
//! GHL (`spec/contacts.json` `/contacts/upsert`, UPSTREAM.md §f): upsert searches the fields in the
//! setting's order and updates the first match; when the email matches one contact and the phone
//! another, it updates the first in that order and ignores the other field, so no duplicate appears
//! (users saw phones silently dropped). `createNewIfDuplicateAllowed: true` skips the search only
//! where duplicates are allowed. This module decides; the handlers in `routes::contacts` apply.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::store::Store;

/// How a location treats a second contact with the same email or phone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateSetting {
    /// Duplicates allowed: `POST /contacts/` never refuses one; upsert still searches email then
    /// phone, unless the body says `createNewIfDuplicateAllowed: true` (then it always creates).
    Allow,
    /// Search by email, then by phone (the sandbox's default).
    #[default]
    EmailThenPhone,
    /// Search by phone, then by email.
    PhoneThenEmail,
    /// Search by email only: another contact's phone is no conflict.
    EmailOnly,
    /// Search by phone only: another contact's email is no conflict.
    PhoneOnly,
}

/// A field contacts are matched on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    Email,
    Phone,
}

impl Field {
    /// As GHL names it in `meta.matchingField`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Email => "email",
            Self::Phone => "phone",
        }
    }
}

/// The existing contact a write concerns.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Match {
    pub contact_id: String,
    pub field: Field,
    /// Input fields upsert must ignore: their values belong to another existing contact.
    pub ignored: Vec<Field>,
}

impl DuplicateSetting {
    const ALL: [(Self, &'static str); 5] = [
        (Self::Allow, "allow"),
        (Self::EmailThenPhone, "email-then-phone"),
        (Self::PhoneThenEmail, "phone-then-email"),
        (Self::EmailOnly, "email-only"),
        (Self::PhoneOnly, "phone-only"),
    ];

    /// The fields searched, in order.
    fn fields(self) -> &'static [Field] {
        match self {
            Self::Allow | Self::EmailThenPhone => &[Field::Email, Field::Phone],
            Self::PhoneThenEmail => &[Field::Phone, Field::Email],
            Self::EmailOnly => &[Field::Email],
            Self::PhoneOnly => &[Field::Phone],
        }
    }

    /// Whether `POST /contacts/` may create a contact another one already matches.
    pub(crate) fn allows_duplicates(self) -> bool {
        self == Self::Allow
    }

    /// The first contact of `location_id` matching `email` (case-insensitive) or `phone` in this
    /// setting's order, and the later fields whose values another contact holds.
    pub(crate) fn find(self, store: &Store, location_id: &str, email: Option<&str>, phone: Option<&str>) -> Option<Match> {
        let lookup = |field: Field| match field {
            Field::Email => email.and_then(|e| store.with_email(location_id, e)),
            Field::Phone => phone.and_then(|p| store.with_phone(location_id, p)),
        };
        let fields = self.fields();
        let (at, field, contact_id) = fields.iter().enumerate().find_map(|(i, f)| lookup(*f).map(|c| (i, *f, c.id.clone())))?;
        let ignored = fields[at + 1..].iter().copied().filter(|f| lookup(*f).is_some_and(|other| other.id != contact_id)).collect();
        Some(Match { contact_id, field, ignored })
    }
}

impl fmt::Display for DuplicateSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = Self::ALL.iter().find(|(s, _)| s == self).map_or("?", |(_, n)| n);
        f.write_str(name)
    }
}

/// A setting name the sandbox does not know.
#[derive(Debug, thiserror::Error)]
#[error("unknown duplicate setting {0:?}: expected allow, email-then-phone, phone-then-email, email-only or phone-only")]
pub struct ParseDuplicateSettingError(String);

impl FromStr for DuplicateSetting {
    type Err = ParseDuplicateSettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        Self::ALL.iter().find(|(_, n)| n.eq_ignore_ascii_case(s)).map(|(setting, _)| *setting).ok_or_else(|| ParseDuplicateSettingError(s.to_owned()))
    }
}

/// No such location in the sandbox.
#[derive(Debug, thiserror::Error)]
#[error("the sandbox has no location {0:?}")]
pub struct UnknownLocation(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_round_trip_through_their_names_and_json() {
        for (setting, name) in DuplicateSetting::ALL {
            assert_eq!(name.parse::<DuplicateSetting>().expect("known"), setting);
            assert_eq!(setting.to_string(), name);
            assert_eq!(serde_json::to_value(setting).expect("json"), serde_json::json!(name));
        }
        assert!("email".parse::<DuplicateSetting>().is_err());
    }
}
