//! Harness of the OAuth-mode tests: a sandbox with short-lived tokens, the subgraph in
//! `--auth oauth` on a listener bound first, so its port is known before the flags are (the
//! consent screen redirects to its real `/oauth/callback`),
//! an encrypted store in a fresh directory, and the install flow followed by hand, carrying the
//! install cookie from `/oauth/install` to `/oauth/callback` as the browser would.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use ghl_sandbox::{RunningSandbox, Sandbox, SandboxConfig, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET};
use ghl_subgraph::config::{Cli, Command};
use ghl_subgraph::oauth::{FileStore, StoreKey, TokenRecord, TokenStore};
use serde_json::{json, Value};

use crate::helpers::{local_listener, serve_on, Running};

pub const STORE_KEY: &str = "5f1e3c7a9b2d4f6081a3c5e7092b4d6f8a1c3e5072b4d6f8091a2b3c4d5e6f70";
/// May reach only the sandbox's first location.
pub const KEY_A: &str = "oauth-caller-a-7c41e09b2f";
/// May reach only the second location.
pub const KEY_B: &str = "oauth-caller-b-3e98d1a6c0";
pub const CONTACTS: &str = "{ contacts(first: 2) { nodes { id } } }";

pub fn api_keys() -> String {
    format!("{KEY_A}={},{KEY_B}={}", ghl_sandbox::LOCATION_ID, ghl_sandbox::OTHER_LOCATION_ID)
}

pub async fn spawn_sandbox(token_ttl: Duration) -> RunningSandbox {
    let config = SandboxConfig { rate_limit: "100000/1s".parse().expect("rate limit"), access_token_ttl: token_ttl, ..Default::default() };
    Sandbox::spawn(config).await.expect("sandbox starts")
}

/// A fresh, empty store directory.
pub fn store_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ghl-oauth-{name}-{}-{:016x}", std::process::id(), fastrand::u64(..)));
    std::fs::create_dir_all(&dir).expect("store dir");
    dir
}

pub fn open_store(dir: &Path) -> FileStore {
    FileStore::open(dir, &STORE_KEY.parse::<StoreKey>().expect("key")).expect("store opens")
}

/// Spends `location`'s stored refresh token at GHL as someone else would (a second deployment,
/// a leaked copy), so ours is refused from now on; GHL's status.
pub async fn spend_refresh_token(sandbox: &RunningSandbox, store: &Path, location: &str) -> u16 {
    use secrecy::ExposeSecret as _;
    let record = stored(store, location).await.expect("a stored pair");
    let form = [
        ("client_id", OAUTH_CLIENT_ID),
        ("client_secret", OAUTH_CLIENT_SECRET),
        ("grant_type", "refresh_token"),
        ("refresh_token", record.refresh_token.expose_secret()),
    ];
    let response = reqwest::Client::new().post(format!("{}/oauth/token", sandbox.base_url())).form(&form).send().await.expect("sent");
    response.status().as_u16()
}

pub async fn stored(dir: &Path, location: &str) -> Option<TokenRecord> {
    open_store(dir).get(location).await.expect("store readable")
}

/// The flags of `serve --auth oauth` against `sandbox_url`, listening on `port`.
pub fn oauth_argv(sandbox_url: &str, port: u16, store: &Path, extra: &[&str]) -> Vec<String> {
    let mut argv: Vec<String> = vec!["serve".into()];
    let pairs = [
        ("--listen", format!("127.0.0.1:{port}")),
        ("--ghl-base-url", sandbox_url.to_owned()),
        ("--auth", "oauth".into()),
        ("--ghl-client-id", OAUTH_CLIENT_ID.into()),
        ("--ghl-client-secret", OAUTH_CLIENT_SECRET.into()),
        ("--ghl-redirect-uri", format!("http://127.0.0.1:{port}/oauth/callback")),
        ("--oauth-consent-url", format!("{sandbox_url}/oauth/chooselocation")),
        ("--token-store", store.display().to_string()),
        ("--token-store-key", STORE_KEY.into()),
        ("--api-keys", api_keys()),
        ("--rate-limit", "100000/1s".into()),
    ];
    for (flag, value) in pairs {
        argv.push(flag.into());
        argv.push(value);
    }
    argv.extend(extra.iter().map(|s| s.to_string()));
    argv
}

pub struct OAuthTestApp {
    pub url: String,
    /// Never follows redirects: the tests follow them by hand.
    pub http: reqwest::Client,
    _running: Running,
}

pub async fn spawn_oauth_app(sandbox: &RunningSandbox, store: &Path, extra: &[&str]) -> OAuthTestApp {
    spawn_oauth_app_with(sandbox, store, extra, |_| {}).await
}

