//! `webhooks`: which keys `POST /webhooks/ghl` verifies deliveries with (GHL's published keys or
//! others), whether the retired RSA signature is still accepted, and the time window. Keys are
//! public, but only a short SHA-256 fingerprint of each is shown.

use std::time::Duration;

use super::report::Check;
use crate::webhooks::WebhookSettings;

/// Where a verification key came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// GHL's published key (the default).
    Ghl { fingerprint: String },
    /// A key set in the settings.
    Configured { fingerprint: String },
    /// The embedded sandbox's own signing key.
    EmbeddedSandbox { fingerprint: String },
}

/// The webhook route's verification settings, as the receiver uses them.
#[derive(Clone, Debug)]
pub struct WebhookSetup {
    pub key: KeyOrigin,
    /// `None`: `x-wh-signature` is refused.
    pub legacy_rsa: Option<KeyOrigin>,
    pub max_age: Duration,
    /// Static mode: events of other locations are ignored.
    pub location: Option<String>,
}

impl WebhookSetup {
    pub fn from_settings(settings: &WebhookSettings, embedded_sandbox: bool) -> Self {
        let fingerprint = settings.key.fingerprint();
        let key = match (embedded_sandbox, settings.key.is_ghl()) {
            (true, _) => KeyOrigin::EmbeddedSandbox { fingerprint },
            (false, true) => KeyOrigin::Ghl { fingerprint },
            (false, false) => KeyOrigin::Configured { fingerprint },
        };
        let legacy_rsa = settings.legacy_rsa.as_ref().map(|rsa| match rsa.is_ghl() {
            true => KeyOrigin::Ghl { fingerprint: rsa.fingerprint() },
            false => KeyOrigin::Configured { fingerprint: rsa.fingerprint() },
        });
        Self { key, legacy_rsa, max_age: settings.max_age, location: settings.location.clone() }
    }
}

pub(super) fn check(setup: &WebhookSetup) -> Check {
    let key = match &setup.key {
        KeyOrigin::Ghl { fingerprint } => format!("GHL's published Ed25519 key (fingerprint {fingerprint})"),
        KeyOrigin::Configured { fingerprint } => format!("the Ed25519 key in WEBHOOK_PUBLIC_KEY (fingerprint {fingerprint}), not GHL's published one"),
        KeyOrigin::EmbeddedSandbox { fingerprint } => format!("the embedded sandbox's Ed25519 key (fingerprint {fingerprint})"),
    };
    let legacy = match &setup.legacy_rsa {
        None => "the retired x-wh-signature (RSA) is refused".to_owned(),
        Some(KeyOrigin::Ghl { fingerprint }) => {
            format!("the retired x-wh-signature (RSA) is still accepted, with GHL's published key (fingerprint {fingerprint})")
        }
        Some(KeyOrigin::Configured { fingerprint } | KeyOrigin::EmbeddedSandbox { fingerprint }) => {
            format!("the retired x-wh-signature (RSA) is still accepted, with the key in WEBHOOK_LEGACY_RSA_KEY (fingerprint {fingerprint})")
        }
    };
    let scope = match &setup.location {
        Some(location) => format!("; only events of location `{location}` apply"),
        None => String::new(),
    };
    let diagnosis =
        format!("x-ghl-signature is verified with {key}; {legacy}; events up to {} old are accepted{scope}", humantime::format_duration(setup.max_age));
    match (&setup.legacy_rsa, &setup.key) {
        (Some(_), _) => Check::warning("webhooks", diagnosis, "GHL stopped sending x-wh-signature on 2026-07-01: set WEBHOOK_LEGACY_RSA=false"),
        (None, KeyOrigin::Configured { .. }) => Check::warning(
            "webhooks",
            diagnosis,
            "unset WEBHOOK_PUBLIC_KEY unless GHL announced this key: deliveries GHL signs verify only with GHL's current key",
        ),
        _ => Check::ok("webhooks", diagnosis),
    }
}
