//! `ghl-subgraph check` as operators run it: the real binary against an in-process sandbox (or
//! against addresses that fail on purpose), each case asserted in the text output, in `--json`,
//! in the exit status, and on the sandbox's request log (test calls only read).

use std::process::Command;

use ghl_sandbox::{RunningSandbox, Sandbox, SandboxConfig, LOCATION_ID, OTHER_LOCATION_TOKEN, READ_TOKEN, WRITE_ONLY_CONTACTS_TOKEN, WRITE_TOKEN};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ghl-subgraph");
const ALL_SCOPES: &str = "contacts.readonly contacts.write locations/tasks.readonly";

/// One run of `check` in both forms.
struct Outcome {
    text: String,
    text_status: i32,
    json: Value,
    json_status: i32,
}

impl Outcome {
    /// The JSON check named `name`.
    fn check(&self, name: &str) -> &Value {
        self.json["checks"].as_array().expect("checks").iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name} in {}", self.json))
    }

    /// Asserts `name`'s status, and that its diagnosis holds `words`, in JSON and in text.
    fn assert(&self, name: &str, status: &str, words: &str) {
        let check = self.check(name);
        assert_eq!(check["status"], status, "{name}: {check}");
        let diagnosis = check["diagnosis"].as_str().expect("diagnosis");
        assert!(diagnosis.contains(words), "{name}: {diagnosis:?} lacks {words:?}");
        let mark = match status {
            "ok" => "[ok]  ",
            "warning" => "[warn]",
            "failed" => "[FAIL]",
            _ => "[skip]",
        };
        // The text run came first (its timings and budget differ): its own diagnosis line.
        let shown = self.text.split_once(&format!("{mark} {name}\n       ")).and_then(|(_, rest)| rest.lines().next());
        assert!(shown.is_some_and(|line| line.contains(words)), "{name} not shown as {mark} with {words:?}:\n{}", self.text);
    }

    fn exits(&self, code: i32) {
        assert_eq!((self.text_status, self.json_status), (code, code), "{}", self.text);
        assert_eq!(self.json["ok"], code == 0, "{}", self.json);
    }
}

/// Runs the binary with `args` (after `check`), with an empty environment.
fn check(args: &[&str]) -> Outcome {
    let run = |json: bool| {
        let mut command = Command::new(BIN);
        command.arg("check").args(args).env_clear().env("RUST_LOG", "off");
        if json {
            command.arg("--json");
        }
        let output = command.output().expect("the binary runs");
        let stdout = String::from_utf8(output.stdout).expect("utf-8");
        (stdout, output.status.code().expect("exited"))
    };
    let (text, text_status) = run(false);
    let (json, json_status) = run(true);
    let json = serde_json::from_str(&json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    Outcome { text, text_status, json, json_status }
}

fn static_args<'a>(base_url: &'a str, token: &'a str, scopes: &'a str) -> Vec<&'a str> {
    vec!["--ghl-base-url", base_url, "--ghl-token", token, "--ghl-location-id", LOCATION_ID, "--ghl-scopes", scopes]
}

async fn sandbox(config: SandboxConfig) -> RunningSandbox {
    Sandbox::spawn(config).await.expect("sandbox starts")
}

/// The binary blocks: run it off the runtime that serves the sandbox.
async fn check_async(args: Vec<String>) -> Outcome {
    tokio::task::spawn_blocking(move || check(&args.iter().map(String::as_str).collect::<Vec<_>>())).await.expect("check ran")
}

