//! Security headers on every response: no MIME sniffing, no referrer, never framed, a content
//! security policy (the GraphiQL page may load only its own vendored files and talk only to this
//! server), and `Cache-Control: no-store` unless a route chose its own caching (the vendored
//! assets do; clean cached queries say `private, max-age`). GraphQL answers carry tenant data: no shared cache may keep them.

use axum::http::header::{self, HeaderName, HeaderValue};
use axum::response::Response;

/// The GraphiQL page: its own scripts and styles (plus its one inline bootstrap), data: icons,
/// requests to this origin only.
const HTML_POLICY: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// Everything else is data, never a document.
const DATA_POLICY: &str = "default-src 'none'; frame-ancestors 'none'";

/// Adds them to `response` (the edge middleware, `app`, calls it for every response).
pub fn add(response: &mut Response) {
    let is_html = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|v| v.starts_with("text/html"));
    let headers = response.headers_mut();
    let fixed: [(HeaderName, &'static str); 3] =
        [(header::X_CONTENT_TYPE_OPTIONS, "nosniff"), (header::REFERRER_POLICY, "no-referrer"), (header::X_FRAME_OPTIONS, "DENY")];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(if is_html { HTML_POLICY } else { DATA_POLICY }));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
}
