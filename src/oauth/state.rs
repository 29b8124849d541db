//! The OAuth `state` parameter: `nonce.expiry.mac`, HMAC-SHA256 under a key derived from
//! `TOKEN_STORE_KEY`. The MAC makes it unforgeable, the expiry bounds it, and a set of spent
//! nonces makes it single-use, so a callback URL replayed from a browser history does nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::rand_core::RngCore as _;
use chacha20poly1305::aead::OsRng;
use chrono::Utc;
use hmac::{Hmac, Mac};
use sha2::Sha256;

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

    pub fn issue(&self) -> String {
        let mut nonce = [0u8; 16];
        OsRng.fill_bytes(&mut nonce);
        let expiry = Utc::now().timestamp() + i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let payload = format!("{}.{expiry}", URL_SAFE_NO_PAD.encode(nonce));
        format!("{payload}.{}", URL_SAFE_NO_PAD.encode(self.mac(&payload).finalize().into_bytes()))
    }

    /// Accepts a state once, before it expires.
    pub fn redeem(&self, state: &str) -> Result<(), StateError> {
        let (payload, tag) = state.rsplit_once('.').ok_or(StateError::Forged)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| StateError::Forged)?;
        self.mac(payload).verify_slice(&tag).map_err(|_| StateError::Forged)?;
        let (nonce, expiry) = payload.split_once('.').ok_or(StateError::Forged)?;
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
        let state = signer.issue();
        assert_eq!(signer.redeem(&state), Ok(()));
        assert_eq!(signer.redeem(&state), Err(StateError::Reused));
    }

    #[test]
    fn forged_and_expired_states_are_refused() {
        let signer = signer(Duration::from_secs(60));
        let state = signer.issue();
        let (payload, _) = state.rsplit_once('.').unwrap();
        assert_eq!(signer.redeem(&format!("{payload}.AAAA")), Err(StateError::Forged));
        assert_eq!(signer.redeem("nonsense"), Err(StateError::Forged));
        let other = StateSigner::new(&"22".repeat(32).parse().unwrap(), Duration::from_secs(60));
        assert_eq!(other.redeem(&state), Err(StateError::Forged));
        assert_eq!(self::signer(Duration::ZERO).redeem(&self::signer(Duration::ZERO).issue()), Err(StateError::Expired));
    }
}
