//! Benchmark: 10,000 rows imported by the release `ghl-subgraph import` into a sandbox whose
//! limit is GHL's 100 per 10 s scaled down in time (100 per 250 ms), with our limiter set to the
//! same limit and the default import share (50 %).
//!
//! Run: `cargo bench --bench import` (`BENCH_IMPORT_ROWS` and `BENCH_IMPORT_CONCURRENCY`
//! change the row count and the rows in flight, default 4). Reports the
//! achieved upsert rate as a share of the limit and of the import's share (target >= 90 % of the
//! share), and upstream 429s (target 0). The limiter keeps each window a margin longer than GHL's
//! (1/50 of it, plus a round trip and 5 ms), which weighs more on this 250 ms window than on GHL's
//! 10 s one, so the figure here is a floor.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ghl_sandbox::{Sandbox, SandboxConfig};

const LIMIT: &str = "100/250ms";
const LIMIT_PER_SECOND: f64 = 400.0;
const IMPORT_SHARE: f64 = 0.5;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rows: usize = std::env::var("BENCH_IMPORT_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let concurrency = std::env::var("BENCH_IMPORT_CONCURRENCY").unwrap_or_else(|_| "4".to_owned());
    let sandbox = Sandbox::spawn(SandboxConfig { contacts: 100, rate_limit: LIMIT.parse().expect("limit"), ..Default::default() }).await.expect("sandbox");
    let dir = std::env::temp_dir().join(format!("ghl-import-bench-{}-{:x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("contacts.csv");
    let mut csv = String::from("email,firstName,tags\n");
    for i in 0..rows {
        csv.push_str(&format!("bench{i}@import.test,Bench {i},bench\n"));
    }
    std::fs::write(&file, csv).expect("csv");
    sandbox.clear_requests();

    let started = Instant::now();
    let base_url = sandbox.base_url();
    let file_arg = file.display().to_string();
    let in_flight = concurrency.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_ghl-subgraph"))
            .args(["import", "--file", &file_arg, "--ghl-base-url", &base_url])
            .args(["--ghl-token", ghl_sandbox::WRITE_TOKEN, "--ghl-location-id", ghl_sandbox::LOCATION_ID, "--ghl-scopes", "contacts.readonly contacts.write"])
            .args(["--rate-limit", LIMIT, "--import-share", &IMPORT_SHARE.to_string(), "--limiter-max-wait", "60s", "--concurrency", &concurrency])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .expect("the import runs")
    })
    .await
    .expect("joined");
    let elapsed = started.elapsed();

    let requests = sandbox.requests();
    let upserts = requests.iter().filter(|r| r.path == "/contacts/upsert").count();
    let throttled = requests.iter().filter(|r| r.status == 429).count();
    let rate = upserts as f64 / elapsed.as_secs_f64().max(f64::EPSILON);
    let of_limit = rate / LIMIT_PER_SECOND;
    println!("{}", String::from_utf8_lossy(&output.stdout).trim_end());
    println!();
    println!(
        "import bench: {rows} rows, {in_flight} in flight, sandbox and limiter at {LIMIT} ({LIMIT_PER_SECOND:.0}/s), import share {:.0} %",
        IMPORT_SHARE * 100.0
    );
    println!("  exit status          {:?}", output.status.code());
    println!("  upserts              {upserts} in {:.1} s (process start to exit)", elapsed.as_secs_f64());
    println!(
        "  achieved rate        {rate:.1}/s = {:.1} % of the limit = {:.1} % of the import share (target >= 90 %)",
        of_limit * 100.0,
        of_limit / IMPORT_SHARE * 100.0
    );
    println!("  upstream 429s        {throttled} (target 0)");
    println!("  at best (share)      {:.1} s", rows as f64 / (LIMIT_PER_SECOND * IMPORT_SHARE));
    let _ = std::fs::remove_dir_all(&dir);
    if Duration::from_secs(1) > elapsed {
        println!("  (too short to measure a rate: raise BENCH_IMPORT_ROWS)");
    }
}
