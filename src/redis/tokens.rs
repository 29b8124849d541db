//! Token pairs in Redis, sealed exactly as on disk (XChaCha20-Poly1305 under `TOKEN_STORE_KEY`,
//! bound to their location), so every replica reads the pair any of them stored; and the refresh
//! lease: `INCR` gives a fencing token, `SET NX PX` holds the lease, and a refreshed pair is
//! written by a script only while the lease still holds that token. A replica whose lease
//! expired mid-refresh (paused, partitioned) is refused instead of overwriting a newer pair.

use ::redis::Script;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;
use tracing::debug;

use super::{Redis, RedisError};
use crate::oauth::{Listing, Sealer, StoreError, StoreKey, TokenRecord, TokenStore};

/// How long a lease holds: far above one refresh (a GHL call), short enough that a replica that
/// died mid-refresh does not block its location for long.
const LEASE_MS: u64 = 30_000;

/// Writes ARGV[2] (the sealed pair) to KEYS[1] only while KEYS[2] (the lease) holds ARGV[1].
const PUT_FENCED: &str = r#"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[3])
redis.call('DEL', KEYS[2])
return 1
"#;

const RELEASE: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

pub struct RedisTokenStore {
    redis: Redis,
    sealer: Sealer,
    put_fenced: Script,
    release: Script,
}

impl RedisTokenStore {
    pub fn new(redis: Redis, key: &StoreKey) -> Self {
        Self { redis, sealer: Sealer::new(key), put_fenced: Script::new(PUT_FENCED), release: Script::new(RELEASE) }
    }

    fn seal(&self, record: &TokenRecord) -> Result<Vec<u8>, StoreError> {
        self.sealer.seal(record).ok_or_else(|| StoreError::Shared("a token record could not be sealed".into()))
    }

    fn open(&self, key: &str, bytes: &[u8]) -> Result<TokenRecord, StoreError> {
        self.sealer.open(bytes, key).ok_or_else(|| StoreError::Shared(format!("the record of `{key}` does not open: wrong TOKEN_STORE_KEY or damaged")))
    }

    async fn scan_all(&self) -> Result<Listing, StoreError> {
        let keys = self.redis.keys();
        let mut members: Vec<String> = self.redis.run(::redis::cmd("SMEMBERS").arg(keys.token_index()).clone()).await.map_err(shared)?;
        members.sort();
        let mut listing = Listing::default();
        for member in members {
            let bytes: Option<Vec<u8>> = self.redis.run(::redis::cmd("GET").arg(keys.token(&member)).clone()).await.map_err(shared)?;
            match bytes.map(|bytes| self.open(&member, &bytes)) {
                Some(Ok(record)) => listing.records.push(record),
                Some(Err(_)) => listing.damaged.push(crate::oauth::Damaged { path: keys.token(&member).into(), location: Some(member) }),
                None => {}
            }
        }
        Ok(listing)
    }
}

fn shared(error: RedisError) -> StoreError {
    StoreError::Shared(error.to_string())
}

impl TokenStore for RedisTokenStore {
    fn get<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<Option<TokenRecord>, StoreError>> {
        async move {
            let bytes: Option<Vec<u8>> = self.redis.run(::redis::cmd("GET").arg(self.redis.keys().token(location)).clone()).await.map_err(shared)?;
            bytes.map(|bytes| self.open(location, &bytes)).transpose()
        }
        .boxed()
    }

    fn put<'a>(&'a self, record: &'a TokenRecord) -> BoxFuture<'a, Result<(), StoreError>> {
        async move {
            let keys = self.redis.keys();
            let sealed = self.seal(record)?;
            let mut pipe = ::redis::pipe();
            pipe.atomic().set(keys.token(&record.location_id), sealed).ignore().sadd(keys.token_index(), &record.location_id).ignore();
            self.redis.run::<()>(pipe).await.map_err(shared)
        }
        .boxed()
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<TokenRecord>, StoreError>> {
        async move {
            let listing = self.scan_all().await?;
            match listing.damaged.into_iter().next() {
                Some(damaged) => Err(StoreError::Shared(format!("the record of `{}` does not open", damaged.location.unwrap_or_default()))),
                None => Ok(listing.records),
            }
        }
        .boxed()
    }

    fn scan(&self) -> BoxFuture<'_, Result<Listing, StoreError>> {
        self.scan_all().boxed()
    }

