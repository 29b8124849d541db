//! Who may call the subgraph: API keys presented in `x-api-key`.
//!
//! Keys are hashed (SHA-256) the moment they are parsed, so the process never holds one in clear
//! after start-up, and a presented key is compared against every stored hash in constant time.
//! This is separate from `auth` (which GHL tenant a request acts for): in `--auth forward` mode
//! `Authorization: Bearer` carries the GHL token, so caller keys use their own header.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ErrorCode;

/// The header callers present their key in.
pub const API_KEY_HEADER: &str = "x-api-key";

/// Shortest key accepted at start-up: a guessable key is worse than none, because it looks safe.
pub const MIN_KEY_LEN: usize = 16;

/// The configured caller keys, as SHA-256 hashes only. `Debug` shows how many, never a hash.
#[derive(Clone, Default)]
pub struct CallerKeys(Vec<CallerKey>);

/// One key: its hash and, in OAuth mode, the locations it may reach (`None`: every location).
#[derive(Clone)]
struct CallerKey {
    hash: [u8; 32],
    locations: Option<Vec<String>>,
}

impl CallerKeys {
    /// True when no key is configured: then every caller is let in.
    /// One key that may reach every location (e.g. `METRICS_API_KEY`).
    pub fn single(key: &str) -> Self {
        Self(vec![CallerKey { hash: hash(key), locations: None }])
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Checks the presented key (the request's `x-api-key`, trimmed). Always compares against
    /// every stored hash, so the time taken does not say which key (or how much of one) matched.
    pub fn check(&self, presented: Option<&str>) -> Result<(), CallerError> {
        if self.is_empty() {
            return Ok(());
        }
        presented.filter(|k| !k.trim().is_empty()).ok_or(CallerError::Missing)?;
        self.matching(presented).map(|_| ()).ok_or(CallerError::Invalid)
    }

    /// True when the presented key may reach `location` (with no keys configured, anyone may).
    pub fn may_reach(&self, presented: Option<&str>, location: &str) -> bool {
        if self.is_empty() {
            return true;
        }
        match self.matching(presented) {
            Some(CallerKey { locations: None, .. }) => true,
            Some(CallerKey { locations: Some(allowed), .. }) => allowed.iter().any(|l| l == location),
            None => false,
        }
    }

    /// True when the presented key is a configured one that reaches every location (a router's
    /// or an operator's key, not a tenant's). False with no keys configured.
    pub fn is_unrestricted(&self, presented: Option<&str>) -> bool {
        matches!(self.matching(presented), Some(CallerKey { locations: None, .. }))
    }

    /// The stored key matching the presented one. Compares against every stored hash, so the
    /// time taken does not say which key matched.
    fn matching(&self, presented: Option<&str>) -> Option<&CallerKey> {
        let presented = presented.map(str::trim).filter(|k| !k.is_empty())?;
        let digest = hash(presented);
        let mut found = None;
        for stored in &self.0 {
            if bool::from(stored.hash.ct_eq(&digest)) {
                found = Some(stored);
            }
        }
        found
    }
}

impl std::fmt::Debug for CallerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CallerKeys({} configured)", self.0.len())
    }
}

