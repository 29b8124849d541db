//! Traces and logs of the real binary: an in-test OTLP receiver (`http/json`) gets our spans,
//! which continue the caller's `traceparent`; no exported attribute holds a secret or a variable;
//! `--log-format json` writes one JSON object per line.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_ghl-subgraph");
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";
const NEEDLE: &str = "needle-variable-7f3a";

/// Every OTLP `ExportTraceServiceRequest` (JSON) the receiver got.
#[derive(Clone, Default)]
struct Received(Arc<Mutex<Vec<Value>>>);

impl Received {
    fn spans(&self) -> Vec<Value> {
        let bodies = self.0.lock().unwrap().clone();
        bodies
            .iter()
            .flat_map(|b| b["resourceSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|r| r["scopeSpans"].as_array().cloned().unwrap_or_default())
            .flat_map(|s| s["spans"].as_array().cloned().unwrap_or_default())
            .collect()
    }
}

async fn otlp_receiver() -> (String, Received) {
    let received = Received::default();
    let store = received.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let store = store.clone();
            async move {
                if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                    store.0.lock().unwrap().push(value);
                }
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

/// The binary on the embedded sandbox, exporting to `collector`; its URL from the banner.
struct Server {
    child: Child,
    url: String,
    stderr: std::path::PathBuf,
}

impl Server {
    fn start(collector: &str, extra_env: &[(&str, &str)]) -> Self {
        let stderr = std::env::temp_dir().join(format!("ghl-telemetry-{}-{:016x}.log", std::process::id(), fastrand::u64(..)));
        let mut command = Command::new(BIN);
        command
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env_clear()
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
            .env("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json")
            .env("OTEL_BSP_SCHEDULE_DELAY", "100")
            .env("RUST_LOG", "ghl_subgraph=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"));
        for (name, value) in extra_env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("binary starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let mut banner = String::new();
        stdout.read_line(&mut banner).expect("banner");
        // The rest of the banner still has to be read, or its writer would fail on a closed pipe.
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let url = banner.trim().strip_prefix("ghl-subgraph listening on ").unwrap_or_else(|| panic!("banner: {banner:?}")).to_owned();
        Self { child, url, stderr }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.stderr);
    }
}

async fn graphql(server: &Server, query: &str, variables: Value, traceparent: Option<&str>) -> Value {
    let mut request = reqwest::Client::new().post(format!("{}/graphql", server.url)).json(&json!({ "query": query, "variables": variables }));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.expect("sent").json().await.expect("JSON")
}

fn attribute<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"].as_array()?.iter().find(|a| a["key"] == key).map(|a| &a["value"])
}

/// An attribute value as text, whichever OTLP JSON kind carries it.
fn scalar(value: &Value) -> String {
    ["stringValue", "intValue", "boolValue", "doubleValue"]
        .iter()
        .find_map(|kind| value.get(*kind))
        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
        .unwrap_or_default()
}

/// Spans of our trace, waited for (the exporter batches every 100 ms).
async fn spans_of_trace(received: &Received, until: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let spans: Vec<Value> = received.spans().into_iter().filter(|s| s["traceId"].as_str().is_some_and(|t| t.eq_ignore_ascii_case(TRACE_ID))).collect();
        if until(&spans) || started.elapsed() > Duration::from_secs(15) {
            return spans;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The span ids from `span` up through its parents (within `spans`).
fn ancestry(spans: &[Value], span: &Value) -> Vec<String> {
    let mut chain = Vec::new();
    let mut parent = span["parentSpanId"].as_str().unwrap_or("").to_owned();
    while !parent.is_empty() && chain.len() < 32 {
        chain.push(parent.clone());
        parent = spans.iter().find(|s| s["spanId"].as_str() == Some(parent.as_str())).and_then(|s| s["parentSpanId"].as_str()).unwrap_or("").to_owned();
    }
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_continue_the_callers_trace_from_the_http_request_to_each_ghl_call() {
    let (collector, received) = otlp_receiver().await;
    let server = Server::start(&collector, &[]);
    let first = graphql(&server, "{ contacts(first: 1) { nodes { id } } }", json!({}), None).await;
    let id = first["data"]["contacts"]["nodes"][0]["id"].as_str().expect("a contact").to_owned();

    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN}-01");
    let response = graphql(&server, "query Card($id: ID!) { contact(id: $id) { id tasks { id } } }", json!({ "id": id }), Some(&traceparent)).await;
    assert!(response["errors"].is_null(), "{response}");

    let is_ghl_contact = |s: &Value| attribute(s, "endpoint").is_some_and(|v| v["stringValue"] == "/contacts/{contactId}");
    let spans = spans_of_trace(&received, |spans| spans.iter().any(is_ghl_contact) && spans.len() >= 3).await;
    let http = spans.iter().find(|s| attribute(s, "http.request.method").is_some()).unwrap_or_else(|| panic!("an HTTP span: {spans:#?}"));
    assert_eq!(http["parentSpanId"].as_str().map(str::to_ascii_lowercase).as_deref(), Some(PARENT_SPAN), "{http:#}");
    let operation = spans.iter().find(|s| attribute(s, "graphql.operation.type").is_some()).unwrap_or_else(|| panic!("an operation span: {spans:#?}"));
    assert_eq!(attribute(operation, "graphql.operation.name").unwrap()["stringValue"], "Card");
    assert_eq!(attribute(operation, "graphql.operation.type").unwrap()["stringValue"], "query");
    assert!(ancestry(&spans, operation).contains(&http["spanId"].as_str().unwrap().to_owned()), "operation under the HTTP span");
    let ghl = spans.iter().find(|s| is_ghl_contact(s)).expect("a GHL call span");
    let summary: Vec<String> = spans.iter().map(|s| format!("{} {} <- {}", s["name"], s["spanId"], s["parentSpanId"])).collect();
    assert!(ancestry(&spans, ghl).contains(&operation["spanId"].as_str().unwrap().to_owned()), "GHL call under the operation: {summary:#?}");
    assert_eq!(attribute(ghl, "status").map(scalar).as_deref(), Some("200"), "{ghl:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_exported_attribute_holds_a_token_or_a_variable_and_json_logs_parse() {
    let (collector, received) = otlp_receiver().await;
    let server = Server::start(&collector, &[("LOG_FORMAT", "json")]);
    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN}-01");
    let response =
        graphql(&server, "query Find($q: String) { contacts(query: $q, first: 3) { nodes { id email } } }", json!({ "q": NEEDLE }), Some(&traceparent)).await;
    assert!(response["errors"].is_null(), "{response}");

    let spans = spans_of_trace(&received, |spans| spans.iter().any(|s| attribute(s, "endpoint").is_some())).await;
    assert!(spans.iter().any(|s| attribute(s, "endpoint").is_some()), "a GHL call was exported: {spans:#?}");
    let exported = serde_json::to_string(&received.0.lock().unwrap().clone()).unwrap();
    for secret in [NEEDLE, ghl_sandbox::WRITE_TOKEN, ghl_sandbox::READ_TOKEN] {
        assert!(!exported.contains(secret), "{secret} was exported");
    }

    let logs = server.logs();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "the server logged");
    let mut traced = 0;
    for line in &lines {
        let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        for field in ["timestamp", "level", "target", "message", "fields"] {
            assert!(entry.get(field).is_some(), "{field} missing: {line}");
        }
        assert!(entry["fields"].is_object(), "{line}");
        traced += usize::from(entry["trace_id"].as_str().is_some_and(|t| t == TRACE_ID));
    }
    assert!(traced > 0, "a log line inside the request carries its trace id:\n{logs}");
    assert!(!logs.contains(ghl_sandbox::WRITE_TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_costs_a_warning_and_never_a_request() {
    // A port nothing listens on: bound, then closed.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", listener.local_addr().expect("addr"))
    };
    let server = Server::start(&closed, &[("LOG_FORMAT", "json"), ("RUST_LOG", "ghl_subgraph=info,warn")]);
    let started = Instant::now();
    for _ in 0..5 {
        let response = graphql(&server, "{ contacts(first: 2) { nodes { id } } }", json!({}), Some(&format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))).await;
        assert!(response["data"]["contacts"]["nodes"].is_array(), "{response}");
    }
    assert!(started.elapsed() < Duration::from_secs(5), "requests waited for the exporter: {:?}", started.elapsed());

    let warned = async {
        loop {
            let logs = server.logs();
            let warning = logs.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|entry| {
                entry["target"].as_str().is_some_and(|t| t.starts_with("opentelemetry")) && matches!(entry["level"].as_str(), Some("WARN" | "ERROR"))
            });
            if let Some(warning) = warning {
                return warning;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let warning = tokio::time::timeout(Duration::from_secs(15), warned).await.unwrap_or_else(|_| panic!("no exporter warning in:\n{}", server.logs()));
    assert!(!warning.to_string().contains(ghl_sandbox::WRITE_TOKEN));
}
