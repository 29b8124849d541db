//! Who a call is made for: one GHL location, the credential to reach it and the scopes it carries.
//!
//! Every upstream call, limiter and cache key is scoped to a tenant, so many locations can share one process.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use hyper::header::HeaderValue;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

pub const SCOPE_READ: &str = "contacts.readonly";
pub const SCOPE_WRITE: &str = "contacts.write";
pub const SCOPE_TASKS_SEARCH: &str = "locations/tasks.readonly";

/// A GHL location together with the bearer token used for it.
///
/// Cloned for every call a request makes: what never changes for a credential sits behind one
/// `Arc` (the token, scopes, budget key and their derived forms are made once, not per clone).
#[derive(Clone)]
pub struct Tenant {
    identity: Arc<Identity>,
    deadline: Option<Instant>,
    background: bool,
    /// Set once a call of this operation got through the limiter (see [`Tenant::until`]).
    under_way: Option<Arc<AtomicBool>>,
}

/// The part of a tenant fixed by its credential.
struct Identity {
    location_id: String,
    scopes: Option<Scopes>,
    /// Whose rate budget, circuit and concurrency this tenant's calls draw on (see `budget_key`).
    budget_key: Arc<str>,
    /// SHA-256 of the token.
    fingerprint: [u8; 32],
    /// `Bearer <token>`, marked sensitive; `None` when the token cannot be a header value. The
    /// only form of the token kept.
    authorization: Option<HeaderValue>,
}

impl Identity {
    /// `own_budget`: the budget key names the credential too (forward mode, see [`Tenant::forwarded`]).
    fn new(location_id: String, token: SecretString, scopes: Option<Scopes>, own_budget: bool) -> Self {
        let fingerprint: [u8; 32] = Sha256::digest(token.expose_secret().as_bytes()).into();
        let authorization = HeaderValue::try_from(format!("Bearer {}", token.expose_secret())).ok().map(|mut value| {
            value.set_sensitive(true);
            value
        });
        let budget_key = if own_budget {
            let short: String = fingerprint[..16].iter().map(|b| format!("{b:02x}")).collect();
            Arc::from(format!("{location_id}#{short}"))
        } else {
            Arc::from(location_id.as_str())
        };
        Self { location_id, scopes, budget_key, fingerprint, authorization }
    }
}

/// Who goes first when calls queue for a location's budget: an operation already under way before
/// a new one (its earlier calls are spent already), interactive traffic before background jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// An import or another job: runs in its share of the budget, after everything else.
    Background,
    /// The first call of an interactive operation.
    New,
    /// Later calls of an interactive operation that already made one.
    UnderWay,
}

impl Tenant {
    /// `scopes` is `None` when they are unknown (forwarded tokens): GHL then decides.
    pub fn new(location_id: impl Into<String>, token: SecretString, scopes: Option<Scopes>) -> Self {
        Self::of(Identity::new(location_id.into(), token, scopes, false))
    }

    fn of(identity: Identity) -> Self {
        Self { identity: Arc::new(identity), deadline: None, background: false, under_way: None }
    }

    /// A tenant whose token the caller sent (forward mode). Anyone can name any location, so its
    /// budget, circuit and permits are its own (location and credential): a caller with a garbage
    /// or foreign token can neither spend nor shrink a real tenant's.
    pub fn forwarded(location_id: impl Into<String>, token: SecretString) -> Self {
        Self::of(Identity::new(location_id.into(), token, None, true))
    }

    /// The key of the limiter, breaker and permits: the location, or in forward mode the location
    /// and a fingerprint of the credential.
    pub fn budget_key(&self) -> &str {
        &self.identity.budget_key
    }

    /// The budget key, shared (keys of per-tenant tables clone it instead of copying the text).
    pub(crate) fn budget_key_shared(&self) -> Arc<str> {
        self.identity.budget_key.clone()
    }

    /// The same tenant, for one GraphQL operation that must finish by `deadline`:
    /// queueing, retries and per-attempt timeouts all stop there.
    /// It starts a new operation: its first call queues as [`Priority::New`], later ones as
    /// [`Priority::UnderWay`].
    pub fn until(mut self, deadline: Instant) -> Self {
        self.deadline = Some(deadline);
        self.under_way = Some(Arc::new(AtomicBool::new(false)));
        self
    }

