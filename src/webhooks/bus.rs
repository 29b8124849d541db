//! The event bus: applied changes, for whoever listens (the subscriptions). In process by
//! default; a Redis backend can implement the same trait for replicas.

use tokio::sync::broadcast;

use crate::data::ChangeEvent;

/// Where applied changes are published.
pub trait EventBus: Send + Sync {
    fn publish(&self, event: ChangeEvent);
    /// Every change published from now on; a listener that falls behind by more than the
    /// bus's capacity misses the oldest ones and is told so (`RecvError::Lagged`).
    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent>;
}

/// The in-process bus: a bounded broadcast channel.
pub struct LocalBus(broadcast::Sender<ChangeEvent>);

impl LocalBus {
    pub fn new(capacity: usize) -> Self {
        Self(broadcast::channel(capacity.max(1)).0)
    }
}

impl EventBus for LocalBus {
    fn publish(&self, event: ChangeEvent) {
        // No listener is not an error: nobody subscribed yet.
        let _ = self.0.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.0.subscribe()
    }
}
