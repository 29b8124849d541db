//! Background jobs; today, contact imports: many contacts upserted into GHL one by one (GHL has
//! no bulk endpoint), paced as background traffic, journaled so a stopped run resumes.
//!
//! - `source`: CSV / JSON lines into validated rows, columns mapped onto contact fields.
//! - `import`: the engine: upserts with bounded concurrency, ordering and retries.
//! - `journal`: the durable per-job journal (`started` / `done` lines, fsync'd in batches).
//! - `progress`: results, counts, status and the ETA from the rate budget.
//! - `results`: the results file, one line per row.
//! - `command`: `ghl-subgraph import`.
//! - `registry`: the GraphQL API's jobs, per tenant and caller, bounded.
//!
//! Nothing here knows GraphQL or HTTP: the command and the API drive the same engine.

mod command;
mod import;
mod journal;
mod progress;
mod registry;
mod results;
mod source;

pub use command::{default_journal, default_results, run as run_command, CommandOptions, EXIT_STOPPED};
pub use import::{ImportSettings, Importer, RunOptions, DEFAULT_CONCURRENCY, MAX_CONCURRENCY};
pub use progress::{Counts, Outcome, Progress, RowResult, Snapshot, Status};
pub use registry::{ImportRegistry, JobHandle, JobOwner, RegistryError, RegistryLimits};
pub use source::{validate, ColumnMap, InputFormat, Row, SourceError};
