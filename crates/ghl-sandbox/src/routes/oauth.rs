//! The OAuth endpoints: `GET /oauth/chooselocation` stands in for GHL's consent screen (it approves at
//! once and redirects to `redirect_uri?code=…&state=…`; `location_id` picks the location, default
//! `sandbox-location`; `company_id` makes it an agency install, of `approved_locations` (comma-separated,
//! default all) with `install_to_future_locations`), and `POST /oauth/token` (form-encoded, no bearer,
//! no Version header) trades a code or a refresh token for tokens, answering
//! `GetAccessCodeSuccessfulResponseDto`: a Company token for an agency install (`user_type=Company`).
//! With that token, `POST /oauth/locationToken` mints a location token and `GET
//! /oauth/installedLocations` lists the company's locations (both Agency-Access-Only, Version header).

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::gateway::RecordedLocation;
use crate::installs::{actions, AgencyInstall};
use crate::oauth::{Consent, Issued, Lifetimes, TokenAnswer};
use crate::reply;
use crate::state::App;
use crate::{API_VERSION, COMPANY_ID, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET};

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
    company_id: &'a str,
    user_id: &'a str,
    #[serde(skip)]
    agency: Option<&'a AgencyInstall>,
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
            "isBulkInstallation": self.agency.is_some(),
        });
        // Only for company tokens.
        if let Some(agency) = self.agency {
            body["approvedLocations"] = serde_json::json!(agency.approved_locations);
            body["installToFutureLocations"] = agency.install_to_future_locations.into();
            body["approveAllLocations"] = agency.approve_all_locations.into();
        }
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
    let (consent, recorded) = match get("company_id") {
        Some(company_id) => (agency_consent(&app, company_id, &params, scopes)?, company_id.to_owned()),
        None => {
            let location_id = get("location_id").unwrap_or(LOCATION_ID);
            let user_id = {
                let store = app.read();
                if !store.is_location(location_id) {
                    return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", format!("Unknown location {location_id}")));
                }
                store.first_user(location_id).unwrap_or_default().to_owned()
            };
            actions::install_location(&app, location_id, &user_id);
            let consent = Consent { location_id: location_id.to_owned(), company_id: COMPANY_ID.to_owned(), agency: None, scopes, user_id };
            (consent, location_id.to_owned())
        }
    };
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
    response.extensions_mut().insert(RecordedLocation(recorded));
    Ok(response)
}

/// An agency (bulk) install: the approved locations (all of the company's by default) are
/// installed at consent, each with its INSTALL event.
fn agency_consent(app: &App, company_id: &str, params: &HashMap<String, String>, scopes: Vec<String>) -> Result<Consent, ApiError> {
    if company_id != COMPANY_ID {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", format!("Unknown company {company_id}")));
    }
    let all = app.read().location_ids();
    let approved: Vec<String> = match params.get("approved_locations").filter(|l| !l.is_empty()) {
        Some(listed) => listed.split(',').map(str::to_owned).collect(),
        None => all.clone(),
    };
    if let Some(unknown) = approved.iter().find(|l| !all.contains(l)) {
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", format!("Unknown location {unknown}")));
    }
    let agency = AgencyInstall {
        approve_all_locations: approved.len() == all.len(),
        approved_locations: approved.into_iter().collect(),
        install_to_future_locations: params.get("install_to_future_locations").is_some_and(|v| v == "true"),
    };
    let user_id = app.read().first_user(LOCATION_ID).unwrap_or_default().to_owned();
    actions::install_agency(app, agency.clone(), &user_id);
    Ok(Consent { location_id: String::new(), company_id: company_id.to_owned(), agency: Some(agency), scopes, user_id })
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
    let wants_company = match get("user_type") {
        None | Some("Location") => false,
        Some("Company") => true,
        Some(_) => return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", "user_type must be Company or Location")),
    };
    let ttl = Lifetimes { location: app.access_token_ttl, company: app.company_token_ttl };
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
    // The code (or refresh token) is spent either way, as a mistaken exchange spends it at GHL.
    if wants_company != issued.consent.agency.is_some() {
        let why =
            if wants_company { "this install is not an agency install: use user_type=Location" } else { "this is an agency install: use user_type=Company" };
        return Err(oauth_error(StatusCode::BAD_REQUEST, "invalid_request", why));
    }
    Ok(token_response(&issued, issued.ttl.as_secs(), app.token_answer()))
}

/// The caller of an Agency-Access-Only route: a live Company token carrying `scope`, with the
/// Version header.
fn agency_caller(app: &App, headers: &HeaderMap, scope: &str) -> Result<(Caller, String), ApiError> {
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.trim().strip_prefix("Bearer ")).map(str::trim);
    let caller = token.and_then(|t| app.tokens.resolve(t)).ok_or(ApiError::InvalidToken)?;
    match headers.get("version") {
        None => return Err(ApiError::MissingVersion),
        Some(v) if v.as_bytes() != API_VERSION.as_bytes() => return Err(ApiError::InvalidVersion),
        Some(_) => {}
    }
    // A location token on an agency route: GHL's IAM refuses its token class.
    let company = caller.grant.company_id.clone().ok_or(ApiError::WrongLocation)?;
    if !caller.grant.allows(scope) {
        return Err(ApiError::MissingScope);
    }
    Ok((caller, company))
}

