//! DNS-rebinding and cross-origin guard, in front of every route. A page on
//! `rebind.attacker.example` that resolves to 127.0.0.1 reaches a loopback listener with the
//! attacker's name in `Host`; so a loopback listener answers only loopback names (and the public
//! names configured with `--allowed-hosts`). A browser's `Origin`, when sent, must name this server
//! or an allowed host: a foreign page can never drive it, whatever it resolves to.

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use axum::response::Response;

use crate::error::{ErrorCode, Refusal};

/// Which `Host` and `Origin` values are ours.
#[derive(Clone, Debug)]
pub struct HostPolicy {
    /// Only loopback names (and `allowed`) in `Host`: the listener is on a loopback address.
    loopback_only: bool,
    /// Extra host names (no port), lower case.
    allowed: Arc<Vec<String>>,
}

impl HostPolicy {
    pub fn new(loopback_listener: bool, allowed: &[String]) -> Self {
        let allowed = allowed.iter().map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect();
        Self { loopback_only: loopback_listener, allowed: Arc::new(allowed) }
    }

    fn host_allowed(&self, host: &str) -> bool {
        is_loopback_name(host) || self.allowed.iter().any(|a| a == host) || !self.loopback_only
    }

    /// 403 with code `HOST_NOT_ALLOWED` for a foreign `Host` or `Origin` (the edge middleware,
    /// `app`, answers it before any route runs).
    pub fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        let reason = self.refusal(headers)?;
        Some(Refusal::new(ErrorCode::HostNotAllowed, reason).into_response_as("application/json"))
    }

    /// Why `headers` are refused, if they are.
    fn refusal(&self, headers: &HeaderMap) -> Option<&'static str> {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).map(host_name);
        if let Some(host) = &host {
            if !self.host_allowed(host) {
                return Some("this server does not answer to that Host name (set --allowed-hosts to add one)");
            }
        }
        let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())?;
        if origin == "null" {
            return Some("requests from an opaque origin are refused");
        }
        let origin_host = origin.split_once("://").map(|(_, rest)| host_name(rest.split('/').next().unwrap_or("")));
        let same_origin = origin_host.as_deref().is_some_and(|o| host.as_deref() == Some(o));
        let allowed = origin_host.as_deref().is_some_and(|o| (self.loopback_only && is_loopback_name(o)) || self.allowed.iter().any(|a| a == o));
        (!(same_origin || allowed)).then_some("requests from that Origin are refused")
    }
}

/// The host part of a `Host` value or an origin's authority, lower case, without the port.
fn host_name(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    if let Some(rest) = authority.strip_prefix('[') {
        return format!("[{}]", rest.split(']').next().unwrap_or(""));
    }
    authority.split(':').next().unwrap_or("").to_owned()
}

fn is_loopback_name(host: &str) -> bool {
    matches!(host, "localhost" | "[::1]") || host.ends_with(".localhost") || host.parse::<std::net::Ipv4Addr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn a_loopback_listener_answers_only_loopback_and_allowed_names() {
        let policy = HostPolicy::new(true, &["subgraph.internal".into()]);
        for ok in ["127.0.0.1:4000", "localhost:1", "[::1]:8080", "subgraph.internal", "LOCALHOST"] {
            assert_eq!(policy.refusal(&headers(&[("host", ok)])), None, "{ok}");
        }
        for bad in ["rebind.attacker.example:4000", "10.0.0.1", "127.0.0.1.attacker.example"] {
            assert!(policy.refusal(&headers(&[("host", bad)])).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_foreign_origin_is_refused_and_the_same_origin_passes() {
        let loopback = HostPolicy::new(true, &[]);
        assert_eq!(loopback.refusal(&headers(&[("host", "127.0.0.1:4000"), ("origin", "http://127.0.0.1:4000")])), None);
        assert!(loopback.refusal(&headers(&[("host", "127.0.0.1:4000"), ("origin", "https://evil.example")])).is_some());
        assert!(loopback.refusal(&headers(&[("host", "127.0.0.1:4000"), ("origin", "null")])).is_some());
        let public = HostPolicy::new(false, &[]);
        assert_eq!(public.refusal(&headers(&[("host", "api.example.com")])), None, "any Host on a public listener");
        assert_eq!(public.refusal(&headers(&[("host", "api.example.com"), ("origin", "https://api.example.com")])), None);
        assert!(public.refusal(&headers(&[("host", "api.example.com"), ("origin", "https://evil.example")])).is_some());
    }
}
