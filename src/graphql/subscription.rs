//! Subscriptions: the changes GHL reported (webhook → data layer → event bus), each delivered with
//! the fresh entity read through the data layer. The webhook already dropped the stale cache
//! entries, so the first subscriber's read refetches once and every other subscriber of the same
//! tenant shares that call (flights) or its answer (cache): no polling, no budget per subscriber.
//!
//! Each subscription reads the bus through its own bounded queue, and each subscriber reads its
//! (shared) subscription's results through another; one that falls behind is ended with
//! `SLOW_CONSUMER` rather than allowed to grow memory. Subscriptions are counted per caller
//! and in total (`TOO_MANY_SUBSCRIPTIONS`), only events of the caller's own location are seen,
//! a location's streams end (`UNAUTHENTICATED`) when the app is uninstalled from it, and every
//! stream completes when the server stops.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_graphql::{Context, Enum, Object, Subscription as SubscriptionRoot, ID};
use futures_util::stream::{self, Stream};
use metrics::{counter, gauge};
use tokio::sync::{broadcast, watch};

use super::appointment::Appointment;
use super::contact::Contact;
use super::note::Note;
use super::request_context::RequestContext;
use super::shared::Shared;
use super::task::Task;
use crate::data::{AppointmentsOf, ChangeEvent, ChangeKind, ContactKey, NoteKey, Subject, TaskKey};
use crate::error::{AppError, FieldResult};
use crate::highlevel::PathId;
use crate::webhooks::EventBus;

/// The subscription root.
pub struct Subscription;

/// What happened to the entity.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ChangeKind")]
pub enum Change {
    Created,
    Updated,
    Deleted,
    /// A task was marked completed.
    Completed,
    /// A contact's tags changed.
    TagsChanged,
    /// A contact's do-not-disturb settings changed.
    DndChanged,
}

impl From<ChangeKind> for Change {
    fn from(kind: ChangeKind) -> Self {
        match kind {
            ChangeKind::Created => Self::Created,
            ChangeKind::Updated => Self::Updated,
            ChangeKind::Deleted => Self::Deleted,
            ChangeKind::Completed => Self::Completed,
            ChangeKind::TagsChanged => Self::TagsChanged,
            ChangeKind::DndChanged => Self::DndChanged,
        }
    }
}

/// How a subscription reached us, for the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    WebSocket,
    Sse,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::WebSocket => "ws",
            Self::Sse => "sse",
        }
    }
}

/// Most subscriptions open at once.
#[derive(Clone, Debug)]
pub struct SubscriptionLimits {
    pub per_caller: usize,
    pub total: usize,
}

/// What every subscription shares: the bus, the counts and the server's stop signal.
pub struct LiveFeed {
    bus: Arc<dyn EventBus>,
    limits: SubscriptionLimits,
    open: Mutex<Open>,
    stopping: watch::Receiver<bool>,
    /// Identical subscriptions share one execution (`live::Shared`).
    pub(super) shared: super::live::SharedExecutions,
    /// Events a subscriber may fall behind.
    pub(super) queue: usize,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_caller: HashMap<String, usize>,
}

impl LiveFeed {
    /// `stopping` turns true when the server begins to stop: every stream then completes.
    pub fn new(bus: Arc<dyn EventBus>, limits: SubscriptionLimits, queue: usize, stopping: watch::Receiver<bool>) -> Self {
        Self { bus, limits, open: Mutex::default(), stopping, shared: Default::default(), queue: queue.max(1) }
    }

    /// Turns true when the server begins to stop.
    pub(super) fn stopping(&self) -> watch::Receiver<bool> {
        self.stopping.clone()
    }

    /// A place for one more subscription of `caller`, if the limits leave one.
    pub(super) fn admit(self: &Arc<Self>, caller: &str, transport: Transport) -> Result<Admitted, AppError> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.by_caller.get(caller).copied().unwrap_or(0);
        if open.total >= self.limits.total || mine >= self.limits.per_caller {
            counter!("graphql_subscriptions_refused_total").increment(1);
            return Err(AppError::TooManySubscriptions(format!(
                "at most {} subscriptions per caller and {} in all are open at once; close one first",
                self.limits.per_caller, self.limits.total
            )));
        }
        open.total += 1;
        *open.by_caller.entry(caller.to_owned()).or_insert(0) += 1;
        gauge!("graphql_subscriptions_open", "transport" => transport.label()).increment(1.0);
        Ok(Admitted { feed: self.clone(), caller: caller.to_owned(), transport })
    }
}

/// One open subscription's place; given back when its stream is dropped (ended or abandoned).
pub(super) struct Admitted {
    feed: Arc<LiveFeed>,
    caller: String,
    transport: Transport,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut open = self.feed.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(mine) = open.by_caller.get_mut(&self.caller) {
            *mine -= 1;
            if *mine == 0 {
                open.by_caller.remove(&self.caller);
            }
        }
        gauge!("graphql_subscriptions_open", "transport" => self.transport.label()).decrement(1.0);
    }
}

