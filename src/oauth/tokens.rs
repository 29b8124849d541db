//! Per-location tenants whose tokens renew themselves.
//!
//! GHL refresh tokens work once, so for each location (and each agency's own pair) at most one
//! renewal is in flight (a tokio mutex per key; waiters re-read the pair the winner stored), and a
//! new pair is written to the store before anyone uses it: a crash after that write loses nothing.
//! The window that stays is GHL's answer in flight when the process dies. A location under an
//! agency (Company) install closes it: its tokens are minted from the agency's token
//! (`POST /oauth/locationToken`, which rotates nothing), so a refresh that fails or a pair that was
//! lost is recovered by minting again. Only the agency's own pair keeps the window, once a day
//! per agency instead of once a day per location.
//!
//! With a shared store (`--redis-url`) the lock spans replicas too: a refresh first takes the
//! store's lease (with a fencing token); a replica that finds it taken waits for the holder's new
//! pair instead of refreshing, and a holder whose lease expired has its write refused.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use metrics::{counter, gauge};
use secrecy::{ExposeSecret, SecretString};
use tracing::{error, info, warn};

use super::error::OAuthError;
use super::grant::{GrantClient, GrantError, Granted, Holder, Kind, Minted, NotInstallable};
use super::store::{company_key, company_of, StoreError, TokenRecord, TokenStatus, TokenStore};
use crate::auth::TenantFuture;
use crate::error::AppError;
use crate::highlevel::{Scopes, Tenant};

/// Why an install stored nothing.
#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    NotInstallable(#[from] NotInstallable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct TokenManager {
    store: Arc<dyn TokenStore>,
    grants: GrantClient,
    margin: chrono::Duration,
    install_url: String,
    /// The last pair stored per key (location id or [`company_key`]): the store is written first, then this.
    cache: Mutex<HashMap<String, TokenRecord>>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When each location was last checked against the store for a revoke.
    revoke_checks: Mutex<HashMap<String, std::time::Instant>>,
    /// When the store's agencies were last loaded (`agency_for`).
    agencies_listed: Mutex<Option<std::time::Instant>>,
}

/// `auth` asks for tenants through this trait, so it never depends on `oauth`. (Named in full
/// here only: in scope, its by-value methods would shadow the inherent ones.)
impl crate::auth::TokenSource for TokenManager {
    fn tenant<'a>(self: Arc<Self>, location: &'a str) -> TenantFuture<'a> {
        Box::pin(async move { TokenManager::tenant(&self, location).await.map_err(AppError::from) })
    }

    fn refresh_after_rejection<'a>(self: Arc<Self>, rejected: &'a Tenant) -> TenantFuture<'a> {
        Box::pin(async move { TokenManager::refresh_after_rejection(&self, rejected).await.map_err(AppError::from) })
    }
}

/// How stale a "not revoked" answer may be.
const REVOKE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// The fence of a write no lease guards (a minted token: minting rotates nothing).
const UNLEASED: u64 = u64::MAX;

/// Longest a replica waits for another's refresh of the same location (the lease lasts 30 s; a
/// refresh takes one GHL call).
const LEASE_WAIT: Duration = Duration::from_secs(10);

/// What a renewal looks at: the location's pair as stored now (`None`: none), and whether it
/// still needs renewing.
type StillNeeded = dyn Fn(&TokenManager, Option<&TokenRecord>) -> bool + Send + Sync;

