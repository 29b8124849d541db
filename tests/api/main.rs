//! Integration tests: the real subgraph and the real sandbox on 127.0.0.1:0, over HTTP.
//! One binary with a module per concern, so the suite links once.

mod helpers;

mod agency;
mod auth;
mod availability;
mod bad_input;
mod batching;
mod cache;
mod callers;
mod connection_check;
mod connections;
mod csrf;
mod cursors;
mod http;
mod imports;
mod introspection;
mod limits;
mod mutations;
mod oauth;
mod oauth_harness;
mod once;
mod pacing;
mod partial;
mod persisted;
mod queries;
mod redis_harness;
mod resilience;
mod scale_out;
mod schema;
mod secrets;
mod subscriptions;
mod webhooks;
