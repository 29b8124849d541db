//! Persisted queries, resolved before execution so every operation limit still applies to the text.
//!
//! - `apq`: Apollo's automatic persisted queries. A request may carry only
//!   `extensions.persistedQuery.sha256Hash`; an unknown hash answers `PersistedQueryNotFound`
//!   (code `PERSISTED_QUERY_NOT_FOUND`) and the client retries with the text, which registers it in
//!   a bounded in-memory LRU. We keep text, not parsed documents (as async-graphql's `apq` extension
//!   does), so the parser's recursion and size limits run on every request. Registrations are
//!   partitioned by tenant ([`ApqPartition`]): a hash alone never tells one tenant what another ran.
//! - `safelist`: only operations from a file run; anything else is `PERSISTED_QUERY_NOT_IN_SAFELIST`.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_graphql::{Request, ServerError};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::ErrorCode;

/// How the server treats `extensions.persistedQuery`.
#[derive(Debug)]
pub enum PersistedQueries {
    /// Full text only; a hash alone answers `PERSISTED_QUERY_NOT_SUPPORTED`.
    Off,
    Apq(ApqCache),
    Safelist(Safelist),
}

/// Why a request's persisted query could not be used. Each maps to a stable code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PersistedError {
    /// Apollo clients match this exact message to fall back to sending the text.
    #[error("PersistedQueryNotFound")]
    NotFound,
    #[error("PersistedQueryNotSupported")]
    NotSupported,
    #[error("provided sha does not match query")]
    HashMismatch,
    #[error("this server only runs operations from its safelist")]
    NotInSafelist,
    #[error("{0}")]
    Malformed(&'static str),
}

impl PersistedError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::NotFound => ErrorCode::PersistedQueryNotFound,
            Self::NotSupported => ErrorCode::PersistedQueryNotSupported,
            Self::HashMismatch => ErrorCode::PersistedQueryHashMismatch,
            Self::NotInSafelist => ErrorCode::PersistedQueryNotInSafelist,
            Self::Malformed(_) => ErrorCode::BadRequest,
        }
    }

    /// The error as a GraphQL request error (no path: nothing ran).
    pub fn into_server_error(self) -> ServerError {
        self.code().server_error(self.to_string())
    }
}

/// `extensions.persistedQuery` as Apollo clients send it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PersistedQueryExtension {
    version: i64,
    sha256_hash: String,
}

/// Whose APQ registrations a request sees: a SHA-256 over what identifies its tenant, so no
/// credential is kept as a key. The safelist is global and ignores it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ApqPartition([u8; 32]);

impl ApqPartition {
    /// The one partition of a server with a single tenant (static mode).
    pub fn shared() -> Self {
        Self([0; 32])
    }

    /// The partition of the tenant these parts (header values) name; each part is
    /// length-prefixed, so different parts never run together into the same input.
    pub fn of(parts: &[&[u8]]) -> Self {
        let mut hash = Sha256::new();
        hash.update(b"ghl-subgraph apq partition v1");
        for part in parts {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Self(hash.finalize().into())
    }
}

impl PersistedQueries {
    /// Fills in `request.query` from a persisted query, or refuses the request. A request
    /// without the extension and without text is left alone (the handler answers "no query").
    /// APQ registers and looks up within `partition` only.
    pub fn resolve(&self, request: &mut Request, partition: &ApqPartition) -> Result<(), PersistedError> {
        let hash = match request.extensions.remove("persistedQuery") {
            None => None,
            Some(value) => {
                let extension: PersistedQueryExtension =
                    async_graphql::from_value(value).map_err(|_| PersistedError::Malformed("`extensions.persistedQuery` needs `version` and `sha256Hash`"))?;
                if extension.version != 1 {
                    return Err(PersistedError::Malformed("only version 1 of `extensions.persistedQuery` is supported"));
                }
                // A safelist may use a manifest's own ids; APQ needs a real sha256.
                match self {
                    Self::Safelist(_) => Some(extension.sha256_hash.trim().to_ascii_lowercase()),
                    _ => Some(normalise_hash(&extension.sha256_hash)?),
                }
            }
        };
        let has_text = !request.query.trim().is_empty();
        match (self, hash) {
            (Self::Off, None) | (Self::Apq(_), None) => Ok(()),
            (Self::Off, Some(_)) if has_text => Ok(()),
            (Self::Off, Some(_)) => Err(PersistedError::NotSupported),
            (Self::Apq(cache), Some(hash)) if has_text => {
                if sha256_hex(&request.query) != hash {
                    return Err(PersistedError::HashMismatch);
                }
                cache.register(partition, hash, &request.query);
                Ok(())
            }
            (Self::Apq(cache), Some(hash)) => {
                request.query = cache.get(partition, &hash).ok_or(PersistedError::NotFound)?.to_string();
                Ok(())
            }
            (Self::Safelist(list), Some(hash)) => {
                let body = list.get(&hash).ok_or(PersistedError::NotInSafelist)?;
                if has_text && request.query.as_str() != &**body {
                    return Err(PersistedError::HashMismatch);
                }
                request.query = body.to_string();
                Ok(())
            }
            (Self::Safelist(_), None) if !has_text => Ok(()),
            (Self::Safelist(list), None) => match list.get(&sha256_hex(&request.query)) {
                Some(body) if **body == *request.query => Ok(()),
                _ => Err(PersistedError::NotInSafelist),
            },
        }
    }
}

/// Hashes are lowercase hex SHA-256; clients differ in case, so we fold it.
fn normalise_hash(raw: &str) -> Result<String, PersistedError> {
    let hash = raw.trim().to_ascii_lowercase();
    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hash)
    } else {
        Err(PersistedError::Malformed("`sha256Hash` must be 64 hex digits"))
    }
}

