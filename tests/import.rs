//! `ghl-subgraph import` as run: the real binary against an in-process sandbox, checked on the
//! sandbox's request log and contacts, the results file and the journal.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use ghl_sandbox::{RunningSandbox, Sandbox, SandboxConfig, LOCATION_ID, READ_TOKEN, WRITE_TOKEN};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ghl-subgraph");
const SEEDED: usize = 200;

async fn sandbox() -> RunningSandbox {
    let config = SandboxConfig { contacts: SEEDED, rate_limit: "100000/1s".parse().expect("rate"), ..Default::default() };
    Sandbox::spawn(config).await.expect("sandbox starts")
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ghl-import-{name}-{}-{:016x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("dir");
    dir
}

/// The import command against `sandbox`, paced at `rate` by our limiter.
fn command(sandbox: &RunningSandbox, file: &Path, rate: &str, extra: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["import", "--file", &file.display().to_string(), "--ghl-base-url", &sandbox.base_url()])
        .args(["--ghl-token", WRITE_TOKEN, "--ghl-location-id", LOCATION_ID, "--ghl-scopes", "contacts.readonly contacts.write"])
        .args(["--rate-limit", rate])
        .args(extra)
        .env_clear()
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null());
    command
}

fn run(command: &mut Command) -> Output {
    let output = command.output().expect("binary runs");
    eprintln!("stdout:\n{}\nstderr:\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    output
}

fn upserts(sandbox: &RunningSandbox) -> Vec<u16> {
    sandbox.requests().into_iter().filter(|r| r.method == "POST" && r.path == "/contacts/upsert").map(|r| r.status).collect()
}

/// The results file: outcome by row.
fn results(path: &Path) -> BTreeMap<u64, (String, String)> {
    let mut reader = csv::Reader::from_path(path).expect("results readable");
    let mut by_row = BTreeMap::new();
    let mut lines = 0;
    for record in reader.records() {
        let record = record.expect("record");
        lines += 1;
        by_row.insert(record[0].parse().expect("row number"), (record[3].to_owned(), record[4].to_owned()));
    }
    assert_eq!(lines, by_row.len(), "one line per row");
    by_row
}

fn outcomes(results: &BTreeMap<u64, (String, String)>) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for (outcome, _) in results.values() {
        *counts.entry(outcome.clone()).or_default() += 1;
    }
    counts
}

/// Seeded contacts' emails and phones, read as any client would (then the log is cleared).
async fn seeded(sandbox: &RunningSandbox) -> Vec<(Option<String>, Option<String>)> {
    let url = format!("{}/contacts/?locationId={LOCATION_ID}&limit=100", sandbox.base_url());
    let body: Value = reqwest::Client::new().get(url).bearer_auth(READ_TOKEN).header("Version", "2021-07-28").send().await.unwrap().json().await.unwrap();
    sandbox.clear_requests();
    let field = |c: &Value, name: &str| c[name].as_str().map(str::to_owned);
    body["contacts"].as_array().expect("contacts").iter().map(|c| (field(c, "email"), field(c, "phone"))).collect()
}

