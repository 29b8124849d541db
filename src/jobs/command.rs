//! `ghl-subgraph import`: a file of contacts into GHL, with a journal, a results file, an
//! estimate up front and progress on the way (a bar on a terminal, plain lines otherwise).
//!
//! Ctrl-C stops taking rows, lets those in flight finish and flushes the journal; the same command
//! with `--resume` continues where it stopped. Exit status: 0 done, 1 failed, 3 stopped
//! (Ctrl-C or the daily budget) and resumable.

use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use super::import::{dry_run, Importer, RunOptions};
use super::journal::{Journal, JournalHeader};
use super::progress::{at_best, Progress, Snapshot, Status};
use super::results::write_results;
use super::source::{self, ColumnMap, InputFormat, Row};
use crate::highlevel::GhlErrorKind;

/// The command's settings, validated (`config` builds them from the flags).
#[derive(Clone, Debug)]
pub struct CommandOptions {
    pub file: PathBuf,
    pub format: InputFormat,
    pub map: ColumnMap,
    /// One line per row: CSV, or JSON lines when it ends in `.jsonl`.
    pub results: PathBuf,
    pub journal: PathBuf,
    pub dry_run: bool,
    pub resume: bool,
    pub concurrency: usize,
}

/// Exit status of a stopped (resumable) import.
pub const EXIT_STOPPED: i32 = 3;

/// Runs the import; returns the process's exit status.
pub async fn run(importer: Importer, options: CommandOptions) -> anyhow::Result<i32> {
    let input = std::fs::read(&options.file).with_context(|| format!("reading {}", options.file.display()))?;
    let rows: Arc<[Row]> = source::read(&input, options.format, &options.map)?.into();
    let header = JournalHeader { rows: rows.len() as u64, input_sha256: Sha256::digest(&input).iter().map(|b| format!("{b:02x}")).collect() };
    let progress = Arc::new(Progress::new(rows.len(), importer.background_rate()));
    let journal = open_journal(&options, &header, &progress)?;

    let invalid = rows.iter().filter(|r| r.write.is_err()).count();
    let to_send = rows.iter().filter(|r| r.write.is_ok() && !progress.is_done(r.number)).count() as u64;
    println!("{}: {} rows ({} valid, {invalid} invalid)", options.file.display(), rows.len(), rows.len() - invalid);
    let pace = importer.pace();
    println!(
        "at best {}: {to_send} upserts at {:.1}/s (the import's share, {:.0} %, of {})",
        human(at_best(to_send, pace.background_per_second)),
        pace.background_per_second,
        pace.background_share * 100.0,
        pace.limit
    );
    if options.dry_run {
        println!("daily budget: would use {to_send} calls, {:.2} % of the configured {} a day", share(to_send, importer.daily_max()), importer.daily_max());
        dry_run(&rows, &progress);
        write_results(&options.results, &rows, &progress.all_results())?;
        println!("dry run: nothing sent; {} rows would be upserted, {invalid} fail validation (see {})", rows.len() - invalid, options.results.display());
        return Ok(0);
    }
    match importer.daily_remaining().await {
        Ok(Some(0)) | Err(crate::highlevel::GhlError { kind: GhlErrorKind::DailyBudgetExhausted { .. }, .. }) => {
            write_results(&options.results, &rows, &progress.all_results())?;
            println!("today's GHL request budget of this location is spent: nothing sent; run again with --resume once it resets (midnight UTC)");
            return Ok(EXIT_STOPPED);
        }
        Ok(Some(remaining)) => {
            println!("daily budget: uses {to_send} calls, {:.2} % of the {remaining} left today", share(to_send, remaining));
            if remaining < to_send {
                println!("  the budget runs out first: the import pauses after about {remaining} rows; resume it with --resume once the budget resets");
            }
        }
        Ok(None) => {
            println!("daily budget: uses {to_send} calls, {:.2} % of the configured {} a day", share(to_send, importer.daily_max()), importer.daily_max())
        }
        Err(error) if matches!(error.kind, GhlErrorKind::Unauthenticated | GhlErrorKind::MissingScope | GhlErrorKind::Forbidden) => {
            anyhow::bail!("GHL refused the token: {error}")
        }
        Err(error) => println!("daily budget: not known ({error}); the configured {} a day applies", importer.daily_max()),
    }

    let (stop, stopped) = watch::channel(false);
    let interrupt = tokio::spawn(interrupt(stop));
    let reporter = tokio::spawn(report(progress.clone()));
    let status = importer.run(rows.clone(), progress.clone(), journal, stopped, RunOptions { concurrency: options.concurrency }).await;
    interrupt.abort();
    let _ = reporter.await;
    write_results(&options.results, &rows, &progress.all_results())?;
    let snapshot = progress.snapshot();
    let c = snapshot.counts;
    let summary = format!(
        "{} created, {} updated, {} unchanged, {} failed, {} not sent (results: {})",
        c.created,
        c.updated,
        c.unchanged,
        c.failed,
        c.pending,
        options.results.display()
    );
    let reason = snapshot.reason.map(|r| format!(": {r}")).unwrap_or_default();
    Ok(match status {
        Status::Completed | Status::Running => {
            println!("done in {}: {summary}", human(snapshot.elapsed));
            0
        }
        Status::Cancelled | Status::PausedBudget => {
            println!("stopped{reason}\n{summary}\nresume with the same command and --resume (journal: {})", options.journal.display());
            EXIT_STOPPED
        }
        Status::Failed => {
            println!("failed{reason}\n{summary}");
            1
        }
    })
}

