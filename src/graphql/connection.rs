//! `ContactConnection`: Relay-style pages of contacts over GHL's two list endpoints.
//!
//! Search pages with GHL's `searchAfter` cursor; the business list pages by offset. Both hide
//! behind one opaque cursor type, so clients never see or build GHL's cursor formats.

use async_graphql::connection::{Connection, CursorType, Edge, OpaqueCursor};
use async_graphql::SimpleObject;
use serde::{Deserialize, Serialize};

use super::contact::Contact;
use crate::error::{AppError, AppResult};

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// Where the next page starts, in the upstream's own terms.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum PageCursor {
    /// `POST /contacts/search`: the `searchAfter` of the last contact seen.
    SearchAfter(Vec<serde_json::Value>),
    /// `GET /contacts/business/{id}`: how many contacts to skip.
    Skip(u64),
}

/// Totals that GHL reports alongside a page.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many contacts match in all, when GHL says.
    pub total_count: Option<i32>,
}

pub type ContactConnection = Connection<OpaqueCursor<PageCursor>, Contact, ConnectionTotals>;

/// Checks `first` and decodes `after`.
pub fn page_request(first: i32, after: Option<&str>) -> AppResult<(u32, Option<PageCursor>)> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::BadUserInput(format!("`first` must be between 0 and {MAX_PAGE_SIZE}")));
    }
    let cursor = after
        .map(|raw| {
            OpaqueCursor::<PageCursor>::decode_cursor(raw)
                .map(|c| c.0)
                .map_err(|_| AppError::BadUserInput("`after` is not a cursor this API issued".into()))
        })
        .transpose()?;
    Ok((first as u32, cursor))
}

/// Builds a page from rows fetched with one extra row to learn whether more follow.
pub fn page(
    mut rows: Vec<(PageCursor, Contact)>,
    first: u32,
    has_previous_page: bool,
    total: Option<u64>,
) -> ContactConnection {
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    let total_count = total.map(|t| i32::try_from(t).unwrap_or(i32::MAX));
    let mut connection = Connection::with_additional_fields(has_previous_page, has_next_page, ConnectionTotals { total_count });
    connection.edges.extend(rows.into_iter().map(|(cursor, node)| Edge::new(OpaqueCursor(cursor), node)));
    connection
}
