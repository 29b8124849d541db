//! The middleware in front of every API route (everything but `/__sandbox/`). Per request, in order:
//! open a request-log entry, plan faults, wait (configured + injected latency), then either break
//! the request as the fault says or authenticate it (bearer token → 401, rate limit → 429,
//! `Version` header → 401), run the handler, add the `X-RateLimit-*` headers, apply an after-fault
//! (reset, `status_after`, malformed or slow body) and close the entry.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::faults::FaultKind;
use crate::rate_limit::Quota;
use crate::server::ConnectionHandle;
use crate::state::App;
use crate::API_VERSION;

/// Set by handlers without a bearer token (OAuth) to say which location the request concerned.
#[derive(Clone, Debug)]
pub(crate) struct RecordedLocation(pub String);

/// How long a `slow_body` answer takes: `SLOW_BODY_CHUNKS` pieces, one every `SLOW_BODY_TICK`.
const SLOW_BODY_CHUNKS: usize = 16;
const SLOW_BODY_TICK: Duration = Duration::from_millis(200);

pub(crate) async fn gateway(State(app): State<App>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if path == "/__sandbox" || path.starts_with("/__sandbox/") {
        return next.run(req).await;
    }
    let method = req.method().clone();
    let ticket = app.log.open(method.as_str(), path, req.uri().query());
    let plan = app.faults.plan(method.as_str(), path);
    let delay = app.latency() + plan.latency;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let connection = req.extensions().get::<ConnectionHandle>().cloned();
    let caller = bearer_token(req.headers()).and_then(|t| app.tokens.resolve(t));
    let grant = caller.as_ref().map(|c| c.grant.clone());
    let caller_location = grant.as_deref().map(|g| g.location_id.as_str());

    match plan.action {
        Some(FaultKind::ResetBefore) => {
            app.log.complete(ticket, 0, caller_location);
            return reset(connection).await;
        }
        Some(FaultKind::Status { status, rate_limit_headers }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = ApiError::Injected(status).into_response();
            if rate_limit_headers {
                let quota = app.limiter.peek(caller.as_ref().map(|c| &*c.token));
                let quota = if status == StatusCode::TOO_MANY_REQUESTS { quota.exhausted() } else { quota };
                quota.write(response.headers_mut());
            }
            app.log.complete(ticket, status.as_u16(), caller_location);
            return response;
        }
        _ => {}
    }

    // Routes GHL serves without a bearer token: OAuth, and unknown paths (404 before any guard).
    let needs_bearer = req.extensions().get::<MatchedPath>().is_some_and(|p| !p.as_str().starts_with("/oauth/"));
    let (quota, admitted) = if needs_bearer { admit(&app, caller, req.headers()) } else { (app.limiter.peek(caller.as_ref().map(|c| &*c.token)), Ok(None)) };
    let mut response = match admitted {
        Err(e) => e.into_response(),
        Ok(caller) => {
            if let Some(caller) = caller {
                req.extensions_mut().insert(caller);
            }
            next.run(req).await
        }
    };
    quota.write(response.headers_mut());
    let recorded = response.extensions().get::<RecordedLocation>().map(|l| l.0.clone());
    let location = recorded.as_deref().or(caller_location);

    match plan.action {
        Some(FaultKind::ResetAfter) => {
            app.log.complete(ticket, 0, location);
            reset(connection).await
        }
        Some(FaultKind::StatusAfter { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
            let mut injected = ApiError::Injected(status).into_response();
            quota.write(injected.headers_mut());
            app.log.complete(ticket, status.as_u16(), location);
            injected
        }
        Some(FaultKind::Malformed) => {
            app.log.complete(ticket, StatusCode::OK.as_u16(), location);
            malformed(response).await
        }
        Some(FaultKind::SlowBody) => {
            app.log.complete(ticket, response.status().as_u16(), location);
            slow_body(response).await
        }
        _ => {
            app.log.complete(ticket, response.status().as_u16(), location);
            response
        }
    }
}

fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Token, then rate limit (a known token's request counts even if it then fails), then `Version`.
fn admit(app: &App, caller: Option<Caller>, headers: &HeaderMap) -> (Quota, Result<Option<Caller>, ApiError>) {
    let Some(caller) = caller else {
        return (app.limiter.peek(None), Err(ApiError::InvalidToken));
    };
    let quota = match app.limiter.acquire(&caller.token) {
        Ok(quota) => quota,
        Err(quota) => return (quota, Err(ApiError::RateLimited)),
    };
    let version = match headers.get("version") {
        None => Err(ApiError::MissingVersion),
        Some(v) if v.as_bytes() != API_VERSION.as_bytes() => Err(ApiError::InvalidVersion),
        Some(_) => Ok(Some(caller)),
    };
    (quota, version)
}

/// Drops the connection (RST) and never answers.
async fn reset(connection: Option<ConnectionHandle>) -> Response {
    match connection {
        Some(connection) => {
            connection.reset();
            std::future::pending::<Response>().await
        }
        None => {
            tracing::warn!("reset fault on a request without a connection handle; answering 502");
            ApiError::Injected(StatusCode::BAD_GATEWAY).into_response()
        }
    }
}

async fn body_bytes(response: Response) -> (axum::http::response::Parts, Bytes) {
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    (parts, bytes)
}

/// 200 with the real body cut in half: never valid JSON.
async fn malformed(response: Response) -> Response {
    let (mut parts, bytes) = body_bytes(response).await;
    parts.status = StatusCode::OK;
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json; charset=utf-8"));
    let cut = if bytes.len() >= 2 { bytes.slice(..bytes.len() / 2) } else { Bytes::from_static(b"{\"contact\":") };
    Response::from_parts(parts, Body::from(cut))
}

/// The real answer, its body sent in pieces over a few seconds.
async fn slow_body(response: Response) -> Response {
    let (parts, bytes) = body_bytes(response).await;
    let size = bytes.len().div_ceil(SLOW_BODY_CHUNKS).max(1);
    let chunks: Vec<Bytes> = (0..bytes.len()).step_by(size).map(|i| bytes.slice(i..(i + size).min(bytes.len()))).collect();
    let stream = futures_util::stream::iter(chunks).then(|chunk| async move {
        tokio::time::sleep(SLOW_BODY_TICK).await;
        Ok::<_, Infallible>(chunk)
    });
    Response::from_parts(parts, Body::from_stream(stream))
}
