//! The import engine: each valid row upserted once through `POST /contacts/upsert`, a few in
//! flight, as background traffic of its tenant, recorded in the journal and the progress.
//!
//! Why upsert: GHL has no bulk endpoint, and `POST /contacts/` has answered 422 while still
//! creating the contact, so a retried create can duplicate; an upsert sent twice updates the
//! contact the first one made. Rows that share an email or a phone are sent in file order, one
//! at a time (two at once could both create), and a row that repeats the last body written for
//! its key is `unchanged` without a call. The client's policy retries no POST on 429 or 5xx;
//! upsert is safe to repeat, so the engine retries those itself with the same attempts and backoff.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt as _};
use tokio::sync::watch;

use super::journal::{Journal, SYNC_AFTER};
use super::progress::{BackgroundRate, Outcome, Progress, RowResult, Status};
use super::source::{phone_digits, Row};
use crate::highlevel::models::{Contact, ContactWrite};
use crate::highlevel::{GhlClient, GhlError, GhlErrorKind, Pace, RetryConfig, Tenant};

/// Rows in flight at once by default: enough to hide GHL's latency, few enough that a stop
/// (Ctrl-C) waits for little and a crash re-sends little.
pub const DEFAULT_CONCURRENCY: usize = 4;
pub const MAX_CONCURRENCY: usize = 16;
/// Times a row waits for our own limiter's queue (it was never sent) before it fails.
const MAX_QUEUE_WAITS: u32 = 120;

/// What every import of this process shares: the client (and its limiter), the retry policy.
#[derive(Clone)]
pub struct ImportSettings {
    client: GhlClient,
    daily_max: u64,
    retry: RetryConfig,
}

impl ImportSettings {
    pub fn new(client: GhlClient, daily_max: u64, retry: RetryConfig) -> Self {
        Self { client, daily_max, retry }
    }

    /// An importer for `tenant`, made a background one: its calls wait behind interactive traffic.
    pub fn importer(&self, tenant: Tenant) -> Importer {
        Importer { client: self.client.clone(), tenant: tenant.in_background(), daily_max: self.daily_max, retry: self.retry.clone() }
    }
}

/// One tenant's import: the client and the tenant, paced by the client's limiter.
#[derive(Clone)]
pub struct Importer {
    client: GhlClient,
    tenant: Tenant,
    daily_max: u64,
    retry: RetryConfig,
}

/// How one run goes.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    pub concurrency: usize,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self { concurrency: DEFAULT_CONCURRENCY }
    }
}

/// A dry run: every invalid row gets its failed result; nothing is sent.
pub fn dry_run(rows: &[Row], progress: &Progress) {
    for row in rows {
        if let Err(reason) = &row.write {
            progress.record(RowResult::failed(row.number, row.key.clone(), reason.clone()), false);
        }
    }
}

/// How a sent row ended: a result, or a reason to stop the whole job (the row stays pending).
enum Sent {
    Done(RowResult),
    Halt(Status, String),
}

impl Importer {
    /// What the location's budget allows now (the limiter's, learned limits included).
    pub fn pace(&self) -> Pace {
        self.client.pace(&self.tenant)
    }

    /// The background pace, asked afresh each time (for a job's ETA).
    pub fn background_rate(&self) -> BackgroundRate {
        let (client, tenant) = (self.client.clone(), self.tenant.clone());
        Arc::new(move || client.pace(&tenant).background_per_second)
    }

    /// The configured daily budget (what is known without a call).
    pub fn daily_max(&self) -> u64 {
        self.daily_max
    }

    pub fn tenant(&self) -> &Tenant {
        &self.tenant
    }

    /// What is left of today's budget, from one cheap call (`None`: GHL did not say).
    pub async fn daily_remaining(&self) -> Result<Option<u64>, GhlError> {
        self.client.daily_remaining(&self.tenant).await
    }

