//! Applied changes fan out over Redis pub/sub: a webhook accepted by any replica invalidates
//! every replica's cache and reaches every replica's subscribers.
//!
//! The bus publishes locally at once and to the channel; each replica applies what the others
//! published (its own messages carry its id and are skipped). Our own writes travel the same way
//! for the caches only ([`Peers`]): their subscribers hear of them from GHL's webhook, once. While Redis is unreachable nothing
//! arrives: the cache's TTL bounds what stays stale, and the whole cache is flushed once Redis is
//! back (what was missed cannot be known).

use std::sync::{Arc, OnceLock, Weak};

use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;

use ::redis::{PushKind, Value};
use metrics::{counter, histogram};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};
use tracing::{debug, info, warn};

use super::{Redis, RedisError};
use crate::data::{ChangeEvent, DataLayer, Peers};
use crate::webhooks::{EventBus, LocalBus};

/// What travels on the channel.
#[derive(Serialize, Deserialize)]
struct Message {
    /// The replica that applied it first.
    origin: String,
    /// When it was published (ms since the epoch), for the fan-out latency metric.
    sent_ms: i64,
    event: ChangeEvent,
    /// Whether the others' subscribers hear of it (a webhook's change), or only their caches
    /// (our own write, whose webhook GHL sends as well).
    #[serde(default = "yes")]
    for_subscribers: bool,
}

fn yes() -> bool {
    true
}

impl Message {
    fn new(redis: &Redis, event: ChangeEvent, for_subscribers: bool) -> Self {
        Self { origin: redis.replica().to_owned(), sent_ms: chrono::Utc::now().timestamp_millis(), event, for_subscribers }
    }

    /// PUBLISHes it; a failure is counted and logged (the TTL bounds what stays stale).
    async fn send(self, redis: Redis) {
        let Ok(payload) = serde_json::to_string(&self) else { return };
        let publish = ::redis::cmd("PUBLISH").arg(redis.keys().changes()).arg(payload).clone();
        if let Err(error) = redis.run::<i64>(publish).await {
            counter!("redis_fallbacks_total", "part" => "changes").increment(1);
            warn!(error = %error, "a change could not reach the other replicas; their cache entries expire within the TTL");
        }
    }
}

/// The event bus of a replica among several.
pub struct RedisBus {
    inner: Arc<Inner>,
}

struct Inner {
    local: LocalBus,
    redis: Redis,
    /// Set by [`RedisBus::follow`]: where others' changes are applied.
    data: OnceLock<DataLayer>,
}

impl RedisBus {
    pub fn new(redis: Redis, capacity: usize) -> Self {
        Self { inner: Arc::new(Inner { local: LocalBus::new(capacity), redis, data: OnceLock::new() }) }
    }

    /// Starts applying the other replicas' changes to `data` (and to this bus's subscribers).
    pub fn follow(&self, data: DataLayer) -> Result<(), RedisError> {
        data.tell_writes_to(Arc::new(WritesOut(Arc::downgrade(&self.inner))));
        let _ = self.inner.data.set(data);
        let (pushes, received) = mpsc::unbounded_channel();
        let connection = self.inner.redis.subscriber(pushes)?;
        tokio::spawn(listen(Arc::downgrade(&self.inner), connection, received));
        Ok(())
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: ChangeEvent) {
        let message = Message::new(&self.inner.redis, event.clone(), true);
        self.inner.local.publish(event);
        tokio::spawn(message.send(self.inner.redis.clone()));
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.local.subscribe()
    }
}

/// Our own writes, to the other replicas' caches (weak: the data layer holds it, and the bus the
/// data layer).
struct WritesOut(Weak<Inner>);

impl Peers for WritesOut {
    fn written_here(&self, change: ChangeEvent) -> BoxFuture<'static, ()> {
        match self.0.upgrade() {
            Some(bus) => Message::new(&bus.redis, change, false).send(bus.redis.clone()).boxed(),
            None => async {}.boxed(),
        }
    }
}

/// Subscribes (again after every reconnect, flushing the cache then) and applies what arrives.
async fn listen(bus: Weak<Inner>, mut connection: ::redis::aio::ConnectionManager, mut received: mpsc::UnboundedReceiver<::redis::PushInfo>) {
    let Some((channel, mut health, replica)) = bus.upgrade().map(|b| (b.redis.keys().changes(), b.redis.health(), b.redis.replica().to_owned())) else {
        return;
    };
    let mut subscribed = false;
    loop {
        if !subscribed && *health.borrow_and_update() {
            // Whatever the others published while we were away is lost: start afresh, before the
            // subscription (so no one sees it in place with stale entries) and after it (so
            // nothing applied in between is kept).
            forget_everything(&bus);
            subscribed = connection.subscribe(&channel).await.is_ok();
            if subscribed {
                forget_everything(&bus);
                info!("following the other replicas' changes");
            }
        }
        tokio::select! {
            push = received.recv() => {
                let Some(push) = push else { return };
                match push.kind {
                    PushKind::Message => {
                        let Some(bus) = bus.upgrade() else { return };
                        apply(&bus, &replica, &push.data);
                    }
                    PushKind::Disconnection => {
                        debug!("the changes subscription dropped");
                        subscribed = false;
                    }
                    _ => {}
                }
            }
            changed = health.changed() => {
                if changed.is_err() {
                    return;
                }
                if !*health.borrow() {
                    subscribed = false;
                }
            }
            // Retry a subscription that failed while the probe already says up.
            () = tokio::time::sleep(std::time::Duration::from_millis(200)), if !subscribed => {}
        }
    }
}

fn forget_everything(bus: &Weak<Inner>) {
    if let Some(data) = bus.upgrade().as_ref().and_then(|bus| bus.data.get()) {
        data.forget_everything();
    }
}

/// A message's `[channel, payload]`: another replica's change, applied here.
fn apply(bus: &Inner, replica: &str, data: &[Value]) {
    let Some(Value::BulkString(payload)) = data.get(1) else { return };
    let Ok(message) = serde_json::from_slice::<Message>(payload) else {
        warn!("an unreadable message on the changes channel was ignored");
        return;
    };
    if message.origin == replica {
        return;
    }
    if let Some(data) = bus.data.get() {
        data.changed_elsewhere(&message.event);
    }
    let lag_ms = chrono::Utc::now().timestamp_millis() - message.sent_ms;
    histogram!("redis_change_fanout_seconds").record(lag_ms.max(0) as f64 / 1000.0);
    if message.for_subscribers {
        bus.local.publish(message.event);
    }
}