/// The journal for this run: none for a dry run, the earlier one with `--resume`, else a new one.
fn open_journal(options: &CommandOptions, header: &JournalHeader, progress: &Progress) -> anyhow::Result<Option<Journal>> {
    if options.dry_run {
        return Ok(None);
    }
    if options.resume && options.journal.exists() {
        let (journal, replay) = Journal::resume(&options.journal, header)?;
        println!(
            "resuming: {} rows done in earlier runs; {} were started with no result (in flight when it stopped) and are sent again",
            replay.done.len(),
            replay.in_flight.len()
        );
        replay.done.into_values().for_each(|result| progress.record(result, true));
        return Ok(Some(journal));
    }
    if options.resume {
        println!("no journal at {}: starting with the first row", options.journal.display());
    }
    Ok(Some(Journal::create(&options.journal, header)?))
}

/// Ctrl-C once: stop taking rows (those in flight finish); twice: quit at once (the journal has
/// every line written so far, so `--resume` still works).
async fn interrupt(stop: watch::Sender<bool>) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!("stopping: the rows in flight finish first (Ctrl-C again to quit at once)");
    let _ = stop.send(true);
    if tokio::signal::ctrl_c().await.is_ok() {
        std::process::exit(130);
    }
}

/// A bar on a terminal; a plain line every few seconds otherwise. Ends with the job.
async fn report(progress: Arc<Progress>) {
    let mut changed = progress.watch();
    let total = progress.snapshot().counts.total();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(total);
        let style =
            indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} rows, {per_sec}, {msg}").unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    let mut last_line = tokio::time::Instant::now();
    loop {
        let snapshot = progress.snapshot();
        let done = snapshot.counts.total() - snapshot.counts.pending;
        match &bar {
            Some(bar) => {
                bar.set_position(done);
                bar.set_message(format!("eta {} ({} failed)", human(snapshot.eta), snapshot.counts.failed));
            }
            None if last_line.elapsed() >= Duration::from_secs(2) || snapshot.status.is_finished() => {
                eprintln!("{}", plain_line(&snapshot, done));
                last_line = tokio::time::Instant::now();
            }
            None => {}
        }
        if snapshot.status.is_finished() {
            break;
        }
        let _ = tokio::time::timeout(Duration::from_millis(500), changed.changed()).await;
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

fn plain_line(snapshot: &Snapshot, done: u64) -> String {
    let c = snapshot.counts;
    let rate = snapshot.done_this_run as f64 / snapshot.elapsed.as_secs_f64().max(0.001);
    format!(
        "progress: {done}/{} rows ({} created, {} updated, {} unchanged, {} failed), {rate:.1} rows/s, eta {}",
        c.total(),
        c.created,
        c.updated,
        c.unchanged,
        c.failed,
        human(snapshot.eta)
    )
}

fn share(calls: u64, of: u64) -> f64 {
    calls as f64 * 100.0 / of.max(1) as f64
}

/// A duration to the second (`1m 36s`).
fn human(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs_f64().ceil() as u64)).to_string()
}

/// The default results file: `contacts.csv` → `contacts.results.csv`, beside the input.
pub fn default_results(file: &Path) -> PathBuf {
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".to_owned());
    file.with_file_name(format!("{stem}.results.csv"))
}

/// The default journal: in `state_dir` (else beside the results), named after the input.
pub fn default_journal(file: &Path, results: &Path, state_dir: Option<&Path>) -> PathBuf {
    let name = file.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "import".to_owned());
    let dir = state_dir.map(Path::to_path_buf).unwrap_or_else(|| results.parent().map(Path::to_path_buf).unwrap_or_default());
    dir.join(format!("{name}.import-journal"))
}
