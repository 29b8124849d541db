//! OAuth mode: the token store opens and decrypts, and each stored location's token state
//! (valid, expiring, expired, refresh failing). Read only: the store is opened as the `tokens`
//! commands open it (never created), and no token is refreshed (GHL's refresh tokens work once,
//! so a check that refreshed would race the server).

use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::report::Check;
use crate::highlevel::{PathId, Scopes, Tenant};
use crate::oauth::{FileStore, StoreError, StoreKey, TokenRecord, TokenStatus, TokenStore};

/// Where the token pairs are and how early the server refreshes them.
#[derive(Clone, Debug)]
pub struct OAuthSetup {
    pub store: PathBuf,
    pub key: StoreKey,
    pub refresh_margin: Duration,
}

/// What the store showed, and the tenant to make the test calls as.
pub(super) struct Inspection {
    pub checks: Vec<Check>,
    pub tenant: Option<Tenant>,
}

/// `oauth.store` and one `oauth.location.<id>` per record. `wanted`: the location to test
/// (else the first whose access token is still valid).
pub(super) async fn inspect(setup: &OAuthSetup, wanted: Option<&str>) -> Inspection {
    let shown = setup.store.display();
    let listing = match FileStore::open_existing(&setup.store, &setup.key) {
        Ok(store) => store.scan().await,
        Err(error) => Err(error),
    };
    let listing = match listing {
        Ok(listing) => listing,
        Err(StoreError::Missing { .. }) => {
            let check = Check::failed(
                "oauth.store",
                format!("the token store {shown} does not exist"),
                "set TOKEN_STORE to the directory the server keeps its tokens in (a server creates it at start-up)",
            );
            return Inspection { checks: vec![check], tenant: None };
        }
        Err(_) => {
            let check = Check::failed("oauth.store", format!("the token store {shown} cannot be read"), "check the directory's permissions for this user");
            return Inspection { checks: vec![check], tenant: None };
        }
    };
    let mut checks = Vec::new();
    let (records, damaged) = (&listing.records, listing.damaged.len());
    checks.push(match (records.len(), damaged) {
        (0, 0) => Check::warning(
            "oauth.store",
            format!("the token store {shown} opens but no location has installed the app yet"),
            "send a location's admin to /oauth/install on this server",
        ),
        (0, _) => Check::failed(
            "oauth.store",
            format!("none of the {damaged} record(s) in {shown} decrypts: TOKEN_STORE_KEY is likely not the key they were written with"),
            "set TOKEN_STORE_KEY to the server's key; if it is lost, every location must install again",
        ),
        (n, 0) => Check::ok("oauth.store", format!("the token store {shown} opens: {n} location(s)")),
        (n, _) => Check::warning(
            "oauth.store",
            format!("the token store {shown} opens: {n} location(s), and {damaged} record(s) that do not decrypt (damaged, or written with another key)"),
            "those locations must install the app again (`ghl-subgraph tokens list` names them)",
        ),
    });
    let now = Utc::now();
    let margin = chrono::Duration::from_std(setup.refresh_margin).unwrap_or(chrono::Duration::minutes(5));
    for record in records {
        checks.push(match &record.agency {
            // An agency's own pair: it mints its locations' tokens, it reads no location itself.
            Some(agency) => Check::ok(
                format!(
                    "oauth.agency.{}",
                    PathId::parse(record.company_id.as_deref().unwrap_or_default(), "companyId")
                        .map_or_else(|_| "(invalid id)".to_owned(), |id| id.to_string())
                ),
                format!("agency install ({}): {} approved location(s), minted on demand", record.status, agency.approved_locations.len()),
            ),
            None => location_state(record, now, margin),
        });
    }
    let usable = |r: &&TokenRecord| !r.is_company() && r.status == TokenStatus::Active && r.expires_at > now;
    let chosen = match wanted {
        Some(wanted) => {
            let found = records.iter().find(|r| r.location_id == wanted);
            if found.is_none() {
                let name = PathId::parse(wanted, "locationId").map_or_else(|_| "oauth.location".to_owned(), |id| format!("oauth.location.{id}"));
                checks.push(Check::failed(
                    name,
                    "this location has no stored tokens: it has not installed the app",
                    "send its admin to /oauth/install on this server",
                ));
            }
            found.filter(usable)
        }
        None => records.iter().find(usable),
    };
    let tenant = chosen.map(|r| Tenant::new(r.location_id.clone(), r.access_token.clone(), Some(Scopes::parse(&r.scopes))));
    Inspection { checks, tenant }
}

/// One location's token state; installs store only valid ids, anything else is named generically.
fn location_state(record: &TokenRecord, now: DateTime<Utc>, margin: chrono::Duration) -> Check {
    let name = match PathId::parse(&record.location_id, "locationId") {
        Ok(id) => format!("oauth.location.{id}"),
        Err(_) => "oauth.location.(invalid id)".to_owned(),
    };
    let expires = record.expires_at.format("%Y-%m-%d %H:%M UTC");
    // The margin is at most half a pair's lifetime, as the token manager applies it.
    let margin = margin.min((record.expires_at - record.updated_at) / 2);
    match record.status {
        TokenStatus::NeedsReinstall => Check::failed(
            name,
            "refresh failing: GHL refused the refresh token, so this location's requests fail",
            "the location's admin must install the app again at /oauth/install",
        ),
        TokenStatus::Active if record.expires_at <= now => Check::warning(
            name,
            format!("access token expired at {expires}: the server refreshes it on the location's next request"),
            "nothing to do if the server runs; if its refresh fails the location shows `needs_reinstall`",
        ),
        TokenStatus::Active if record.expires_at - margin <= now => {
            Check::ok(name, format!("access token expiring at {expires} (within the refresh margin): refreshed on the location's next request"))
        }
        TokenStatus::Active => Check::ok(name, format!("access token valid until {expires}")),
    }
}
