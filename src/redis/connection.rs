//! The one Redis connection every shared part uses, and whether Redis answers right now.
//!
//! Commands go through a [`ConnectionManager`], which reconnects by itself. Each command is bounded
//! by [`OP_TIMEOUT`], and while a health probe finds Redis down none is sent at all: callers take
//! their fallback at once instead of waiting on a reconnect. The probe's up/down transitions are
//! published ([`Redis::health`]) so the cache can be flushed when Redis comes back.

use std::sync::{Arc, Weak};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, FromRedisValue, IntoConnectionInfo as _, ProtocolVersion};
use metrics::gauge;
use tokio::sync::watch;
use tracing::{info, warn};

use super::keys::Keys;
use super::url::RedisUrl;

/// Longest one Redis command may take before the caller falls back.
pub const OP_TIMEOUT: Duration = Duration::from_millis(250);

/// How often the health probe pings.
const PROBE_EVERY: Duration = Duration::from_millis(200);

/// Why a shared operation did not happen in Redis.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("Redis is unreachable")]
    Down,
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    /// Never carries the URL or a value: only Redis's error kind.
    #[error("Redis refused the command ({0})")]
    Command(String),
}

impl From<::redis::RedisError> for RedisError {
    fn from(error: ::redis::RedisError) -> Self {
        if error.is_io_error() || error.is_connection_dropped() || error.is_timeout() {
            Self::Down
        } else {
            Self::Command(format!("{:?}", error.kind()))
        }
    }
}

/// A handle on the shared Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    commands: ConnectionManager,
    client: Client,
    keys: Keys,
    /// `true` while the probe's last ping was answered.
    health: watch::Sender<bool>,
    /// This process among the replicas (its own publications are not applied twice).
    replica: String,
}

impl Redis {
    /// A connection that reconnects by itself, and its probe; the first ping is awaited (a
    /// replica starts while Redis is down too, on its fallbacks).
    pub async fn connect(url: &RedisUrl, prefix: &str) -> Result<Self, RedisError> {
        let client = Client::open(url.connection_info()?).map_err(RedisError::from)?;
        let commands = ConnectionManager::new_lazy_with_config(client.clone(), manager_config())?;
        let (health, _) = watch::channel(false);
        let replica = format!("{:016x}", fastrand::u64(..));
        let redis = Self { inner: Arc::new(Inner { commands, client, keys: Keys::new(prefix), health, replica }) };
        let up = redis.run_anyway::<String>(::redis::cmd("PING")).await.is_ok();
        redis.inner.health.send_replace(up);
        if !up {
            warn!("Redis is unreachable at start: each replica keeps to its share of GHL's budget and local state until it is back");
        }
        tokio::spawn(probe(Arc::downgrade(&redis.inner)));
        Ok(redis)
    }

    pub fn keys(&self) -> &Keys {
        &self.inner.keys
    }

    pub fn replica(&self) -> &str {
        &self.inner.replica
    }

    /// Whether Redis answered the last probe.
    pub fn is_up(&self) -> bool {
        *self.inner.health.borrow()
    }

    /// Up/down as the probe sees it, from now on.
    pub fn health(&self) -> watch::Receiver<bool> {
        self.inner.health.subscribe()
    }

    /// Runs `cmd` (a command, script invocation or pipeline) within [`OP_TIMEOUT`]; refused at
    /// once while Redis is down.
    pub async fn run<T: FromRedisValue>(&self, cmd: impl Command) -> Result<T, RedisError> {
        if !self.is_up() {
            return Err(RedisError::Down);
        }
        self.run_anyway(cmd).await
    }

    /// As [`run`](Self::run), also while the probe says down (the probe itself).
    async fn run_anyway<T: FromRedisValue>(&self, cmd: impl Command) -> Result<T, RedisError> {
        let mut connection = self.inner.commands.clone();
        match tokio::time::timeout(OP_TIMEOUT, cmd.send(&mut connection)).await {
            Ok(result) => {
                result.map_err(RedisError::from).and_then(|value| T::from_redis_value(value).map_err(|e| RedisError::Command(format!("unexpected reply: {e}"))))
            }
            Err(_) => Err(RedisError::Timeout(OP_TIMEOUT)),
        }
    }

    /// A connection of its own for pub/sub (RESP3 pushes into `sender`, resubscribed after every reconnect).
    pub fn subscriber(&self, sender: tokio::sync::mpsc::UnboundedSender<::redis::PushInfo>) -> Result<ConnectionManager, RedisError> {
        let info = self.inner.client.get_connection_info().clone();
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = Client::open(info.set_redis_settings(settings))?;
        let config = manager_config().set_push_sender(sender).set_automatic_resubscription();
        Ok(ConnectionManager::new_lazy_with_config(client, config)?)
    }
}

/// Something Redis runs: a command, a pipeline or a prepared script invocation.
pub trait Command: Send {
    fn send(self, connection: &mut ConnectionManager) -> impl std::future::Future<Output = ::redis::RedisResult<::redis::Value>> + Send;
}

impl Command for ::redis::Cmd {
    async fn send(self, connection: &mut ConnectionManager) -> ::redis::RedisResult<::redis::Value> {
        self.query_async(connection).await
    }
}

impl Command for ::redis::Pipeline {
    async fn send(self, connection: &mut ConnectionManager) -> ::redis::RedisResult<::redis::Value> {
        self.query_async(connection).await
    }
}

impl Command for ::redis::ScriptInvocation<'_> {
    async fn send(self, connection: &mut ConnectionManager) -> ::redis::RedisResult<::redis::Value> {
        self.invoke_async(connection).await
    }
}

/// Short timeouts and quick retries: a replica must notice Redis is gone (and back) in well under a second.
fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(OP_TIMEOUT))
        .set_response_timeout(Some(OP_TIMEOUT))
        .set_number_of_retries(1)
        .set_min_delay(Duration::from_millis(50))
        .set_max_delay(Duration::from_millis(200))
}

/// Pings until the handle is dropped; says when Redis goes down or comes back.
async fn probe(inner: Weak<Inner>) {
    loop {
        let Some(strong) = inner.upgrade() else { return };
        let redis = Redis { inner: strong };
        let up = redis.run_anyway::<String>(::redis::cmd("PING")).await.is_ok();
        let was = redis.inner.health.send_replace(up);
        gauge!("redis_up").set(if up { 1.0 } else { 0.0 });
        match (was, up) {
            (false, true) => info!("Redis is reachable: shared rate budget, tokens, invalidations and events are on"),
            (true, false) => warn!("Redis is unreachable: each replica keeps to its share of GHL's budget and local state until it is back"),
            _ => {}
        }
        drop(redis);
        tokio::time::sleep(PROBE_EVERY).await;
    }
}

impl RedisUrl {
    fn connection_info(&self) -> Result<::redis::ConnectionInfo, RedisError> {
        use secrecy::ExposeSecret as _;
        self.secret().expose_secret().into_connection_info().map_err(RedisError::from)
    }
}