impl TokenManager {
    /// Loads every stored pair, so a restart serves at once. A file that does not open is skipped
    /// and logged (its location cannot be served until it installs again), so one damaged file
    /// cannot take every other location down; when no file opens at all, the key is the likelier
    /// culprit and start-up fails.
    pub async fn load(store: Arc<dyn TokenStore>, grants: GrantClient, margin: Duration, install_url: String) -> Result<Self, OAuthError> {
        let listing = store.scan().await?;
        for damaged in &listing.damaged {
            error!(file = %damaged.path.display(), "token record cannot be opened (damaged, or written with another TOKEN_STORE_KEY): skipped; its location must install again");
        }
        if listing.records.is_empty() {
            if let Some(first) = listing.damaged.into_iter().next() {
                return Err(StoreError::Undecryptable { path: first.path }.into());
            }
        }
        let records = listing.records;
        let agencies = records.iter().filter(|r| r.is_company()).count();
        info!(locations = records.len() - agencies, agencies, "OAuth token store loaded");
        let cache = records.into_iter().map(|r| (r.location_id.clone(), r)).collect();
        let manager = Self {
            store,
            grants,
            margin: chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::seconds(300)),
            install_url,
            cache: Mutex::new(cache),
            refresh_locks: Mutex::new(HashMap::new()),
            revoke_checks: Mutex::new(HashMap::new()),
            agencies_listed: Mutex::new(None),
        };
        manager.publish_reinstall_gauge();
        Ok(manager)
    }

    pub fn install_url(&self) -> &str {
        &self.install_url
    }

    /// The tenant of `location`, renewing first when its access token is within the margin, or
    /// minting one when it has none but an agency install covers it.
    pub async fn tenant(self: &Arc<Self>, location: &str) -> Result<Tenant, OAuthError> {
        if company_of(location).is_some() {
            return Err(self.not_installed(location));
        }
        match self.record(location).await {
            Ok(record) if self.fresh(&record) => return Ok(tenant_of(&record)),
            Ok(_) => {}
            Err(error @ (OAuthError::NotInstalled { .. } | OAuthError::NeedsReinstall { .. })) => {
                if self.agency_for(location, None).await?.is_none() {
                    return Err(error);
                }
            }
            Err(error) => return Err(error),
        }
        self.renew(location, Arc::new(|manager: &Self, current: Option<&TokenRecord>| current.is_none_or(|c| !manager.fresh(c)))).await
    }

    /// After GHL answered 401 (invalid or expired token) to `failed`: renew once, unless another
    /// request already replaced that token, then use the replacement.
    pub async fn refresh_after_rejection(self: &Arc<Self>, failed: &Tenant) -> Result<Tenant, OAuthError> {
        let rejected = failed.credential_fingerprint();
        let still_needed = move |_: &Self, current: Option<&TokenRecord>| current.is_none_or(|c| tenant_of(c).credential_fingerprint() == rejected);
        self.renew(failed.location_id(), Arc::new(still_needed)).await
    }

    /// Stores the pair of a new install (replacing any older one) and returns it. Whose it is
    /// comes from GHL's answer only ([`Granted::holder`]): a location's pair, or an agency's own.
    pub async fn install(&self, granted: Granted) -> Result<TokenRecord, InstallError> {
        let key = match granted.holder()? {
            Holder::Location(location) => location.to_string(),
            Holder::Company(company) => company_key(company.as_str()),
        };
        let lock = self.lock_for(&key);
        let _guard = lock.lock().await;
        let previous = match self.cached(&key) {
            Some(previous) => Some(previous),
            None => self.store.get(&key).await?,
        };
        let mut record = record_of(&key, granted, None);
        record.generation = previous.map_or(1, |p| p.generation + 1);
        self.store.put(&record).await?;
        self.remember(record.clone());
        match &record.agency {
            Some(agency) => {
                info!(company = %record.company_id.as_deref().unwrap_or_default(), locations = agency.approved_locations.len(), "agency installed the app")
            }
            None => info!(location = %key, "location installed the app"),
        }
        Ok(record)
    }

    /// Forgets a location (its stored pair too).
    pub async fn revoke(&self, location: &str) -> Result<bool, OAuthError> {
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let existed = self.store.delete(location).await?;
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(location);
        self.publish_reinstall_gauge();
        Ok(existed)
    }

    /// GHL's INSTALL for `location`: under an agency we hold (the one `company` names, or, for a
    /// future location whose event names none, one installed with `installToFutureLocations`),
    /// the location is approved and its token minted and stored now. `Ok(false)`: no agency of
    /// ours covers it (a location-level install goes through `/oauth/install`).
    pub async fn location_installed(self: &Arc<Self>, location: &str, company: Option<&str>) -> Result<bool, OAuthError> {
        let candidates: Vec<String> = self
            .agencies()
            .into_iter()
            .filter(|a| match company {
                Some(company) => a.company_id.as_deref() == Some(company),
                None => a.agency.as_ref().is_some_and(|g| g.install_to_future_locations),
            })
            .map(|a| a.location_id)
            .collect();
        for agency in candidates {
            let lock = self.lock_for(location);
            let _guard = lock.lock().await;
            let previous = self.lookup(location).await?;
            match self.mint(location, &agency, previous.as_ref()).await {
                Ok(_) => {
                    self.approve(&agency, location).await?;
                    info!(location = %location, "a location installed under an agency: its token is minted");
                    return Ok(true);
                }
                Err(error) => warn!(location = %location, error = %error, "minting for an installed location failed"),
            }
        }
        Ok(false)
    }

    /// GHL's UNINSTALL for `location`: its pair is deleted and no agency mints for it again.
    pub async fn location_uninstalled(&self, location: &str) -> Result<bool, OAuthError> {
        let existed = self.revoke(location).await?;
        // As the store has them: this replica may not hold the agency, and another replica may
        // have refreshed its pair since (writing back a held copy would undo that refresh).
        for agency in self.store.list().await?.into_iter().filter(|r| r.is_company() && approves(r, location)) {
            let lock = self.lock_for(&agency.location_id);
            let _guard = lock.lock().await;
            if let Some(mut record) = self.store.get(&agency.location_id).await? {
                if let Some(grant) = record.agency.as_mut() {
                    grant.approved_locations.retain(|l| l != location);
                }
                self.store.put(&record).await?;
                self.remember(record);
            }
        }
        info!(location = %location, "a location uninstalled the app: its tokens are forgotten");
        Ok(existed)
    }

    /// Active and not yet within the refresh margin of its expiry. The margin is at most half the
    /// pair's lifetime: with tokens shorter-lived than `--refresh-margin`, a pair just received
    /// would otherwise be due at once, and every request would refresh again.
    fn fresh(&self, record: &TokenRecord) -> bool {
        let margin = self.margin.min((record.expires_at - record.updated_at) / 2);
        record.status == TokenStatus::Active && record.expires_at - margin > Utc::now()
    }

    fn cached(&self, key: &str) -> Option<TokenRecord> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(key).cloned()
    }

    /// Every agency's own pair we hold.
    fn agencies(&self) -> Vec<TokenRecord> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|r| r.is_company()).cloned().collect()
    }

    /// The key of the agency whose install approved `location`, preferring the company its pair
    /// names, among the agencies held in memory.
    fn held_agency_for(&self, location: &str, current: Option<&TokenRecord>) -> Option<String> {
        let approving: Vec<TokenRecord> = self.agencies().into_iter().filter(|a| approves(a, location)).collect();
        let named = current.and_then(|c| c.company_id.as_deref());
        approving.iter().find(|a| a.company_id.as_deref() == named).or(approving.first()).map(|a| a.location_id.clone())
    }

    /// As [`held_agency_for`](Self::held_agency_for), as the store has it now: another replica
    /// may have recorded an install or an uninstall since. The agency found is read again; with
    /// none, the store's agencies are loaded (at most once a second: an unknown location is cheap
    /// to ask for).
    async fn agency_for(&self, location: &str, current: Option<&TokenRecord>) -> Result<Option<String>, OAuthError> {
        if let Some(agency) = self.held_agency_for(location, current) {
            match self.store.get(&agency).await? {
                Some(record) if approves(&record, location) => {
                    self.remember(record);
                    return Ok(Some(agency));
                }
                Some(record) => self.remember(record),
                None => self.forget(&agency),
            }
        }
        let due = {
            let mut listed = self.agencies_listed.lock().unwrap_or_else(|p| p.into_inner());
            let due = listed.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
            if due {
                *listed = Some(std::time::Instant::now());
            }
            due
        };
        if due {
            for record in self.store.list().await?.into_iter().filter(TokenRecord::is_company) {
                self.remember(record);
            }
        }
        Ok(self.held_agency_for(location, current))
    }

    /// The pair of `location` if it is usable (active), else why not.
    async fn record(&self, location: &str) -> Result<TokenRecord, OAuthError> {
        let record = self.lookup(location).await?.ok_or_else(|| self.not_installed(location))?;
        match record.status {
            TokenStatus::Active => Ok(record),
            TokenStatus::NeedsReinstall => Err(self.needs_reinstall(location)),
        }
    }

    /// The pair stored for `key`, whatever its status; `None` when there is none (or it was revoked).
    async fn lookup(&self, key: &str) -> Result<Option<TokenRecord>, OAuthError> {
        match self.cached(key) {
            Some(record) => Ok(self.check_not_revoked(key).await?.then_some(record)),
            None => {
                let stored = self.store.get(key).await?;
                if let Some(stored) = &stored {
                    self.remember(stored.clone());
                }
                Ok(stored)
            }
        }
    }

    /// The single-flight renewal, on its own task: GHL spends the old refresh token as soon as it
    /// answers, so a caller that goes away mid-refresh must not take the new pair with it.
    async fn renew(self: &Arc<Self>, location: &str, still_needed: Arc<StillNeeded>) -> Result<Tenant, OAuthError> {
        let (manager, location) = (self.clone(), location.to_owned());
        tokio::spawn(async move { manager.renew_now(&location, &*still_needed).await })
            .await
            .unwrap_or_else(|_| Err(OAuthError::Unavailable("the token refresh ended abnormally".into())))
    }

    /// False once an operator has revoked `key` (`tokens revoke` deletes its record), and
    /// forgets it; the store is asked at most once a second per key.
    async fn check_not_revoked(&self, key: &str) -> Result<bool, OAuthError> {
        let due = {
            let mut checked = self.revoke_checks.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            match checked.get(key) {
                Some(at) if now.duration_since(*at) < REVOKE_CHECK_INTERVAL => false,
                _ => {
                    checked.insert(key.to_owned(), now);
                    true
                }
            }
        };
        if due && !self.store.contains(key).await? {
            self.forget(key);
            return Ok(false);
        }
        Ok(true)
    }

    fn forget(&self, key: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        self.revoke_checks.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
        self.publish_reinstall_gauge();
    }

    /// Under the location's lock, `still_needed` looks at the pair as it is now (a waiter usually
    /// finds the winner's new pair and skips the call). A pair with a refresh token is refreshed;
    /// one without (minted), one GHL refused, or none at all, is minted when an agency covers it.
    async fn renew_now(&self, location: &str, still_needed: &StillNeeded) -> Result<Tenant, OAuthError> {
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let current = self.lookup(location).await?;
        if let Some(current) = current.as_ref().filter(|c| c.status == TokenStatus::Active && !still_needed(self, Some(c))) {
            return Ok(tenant_of(current));
        }
        let agency = self.agency_for(location, current.as_ref()).await?;
        match (current, agency) {
            (Some(current), agency) if current.status == TokenStatus::Active && !current.refresh_token.expose_secret().is_empty() => {
                match (self.refresh_location(location, current).await, agency) {
                    (Err(OAuthError::NeedsReinstall { .. }), Some(agency)) => {
                        let refused = self.lookup(location).await?;
                        self.mint(location, &agency, refused.as_ref()).await
                    }
                    (result, _) => result,
                }
            }
            (current, Some(agency)) => self.mint(location, &agency, current.as_ref()).await,
            (None, None) => Err(self.not_installed(location)),
            (Some(_), None) => Err(self.needs_reinstall(location)),
        }
    }

    /// A location's own refresh (a location-level install).
    async fn refresh_location(&self, location: &str, current: TokenRecord) -> Result<Tenant, OAuthError> {
        // Routine: every location does this about once a day. Failures below log at WARN.
        let Some(fence) = self.store.lease(location).await? else {
            return self.refreshed_elsewhere(location, &current).await.map(|record| tenant_of(&record));
        };
        info!(location = %location, "refreshing the GHL access token");
        counter!("ghl_oauth_refreshes_total").increment(1);
        match self.grants.refresh(location, Kind::Location, &current.refresh_token).await {
            Ok(granted) => {
                // Revoked while GHL answered: the new pair is dropped, never written back.
                if !self.store.contains(location).await? {
                    warn!(location = %location, "the location was revoked during its token refresh; the new pair is dropped");
                    self.forget(location);
                    return Err(self.not_installed(location));
                }
                let record = record_of(location, granted, Some(&current));
                // Durable before use. GHL has already spent the old refresh token, so this new pair
                // is the only live one: a failed write is retried before giving up on it.
                self.put_persistently(&record, fence).await?;
                self.remember(record.clone());
                Ok(tenant_of(&record))
            }
            Err(error) => {
                self.store.release(location, fence).await;
                self.refresh_failed(location, current, error).await.map(|kept| tenant_of(&kept))
            }
        }
    }

    /// What a refused refresh of `key` leaves: `Ok` only with a still-valid old token.
    async fn refresh_failed(&self, key: &str, current: TokenRecord, error: GrantError) -> Result<TokenRecord, OAuthError> {
        match error {
            GrantError::InvalidGrant => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "invalid_grant").increment(1);
                warn!(holder = %key, "GHL refused the refresh token: the location must reinstall the app (or be minted from its agency)");
                let mut record = current;
                record.status = TokenStatus::NeedsReinstall;
                record.updated_at = Utc::now();
                self.store.put(&record).await?;
                self.remember(record);
                Err(self.needs_reinstall(key))
            }
            GrantError::Unavailable(reason) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "unavailable").increment(1);
                // The old access token may still have minutes left: better than failing now.
                if current.expires_at > Utc::now() {
                    warn!(holder = %key, reason = %reason, "token refresh failed; using the current token until it expires");
                    return Ok(current);
                }
                Err(OAuthError::Unavailable(reason))
            }
            GrantError::InvalidClient => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "invalid_client").increment(1);
                error!(holder = %key, "GHL rejected the app's client id or secret: check GHL_CLIENT_ID / GHL_CLIENT_SECRET");
                Err(OAuthError::Rejected(GrantError::InvalidClient.to_string()))
            }
            GrantError::Rejected(reason) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "rejected").increment(1);
                Err(OAuthError::Rejected(reason))
            }
        }
    }

    /// The agency's access token, refreshed first (single-flight, durable before use) when it is
    /// due or equals `rejected` (GHL refused it).
    async fn agency_token(&self, agency: &str, rejected: Option<&SecretString>) -> Result<TokenRecord, OAuthError> {
        let lock = self.lock_for(agency);
        let _guard = lock.lock().await;
        let current = self.lookup(agency).await?.ok_or_else(|| self.not_installed(agency))?;
        let refused = rejected.is_some_and(|r| r.expose_secret() == current.access_token.expose_secret());
        if current.status != TokenStatus::Active {
            return Err(self.needs_reinstall(agency));
        }
        if self.fresh(&current) && !refused {
            return Ok(current);
        }
        let Some(fence) = self.store.lease(agency).await? else {
            return self.refreshed_elsewhere(agency, &current).await;
        };
        info!(holder = %agency, "refreshing the agency's GHL access token");
        counter!("ghl_oauth_refreshes_total").increment(1);
        match self.grants.refresh(agency, Kind::Company, &current.refresh_token).await {
            Ok(granted) => {
                let record = record_of(agency, granted, Some(&current));
                self.put_persistently(&record, fence).await?;
                self.remember(record.clone());
                Ok(record)
            }
            Err(error) => {
                self.store.release(agency, fence).await;
                self.refresh_failed(agency, current, error).await
            }
        }
    }

    /// Mints `location`'s token from `agency`'s and stores it (no refresh token comes with it).
    /// GHL refusing the agency's token (401) refreshes that once and mints again.
    async fn mint(&self, location: &str, agency: &str, previous: Option<&TokenRecord>) -> Result<Tenant, OAuthError> {
        let mut rejected: Option<SecretString> = None;
        loop {
            let company = self.agency_token(agency, rejected.as_ref()).await.map_err(|e| self.agency_error(e, agency, location))?;
            let company_id = company.company_id.clone().unwrap_or_default();
            counter!("ghl_oauth_location_mints_total").increment(1);
            match self.grants.location_token(&company.access_token, &company_id, location).await {
                Ok(minted) => {
                    let record = minted_record(location, &company_id, minted, previous);
                    // Minting rotates nothing: no lease to hold.
                    self.put_persistently(&record, UNLEASED).await?;
                    self.remember(record.clone());
                    return Ok(tenant_of(&record));
                }
                Err(GrantError::InvalidGrant) if rejected.is_none() => rejected = Some(company.access_token.clone()),
                Err(GrantError::Unavailable(reason)) => {
                    // A minted token that has not expired yet beats failing now.
                    return match previous.filter(|p| p.status == TokenStatus::Active && p.expires_at > Utc::now()) {
                        Some(previous) => Ok(tenant_of(previous)),
                        None => Err(OAuthError::Unavailable(reason)),
                    };
                }
                Err(error) => {
                    warn!(location = %location, error = %error, "GHL would not mint the location's token from its agency's");
                    return Err(self.not_installed(location));
                }
            }
        }
    }

    /// `location` joins `agency`'s approved list (an INSTALL after the agency's install).
    async fn approve(&self, agency: &str, location: &str) -> Result<(), OAuthError> {
        let lock = self.lock_for(agency);
        let _guard = lock.lock().await;
        if let Some(mut record) = self.cached(agency) {
            if let Some(grant) = record.agency.as_mut().filter(|g| !g.approved_locations.iter().any(|l| l == location)) {
                grant.approved_locations.push(location.to_owned());
                self.store.put(&record).await?;
                self.remember(record);
            }
        }
        Ok(())
    }

    /// An agency failure as its location sees it.
    fn agency_error(&self, error: OAuthError, agency: &str, location: &str) -> OAuthError {
        match error {
            OAuthError::NeedsReinstall { install_url, .. } | OAuthError::NotInstalled { install_url, .. } => {
                OAuthError::AgencyNeedsReinstall { company: company_of(agency).unwrap_or(agency).to_owned(), location: location.to_owned(), install_url }
            }
            other => other,
        }
    }

    /// Writes `record` (under `fence`'s lease unless [`UNLEASED`]), retrying a failed write; a
    /// lost lease is final: another replica owns the location's refresh now.
    async fn put_persistently(&self, record: &TokenRecord, fence: u64) -> Result<(), OAuthError> {
        let put = || async {
            match fence {
                UNLEASED => self.store.put(record).await.map(|()| true),
                fence => self.store.put_fenced(record, fence).await,
            }
        };
        let mut delay = Duration::from_millis(20);
        for attempt in 0..4 {
            match put().await {
                Ok(true) => return Ok(()),
                Ok(false) => {
                    counter!("ghl_oauth_lease_lost_total").increment(1);
                    error!(holder = %record.location_id, "the refresh lease expired before the new pair was stored: the write is refused");
                    return Err(OAuthError::Unavailable("this replica's token refresh lease expired; the request can be retried".into()));
                }
                Err(error) if attempt < 3 => {
                    error!(location = %record.location_id, error = %error, "storing a refreshed token pair failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                Err(error) => return Err(error.into()),
            }
        }
        unreachable!("the last attempt returns")
    }

    /// Another replica holds `key`'s refresh lease: waits (bounded) for the pair it stores.
    async fn refreshed_elsewhere(&self, key: &str, current: &TokenRecord) -> Result<TokenRecord, OAuthError> {
        let give_up = std::time::Instant::now() + LEASE_WAIT;
        while std::time::Instant::now() < give_up {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if let Some(stored) = self.store.get(key).await? {
                if stored.generation != current.generation || stored.status != current.status {
                    self.remember(stored.clone());
                    return match stored.status {
                        TokenStatus::Active => Ok(stored),
                        TokenStatus::NeedsReinstall => Err(self.needs_reinstall(key)),
                    };
                }
            }
        }
        Err(OAuthError::Unavailable("another replica is refreshing this location's token and has not finished; retry shortly".into()))
    }

    fn lock_for(&self, location: &str) -> Arc<tokio::sync::Mutex<()>> {
        self.refresh_locks.lock().unwrap_or_else(|p| p.into_inner()).entry(location.to_owned()).or_default().clone()
    }

    fn remember(&self, record: TokenRecord) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).insert(record.location_id.clone(), record);
        self.publish_reinstall_gauge();
    }

    fn publish_reinstall_gauge(&self) {
        let count = self.cache.lock().unwrap_or_else(|p| p.into_inner()).values().filter(|r| r.status == TokenStatus::NeedsReinstall).count();
        gauge!("ghl_oauth_locations_needing_reinstall").set(count as f64);
    }

    fn not_installed(&self, location: &str) -> OAuthError {
        OAuthError::NotInstalled { location: location.to_owned(), install_url: self.install_url.clone() }
    }

    fn needs_reinstall(&self, location: &str) -> OAuthError {
        OAuthError::NeedsReinstall { location: location.to_owned(), install_url: self.install_url.clone() }
    }
}

