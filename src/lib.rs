//! ghl-subgraph: the HighLevel (GHL) Contacts API as an Apollo Federation v2 subgraph.
//!
//! A request flows one way:
//! HTTP (`app`, `graphql::handler`) → schema (`graphql::{query, mutation, contact, …}`) →
//! per-request loaders (`graphql::loaders`) → GHL client (`highlevel`) → GHL or the sandbox.
//!
//! - `config`: typed flags and env, validated once.
//! - `app`: builds the router, binds, runs until stopped.
//! - `auth`: which GHL tenant a request acts for (static token or forwarded).
//! - `callers`: which callers may use the subgraph at all (API keys, stored hashed).
//! - `error`: the one error type and its mapping to GraphQL error codes.
//! - `graphql`: the schema, loaders, HTTP handler and vendored GraphiQL.
//! - `highlevel`: the only code that speaks HTTP to GHL (limiter, retries, breaker included).
//! - `host_guard`: refuses foreign `Host` and `Origin` values (DNS rebinding).
//! - `metrics`: the Prometheus recorder behind `/metrics`.
//! - `oauth`: OAuth app mode: install flow, per-location token store, self-refreshing tokens.
//! - `readiness`: `/readyz`, from a cheap cached GHL call with the static token.
//! - `response_headers`: security headers and `no-store` on every response.
//! - `serve`: the accept loop: connection cap, header-read and idle timeouts, graceful drain.

pub mod app;
mod auth;
mod callers;
pub mod config;
mod data;
pub mod error;
pub mod graphql;
mod highlevel;
mod host_guard;
mod metrics;
pub mod oauth;
mod readiness;
mod response_headers;
mod serve;
pub mod services;
pub mod telemetry;
