//! No secret ever leaves the process: with known GHL tokens and API keys, every success and error
//! path is exercised while all logs are captured at `trace`; no response, log line or metric may
//! hold a token or a key.
//!
//! The capture is a global subscriber (spawned tasks log on other threads), installed once;
//! other tests' logs land in it too, which only widens the check, since the secrets are unique
//! to this module or are the sandbox's own tokens, which must never be logged by anyone.

use std::io::Write;
use std::sync::{Mutex, Once};

use ghl_sandbox::Fault;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, Setup, TestApp};

/// A static GHL token the sandbox does not know: GHL answers 401.
const BAD_GHL_TOKEN: &str = "pit-leakcheck-bad-token-6c0e91d2";
const API_KEY: &str = "leakcheck-caller-key-93b7aa41f0";
const OTHER_API_KEY: &str = "leakcheck-caller-key-2-51e8c3";
const WRONG_API_KEY: &str = "leakcheck-wrong-key-7d2f80b6c4";
const CURSOR_SECRET: &str = "leakcheck-cursor-secret-0a9e5d71";

static LOGS: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static CAPTURE: Once = Once::new();

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every event of every crate at `trace`, whatever `RUST_LOG` says.
fn capture_all_logs() {
    CAPTURE.call_once(|| {
        let subscriber = tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_ansi(false).with_writer(|| Capture).finish();
        tracing::subscriber::set_global_default(subscriber).expect("no other global subscriber in the test binary");
    });
}

fn secrets() -> Vec<&'static str> {
    vec![
        BAD_GHL_TOKEN,
        API_KEY,
        OTHER_API_KEY,
        WRONG_API_KEY,
        CURSOR_SECRET,
        ghl_sandbox::READ_TOKEN,
        ghl_sandbox::WRITE_TOKEN,
        ghl_sandbox::WRITE_ONLY_CONTACTS_TOKEN,
        ghl_sandbox::OTHER_LOCATION_TOKEN,
        ghl_sandbox::OAUTH_CLIENT_SECRET,
    ]
}

fn fault(value: Value) -> Fault {
    serde_json::from_value(value).expect("fault JSON")
}

fn keyed(mut setup: Setup) -> Setup {
    setup.extra.extend(
        ["--api-keys", &format!("{API_KEY},{OTHER_API_KEY}"), "--cursor-secret", CURSOR_SECRET, "--retry-base-delay", "1ms", "--retry-max-attempts", "2"]
            .map(str::to_owned),
    );
    setup
}

/// Every response, status and headers included, as text.
#[derive(Default)]
struct Transcript(Vec<String>);

