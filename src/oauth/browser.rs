//! The install cookie: `/oauth/install` leaves a secret in the browser, `/oauth/callback` reads it
//! back, and `state` commits to it (see `state`). It is scoped to `/oauth`, HttpOnly, SameSite=Lax
//! (GHL's redirect back is a top-level GET, so the browser sends it) and lives as long as a state.
//! Only the cookie's plumbing lives here; what it proves is decided in `state`.

use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue};

const NAME: &str = "ghl_oauth_install";

/// `Set-Cookie` for a new install. `secure` when the callback is served over https.
pub(super) fn set_cookie(secret: &str, max_age: Duration, secure: bool) -> Option<HeaderValue> {
    // At least one second: `Max-Age=0` would delete the cookie at once.
    let max_age = max_age.as_secs().max(1);
    HeaderValue::from_str(&format!("{NAME}={secret}; Max-Age={max_age}; Path=/oauth; HttpOnly; SameSite=Lax{}", secure_flag(secure))).ok()
}

/// `Set-Cookie` that deletes the cookie, once its state is spent.
pub(super) fn clear_cookie(secure: bool) -> HeaderValue {
    let value = format!("{NAME}=; Max-Age=0; Path=/oauth; HttpOnly; SameSite=Lax{}", secure_flag(secure));
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("ghl_oauth_install=; Max-Age=0; Path=/oauth"))
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

fn secure_flag(secure: bool) -> &'static str {
    if secure {
        "; Secure"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_scoped_http_only_lax_and_secure_over_https() {
        let cookie = set_cookie("s3cret", Duration::from_secs(600), true).unwrap();
        let cookie = cookie.to_str().unwrap();
        assert_eq!(cookie, "ghl_oauth_install=s3cret; Max-Age=600; Path=/oauth; HttpOnly; SameSite=Lax; Secure");
        let plain = set_cookie("s3cret", Duration::from_millis(300), false).unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure") && plain.to_str().unwrap().contains("Max-Age=1;"));
        assert!(clear_cookie(false).to_str().unwrap().starts_with("ghl_oauth_install=; Max-Age=0; Path=/oauth"));
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
