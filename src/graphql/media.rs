//! The media types of GraphQL over HTTP: what a response (or a refusal) is written in, picked
//! from `Accept` as the spec asks, and what a request body must be.

use axum::http::{header, HeaderMap};

pub const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
pub const JSON: &str = "application/json";

/// The media type a response is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaType {
    GraphqlResponseJson,
    Json,
}

impl MediaType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => GRAPHQL_RESPONSE_JSON,
            Self::Json => JSON,
        }
    }

    /// Picks from `Accept`: the first acceptable type wins; none or `*/*` means `application/json`.
    pub fn negotiate(headers: &HeaderMap) -> Option<Self> {
        let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
            return Some(Self::Json);
        };
        let mut any = false;
        for part in accept.split(',') {
            let mut params = part.split(';');
            let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
            let refused = params.any(|p| matches!(p.trim().replace(' ', "").as_str(), "q=0" | "q=0.0" | "q=0.00" | "q=0.000"));
            if refused {
                continue;
            }
            match media.as_str() {
                GRAPHQL_RESPONSE_JSON => return Some(Self::GraphqlResponseJson),
                JSON => return Some(Self::Json),
                "*/*" | "application/*" => any = true,
                _ => {}
            }
        }
        any.then_some(Self::Json)
    }

    /// What a refusal is written in: the negotiated type, else `application/json` (a refusal
    /// is answered even to a client that accepts neither).
    pub fn for_refusal(headers: &HeaderMap) -> Self {
        Self::negotiate(headers).unwrap_or(Self::Json)
    }
}

/// The request's `Content-Type` without parameters, lower case.
pub fn content_type_essence(headers: &HeaderMap) -> String {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        headers
    }

    #[test]
    fn json_only_clients_get_application_json() {
        assert_eq!(MediaType::negotiate(&accept("application/json")), Some(MediaType::Json));
        assert_eq!(MediaType::negotiate(&HeaderMap::new()), Some(MediaType::Json));
        assert_eq!(MediaType::negotiate(&accept("*/*")), Some(MediaType::Json));
    }

    #[test]
    fn graphql_response_json_is_used_when_preferred() {
        let both = accept("application/graphql-response+json, application/json;q=0.9");
        assert_eq!(MediaType::negotiate(&both), Some(MediaType::GraphqlResponseJson));
        assert_eq!(MediaType::negotiate(&accept("text/html")), None);
    }
}