impl Transcript {
    async fn post(&mut self, app: &TestApp, body: Value, headers: &[(&str, &str)]) -> Value {
        let mut request = app.http.post(format!("{}/graphql", app.url)).json(&body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let head = format!("{} {:?}", response.status(), response.headers());
        let text = response.text().await.expect("body");
        self.0.push(format!("{head}\n{text}"));
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    async fn get(&mut self, app: &TestApp, path: &str, headers: &[(&str, &str)]) {
        let mut request = app.http.get(format!("{}{path}", app.url));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("request sent");
        let head = format!("{} {:?}", response.status(), response.headers());
        self.0.push(format!("{head}\n{}", response.text().await.expect("body")));
    }
}

fn code(response: &Value) -> String {
    response["errors"][0]["extensions"]["code"].as_str().unwrap_or("").to_owned()
}

#[tokio::test]
async fn no_token_or_api_key_appears_in_any_response_log_line_or_metric() {
    capture_all_logs();
    // Controls: a trace event from a spawned task is captured, so an absent secret means something.
    tokio::spawn(async { tracing::trace!(probe = "leakcheck-probe-trace", "capture check") }).await.unwrap();
    let mut transcript = Transcript::default();
    let key = [("x-api-key", API_KEY)];
    let contact = |id: &str| json!({ "query": "query($id: ID!) { contact(id: $id) { id email notes { id } } }", "variables": { "id": id } });

    // Static token, success and every upstream failure.
    let app = spawn_app(keyed(Setup::default())).await;
    let ids = app.contact_ids();
    let ok = transcript.post(&app, contact(&ids[0]), &key).await;
    assert_eq!(ok["data"]["contact"]["id"], json!(ids[0]), "{ok}");
    let missing = transcript.post(&app, json!({ "query": "{ contact(id: \"x\") { id } }" }), &[]).await;
    assert_eq!(code(&missing), "UNAUTHENTICATED");
    let wrong = transcript.post(&app, json!({ "query": "{ contact(id: \"x\") { id } }" }), &[("x-api-key", WRONG_API_KEY)]).await;
    assert_eq!(code(&wrong), "UNAUTHENTICATED");
    let not_found =
        transcript.post(&app, json!({ "query": "mutation { updateContact(id: \"doesNotExist123\", input: { firstName: \"x\" }) { id } }" }), &key).await;
    assert_eq!(code(&not_found), "NOT_FOUND", "{not_found}");
    for (i, (status, expected)) in [(429, "RATE_LIMITED"), (503, "UPSTREAM_UNAVAILABLE")].into_iter().enumerate() {
        let path = format!("/contacts/{}", ids[i + 1]);
        app.sandbox.add_fault(fault(json!({ "method": "GET", "path": path, "kind": "status", "status": status, "rateLimitHeaders": false })));
        let failed = transcript.post(&app, contact(&ids[i + 1]), &key).await;
        assert_eq!(code(&failed), expected, "{failed}");
    }
    app.sandbox.add_fault(fault(json!({ "method": "GET", "path": format!("/contacts/{}", ids[3]), "kind": "malformed" })));
    let malformed = transcript.post(&app, contact(&ids[3]), &key).await;
    assert_eq!(code(&malformed), "UPSTREAM_UNAVAILABLE", "{malformed}");
    // Signed cursors: one issued, one forged.
    let page = transcript.post(&app, json!({ "query": "{ contacts(first: 2) { pageInfo { endCursor } } }" }), &key).await;
    let cursor = page["data"]["contacts"]["pageInfo"]["endCursor"].as_str().expect("a cursor").to_owned();
    let paged = json!({ "query": "query($a: String) { contacts(first: 2, after: $a) { nodes { id } } }", "variables": { "a": cursor } });
    assert_eq!(transcript.post(&app, paged, &key).await["errors"], Value::Null);
    let forged = json!({ "query": "query($a: String) { contacts(after: $a) { nodes { id } } }", "variables": { "a": format!("x{cursor}") } });
    assert_eq!(code(&transcript.post(&app, forged, &key).await), "BAD_USER_INPUT");
    transcript.post(&app, json!({ "query": "{ nope }" }), &key).await;
    transcript.post(&app, json!({ "query": "{ contact(id: \"../x\") { id } }" }), &key).await;

    // Read-only token: a mutation is forbidden.
    let read_only = spawn_app(keyed(Setup::read_only())).await;
    let forbidden = transcript.post(&read_only, json!({ "query": "mutation { deleteContact(id: \"abc\") }" }), &key).await;
    assert_eq!(code(&forbidden), "FORBIDDEN", "{forbidden}");

    // A token GHL refuses: 401 upstream.
    let bad_token = spawn_app(keyed(Setup { token: Some(BAD_GHL_TOKEN), scopes: "contacts.readonly", ..Default::default() })).await;
    let refused = transcript.post(&bad_token, contact(&ids[0]), &key).await;
    assert_eq!(code(&refused), "UNAUTHENTICATED", "{refused}");

    // Forward mode: the caller's bearer token, good, bad and for another location.
    let forward = spawn_app(keyed(Setup::forward())).await;
    let location = ("x-ghl-location-id", ghl_sandbox::LOCATION_ID);
    for token in [ghl_sandbox::READ_TOKEN, BAD_GHL_TOKEN, ghl_sandbox::OTHER_LOCATION_TOKEN] {
        let bearer = format!("Bearer {token}");
        transcript.post(&forward, contact(&ids[0]), &[key[0], ("authorization", &bearer), location]).await;
    }
    let bearer = format!("Bearer {}", ghl_sandbox::WRITE_TOKEN);
    transcript.post(&forward, contact(&ids[0]), &[("x-api-key", WRONG_API_KEY), ("authorization", &bearer), location]).await;

    for target in [&app, &read_only, &bad_token, &forward] {
        transcript.get(target, "/metrics", &[]).await;
        transcript.get(target, "/healthz", &[]).await;
        transcript.get(target, "/graphql", &[("accept", "text/html")]).await;
    }
    // Let spawned tasks (retries, shared GETs) finish logging.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned();
    assert!(logs.contains("leakcheck-probe-trace"), "trace events from spawned tasks must be captured");
    assert!(logs.contains("ghl_subgraph"), "the capture must have seen our own events");
    for secret in secrets() {
        assert!(!logs.contains(secret), "a log line holds {secret:?}");
        for response in &transcript.0 {
            assert!(!response.contains(secret), "a response holds {secret:?}: {response}");
        }
    }
}

#[tokio::test]
async fn listening_publicly_with_a_static_token_and_no_keys_is_refused_without_the_token() {
    capture_all_logs();
    let sandbox = ghl_sandbox::Sandbox::spawn(Default::default()).await.expect("sandbox starts");
    let mut args = crate::helpers::serve_args(&sandbox.base_url(), &Setup { token: Some(BAD_GHL_TOKEN), ..Default::default() });
    args.http.listen = "0.0.0.0:0".parse().expect("address");

    let refused = crate::helpers::build_app(args).await.err().expect("start is refused");

    let message = format!("{refused:#}");
    assert!(message.contains("SUBGRAPH_API_KEYS"), "the error says what to do: {message}");
    assert!(!message.contains(BAD_GHL_TOKEN));
    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)).into_owned();
    assert!(!logs.contains(BAD_GHL_TOKEN));
}
