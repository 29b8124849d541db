//! The state every handler shares: one `Arc` of concrete parts, each behind its own lock so that
//! the hot path (GET a contact) takes only the store's read lock and two short mutexes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use crate::auth::TokenRegistry;
use crate::config::SandboxConfig;
use crate::faults::FaultSet;
use crate::installs::Installs;
use crate::oauth::{OAuth, TokenAnswer};
use crate::rate_limit::RateLimiter;
use crate::request_log::RequestLog;
use crate::store::Store;
use crate::webhooks::WebhookSender;

pub(crate) type App = Arc<Shared>;

pub(crate) struct Shared {
    store: RwLock<Store>,
    pub tokens: TokenRegistry,
    pub oauth: OAuth,
    /// Where the app is installed (locations and agency installs).
    installs: Mutex<Installs>,
    pub limiter: RateLimiter,
    pub faults: FaultSet,
    pub log: RequestLog,
    latency_nanos: AtomicU64,
    pub access_token_ttl: Duration,
    /// Of an agency's (Company) own access tokens.
    pub company_token_ttl: Duration,
    token_answer: Mutex<TokenAnswer>,
    /// `http://127.0.0.1:PORT`, for `nextPageUrl`.
    pub base_url: String,
    /// Signed events out after each write.
    pub webhooks: Arc<WebhookSender>,
}

impl Shared {
    pub(crate) fn new(config: &SandboxConfig, store: Store, base_url: String) -> Self {
        Self {
            store: RwLock::new(store),
            tokens: TokenRegistry::with_static_tokens(),
            oauth: OAuth::new(config.seed),
            installs: Mutex::new(Installs::default()),
            limiter: RateLimiter::new(config.rate_limit, config.daily_limit),
            faults: FaultSet::new(config.seed),
            log: RequestLog::new(),
            latency_nanos: AtomicU64::new(nanos(config.latency)),
            access_token_ttl: config.access_token_ttl,
            company_token_ttl: config.company_token_ttl.unwrap_or(config.access_token_ttl),
            token_answer: Mutex::new(TokenAnswer::default()),
            base_url,
            webhooks: Arc::new(WebhookSender::new(config.webhook_url.clone(), config.seed, config.webhook_retries, config.webhook_retry_interval)),
        }
    }

    /// A poisoned lock only means a handler panicked mid-request; the data is still usable.
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, Store> {
        self.store.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Store> {
        self.store.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn installs(&self) -> std::sync::MutexGuard<'_, Installs> {
        self.installs.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn token_answer(&self) -> TokenAnswer {
        *self.token_answer.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set_token_answer(&self, answer: TokenAnswer) {
        *self.token_answer.lock().unwrap_or_else(|e| e.into_inner()) = answer;
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    pub(crate) fn set_latency(&self, latency: Duration) {
        self.latency_nanos.store(nanos(latency), Ordering::Relaxed);
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
