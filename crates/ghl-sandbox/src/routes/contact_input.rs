//! Parsing and applying the contact DTOs (`CreateContactDto`, `UpdateContactDto`, `UpsertContactDto`):
//! which properties each accepts, how GHL normalizes them (E.164 phones, lowercase tags, ISO birth
//! dates, `name` split into first and last) and how an update merges into a stored contact.

use serde_json::Value;

use crate::data::dates;
use crate::data::model::{Contact, CustomField};
use crate::error::ApiError;
use crate::validate::{Fields, Patch};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dto {
    Create,
    Update,
    Upsert,
}

pub(crate) struct ContactInput {
    pub location_id: Option<String>,
    first_name: Patch<String>,
    last_name: Patch<String>,
    name: Patch<String>,
    pub email: Patch<String>,
    pub phone: Patch<String>,
    address1: Patch<String>,
    city: Patch<String>,
    state: Patch<String>,
    postal_code: Patch<String>,
    website: Patch<String>,
    timezone: Patch<String>,
    dnd: Option<bool>,
    dnd_settings: Patch<Value>,
    tags: Option<Vec<String>>,
    custom_fields: Option<Vec<CustomField>>,
    source: Patch<String>,
    date_of_birth: Patch<String>,
    country: Patch<String>,
    company_name: Patch<String>,
    assigned_to: Patch<String>,
    gender: Patch<String>,
}

impl ContactInput {
    pub(crate) fn parse(body: &Value, dto: Dto) -> Result<Self, ApiError> {
        let mut f = Fields::new(body)?;
        let location_id = match dto {
            Dto::Create | Dto::Upsert => f.required_string("locationId"),
            Dto::Update => None,
        };
        let phone = match f.string("phone") {
            Patch::Set(raw) => match normalize_phone(&raw) {
                Some(p) => Patch::Set(p),
                None => {
                    f.error("phone must be a valid phone number".to_owned());
                    Patch::Absent
                }
            },
            other => other,
        };
        let date_of_birth = match f.any("dateOfBirth") {
            None => Patch::Absent,
            Some(Value::Null) => Patch::Null,
            Some(Value::String(s)) if s.is_empty() => Patch::Null,
            Some(Value::String(s)) => match dates::parse_birth_date(s) {
                Some(d) => Patch::Set(d),
                None => {
                    f.error("dateOfBirth must be a valid date".to_owned());
                    Patch::Absent
                }
            },
            Some(_) => {
                f.error("dateOfBirth must be a valid date".to_owned());
                Patch::Absent
            }
        };
        let custom_fields = custom_fields(&mut f);
        let input = Self {
            location_id,
            first_name: f.string("firstName"),
            last_name: f.string("lastName"),
            name: f.string("name"),
            email: f.email("email"),
            phone,
            address1: f.string("address1"),
            city: f.string("city"),
            state: f.string("state"),
            postal_code: f.string("postalCode"),
            website: f.string("website"),
            timezone: f.string("timezone"),
            dnd: f.bool("dnd"),
            dnd_settings: f.object("dndSettings"),
            tags: f.string_array("tags").map(|t| normalize_tags(&t)),
            custom_fields,
            source: f.string("source"),
            date_of_birth,
            country: f.string("country"),
            assigned_to: f.string("assignedTo"),
            // UpdateContactDto declares neither companyName nor gender: GHL refuses them on PUT.
            company_name: if dto == Dto::Update { Patch::Absent } else { f.string("companyName") },
            gender: if dto == Dto::Update { Patch::Absent } else { f.string("gender") },
        };
        let _ = f.object("inboundDndSettings");
        if dto == Dto::Upsert {
            let _ = f.bool("createNewIfDuplicateAllowed");
        }
        f.finish()?;
        Ok(input)
    }