fn tenant_of(record: &TokenRecord) -> Tenant {
    Tenant::new(record.location_id.clone(), record.access_token.clone(), Some(Scopes::parse(&record.scopes)))
}

/// A record for a new pair; what the refresh response leaves out is kept from the previous one.
fn record_of(key: &str, granted: Granted, previous: Option<&TokenRecord>) -> TokenRecord {
    let scopes = match (granted.scopes.trim(), previous) {
        ("", Some(previous)) => previous.scopes.clone(),
        (scopes, _) => scopes.to_owned(),
    };
    let is_company = granted.holder().is_ok_and(|h| matches!(h, Holder::Company(_))) || previous.is_some_and(TokenRecord::is_company);
    // A refresh answers no approvals: the ones recorded (and approved since) stay.
    let agency = match previous.and_then(|p| p.agency.clone()) {
        Some(kept) if granted.agency.approved_locations.is_empty() => Some(kept),
        _ => is_company.then(|| granted.agency.clone()),
    };
    TokenRecord {
        location_id: key.to_owned(),
        company_id: granted.company_id.or_else(|| previous.and_then(|p| p.company_id.clone())),
        user_id: granted.user_id.or_else(|| previous.and_then(|p| p.user_id.clone())),
        scopes,
        access_token: granted.access_token,
        refresh_token: granted.refresh_token,
        expires_at: granted.expires_at,
        status: TokenStatus::Active,
        updated_at: Utc::now(),
        generation: previous.map_or(1, |p| p.generation + 1),
        agency,
    }
}

