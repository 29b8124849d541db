//! The two GET listings: `GET /contacts/` (deprecated by GHL but still served: `locationId`, `query`,
//! `limit` ≤ 100, cursor `startAfter` + `startAfterId`, `meta` with `nextPageUrl`) and
//! `GET /contacts/business/{businessId}` (`limit`, `skip`, `query`; `count` is the total).
//! Both order contacts by `dateAdded`, then id.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Serialize;

use crate::auth::{ContactsRead, Scoped};
use crate::data::model::Contact;
use crate::data::wire::ListedContact;
use crate::error::ApiError;
use crate::reply;
use crate::state::App;

#[derive(Serialize)]
struct ListBody<'a> {
    contacts: Vec<ListedContact<'a>>,
    count: usize,
    meta: Meta,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Meta {
    total: usize,
    next_page_url: Option<String>,
    start_after_id: Option<String>,
    start_after: Option<i64>,
    current_page: usize,
    next_page: Option<usize>,
    prev_page: Option<usize>,
}

#[derive(Serialize)]
struct BusinessBody<'a> {
    contacts: Vec<ListedContact<'a>>,
    count: usize,
}

type Params = Query<HashMap<String, String>>;

/// A query-string integer within `min..=max`; class-validator wording on failure.
fn int_param(params: &HashMap<String, String>, name: &str, default: u64, min: u64, max: u64, errors: &mut Vec<String>) -> u64 {
    let Some(raw) = params.get(name) else {
        return default;
    };
    match raw.trim().parse::<f64>() {
        Ok(v) if v.fract() != 0.0 => {
            errors.push(format!("{name} must be an integer number"));
            default
        }
        Ok(v) if v < min as f64 => {
            errors.push(format!("{name} must not be less than {min}"));
            default
        }
        Ok(v) if v > max as f64 => {
            errors.push(format!("{name} must not be greater than {max}"));
            default
        }
        Ok(v) => v as u64,
        Err(_) => {
            errors.push(format!("{name} must be a number conforming to the specified constraints"));
            default
        }
    }
}

fn location_param<'a>(params: &'a HashMap<String, String>, errors: &mut Vec<String>) -> &'a str {
    match params.get("locationId").map(String::as_str) {
        Some(l) if !l.is_empty() => l,
        _ => {
            errors.push("locationId should not be empty".to_owned());
            errors.push("locationId must be a string".to_owned());
            ""
        }
    }
}

/// The `query` search text, trimmed and lower-cased; empty when absent.
fn query_param(params: &HashMap<String, String>) -> String {
    params.get("query").map(|q| q.trim().to_lowercase()).unwrap_or_default()
}

fn check(errors: Vec<String>) -> Result<(), ApiError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::Unprocessable(errors))
    }
}

pub(crate) async fn list(
    Scoped(caller, _): Scoped<ContactsRead>,
    State(app): State<App>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut errors = Vec::new();
    let location = location_param(&params, &mut errors);
    let limit = int_param(&params, "limit", 20, 1, 100, &mut errors) as usize;
    let start_after = params.get("startAfter").map(|s| match s.trim().parse::<i64>() {
        Ok(ms) => Some(ms),
        Err(_) => {
            errors.push("startAfter must be a number conforming to the specified constraints".to_owned());
            None
        }
    });
    check(errors)?;
    caller.ensure_location(location)?;
    let start_after_id = params.get("startAfterId").filter(|s| !s.is_empty());
    let query = query_param(&params);

    let store = app.read();
    let matching: Vec<&Contact> = store.ordered(location, None).filter(|c| c.matches_query(&query)).collect();
    // The cursor is exclusive. Only an id: after that contact. Only a time: after that millisecond.
    let cursor: Option<(i64, &str)> = match (start_after.flatten(), start_after_id) {
        (Some(ms), Some(id)) => Some((ms, id.as_str())),
        (None, Some(id)) => store.contact(id).map(|c| (c.date_added, c.id.as_str())),
        (Some(ms), None) => Some((ms, "~")),
        (None, None) => None,
    };
    let position = cursor.map_or(0, |cur| matching.partition_point(|c| (c.date_added, c.id.as_str()) <= cur));
    let page: Vec<&Contact> = matching.iter().skip(position).take(limit).copied().collect();
    let end = position + page.len();
    let has_more = end < matching.len();
    let last = page.last().filter(|_| has_more);
    let current_page = position / limit + 1;
    let next_page_url = last.map(|c| {
        let mut url =
            format!("{}/contacts/?locationId={}&startAfter={}&startAfterId={}&limit={limit}", app.base_url, super::oauth::encode(location), c.date_added, c.id);
        if let Some(q) = params.get("query") {
            url.push_str("&query=");
            url.push_str(&super::oauth::encode(q));
        }
        url
    });
    let meta = Meta {
        total: matching.len(),
        next_page_url,
        start_after_id: last.map(|c| c.id.clone()),
        start_after: last.map(|c| c.date_added),
        current_page,
        next_page: has_more.then_some(current_page + 1),
        prev_page: (current_page > 1).then(|| current_page - 1),
    };
    let contacts = page.into_iter().map(ListedContact::new).collect::<Vec<_>>();
    Ok(reply::ok(&ListBody { count: contacts.len(), contacts, meta }))
}

pub(crate) async fn by_business(
    Scoped(caller, _): Scoped<ContactsRead>,
    State(app): State<App>,
    Path(business_id): Path<String>,
    params: Result<Params, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let mut errors = Vec::new();
    let location = location_param(&params, &mut errors);
    let limit = int_param(&params, "limit", 25, 1, 100, &mut errors) as usize;
    let skip = int_param(&params, "skip", 0, 0, u64::from(u32::MAX), &mut errors) as usize;
    check(errors)?;
    caller.ensure_location(location)?;
    let query = query_param(&params);

    let store = app.read();
    let matching: Vec<&Contact> =
        store.ordered(location, None).filter(|c| c.business_id.as_deref() == Some(business_id.as_str()) && c.matches_query(&query)).collect();
    let contacts = matching.iter().skip(skip).take(limit).map(|c| ListedContact::new(c)).collect();
    Ok(reply::ok(&BusinessBody { contacts, count: matching.len() }))
}