/// Parses `SUBGRAPH_API_KEYS`: keys separated by commas; blanks around them are ignored. A key may
/// end in `=loc1|loc2`: the only locations it reaches in OAuth mode (split at the last `=`, so
/// base64 padding stays part of the key).
impl std::str::FromStr for CallerKeys {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let entries: Vec<(&str, Option<Vec<String>>)> = raw
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(|entry| match entry.rsplit_once('=') {
                Some((key, locations)) if !locations.is_empty() && !key.is_empty() => {
                    (key, Some(locations.split('|').map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()))
                }
                _ => (entry, None),
            })
            .collect();
        let keys: Vec<&str> = entries.iter().map(|(k, _)| *k).collect();
        if keys.is_empty() {
            return Err("no API key given: separate keys with commas, or unset SUBGRAPH_API_KEYS".into());
        }
        if keys.iter().any(|k| k.len() < MIN_KEY_LEN) {
            // Says which position, never the key.
            let position = keys.iter().position(|k| k.len() < MIN_KEY_LEN).map_or(0, |i| i + 1);
            return Err(format!("API key #{position} is shorter than {MIN_KEY_LEN} characters"));
        }
        if keys.iter().any(|k| !k.bytes().all(|b| b.is_ascii_graphic())) {
            return Err("API keys must be printable ASCII without spaces (they travel in an HTTP header)".into());
        }
        Ok(Self(entries.into_iter().map(|(key, locations)| CallerKey { hash: hash(key), locations }).collect()))
    }
}

/// Who a caller is, for what it owns (import jobs): a fingerprint of its API key, never the key;
/// all callers are one (`anonymous`) when they present none.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CallerId(String);

impl CallerId {
    pub fn of(presented: Option<&str>) -> Self {
        match presented.map(str::trim).filter(|k| !k.is_empty()) {
            None => Self("anonymous".to_owned()),
            Some(key) => {
                let digest = Sha256::digest(format!("ghl-subgraph caller\0{key}").as_bytes());
                Self(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
            }
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Why a caller was turned away; both answer 401 with code UNAUTHENTICATED.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallerError {
    #[error("send an API key in the `x-api-key` header")]
    Missing,
    #[error("the API key in `x-api-key` is not valid")]
    Invalid,
}

impl CallerError {
    pub fn code(self) -> ErrorCode {
        ErrorCode::Unauthenticated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "key-a-0123456789abcdef";
    const KEY_B: &str = "key-b-0123456789abcdef";

    fn with_key(key: &str) -> Option<&str> {
        Some(key)
    }

    #[test]
    fn any_configured_key_is_accepted_and_others_are_not() {
        let keys: CallerKeys = format!(" {KEY_A} ,{KEY_B},").parse().unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.check(with_key(KEY_A)), Ok(()));
        assert_eq!(keys.check(with_key(KEY_B)), Ok(()));
        assert_eq!(keys.check(with_key("key-c-0123456789abcdef")), Err(CallerError::Invalid));
        assert_eq!(keys.check(None), Err(CallerError::Missing));
    }

    #[test]
    fn a_key_with_locations_reaches_only_those() {
        let keys: CallerKeys = format!("{KEY_A}=loc-1|loc-2,{KEY_B}").parse().unwrap();
        assert_eq!(keys.check(with_key(KEY_A)), Ok(()));
        assert!(keys.may_reach(with_key(KEY_A), "loc-2"));
        assert!(!keys.may_reach(with_key(KEY_A), "loc-3"));
        assert!(keys.may_reach(with_key(KEY_B), "loc-3"), "no list: every location");
        assert!(!keys.may_reach(with_key("key-c-0123456789abcdef"), "loc-1"));
        let padded: CallerKeys = "YWJjZGVmZ2hpamtsbW5vcA==".parse().unwrap();
        assert_eq!(padded.check(with_key("YWJjZGVmZ2hpamtsbW5vcA==")), Ok(()), "base64 padding stays in the key");
    }

    #[test]
    fn no_keys_lets_everyone_in() {
        assert_eq!(CallerKeys::default().check(None), Ok(()));
    }

    #[test]
    fn short_or_empty_key_lists_fail_at_start_without_echoing_the_key() {
        let error = "abc".parse::<CallerKeys>().unwrap_err();
        assert!(!error.contains("abc"), "{error}");
        assert!(" , ".parse::<CallerKeys>().is_err());
    }

    #[test]
    fn debug_output_holds_no_key_material() {
        let keys: CallerKeys = KEY_A.parse().unwrap();
        let shown = format!("{keys:?}");
        assert_eq!(shown, "CallerKeys(1 configured)");
    }
}
