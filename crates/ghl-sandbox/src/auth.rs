//! Bearer tokens: which location a token belongs to, which scopes it carries and when it expires.
//! Holds the static tokens of the documented defaults and the ones `POST /oauth/token` issues.
//! The `Scoped<S>` extractor is how a handler states the scope it needs (401 when missing).

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::scopes::{CONTACTS_READONLY, CONTACTS_WRITE, LOCATIONS_TASKS_READONLY};
use crate::{LOCATION_ID, OTHER_LOCATION_ID, OTHER_LOCATION_TOKEN, READ_TOKEN, WRITE_ONLY_CONTACTS_TOKEN, WRITE_TOKEN};

/// What a token grants.
#[derive(Debug)]
pub(crate) struct Grant {
    /// Empty for a Company token.
    pub location_id: String,
    /// `Some` for a Company (agency) token: the company it acts for.
    pub company_id: Option<String>,
    pub scopes: Vec<String>,
    /// `None` for the static tokens, which never expire (like a Private Integration Token).
    pub expires_at: Option<Instant>,
}

impl Grant {
    pub(crate) fn allows(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }
}

/// The authenticated caller of one request; the gateway puts it in the request's extensions.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub token: Arc<str>,
    pub grant: Arc<Grant>,
}

impl Caller {
    pub(crate) fn location_id(&self) -> &str {
        &self.grant.location_id
    }

    /// A `locationId` named in the request must be the token's own: otherwise GHL's 403.
    pub(crate) fn ensure_location(&self, location_id: &str) -> Result<(), ApiError> {
        if location_id == self.location_id() {
            Ok(())
        } else {
            Err(ApiError::WrongLocation)
        }
    }
}

/// Every live token.
pub(crate) struct TokenRegistry {
    tokens: RwLock<HashMap<Arc<str>, Arc<Grant>>>,
}

/// The documented static tokens: (token, location, scopes).
pub(crate) const STATIC_TOKENS: &[(&str, &str, &[&str])] = &[
    (READ_TOKEN, LOCATION_ID, &[CONTACTS_READONLY]),
    (WRITE_TOKEN, LOCATION_ID, &[CONTACTS_READONLY, CONTACTS_WRITE, LOCATIONS_TASKS_READONLY]),
    (WRITE_ONLY_CONTACTS_TOKEN, LOCATION_ID, &[CONTACTS_READONLY, CONTACTS_WRITE]),
    (OTHER_LOCATION_TOKEN, OTHER_LOCATION_ID, &[CONTACTS_READONLY, CONTACTS_WRITE, LOCATIONS_TASKS_READONLY]),
];

impl TokenRegistry {
    pub(crate) fn with_static_tokens() -> Self {
        let tokens = STATIC_TOKENS
            .iter()
            .map(|(token, location, scopes)| {
                let grant =
                    Grant { location_id: (*location).to_owned(), company_id: None, scopes: scopes.iter().map(|s| (*s).to_owned()).collect(), expires_at: None };
                (Arc::<str>::from(*token), Arc::new(grant))
            })
            .collect();
        Self { tokens: RwLock::new(tokens) }
    }

    /// The caller a bearer token stands for; `None` if unknown or expired.
    pub(crate) fn resolve(&self, token: &str) -> Option<Caller> {
        let tokens = self.tokens.read().unwrap_or_else(|e| e.into_inner());
        let (key, grant) = tokens.get_key_value(token)?;
        if grant.expires_at.is_some_and(|at| at <= Instant::now()) {
            return None;
        }
        Some(Caller { token: key.clone(), grant: grant.clone() })
    }

    /// An uninstall: the location's OAuth tokens stop working (static tokens stay, as a Private
    /// Integration Token does).
    pub(crate) fn revoke_location(&self, location_id: &str) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        tokens.retain(|_, g| g.expires_at.is_none() || g.location_id != location_id);
    }

    pub(crate) fn insert(&self, token: String, grant: Grant) {
        let mut tokens = self.tokens.write().unwrap_or_else(|e| e.into_inner());
        // Forget expired OAuth tokens so a long-running sandbox does not grow without bound.
        let now = Instant::now();
        tokens.retain(|_, g| g.expires_at.is_none_or(|at| at > now));
        tokens.insert(Arc::from(token), Arc::new(grant));
    }
}

/// A scope a handler requires.
pub(crate) trait RequiredScope {
    const SCOPE: &'static str;
}

/// `contacts.readonly`.
pub(crate) struct ContactsRead;
impl RequiredScope for ContactsRead {
    const SCOPE: &'static str = CONTACTS_READONLY;
}

/// `contacts.write`.
pub(crate) struct ContactsWrite;
impl RequiredScope for ContactsWrite {
    const SCOPE: &'static str = CONTACTS_WRITE;
}

/// `locations/tasks.readonly`.
pub(crate) struct TasksSearch;
impl RequiredScope for TasksSearch {
    const SCOPE: &'static str = LOCATIONS_TASKS_READONLY;
}

/// The caller, checked to carry scope `S`. Put it first among a handler's extractors so the scope
/// is checked before the path or body.
pub(crate) struct Scoped<S>(pub Caller, pub PhantomData<S>);

impl<S: RequiredScope, St: Send + Sync> FromRequestParts<St> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, ApiError> {
        let caller = parts.extensions.get::<Caller>().cloned().ok_or(ApiError::InvalidToken)?;
        // A Company (agency) token reaches no location's data: it mints location tokens.
        if caller.grant.company_id.is_some() {
            return Err(ApiError::WrongLocation);
        }
        if caller.grant.allows(S::SCOPE) {
            Ok(Self(caller, PhantomData))
        } else {
            Err(ApiError::MissingScope)
        }
    }
}