/// As [`spawn_oauth_app`], with `edit` changing the flags first (e.g. a wrong client secret).
pub async fn spawn_oauth_app_with(sandbox: &RunningSandbox, store: &Path, extra: &[&str], edit: impl FnOnce(&mut Vec<String>)) -> OAuthTestApp {
    let listener = local_listener().await;
    let port = listener.local_addr().expect("bound").port();
    let mut argv = vec!["ghl-subgraph".to_owned()];
    argv.extend(oauth_argv(&sandbox.base_url(), port, store, extra));
    edit(&mut argv);
    let args = match Cli::try_parse_from(argv).expect("valid oauth args").into_command() {
        Command::Serve(args) => *args,
        _ => unreachable!("serve args"),
    };
    let running = serve_on(listener, args).await;
    OAuthTestApp { url: running.url.clone(), http: no_redirects(), _running: running }
}

pub fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// The `Location` of a 302.
pub async fn redirect_target(http: &reqwest::Client, url: &str) -> String {
    let response = http.get(url).send().await.expect("answered");
    assert_eq!(response.status(), 302, "{url}");
    response.headers()["location"].to_str().expect("ascii").to_owned()
}

/// A callback URL the consent screen redirected to, and the install cookie of the browser that
/// started that install (`name=value`, as a browser sends it back).
#[derive(Clone, Debug)]
pub struct Callback {
    pub url: String,
    pub cookie: String,
}

impl Callback {
    /// Visits the callback from the browser that started the install.
    pub async fn visit(&self, http: &reqwest::Client) -> reqwest::Response {
        http.get(&self.url).header(reqwest::header::COOKIE, &self.cookie).send().await.expect("answered")
    }

    /// The same browser, another URL.
    pub fn with_url(&self, url: impl Into<String>) -> Self {
        Self { url: url.into(), cookie: self.cookie.clone() }
    }
}

/// `GET /oauth/install`: the consent URL it redirects to and the install cookie it sets.
pub async fn start_install(http: &reqwest::Client, app_url: &str) -> (String, String) {
    let response = http.get(format!("{app_url}/oauth/install")).send().await.expect("answered");
    assert_eq!(response.status(), 302, "/oauth/install");
    let consent = response.headers()["location"].to_str().expect("ascii").to_owned();
    let set_cookie = response.headers().get("set-cookie").expect("/oauth/install sets the install cookie").to_str().expect("ascii");
    let cookie = set_cookie.split(';').next().expect("name=value").trim().to_owned();
    (consent, cookie)
}

/// `/oauth/install` → the sandbox's consent screen (picking `location`) → the callback URL,
/// which is returned unvisited with the cookie to visit it with.
pub async fn consent(http: &reqwest::Client, app_url: &str, location: &str) -> Callback {
    let (consent, cookie) = start_install(http, app_url).await;
    let url = redirect_target(http, &format!("{consent}&location_id={location}")).await;
    Callback { url, cookie }
}

/// The whole install flow; returns the callback's status and page.
pub async fn install_at(http: &reqwest::Client, app_url: &str, location: &str) -> (u16, String) {
    let callback = consent(http, app_url, location).await;
    assert!(callback.url.starts_with(&format!("{app_url}/oauth/callback?")), "{}", callback.url);
    let response = callback.visit(http).await;
    (response.status().as_u16(), response.text().await.expect("page"))
}

impl OAuthTestApp {
    pub async fn install(&self, location: &str) -> (u16, String) {
        install_at(&self.http, &self.url, location).await
    }

    /// Runs `query` as the caller with `key`, for `location`.
    pub async fn query_as(&self, key: &str, location: &str, query: &str) -> Value {
        query_at(&self.http, &self.url, key, location, query).await
    }
}

pub async fn query_at(http: &reqwest::Client, url: &str, key: &str, location: &str, query: &str) -> Value {
    let response = http
        .post(format!("{url}/graphql"))
        .header("x-api-key", key)
        .header("x-ghl-location-id", location)
        .json(&json!({ "query": query }))
        .send()
        .await
        .expect("request sent");
    response.json().await.expect("JSON response")
}

/// How many `POST /oauth/token` the sandbox answered.
pub fn token_calls(sandbox: &RunningSandbox) -> usize {
    sandbox.requests().iter().filter(|r| r.method == "POST" && r.path == "/oauth/token").count()
}

/// `/oauth/install` → the sandbox's consent screen as an agency (`company_id`, plus `extra`
/// consent parameters such as `&approved_locations=a,b`) → the callback, visited; its status and page.
pub async fn install_agency_at(http: &reqwest::Client, app_url: &str, extra: &str) -> (u16, String) {
    let (consent, cookie) = start_install(http, app_url).await;
    let url = redirect_target(http, &format!("{consent}&company_id={}{extra}", ghl_sandbox::COMPANY_ID)).await;
    let response = Callback { url, cookie }.visit(http).await;
    (response.status().as_u16(), response.text().await.expect("page"))
}

impl OAuthTestApp {
    /// An agency install (the server runs with `--oauth-install-level agency`).
    pub async fn install_agency(&self, extra: &str) -> (u16, String) {
        install_agency_at(&self.http, &self.url, extra).await
    }
}

/// How many `POST /oauth/locationToken` the sandbox answered 200 for `location`.
pub fn mints_for(sandbox: &RunningSandbox, location: &str) -> usize {
    sandbox.requests().iter().filter(|r| r.path == "/oauth/locationToken" && r.status == 200 && r.location_id.as_deref() == Some(location)).count()
}