/// The lowercase hex SHA-256 of an operation's text, as Apollo clients compute it.
pub fn sha256_hex(text: &str) -> String {
    use std::fmt::Write as _;
    Sha256::digest(text.as_bytes()).iter().fold(String::with_capacity(64), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

/// APQ's registry: one bounded LRU of (partition, hash) → text, its capacity shared by all
/// tenants. Memory stays below `capacity × max_entry_bytes`.
pub struct ApqCache {
    entries: Mutex<lru::LruCache<(ApqPartition, String), Arc<str>>>,
    max_entry_bytes: usize,
}

impl ApqCache {
    pub fn new(capacity: NonZeroUsize, max_entry_bytes: usize) -> Self {
        Self { entries: Mutex::new(lru::LruCache::new(capacity)), max_entry_bytes }
    }

    fn get(&self, partition: &ApqPartition, hash: &str) -> Option<Arc<str>> {
        let key = (partition.clone(), hash.to_owned());
        self.entries.lock().unwrap_or_else(PoisonError::into_inner).get(&key).cloned()
    }

    /// Texts larger than the operation size limit are not kept: they would be refused anyway.
    fn register(&self, partition: &ApqPartition, hash: String, text: &str) {
        if text.len() <= self.max_entry_bytes {
            self.entries.lock().unwrap_or_else(PoisonError::into_inner).put((partition.clone(), hash), Arc::from(text));
        }
    }
}

impl std::fmt::Debug for ApqCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        write!(f, "ApqCache({}/{})", entries.len(), entries.cap())
    }
}

/// The operations a `safelist` server runs, by id (a sha256, or a manifest's own id) and by
/// the sha256 of their text.
#[derive(Debug, Default)]
pub struct Safelist(HashMap<String, Arc<str>>);

#[derive(Debug, thiserror::Error)]
pub enum SafelistError {
    #[error("reading the safelist file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the safelist file {path} is not valid: {reason}")]
    Invalid { path: String, reason: String },
}

/// The shapes a safelist file may take.
#[derive(Deserialize)]
#[serde(untagged)]
enum SafelistFile {
    /// Apollo's persisted query manifest: `{ "format": …, "operations": [{ "id", "body" }] }`.
    Manifest { operations: Vec<SafelistEntry> },
    /// `{ "<sha256>": "<operation text>" }`.
    Map(HashMap<String, String>),
    /// `["<operation text>", { "id"?, "body" | "query" }]`.
    List(Vec<SafelistEntry>),
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SafelistEntry {
    Text(String),
    Operation {
        id: Option<String>,
        #[serde(alias = "query")]
        body: String,
    },
}

impl Safelist {
    pub fn load(path: &Path) -> Result<Self, SafelistError> {
        let shown = path.display().to_string();
        let raw = std::fs::read_to_string(path).map_err(|source| SafelistError::Read { path: shown.clone(), source })?;
        Self::parse(&raw).map_err(|reason| SafelistError::Invalid { path: shown, reason })
    }

