//! Contact imports over GraphQL: `startContactImport`, `contactImport(id)`, `cancelContactImport`
//! and the `contactImportProgress` subscription, over the same engine as the `import` command.
//!
//! A job belongs to the tenant and the caller (API key) that started it: anyone else finds
//! nothing under its id. Rows are validated as the command validates them; a bad row is a failed
//! result, never a refused request. Jobs live in this process (see `jobs::registry`).

use std::sync::Arc;
use std::time::Duration;

use async_graphql::connection::Connection;
use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, ID};
use futures_util::stream::{self, Stream};

use super::connection::{offset_page, page_request, PageCursor, SignedCursor, TenantCursors};
use super::contact::CreateContactInput;
use super::request_context::Scope;
use super::subscription::LiveContext;
use crate::callers::CallerId;
use crate::error::{AppError, AppResult, FieldResult};
use crate::jobs::{self, ImportRegistry, JobHandle, JobOwner, Outcome, RegistryError, Row, RunOptions, Snapshot, Status, MAX_CONCURRENCY};

/// Least time between two progress events of one subscription.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Where an import job is.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactImportStatus {
    /// Rows are being sent.
    Running,
    /// Every row has a result.
    Completed,
    /// Stopped by `cancelContactImport`; rows not sent stay pending.
    Cancelled,
    /// Stopped for good: GHL refused the token or scope (see `reason`).
    Failed,
    /// The location's daily GHL budget ran out; rows not sent stay pending.
    PausedBudget,
}

impl From<Status> for ContactImportStatus {
    fn from(status: Status) -> Self {
        match status {
            Status::Running => Self::Running,
            Status::Completed => Self::Completed,
            Status::Cancelled => Self::Cancelled,
            Status::Failed => Self::Failed,
            Status::PausedBudget => Self::PausedBudget,
        }
    }
}

/// What became of one row.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ContactImportOutcome {
    /// A new contact was created.
    Created,
    /// An existing contact (same email or phone) was updated.
    Updated,
    /// The row repeats one written earlier in this import: nothing was sent.
    Unchanged,
    /// The row was invalid or GHL refused it (see `message`).
    Failed,
}

impl From<Outcome> for ContactImportOutcome {
    fn from(outcome: Outcome) -> Self {
        match outcome {
            Outcome::Created => Self::Created,
            Outcome::Updated => Self::Updated,
            Outcome::Unchanged => Self::Unchanged,
            Outcome::Failed => Self::Failed,
        }
    }
}

/// How an import runs.
#[derive(InputObject, Default)]
pub struct ContactImportOptions {
    /// Validate only: invalid rows get failed results, nothing is sent to GHL.
    #[graphql(default = false)]
    pub dry_run: bool,
    /// Rows in flight at once, 1 to 16 (default 4).
    pub concurrency: Option<i32>,
}

/// Rows of an import by outcome.
#[derive(SimpleObject)]
pub struct ContactImportCounts {
    /// Contacts created.
    pub created: i32,
    /// Existing contacts updated.
    pub updated: i32,
    /// Rows that repeated an earlier one.
    pub unchanged: i32,
    /// Rows that failed.
    pub failed: i32,
    /// Rows without a result yet.
    pub pending: i32,
    /// All rows.
    pub total: i32,
}

/// One row's result.
#[derive(SimpleObject)]
pub struct ContactImportResult {
    /// The row's position in the input, from 1.
    pub row: i32,
    /// The row's email, else its phone.
    pub key: String,
    /// The contact written, when one was.
    pub contact_id: Option<ID>,
    /// What became of the row.
    pub outcome: ContactImportOutcome,
    /// GHL's message or our reason for a failure; a warning on a success (a field GHL did not keep).
    pub message: Option<String>,
}

/// An import of contacts into GHL, running in the background.
pub struct ContactImport {
    job: JobHandle,
    snapshot: Snapshot,
    cursors: TenantCursors,
}

impl ContactImport {
    fn new(job: JobHandle, cursors: TenantCursors) -> Self {
        Self { snapshot: job.progress.snapshot(), job, cursors }
    }
}

