//! The GraphQL API's import jobs, held in this process: each belongs to one tenant and one
//! caller, and is invisible to anyone else (a lookup by another owner finds nothing).
//!
//! Bounded: at most `max_jobs` jobs and `max_rows` rows each; finished jobs are kept for
//! `keep_finished` so their results can still be read, and make room for new ones first. A
//! restart forgets them (the command's journal is the durable path for large imports).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::OsRng;
use tokio::sync::watch;

use super::import::{ImportSettings, RunOptions};
use super::progress::{Progress, Status};
use super::source::Row;
use crate::highlevel::Tenant;

/// Who a job belongs to: the tenant (its budget key: location, and credential in forward mode)
/// and the caller (a fingerprint of its API key).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct JobOwner {
    pub tenant: String,
    pub caller: String,
}

#[derive(Clone, Copy, Debug)]
pub struct RegistryLimits {
    pub max_jobs: usize,
    pub max_rows: usize,
    pub keep_finished: Duration,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        Self { max_jobs: 100, max_rows: 10_000, keep_finished: Duration::from_secs(3600) }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistryError {
    #[error("an import takes 1 to {0} rows; split larger files (or use the `ghl-subgraph import` command)")]
    Rows(usize),
    #[error("{0} imports are held already; wait for one to finish (finished ones are kept for an hour)")]
    Full(usize),
}

/// One job: what it is, whose, and how to stop it.
pub struct Job {
    pub id: String,
    owner: JobOwner,
    pub progress: Arc<Progress>,
    stop: watch::Sender<bool>,
    finished_at: Mutex<Option<Instant>>,
}

pub type JobHandle = Arc<Job>;

impl Job {
    /// Asks the job to stop: no new rows; those in flight finish.
    pub fn cancel(&self) {
        let _ = self.stop.send(true);
    }

    fn finished_since(&self) -> Option<Instant> {
        if let Some(at) = *self.finished_at.lock().unwrap_or_else(|p| p.into_inner()) {
            return Some(at);
        }
        let finished = self.progress.snapshot().status.is_finished();
        finished.then(|| *self.finished_at.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert_with(Instant::now))
    }
}

pub struct ImportRegistry {
    jobs: Mutex<HashMap<String, JobHandle>>,
    limits: RegistryLimits,
    settings: ImportSettings,
}

impl ImportRegistry {
    pub fn new(limits: RegistryLimits, settings: ImportSettings) -> Self {
        Self { jobs: Mutex::default(), limits, settings }
    }

    pub fn limits(&self) -> RegistryLimits {
        self.limits
    }

    /// Starts a job of `rows` for `owner` (acting as `tenant`) in the background; `dry_run`
    /// only validates.
    pub fn start(&self, owner: JobOwner, tenant: Tenant, rows: Vec<Row>, dry_run: bool, options: RunOptions) -> Result<JobHandle, RegistryError> {
        if rows.is_empty() || rows.len() > self.limits.max_rows {
            return Err(RegistryError::Rows(self.limits.max_rows));
        }
        let importer = self.settings.importer(tenant);
        let progress = Arc::new(Progress::new(rows.len(), importer.background_rate()));
        let (stop, stopped) = watch::channel(false);
        let job = Arc::new(Job { id: new_id(), owner, progress: progress.clone(), stop, finished_at: Mutex::new(None) });
        {
            let mut jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
            self.make_room(&mut jobs)?;
            jobs.insert(job.id.clone(), job.clone());
        }
        let rows: Arc<[Row]> = rows.into();
        tokio::spawn(async move {
            if dry_run {
                super::import::dry_run(&rows, &progress);
                progress.finish(Status::Completed, Some("dry run: nothing was sent".into()));
                return;
            }
            importer.run(rows, progress, None, stopped, options).await;
        });
        Ok(job)
    }

    /// The job `id` of `owner`; `None` for an unknown id or another owner's job alike.
    pub fn get(&self, owner: &JobOwner, id: &str) -> Option<JobHandle> {
        let jobs = self.jobs.lock().unwrap_or_else(|p| p.into_inner());
        jobs.get(id).filter(|job| job.owner == *owner).cloned()
    }

    /// Drops finished jobs past their keep time, then the oldest finished one if still full.
    fn make_room(&self, jobs: &mut HashMap<String, JobHandle>) -> Result<(), RegistryError> {
        let keep = self.limits.keep_finished;
        jobs.retain(|_, job| job.finished_since().is_none_or(|at| at.elapsed() < keep));
        if jobs.len() < self.limits.max_jobs {
            return Ok(());
        }
        let oldest = jobs.iter().filter_map(|(id, job)| job.finished_since().map(|at| (at, id.clone()))).min();
        match oldest {
            Some((_, id)) => {
                jobs.remove(&id);
                Ok(())
            }
            None => Err(RegistryError::Full(self.limits.max_jobs)),
        }
    }
}

/// 128 random bits, hex: not guessable, so an id alone never reaches a job (ownership is checked too).
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
