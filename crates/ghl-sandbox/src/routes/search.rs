//! `POST /contacts/search` (GHL's "search contacts advanced"): `locationId` and `pageLimit` (≤ 500)
//! required, `page` (1-based, the first 10,000 results only) or the `searchAfter` cursor
//! (`[dateAddedMs, "id"]`, taken from the last contact of the previous page), `query`, and `filters`:
//! `{field, operator, value}` or `{group: "AND"|"OR", filters: [...]}`, with operators `eq`,
//! `not_eq`, `contains`, `not_contains`, `exists`, `not_exists`. `sort` is accepted but results are
//! always ordered by `dateAdded`, then id. Answers `{contacts, total, traceId}`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use serde_json::Value;

use super::contact_input::normalize_phone;
use crate::auth::{ContactsRead, Scoped};
use crate::data::model::Contact;
use crate::data::wire::ListedContact;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;
use crate::validate::{Fields, JsonBody};

/// Page-based pagination stops here; beyond, GHL requires `searchAfter`.
const MAX_PAGED_RESULTS: u64 = 10_000;

const FIELDS: &[&str] = &[
    "id",
    "email",
    "phone",
    "tags",
    "businessId",
    "firstName",
    "lastName",
    "firstNameLowerCase",
    "lastNameLowerCase",
    "companyName",
    "assignedTo",
    "dnd",
    "type",
    "source",
    "city",
    "state",
    "country",
];

#[derive(Serialize)]
struct SearchBody<'a> {
    contacts: Vec<ListedContact<'a>>,
    total: usize,
    #[serde(rename = "traceId")]
    trace_id: String,
}

#[derive(Debug)]
enum Filter {
    Condition { field: String, op: Op, value: Value },
    Group { any: bool, filters: Vec<Filter> },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Eq,
    NotEq,
    Contains,
    NotContains,
    Exists,
    NotExists,
}

fn parse_filters(value: &Value, at: &str, errors: &mut Vec<String>) -> Vec<Filter> {
    let Value::Array(items) = value else {
        errors.push(format!("{at} must be an array"));
        return Vec::new();
    };
    items.iter().enumerate().filter_map(|(i, item)| parse_filter(item, &format!("{at}.{i}"), errors)).collect()
}

fn parse_filter(item: &Value, at: &str, errors: &mut Vec<String>) -> Option<Filter> {
    if let Some(group) = item.get("group") {
        let any = match group.as_str() {
            Some(g) if g.eq_ignore_ascii_case("or") => true,
            Some(g) if g.eq_ignore_ascii_case("and") => false,
            _ => {
                errors.push(format!("{at}.group must be one of the following values: AND, OR"));
                return None;
            }
        };
        let filters = parse_filters(item.get("filters").unwrap_or(&Value::Null), &format!("{at}.filters"), errors);
        return Some(Filter::Group { any, filters });
    }
    let field = match item.get("field").and_then(Value::as_str) {
        Some(f) if FIELDS.contains(&f) => f.to_owned(),
        Some(f) => {
            errors.push(format!("{at}.field {f} is not supported; supported fields: {}", FIELDS.join(", ")));
            return None;
        }
        None => {
            errors.push(format!("{at}.field must be a string"));
            return None;
        }
    };
    let op = match item.get("operator").and_then(Value::as_str) {
        Some("eq") => Op::Eq,
        Some("not_eq") => Op::NotEq,
        Some("contains") => Op::Contains,
        Some("not_contains") => Op::NotContains,
        Some("exists") => Op::Exists,
        Some("not_exists") => Op::NotExists,
        _ => {
            errors.push(format!("{at}.operator must be one of the following values: eq, not_eq, contains, not_contains, exists, not_exists"));
            return None;
        }
    };
    let value = item.get("value").cloned().unwrap_or(Value::Null);
    if !matches!(op, Op::Exists | Op::NotExists) && value.is_null() {
        errors.push(format!("{at}.value should not be empty"));
        return None;
    }
    Some(Filter::Condition { field, op, value })
}

/// A contact's value for a filter field.
enum FieldValue<'a> {
    Text(Option<&'a str>),
    Owned(Option<String>),
    List(&'a [String]),
    Bool(bool),
}

fn field_value<'a>(c: &'a Contact, field: &str) -> FieldValue<'a> {
    match field {
        "id" => FieldValue::Text(Some(&c.id)),
        "email" => FieldValue::Text(c.email.as_deref()),
        "phone" => FieldValue::Text(c.phone.as_deref()),
        "tags" => FieldValue::List(&c.tags),
        "businessId" => FieldValue::Text(c.business_id.as_deref()),
        "firstName" | "firstNameLowerCase" => FieldValue::Text(c.first_name.as_deref()),
        "lastName" | "lastNameLowerCase" => FieldValue::Text(c.last_name.as_deref()),
        "companyName" => FieldValue::Text(c.company_name.as_deref()),
        "assignedTo" => FieldValue::Text(c.assigned_to.as_deref()),
        "dnd" => FieldValue::Bool(c.dnd),
        "type" => FieldValue::Text(Some(&c.kind)),
        "source" => FieldValue::Text(c.source.as_deref()),
        "city" => FieldValue::Text(c.city.as_deref()),
        "state" => FieldValue::Text(c.state.as_deref()),
        "country" => FieldValue::Text(c.country.as_deref()),
        _ => FieldValue::Owned(None),
    }
}

