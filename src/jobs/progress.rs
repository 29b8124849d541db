//! Where an import stands: each row's result, the counts, the status, and the ETA from the rate
//! budget. Shared by the engine (which writes it) and its readers (the command's progress bar,
//! the GraphQL job and its subscription), who are woken through a watch channel.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

/// What became of one row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Created,
    Updated,
    /// The row repeats the contact an earlier row of the same job wrote: nothing to send.
    Unchanged,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
            Self::Failed => "failed",
        }
    }
}

/// One row's result, as the journal and the results file hold it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub row: u64,
    /// The row's email, else its phone.
    pub key: String,
    pub contact_id: Option<String>,
    pub outcome: Outcome,
    /// GHL's message or our reason for a failure; a warning on a success (a field GHL dropped).
    pub message: Option<String>,
}

impl RowResult {
    /// A row that failed with `message` (never sent, or refused for good).
    pub fn failed(row: u64, key: String, message: String) -> Self {
        Self { row, key, contact_id: None, outcome: Outcome::Failed, message: Some(message) }
    }
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Running,
    Completed,
    /// Stopped on request; resumable.
    Cancelled,
    /// Stopped for good: GHL refused the token, or the journal could not be written.
    Failed,
    /// The daily budget ran out; resumable once it resets.
    PausedBudget,
}

impl Status {
    pub fn is_finished(self) -> bool {
        self != Self::Running
    }
}

/// The calls per second a job may spend now: the limiter's background pace, asked at each look
/// so the ETA follows a stricter limit GHL reports.
pub type BackgroundRate = Arc<dyn Fn() -> f64 + Send + Sync>;

/// The shortest time `calls` can take at `per_second`.
pub fn at_best(calls: u64, per_second: f64) -> Duration {
    Duration::from_secs_f64(calls as f64 / per_second.max(f64::EPSILON))
}

/// Counts of the rows by outcome; `pending` has none yet.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub failed: u64,
    pub pending: u64,
}

impl Counts {
    pub fn total(&self) -> u64 {
        self.created + self.updated + self.unchanged + self.failed + self.pending
    }

    fn add(&mut self, outcome: Outcome) {
        self.pending = self.pending.saturating_sub(1);
        match outcome {
            Outcome::Created => self.created += 1,
            Outcome::Updated => self.updated += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Failed => self.failed += 1,
        }
    }
}

/// A consistent copy of the job's state.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub status: Status,
    pub counts: Counts,
    /// Why the job failed or paused.
    pub reason: Option<String>,
    /// Rows still to send, over the rate budget.
    pub eta: Duration,
    pub elapsed: Duration,
    /// Rows whose result came in this run (not replayed from a journal).
    pub done_this_run: u64,
}

pub struct Progress {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
    rate: BackgroundRate,
}

struct State {
    status: Status,
    reason: Option<String>,
    counts: Counts,
    /// By row index (row number - 1).
    results: Vec<Option<RowResult>>,
    started: Instant,
    finished: Option<Instant>,
    done_this_run: u64,
}

impl Progress {
    /// A job of `rows` rows, none done.
    pub fn new(rows: usize, rate: BackgroundRate) -> Self {
        let state = State {
            status: Status::Running,
            reason: None,
            counts: Counts { pending: rows as u64, ..Counts::default() },
            results: vec![None; rows],
            started: Instant::now(),
            finished: None,
            done_this_run: 0,
        };
        Self { state: Mutex::new(state), changed: watch::channel(0).0, rate }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn notify(&self) {
        self.changed.send_modify(|version| *version += 1);
    }

    /// Records a row's result; `replayed` ones come from the journal of an earlier run.
    pub fn record(&self, result: RowResult, replayed: bool) {
        {
            let mut state = self.lock();
            // Rows outside the job and rows already done are ignored: one result per row.
            let index = usize::try_from(result.row).ok().and_then(|row| row.checked_sub(1));
            let Some(slot @ None) = index.and_then(|i| state.results.get_mut(i)) else {
                return;
            };
            let outcome = result.outcome;
            *slot = Some(result);
            state.counts.add(outcome);
            if !replayed {
                state.done_this_run += 1;
            }
        }
        self.notify();
    }

    pub fn is_done(&self, row: u64) -> bool {
        let state = self.lock();
        row.checked_sub(1).and_then(|i| state.results.get(i as usize)).is_some_and(Option::is_some)
    }

    pub fn finish(&self, status: Status, reason: Option<String>) {
        {
            let mut state = self.lock();
            state.status = status;
            state.reason = reason;
            state.finished = Some(Instant::now());
        }
        self.notify();
    }

    pub fn snapshot(&self) -> Snapshot {
        let per_second = (self.rate)();
        let state = self.lock();
        let elapsed = state.finished.unwrap_or_else(Instant::now) - state.started;
        Snapshot {
            status: state.status,
            counts: state.counts,
            reason: state.reason.clone(),
            eta: if state.status.is_finished() { Duration::ZERO } else { at_best(state.counts.pending, per_second) },
            elapsed,
            done_this_run: state.done_this_run,
        }
    }

    /// Results of rows `offset..offset + limit` that have one, in row order; and whether more follow.
    pub fn results(&self, offset: usize, limit: usize) -> (Vec<RowResult>, bool) {
        let state = self.lock();
        let done = state.results.iter().flatten();
        let mut page: Vec<RowResult> = done.skip(offset).take(limit + 1).cloned().collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }

    /// Every result so far, in row order.
    pub fn all_results(&self) -> Vec<RowResult> {
        self.lock().results.iter().flatten().cloned().collect()
    }

    /// Woken on every change.
    pub fn watch(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(row: u64, outcome: Outcome) -> RowResult {
        RowResult { row, key: format!("r{row}@example.com"), contact_id: None, outcome, message: None }
    }

    #[test]
    fn counts_follow_results_once_per_row_and_the_eta_follows_the_budget() {
        let progress = Progress::new(10, Arc::new(|| 5.0));
        progress.record(result(1, Outcome::Created), false);
        progress.record(result(1, Outcome::Failed), false);
        progress.record(result(2, Outcome::Failed), true);
        progress.record(result(11, Outcome::Created), false);
        let snapshot = progress.snapshot();
        assert_eq!(snapshot.counts, Counts { created: 1, failed: 1, pending: 8, ..Counts::default() });
        assert_eq!(snapshot.done_this_run, 1);
        assert_eq!(snapshot.eta, Duration::from_secs_f64(1.6));
        let (page, more) = progress.results(1, 5);
        assert_eq!((page.len(), more, page[0].row), (1, false, 2));
    }
}