    fn delete<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            let keys = self.redis.keys();
            let mut pipe = ::redis::pipe();
            pipe.atomic().del(keys.token(location)).srem(keys.token_index(), location).ignore();
            let (deleted,): (i64,) = self.redis.run(pipe).await.map_err(shared)?;
            Ok(deleted > 0)
        }
        .boxed()
    }

    fn contains<'a>(&'a self, location: &'a str) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            match self.redis.run::<bool>(::redis::cmd("EXISTS").arg(self.redis.keys().token(location)).clone()).await {
                Ok(exists) => Ok(exists),
                // The revoke check only: while Redis is away a cached pair keeps serving (a refresh still needs the lease).
                Err(error) => {
                    debug!(error = %error, "revoke check skipped: the shared token store is unreachable");
                    Ok(true)
                }
            }
        }
        .boxed()
    }

    fn lease<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<u64>, StoreError>> {
        async move {
            let keys = self.redis.keys();
            let fence: u64 = self.redis.run(::redis::cmd("INCR").arg(keys.fence(key)).clone()).await.map_err(shared)?;
            let taken: Option<String> =
                self.redis.run(::redis::cmd("SET").arg(keys.lease(key)).arg(fence).arg("NX").arg("PX").arg(LEASE_MS).clone()).await.map_err(shared)?;
            Ok(taken.map(|_| fence))
        }
        .boxed()
    }

    fn put_fenced<'a>(&'a self, record: &'a TokenRecord, fence: u64) -> BoxFuture<'a, Result<bool, StoreError>> {
        async move {
            let keys = self.redis.keys();
            let sealed = self.seal(record)?;
            let mut invocation = self.put_fenced.prepare_invoke();
            invocation.key(keys.token(&record.location_id)).key(keys.lease(&record.location_id)).key(keys.token_index());
            invocation.arg(fence).arg(sealed).arg(&record.location_id);
            let written: i64 = self.redis.run(invocation).await.map_err(shared)?;
            Ok(written == 1)
        }
        .boxed()
    }

    fn release<'a>(&'a self, key: &'a str, fence: u64) -> BoxFuture<'a, ()> {
        async move {
            let mut invocation = self.release.prepare_invoke();
            invocation.key(self.redis.keys().lease(key)).arg(fence);
            let _ = self.redis.run::<i64>(invocation).await;
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use secrecy::{ExposeSecret as _, SecretString};

    use super::*;
    use crate::oauth::TokenStatus;
    use crate::redis::test_server::server;

    fn record(generation: u64) -> TokenRecord {
        TokenRecord {
            location_id: "loc".into(),
            company_id: None,
            user_id: None,
            scopes: "contacts.readonly".into(),
            access_token: SecretString::from("at-canary"),
            refresh_token: SecretString::from("rt-canary"),
            expires_at: Utc::now(),
            status: TokenStatus::Active,
            updated_at: Utc::now(),
            generation,
            agency: None,
        }
    }

    #[tokio::test]
    async fn a_write_that_lost_its_lease_is_refused_and_records_are_sealed() {
        let (_server, redis) = server().await;
        let store = RedisTokenStore::new(redis.clone(), &"ab".repeat(32).parse().unwrap());

        let first = store.lease("loc").await.unwrap().expect("free lease");
        assert_eq!(store.lease("loc").await.unwrap(), None, "held by the first refresher");
        // The first holder stalls past its lease; another replica takes over.
        let _: i64 = redis.run(::redis::cmd("DEL").arg(redis.keys().lease("loc")).clone()).await.unwrap();
        let second = store.lease("loc").await.unwrap().expect("expired lease taken over");
        assert!(second > first, "fencing tokens only grow");

        assert!(!store.put_fenced(&record(2), first).await.unwrap(), "the stale holder's write is refused");
        assert!(store.get("loc").await.unwrap().is_none(), "nothing written");
        assert!(store.put_fenced(&record(3), second).await.unwrap());
        assert_eq!(store.get("loc").await.unwrap().unwrap().generation, 3);
        assert_eq!(store.lease("loc").await.unwrap().map(|f| f > second), Some(true), "the write released the lease");

        let raw: Vec<u8> = redis.run(::redis::cmd("GET").arg(redis.keys().token("loc")).clone()).await.unwrap();
        assert!(!String::from_utf8_lossy(&raw).contains("canary"), "sealed in Redis");
        let other_key = RedisTokenStore::new(redis, &"cd".repeat(32).parse().unwrap());
        assert!(other_key.get("loc").await.is_err(), "opens only under TOKEN_STORE_KEY");
        assert_eq!(store.list().await.unwrap()[0].refresh_token.expose_secret(), "rt-canary");
    }
}