fn owned(args: Vec<&str>) -> Vec<String> {
    args.into_iter().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_working_setup_passes_every_check_and_only_reads() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let url = sandbox.base_url();

    let outcome = check_async(owned(static_args(&url, WRITE_TOKEN, ALL_SCOPES))).await;

    outcome.exits(0);
    for name in ["base_url", "token", "location", "scope.reads", "scope.writes", "scope.tasks_search", "endpoint.contacts", "endpoint.tasks"] {
        assert_eq!(outcome.check(name)["status"], "ok", "{name}: {}", outcome.text);
    }
    for name in ["endpoint.notes", "endpoint.appointments", "endpoint.tasks_search", "rate_limit.burst", "rate_limit.daily", "webhooks"] {
        assert_eq!(outcome.check(name)["status"], "ok", "{name}: {}", outcome.text);
    }
    outcome.assert("location", "ok", "reaches location `sandbox-location`");
    outcome.assert("rate_limit.daily", "ok", "of 200000 calls left today");
    outcome.assert("webhooks", "ok", "GHL's published Ed25519 key");
    assert!(!outcome.text.contains(WRITE_TOKEN) && !outcome.json.to_string().contains(WRITE_TOKEN), "the token never shows");
    let requests = sandbox.requests();
    // Two runs (text, JSON) of six test calls each: a search, a get, three lists, a tasks search.
    assert_eq!(requests.len(), 12, "{requests:?}");
    let reads = ["/contacts/search", "/locations/sandbox-location/tasks/search"];
    assert!(requests.iter().all(|r| r.method == "GET" || reads.contains(&r.path.as_str())), "only reads: {requests:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_token_fails_with_how_to_get_one() {
    let sandbox = sandbox(SandboxConfig::default()).await;

    let outcome = check_async(owned(static_args(&sandbox.base_url(), "not-a-real-token", ALL_SCOPES))).await;

    outcome.exits(1);
    outcome.assert("base_url", "ok", "answered POST /contacts/search with 401");
    outcome.assert("token", "failed", "GHL refused the token (401): it is wrong, expired or revoked");
    assert!(outcome.check("token")["action"].as_str().unwrap().contains("Private Integrations"), "{}", outcome.text);
    outcome.assert("endpoint.tasks", "skipped", "GHL refused the token");
    assert!(!outcome.text.contains("not-a-real-token"), "{}", outcome.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_of_another_location_is_told_apart_from_a_bad_token() {
    let sandbox = sandbox(SandboxConfig::default()).await;

    let outcome = check_async(owned(static_args(&sandbox.base_url(), OTHER_LOCATION_TOKEN, ALL_SCOPES))).await;

    outcome.exits(1);
    outcome.assert("token", "ok", "GHL knows the token");
    outcome.assert("location", "failed", "GHL answered 403 for location `sandbox-location`: the token belongs to another location");
    assert!(outcome.check("location")["action"].as_str().unwrap().contains("GHL_LOCATION_ID"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_read_only_token_passes_with_mutations_reported_unavailable() {
    let sandbox = sandbox(SandboxConfig::default()).await;

    let outcome = check_async(owned(static_args(&sandbox.base_url(), READ_TOKEN, "contacts.readonly"))).await;

    outcome.exits(0);
    outcome.assert("scope.reads", "ok", "queries work");
    outcome.assert("scope.writes", "warning", "`contacts.write` not granted: mutations unavailable");
    assert!(outcome.check("scope.writes")["action"].as_str().unwrap().contains("least privilege"));
    outcome.assert("scope.tasks_search", "warning", "tasks batching off");
    outcome.assert("endpoint.tasks", "ok", "GET /contacts/{contactId}/tasks answered");
}

/// Tasks still load (one call per contact) when the scope is missing and not claimed: everything
/// needed works, exit 0. Claimed in GHL_SCOPES but missing, the server would batch through the
/// tasks search and every contact's tasks would fail: exit 1.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_tasks_search_scope_turns_batching_off_and_fails_only_when_claimed() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let url = sandbox.base_url();

    let honest = check_async(owned(static_args(&url, WRITE_ONLY_CONTACTS_TOKEN, "contacts.readonly contacts.write"))).await;
    let claimed = check_async(owned(static_args(&url, WRITE_ONLY_CONTACTS_TOKEN, ALL_SCOPES))).await;

    honest.exits(0);
    honest.assert("scope.tasks_search", "warning", "`locations/tasks.readonly` not granted: tasks batching off");
    honest.assert("endpoint.tasks_search", "skipped", "not granted");
    honest.assert("scope.writes", "ok", "mutations available");
    claimed.exits(1);
    claimed.assert("scope.tasks_search", "failed", "GHL_SCOPES lists `locations/tasks.readonly` but the token lacks it");
    claimed.assert("endpoint.tasks_search", "failed", "the token lacks the scope");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_daily_budget_fails_and_says_when_it_resets() {
    let sandbox = sandbox(SandboxConfig { daily_limit: 3, ..Default::default() }).await;
    let url = sandbox.base_url();
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let spent = http.get(format!("{url}/contacts/x/tasks")).bearer_auth(WRITE_TOKEN).header("Version", "2021-07-28").send().await.expect("answered");
        assert_ne!(spent.status(), 429);
    }

    let outcome = check_async(owned(static_args(&url, WRITE_TOKEN, ALL_SCOPES))).await;

    outcome.exits(1);
    outcome.assert("rate_limit.daily", "failed", "the daily budget of 3 calls is spent: GHL refuses every call until it resets, at ");
    outcome.assert("token", "skipped", "GHL answered 429");
    outcome.assert("endpoint.contacts", "skipped", "refusing calls");
    let after = sandbox.requests().iter().filter(|r| r.status == 429).count();
    assert_eq!(after, 2, "one refused search per run, then no more calls");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_base_url_is_diagnosed_as_refused_dns_or_tls() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let sandbox = sandbox(SandboxConfig::default()).await;
    let plain_http_as_tls = sandbox.base_url().replace("http://", "https://");

    let refused = check_async(owned(static_args(&format!("http://127.0.0.1:{port}"), WRITE_TOKEN, ALL_SCOPES))).await;
    let dns = check_async(owned(static_args("http://nonexistent.invalid", WRITE_TOKEN, ALL_SCOPES))).await;
    let tls = check_async(owned(static_args(&plain_http_as_tls, WRITE_TOKEN, ALL_SCOPES))).await;

    refused.exits(1);
    refused.assert("base_url", "failed", &format!("127.0.0.1:{port} refused the connection: nothing listens there"));
    refused.assert("token", "skipped", "GHL was not reached");
    dns.exits(1);
    dns.assert("base_url", "failed", "the host `nonexistent.invalid` does not resolve (DNS lookup failed)");
    tls.exits(1);
    tls.assert("base_url", "failed", "the TLS handshake with 127.0.0.1");
    assert!(sandbox.requests().is_empty(), "no HTTP request reached the sandbox over TLS");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_server_that_never_answers_is_a_timeout() {
    // Accepted by the kernel's backlog, never read: connected, and no answer.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", silent.local_addr().expect("addr"));
    let mut args = static_args(&url, WRITE_TOKEN, ALL_SCOPES);
    args.extend(["--request-timeout", "300ms"]);

    let outcome = check_async(owned(args)).await;

    outcome.exits(1);
    outcome.assert("base_url", "failed", "but got no answer within the request timeout (300ms)");
    drop(silent);
}

const STORE_KEY: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9";

/// A store with a valid pair for the sandbox location (its write token) and one whose refresh GHL refused.
async fn oauth_store() -> std::path::PathBuf {
    use ghl_subgraph::oauth::{FileStore, TokenRecord, TokenStatus, TokenStore};
    let dir = std::env::temp_dir().join(format!("ghl-check-store-{}-{:016x}", std::process::id(), fastrand::u64(..)));
    let store = FileStore::open(&dir, &STORE_KEY.parse().expect("key")).expect("store");
    let record = |location: &str, token: &str, status| TokenRecord {
        location_id: location.into(),
        company_id: None,
        user_id: None,
        scopes: ALL_SCOPES.into(),
        access_token: token.to_owned().into(),
        refresh_token: "refresh".to_owned().into(),
        expires_at: chrono::Utc::now() + chrono::Duration::hours(20),
        status,
        updated_at: chrono::Utc::now(),
        generation: 1,
        agency: None,
    };
    store.put(&record(LOCATION_ID, WRITE_TOKEN, TokenStatus::Active)).await.expect("put");
    store.put(&record(ghl_sandbox::OTHER_LOCATION_ID, OTHER_LOCATION_TOKEN, TokenStatus::NeedsReinstall)).await.expect("put");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn oauth_mode_reports_the_store_and_each_locations_token_state() {
    let sandbox = sandbox(SandboxConfig::default()).await;
    let url = sandbox.base_url();
    let dir = oauth_store().await;
    let store = dir.display().to_string();
    let oauth = |key: &'static str| {
        let mut args = vec!["--auth", "oauth", "--ghl-base-url", &url, "--token-store", &store, "--token-store-key", key];
        args.extend([
            "--ghl-client-id",
            "sandbox-client-id",
            "--ghl-client-secret",
            "sandbox-client-secret",
            "--ghl-redirect-uri",
            "http://127.0.0.1/oauth/callback",
        ]);
        owned(args)
    };

    let outcome = check_async(oauth(STORE_KEY)).await;
    let wrong_key = check_async(oauth("ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff")).await;

    outcome.exits(1);
    assert_eq!(outcome.json["location"], LOCATION_ID, "test calls use the location with a valid token");
    outcome.assert("oauth.store", "ok", "opens: 2 location(s)");
    outcome.assert("oauth.location.sandbox-location", "ok", "access token valid until");
    outcome.assert("oauth.location.other-location", "failed", "refresh failing: GHL refused the refresh token");
    outcome.assert("endpoint.tasks_search", "ok", "answered");
    assert!(!outcome.text.contains(WRITE_TOKEN) && !outcome.text.contains("refresh\n"), "no token shows");
    wrong_key.exits(1);
    wrong_key.assert("oauth.store", "failed", "none of the 2 record(s)");
    wrong_key.assert("token", "skipped", "no location has a usable token");
    let _ = std::fs::remove_dir_all(dir);
}