/// `POST /oauth/locationToken` (form `companyId`, `locationId`): a location token minted from the
/// Company token, for a location its agency install approved (`GetLocationAccessTokenSuccessfulResponseDto`).
pub(crate) async fn location_token(
    State(app): State<App>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, axum::extract::rejection::FormRejection>,
) -> Result<Response, ApiError> {
    let (caller, company) = agency_caller(&app, &headers, OAUTH_WRITE)?;
    let Form(form) = form.map_err(|e| ApiError::BadRequest(format!("Expected an application/x-www-form-urlencoded body: {}", e.body_text())))?;
    let get = |name: &str| form.get(name).map(String::as_str).filter(|s| !s.is_empty());
    let (Some(company_id), Some(location_id)) = (get("companyId"), get("locationId")) else {
        let missing = ["companyId", "locationId"].iter().filter(|f| get(f).is_none()).map(|f| format!("{f} should not be empty")).collect();
        return Err(ApiError::Unprocessable(missing));
    };
    if company_id != company {
        return Err(ApiError::WrongLocation);
    }
    if !app.installs().agency_may_mint(company_id, location_id) {
        let mut refused = ApiError::BadRequest("The app is not installed on this location".into()).into_response();
        refused.extensions_mut().insert(RecordedLocation(location_id.to_owned()));
        return Ok(refused);
    }
    let ttl = app.access_token_ttl;
    // The location token carries the app's location scopes, not the agency-only ones.
    let scopes: Vec<String> = caller.grant.scopes.iter().filter(|s| !s.starts_with("oauth.")).cloned().collect();
    let access_token = app.oauth.mint_location_token(location_id, scopes.clone(), &app.tokens, ttl);
    let user_id = app.read().first_user(location_id).unwrap_or_default().to_owned();
    let mut response = reply::ok(&serde_json::json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "scope": scopes.join(" "),
        "locationId": location_id,
        "userId": user_id,
        "appId": OAUTH_CLIENT_ID.split('-').next().unwrap_or(OAUTH_CLIENT_ID),
    }));
    response.extensions_mut().insert(RecordedLocation(location_id.to_owned()));
    Ok(response)
}

/// `GET /oauth/installedLocations?companyId&appId[&isInstalled]`: the company's locations and
/// whether the app is installed on each (`GetInstalledLocationsSuccessfulResponseDto`).
pub(crate) async fn installed_locations(
    State(app): State<App>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let (_, company) = agency_caller(&app, &headers, OAUTH_READONLY)?;
    let missing: Vec<String> =
        ["companyId", "appId"].iter().filter(|f| params.get(**f).is_none_or(|v| v.is_empty())).map(|f| format!("{f} should not be empty")).collect();
    if !missing.is_empty() {
        return Err(ApiError::Unprocessable(missing));
    }
    if params["companyId"] != company {
        return Err(ApiError::WrongLocation);
    }
    let only_installed = params.get("isInstalled").map(|v| v == "true");
    let installs = app.installs();
    let locations: Vec<serde_json::Value> = app
        .read()
        .location_ids()
        .into_iter()
        .map(|id| (installs.installed_at(&id), id))
        .filter(|(at, _)| only_installed.is_none_or(|wanted| wanted == at.is_some()))
        .map(|(at, id)| {
            let mut location = serde_json::json!({ "_id": id, "name": id, "address": "", "isInstalled": at.is_some() });
            if let Some(at) = at {
                location["installedAt"] = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true).into();
            }
            location
        })
        .collect();
    let install_to_future = installs.agency(&company).is_some_and(|a| a.install_to_future_locations);
    Ok(reply::ok(&serde_json::json!({ "locations": locations, "count": locations.len(), "installToFutureLocations": install_to_future })))
}

const OAUTH_WRITE: &str = "oauth.write";
const OAUTH_READONLY: &str = "oauth.readonly";

fn token_response(issued: &Issued, expires_in: u64, answer: TokenAnswer) -> Response {
    let (user_type, location_id) = match (&issued.consent.agency, answer) {
        (Some(_), _) => ("Company", None),
        (None, TokenAnswer::Location) => ("Location", Some(issued.consent.location_id.as_str())),
        (None, TokenAnswer::LocationWithoutId) => ("Location", None),
    };
    let body = TokenBody {
        access_token: &issued.access_token,
        token_type: "Bearer",
        expires_in,
        refresh_token: &issued.refresh_token,
        scope: issued.consent.scopes.join(" "),
        user_type,
        location_id,
        company_id: &issued.consent.company_id,
        user_id: &issued.consent.user_id,
        agency: issued.consent.agency.as_ref(),
    };
    let mut response = reply::ok(&body.to_json());
    let recorded = if issued.consent.agency.is_some() { &issued.consent.company_id } else { &issued.consent.location_id };
    response.extensions_mut().insert(RecordedLocation(recorded.clone()));
    response
}
