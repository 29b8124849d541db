//! `webhookId`s claimed in Redis (`SET NX PX`), so a GHL retry that reaches another replica is
//! applied once across all of them. While Redis is unreachable each replica still remembers the
//! ids it applied itself (the in-process copy kept beside the shared one).

use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use metrics::counter;
use tracing::debug;

use super::Redis;
use crate::webhooks::{LocalIds, SeenIds, REMEMBER_IDS_FOR};

pub struct SharedIds {
    redis: Redis,
    local: LocalIds,
}

impl SharedIds {
    pub fn new(redis: Redis) -> Self {
        Self { redis, local: LocalIds::default() }
    }
}

impl SeenIds for SharedIds {
    fn claim<'a>(&'a self, id: &'a str) -> BoxFuture<'a, bool> {
        async move {
            let fresh_here = self.local.claim_now(id);
            let ttl_ms = u64::try_from(REMEMBER_IDS_FOR.as_millis()).unwrap_or(u64::MAX);
            let claim = ::redis::cmd("SET").arg(self.redis.keys().webhook(id)).arg(1).arg("NX").arg("PX").arg(ttl_ms).clone();
            match self.redis.run::<Option<String>>(claim).await {
                Ok(set) => set.is_some(),
                Err(error) => {
                    counter!("redis_fallbacks_total", "part" => "webhook_ids").increment(1);
                    debug!(error = %error, "webhook id checked in process only");
                    fresh_here
                }
            }
        }
        .boxed()
    }

    fn release<'a>(&'a self, id: &'a str) -> BoxFuture<'a, ()> {
        async move {
            self.local.release_now(id);
            let _ = self.redis.run::<i64>(::redis::cmd("DEL").arg(self.redis.keys().webhook(id)).clone()).await;
        }
        .boxed()
    }
}
