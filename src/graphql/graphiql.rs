//! GraphiQL, served from assets vendored into the binary: the playground works offline.
//!
//! Versions and checksums of the vendored files: `assets/graphiql/VERSIONS.md`. When callers
//! need an API key, the page opens with an empty `x-api-key` in its headers editor.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::callers::API_KEY_HEADER;

const INDEX: &str = include_str!("../../assets/graphiql/index.html");

/// The line of `INDEX` that sets GraphiQL's default headers (none).
const NO_HEADERS: &str = "var defaultHeaders = '';";

const ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../../assets/graphiql/graphiql.min.css")),
    ("react.production.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/react.production.min.js")),
    ("react-dom.production.min.js", "text/javascript; charset=utf-8", include_bytes!("../../assets/graphiql/react-dom.production.min.js")),
];

/// The GraphiQL page; `ask_for_api_key` prefills the headers editor with an empty key.
pub fn page(ask_for_api_key: bool) -> Response {
    if !ask_for_api_key {
        return Html(INDEX).into_response();
    }
    // A JS string holding the headers editor's JSON text.
    let headers = format!(r#"var defaultHeaders = '{{\n  "{API_KEY_HEADER}": ""\n}}';"#);
    Html(INDEX.replacen(NO_HEADERS, &headers, 1)).into_response()
}

/// `GET /graphiql/{file}`: one of the vendored files, cached for a day.
pub async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => ([(header::CONTENT_TYPE, *content_type), (header::CACHE_CONTROL, "public, max-age=86400")], *bytes).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
