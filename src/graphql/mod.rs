//! The GraphQL schema (one file per type) and the HTTP handler. Resolvers read and write
//! through the data layer (`crate::data`), never the GHL client.
//!
//! - types: `query`, `mutation`, `contact`, `task`, `note`, `appointment`, `connection` (pages and
//!   signed cursors), `datetime` (the scalar), `connection_check` (the admin UI's connection check),
//!   `import` (contact import jobs).
//! - per request: `request_context` (tenant scope, data, cursors), `field_errors` (null propagation).
//! - HTTP: `handler` (GraphQL over HTTP), `media` (content negotiation), `guards` (API key, CSRF,
//!   body size as layers), `reauth` (one retry after GHL rejected an OAuth token), `persisted`
//!   (APQ and safelists), `graphiql` (the vendored playground).
//! - live: `subscription` (the subscription fields, fed by the event bus), `live` (their
//!   transports: WebSocket at `/ws`, GraphQL over SSE on `/graphql`).
//! - limits: `limits`, `nesting` (pre-parse nesting scan), `expansion` (fields with fragments
//!   inlined), `introspection` (its gate and exemption); `observe` (operation metrics);
//!   `hooks` (the one extension that runs the limits, the gate, the metrics and null propagation).
//!
//! Conversions from GHL wire types to GraphQL types live here; `highlevel` never sees GraphQL.

mod appointment;
mod connection;
mod connection_check;
mod contact;
mod datetime;
mod expansion;
mod field_errors;
mod graphiql;
mod guards;
mod handler;
mod hooks;
mod import;
mod introspection;
mod limits;
mod live;
mod media;
mod mutation;
mod nesting;
mod note;
mod observe;
mod persisted;
mod query;
mod reauth;
mod request_context;
mod shared;
mod subscription;
mod task;
mod validated;

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Schema};

pub use connection::CursorKey;
pub use graphiql::asset as graphiql_asset;
pub use handler::{routes, GraphqlShared, GraphqlState};
pub use introspection::SchemaReader;
pub use limits::OperationLimits;
pub use live::routes as live_routes;
pub use mutation::Mutation;
pub use nesting::NESTING_CEILING;
pub use persisted::{sha256_hex, ApqCache, PersistedError, PersistedQueries, Safelist, SafelistError};
pub use query::Query;
pub use request_context::RequestOptions;
pub use subscription::{LiveFeed, Subscription, SubscriptionLimits};

pub type AppSchema = Schema<Query, Mutation, Subscription>;

/// What the schema allows and shows.
#[derive(Clone, Debug)]
pub struct SchemaOptions {
    pub limits: OperationLimits,
    /// `__schema` / `__type` queries (GraphiQL needs them).
    pub introspection: bool,
    /// "Did you mean …?" hints in validation errors.
    pub field_suggestions: bool,
}

impl SchemaOptions {
    /// Only for printing the SDL: nothing refused, everything shown (the serving limits are flags).
    fn for_sdl() -> Self {
        let unbounded = usize::MAX;
        let limits = OperationLimits {
            max_depth: unbounded,
            max_complexity: unbounded,
            max_aliases: unbounded,
            max_root_fields: unbounded,
            max_directives: unbounded,
            max_query_bytes: unbounded,
            max_recursion: NESTING_CEILING,
            max_expanded_fields: unbounded,
            max_entities: unbounded,
        };
        Self { limits, introspection: true, field_suggestions: true }
    }
}

/// The federation-enabled schema with its limits.
pub fn build_schema(options: &SchemaOptions) -> AppSchema {
    let limits = &options.limits;
    let mut builder = Schema::build(Query, Mutation, Subscription)
        .enable_federation()
        // Routers compose the subgraph's subscriptions (Federation 2.4+), so the SDL shows them.
        .enable_subscription_in_federation()
        // Depth and complexity are checked by the hooks' limits, which leave introspection out.
        .extension(hooks::OperationHooks::new(options))
        .limit_recursive_depth(limits.max_recursion)
        .limit_directives(limits.max_directives);
    if !options.introspection {
        builder = builder.disable_introspection();
    }
    if !options.field_suggestions {
        builder = builder.disable_suggestions();
    }
    builder.finish()
}

/// The federation SDL exactly as `_service { sdl }` reports it to a router (`schema.graphql`).
pub async fn federation_sdl() -> String {
    let response = build_schema(&SchemaOptions::for_sdl()).execute("{ _service { sdl } }").await;
    let data = response.data.into_json().unwrap_or_default();
    data["_service"]["sdl"].as_str().unwrap_or_default().to_owned()
}

/// The type of the operation `request` would run (the named one, else the first); `None` when
/// the text does not parse or names no operation it holds. Text nested beyond the ceiling is not
/// parsed (the parser could overflow the stack); it is beyond any configured limit too, so the
/// executor refuses it as well.
pub fn operation_type(request: &Request) -> Option<OperationType> {
    let document = nesting::parse_within(&request.query, NESTING_CEILING).ok()?;
    let operation = match &request.operation_name {
        Some(name) => document.operations.iter().find(|(n, _)| n.is_some_and(|n| n.as_str() == name)).map(|(_, op)| op),
        None => document.operations.iter().next().map(|(_, op)| op),
    };
    operation.map(|op| op.node.ty)
}
