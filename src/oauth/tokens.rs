//! Per-location tenants whose tokens refresh themselves.
//!
//! GHL refresh tokens work once, so for each location at most one refresh is in flight (a tokio
//! mutex per location; waiters re-read the pair the winner stored), and a new pair is written to
//! the store before anyone uses it: a crash after that write loses nothing. The window that stays
//! is GHL's answer in flight when the process dies; it is kept as short as one fsync.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use metrics::{counter, gauge};
use tracing::{error, info, warn};

use super::error::OAuthError;
use super::grant::{GrantClient, GrantError, Granted, NotInstallable};
use super::store::{StoreError, TokenRecord, TokenStatus, TokenStore};
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
    /// The last pair stored per location: the store is written first, then this.
    cache: Mutex<HashMap<String, TokenRecord>>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// When each location was last checked against the store for a revoke.
    revoke_checks: Mutex<HashMap<String, std::time::Instant>>,
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
        info!(locations = records.len(), "OAuth token store loaded");
        let cache = records.into_iter().map(|r| (r.location_id.clone(), r)).collect();
        let manager = Self {
            store,
            grants,
            margin: chrono::Duration::from_std(margin).unwrap_or(chrono::Duration::seconds(300)),
            install_url,
            cache: Mutex::new(cache),
            refresh_locks: Mutex::new(HashMap::new()),
            revoke_checks: Mutex::new(HashMap::new()),
        };
        manager.publish_reinstall_gauge();
        Ok(manager)
    }

    pub fn install_url(&self) -> &str {
        &self.install_url
    }

    /// The tenant of `location`, refreshing first when its access token is within the margin.
    pub async fn tenant(self: &Arc<Self>, location: &str) -> Result<Tenant, OAuthError> {
        let record = self.record(location).await?;
        if self.fresh(&record) {
            return Ok(tenant_of(&record));
        }
        self.refresh(location, |manager, current| !manager.fresh(current)).await
    }

    /// After GHL answered 401 (invalid or expired token) to `failed`: refresh once, unless another
    /// request already replaced that token, then use the replacement.
    pub async fn refresh_after_rejection(self: &Arc<Self>, failed: &Tenant) -> Result<Tenant, OAuthError> {
        let rejected = failed.credential_fingerprint();
        self.refresh(failed.location_id(), move |_, current| tenant_of(current).credential_fingerprint() == rejected).await
    }

    /// Stores the pair of a new install (replacing any older one) and returns it. The location is
    /// the one GHL's answer names ([`Granted::location`]); nothing else can choose whose pair is replaced.
    pub async fn install(&self, granted: Granted) -> Result<TokenRecord, InstallError> {
        let location = granted.location()?;
        let location = location.as_str();
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(location).cloned();
        let previous = match cached {
            Some(previous) => Some(previous),
            None => self.store.get(location).await?,
        };
        let mut record = record_of(location, granted, None);
        record.generation = previous.map_or(1, |p| p.generation + 1);
        self.store.put(&record).await?;
        self.remember(record.clone());
        info!(location = %location, "location installed the app");
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

    /// Active and not yet within the refresh margin of its expiry. The margin is at most half the
    /// pair's lifetime: with tokens shorter-lived than `--refresh-margin`, a pair just received
    /// would otherwise be due at once, and every request would refresh again.
    fn fresh(&self, record: &TokenRecord) -> bool {
        let margin = self.margin.min((record.expires_at - record.updated_at) / 2);
        record.status == TokenStatus::Active && record.expires_at - margin > Utc::now()
    }

    async fn record(&self, location: &str) -> Result<TokenRecord, OAuthError> {
        let cached = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(location).cloned();
        let record = match cached {
            Some(record) => {
                self.check_not_revoked(location).await?;
                record
            }
            None => {
                let stored = self.store.get(location).await?.ok_or_else(|| self.not_installed(location))?;
                self.remember(stored.clone());
                stored
            }
        };
        match record.status {
            TokenStatus::Active => Ok(record),
            TokenStatus::NeedsReinstall => Err(self.needs_reinstall(location)),
        }
    }

    /// The single-flight refresh, on its own task: GHL spends the old refresh token as soon as it
    /// answers, so a caller that goes away mid-refresh must not take the new pair with it.
    async fn refresh(self: &Arc<Self>, location: &str, still_needed: impl Fn(&Self, &TokenRecord) -> bool + Send + 'static) -> Result<Tenant, OAuthError> {
        let (manager, location) = (self.clone(), location.to_owned());
        tokio::spawn(async move { manager.refresh_now(&location, still_needed).await })
            .await
            .unwrap_or_else(|_| Err(OAuthError::Unavailable("the token refresh ended abnormally".into())))
    }

    /// Fails once an operator has revoked `location` (`tokens revoke` deletes its record), and
    /// forgets it; the store is asked at most once a second per location.
    async fn check_not_revoked(&self, location: &str) -> Result<(), OAuthError> {
        let due = {
            let mut checked = self.revoke_checks.lock().unwrap_or_else(|p| p.into_inner());
            let now = std::time::Instant::now();
            match checked.get(location) {
                Some(at) if now.duration_since(*at) < REVOKE_CHECK_INTERVAL => false,
                _ => {
                    checked.insert(location.to_owned(), now);
                    true
                }
            }
        };
        if due && !self.store.contains(location).await? {
            self.forget(location);
            return Err(self.not_installed(location));
        }
        Ok(())
    }

    fn forget(&self, location: &str) {
        self.cache.lock().unwrap_or_else(|p| p.into_inner()).remove(location);
        self.revoke_checks.lock().unwrap_or_else(|p| p.into_inner()).remove(location);
        self.publish_reinstall_gauge();
    }

    /// Under the location's lock, `still_needed` looks at the pair as it is now (a waiter usually
    /// finds the winner's new pair and skips the call).
    async fn refresh_now(&self, location: &str, still_needed: impl Fn(&Self, &TokenRecord) -> bool) -> Result<Tenant, OAuthError> {
        let lock = self.lock_for(location);
        let _guard = lock.lock().await;
        let current = self.record(location).await?;
        if !still_needed(self, &current) {
            return Ok(tenant_of(&current));
        }
        // Routine: every location does this about once a day. Failures below log at WARN.
        info!(location = %location, "refreshing the GHL access token");
        counter!("ghl_oauth_refreshes_total").increment(1);
        match self.grants.refresh(location, &current.refresh_token).await {
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
                self.put_persistently(&record).await?;
                self.remember(record.clone());
                Ok(tenant_of(&record))
            }
            Err(GrantError::InvalidGrant) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "invalid_grant").increment(1);
                warn!(location = %location, "GHL refused the refresh token: the location must reinstall the app");
                let mut record = current;
                record.status = TokenStatus::NeedsReinstall;
                record.updated_at = Utc::now();
                self.store.put(&record).await?;
                self.remember(record);
                Err(self.needs_reinstall(location))
            }
            Err(GrantError::Unavailable(reason)) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "unavailable").increment(1);
                // The old access token may still have minutes left: better than failing now.
                if current.expires_at > Utc::now() {
                    warn!(location = %location, reason = %reason, "token refresh failed; using the current token until it expires");
                    return Ok(tenant_of(&current));
                }
                Err(OAuthError::Unavailable(reason))
            }
            Err(GrantError::InvalidClient) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "invalid_client").increment(1);
                error!(location = %location, "GHL rejected the app's client id or secret: check GHL_CLIENT_ID / GHL_CLIENT_SECRET");
                Err(OAuthError::Rejected(GrantError::InvalidClient.to_string()))
            }
            Err(GrantError::Rejected(reason)) => {
                counter!("ghl_oauth_refresh_failures_total", "reason" => "rejected").increment(1);
                Err(OAuthError::Rejected(reason))
            }
        }
    }

    async fn put_persistently(&self, record: &TokenRecord) -> Result<(), OAuthError> {
        let mut delay = Duration::from_millis(20);
        for _ in 0..3 {
            match self.store.put(record).await {
                Ok(()) => return Ok(()),
                Err(error) => {
                    error!(location = %record.location_id, error = %error, "storing a refreshed token pair failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
            }
        }
        Ok(self.store.put(record).await?)
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
fn record_of(location: &str, granted: Granted, previous: Option<&TokenRecord>) -> TokenRecord {
    let scopes = match (granted.scopes.trim(), previous) {
        ("", Some(previous)) => previous.scopes.clone(),
        (scopes, _) => scopes.to_owned(),
    };
    TokenRecord {
        location_id: location.to_owned(),
        company_id: granted.company_id.or_else(|| previous.and_then(|p| p.company_id.clone())),
        user_id: granted.user_id.or_else(|| previous.and_then(|p| p.user_id.clone())),
        scopes,
        access_token: granted.access_token,
        refresh_token: granted.refresh_token,
        expires_at: granted.expires_at,
        status: TokenStatus::Active,
        updated_at: Utc::now(),
        generation: previous.map_or(1, |p| p.generation + 1),
    }
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
