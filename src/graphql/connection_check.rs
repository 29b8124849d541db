//! `connectionCheck`: the connection check (`crate::check`) for the admin UI, typed. Only an
//! operator may run it (an API key of `SUBGRAPH_API_KEYS` without a location list): it spends
//! GHL calls and shows every stored location's token state and the webhook keys. The handler
//! attaches [`CheckAccess`] to such requests only, as it attaches `SchemaReader`; without it the
//! field is `FORBIDDEN` before any GHL call. With no keys configured nobody is an operator.

use std::sync::Arc;

use async_graphql::{Context, Enum, SimpleObject};

use super::request_context::Scope;
use crate::check::{self, ConnectionChecker};
use crate::error::{AppError, FieldResult};

/// Marks an operator's request, and carries the engine.
pub struct CheckAccess(pub Arc<ConnectionChecker>);

/// What the connection check found.
#[derive(SimpleObject)]
pub struct ConnectionCheck {
    /// True when every check needed works (warnings allowed).
    ok: bool,
    /// Each check, in the order it ran.
    checks: Vec<ConnectionCheckItem>,
}

/// One check of the connection check.
#[derive(SimpleObject)]
pub struct ConnectionCheckItem {
    /// Stable dotted name, e.g. `base_url`, `token`, `scope.writes`, `endpoint.tasks`, `rate_limit.daily`.
    name: String,
    /// How it came out.
    status: ConnectionCheckStatus,
    /// What was found, in plain words.
    diagnosis: String,
    /// What to do about it; null when nothing needs doing.
    action: Option<String>,
}

/// How one check came out.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionCheckStatus {
    /// Works.
    Ok,
    /// Works, but deserves a look (e.g. a scope not granted on purpose).
    Warning,
    /// Does not work: `ok` is false.
    Failed,
    /// Not run: what it needs failed first, or it does not apply.
    Skipped,
}

impl From<check::Status> for ConnectionCheckStatus {
    fn from(status: check::Status) -> Self {
        match status {
            check::Status::Ok => Self::Ok,
            check::Status::Warning => Self::Warning,
            check::Status::Failed => Self::Failed,
            check::Status::Skipped => Self::Skipped,
        }
    }
}

/// Runs the check; in forward and OAuth mode with the request's own tenant when it has one.
pub(super) async fn run(ctx: &Context<'_>) -> FieldResult<ConnectionCheck> {
    let access = ctx.data_opt::<CheckAccess>().ok_or_else(|| {
        AppError::Forbidden("connectionCheck needs an operator API key in `x-api-key`: one of SUBGRAPH_API_KEYS without a location list".into())
    })?;
    let caller = Scope::of(ctx).ok().map(|scope| scope.data.tenant().clone());
    let report = access.0.run(caller, None).await;
    let checks =
        report.checks.into_iter().map(|c| ConnectionCheckItem { name: c.name, status: c.status.into(), diagnosis: c.diagnosis, action: c.action }).collect();
    Ok(ConnectionCheck { ok: report.ok, checks })
}