/// A location pair minted from its agency's token: no refresh token; renewing it is minting again.
fn minted_record(location: &str, company_id: &str, minted: Minted, previous: Option<&TokenRecord>) -> TokenRecord {
    TokenRecord {
        location_id: location.to_owned(),
        company_id: Some(company_id.to_owned()),
        user_id: minted.user_id.or_else(|| previous.and_then(|p| p.user_id.clone())),
        scopes: minted.scopes,
        access_token: minted.access_token,
        refresh_token: SecretString::from(String::new()),
        expires_at: minted.expires_at,
        status: TokenStatus::Active,
        updated_at: Utc::now(),
        generation: previous.map_or(1, |p| p.generation + 1),
        agency: None,
    }
}

/// Whether `agency`'s install approved `location`.
fn approves(agency: &TokenRecord, location: &str) -> bool {
    agency.agency.as_ref().is_some_and(|g| g.approved_locations.iter().any(|l| l == location))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::grant::GrantConfig;
    use crate::oauth::FileStore;
    use secrecy::SecretString;

    /// Collects formatted log lines, for asserting on levels.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_routine_refresh_logs_at_info_and_only_its_failure_at_warn() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt().with_ansi(false).with_max_level(tracing::Level::INFO).with_writer(move || writer.clone()).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let sandbox = ghl_sandbox::Sandbox::spawn(ghl_sandbox::SandboxConfig::default()).await.unwrap();
        let dir = std::env::temp_dir().join(format!("ghl-tokens-unit-{}-{:x}", std::process::id(), fastrand::u64(..)));
        let store = FileStore::open(&dir, &"ab".repeat(32).parse().unwrap()).unwrap();
        let expired = TokenRecord {
            location_id: ghl_sandbox::LOCATION_ID.into(),
            company_id: None,
            user_id: None,
            scopes: "contacts.readonly".into(),
            access_token: SecretString::from("at"),
            refresh_token: SecretString::from("not-a-refresh-token-the-sandbox-issued"),
            expires_at: Utc::now() - chrono::Duration::hours(1),
            status: TokenStatus::Active,
            updated_at: Utc::now(),
            generation: 1,
            agency: None,
        };
        store.put(&expired).await.unwrap();
        let grants = GrantClient::new(GrantConfig {
            base_url: sandbox.base_url(),
            client_id: ghl_sandbox::OAUTH_CLIENT_ID.into(),
            client_secret: SecretString::from(ghl_sandbox::OAUTH_CLIENT_SECRET),
            redirect_uri: "http://127.0.0.1:9/oauth/callback".into(),
            timeout: Duration::from_secs(5),
        })
        .unwrap();
        let manager = Arc::new(TokenManager::load(Arc::new(store), grants, Duration::from_secs(300), "/oauth/install".into()).await.unwrap());

        let result = manager.tenant(ghl_sandbox::LOCATION_ID).await;

        assert!(matches!(result, Err(OAuthError::NeedsReinstall { .. })), "{result:?}");
        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = |text: &str| logs.lines().find(|l| l.contains(text)).unwrap_or_else(|| panic!("no {text:?} in {logs}")).to_owned();
        assert!(line("refreshing the GHL access token").contains(" INFO "), "{logs}");
        assert!(line("GHL refused the refresh token").contains(" WARN "), "{logs}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
