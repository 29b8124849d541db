//! Counts and times every GraphQL operation by outcome (`ok`, `partial`, `error`) for `/metrics`,
//! runs it in a `graphql.operation` span (its name and type; never its variables), and says how
//! long a router may keep a clean query's answer. `hooks` calls it at parse and execute.

use std::sync::Mutex;
use std::time::Instant;

use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, Value};
use metrics::{counter, histogram};

/// One per request: the operations of its document by name and type, learned when it is parsed.
#[derive(Default)]
pub(super) struct OperationRecord {
    operations: Mutex<Vec<(Option<String>, &'static str)>>,
}

/// The operation being executed: its type and when it started.
pub(super) struct Running {
    kind: &'static str,
    started: Instant,
}

impl OperationRecord {
    pub(super) fn learn(&self, document: &ExecutableDocument) {
        let operations = document.operations.iter().map(|(name, op)| (name.map(|n| n.to_string()), kind_of(op.node.ty))).collect();
        *self.operations.lock().unwrap_or_else(|p| p.into_inner()) = operations;
    }

    /// Starts timing `operation_name` (the first operation when `None`), with its span.
    pub(super) fn start(&self, operation_name: Option<&str>) -> (Running, tracing::Span) {
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
        (Running { kind, started: Instant::now() }, span)
    }
}

impl Running {
    /// Records the outcome, and sets `Cache-Control`: a router's response cache may keep a clean
    /// query's answer as long as our cache would (`max_age`).
    pub(super) fn finish(self, response: &mut Response, max_age: Option<std::time::Duration>) {
        let cache_control = match max_age {
            Some(age) if self.kind == "query" && response.errors.is_empty() => format!("private, max-age={}", age.as_secs()),
            _ => "no-store".to_owned(),
        };
        if let Ok(value) = axum::http::HeaderValue::from_str(&cache_control) {
            response.http_headers.insert(axum::http::header::CACHE_CONTROL, value);
        }
        let outcome = match (response.errors.is_empty(), response.data == Value::Null) {
            (true, _) => "ok",
            (false, false) => "partial",
            (false, true) => "error",
        };
        counter!("graphql_operations_total", "outcome" => outcome).increment(1);
        histogram!("graphql_operation_duration_seconds").record(self.started.elapsed().as_secs_f64());
    }
}

fn kind_of(ty: OperationType) -> &'static str {
    match ty {
        OperationType::Query => "query",
        OperationType::Mutation => "mutation",
        OperationType::Subscription => "subscription",
    }
}
