//! The install cookie: `/oauth/install` leaves a secret in the browser, `/oauth/callback` reads it
//! back, and `state` commits to it (see `state`). It is scoped to the callback's directory (`/oauth`,
//! or `/prefix/oauth` behind a proxy that adds one), HttpOnly, SameSite=Lax (GHL's redirect back is a
//! top-level GET, so the browser sends it) and lives as long as a state. Only the cookie's plumbing
//! lives here; what it proves is decided in `state`.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

const NAME: &str = "ghl_oauth_install";

/// Where the cookie is sent, from the registered redirect URI (the browser's view of this server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct CookieScope {
    path: String,
    /// Only over https: a `Secure` cookie set over plain http would never come back.
    secure: bool,
}

impl CookieScope {
    pub(super) fn for_redirect_uri(redirect_uri: &str) -> Self {
        let (scheme, rest) = redirect_uri.split_once("://").unwrap_or(("", redirect_uri));
        let path = rest.find('/').map_or("", |at| &rest[at..]);
        let path = path.split(['?', '#']).next().unwrap_or_default();
        let directory = path.rsplit_once('/').map_or("", |(directory, _)| directory);
        // A callback at the root, or a path that could end the attribute (`;`, spaces, controls),
        // gets `/`: wider, but always sent back.
        let plain = directory.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-._~%".contains(&b));
        let path = if directory.starts_with('/') && plain { directory } else { "/" };
        Self { path: path.to_owned(), secure: scheme.eq_ignore_ascii_case("https") }
    }

    fn attributes(&self) -> String {
        format!("Path={}; HttpOnly; SameSite=Lax{}", self.path, if self.secure { "; Secure" } else { "" })
    }
}

/// `Set-Cookie` for a new install.
pub(super) fn set_cookie(secret: &str, max_age: Duration, scope: &CookieScope) -> Option<HeaderValue> {
    // At least one second: `Max-Age=0` would delete the cookie at once.
    let max_age = max_age.as_secs().max(1);
    HeaderValue::from_str(&format!("{NAME}={secret}; Max-Age={max_age}; {}", scope.attributes())).ok()
}

/// `Set-Cookie` that deletes the cookie, once its state is spent.
pub(super) fn clear_cookie(scope: &CookieScope) -> HeaderValue {
    HeaderValue::from_str(&format!("{NAME}=; Max-Age=0; {}", scope.attributes()))
        .unwrap_or_else(|_| HeaderValue::from_static("ghl_oauth_install=; Max-Age=0; Path=/oauth"))
}

/// The secret this browser holds, if any (the first one when a client sends several).
pub(super) fn secret(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == NAME)
        .map(|(_, value)| value.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_scoped_http_only_lax_and_secure_over_https() {
        let https = CookieScope::for_redirect_uri("https://subgraph.example.com/oauth/callback");
        let cookie = set_cookie("s3cret", Duration::from_secs(600), &https).unwrap();
        assert_eq!(cookie.to_str().unwrap(), "ghl_oauth_install=s3cret; Max-Age=600; Path=/oauth; HttpOnly; SameSite=Lax; Secure");
        let http = CookieScope::for_redirect_uri("http://127.0.0.1:4001/oauth/callback");
        let plain = set_cookie("s3cret", Duration::from_millis(300), &http).unwrap();
        assert_eq!(plain.to_str().unwrap(), "ghl_oauth_install=s3cret; Max-Age=1; Path=/oauth; HttpOnly; SameSite=Lax");
        assert_eq!(clear_cookie(&http).to_str().unwrap(), "ghl_oauth_install=; Max-Age=0; Path=/oauth; HttpOnly; SameSite=Lax");
    }

    #[test]
    fn the_cookie_path_follows_the_callback_and_never_carries_attributes() {
        let path = |uri: &str| CookieScope::for_redirect_uri(uri).path;
        assert_eq!(path("HTTPS://x.example/api/oauth/callback?a=b"), "/api/oauth");
        assert!(CookieScope::for_redirect_uri("HTTPS://x.example/oauth/callback").secure);
        for odd in
            ["https://x.example/a;Domain=evil/oauth/callback", "https://x.example/callback", "https://x.example", "nonsense", "https://x.example/a b/callback"]
        {
            assert_eq!(path(odd), "/", "{odd}");
        }
    }

    #[test]
    fn the_secret_is_found_among_other_cookies() {
        let mut headers = HeaderMap::new();
        headers.append(header::COOKIE, HeaderValue::from_static("theme=dark; ghl_oauth_install_x=no"));
        assert_eq!(secret(&headers), None);
        headers.append(header::COOKIE, HeaderValue::from_static("a=1;ghl_oauth_install=abc ; b=2"));
        assert_eq!(secret(&headers), Some("abc"));
    }
}
