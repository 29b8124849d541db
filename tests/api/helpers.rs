//! Test harness: a real sandbox and a real subgraph on 127.0.0.1:0, driven over HTTP.



use std::collections::BTreeMap;

use clap::Parser;
use ghl_sandbox::{RecordedRequest, RunningSandbox, Sandbox, SandboxConfig};
use ghl_subgraph::app::App;
use ghl_subgraph::config::{Cli, Command, ServeArgs};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub struct TestApp {
    pub url: String,
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
}

/// How to start the subgraph against the sandbox.
pub struct Setup {
    pub token: Option<&'static str>,
    pub scopes: &'static str,
    pub extra: Vec<String>,
    pub sandbox: SandboxConfig,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            token: Some(ghl_sandbox::WRITE_TOKEN),
            scopes: "contacts.readonly contacts.write locations/tasks.readonly",
            extra: Vec::new(),
            sandbox: SandboxConfig { rate_limit: "100000/1s".parse().expect("rate limit"), ..Default::default() },
        }
    }
}

impl Setup {
    pub fn read_only() -> Self {
        Self { token: Some(ghl_sandbox::READ_TOKEN), scopes: "contacts.readonly", ..Default::default() }
    }

    pub fn write_without_tasks_search() -> Self {
        Self { token: Some(ghl_sandbox::WRITE_ONLY_CONTACTS_TOKEN), scopes: "contacts.readonly contacts.write", ..Default::default() }
    }

    pub fn forward() -> Self {
        Self { token: None, ..Default::default() }
    }
}

pub fn serve_args(base_url: &str, setup: &Setup) -> ServeArgs {
    let mut argv: Vec<String> = ["ghl-subgraph", "serve", "--listen", "127.0.0.1:0", "--ghl-base-url", base_url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    match setup.token {
        Some(token) => argv.extend(
            ["--ghl-token", token, "--ghl-location-id", ghl_sandbox::LOCATION_ID, "--ghl-scopes", setup.scopes]
                .iter()
                .map(|s| s.to_string()),
        ),
        None => argv.extend(["--auth", "forward"].iter().map(|s| s.to_string())),
    }
    if !setup.extra.iter().any(|a| a == "--rate-limit") {
        // Tests about pacing set their own; the rest should never wait on the limiter.
        argv.extend(["--rate-limit".to_owned(), "100000/1s".to_owned()]);
    }
    argv.extend(setup.extra.iter().cloned());
    match Cli::try_parse_from(argv).expect("valid test args").into_command() {
        Command::Serve(args) => args,
        _ => unreachable!("serve args"),
    }
}

pub async fn spawn_app(setup: Setup) -> TestApp {
    let sandbox = Sandbox::spawn(setup.sandbox.clone()).await.expect("sandbox starts");
    let app = App::build(serve_args(&sandbox.base_url(), &setup)).await.expect("app builds");
    let url = format!("http://{}", app.local_addr().expect("bound"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    TestApp { url, sandbox, http: reqwest::Client::new(), stop: Some(stop) }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl TestApp {
    /// POSTs one operation; returns the whole GraphQL response.
    pub async fn graphql(&self, query: &str, variables: Value) -> Value {
        self.graphql_with(query, variables, &[]).await
    }

    pub async fn graphql_with(&self, query: &str, variables: Value, headers: &[(&str, &str)]) -> Value {
        let mut request = self.http.post(format!("{}/graphql", self.url)).json(&json!({ "query": query, "variables": variables }));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        response.json().await.expect("JSON response")
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.sandbox.requests()
    }

    /// How many times each `METHOD path` was called upstream.
    pub fn calls(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for r in self.requests() {
            *counts.entry(format!("{} {}", r.method, r.path)).or_insert(0) += 1;
        }
        counts
    }

    pub fn contact_ids(&self) -> Vec<String> {
        self.sandbox.contact_ids()
    }
}

/// The `extensions.code` of every error.
pub fn codes(response: &Value) -> Vec<String> {
    response["errors"]
        .as_array()
        .map(|errors| errors.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}
