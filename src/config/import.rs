//! Flags of `ghl-subgraph import`: the file and how to read it, where results and the journal
//! go; GHL settings are those of `serve` (flattened), so one environment serves both.

use std::path::PathBuf;

use clap::Args;

use super::ServeArgs;
use crate::jobs::{default_journal, default_results, ColumnMap, CommandOptions, InputFormat, SourceError, DEFAULT_CONCURRENCY, MAX_CONCURRENCY};

#[derive(Args, Debug, Clone)]
pub struct ImportArgs {
    /// The contacts: CSV with a header row (columns named like the `CreateContactInput` fields,
    /// `tags` split on `;`, custom fields as `customField.<key>`), or JSON lines.
    #[arg(long)]
    pub file: PathBuf,

    /// Input format. Default: from the extension (`.jsonl`/`.ndjson`: jsonl; else csv).
    #[arg(long, value_enum)]
    pub format: Option<InputFormat>,

    /// Maps a column to a contact field, e.g. `--map "E-mail=email" --map "Plan=customField.plan"`;
    /// `--map COLUMN=ignore` leaves a column out. Repeatable.
    #[arg(long = "map", value_name = "COLUMN=field")]
    pub map: Vec<String>,

    /// The results file, one line per row (CSV, or JSON lines if it ends in `.jsonl`).
    /// Default: `<file stem>.results.csv` beside the input.
    #[arg(long)]
    pub results: Option<PathBuf>,

    /// Where the job's journal lives. Default: beside the results file.
    #[arg(long, env = "IMPORT_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// Validate and estimate only: no call to GHL.
    #[arg(long)]
    pub dry_run: bool,

    /// Continue the run this file's journal recorded: rows done are not sent again.
    #[arg(long)]
    pub resume: bool,

    /// Rows in flight at once.
    #[arg(long, default_value_t = DEFAULT_CONCURRENCY, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=MAX_CONCURRENCY as u64))]
    pub concurrency: usize,

    #[command(flatten)]
    pub serve: ServeArgs,
}

impl ImportArgs {
    /// The command's settings, with the defaults filled in.
    pub fn options(&self) -> Result<CommandOptions, SourceError> {
        let results = self.results.clone().unwrap_or_else(|| default_results(&self.file));
        Ok(CommandOptions {
            format: self.format.unwrap_or_else(|| InputFormat::from_path(&self.file)),
            map: ColumnMap::parse(&self.map)?,
            journal: default_journal(&self.file, &results, self.state_dir.as_deref()),
            results,
            file: self.file.clone(),
            dry_run: self.dry_run,
            resume: self.resume,
            concurrency: self.concurrency,
        })
    }
}