/// What a subscription's execution carries: its caller's request context (a live one, whose
/// memo starts over at every event) and the feed.
#[derive(Clone)]
pub struct LiveContext {
    pub request: Arc<RequestContext>,
    pub feed: Arc<LiveFeed>,
}

/// The events of one subscription, in order, for the caller's location and the given filter.
struct Events {
    receiver: broadcast::Receiver<ChangeEvent>,
    stopping: watch::Receiver<bool>,
    location: String,
    subject: Subject,
    contact: Option<String>,
    request: Arc<RequestContext>,
    ended: bool,
}

impl Events {
    fn open(ctx: &Context<'_>, subject: Subject, contact: Option<ID>) -> Result<Self, AppError> {
        let live = ctx.data::<LiveContext>().map_err(|_| AppError::BadUserInput("subscriptions are served over WebSocket (`/ws`) or SSE".into()))?;
        let scope = live.request.read_scope()?;
        let tenant = scope.data.tenant();
        Ok(Self {
            receiver: live.feed.bus.subscribe(),
            stopping: live.feed.stopping.clone(),
            location: tenant.location_id().to_owned(),
            subject,
            contact: contact.map(|id| id.0),
            request: live.request.clone(),
            ended: false,
        })
    }

    fn wants(&self, event: &ChangeEvent) -> bool {
        event.subject == self.subject
            && event.location_id == self.location
            && self.contact.as_deref().is_none_or(|wanted| event.contact_id.as_deref() == Some(wanted))
    }