    /// Sends every row `progress` has no result for, until done, stopped (`stop` turns true: no
    /// new rows, those in flight finish) or halted (budget spent, token refused). Returns the
    /// final status, also recorded in `progress`.
    pub async fn run(
        &self,
        rows: Arc<[Row]>,
        progress: Arc<Progress>,
        mut journal: Option<Journal>,
        mut stop: watch::Receiver<bool>,
        options: RunOptions,
    ) -> Status {
        let concurrency = options.concurrency.clamp(1, MAX_CONCURRENCY);
        let mut last_written = last_written(&rows, &progress);
        let mut in_flight = FuturesUnordered::new();
        let mut busy: HashMap<String, usize> = HashMap::new();
        let mut halt: Option<(Status, String)> = None;
        let mut tick = tokio::time::interval(SYNC_AFTER);
        let mut stop_open = true;
        let mut next = 0;
        loop {
            while halt.is_none() && !*stop.borrow() && next < rows.len() && in_flight.len() < concurrency {
                let row = &rows[next];
                if progress.is_done(row.number) {
                    next += 1;
                    continue;
                }
                let write = match &row.write {
                    Err(reason) => {
                        if let Err(error) = record(&mut journal, &progress, RowResult::failed(row.number, row.key.clone(), reason.clone())) {
                            halt = Some((Status::Failed, error));
                        }
                        next += 1;
                        continue;
                    }
                    Ok(write) => write,
                };
                let keys = match_keys(write);
                if keys.iter().any(|k| busy.contains_key(k)) {
                    // An earlier row with this email or phone is in flight: wait for it.
                    break;
                }
                let body = serde_json::to_string(write).unwrap_or_default();
                if let Some((_, id)) = keys.first().and_then(|k| last_written.get(k)).filter(|(written, _)| *written == body) {
                    let result = RowResult { row: row.number, key: row.key.clone(), contact_id: Some(id.clone()), outcome: Outcome::Unchanged, message: None };
                    if let Err(error) = record(&mut journal, &progress, result) {
                        halt = Some((Status::Failed, error));
                    }
                    next += 1;
                    continue;
                }
                if let Some(Err(error)) = journal.as_mut().map(|j| j.started(row.number)) {
                    halt = Some((Status::Failed, error.to_string()));
                    break;
                }
                for key in &keys {
                    *busy.entry(key.clone()).or_default() += 1;
                }
                let (number, key, write) = (row.number, row.key.clone(), write.clone());
                in_flight.push(async move {
                    let sent = self.send(number, key, write).await;
                    (keys, body, sent)
                });
                next += 1;
            }
            let stopping = halt.is_some() || *stop.borrow() || next >= rows.len();
            if in_flight.is_empty() && stopping {
                break;
            }
            tokio::select! {
                Some((keys, body, sent)) = in_flight.next() => {
                    for key in &keys {
                        if let Some(count) = busy.get_mut(key) {
                            *count -= 1;
                            if *count == 0 {
                                busy.remove(key);
                            }
                        }
                    }
                    match sent {
                        Sent::Done(result) => {
                            if let (Some(key), Some(id), Outcome::Created | Outcome::Updated) = (keys.first(), &result.contact_id, result.outcome) {
                                last_written.insert(key.clone(), (body, id.clone()));
                            }
                            if let Err(error) = record(&mut journal, &progress, result) {
                                halt.get_or_insert((Status::Failed, error));
                            }
                        }
                        Sent::Halt(status, reason) => {
                            halt.get_or_insert((status, reason));
                        }
                    }
                }
                _ = tick.tick() => {
                    if let Some(Err(error)) = journal.as_mut().map(Journal::sync_if_due) {
                        halt.get_or_insert((Status::Failed, error.to_string()));
                    }
                }
                changed = stop.changed(), if stop_open => stop_open = changed.is_ok(),
            }
        }
        if let Some(Err(error)) = journal.as_mut().map(Journal::sync) {
            halt.get_or_insert((Status::Failed, error.to_string()));
        }
        let pending = progress.snapshot().counts.pending;
        let (status, reason) = match halt {
            Some((status, reason)) => (status, Some(reason)),
            None if pending > 0 => (Status::Cancelled, Some(format!("stopped with {pending} rows not sent"))),
            None => (Status::Completed, None),
        };
        progress.finish(status, reason);
        status
    }

