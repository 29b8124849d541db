//! The one async-graphql extension every operation runs through: the operation limits
//! (`limits`), the introspection gate (`introspection`, when introspection is off), operation
//! metrics (`observe`) and spec null propagation (`field_errors`), each called in its place.
//!
//! Why one: async-graphql runs every resolved field through each installed extension's boxed
//! `resolve` future, whether or not the extension overrides it, so four extensions cost four boxed
//! futures a field where only null propagation needs one. Measured on a 50-contact query
//! (README, Benchmarks).

use std::sync::Arc;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery, NextPrepareRequest, NextResolve, NextValidation, ResolveInfo,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{Request, Response, ServerError, ServerResult, ValidationResult, Value, Variables};
use tracing::Instrument as _;

use super::field_errors::NullPropagation;
use super::introspection::{refuse_introspection, SchemaReader};
use super::limits::{LimitCheck, LimitChecks};
use super::observe::OperationRecord;
use super::request_context::RequestContext;
use super::SchemaOptions;

/// Creates each operation's [`Hooks`].
pub struct OperationHooks {
    limits: LimitChecks,
    /// Introspection is off: refuse operations that select it.
    gate_introspection: bool,
}

impl OperationHooks {
    pub fn new(options: &SchemaOptions) -> Self {
        Self { limits: LimitChecks::new(options.limits.clone()), gate_introspection: !options.introspection }
    }
}

impl ExtensionFactory for OperationHooks {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Hooks {
            limits: self.limits.per_operation(),
            gate_introspection: self.gate_introspection,
            record: OperationRecord::default(),
            nulls: NullPropagation::default(),
        })
    }
}

/// One operation's state across its hooks.
struct Hooks {
    limits: LimitCheck,
    gate_introspection: bool,
    record: OperationRecord,
    nulls: NullPropagation,
}

#[async_graphql::async_trait::async_trait]
impl Extension for Hooks {
    async fn prepare_request(&self, ctx: &ExtensionContext<'_>, request: Request, next: NextPrepareRequest<'_>) -> ServerResult<Request> {
        self.limits.prepared(next.run(ctx, request).await?)
    }

    async fn parse_query(&self, ctx: &ExtensionContext<'_>, query: &str, variables: &Variables, next: NextParseQuery<'_>) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await.map_err(|error| self.limits.parse_error(error))?;
        if self.gate_introspection {
            refuse_introspection(&document, ctx.data_opt::<SchemaReader>().is_some())?;
        }
        self.record.learn(&document);
        Ok(document)
    }

    async fn validation(&self, ctx: &ExtensionContext<'_>, next: NextValidation<'_>) -> Result<ValidationResult, Vec<ServerError>> {
        if let Some(known) = self.limits.known_validation() {
            return self.limits.validated(Ok(known));
        }
        let result = next.run(ctx).await;
        self.limits.remember_validation(&result);
        self.limits.validated(result)
    }

    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        let (running, span) = self.record.start(operation_name);
        let mut response = next.run(ctx, operation_name).instrument(span).await;
        self.nulls.finish(&mut response);
        running.finish(&mut response, ctx.data_opt::<RequestContext>().and_then(RequestContext::max_age));
        response
    }

    async fn resolve(&self, ctx: &ExtensionContext<'_>, info: ResolveInfo<'_>, next: NextResolve<'_>) -> ServerResult<Option<Value>> {
        let (path, return_type) = (info.path_node, info.return_type);
        self.nulls.resolved(path, return_type, next.run(ctx, info).await)
    }
}