/// The wanted values: a string or an array of them (any matches). Phones compare in E.164.
fn wanted(value: &Value, field: &str) -> Vec<String> {
    let one = |v: &Value| -> Option<String> {
        let s = match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        Some(if field == "phone" { normalize_phone(&s).unwrap_or(s) } else { s.to_lowercase() })
    };
    match value {
        Value::Array(items) => items.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

fn matches(c: &Contact, filter: &Filter) -> bool {
    match filter {
        Filter::Group { any: true, filters } => filters.iter().any(|f| matches(c, f)),
        Filter::Group { any: false, filters } => filters.iter().all(|f| matches(c, f)),
        Filter::Condition { field, op, value } => {
            let actual = field_value(c, field);
            let texts: Vec<String> = match &actual {
                FieldValue::Text(t) => t.iter().map(|s| s.to_lowercase()).collect(),
                FieldValue::Owned(t) => t.iter().map(|s| s.to_lowercase()).collect(),
                FieldValue::List(l) => l.iter().map(|s| s.to_lowercase()).collect(),
                FieldValue::Bool(b) => vec![b.to_string()],
            };
            let texts: Vec<String> = if field == "phone" {
                match &actual {
                    FieldValue::Text(Some(p)) => vec![(*p).to_owned()],
                    _ => Vec::new(),
                }
            } else {
                texts
            };
            let wanted = wanted(value, field);
            match op {
                Op::Exists => !texts.iter().all(String::is_empty),
                Op::NotExists => texts.iter().all(String::is_empty),
                Op::Eq => texts.iter().any(|t| wanted.contains(t)),
                Op::NotEq => !texts.iter().any(|t| wanted.contains(t)),
                Op::Contains => texts.iter().any(|t| wanted.iter().any(|w| t.contains(w.as_str()))),
                Op::NotContains => !texts.iter().any(|t| wanted.iter().any(|w| t.contains(w.as_str()))),
            }
        }
    }
}

fn search_after(value: Option<&Value>, errors: &mut Vec<String>) -> Option<(i64, String)> {
    let value = value.filter(|v| !v.is_null())?;
    let parsed = value.as_array().filter(|a| a.len() == 2).and_then(|a| {
        let ms = a[0].as_i64().or_else(|| a[0].as_str().and_then(|s| s.parse().ok()))?;
        Some((ms, a[1].as_str()?.to_owned()))
    });
    if parsed.is_none() {
        errors.push("searchAfter must be an array of [dateAdded in epoch milliseconds, contact id]".to_owned());
    }
    parsed
}

pub(crate) async fn search(Scoped(caller, _): Scoped<ContactsRead>, State(app): State<App>, JsonBody(body): JsonBody) -> Result<Response, ApiError> {
    let mut f = Fields::new(&body)?;
    let location = f.required_string("locationId");
    let page_limit = f.integer("pageLimit", 1, 500);
    if body.get("pageLimit").is_none_or(Value::is_null) {
        f.error("pageLimit should not be empty".to_owned());
        f.error("pageLimit must be a number conforming to the specified constraints".to_owned());
    }
    let page = f.integer("page", 1, u64::from(u32::MAX));
    let query = f.string("query").into_option().map(|q| q.trim().to_lowercase()).unwrap_or_default();
    let _ = f.any("sort");
    let mut errors = Vec::new();
    let cursor = search_after(f.any("searchAfter"), &mut errors);
    let filters = f.any("filters").filter(|v| !v.is_null()).map(|v| parse_filters(v, "filters", &mut errors)).unwrap_or_default();
    let page_limit = page_limit.unwrap_or(20);
    if cursor.is_none() && page.unwrap_or(1) * page_limit > MAX_PAGED_RESULTS {
        errors.push(format!("page * pageLimit must not exceed {MAX_PAGED_RESULTS}; use searchAfter to go further"));
    }
    for e in errors {
        f.error(e);
    }
    f.finish()?;
    let location = location.unwrap_or_default();
    caller.ensure_location(&location)?;

    let trace_id = crate::data::ids::trace_id();
    let store = app.read();
    let matching: Vec<&Contact> = store.ordered(&location, None).filter(|c| c.matches_query(&query) && filters.iter().all(|flt| matches(c, flt))).collect();
    let start = match &cursor {
        Some((ms, id)) => matching.partition_point(|c| (c.date_added, c.id.as_str()) <= (*ms, id.as_str())),
        None => (page.unwrap_or(1) - 1) as usize * page_limit as usize,
    };
    let contacts = matching.iter().skip(start).take(page_limit as usize).map(|c| ListedContact::searched(c)).collect();
    Ok(reply::ok(&SearchBody { contacts, total: matching.len(), trace_id }))
}
