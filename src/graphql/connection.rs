//! `ContactConnection`: Relay-style pages of contacts over GHL's two list endpoints, and their cursors.
//!
//! Search pages with GHL's `searchAfter` cursor; the business list pages by offset. Both hide
//! behind one cursor type, `payload.tag`: the payload is base64url JSON, the tag an HMAC-SHA256
//! over it and the tenant's location. A cursor therefore only comes back from this API (or a
//! replica sharing `CURSOR_SECRET`), for the same location, and its contents are bounded again on
//! the way in, so a client can never make us forward JSON of its choosing to GHL.

use std::sync::Arc;

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::SimpleObject;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::OsRng;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::contact::Contact;
use crate::error::{AppError, AppResult};

type HmacSha256 = Hmac<Sha256>;

/// The largest page a client may ask for.
pub const MAX_PAGE_SIZE: i32 = 100;

/// The furthest offset a business-list cursor may hold: GHL's offset paging reaches 10,000 records.
pub const MAX_SKIP: u64 = 10_000;
/// GHL's `searchAfter` is a short tuple of scalars (`[dateAdded, id]`).
const MAX_SEARCH_AFTER_VALUES: usize = 4;
const MAX_SEARCH_AFTER_STRING: usize = 128;
/// Longer input is refused before any decoding.
const MAX_CURSOR_LEN: usize = 1024;

/// Where the next page starts, in the upstream's own terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum PageCursor {
    /// `POST /contacts/search`: the `searchAfter` of the last contact seen.
    SearchAfter(Vec<serde_json::Value>),
    /// `GET /contacts/business/{id}`: how many contacts to skip.
    Skip(u64),
}

impl PageCursor {
    /// True when the contents are of a shape and size this API issues.
    fn within_bounds(&self) -> bool {
        match self {
            Self::Skip(skip) => *skip <= MAX_SKIP,
            Self::SearchAfter(values) => {
                values.len() <= MAX_SEARCH_AFTER_VALUES
                    && values.iter().all(|value| match value {
                        serde_json::Value::String(s) => s.len() <= MAX_SEARCH_AFTER_STRING,
                        serde_json::Value::Array(_) | serde_json::Value::Object(_) => false,
                        serde_json::Value::Null | serde_json::Value::Bool(_) | serde_json::Value::Number(_) => true,
                    })
            }
        }
    }
}

/// Why an `after` argument was refused. Clients see one message for all of them, so a forger
/// learns nothing about which check failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CursorError {
    #[error("not of the form payload.tag")]
    Malformed,
    #[error("signed by another key or for another location")]
    BadSignature,
    #[error("contents out of bounds")]
    OutOfBounds,
    #[error("cursors are decoded with their tenant's key")]
    NeedsTenant,
}

impl From<CursorError> for AppError {
    fn from(_: CursorError) -> Self {
        AppError::BadUserInput("`after` is not a cursor this API issued".into())
    }
}

/// The key cursors are signed with: derived from `CURSOR_SECRET`, or random per process.
#[derive(Clone)]
pub struct CursorKey(Arc<[u8; 32]>);

impl CursorKey {
    /// Derived, so the configured secret itself never signs anything public.
    pub fn from_secret(secret: &SecretString) -> Self {
        let mut mac = keyed(&Sha256::digest(secret.expose_secret().as_bytes()).into());
        mac.update(b"ghl-subgraph cursor key v1");
        Self(Arc::new(mac.finalize().into_bytes().into()))
    }

    /// A key of this process only: cursors stop working across a restart or another replica.
    pub fn random() -> Self {
        let mut key = [0u8; 32];
        OsRng.fill_bytes(&mut key);
        Self(Arc::new(key))
    }

    /// Signs and checks cursors for one location.
    pub fn for_location(&self, location: &str) -> TenantCursors {
        TenantCursors { key: self.clone(), location: Arc::from(location) }
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey([redacted])")
    }
}

/// The cursor codec of one request's tenant.
#[derive(Clone, Debug)]
pub struct TenantCursors {
    key: CursorKey,
    location: Arc<str>,
}

