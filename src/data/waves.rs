//! When a request's tasks batch starts: as soon as it can gather nothing more, not after a fixed
//! delay. A batch is complete once the request's resolvers have gone idle (every field that could
//! ask has asked) while no read that could bring more contacts is in flight; the batch delay only
//! bounds the wait. The GraphQL execution reports each idle moment ([`Waves::resolving`]); a
//! request nobody drives (a subscription's) waits the whole delay, as a plain DataLoader does.

use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::Notify;

/// One request's resolver waves and contact reads in flight.
#[derive(Default)]
pub struct Waves {
    /// Whether the executor reports idle moments (else batches wait their whole delay).
    driven: AtomicBool,
    /// Polls of the operation that left it waiting: the resolver tree idle.
    idle: AtomicU64,
    /// Reads in flight that may bring contacts, whose tasks would join the batch.
    contact_reads: AtomicUsize,
    /// Told at each idle moment.
    changed: Notify,
}

/// A contact read in flight (a contact or a page of them); ends when dropped.
pub struct ContactRead(Arc<Waves>);

impl Drop for ContactRead {
    fn drop(&mut self) {
        self.0.contact_reads.fetch_sub(1, Ordering::AcqRel);
    }
}

/// The waker the operation's futures get: it notes that one of them was woken, then wakes the
/// request's task.
#[derive(Default)]
struct PassWaker {
    woken: AtomicBool,
    task: Mutex<Option<Waker>>,
}

impl PassWaker {
    /// From now on wakes `task` (the executor's waker of this poll).
    fn wakes(&self, task: &Waker) {
        self.woken.store(false, Ordering::Release);
        let mut current = self.task.lock().unwrap_or_else(|p| p.into_inner());
        if !current.as_ref().is_some_and(|w| w.will_wake(task)) {
            *current = Some(task.clone());
        }
    }
}

impl Wake for PassWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
            task.wake_by_ref();
        }
    }
}

impl Waves {
    /// Runs `operation` (the resolver tree), reporting each time it goes idle. A poll that woke
    /// the operation again before it returned (a list yielding after so many items, tokio's
    /// budget, an answer arriving meanwhile) is not idle: more fields run at once.
    pub async fn resolving<F: Future>(&self, operation: F) -> F::Output {
        self.driven.store(true, Ordering::Release);
        let mut operation = pin!(operation);
        let pass = Arc::new(PassWaker::default());
        let waker = Waker::from(pass.clone());
        std::future::poll_fn(|cx| {
            pass.wakes(cx.waker());
            match operation.as_mut().poll(&mut Context::from_waker(&waker)) {
                Poll::Pending if !pass.woken.swap(false, Ordering::AcqRel) => {
                    self.idle.fetch_add(1, Ordering::AcqRel);
                    self.changed.notify_waiters();
                    Poll::Pending
                }
                polled => polled,
            }
        })
        .await
    }

    pub(super) fn is_driven(&self) -> bool {
        self.driven.load(Ordering::Acquire)
    }

    /// Counts a contact read until the guard drops.
    pub(super) fn contact_read(self: &Arc<Self>) -> ContactRead {
        self.contact_reads.fetch_add(1, Ordering::AcqRel);
        ContactRead(self.clone())
    }

    /// Resolves when a batch started now has gathered all it can: at the first idle moment after
    /// now with no contact read in flight, or after `most` at the latest. Called as the batch is
    /// created, while the resolvers are still asking.
    pub(super) fn gathered(self: &Arc<Self>, most: Duration) -> impl Future<Output = ()> + Send + 'static {
        let since = self.idle.load(Ordering::Acquire);
        let waves = self.clone();
        async move {
            let deadline = tokio::time::Instant::now() + most;
            loop {
                // Registered before the check, so an idle moment in between is not missed.
                let changed = waves.changed.notified();
                if waves.idle.load(Ordering::Acquire) > since && waves.contact_reads.load(Ordering::Acquire) == 0 {
                    return;
                }
                if tokio::time::timeout_at(deadline, changed).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(30);

    /// An operation that waits once for something outside it (one idle moment).
    fn one_wave() -> impl Future<Output = ()> {
        tokio::time::sleep(Duration::from_millis(1))
    }

    /// An operation that yields once, waking itself (a list after so many items).
    fn yields_once() -> impl Future<Output = ()> {
        let mut polled = false;
        std::future::poll_fn(move |cx| {
            if std::mem::replace(&mut polled, true) {
                Poll::Ready(())
            } else {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
    }

    #[tokio::test]
    async fn a_batch_starts_at_the_first_idle_moment_without_contact_reads() {
        let waves = Arc::new(Waves::default());
        let gathered = waves.gathered(LONG);
        waves.resolving(one_wave()).await;
        tokio::time::timeout(Duration::from_secs(5), gathered).await.expect("started before its delay");
    }

    #[tokio::test]
    async fn a_poll_that_woke_itself_is_not_idle() {
        let waves = Arc::new(Waves::default());
        let gathered = tokio::spawn(waves.gathered(LONG));
        waves.resolving(yields_once()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!gathered.is_finished(), "the resolvers never went idle");
        waves.resolving(one_wave()).await;
        tokio::time::timeout(Duration::from_secs(5), gathered).await.expect("started").expect("task");
    }

    #[tokio::test]
    async fn a_batch_waits_while_contacts_are_read() {
        let waves = Arc::new(Waves::default());
        let read = waves.contact_read();
        let gathered = tokio::spawn(waves.gathered(LONG));
        waves.resolving(one_wave()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!gathered.is_finished(), "a contact read is in flight");
        drop(read);
        waves.resolving(one_wave()).await;
        tokio::time::timeout(Duration::from_secs(5), gathered).await.expect("started").expect("task");
    }

    #[tokio::test]
    async fn a_batch_waits_at_most_its_delay() {
        let waves = Arc::new(Waves::default());
        let _read = waves.contact_read();
        let started = std::time::Instant::now();
        waves.gathered(Duration::from_millis(20)).await;
        assert!(started.elapsed() >= Duration::from_millis(20));
    }
}
