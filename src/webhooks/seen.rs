//! Which `webhookId`s were applied already, so GHL's retries change nothing twice. In process by
//! default; with `--redis-url` the claim is shared, so a retry that reaches another replica is
//! recognised too.

use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;

/// How long a `webhookId` is remembered: GHL's retries span about 70 minutes.
pub const REMEMBER_IDS_FOR: Duration = Duration::from_secs(2 * 60 * 60);

/// Most `webhookId`s remembered at once in process.
const MAX_REMEMBERED_IDS: u64 = 1_000_000;

/// Delivery ids applied, claimed before a delivery is applied.
pub trait SeenIds: Send + Sync {
    /// `true` when no one claimed `id` before: it is remembered from now on.
    fn claim<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool>;
    /// Forgets a claim whose delivery was not applied after all (GHL delivers it again).
    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()>;
}

/// The in-process ids (moka, bounded, expiring).
pub struct LocalIds(moka::sync::Cache<String, ()>);

impl Default for LocalIds {
    fn default() -> Self {
        Self(moka::sync::Cache::builder().max_capacity(MAX_REMEMBERED_IDS).time_to_live(REMEMBER_IDS_FOR).build())
    }
}

impl LocalIds {
    /// The synchronous claim, for callers that keep a local copy beside a shared one.
    pub fn claim_now(&self, id: &str) -> bool {
        self.0.entry(id.to_owned()).or_insert(()).is_fresh()
    }

    pub fn release_now(&self, id: &str) {
        self.0.invalidate(id);
    }
}

impl SeenIds for LocalIds {
    fn claim<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        std::future::ready(self.claim_now(id)).boxed()
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        self.release_now(id);
        std::future::ready(()).boxed()
    }
}
