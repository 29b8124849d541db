//! The test harness shared by the integration tests: a sandbox on `127.0.0.1:0` and a client with a
//! method per kind of call, answering status, headers and JSON body.
#![allow(dead_code)]

pub mod hooks;

use std::time::Duration;

use ghl_sandbox::{RunningSandbox, Sandbox, SandboxConfig, API_VERSION, WRITE_TOKEN};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

pub struct TestSandbox {
    pub sandbox: RunningSandbox,
    pub client: reqwest::Client,
}

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn header_u64(&self, name: &str) -> u64 {
        self.header(name).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("no numeric header {name}: {:?}", self.headers))
    }

    pub fn message(&self) -> String {
        self.body["message"].as_str().map(str::to_owned).unwrap_or_else(|| self.body["message"].to_string())
    }
}

/// A sandbox with the default config but a generous rate limit, so tests do not trip over it.
pub async fn spawn() -> TestSandbox {
    spawn_with(SandboxConfig { rate_limit: ghl_sandbox::RateLimit { max: 100_000, interval: Duration::from_secs(10) }, ..SandboxConfig::default() }).await
}

/// [`spawn`], delivering webhooks to a fresh [`hooks::Receiver`].
pub async fn spawn_hooked() -> (TestSandbox, hooks::Receiver) {
    let receiver = hooks::Receiver::start().await;
    let t = spawn().await;
    t.sandbox.set_webhook_url(Some(receiver.url.clone()));
    (t, receiver)
}

pub async fn spawn_with(config: SandboxConfig) -> TestSandbox {
    let sandbox = Sandbox::spawn(config).await.expect("sandbox starts");
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client");
    TestSandbox { sandbox, client }
}

impl TestSandbox {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url())
    }

    /// A request with `Authorization: Bearer token` (if any) and the right `Version` header.
    pub async fn call(&self, method: Method, token: Option<&str>, path: &str, body: Option<Value>) -> Answer {
        let mut request = self.client.request(method, self.url(path)).header("Version", API_VERSION);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request.send().await.expect("request is answered")).await
    }

    pub async fn get(&self, token: &str, path: &str) -> Answer {
        self.call(Method::GET, Some(token), path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(Method::POST, Some(token), path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> Answer {
        self.call(Method::PUT, Some(token), path, Some(body)).await
    }

    pub async fn delete(&self, token: &str, path: &str, body: Option<Value>) -> Answer {
        self.call(Method::DELETE, Some(token), path, body).await
    }

    /// A change made in the GHL app: a `/__sandbox/…` call without a token. Panics if it shows in
    /// the request log.
    pub async fn app_edit(&self, method: Method, path: &str, body: Option<Value>) -> Answer {
        let logged = self.sandbox.requests().len();
        let answer = self.call(method.clone(), None, &format!("/__sandbox{path}"), body).await;
        assert_eq!(self.sandbox.requests().len(), logged, "{method} /__sandbox{path} must not be in the request log");
        answer
    }

    /// The first seeded contact of the main location.
    pub fn first_contact(&self) -> String {
        self.sandbox.contact_ids().into_iter().next().expect("seeded contacts")
    }

    /// A seeded contact with at least `n` tasks (and its tasks' ids).
    pub async fn contact_with_tasks(&self, n: usize) -> (String, Vec<String>) {
        for id in self.sandbox.contact_ids() {
            let answer = self.get(WRITE_TOKEN, &format!("/contacts/{id}/tasks")).await;
            let tasks = answer.body["tasks"].as_array().cloned().unwrap_or_default();
            if tasks.len() >= n {
                return (id, tasks.iter().filter_map(|t| t["id"].as_str().map(str::to_owned)).collect());
            }
        }
        panic!("no contact with {n} tasks");
    }
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
    Answer { status, headers, body }
}