    /// Merges the input into `contact` (absent fields are kept, `null` clears).
    pub(crate) fn apply(self, c: &mut Contact) {
        let (mut first, mut last) = (self.first_name, self.last_name);
        if let Patch::Set(name) = &self.name {
            // `name` only fills in the parts that were not given separately.
            let mut parts = name.trim().splitn(2, char::is_whitespace);
            if first == Patch::Absent {
                if let Some(f) = parts.next().filter(|s| !s.is_empty()) {
                    first = Patch::Set(f.to_owned());
                }
            }
            if last == Patch::Absent {
                if let Some(l) = parts.next().map(str::trim).filter(|s| !s.is_empty()) {
                    last = Patch::Set(l.to_owned());
                }
            }
        }
        first.apply_to(&mut c.first_name);
        last.apply_to(&mut c.last_name);
        self.email.apply_to(&mut c.email);
        self.phone.apply_to(&mut c.phone);
        self.address1.apply_to(&mut c.address1);
        self.city.apply_to(&mut c.city);
        self.state.apply_to(&mut c.state);
        self.postal_code.apply_to(&mut c.postal_code);
        self.website.apply_to(&mut c.website);
        self.timezone.apply_to(&mut c.timezone);
        self.dnd_settings.apply_to(&mut c.dnd_settings);
        self.source.apply_to(&mut c.source);
        self.date_of_birth.apply_to(&mut c.date_of_birth);
        self.country.apply_to(&mut c.country);
        self.company_name.apply_to(&mut c.company_name);
        self.assigned_to.apply_to(&mut c.assigned_to);
        self.gender.apply_to(&mut c.gender);
        if let Some(dnd) = self.dnd {
            c.dnd = dnd;
        }
        if let Some(tags) = self.tags {
            c.tags = tags;
        }
        if let Some(fields) = self.custom_fields {
            // Given fields replace the ones with the same id; the others stay.
            for field in fields {
                match c.custom_fields.iter_mut().find(|f| f.id == field.id) {
                    Some(existing) => existing.value = field.value,
                    None => c.custom_fields.push(field),
                }
            }
        }
        c.reindex();
    }
}

fn custom_fields(f: &mut Fields<'_>) -> Option<Vec<CustomField>> {
    let items = match f.any("customFields") {
        None | Some(Value::Null) => return None,
        Some(Value::Array(items)) => items,
        Some(_) => {
            f.error("customFields must be an array".to_owned());
            return None;
        }
    };
    let mut fields = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(id) = item.get("id").and_then(Value::as_str) else {
            f.error(format!("customFields.{i}.id must be a string"));
            continue;
        };
        let value = match item.get("field_value").or_else(|| item.get("value")) {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(values)) => values.iter().map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)).collect::<Vec<_>>().join(", "),
            Some(other) => other.to_string(),
        };
        fields.push(CustomField { id: id.to_owned(), value });
    }
    Some(fields)
}

/// GHL stores phones in E.164: `+1 888-888-8888` → `+18888888888`; ten digits are taken as US.
pub(crate) fn normalize_phone(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 7 || digits.len() > 15 {
        return None;
    }
    if raw.trim_start().starts_with('+') {
        Some(format!("+{digits}"))
    } else if digits.len() == 10 {
        Some(format!("+1{digits}"))
    } else {
        Some(format!("+{digits}"))
    }
}

/// Tags are trimmed, lowercased and deduplicated, keeping their order.
pub(crate) fn normalize_tags(tags: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = tag.trim().to_lowercase();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_are_normalized_to_e164() {
        assert_eq!(normalize_phone("+1 888-888-8888").as_deref(), Some("+18888888888"));
        assert_eq!(normalize_phone("(512) 555-0100").as_deref(), Some("+15125550100"));
        assert_eq!(normalize_phone("+44 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(normalize_phone("12"), None);
    }

    #[test]
    fn tags_are_lowercased_and_deduplicated() {
        let tags = vec![" VIP ".to_owned(), "vip".to_owned(), "Lead".to_owned(), String::new()];
        assert_eq!(normalize_tags(&tags), ["vip", "lead"]);
    }

    #[test]
    fn update_refuses_properties_the_dto_does_not_declare() {
        let body = serde_json::json!({"firstName": "Ann", "locationId": "x", "companyName": "Acme"});
        match ContactInput::parse(&body, Dto::Update) {
            Err(ApiError::Unprocessable(m)) => {
                assert!(m.contains(&"property locationId should not exist".to_owned()), "{m:?}");
                assert!(m.contains(&"property companyName should not exist".to_owned()), "{m:?}");
            }
            _ => panic!("expected 422"),
        }
    }
}