/// 500 rows: 400 new contacts (50 with a phone), 30 seeded ones by email and 10 by phone, 20
/// repeats of new emails and 10 of new phones (updates), 5 exact repeats, 25 invalid rows.
async fn big_csv(sandbox: &RunningSandbox, path: &Path) {
    let seeded = seeded(sandbox).await;
    let mut lines = vec!["email,phone,First Name,tags".to_owned()];
    let new_phone = |i: usize| format!("+4420794{i:05}");
    for i in 0..400 {
        let phone = if (200..250).contains(&i) { new_phone(i) } else { String::new() };
        lines.push(format!("new{i}@import.test,{phone},New {i},imported;batch-1"));
    }
    let by_email: Vec<&String> = seeded.iter().filter_map(|(e, _)| e.as_ref()).take(30).collect();
    assert_eq!(by_email.len(), 30);
    for email in by_email {
        lines.push(format!("{email},,Renamed,"));
    }
    let by_phone: Vec<&String> = seeded.iter().rev().filter_map(|(_, p)| p.as_ref()).take(10).collect();
    assert_eq!(by_phone.len(), 10);
    for phone in by_phone {
        lines.push(format!(",{phone},Phoned,"));
    }
    for i in 0..20 {
        lines.push(format!("NEW{i}@import.test,,Second {i},"));
    }
    for i in 200..210 {
        lines.push(format!(",{},Phone twin {i},", new_phone(i)));
    }
    for i in 100..105 {
        lines.push(format!("new{i}@import.test,,New {i},imported;batch-1"));
    }
    for i in 0..25 {
        lines.push(match i % 3 {
            0 => format!("broken{i}-at-import.test,,Bad {i},"),
            1 => format!(",12{i},Bad {i},"),
            _ => format!(",,Nobody {i},"),
        });
    }
    assert_eq!(lines.len(), 501);
    std::fs::write(path, lines.join("\n") + "\n").expect("csv written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_csv_with_duplicates_invalid_rows_and_existing_contacts_imports_with_the_right_counts_and_no_duplicate_contact() {
    let sandbox = sandbox().await;
    let dir = temp_dir("big");
    let file = dir.join("contacts.csv");
    big_csv(&sandbox, &file).await;

    let output = run(&mut command(&sandbox, &file, "100000/1s", &[]));

    assert!(output.status.success(), "exit {:?}", output.status);
    let results = results(&dir.join("contacts.results.csv"));
    assert_eq!(results.len(), 500);
    let counts = outcomes(&results);
    assert_eq!(counts, BTreeMap::from([("created".into(), 400), ("updated".into(), 70), ("unchanged".into(), 5), ("failed".into(), 25)]), "{counts:?}");
    let sent = upserts(&sandbox);
    assert_eq!(sent.len(), 470, "each valid row but the exact repeats upserted once");
    assert!(sent.iter().all(|&s| s == 200), "{sent:?}");
    assert_eq!(sandbox.contact_ids_in(LOCATION_ID).len(), SEEDED + 400, "no contact created twice");
    assert!(results[&476].1.contains("not an email") && results[&477].1.contains("not a phone") && results[&478].1.contains("email or a phone"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("at best") && stdout.contains("daily budget: uses 475 calls"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_makes_no_upstream_call() {
    let sandbox = sandbox().await;
    let dir = temp_dir("dry");
    let file = dir.join("contacts.csv");
    big_csv(&sandbox, &file).await;

    let output = run(&mut command(&sandbox, &file, "100000/1s", &["--dry-run"]));

    assert!(output.status.success());
    assert!(sandbox.requests().is_empty(), "{:?}", sandbox.requests());
    let results = results(&dir.join("contacts.results.csv"));
    assert_eq!(outcomes(&results), BTreeMap::from([("failed".into(), 25), ("pending".into(), 475)]));
    assert!(!dir.join("contacts.csv.import-journal").exists(), "a dry run keeps no journal");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_column_refuses_the_file_before_any_call() {
    let sandbox = sandbox().await;
    let dir = temp_dir("columns");
    let file = dir.join("contacts.csv");
    std::fs::write(&file, "email,shoe size\na@import.test,42\n").unwrap();

    let output = run(&mut command(&sandbox, &file, "100000/1s", &[]));

    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("\"shoe size\""));
    assert!(sandbox.requests().is_empty());
    let output = run(&mut command(&sandbox, &file, "100000/1s", &["--map", "shoe size=ignore"]));
    assert!(output.status.success());
    assert_eq!(upserts(&sandbox).len(), 1);
}

/// `rows` new contacts, one per line.
fn plain_csv(path: &Path, rows: usize) {
    let mut text = String::from("email,firstName\n");
    for i in 0..rows {
        text.push_str(&format!("resume{i}@import.test,Resumed {i}\n"));
    }
    std::fs::write(path, text).unwrap();
}

/// Starts the import at 40 calls a second and waits until `after` upserts arrived.
async fn start_then_wait(sandbox: &RunningSandbox, file: &Path, after: usize) -> Child {
    let child = command(sandbox, file, "40/1s", &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawned");
    let started = Instant::now();
    while upserts(sandbox).len() < after {
        assert!(started.elapsed() < Duration::from_secs(20), "the import did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill").args([format!("-{name}"), child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_with_ctrl_c_and_resumed_upserts_every_row_exactly_once() {
    let sandbox = sandbox().await;
    let dir = temp_dir("sigint");
    let file = dir.join("contacts.csv");
    plain_csv(&file, 200);

    let child = start_then_wait(&sandbox, &file, 40).await;
    signal(&child, "INT");
    let stopped = child.wait_with_output().expect("exits");
    let first_run = upserts(&sandbox).len();
    let resumed = run(&mut command(&sandbox, &file, "40/1s", &["--resume"]));

    eprintln!("first run: {}", String::from_utf8_lossy(&stopped.stdout));
    assert_eq!(stopped.status.code(), Some(3), "stopped, resumable");
    assert!(first_run < 200, "stopped before the end ({first_run} sent)");
    assert!(resumed.status.success());
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("(in flight when it stopped)") && String::from_utf8_lossy(&resumed.stdout).contains("; 0 were"));
    let sent = upserts(&sandbox);
    assert_eq!(sent.len(), 200, "every row upserted exactly once");
    assert!(sent.iter().all(|&s| s == 200));
    let results = results(&dir.join("contacts.results.csv"));
    assert_eq!(outcomes(&results), BTreeMap::from([("created".into(), 200)]));
    assert_eq!(sandbox.contact_ids_in(LOCATION_ID).len(), SEEDED + 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_killed_and_resumed_resends_at_most_the_rows_in_flight_and_ends_with_one_result_per_row() {
    let sandbox = sandbox().await;
    let dir = temp_dir("sigkill");
    let file = dir.join("contacts.csv");
    plain_csv(&file, 200);

    let mut child = start_then_wait(&sandbox, &file, 40).await;
    signal(&child, "KILL");
    let _ = child.wait();
    let first_run = upserts(&sandbox).len();
    let resumed = run(&mut command(&sandbox, &file, "40/1s", &["--resume"]));

    assert!(resumed.status.success());
    let sent = upserts(&sandbox).len();
    eprintln!("killed after {first_run} upserts; {sent} in all after the resume");
    assert!(first_run < 200, "killed before the end");
    assert!((200..=200 + 4).contains(&sent), "at most the 4 rows in flight are sent again: {sent}");
    let results = results(&dir.join("contacts.results.csv"));
    assert_eq!(results.len(), 200);
    assert!(results.values().all(|(outcome, _)| outcome == "created" || outcome == "updated"), "{results:?}");
    assert_eq!(sandbox.contact_ids_in(LOCATION_ID).len(), SEEDED + 200, "a re-sent row updates, never duplicates");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_budget_stops_the_import_resumably_and_a_resume_sends_nothing_until_it_resets() {
    let config = SandboxConfig { contacts: SEEDED, rate_limit: "100000/1s".parse().expect("rate"), daily_limit: 50, ..Default::default() };
    let sandbox = Sandbox::spawn(config).await.expect("sandbox starts");
    let dir = temp_dir("daily");
    let file = dir.join("contacts.csv");
    plain_csv(&file, 100);

    let stopped = run(&mut command(&sandbox, &file, "100000/1s", &[]));
    let first_run = upserts(&sandbox);
    let resumed = run(&mut command(&sandbox, &file, "100000/1s", &["--resume"]));

    assert_eq!(stopped.status.code(), Some(3), "stopped, resumable");
    let stdout = String::from_utf8_lossy(&stopped.stdout);
    assert!(stdout.contains("the budget runs out first") && stdout.contains("request budget of this location is spent"), "{stdout}");
    assert_eq!(first_run.iter().filter(|&&s| s == 200).count(), 49, "the budget check took one call of the 50");
    assert_eq!(resumed.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&resumed.stdout).contains("budget of this location is spent: nothing sent"));
    assert_eq!(upserts(&sandbox).len(), first_run.len(), "no upsert while the budget is spent");
    let results = results(&dir.join("contacts.results.csv"));
    assert_eq!(outcomes(&results), BTreeMap::from([("created".into(), 49), ("pending".into(), 51)]));
}
