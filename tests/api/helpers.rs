//! Test harness: a real sandbox and a real subgraph on a listener the test binds (port 0),
//! driven over HTTP. OAuth tests (`oauth_harness`) serve through the same [`serve_on`].

use std::collections::BTreeMap;

use clap::Parser;
use ghl_sandbox::{RecordedRequest, RunningSandbox, Sandbox, SandboxConfig};
use ghl_subgraph::app::App;
use ghl_subgraph::config::{Cli, Command, ServeArgs, ServeConfig};
use ghl_subgraph::services::Services;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

pub struct TestApp {
    pub url: String,
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
    _running: Running,
}

/// A subgraph serving until dropped.
pub struct Running {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Validates `args` and builds the subgraph on `listener`, as `main` does.
pub async fn build_app_on(listener: TcpListener, args: ServeArgs) -> anyhow::Result<App> {
    let config = ServeConfig::try_from(args)?;
    let services = Services::build(&config).await?;
    App::new(listener, services, &config.http)
}

/// As [`build_app_on`], on a listener bound here to `args`' address (always port 0 in tests).
pub async fn build_app(args: ServeArgs) -> anyhow::Result<App> {
    let listener = TcpListener::bind(args.http.listen).await?;
    build_app_on(listener, args).await
}

/// Builds the subgraph on `listener` and serves it in the background.
pub async fn serve_on(listener: TcpListener, args: ServeArgs) -> Running {
    let app = build_app_on(listener, args).await.expect("app builds");
    let url = format!("http://{}", app.local_addr().expect("bound"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(app.run_until_stopped(async move {
        let _ = stopped.await;
    }));
    Running { url, stop: Some(stop) }
}

/// A listener on 127.0.0.1 with a port the system picked.
pub async fn local_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0")
}

/// How to start the subgraph against the sandbox.
pub struct Setup {
    /// The sandbox sends its signed webhooks to the subgraph, which checks them with its key.
    pub webhooks: bool,
    pub token: Option<&'static str>,
    pub scopes: &'static str,
    pub extra: Vec<String>,
    pub sandbox: SandboxConfig,
}

impl Default for Setup {
    fn default() -> Self {
        Self {
            webhooks: false,
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
    let mut argv: Vec<String> = ["ghl-subgraph", "serve", "--listen", "127.0.0.1:0", "--ghl-base-url", base_url].iter().map(|s| s.to_string()).collect();
    match setup.token {
        Some(token) => {
            argv.extend(["--ghl-token", token, "--ghl-location-id", ghl_sandbox::LOCATION_ID, "--ghl-scopes", setup.scopes].iter().map(|s| s.to_string()))
        }
        None => argv.extend(["--auth", "forward"].iter().map(|s| s.to_string())),
    }
    if !setup.extra.iter().any(|a| a == "--rate-limit") {
        // Tests about pacing set their own; the rest should never wait on the limiter.
        argv.extend(["--rate-limit".to_owned(), "100000/1s".to_owned()]);
    }
    if !setup.extra.iter().any(|a| a == "--cache-ttl") {
        // Tests of a request's own reads count its upstream calls; the cache's tests set a TTL.
        argv.extend(["--cache-ttl".to_owned(), "0s".to_owned()]);
    }
    argv.extend(setup.extra.iter().cloned());
    match Cli::try_parse_from(argv).expect("valid test args").into_command() {
        Command::Serve(args) => *args,
        _ => unreachable!("serve args"),
    }
}

pub async fn spawn_app(setup: Setup) -> TestApp {
    let sandbox = Sandbox::spawn(setup.sandbox.clone()).await.expect("sandbox starts");
    let mut args = serve_args(&sandbox.base_url(), &setup);
    if setup.webhooks {
        args.webhooks.webhook_public_key = Some(sandbox.webhook_public_key().parse().expect("sandbox key"));
    }
    let running = serve_on(local_listener().await, args).await;
    if setup.webhooks {
        sandbox.set_webhook_url(Some(format!("{}/webhooks/ghl", running.url)));
    }
    TestApp { url: running.url.clone(), sandbox, http: reqwest::Client::new(), _running: running }
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
    response["errors"].as_array().map(|errors| errors.iter().filter_map(|e| e["extensions"]["code"].as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// Changes `path` on the sandbox as someone in the GHL app would (`/__sandbox/…`: no token, not in
/// the request log); the sandbox's answer.
pub async fn edit_in_ghl(sandbox: &RunningSandbox, method: reqwest::Method, path: &str, body: Value) -> Value {
    let response = reqwest::Client::new().request(method, format!("{}/__sandbox{path}", sandbox.base_url())).json(&body).send().await.expect("sent");
    assert!(response.status().is_success(), "{path}: {}", response.status());
    response.json().await.expect("json")
}

/// Waits (up to 10 s) until the sandbox has finished `count` webhook deliveries.
pub async fn delivered(sandbox: &RunningSandbox, count: usize) -> Vec<ghl_sandbox::WebhookDelivery> {
    let started = std::time::Instant::now();
    loop {
        let deliveries = sandbox.webhook_deliveries();
        if deliveries.len() >= count || started.elapsed() > std::time::Duration::from_secs(10) {
            return deliveries;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