    /// Parses the file's text; a map key that is not its text's sha256 is refused, since a client
    /// computing the hash would never find it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let file: SafelistFile =
            serde_json::from_str(raw).map_err(|e| format!("expected a JSON map of sha256 → operation, a list of operations, or an Apollo manifest ({e})"))?;
        let mut list = Self::default();
        match file {
            SafelistFile::Map(map) => {
                for (hash, body) in map {
                    let hash = normalise_hash(&hash).map_err(|_| format!("key `{hash}` is not a sha256"))?;
                    if sha256_hex(&body) != hash {
                        return Err(format!("key `{hash}` is not the sha256 of its operation"));
                    }
                    list.insert(Some(hash), body);
                }
            }
            SafelistFile::Manifest { operations } | SafelistFile::List(operations) => {
                for entry in operations {
                    match entry {
                        SafelistEntry::Text(body) => list.insert(None, body),
                        SafelistEntry::Operation { id, body } => list.insert(id, body),
                    }
                }
            }
        }
        if list.0.is_empty() {
            return Err("it holds no operation".into());
        }
        Ok(list)
    }

    fn insert(&mut self, id: Option<String>, body: String) {
        let body: Arc<str> = Arc::from(body);
        self.0.insert(sha256_hex(&body), body.clone());
        if let Some(id) = id {
            self.0.insert(id.trim().to_ascii_lowercase(), body);
        }
    }

    fn get(&self, id: &str) -> Option<&Arc<str>> {
        self.0.get(id)
    }

