//! Counts and times every GraphQL operation by outcome (`ok`, `partial`, `error`) for `/metrics`,
//! and runs it in a `graphql.operation` span (its name and type; never its variables).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};
use metrics::{counter, histogram};
use tracing::Instrument as _;

pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension::default())
    }
}

/// One per request: the operations of its document by name and type, learned when it is parsed.
#[derive(Default)]
struct OperationMetricsExtension {
    operations: Mutex<Vec<(Option<String>, &'static str)>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn parse_query(&self, ctx: &ExtensionContext<'_>, query: &str, variables: &Variables, next: NextParseQuery<'_>) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let operations = document.operations.iter().map(|(name, op)| (name.map(|n| n.to_string()), kind_of(op.node.ty))).collect();
        *self.operations.lock().unwrap_or_else(|p| p.into_inner()) = operations;
        Ok(document)
    }

    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        let started = Instant::now();
        let kind = {
            let operations = self.operations.lock().unwrap_or_else(|p| p.into_inner());
            let chosen = match operation_name {
                Some(name) => operations.iter().find(|(n, _)| n.as_deref() == Some(name)),
                None => operations.first(),
            };
            chosen.map_or("query", |(_, kind)| *kind)
        };
        let name = operation_name.unwrap_or("");
        let span = tracing::info_span!(
            "graphql.operation",
            otel.name = %format_args!("{kind} {name}"),
            graphql.operation.name = name,
            graphql.operation.type = kind,
        );
        let mut response = next.run(ctx, operation_name).instrument(span).await;
        // A router's response cache may keep a clean query's answer as long as our cache would.
        let max_age = ctx.data_opt::<super::request_context::RequestContext>().and_then(|request| request.max_age());
        let cache_control = match max_age {
            Some(age) if kind == "query" && response.errors.is_empty() => format!("private, max-age={}", age.as_secs()),
            _ => "no-store".to_owned(),
        };
        if let Ok(value) = axum::http::HeaderValue::from_str(&cache_control) {
            response.http_headers.insert(axum::http::header::CACHE_CONTROL, value);
        }
        let outcome = match (response.errors.is_empty(), response.data == async_graphql::Value::Null) {
            (true, _) => "ok",
            (false, false) => "partial",
            (false, true) => "error",
        };
        counter!("graphql_operations_total", "outcome" => outcome).increment(1);
        histogram!("graphql_operation_duration_seconds").record(started.elapsed().as_secs_f64());
        response
    }
}

fn kind_of(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}
