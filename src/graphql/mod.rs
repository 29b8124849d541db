//! The GraphQL schema (one file per type), its per-request loaders and the HTTP handler.
//!
//! Conversions from GHL wire types to GraphQL types live here; `highlevel` never sees GraphQL.

mod appointment;
mod connection;
mod contact;
mod datetime;
mod graphiql;
mod handler;
mod loaders;
mod mutation;
mod note;
mod observe;
mod query;
mod request_context;
mod task;

use async_graphql::{EmptySubscription, Schema};

pub use graphiql::asset as graphiql_asset;
pub use handler::{get as graphql_get, post as graphql_post, GraphqlState};
pub use mutation::Mutation;
pub use query::Query;
pub use request_context::LoaderOptions;

pub type AppSchema = Schema<Query, Mutation, EmptySubscription>;

/// Limits applied to every operation before it runs.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub max_depth: usize,
    pub max_complexity: usize,
    pub introspection: bool,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        Self { max_depth: 12, max_complexity: 5_000, introspection: true }
    }
}

/// The federation-enabled schema.
pub fn build_schema(options: &SchemaOptions) -> AppSchema {
    let mut builder = Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .extension(observe::OperationMetrics)
        .limit_depth(options.max_depth)
        .limit_complexity(options.max_complexity);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    builder.finish()
}

/// The federation SDL exactly as `_service { sdl }` reports it to a router (`schema.graphql`).
pub async fn federation_sdl() -> String {
    let response = build_schema(&SchemaOptions::default()).execute("{ _service { sdl } }").await;
    let data = response.data.into_json().unwrap_or_default();
    data["_service"]["sdl"].as_str().unwrap_or_default().to_owned()
}
