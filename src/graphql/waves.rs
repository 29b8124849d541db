//! Tells the request's data layer each time the operation's resolvers go idle, so a tasks batch
//! starts once every field that could join it has asked (`data::waves`), not after a fixed delay.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextExecute};
use async_graphql::Response;

use super::request_context::RequestContext;

pub struct ResolverWaves;

impl ExtensionFactory for ResolverWaves {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(ResolverWaves)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ResolverWaves {
    async fn execute(&self, ctx: &ExtensionContext<'_>, operation_name: Option<&str>, next: NextExecute<'_>) -> Response {
        match ctx.data_opt::<RequestContext>().and_then(RequestContext::data) {
            Some(data) => data.resolving(next.run(ctx, operation_name)).await,
            None => next.run(ctx, operation_name).await,
        }
    }
}