    /// The same tenant for a background job (an import): its calls wait behind interactive ones
    /// and take at most the background share of the location's budget.
    /// A job outlives the request that started it, so it keeps no operation deadline.
    pub fn in_background(mut self) -> Self {
        self.background = true;
        self.deadline = None;
        self.under_way = None;
        self
    }

    /// Where this tenant's next call queues at the limiter.
    pub fn priority(&self) -> Priority {
        if self.background {
            Priority::Background
        } else if self.under_way.as_ref().is_some_and(|flag| flag.load(Ordering::Relaxed)) {
            Priority::UnderWay
        } else {
            Priority::New
        }
    }

    /// Called when one of this operation's calls got through the limiter.
    pub(crate) fn mark_under_way(&self) {
        if let Some(flag) = &self.under_way {
            flag.store(true, Ordering::Relaxed);
        }
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Tells credentials apart (for sharing identical in-flight calls) without keeping the token.
    /// SHA-256, so no caller can craft a token that collides with another's.
    pub(crate) fn credential_fingerprint(&self) -> [u8; 32] {
        self.identity.fingerprint
    }

    pub fn location_id(&self) -> &str {
        &self.identity.location_id
    }

    pub fn scopes(&self) -> Option<&Scopes> {
        self.identity.scopes.as_ref()
    }

    /// `Some(false)` only when the scopes are known and lack `scope`.
    pub fn grants(&self, scope: &str) -> Option<bool> {
        self.identity.scopes.as_ref().map(|s| s.contains(scope))
    }

    /// The `Authorization` header value (sensitive: never printed); `None` when the token holds
    /// bytes no header may carry.
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.identity.authorization.as_ref()
    }
}

impl fmt::Debug for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tenant").field("location_id", &self.location_id()).field("token", &"[redacted]").field("scopes", &self.scopes()).finish()
    }
}

/// A set of OAuth scopes, parsed from GHL's space-separated form (commas are accepted too).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(BTreeSet<String>);

impl Scopes {
    pub fn parse(raw: &str) -> Self {
        Self(raw.split([' ', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let joined: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&joined.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_parse_space_and_comma_separated_lists() {
        let scopes = Scopes::parse("contacts.readonly, contacts.write  locations/tasks.readonly");
        assert!(scopes.contains(SCOPE_READ));
        assert!(scopes.contains(SCOPE_WRITE));
        assert!(scopes.contains(SCOPE_TASKS_SEARCH));
        assert!(!scopes.contains("contacts"));
    }

    #[test]
    fn forwarded_tenants_have_a_budget_of_their_own_per_credential() {
        let a = Tenant::forwarded("loc", SecretString::from("token-a"));
        let b = Tenant::forwarded("loc", SecretString::from("token-b"));
        assert_ne!(a.budget_key(), b.budget_key());
        assert!(a.budget_key().starts_with("loc#") && !a.budget_key().contains("token-a"));
        assert_eq!(Tenant::new("loc", SecretString::from("token-a"), None).budget_key(), "loc");
    }

    #[test]
    fn the_authorization_header_is_sensitive_and_shared_by_clones() {
        let tenant = Tenant::new("loc", SecretString::from("tok"), None);
        let header = tenant.authorization().expect("a valid token makes a header");
        assert_eq!(header.as_bytes(), b"Bearer tok");
        assert!(header.is_sensitive());
        let clone = tenant.clone().until(Instant::now());
        assert!(std::ptr::eq(clone.authorization().unwrap(), header), "clones share one identity");
        assert_eq!(clone.credential_fingerprint(), tenant.credential_fingerprint());
        assert!(Tenant::new("loc", SecretString::from("bad\ntoken"), None).authorization().is_none());
    }

    #[test]
    fn tenant_debug_never_shows_the_token() {
        let tenant = Tenant::new("loc", SecretString::from("very-secret-token"), None);
        assert!(!format!("{tenant:?}").contains("very-secret-token"));
    }
}
