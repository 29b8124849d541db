//! GHL's webhook signature: Ed25519 over the raw body, base64 in `x-ghl-signature`, checked with
//! GHL's published key (or one given as PEM, base64 or hex).

use base64::Engine as _;
use ed25519_dalek::pkcs8::DecodePublicKey as _;
use ed25519_dalek::{Signature, VerifyingKey};

/// GHL's published webhook key (`../shared/ghl/webhooks/ed25519-public-key.pem`).
pub const GHL_PUBLIC_KEY_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=\n-----END PUBLIC KEY-----\n";

/// The header GHL signs webhooks in.
pub const SIGNATURE_HEADER: &str = "x-ghl-signature";

/// A webhook public key.
#[derive(Clone, Debug)]
pub struct WebhookKey(VerifyingKey);

impl std::str::FromStr for WebhookKey {
    type Err = String;

    /// PEM (SPKI), base64 of the SPKI DER or of the 32 raw bytes, or 64 hex digits.
    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let refused = || "must be an Ed25519 public key: PEM, base64 (SPKI or 32 raw bytes) or 64 hex digits".to_owned();
        if raw.starts_with("-----BEGIN") {
            return VerifyingKey::from_public_key_pem(raw).map(Self).map_err(|_| refused());
        }
        let bytes = if raw.len() == 64 && raw.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32).map(|i| u8::from_str_radix(&raw[2 * i..2 * i + 2], 16)).collect::<Result<Vec<u8>, _>>().map_err(|_| refused())?
        } else {
            base64::engine::general_purpose::STANDARD.decode(raw).map_err(|_| refused())?
        };
        match <[u8; 32]>::try_from(bytes.as_slice()) {
            Ok(raw_key) => VerifyingKey::from_bytes(&raw_key).map(Self).map_err(|_| refused()),
            Err(_) => VerifyingKey::from_public_key_der(&bytes).map(Self).map_err(|_| refused()),
        }
    }
}

impl WebhookKey {
    /// GHL's own key.
    pub fn ghl() -> Self {
        GHL_PUBLIC_KEY_PEM.parse().expect("GHL's published key parses")
    }

    /// True when this is GHL's published key.
    pub fn is_ghl(&self) -> bool {
        self.0 == Self::ghl().0
    }

    /// The first 8 bytes of the key's SHA-256, in hex: tells keys apart in reports.
    pub fn fingerprint(&self) -> String {
        super::legacy_rsa::fingerprint(self.0.as_bytes())
    }

    /// True when `signature` (base64, as sent) is this key's Ed25519 signature of `body`.
    pub fn verifies(&self, body: &[u8], signature: &str) -> bool {
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
        let Ok(signature) = Signature::from_slice(&bytes) else { return false };
        self.0.verify_strict(body, &signature).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::{Signer as _, SigningKey};

    use super::*;

    #[test]
    fn ghls_key_parses_in_every_accepted_form() {
        let pem = WebhookKey::ghl();
        let raw = pem.0.to_bytes();
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let spki_b64 = "MCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=";
        for form in [hex.clone(), spki_b64.to_owned(), base64::engine::general_purpose::STANDARD.encode(raw)] {
            assert_eq!(form.parse::<WebhookKey>().map(|k| k.0.to_bytes()), Ok(raw), "{form}");
        }
        assert!("not a key".parse::<WebhookKey>().is_err());
    }

    #[test]
    fn only_the_keys_signature_of_the_exact_bytes_verifies() {
        let signing = SigningKey::from_bytes(&[7; 32]);
        let key = WebhookKey(signing.verifying_key());
        let body = br#"{"type":"ContactUpdate","locationId":"loc","id":"c1"}"#;
        let signature = base64::engine::general_purpose::STANDARD.encode(signing.sign(body).to_bytes());
        assert!(key.verifies(body, &signature));
        assert!(!key.verifies(br#"{"type":"ContactUpdate","locationId":"loc","id":"c2"}"#, &signature));
        assert!(!WebhookKey::ghl().verifies(body, &signature), "another key");
        assert!(!key.verifies(body, "garbage"));
    }
}
