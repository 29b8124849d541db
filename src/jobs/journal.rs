//! The durable journal of one import: an append-only text file, one line per event.
//!
//! ```text
//! ghl-subgraph import journal v1 rows=500 input=sha256:<hex>
//! started 17
//! done 17 {"row":17,"key":"ada@example.com","contactId":"…","outcome":"created","message":null}
//! ```
//!
//! Each line is one `write(2)` as it happens, so a killed process (SIGKILL) loses nothing the
//! kernel has; `fsync` runs in batches (every [`SYNC_EVERY`] results or [`SYNC_AFTER`]), which
//! bounds what a power cut can lose. On resume a row with `done` is never sent again; a row with
//! `started` and no `done` was in flight when the process died and is sent again (upsert makes
//! that harmless). A torn last line is ignored.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::progress::RowResult;

/// Results written between two `fsync`s at most.
pub const SYNC_EVERY: usize = 50;
/// Longest a written line waits for its `fsync`.
pub const SYNC_AFTER: Duration = Duration::from_millis(200);

const MAGIC: &str = "ghl-subgraph import journal v1";

/// Which input a journal belongs to: resuming with another file would skip the wrong rows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalHeader {
    pub rows: u64,
    /// SHA-256 of the input file, hex.
    pub input_sha256: String,
}

impl JournalHeader {
    fn line(&self) -> String {
        format!("{MAGIC} rows={} input=sha256:{}\n", self.rows, self.input_sha256)
    }
}

/// What an earlier run left.
#[derive(Debug, Default)]
pub struct Replay {
    pub done: BTreeMap<u64, RowResult>,
    /// Started and never done: in flight when that run stopped.
    pub in_flight: BTreeSet<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("cannot use the journal {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("a journal of an earlier run exists at {}: pass --resume to continue it, or delete it to start over", .0.display())]
    Exists(PathBuf),
    #[error("the journal {} belongs to another input (the file changed since that run): delete it to start over", .0.display())]
    OtherInput(PathBuf),
    #[error("{} is not an import journal", .0.display())]
    NotAJournal(PathBuf),
}

pub struct Journal {
    file: File,
    path: PathBuf,
    unsynced: usize,
    last_sync: Instant,
}

impl Journal {
    /// A new journal; refuses to overwrite one (its rows would be sent again).
    pub fn create(path: &Path, header: &JournalHeader) -> Result<Self, JournalError> {
        let io = |source| JournalError::Io { path: path.to_owned(), source };
        if path.exists() {
            return Err(JournalError::Exists(path.to_owned()));
        }
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new().create_new(true).append(true).open(path).map_err(io)?;
        file.write_all(header.line().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(Self { file, path: path.to_owned(), unsynced: 0, last_sync: Instant::now() })
    }

    /// The journal of an earlier run of the same input, and what it recorded.
    pub fn resume(path: &Path, header: &JournalHeader) -> Result<(Self, Replay), JournalError> {
        let io = |source| JournalError::Io { path: path.to_owned(), source };
        let reader = BufReader::new(File::open(path).map_err(io)?);
        let mut lines = reader.lines();
        let first = lines.next().transpose().map_err(io)?.unwrap_or_default();
        if !first.starts_with(MAGIC) {
            return Err(JournalError::NotAJournal(path.to_owned()));
        }
        if format!("{first}\n") != header.line() {
            return Err(JournalError::OtherInput(path.to_owned()));
        }
        let mut replay = Replay::default();
        for line in lines {
            let line = line.map_err(io)?;
            if let Some(row) = line.strip_prefix("started ").and_then(|n| n.trim().parse::<u64>().ok()) {
                if !replay.done.contains_key(&row) {
                    replay.in_flight.insert(row);
                }
            } else if let Some(rest) = line.strip_prefix("done ") {
                // A torn line (the process died mid-write) does not parse and is skipped.
                if let Some(result) = rest.split_once(' ').and_then(|(_, json)| serde_json::from_str::<RowResult>(json).ok()) {
                    replay.in_flight.remove(&result.row);
                    replay.done.insert(result.row, result);
                }
            }
        }
        let mut file = OpenOptions::new().append(true).open(path).map_err(io)?;
        // A torn last line would glue onto the next one: start on a fresh line.
        file.write_all(b"\n").map_err(io)?;
        Ok((Self { file, path: path.to_owned(), unsynced: 0, last_sync: Instant::now() }, replay))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Before a row is sent.
    pub fn started(&mut self, row: u64) -> Result<(), JournalError> {
        self.append(&format!("started {row}\n"))
    }

    /// After a row's result is known.
    pub fn done(&mut self, result: &RowResult) -> Result<(), JournalError> {
        let json = serde_json::to_string(result).unwrap_or_default();
        self.append(&format!("done {} {json}\n", result.row))?;
        self.unsynced += 1;
        self.sync_if_due()
    }

    /// `fsync`s when a batch is full or old enough.
    pub fn sync_if_due(&mut self) -> Result<(), JournalError> {
        if self.unsynced >= SYNC_EVERY || (self.unsynced > 0 && self.last_sync.elapsed() >= SYNC_AFTER) {
            self.sync()?;
        }
        Ok(())
    }

    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(|source| JournalError::Io { path: self.path.clone(), source })?;
        self.unsynced = 0;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// One `write(2)` per line: what was written survives the process.
    fn append(&mut self, line: &str) -> Result<(), JournalError> {
        self.file.write_all(line.as_bytes()).map_err(|source| JournalError::Io { path: self.path.clone(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::super::progress::Outcome;
    use super::*;

    fn header() -> JournalHeader {
        JournalHeader { rows: 3, input_sha256: "ab".repeat(32) }
    }

    #[test]
    fn a_resumed_journal_knows_done_rows_and_rows_in_flight_and_skips_a_torn_line() {
        let path = std::env::temp_dir().join(format!("ghl-journal-{}-{:x}.journal", std::process::id(), fastrand::u64(..)));
        let mut journal = Journal::create(&path, &header()).unwrap();
        assert!(matches!(Journal::create(&path, &header()), Err(JournalError::Exists(_))));
        journal.started(1).unwrap();
        journal.started(2).unwrap();
        journal.done(&RowResult { row: 1, key: "a@b.co".into(), contact_id: Some("c1".into()), outcome: Outcome::Created, message: None }).unwrap();
        journal.append("done 2 {\"row\":2,\"ke").unwrap();
        drop(journal);
        let (_, replay) = Journal::resume(&path, &header()).unwrap();
        assert_eq!(replay.done.keys().copied().collect::<Vec<_>>(), [1]);
        assert_eq!(replay.in_flight.iter().copied().collect::<Vec<_>>(), [2]);
        let other = JournalHeader { rows: 4, ..header() };
        assert!(matches!(Journal::resume(&path, &other), Err(JournalError::OtherInput(_))));
        std::fs::remove_file(&path).unwrap();
    }
}
