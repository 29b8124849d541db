//! `REDIS_URL`, parsed once: `redis://`, `rediss://` (TLS) or a unix socket. It may hold a
//! password, so it is a secret: `Debug` shows the scheme only, and errors never repeat it.

use std::fmt;
use std::str::FromStr;

use secrecy::{ExposeSecret as _, SecretString};

/// Schemes redis-rs connects to, and what each means.
const SCHEMES: [&str; 4] = ["redis://", "rediss://", "unix://", "redis+unix://"];

#[derive(Clone)]
pub struct RedisUrl(SecretString);

impl RedisUrl {
    pub(super) fn secret(&self) -> &SecretString {
        &self.0
    }

    fn scheme(&self) -> &str {
        let url = self.0.expose_secret();
        url.split_once("://").map_or("", |(scheme, _)| scheme)
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({}://[redacted])", self.scheme())
    }
}

impl FromStr for RedisUrl {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let raw = raw.trim();
        if !SCHEMES.iter().any(|scheme| raw.starts_with(scheme)) {
            return Err("must start with redis://, rediss:// or unix:// (the value is not shown)".to_owned());
        }
        ::redis::IntoConnectionInfo::into_connection_info(raw)
            .map_err(|e| format!("not a Redis URL redis-rs accepts ({:?}; the value is not shown)", e.kind()))?;
        Ok(Self(SecretString::from(raw.to_owned())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_tls_and_unix_urls_parse_and_debug_hides_the_password() {
        for url in ["redis://127.0.0.1:6379/0", "rediss://:hunter2@cache.example.com:6380", "unix:///tmp/redis.sock", "redis+unix:///tmp/redis.sock"] {
            let parsed: RedisUrl = url.parse().unwrap_or_else(|e| panic!("{url}: {e}"));
            assert!(!format!("{parsed:?}").contains("hunter2"), "{parsed:?}");
        }
        let error = "http://user:hunter2@x".parse::<RedisUrl>().unwrap_err();
        assert!(!error.contains("hunter2"), "{error}");
    }
}
