//! The results file: exactly one line per input row, in row order, rewritten whole from the
//! journal's results at the end of every run (a row without a result yet says `pending`).
//!
//! CSV (`row,key,contactId,outcome,message`), or JSON lines when the path ends in `.jsonl`.
//! Written to a temporary file and renamed, so a reader never sees half of it.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::json;

use super::progress::RowResult;
use super::source::Row;

pub fn write_results(path: &Path, rows: &[Row], results: &[RowResult]) -> anyhow::Result<()> {
    let by_row: HashMap<u64, &RowResult> = results.iter().map(|r| (r.row, r)).collect();
    let jsonl = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("jsonl"));
    let temporary = path.with_extension("partial");
    let write = || -> anyhow::Result<()> {
        let file = std::fs::File::create(&temporary)?;
        let mut out = std::io::BufWriter::new(file);
        let mut csv = (!jsonl).then(|| csv::Writer::from_writer(Vec::new()));
        if let Some(csv) = &mut csv {
            csv.write_record(["row", "key", "contactId", "outcome", "message"])?;
        }
        for row in rows {
            let result = by_row.get(&row.number);
            let number = row.number.to_string();
            let key = result.map_or(row.key.as_str(), |r| r.key.as_str());
            let id = result.and_then(|r| r.contact_id.as_deref()).unwrap_or("");
            let outcome = result.map_or("pending", |r| r.outcome.as_str());
            let message = result.and_then(|r| r.message.as_deref()).unwrap_or("");
            match &mut csv {
                Some(csv) => csv.write_record([number.as_str(), key, id, outcome, message])?,
                None => writeln!(out, "{}", json!({ "row": row.number, "key": key, "contactId": id, "outcome": outcome, "message": message }))?,
            }
        }
        if let Some(csv) = csv {
            out.write_all(&csv.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?)?;
        }
        out.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?.sync_all()?;
        std::fs::rename(&temporary, path)?;
        Ok(())
    };
    write().with_context(|| format!("writing the results to {}", path.display()))
}