impl TenantCursors {
    pub fn encode(&self, cursor: &PageCursor) -> String {
        // Serialising a Vec of JSON values or a u64 cannot fail; an empty payload would be refused.
        let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(cursor).unwrap_or_default());
        let tag = URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    /// The cursor, if this API issued it for this location and its contents are in bounds.
    pub fn decode(&self, raw: &str) -> Result<PageCursor, CursorError> {
        if raw.len() > MAX_CURSOR_LEN {
            return Err(CursorError::OutOfBounds);
        }
        let (payload, tag) = raw.split_once('.').ok_or(CursorError::Malformed)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| CursorError::Malformed)?;
        self.mac(payload).verify_slice(&tag).map_err(|_| CursorError::BadSignature)?;
        let json = URL_SAFE_NO_PAD.decode(payload).map_err(|_| CursorError::Malformed)?;
        let cursor: PageCursor = serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)?;
        // Checked even when signed: a leaked or reused secret must not widen what reaches GHL.
        if !cursor.within_bounds() {
            return Err(CursorError::OutOfBounds);
        }
        Ok(cursor)
    }

    /// The location is NUL-separated from the payload, which is base64 and so holds no NUL.
    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = keyed(&self.key.0);
        mac.update(b"ghl-subgraph cursor v1\0");
        mac.update(self.location.as_bytes());
        mac.update(b"\0");
        mac.update(payload.as_bytes());
        mac
    }
}

/// A 32-byte key zero-padded to SHA-256's block is exactly HMAC's own padding, and infallible.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

/// An edge's cursor as async-graphql writes it: the position and the codec that signs it.
pub struct SignedCursor {
    cursor: PageCursor,
    cursors: TenantCursors,
}

impl CursorType for SignedCursor {
    type Error = CursorError;

    /// Never used: decoding needs the tenant (see [`page_request`]).
    fn decode_cursor(_: &str) -> Result<Self, CursorError> {
        Err(CursorError::NeedsTenant)
    }

    fn encode_cursor(&self) -> String {
        self.cursors.encode(&self.cursor)
    }
}

/// Totals that GHL reports alongside a page.
#[derive(SimpleObject)]
pub struct ConnectionTotals {
    /// How many contacts match in all, when GHL says.
    pub total_count: Option<i32>,
}

pub type ContactConnection = Connection<SignedCursor, Contact, ConnectionTotals>;

/// Checks `first` and decodes `after` with the tenant's codec.
pub fn page_request(cursors: &TenantCursors, first: i32, after: Option<&str>) -> AppResult<(u32, Option<PageCursor>)> {
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(AppError::BadUserInput(format!("`first` must be between 0 and {MAX_PAGE_SIZE}")));
    }
    let cursor = after.map(|raw| cursors.decode(raw)).transpose()?;
    Ok((first as u32, cursor))
}

/// Builds a page from rows fetched with one extra row to learn whether more follow.
pub fn page(cursors: &TenantCursors, mut rows: Vec<(PageCursor, Contact)>, first: u32, has_previous_page: bool, total: Option<u64>) -> ContactConnection {
    let has_next_page = rows.len() > first as usize;
    rows.truncate(first as usize);
    let total_count = total.map(|t| i32::try_from(t).unwrap_or(i32::MAX));
    let mut connection = Connection::with_additional_fields(has_previous_page, has_next_page, ConnectionTotals { total_count });
    connection.edges.extend(rows.into_iter().map(|(cursor, node)| Edge::new(SignedCursor { cursor, cursors: cursors.clone() }, node)));
    connection
}

