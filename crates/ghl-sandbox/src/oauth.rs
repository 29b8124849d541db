//! OAuth 2.0 authorization-code grant as GHL runs it: the consent screen stand-in issues single-use
//! codes; the token endpoint trades a code or a refresh token for an access token (which expires) and
//! a new refresh token. A refresh token works once: using it again is `invalid_grant` (rotation).
//! An agency consent yields a Company token, which mints location tokens (`POST /oauth/locationToken`,
//! no refresh token) for the locations it approved; an uninstall revokes a location's tokens.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::StatusCode;

use crate::auth::{Grant, TokenRegistry};
use crate::data::ids;
use crate::error::ApiError;
use crate::installs::AgencyInstall;

/// How `POST /oauth/token` describes whose token it issued: what GHL answers for a sub-account, or
/// the shapes tests need to see refused (set with [`crate::RunningSandbox::set_token_answer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TokenAnswer {
    /// `userType: "Location"` with the location's `locationId`.
    #[default]
    Location,
    /// `userType: "Location"` but no `locationId`, as a buggy or hostile upstream might answer.
    LocationWithoutId,
}

/// Authorization codes expire quickly, as everywhere.
const CODE_TTL: Duration = Duration::from_secs(600);

/// What an OAuth grant is for: a location (or, for an agency install, the company and what it
/// approved), its scopes, the user who installed the app.
#[derive(Clone, Debug)]
pub(crate) struct Consent {
    /// Empty for an agency consent.
    pub location_id: String,
    pub company_id: String,
    pub agency: Option<AgencyInstall>,
    pub scopes: Vec<String>,
    pub user_id: String,
}

struct PendingCode {
    consent: Consent,
    redirect_uri: String,
    issued: Instant,
}

/// The body of a successful `POST /oauth/token`.
pub(crate) struct Issued {
    pub access_token: String,
    pub refresh_token: String,
    pub consent: Consent,
    /// The access token's lifetime (`expires_in`).
    pub ttl: Duration,
}

/// How long access tokens live: a location's, an agency's (Company) own.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lifetimes {
    pub location: Duration,
    pub company: Duration,
}

pub(crate) struct OAuth {
    inner: Mutex<Inner>,
}

struct Inner {
    codes: HashMap<String, PendingCode>,
    refresh_tokens: HashMap<String, Consent>,
    rng: fastrand::Rng,
}

impl OAuth {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            inner: Mutex::new(Inner {
                codes: HashMap::new(),
                refresh_tokens: HashMap::new(),
                rng: fastrand::Rng::with_seed(seed.rotate_left(17) ^ 0x0A07_0A07),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The code the consent screen hands back through the redirect.
    pub(crate) fn issue_code(&self, consent: Consent, redirect_uri: String) -> String {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.codes.retain(|_, c| now.duration_since(c.issued) < CODE_TTL);
        let code = ids::token(&mut inner.rng, "");
        inner.codes.insert(code.clone(), PendingCode { consent, redirect_uri, issued: now });
        code
    }

    /// Trades a code (once) for tokens; `redirect_uri`, when sent, must be the one the code was issued for.
    pub(crate) fn redeem_code(&self, code: &str, redirect_uri: Option<&str>, tokens: &TokenRegistry, ttl: Lifetimes) -> Result<Issued, ApiError> {
        let mut inner = self.lock();
        let pending = inner.codes.remove(code).ok_or_else(|| invalid_grant("Invalid authorization code"))?;
        if pending.issued.elapsed() >= CODE_TTL {
            return Err(invalid_grant("The authorization code has expired"));
        }
        if redirect_uri.is_some_and(|uri| uri != pending.redirect_uri) {
            return Err(invalid_grant("redirect_uri does not match the one of the authorization request"));
        }
        Ok(mint(&mut inner, pending.consent, tokens, ttl))
    }

    /// Trades a refresh token (once) for a new access token and a new refresh token.
    pub(crate) fn redeem_refresh_token(&self, refresh_token: &str, tokens: &TokenRegistry, ttl: Lifetimes) -> Result<Issued, ApiError> {
        let mut inner = self.lock();
        let consent = inner.refresh_tokens.remove(refresh_token).ok_or_else(|| invalid_grant("Invalid grant: refresh token is invalid"))?;
        Ok(mint(&mut inner, consent, tokens, ttl))
    }

    /// A location access token minted from a Company token: no refresh token comes with it.
    pub(crate) fn mint_location_token(&self, location_id: &str, scopes: Vec<String>, tokens: &TokenRegistry, ttl: Duration) -> String {
        let access_token = ids::token(&mut self.lock().rng, "sbx-lt-");
        tokens.insert(access_token.clone(), Grant { location_id: location_id.to_owned(), company_id: None, scopes, expires_at: Some(Instant::now() + ttl) });
        access_token
    }

    /// An uninstall: every refresh token of the location's own installs stops working.
    pub(crate) fn revoke_location(&self, location_id: &str) {
        self.lock().refresh_tokens.retain(|_, consent| consent.agency.is_some() || consent.location_id != location_id);
    }
}

fn mint(inner: &mut Inner, consent: Consent, tokens: &TokenRegistry, lifetimes: Lifetimes) -> Issued {
    let ttl = if consent.agency.is_some() { lifetimes.company } else { lifetimes.location };
    let access_token = ids::token(&mut inner.rng, "sbx-at-");
    let refresh_token = ids::token(&mut inner.rng, "sbx-rt-");
    // A Company token acts for its company, never for a location.
    let company_id = consent.agency.is_some().then(|| consent.company_id.clone());
    tokens.insert(
        access_token.clone(),
        Grant { location_id: consent.location_id.clone(), company_id, scopes: consent.scopes.clone(), expires_at: Some(Instant::now() + ttl) },
    );
    inner.refresh_tokens.insert(refresh_token.clone(), consent.clone());
    Issued { access_token, refresh_token, consent, ttl }
}

pub(crate) fn invalid_grant(description: &str) -> ApiError {
    ApiError::OAuth { status: StatusCode::BAD_REQUEST, error: "invalid_grant", description: description.to_owned() }
}
