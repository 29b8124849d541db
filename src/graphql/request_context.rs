//! What one GraphQL request carries: the tenant it acts for and its own view of the data layer.
//!
//! Built by the HTTP handler for every request (never global), so what a request loads and
//! batches never mixes callers or locations.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::Context;

use super::connection::{CursorKey, TenantCursors};
use crate::data::{DataLayer, Key, RequestData, Waves};
use crate::error::AppError;
use crate::highlevel::{Tenant, SCOPE_READ, SCOPE_WRITE};

/// The tenant and loader of one request, or why the request has none.
pub struct RequestContext {
    scope: Result<Scope, AppError>,
    /// Where each entity id sits in `_entities(representations:)`, worked out once, on the first
    /// failed reference (so its error can name its own entry).
    entity_positions: OnceLock<HashMap<String, Vec<usize>>>,
}

/// A request that knows which location it acts for.
pub struct Scope {
    /// Every read and write of the request goes through here.
    pub data: RequestData,
    /// Signs and checks `after` cursors, bound to this tenant's location.
    pub cursors: TenantCursors,
}

impl RequestContext {
    /// The operation's deadline starts now: every upstream call it makes stops by then.
    pub fn new(tenant: Result<Tenant, AppError>, data: &DataLayer, options: &RequestOptions) -> Self {
        let deadline = Instant::now() + options.operation_timeout;
        let scope =
            tenant.map(|tenant| Scope { cursors: options.cursor_key.for_location(tenant.location_id()), data: data.for_request(tenant.until(deadline)) });
        Self { scope, entity_positions: OnceLock::new() }
    }

    /// A subscription's context: no operation deadline (it lives as long as its subscriber); each
    /// event's reads are bounded by the client's request timeout.
    pub fn live(tenant: Result<Tenant, AppError>, data: &DataLayer, options: &RequestOptions) -> Self {
        let scope = tenant.map(|tenant| Scope { cursors: options.cursor_key.for_location(tenant.location_id()), data: data.for_request(tenant) });
        Self { scope, entity_positions: OnceLock::new() }
    }

    /// The scope, checked for reading.
    pub fn read_scope(&self) -> Result<&Scope, AppError> {
        let scope = self.scope.as_ref().map_err(Clone::clone)?;
        scope.require(SCOPE_READ)?;
        Ok(scope)
    }

    /// What the request's execution reports its idle moments to (`data::Waves`), when it has a tenant.
    pub fn waves(&self) -> Option<Arc<Waves>> {
        self.scope.as_ref().ok().map(|scope| scope.data.waves())
    }

    /// How long a private cache may keep this request's answer (see `RequestData::max_age`).
    pub fn max_age(&self) -> Option<Duration> {
        self.scope.as_ref().ok().and_then(|scope| scope.data.max_age())
    }

    /// The positions of `id` among the request's `_entities` representations.
    pub fn entity_positions(&self, id: &str, representations: impl FnOnce() -> Vec<Option<String>>) -> &[usize] {
        let positions = self.entity_positions.get_or_init(|| {
            let mut positions: HashMap<String, Vec<usize>> = HashMap::new();
            for (index, id) in representations().into_iter().enumerate() {
                if let Some(id) = id {
                    positions.entry(id).or_default().push(index);
                }
            }
            positions
        });
        positions.get(id).map_or(&[], Vec::as_slice)
    }
}

/// What each request gets: its time budget, and the key of the cursors it pages with.
#[derive(Clone, Debug)]
pub struct RequestOptions {
    /// Longest one GraphQL operation may spend on GHL calls, queueing and retries included.
    pub operation_timeout: Duration,
    /// Signs connection cursors (`CURSOR_SECRET`, or random per process).
    pub cursor_key: CursorKey,
}

impl Scope {
    /// The request's scope, failing when the caller could not be identified.
    pub fn of<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let request = match ctx.data_opt::<RequestContext>() {
            Some(request) => request,
            None => &ctx.data::<super::subscription::LiveContext>().map_err(|_| AppError::Internal)?.request,
        };
        request.scope.as_ref().map_err(Clone::clone)
    }

    /// A read scope check (only refuses when the token's scopes are known and lack it).
    pub fn for_read<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let scope = Self::of(ctx)?;
        scope.require(SCOPE_READ)?;
        Ok(scope)
    }

    /// The scope of a mutation: refuses before any upstream call without `contacts.write`.
    pub fn for_write<'a>(ctx: &Context<'a>) -> Result<&'a Scope, AppError> {
        let scope = Self::of(ctx)?;
        scope.require(SCOPE_WRITE)?;
        Ok(scope)
    }

    fn require(&self, needed: &str) -> Result<(), AppError> {
        match self.data.tenant().grants(needed) {
            Some(false) => Err(AppError::Forbidden(format!(
                "this operation needs the GHL scope `{needed}`, which the scopes this token is known to have lack: \
                 with a static token, add it to GHL_SCOPES (--ghl-scopes) if the token carries it; with OAuth, reinstall the app with that scope"
            ))),
            _ => Ok(()),
        }
    }

    /// The value of `key`, loaded at most once per request.
    pub async fn load<K: Key>(&self, key: K) -> Result<K::Value, AppError> {
        self.data.load(key).await
    }
}
