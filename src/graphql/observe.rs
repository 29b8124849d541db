//! Counts and times every GraphQL operation by outcome (`ok`, `partial`, `error`) for `/metrics`.

use std::sync::Arc;
use std::time::Instant;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;
use metrics::{counter, histogram};

pub struct OperationMetrics;

impl ExtensionFactory for OperationMetrics {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(OperationMetricsExtension)
    }
}

struct OperationMetricsExtension;

#[async_graphql::async_trait::async_trait]
impl Extension for OperationMetricsExtension {
    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
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
