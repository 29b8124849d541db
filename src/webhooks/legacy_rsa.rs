//! GHL's retired signature, kept for receivers that still see it: RSA PKCS#1 v1.5 with SHA-256
//! over the raw body, base64 in `x-wh-signature`. GHL stopped sending it in July 2026, so it is
//! checked only with `--webhook-legacy-rsa`; ring (already under rustls) does the maths.

use base64::Engine as _;
use ring::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};

/// GHL's published RSA key (`../shared/ghl/webhooks/public-key.pem`, 4096 bits).
const GHL_LEGACY_PUBLIC_KEY_PEM: &str = include_str!("ghl-legacy-rsa-public-key.pem");

/// The header GHL's legacy signature came in.
pub const LEGACY_SIGNATURE_HEADER: &str = "x-wh-signature";

/// DER of the `rsaEncryption` algorithm identifier's OID (1.2.840.113549.1.1.1).
const RSA_ENCRYPTION_OID: &[u8] = &[0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// An RSA public key, held as the PKCS#1 `RSAPublicKey` DER that ring verifies with.
#[derive(Clone, Debug)]
pub struct LegacyRsaKey(Vec<u8>);

impl std::str::FromStr for LegacyRsaKey {
    type Err = String;

    /// PEM: `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1).
    fn from_str(raw: &str) -> Result<Self, String> {
        let refused = || "must be an RSA public key in PEM (PUBLIC KEY or RSA PUBLIC KEY)".to_owned();
        let raw = raw.trim();
        if !raw.starts_with("-----BEGIN") {
            return Err(refused());
        }
        let body: String = raw.lines().filter(|line| !line.starts_with("-----")).map(str::trim).collect();
        let der = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| refused())?;
        let pkcs1 = if raw.starts_with("-----BEGIN RSA PUBLIC KEY-----") { Some(der) } else { spki_rsa_key(&der).map(<[u8]>::to_vec) };
        pkcs1.filter(|key| der_item(key).is_some_and(|(tag, _, rest)| tag == 0x30 && rest.is_empty())).map(Self).ok_or_else(refused)
    }
}

impl LegacyRsaKey {
    /// GHL's own legacy key.
    pub fn ghl() -> Self {
        GHL_LEGACY_PUBLIC_KEY_PEM.parse().expect("GHL's published RSA key parses")
    }

    /// True when this is GHL's published legacy key.
    pub fn is_ghl(&self) -> bool {
        self.0 == Self::ghl().0
    }

    /// The first 8 bytes of the key's SHA-256 (over its PKCS#1 DER), in hex.
    pub fn fingerprint(&self) -> String {
        fingerprint(&self.0)
    }

    /// True when `signature` (base64, as sent) is this key's RSA-SHA256 signature of `body`.
    pub fn verifies(&self, body: &[u8], signature: &str) -> bool {
        let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(signature.trim()) else { return false };
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &self.0).verify(body, &signature).is_ok()
    }
}

/// The `RSAPublicKey` inside an SPKI `SEQUENCE { SEQUENCE { rsaEncryption, NULL }, BIT STRING }`.
fn spki_rsa_key(der: &[u8]) -> Option<&[u8]> {
    let (0x30, spki, []) = der_item(der)? else { return None };
    let (0x30, algorithm, rest) = der_item(spki)? else { return None };
    if !algorithm.starts_with(RSA_ENCRYPTION_OID) {
        return None;
    }
    let (0x03, bits, []) = der_item(rest)? else { return None };
    // The first byte of a BIT STRING counts its unused bits: none in a key.
    bits.strip_prefix(&[0])
}

/// One DER item: (tag, contents, what follows).
fn der_item(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count].iter().fold(0usize, |len, &b| (len << 8) | usize::from(b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The first 8 bytes of SHA-256 over `key`, in hex (keys are public; this only names them).
pub(super) fn fingerprint(key: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(key)[..8].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};

    use super::*;

    const TEST_PRIVATE_KEY: &str = include_str!("../../tests/fixtures/webhooks/test-legacy-rsa-private-key.pem");
    const TEST_PUBLIC_KEY: &str = include_str!("../../tests/fixtures/webhooks/test-legacy-rsa-public-key.pem");

    fn sign(body: &[u8]) -> String {
        let pem: String = TEST_PRIVATE_KEY.lines().filter(|l| !l.starts_with("-----")).collect();
        let pair = RsaKeyPair::from_pkcs8(&base64::engine::general_purpose::STANDARD.decode(pem).unwrap()).unwrap();
        let mut signature = vec![0; pair.public().modulus_len()];
        pair.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), body, &mut signature).unwrap();
        base64::engine::general_purpose::STANDARD.encode(signature)
    }

    #[test]
    fn ghls_legacy_key_parses_and_nonsense_does_not() {
        assert!(LegacyRsaKey::ghl().0.len() > 512, "a 4096-bit modulus");
        for nonsense in ["", "MIIBIjAN", "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAi2HR1srL4o18O8BRa7gVJY7G7bupbN3H9AwJrHCDiOg=\n-----END PUBLIC KEY-----"] {
            assert!(nonsense.parse::<LegacyRsaKey>().is_err(), "{nonsense}: an Ed25519 key is not an RSA key");
        }
    }

    #[test]
    fn only_the_keys_signature_of_the_exact_bytes_verifies() {
        let key: LegacyRsaKey = TEST_PUBLIC_KEY.parse().expect("test key");
        let body = br#"{"type":"ContactUpdate","locationId":"loc","id":"c1"}"#;
        let signature = sign(body);
        assert!(key.verifies(body, &signature));
        assert!(!key.verifies(br#"{"type":"ContactUpdate","locationId":"loc","id":"c2"}"#, &signature));
        assert!(!LegacyRsaKey::ghl().verifies(body, &signature), "another key");
        assert!(!key.verifies(body, "garbage"));
    }
}