    /// One row, retried while GHL is busy or failing; upsert makes a repeat harmless.
    async fn send(&self, row: u64, key: String, write: ContactWrite) -> Sent {
        let failed = |message: String| Sent::Done(RowResult::failed(row, key.clone(), message));
        let mut attempts = 0;
        let mut queue_waits = 0;
        loop {
            let error = match self.client.upsert_contact(&self.tenant, write.clone()).await {
                Ok(upserted) => {
                    let outcome = if upserted.new { Outcome::Created } else { Outcome::Updated };
                    let message = dropped_fields(&write, &upserted.contact);
                    return Sent::Done(RowResult { row, key, contact_id: Some(upserted.contact.id), outcome, message });
                }
                Err(error) => error,
            };
            let sent = error.call.as_ref().and_then(|c| c.status).is_some();
            let wait = match &error.kind {
                GhlErrorKind::Rejected { detail } => return failed(detail.clone().unwrap_or_else(|| "GHL rejected the row".to_owned())),
                GhlErrorKind::DailyBudgetExhausted { .. } => {
                    return Sent::Halt(
                        Status::PausedBudget,
                        "today's GHL request budget of this location is spent: resume once it resets (midnight UTC)".into(),
                    )
                }
                GhlErrorKind::Unauthenticated | GhlErrorKind::MissingScope | GhlErrorKind::Forbidden => return Sent::Halt(Status::Failed, error.to_string()),
                // Our own limiter's queue was full: the row was never sent.
                GhlErrorKind::RateLimited { retry_after } if !sent => {
                    queue_waits += 1;
                    if queue_waits > MAX_QUEUE_WAITS {
                        return failed(error.to_string());
                    }
                    retry_after.unwrap_or(Duration::from_secs(1)).min(Duration::from_secs(10))
                }
                GhlErrorKind::RateLimited { .. } | GhlErrorKind::Unavailable { .. } => {
                    attempts += 1;
                    if attempts >= self.retry.max_attempts.get() {
                        return failed(error.to_string());
                    }
                    self.backoff(attempts, &error)
                }
                _ => return failed(error.to_string()),
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// GHL's hint on a 429, else exponential with full jitter, capped by the retry policy.
    fn backoff(&self, attempt: u32, error: &GhlError) -> Duration {
        if let GhlErrorKind::RateLimited { retry_after: Some(hint) } = error.kind {
            return hint + self.retry.base_delay.mul_f64(fastrand::f64());
        }
        let exp = self.retry.base_delay.saturating_mul(2u32.saturating_pow(attempt));
        exp.min(self.retry.max_delay).mul_f64(fastrand::f64().max(0.1))
    }
}

/// Records a result in the journal first, then in the progress (what readers see is durable).
fn record(journal: &mut Option<Journal>, progress: &Progress, result: RowResult) -> Result<(), String> {
    if let Some(journal) = journal {
        journal.done(&result).map_err(|e| e.to_string())?;
    }
    progress.record(result, false);
    Ok(())
}

/// The keys GHL may match a row on: its email (lowercased), then its phone's digits.
fn match_keys(write: &ContactWrite) -> Vec<String> {
    let email = write.email.as_ref().map(|e| format!("email:{}", e.to_lowercase()));
    let phone = write.phone.as_deref().and_then(phone_digits).map(|d| format!("phone:{}", national(&d)));
    email.into_iter().chain(phone).collect()
}

/// The last ten digits: `+1 415 555 0100` and `(415) 555-0100` are one number to GHL.
fn national(digits: &str) -> &str {
    &digits[digits.len().saturating_sub(10)..]
}

/// For a row replayed from a journal, the body last written per key, so repeats stay `unchanged`.
fn last_written(rows: &[Row], progress: &Progress) -> HashMap<String, (String, String)> {
    let mut written = HashMap::new();
    let results: HashMap<u64, RowResult> = progress.all_results().into_iter().map(|r| (r.row, r)).collect();
    for row in rows {
        let (Ok(write), Some(result)) = (&row.write, results.get(&row.number)) else { continue };
        if let (Some(key), Some(id), Outcome::Created | Outcome::Updated | Outcome::Unchanged) = (match_keys(write).first(), &result.contact_id, result.outcome)
        {
            written.insert(key.clone(), (serde_json::to_string(write).unwrap_or_default(), id.clone()));
        }
    }
    written
}

/// GHL's upsert can match one contact by email while another holds the phone, and then keeps
/// the matched contact's own value: say which of the row's fields did not land.
fn dropped_fields(write: &ContactWrite, contact: &Contact) -> Option<String> {
    let mut dropped = Vec::new();
    if let Some(email) = &write.email {
        if contact.email.as_deref().is_some_and(|kept| !kept.eq_ignore_ascii_case(email)) {
            dropped.push("email");
        }
    }
    if let Some(digits) = write.phone.as_deref().and_then(phone_digits) {
        let kept = contact.phone.as_deref().and_then(phone_digits);
        if kept.is_some_and(|kept| national(&kept) != national(&digits)) {
            dropped.push("phone");
        }
    }
    (!dropped.is_empty()).then(|| format!("GHL matched an existing contact and kept its own {} (another contact may hold this row's)", dropped.join(" and ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_match_on_email_case_blind_and_on_the_national_phone_number() {
        let a = ContactWrite { email: Some("Ada@Example.com".into()), phone: Some("+1 (415) 555-0100".into()), ..Default::default() };
        let b = ContactWrite { phone: Some("415.555.0100".into()), ..Default::default() };
        assert_eq!(match_keys(&a), ["email:ada@example.com", "phone:4155550100"]);
        assert_eq!(match_keys(&b), ["phone:4155550100"]);
    }

    #[test]
    fn a_field_ghl_kept_from_the_matched_contact_is_reported() {
        let write = ContactWrite { email: Some("a@b.co".into()), phone: Some("4155550100".into()), ..Default::default() };
        let same = Contact { email: Some("A@b.co".into()), phone: Some("+14155550100".into()), ..Default::default() };
        assert_eq!(dropped_fields(&write, &same), None);
        let other = Contact { email: Some("a@b.co".into()), phone: Some("+14155550199".into()), ..Default::default() };
        assert!(dropped_fields(&write, &other).is_some_and(|m| m.contains("phone")));
    }
}