    /// Distinct operations held.
    pub fn len(&self) -> usize {
        let mut bodies: Vec<&str> = self.0.values().map(|b| &**b).collect();
        bodies.sort_unstable();
        bodies.dedup();
        bodies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const QUERY: &str = "{ __typename }";

    fn with_hash(query: &str, hash: &str) -> Request {
        let mut request = Request::new(query);
        request.extensions.insert("persistedQuery".into(), async_graphql::Value::from_json(json!({ "version": 1, "sha256Hash": hash })).unwrap());
        request
    }

    fn shared() -> ApqPartition {
        ApqPartition::shared()
    }

    fn apq() -> PersistedQueries {
        PersistedQueries::Apq(ApqCache::new(NonZeroUsize::new(2).unwrap(), 1024))
    }

    #[test]
    fn sha256_matches_what_apollo_clients_send() {
        // `printf %s "{ __typename }" | sha256sum`
        assert_eq!(sha256_hex(QUERY), "7f56e67dd21ab3f30d1ff8b7bed08893f0a0db86449836189b361dd1e56ddb4b");
    }

    #[test]
    fn an_unknown_hash_is_not_found_until_registered_with_its_text() {
        let pq = apq();
        let hash = sha256_hex(QUERY);
        assert_eq!(pq.resolve(&mut with_hash("", &hash), &shared()), Err(PersistedError::NotFound));

        assert_eq!(pq.resolve(&mut with_hash(QUERY, &hash), &shared()), Ok(()));
        let mut by_hash = with_hash("", &hash.to_uppercase());
        assert_eq!(pq.resolve(&mut by_hash, &shared()), Ok(()));
        assert_eq!(by_hash.query, QUERY);
    }

    #[test]
    fn a_hash_that_does_not_match_the_text_is_refused_and_not_registered() {
        let pq = apq();
        let wrong = sha256_hex("{ other }");
        assert_eq!(pq.resolve(&mut with_hash(QUERY, &wrong), &shared()), Err(PersistedError::HashMismatch));
        assert_eq!(pq.resolve(&mut with_hash("", &wrong), &shared()), Err(PersistedError::NotFound));
    }

    #[test]
    fn the_apq_cache_is_bounded() {
        let pq = apq();
        for text in ["{ a }", "{ b }", "{ c }"] {
            pq.resolve(&mut with_hash(text, &sha256_hex(text)), &shared()).unwrap();
        }
        assert_eq!(pq.resolve(&mut with_hash("", &sha256_hex("{ a }")), &shared()), Err(PersistedError::NotFound), "oldest evicted");
        assert_eq!(pq.resolve(&mut with_hash("", &sha256_hex("{ c }")), &shared()), Ok(()));
        let big = format!("{{ __typename {} }}", " ".repeat(2000));
        pq.resolve(&mut with_hash(&big, &sha256_hex(&big)), &shared()).unwrap();
        assert_eq!(pq.resolve(&mut with_hash("", &sha256_hex(&big)), &shared()), Err(PersistedError::NotFound), "oversized text not kept");
    }

    #[test]
    fn an_operation_registered_by_one_tenant_is_not_found_by_another() {
        let pq = apq();
        let hash = sha256_hex(QUERY);
        let (a, b) = (ApqPartition::of(&[b"loc", b"Bearer token-a"]), ApqPartition::of(&[b"loc", b"Bearer token-b"]));
        assert_eq!(pq.resolve(&mut with_hash(QUERY, &hash), &a), Ok(()));

        assert_eq!(pq.resolve(&mut with_hash("", &hash), &b), Err(PersistedError::NotFound));
        assert_eq!(pq.resolve(&mut with_hash("", &hash), &shared()), Err(PersistedError::NotFound));
        assert_eq!(pq.resolve(&mut with_hash("", &hash), &a), Ok(()));
        assert_ne!(ApqPartition::of(&[b"ab", b"c"]), ApqPartition::of(&[b"a", b"bc"]), "parts never run together");
    }

    #[test]
    fn malformed_extensions_are_bad_requests() {
        let pq = apq();
        assert_eq!(pq.resolve(&mut with_hash("", "xyz"), &shared()).map_err(|e| e.code().as_str()), Err("BAD_REQUEST"));
        let mut v2 = Request::new("");
        v2.extensions.insert("persistedQuery".into(), async_graphql::Value::from_json(json!({ "version": 2, "sha256Hash": sha256_hex(QUERY) })).unwrap());
        assert_eq!(pq.resolve(&mut v2, &shared()).map_err(|e| e.code().as_str()), Err("BAD_REQUEST"));
    }

    #[test]
    fn with_persisted_queries_off_a_hash_alone_is_not_supported() {
        let hash = sha256_hex(QUERY);
        assert_eq!(PersistedQueries::Off.resolve(&mut with_hash("", &hash), &shared()), Err(PersistedError::NotSupported));
        assert_eq!(PersistedQueries::Off.resolve(&mut with_hash(QUERY, &hash), &shared()), Ok(()));
    }

    #[test]
    fn a_safelist_runs_only_its_operations_by_hash_or_exact_text() {
        let hash = sha256_hex(QUERY);
        let list = PersistedQueries::Safelist(Safelist::parse(&json!({ hash.clone(): QUERY }).to_string()).unwrap());
        let mut by_hash = with_hash("", &hash);
        assert_eq!(list.resolve(&mut by_hash, &shared()), Ok(()));
        assert_eq!(by_hash.query, QUERY);
        assert_eq!(list.resolve(&mut Request::new(QUERY), &shared()), Ok(()));
        assert_eq!(list.resolve(&mut Request::new("{ contacts { nodes { id } } }"), &shared()), Err(PersistedError::NotInSafelist));
        assert_eq!(list.resolve(&mut with_hash("", &sha256_hex("{ x }")), &shared()), Err(PersistedError::NotInSafelist));
        assert_eq!(list.resolve(&mut with_hash("{ x }", &hash), &shared()), Err(PersistedError::HashMismatch));
    }

    #[test]
    fn safelist_files_may_be_maps_lists_or_apollo_manifests() {
        let list = Safelist::parse(&json!([QUERY, { "query": "{ a }" }, { "id": "Op1", "body": "{ b }" }]).to_string()).unwrap();
        assert_eq!(list.len(), 3);
        assert!(list.get(&sha256_hex("{ a }")).is_some() && list.get("op1").is_some());
        let manifest = json!({ "format": "apollo-persisted-query-manifest", "version": 1,
            "operations": [{ "id": "abc", "name": "A", "type": "query", "body": "{ a }" }] });
        assert_eq!(Safelist::parse(&manifest.to_string()).unwrap().len(), 1);
        assert!(Safelist::parse(&json!({ sha256_hex("{ a }"): "{ b }" }).to_string()).is_err(), "wrong hash key");
        assert!(Safelist::parse("[]").is_err());
        assert!(Safelist::parse("nope").is_err());
    }
}
