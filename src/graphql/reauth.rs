//! One more try after an expired-token 401, in OAuth mode only. GHL answers 401 for an access
//! token it no longer accepts (revoked, or our clock ahead of GHL's expiry); the token source then
//! refreshes once (or finds another request's refresh) and a query runs again with the new token.
//! A mutation is not replayed (part of it may have run); its refresh still helps the next request.
//! The client (`highlevel`) stays unaware: it reports the 401, this layer decides, from the typed
//! error each GraphQL error carries as its source (`error.rs`).

use async_graphql::parser::types::OperationType;
use async_graphql::{Request, Response};

use super::request_context::RequestContext;
use super::AppSchema;
use crate::auth::Auth;
use crate::error::{AppError, FieldError};
use crate::highlevel::Tenant;

/// Runs `request` with the data `context` builds for a tenant; in OAuth mode, once more after a
/// refresh when GHL rejected the token.
pub async fn execute_with_reauth(
    schema: &AppSchema,
    auth: &Auth,
    request: Request,
    tenant: &Result<Tenant, AppError>,
    context: impl Fn(Result<Tenant, AppError>) -> RequestContext,
) -> Response {
    let oauth = match (auth, tenant) {
        (Auth::OAuth(oauth), Ok(tenant)) => Some((oauth, tenant)),
        _ => None,
    };
    let replay = oauth.is_some().then(|| copy(&request));
    let response = execute(schema, request, context(tenant.clone())).await;
    let (Some((oauth, tenant)), Some(again)) = (oauth, replay) else {
        return response;
    };
    if !token_rejected(&response) {
        return response;
    }
    match oauth.tokens.clone().refresh_after_rejection(tenant).await {
        Ok(fresh) if is_query(&again) => execute(schema, again, context(Ok(fresh))).await,
        Ok(_) => response,
        Err(error) => Response::from_errors(vec![async_graphql::Error::from(FieldError(error)).into_server_error(Default::default())]),
    }
}

/// One execution, which tells the request's batches when its resolvers go idle (`data::Waves`).
async fn execute(schema: &AppSchema, request: Request, context: RequestContext) -> Response {
    let waves = context.waves();
    // Boxed here, once: async-graphql's execution future is large, and every future around it
    // (the handler's, axum's layers') would otherwise hold it inline and move it whole.
    let execution = Box::pin(schema.execute(request.data(context)));
    match waves {
        Some(waves) => waves.resolving(execution).await,
        None => execution.await,
    }
}

/// GHL said the token is invalid or expired (not a missing scope: that one is FORBIDDEN).
fn token_rejected(response: &Response) -> bool {
    response.errors.iter().any(|e| e.source::<AppError>().is_some_and(AppError::is_rejected_token))
}

fn copy(request: &Request) -> Request {
    let mut again = Request::new(request.query.clone()).variables(request.variables.clone());
    if let Some(name) = &request.operation_name {
        again = again.operation_name(name.clone());
    }
    again.extensions = request.extensions.clone();
    again
}

/// True when the operation that runs is a query (unparsable ones are never replayed).
fn is_query(request: &Request) -> bool {
    super::operation_type(request) == Some(OperationType::Query)
}

#[cfg(test)]
mod tests {
    use async_graphql::ErrorExtensions;

    use super::*;
    use crate::highlevel::{GhlError, GhlErrorKind, UpstreamCall};

    fn failed_with(kind: GhlErrorKind) -> Response {
        let call = UpstreamCall { method: "GET", path: "/contacts/{contactId}", status: Some(401) };
        let error = async_graphql::Error::from(FieldError(AppError::Upstream(GhlError { kind, call: Some(call) })));
        Response::from_errors(vec![error.extend().into_server_error(Default::default())])
    }

    #[test]
    fn only_an_invalid_or_expired_token_counts_as_rejected_not_a_missing_scope() {
        assert!(token_rejected(&failed_with(GhlErrorKind::Unauthenticated)));
        assert!(!token_rejected(&failed_with(GhlErrorKind::MissingScope)));
        let ours = async_graphql::Error::from(FieldError(AppError::Unauthenticated("not installed".into())));
        assert!(!token_rejected(&Response::from_errors(vec![ours.into_server_error(Default::default())])), "our own refusal is not GHL's 401");
    }

    #[test]
    fn only_queries_are_replayed() {
        assert!(is_query(&Request::new("{ contacts(first: 1) { nodes { id } } }")));
        assert!(!is_query(&Request::new("mutation { deleteContact(id: \"1\") }")));
        assert!(!is_query(&Request::new("query A { a } mutation B { b }").operation_name("B")));
    }
}