fn count(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[Object]
impl ContactImport {
    /// The job's id.
    async fn id(&self) -> ID {
        ID(self.job.id.clone())
    }

    /// Where the job is.
    async fn status(&self) -> ContactImportStatus {
        self.snapshot.status.into()
    }

    /// Rows by outcome.
    async fn counts(&self) -> ContactImportCounts {
        let c = self.snapshot.counts;
        ContactImportCounts {
            created: count(c.created),
            updated: count(c.updated),
            unchanged: count(c.unchanged),
            failed: count(c.failed),
            pending: count(c.pending),
            total: count(c.total()),
        }
    }

    /// Seconds the pending rows take at best within the import's share of the rate budget; 0 once finished.
    async fn eta_seconds(&self) -> i32 {
        count(self.snapshot.eta.as_secs_f64().ceil() as u64)
    }

    /// Seconds since the job started (until it finished).
    async fn elapsed_seconds(&self) -> f64 {
        self.snapshot.elapsed.as_secs_f64()
    }

    /// Why the job failed, paused or stopped.
    async fn reason(&self) -> Option<&str> {
        self.snapshot.reason.as_deref()
    }

    /// Results of the rows that have one, in row order.
    async fn results(
        &self,
        #[graphql(default = 20, desc = "Page size, 0 to 100.")] first: i32,
        #[graphql(desc = "`endCursor` of the previous page.")] after: Option<String>,
    ) -> FieldResult<Connection<SignedCursor, ContactImportResult>> {
        let (first, cursor) = page_request(&self.cursors, first, after.as_deref())?;
        let offset = match cursor {
            None => 0,
            Some(PageCursor::Skip(offset)) => offset,
            Some(PageCursor::SearchAfter(_)) => return Err(AppError::BadUserInput("`after` is a cursor of another list".into()).into()),
        };
        let (results, more) = self.job.progress.results(offset as usize, first as usize);
        let rows = results
            .into_iter()
            .map(|r| ContactImportResult { row: count(r.row), key: r.key, contact_id: r.contact_id.map(ID), outcome: r.outcome.into(), message: r.message })
            .collect();
        Ok(offset_page(&self.cursors, offset, rows, more))
    }
}

/// The job's owner: the request's tenant and caller.
fn owner(ctx: &Context<'_>, scope: &Scope) -> JobOwner {
    let caller = ctx.data_opt::<CallerId>().cloned().unwrap_or_else(|| CallerId::of(None));
    JobOwner { tenant: scope.data.tenant().budget_key().to_owned(), caller: caller.as_str().to_owned() }
}

fn registry<'a>(ctx: &Context<'a>) -> AppResult<&'a Arc<ImportRegistry>> {
    ctx.data::<Arc<ImportRegistry>>().map_err(|_| AppError::Internal)
}

/// A row from one input: converted and validated as the command's rows are.
fn row(number: u64, input: CreateContactInput) -> Row {
    let key = input.email.clone().or_else(|| input.phone.clone()).unwrap_or_default();
    let write = input.into_wire().map_err(|e| e.to_string()).and_then(|write| jobs::validate(&write).map(|()| write));
    Row { number, key, write }
}

/// `startContactImport`.
pub async fn start(ctx: &Context<'_>, input: Vec<CreateContactInput>, options: Option<ContactImportOptions>) -> FieldResult<ContactImport> {
    let scope = Scope::for_write(ctx)?;
    let registry = registry(ctx)?;
    let options = options.unwrap_or_default();
    let concurrency = match options.concurrency {
        None => jobs::DEFAULT_CONCURRENCY,
        Some(n) if (1..=MAX_CONCURRENCY as i32).contains(&n) => n as usize,
        Some(_) => return Err(AppError::BadUserInput(format!("`concurrency` must be between 1 and {MAX_CONCURRENCY}")).into()),
    };
    if input.len() > registry.limits().max_rows {
        return Err(AppError::BadUserInput(RegistryError::Rows(registry.limits().max_rows).to_string()).into());
    }
    let rows = input.into_iter().enumerate().map(|(i, input)| row(i as u64 + 1, input)).collect();
    let job = registry.start(owner(ctx, scope), scope.data.tenant().clone(), rows, options.dry_run, RunOptions { concurrency }).map_err(|e| match e {
        RegistryError::Rows(_) => AppError::BadUserInput(e.to_string()),
        RegistryError::Full(_) => AppError::TooManyImports(e.to_string()),
    })?;
    Ok(ContactImport::new(job, scope.cursors.clone()))
}

/// `contactImport(id)`: `None` for an unknown id and for another caller's job alike.
pub fn find(ctx: &Context<'_>, id: &str) -> FieldResult<Option<ContactImport>> {
    let scope = Scope::for_read(ctx)?;
    Ok(registry(ctx)?.get(&owner(ctx, scope), id).map(|job| ContactImport::new(job, scope.cursors.clone())))
}

fn not_found() -> AppError {
    AppError::NotFound("no import with this id for this caller".into())
}

/// `cancelContactImport(id)`: the job as it is now (rows in flight still finish).
pub fn cancel(ctx: &Context<'_>, id: &str) -> FieldResult<ContactImport> {
    let scope = Scope::for_write(ctx)?;
    let job = registry(ctx)?.get(&owner(ctx, scope), id).ok_or_else(not_found)?;
    job.cancel();
    Ok(ContactImport::new(job, scope.cursors.clone()))
}

/// `contactImportProgress(id)`: the job now, then after changes (at most every 200 ms), ending
/// with its final state.
pub fn progress(ctx: &Context<'_>, id: &str) -> FieldResult<impl Stream<Item = FieldResult<ContactImport>>> {
    let live = ctx.data::<LiveContext>().map_err(|_| AppError::BadUserInput("subscriptions are served over WebSocket (`/ws`) or SSE".into()))?;
    let scope = live.request.read_scope()?;
    let job = registry(ctx)?.get(&owner(ctx, scope), id).ok_or_else(not_found)?;
    let cursors = scope.cursors.clone();
    let changes = job.progress.watch();
    let stopping = live.feed.stopping();
    Ok(stream::unfold(Some((job, cursors, changes, stopping, true)), |state| async move {
        let (job, cursors, mut changes, mut stopping, first) = state?;
        if !first {
            tokio::time::sleep(PROGRESS_EVERY).await;
            tokio::select! {
                _ = changes.changed() => {}
                _ = stopping.changed() => return None,
            }
        }
        changes.borrow_and_update();
        let update = ContactImport::new(job.clone(), cursors.clone());
        let next = (!update.snapshot.status.is_finished() && !*stopping.borrow()).then_some((job, cursors, changes, stopping, false));
        Some((Ok(update), next))
    }))
}
