//! What the benchmarks share: the subgraph binary as a child process (so its memory is its
//! own), pinned to a core of its own when the machine has two, and how figures are printed.

#![allow(dead_code)] // Each bench uses part of this.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release `ghl-subgraph serve` against `base_url` with the sandbox's write token, limits
/// raised out of the way (this measures overhead, not pacing), and `extra` flags.
pub struct Subgraph {
    child: Child,
    pub url: String,
}

/// The scopes the benchmarks' token is declared to carry unless a bench says otherwise.
pub const ALL_SCOPES: &str = "contacts.readonly contacts.write locations/tasks.readonly";

impl Subgraph {
    pub fn start(base_url: &str, extra: &[&str]) -> Self {
        Self::start_scoped(base_url, ALL_SCOPES, extra)
    }

    /// As [`Subgraph::start`], with the token declared to carry `scopes` only.
    pub fn start_scoped(base_url: &str, scopes: &str, extra: &[&str]) -> Self {
        // Another build can be measured in its place (A/B runs): `SUBGRAPH_BENCH_BINARY=path`.
        let binary = std::env::var("SUBGRAPH_BENCH_BINARY").unwrap_or_else(|_| env!("CARGO_BIN_EXE_ghl-subgraph").to_owned());
        let mut command = pinned_command(&binary);
        command
            .args(["serve", "--listen", "127.0.0.1:0", "--ghl-base-url", base_url])
            .args(extra)
            .args(["--ghl-token", ghl_sandbox::WRITE_TOKEN, "--ghl-location-id", ghl_sandbox::LOCATION_ID])
            .args(["--ghl-scopes", scopes])
            .args(["--rate-limit", "100000000/1s", "--daily-limit", "1000000000000"])
            .env("RUST_LOG", "warn");
        Self::launch(command)
    }

    /// Starts `command`, whose first line on stdout ends with the URL it serves.
    pub fn launch(mut command: Command) -> Self {
        let mut child = command.stdout(Stdio::piped()).spawn().expect("start the child process");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("banner");
        let url = line.trim().rsplit(' ').next().expect("url").to_owned();
        // Keep draining: a closed pipe would make the child's next print fail.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        Self { child, url }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// CPU time its threads have run so far (from `/proc/PID/task/*/schedstat`, in ns): the cost
    /// of a load that the machine's other work does not blur as much as throughput.
    pub fn cpu_time(&self) -> Duration {
        let tasks = std::fs::read_dir(format!("/proc/{}/task", self.child.id())).into_iter().flatten().flatten();
        let ns = tasks
            .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
            .filter_map(|stat| stat.split_whitespace().next().and_then(|ns| ns.parse::<u64>().ok()))
            .sum();
        Duration::from_nanos(ns)
    }

    /// Peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        self.status_kib("VmHWM:")
    }

    /// Resident memory now (`VmRSS`), in KiB.
    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
    }
}

impl Drop for Subgraph {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `program` on core 1 when pinning, else as is.
pub fn pinned_command(program: &str) -> Command {
    if pinned() {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "1", program]);
        taskset
    } else {
        Command::new(program)
    }
}

/// True when the subgraph runs on core 1 and every thread of this process (load, sandbox) on
/// core 0: two or more cores and `taskset` on the PATH.
pub fn pinned() -> bool {
    static PINNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PINNED.get_or_init(|| {
        std::thread::available_parallelism().map_or(1, |n| n.get()) >= 2
            && Command::new("taskset")
                .args(["-a", "-p", "-c", "0", &std::process::id().to_string()])
                .stdout(Stdio::null())
                .status()
                .is_ok_and(|status| status.success())
    })
}

/// How the processes were placed, for the report's first line.
pub fn pinning() -> &'static str {
    if pinned() {
        "subgraph on core 1, load and sandbox on core 0"
    } else {
        "not pinned (one core or no taskset)"
    }
}

pub fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