/// A page of any list paged by offset (`after` holds the offset), as [`page`] builds contacts'.
pub fn offset_page<T: async_graphql::OutputType>(cursors: &TenantCursors, offset: u64, rows: Vec<T>, has_next_page: bool) -> Connection<SignedCursor, T> {
    let mut connection = Connection::new(offset > 0, has_next_page);
    connection.edges.extend(
        rows.into_iter()
            .enumerate()
            .map(|(i, node)| Edge::new(SignedCursor { cursor: PageCursor::Skip(offset + i as u64 + 1), cursors: cursors.clone() }, node)),
    );
    connection
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn codec(location: &str) -> TenantCursors {
        CursorKey::from_secret(&SecretString::from("a-test-secret-of-some-length")).for_location(location)
    }

    fn search_after() -> PageCursor {
        PageCursor::SearchAfter(vec![json!(1_700_000_000_000_i64), json!("contact-1")])
    }

    /// A cursor with any payload, correctly signed, as a holder of the secret could make one.
    fn signed_raw(cursors: &TenantCursors, json: &serde_json::Value) -> String {
        let payload = URL_SAFE_NO_PAD.encode(json.to_string());
        let tag = URL_SAFE_NO_PAD.encode(cursors.mac(&payload).finalize().into_bytes());
        format!("{payload}.{tag}")
    }

    #[test]
    fn issued_cursors_decode_for_their_own_location() {
        let cursors = codec("loc-a");
        for cursor in [search_after(), PageCursor::Skip(40), PageCursor::SearchAfter(Vec::new())] {
            assert_eq!(cursors.decode(&cursors.encode(&cursor)), Ok(cursor));
        }
    }

    #[test]
    fn a_cursor_of_another_location_or_key_is_refused() {
        let raw = codec("loc-a").encode(&search_after());
        assert_eq!(codec("loc-b").decode(&raw), Err(CursorError::BadSignature));
        let other_key = CursorKey::from_secret(&SecretString::from("another-secret-0123456789")).for_location("loc-a");
        assert_eq!(other_key.decode(&raw), Err(CursorError::BadSignature));
        assert_eq!(CursorKey::random().for_location("loc-a").decode(&raw), Err(CursorError::BadSignature));
    }

    #[test]
    fn a_tampered_cursor_is_refused() {
        let cursors = codec("loc-a");
        let raw = cursors.encode(&PageCursor::Skip(20));
        for index in 0..raw.len() {
            let mut bytes = raw.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).expect("ascii");
            assert!(cursors.decode(&tampered).is_err(), "byte {index} flipped: {tampered}");
        }
    }

    #[test]
    fn unsigned_cursors_of_the_old_format_are_refused() {
        let old = URL_SAFE_NO_PAD.encode(json!({ "Skip": u64::MAX }).to_string());
        assert_eq!(codec("loc-a").decode(&old), Err(CursorError::Malformed));
        assert_eq!(codec("loc-a").decode(&format!("{old}.")), Err(CursorError::BadSignature));
        assert_eq!(codec("loc-a").decode(""), Err(CursorError::Malformed));
    }

    #[test]
    fn signed_contents_out_of_bounds_are_still_refused() {
        let cursors = codec("loc-a");
        let long = "x".repeat(MAX_SEARCH_AFTER_STRING + 1);
        for payload in [
            json!({ "Skip": MAX_SKIP + 1 }),
            json!({ "Skip": u64::MAX }),
            json!({ "SearchAfter": [1, 2, 3, 4, 5] }),
            json!({ "SearchAfter": [{ "nested": true }] }),
            json!({ "SearchAfter": [[1]] }),
            json!({ "SearchAfter": [long] }),
        ] {
            assert_eq!(cursors.decode(&signed_raw(&cursors, &payload)), Err(CursorError::OutOfBounds), "{payload}");
        }
        assert_eq!(cursors.decode(&signed_raw(&cursors, &json!({ "Skip": MAX_SKIP }))), Ok(PageCursor::Skip(MAX_SKIP)));
        assert_eq!(cursors.decode(&signed_raw(&cursors, &json!({ "Other": 1 }))), Err(CursorError::Malformed));
        assert_eq!(cursors.decode(&"A".repeat(MAX_CURSOR_LEN + 1)), Err(CursorError::OutOfBounds));
    }

    #[test]
    fn the_same_secret_gives_the_same_key_so_replicas_agree() {
        let raw = codec("loc-a").encode(&search_after());
        assert_eq!(codec("loc-a").decode(&raw), Ok(search_after()));
        assert!(!raw.contains("a-test-secret"), "the secret is not in the cursor");
    }
}
