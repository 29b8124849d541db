//! ghl-subgraph: the HighLevel (GHL) Contacts API as an Apollo Federation v2 subgraph.
//!
//! A request flows one way, and so do the imports (`tests/architecture.rs` fails on a cycle):
//! HTTP (`app`, `graphql::handler` and its guards) → schema (`graphql::{query, mutation, …}`) →
//! data layer (`data`: per-request memo, loaders, write-through, shared in-flight reads) →
//! GHL client (`highlevel`) → GHL or the sandbox; and webhooks (`webhooks`) → data layer → event bus.
//!
//! - `config`: typed flags and env by concern, validated once into a `ServeConfig`.
//! - `services`: the composition root: from a `ServeConfig` to client, auth, data layer, schema.
//! - `app`: the routes over the services, served on a listener it is given, until stopped.
//! - `serve`: the accept loop: connection cap, header-read and idle timeouts, graceful drain.
//! - `auth`: which GHL tenant a request acts for, from its `Credentials` (static, forwarded, OAuth).
//! - `callers`: which callers may use the subgraph at all (API keys, stored hashed).
//! - `check`: the connection check (`ghl-subgraph check`, `connectionCheck`): test calls and a diagnosis.
//! - `error`: the registry of error codes and the one mapping to GraphQL and HTTP errors.
//! - `graphql`: the schema, HTTP handler and guards, re-authentication, vendored GraphiQL.
//! - `data`: the one place where entities are read and written (the cache plugs in here).
//! - `highlevel`: the only code that speaks HTTP to GHL (limiter, retries, breaker included).
//! - `host_guard`: refuses foreign `Host` and `Origin` values (DNS rebinding).
//! - `jobs`: contact imports (engine, journal, the `import` command, the API's job registry).
//! - `metrics`: the Prometheus recorder behind `/metrics`.
//! - `oauth`: OAuth app mode: install flow, per-location token store, self-refreshing tokens.
//! - `redis`: scale-out (`--redis-url`): shared rate budget, tokens, invalidations, events, webhook ids.
//! - `readiness`: `/readyz`, from a cheap cached GHL call with the static token.
//! - `response_headers`: security headers and `no-store` on every response.
//! - `telemetry`: logs (text or JSON lines) and OpenTelemetry traces.
//! - `webhooks`: `POST /webhooks/ghl`: verified GHL change events → cache invalidation, event bus.
//!
//! Only `app`, `check`, `config`, `services`, `graphql`, `jobs`, `oauth`, `error` and `telemetry` are the
//! library's API (for `main`, the tests and the benches); the rest is private.

pub mod app;
mod auth;
mod callers;
pub mod check;
pub mod config;
mod data;
pub mod error;
pub mod graphql;
mod highlevel;
mod host_guard;
pub mod jobs;
mod metrics;
pub mod oauth;
mod readiness;
mod redis;
mod response_headers;
mod serve;
pub mod services;
pub mod telemetry;
mod webhooks;
