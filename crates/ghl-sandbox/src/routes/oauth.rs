//! The OAuth endpoints: `GET /oauth/chooselocation` stands in for GHL's consent screen (it approves at
//! once and redirects to `redirect_uri?code=…&state=…`; `location_id` picks the location, default
//! `sandbox-location`), and `POST /oauth/token` (form-encoded, no bearer, no Version header) trades a
//! code or a refresh token for tokens, answering `GetAccessCodeSuccessfulResponseDto`.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::error::ApiError;
use crate::gateway::RecordedLocation;
use crate::oauth::{Consent, Issued, TokenAnswer};
use crate::reply;
use crate::state::App;
use crate::{COMPANY_ID, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: &'a str,
    scope: String,
    user_type: &'static str,
    location_id: Option<&'a str>,
    company_id: &'static str,
    user_id: &'a str,
    is_bulk_installation: bool,
}

/// The RFC 6749 field names are snake_case, the GHL extras camelCase.
impl TokenBody<'_> {
    fn to_json(&self) -> serde_json::Value {
        let mut body = serde_json::json!({
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
            "scope": self.scope,
            "userType": self.user_type,
            "companyId": self.company_id,
            "userId": self.user_id,
            "isBulkInstallation": self.is_bulk_installation,
        });
        // "Present only for Sub-Account Access Token".
        if let Some(location_id) = self.location_id {
            body["locationId"] = location_id.into();
        }
        body
    }
}

fn oauth_error(status: StatusCode, error: &'static str, description: impl Into<String>) -> ApiError {
    ApiError::OAuth { status, error, description: description.into() }
}

/// Percent-encodes a query-string component (RFC 3986 unreserved characters pass through).
pub(crate) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) async fn choose_location(
    State(app): State<App>,
    params: Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let get = |name: &str| params.get(name).map(String::as_str).filter(|s| !s.is_empty());
    if get("response_type") != Some("code") {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "unsupported_response_type", "response_type must be code"));
    }
    if get("client_id") != Some(OAUTH_CLIENT_ID) {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_client", format!("Unknown client_id; the sandbox's is {OAUTH_CLIENT_ID}")));
    }
    let redirect_uri = get("redirect_uri")
        .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
        .ok_or_else(|| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri must be an http(s) URL"))?;
    let scopes: Vec<String> = get("scope").unwrap_or_default().split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", "scope must name at least one scope"));
    }
    let location_id = get("location_id").unwrap_or(LOCATION_ID);
    let user_id = {
        let store = app.read();
        if !store.is_location(location_id) {
            return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", format!("Unknown location {location_id}")));
        }
        store.first_user(location_id).unwrap_or_default().to_owned()
    };
    let consent = Consent { location_id: location_id.to_owned(), scopes, user_id };
    let code = app.oauth.issue_code(consent, redirect_uri.to_owned());
    let separator = if redirect_uri.contains('?') { '&' } else { '?' };
    let mut location = format!("{redirect_uri}{separator}code={}", encode(&code));
    if let Some(state) = get("state") {
        location.push_str("&state=");
        location.push_str(&encode(state));
    }
    let target = HeaderValue::from_str(&location).map_err(|_| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "redirect_uri is not a valid URL"))?;
    let mut response = StatusCode::FOUND.into_response();
    response.headers_mut().insert(header::LOCATION, target);
    response.extensions_mut().insert(RecordedLocation(location_id.to_owned()));
    Ok(response)
}

pub(crate) async fn token(
    State(app): State<App>,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let Form(form) = form.map_err(|e| {
        oauth_error(StatusCode::BAD_REQUEST, "invalid_request", format!("Expected an application/x-www-form-urlencoded body: {}", e.body_text()))
    })?;
    let get = |name: &str| form.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let mut errors = Vec::new();
    for required in ["client_id", "client_secret", "grant_type"] {
        if get(required).is_none() {
            errors.push(format!("{required} should not be empty"));
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::Unprocessable(errors));
    }
    if get("client_id") != Some(OAUTH_CLIENT_ID) || get("client_secret") != Some(OAUTH_CLIENT_SECRET) {
        return Err(oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "Client authentication failed"));
    }
    if get("user_type").is_some_and(|t| t != "Location") {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "The sandbox only issues Location (sub-account) tokens"));
    }
    let ttl = app.access_token_ttl;
    let issued = match get("grant_type") {
        Some("authorization_code") => {
            let code = get("code").ok_or_else(|| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "code is required"))?;
            app.oauth.redeem_code(code, get("redirect_uri"), &app.tokens, ttl)?
        }
        Some("refresh_token") => {
            let refresh = get("refresh_token").ok_or_else(|| oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "refresh_token is required"))?;
            app.oauth.redeem_refresh_token(refresh, &app.tokens, ttl)?
        }
        _ => return Err(oauth_error(StatusCode::BAD_REQUEST, "unsupported_grant_type", "grant_type must be authorization_code or refresh_token")),
    };
    Ok(token_response(&issued, ttl.as_secs(), app.token_answer()))
}

fn token_response(issued: &Issued, expires_in: u64, answer: TokenAnswer) -> Response {
    let (user_type, location_id) = match answer {
        TokenAnswer::Location => ("Location", Some(issued.consent.location_id.as_str())),
        TokenAnswer::LocationWithoutId => ("Location", None),
        TokenAnswer::Company => ("Company", None),
    };
    let body = TokenBody {
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: &issued.refresh_token,
        scope: issued.consent.scopes.join(" "),
        user_type,
        location_id,
        company_id: COMPANY_ID,
        user_id: &issued.consent.user_id,
        is_bulk_installation: false,
    };
    let mut response = reply::ok(&body.to_json());
    response.extensions_mut().insert(RecordedLocation(issued.consent.location_id.clone()));
    response
}
