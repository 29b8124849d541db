//! The OAuth `state` parameter: `nonce.expiry.binding.mac`, HMAC-SHA256 under a key derived from
//! `TOKEN_STORE_KEY`. The MAC makes it unforgeable, the expiry bounds it, and a set of spent
//! nonces makes it single-use, so a callback URL replayed from a browser history does nothing.
//! `binding` is the SHA-256 of a secret kept in the installing browser's cookie (see `browser`):
//! a state only works from the browser it was issued to, so an install link cannot be started by
//! one person and completed in another's browser (login CSRF).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::OsRng;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::{Digest as _, Sha256};

use super::store::StoreKey;

type HmacSha256 = Hmac<Sha256>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("the `state` parameter is missing or was not issued by this server")]
    Forged,
    #[error("the install link expired: start again from /oauth/install")]
    Expired,
    #[error("this install link was already used: start again from /oauth/install")]
    Reused,
    /// The cookie is missing or belongs to another install: someone else's link, or cookies are off.
    #[error("this install was not started in this browser (or its cookie was lost): start again from /oauth/install, in the browser you approve it in")]
    OtherBrowser,
}

/// A fresh `state` and the secret that must come back in the same browser's cookie.
pub struct Issued {
    pub state: String,
    pub browser_secret: String,
}

pub struct StateSigner {
    key: [u8; 32],
    ttl: Duration,
    /// Spent nonces with their expiry (unix seconds); pruned as they expire.
    spent: Mutex<HashMap<String, i64>>,
}

impl StateSigner {
    /// The signing key is derived, so the store key itself never signs anything public.
    pub fn new(store_key: &StoreKey, ttl: Duration) -> Self {
        let mut mac = keyed(store_key.bytes());
        mac.update(b"ghl-subgraph oauth state v1");
        Self { key: mac.finalize().into_bytes().into(), ttl, spent: Mutex::new(HashMap::new()) }
    }

    /// How long a state (and its cookie) lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(&self) -> Issued {
        let (mut nonce, mut secret) = ([0u8; 16], [0u8; 32]);
        OsRng.fill_bytes(&mut nonce);
        OsRng.fill_bytes(&mut secret);
        let browser_secret = URL_SAFE_NO_PAD.encode(secret);
        let expiry = Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let payload = format!("{}.{expiry}.{}", URL_SAFE_NO_PAD.encode(nonce), binding_of(&browser_secret));
        let state = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes()));
        Issued { state, browser_secret }
    }

    /// Accepts a state once, before it expires, from the browser it was issued to (`browser_secret`
    /// is that browser's cookie). A state refused for its browser is not spent: the right browser
    /// can still complete it.
    pub fn redeem(&self, state: &str, browser_secret: Option<&str>) -> Result<(), StateError> {
        let (payload, tag) = state.rsplit_once('.').ok_or(StateError::Forged)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| StateError::Forged)?;
        self.mac(payload).verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let mut parts = payload.split('.');
        let (Some(nonce), Some(expiry), Some(binding), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(StateError::Forged);
        };
        let expiry: i64 = expiry.parse().map_err(|_| StateError::Forged)?;
        let now = Utc::now().timestamp();
        let mut spent = self.spent.lock().unwrap_or_else(|p| p.into_inner());
        // A spent state says so even once it has expired: the more useful message.
        if spent.contains_key(nonce) {
            return Err(StateError::Reused);
        }
        if expiry <= now {
            return Err(StateError::Expired);
        }
        if !browser_secret.is_some_and(|secret| same(binding_of(secret).as_bytes(), binding.as_bytes())) {
            return Err(StateError::OtherBrowser);
        }
        spent.retain(|_, until| *until > now);
        spent.insert(nonce.to_owned(), expiry);
        Ok(())
    }

    fn mac(&self, payload: &str) -> HmacSha256 {
        let mut mac = keyed(&self.key);
        mac.update(payload.as_bytes());
        mac
    }
}

/// What a state carries of its browser's secret: a hash, so the URL (logs, history, Referer) never
/// reveals the cookie.
fn binding_of(browser_secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(browser_secret.as_bytes()))
}

/// Equality in time independent of where the inputs differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// HMAC-SHA256 under a 32-byte key. HMAC zero-pads keys to the block size (64 bytes), so the
/// padded block is the same key, and this constructor cannot fail.
fn keyed(key: &[u8; 32]) -> HmacSha256 {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    <HmacSha256 as hmac::digest::KeyInit>::new(&block.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(ttl: Duration) -> StateSigner {
        StateSigner::new(&"11".repeat(32).parse().unwrap(), ttl)
    }

    #[test]
    fn a_state_works_once() {
        let signer = signer(Duration::from_secs(60));
        let issued = signer.issue();
        assert_eq!(signer.redeem(&issued.state, Some(&issued.browser_secret)), Ok(()));
        assert_eq!(signer.redeem(&issued.state, Some(&issued.browser_secret)), Err(StateError::Reused));
    }

    #[test]
    fn forged_and_expired_states_are_refused() {
        let signer = signer(Duration::from_secs(60));
        let issued = signer.issue();
        let (state, secret) = (issued.state.as_str(), Some(issued.browser_secret.as_str()));
        let (payload, _) = state.rsplit_once('.').unwrap();
        assert_eq!(signer.redeem(&format!("{payload}.AAAA"), secret), Err(StateError::Forged));
        assert_eq!(signer.redeem("nonsense", secret), Err(StateError::Forged));
        let other = StateSigner::new(&"22".repeat(32).parse().unwrap(), Duration::from_secs(60));
        assert_eq!(other.redeem(state, secret), Err(StateError::Forged));
        let expired = self::signer(Duration::ZERO);
        let issued = expired.issue();
        assert_eq!(expired.redeem(&issued.state, Some(&issued.browser_secret)), Err(StateError::Expired));
    }

    #[test]
    fn a_state_works_only_with_the_secret_of_its_browser_and_stays_unspent_otherwise() {
        let signer = signer(Duration::from_secs(60));
        let (mine, theirs) = (signer.issue(), signer.issue());
        assert!(!mine.state.contains(&mine.browser_secret), "the URL never carries the cookie");
        assert_eq!(signer.redeem(&mine.state, None), Err(StateError::OtherBrowser));
        assert_eq!(signer.redeem(&mine.state, Some(&theirs.browser_secret)), Err(StateError::OtherBrowser));
        assert_eq!(signer.redeem(&mine.state, Some("")), Err(StateError::OtherBrowser));
        assert_eq!(signer.redeem(&mine.state, Some(&mine.browser_secret)), Ok(()));
    }
}