    /// The next wanted event; `Err` once when the subscriber fell behind; `None` at the end.
    async fn next(&mut self) -> Option<Result<ChangeEvent, AppError>> {
        if self.ended || *self.stopping.borrow() {
            return None;
        }
        loop {
            tokio::select! {
                _ = self.stopping.changed() => return None,
                received = self.receiver.recv() => match received {
                    Ok(event) if event.subject == Subject::Installation && event.location_id == self.location => {
                        self.ended = true;
                        return Some(Err(AppError::Unauthenticated(
                            "the app was uninstalled from this location, so its subscriptions ended; install it again to subscribe".into(),
                        )));
                    }
                    Ok(event) if self.wants(&event) => {
                        // A new event: what this subscription read before may be stale now.
                        if let Ok(scope) = self.request.read_scope() {
                            scope.data.start_over();
                        }
                        return Some(Ok(event));
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        self.ended = true;
                        counter!("graphql_subscribers_dropped_total", "reason" => "slow_consumer").increment(1);
                        return Some(Err(AppError::SlowConsumer(format!(
                            "this subscriber fell {missed} events behind and was ended; subscribe again (and read faster)"
                        ))));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
            }
        }
    }

    /// The events as a stream of payloads built by `payload`.
    fn stream<T, F, Fut>(self, payload: F) -> impl Stream<Item = FieldResult<T>> + Send
    where
        T: Send + 'static,
        F: Fn(Arc<RequestContext>, ChangeEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = FieldResult<T>> + Send,
    {
        stream::unfold((self, payload), |(mut events, payload)| async move {
            let item = match events.next().await? {
                Ok(event) => payload(events.request.clone(), event).await,
                Err(error) => Err(error.into()),
            };
            Some((item, (events, payload)))
        })
    }
}

fn path_id(id: Option<&str>, field: &'static str) -> Result<Option<PathId>, AppError> {
    id.map(|id| PathId::parse(id, field)).transpose().map_err(AppError::from)
}

/// Changes GHL reported, as they happen: each event with the fresh entity.
#[SubscriptionRoot]
impl Subscription {
    /// An import job of this caller: its state now, then as rows complete; ends when the job does.
    async fn contact_import_progress(&self, ctx: &Context<'_>, id: ID) -> FieldResult<impl Stream<Item = FieldResult<super::import::ContactImport>>> {
        super::import::progress(ctx, &id)
    }

    /// Changes of one contact (`id`), or of every contact of the location when `id` is omitted.
    async fn contact_changed(&self, ctx: &Context<'_>, id: Option<ID>) -> FieldResult<impl Stream<Item = FieldResult<ContactChange>>> {
        let events = Events::open(ctx, Subject::Contact, id)?;
        Ok(events.stream(|request, event| async move {
            let id = path_id(event.contact_id.as_deref(), "id")?;
            let contact = match (&id, event.kind) {
                (Some(id), kind) if kind != ChangeKind::Deleted => request.read_scope()?.load(ContactKey(id.clone())).await?.map(Contact::new),
                _ => None,
            };
            Ok(ContactChange { kind: event.kind.into(), contact_id: event.contact_id.map(ID), contact })
        }))
    }

    /// Changes of the tasks of one contact, or of every contact of the location.
    async fn task_changed(&self, ctx: &Context<'_>, contact_id: Option<ID>) -> FieldResult<impl Stream<Item = FieldResult<TaskChange>>> {
        let events = Events::open(ctx, Subject::Task, contact_id)?;
        Ok(events.stream(|request, event| async move {
            let (contact, task) = (path_id(event.contact_id.as_deref(), "contactId")?, path_id(event.item_id.as_deref(), "taskId")?);
            let fresh = match (contact, task, event.kind) {
                (Some(contact), Some(task), kind) if kind != ChangeKind::Deleted => {
                    request.read_scope()?.load(TaskKey(contact.clone(), task)).await?.map(|t| Task::new(t, contact.as_str()))
                }
                _ => None,
            };
            Ok(TaskChange { kind: event.kind.into(), contact_id: event.contact_id.map(ID), task_id: event.item_id.map(ID), task: fresh })
        }))
    }

    /// Changes of the notes of one contact, or of every contact of the location.
    async fn note_changed(&self, ctx: &Context<'_>, contact_id: Option<ID>) -> FieldResult<impl Stream<Item = FieldResult<NoteChange>>> {
        let events = Events::open(ctx, Subject::Note, contact_id)?;
        Ok(events.stream(|request, event| async move {
            let (contact, note) = (path_id(event.contact_id.as_deref(), "contactId")?, path_id(event.item_id.as_deref(), "noteId")?);
            let fresh = match (contact, note, event.kind) {
                (Some(contact), Some(note), kind) if kind != ChangeKind::Deleted => {
                    request.read_scope()?.load(NoteKey(contact.clone(), note)).await?.map(|n| Note::new(n, contact.as_str()))
                }
                _ => None,
            };
            Ok(NoteChange { kind: event.kind.into(), contact_id: event.contact_id.map(ID), note_id: event.item_id.map(ID), note: fresh })
        }))
    }

    /// Changes of the appointments of one contact, or of every contact of the location.
    async fn appointment_changed(&self, ctx: &Context<'_>, contact_id: Option<ID>) -> FieldResult<impl Stream<Item = FieldResult<AppointmentChange>>> {
        let events = Events::open(ctx, Subject::Appointment, contact_id)?;
        Ok(events.stream(|request, event| async move {
            let contact = path_id(event.contact_id.as_deref(), "contactId")?;
            let fresh = match (contact, &event.item_id, event.kind) {
                (Some(contact), Some(id), kind) if kind != ChangeKind::Deleted => {
                    let all = request.read_scope()?.load(AppointmentsOf(contact.clone())).await?;
                    all.iter().position(|a| a.id == *id).map(|index| Appointment::new(Shared::Item(all, index), contact.as_str()))
                }
                _ => None,
            };
            Ok(AppointmentChange { kind: event.kind.into(), contact_id: event.contact_id.map(ID), appointment_id: event.item_id.map(ID), appointment: fresh })
        }))
    }
}

/// A contact changed.
pub struct ContactChange {
    kind: Change,
    contact_id: Option<ID>,
    contact: Option<Contact>,
}

/// A contact changed: what happened, and the contact as GHL holds it now.
#[Object]
impl ContactChange {
    async fn kind(&self) -> Change {
        self.kind
    }
    /// The contact's id (GHL always names it for contact events).
    async fn contact_id(&self) -> Option<&ID> {
        self.contact_id.as_ref()
    }
    /// The contact as GHL holds it now; null when it was deleted.
    async fn contact(&self) -> Option<&Contact> {
        self.contact.as_ref()
    }
}

/// A task changed.
pub struct TaskChange {
    kind: Change,
    contact_id: Option<ID>,
    task_id: Option<ID>,
    task: Option<Task>,
}

/// A task changed.
#[Object]
impl TaskChange {
    async fn kind(&self) -> Change {
        self.kind
    }
    /// The task's contact; null when GHL's event did not name it.
    async fn contact_id(&self) -> Option<&ID> {
        self.contact_id.as_ref()
    }
    async fn task_id(&self) -> Option<&ID> {
        self.task_id.as_ref()
    }
    /// The task as GHL holds it now; null when it was deleted (or its contact is unknown).
    async fn task(&self) -> Option<&Task> {
        self.task.as_ref()
    }
}

/// A note changed.
pub struct NoteChange {
    kind: Change,
    contact_id: Option<ID>,
    note_id: Option<ID>,
    note: Option<Note>,
}

/// A note changed.
#[Object]
impl NoteChange {
    async fn kind(&self) -> Change {
        self.kind
    }
    async fn contact_id(&self) -> Option<&ID> {
        self.contact_id.as_ref()
    }
    async fn note_id(&self) -> Option<&ID> {
        self.note_id.as_ref()
    }
    /// The note as GHL holds it now; null when it was deleted.
    async fn note(&self) -> Option<&Note> {
        self.note.as_ref()
    }
}

/// An appointment changed.
pub struct AppointmentChange {
    kind: Change,
    contact_id: Option<ID>,
    appointment_id: Option<ID>,
    appointment: Option<Appointment>,
}

/// An appointment changed.
#[Object]
impl AppointmentChange {
    async fn kind(&self) -> Change {
        self.kind
    }
    async fn contact_id(&self) -> Option<&ID> {
        self.contact_id.as_ref()
    }
    async fn appointment_id(&self) -> Option<&ID> {
        self.appointment_id.as_ref()
    }
    /// The appointment as GHL holds it now; null when it was deleted.
    async fn appointment(&self) -> Option<&Appointment> {
        self.appointment.as_ref()
    }
}
