//! `/readyz`: whether this replica can serve. With a static token that means GHL answers and
//! accepts the token, learned from one cheap call (a one-contact search) at most every
//! [`CHECK_EVERY`], shared by all probes; forwarded and OAuth tokens are the callers' own, so
//! there readiness is GHL being reachable for the tenants seen (no open circuit). The answer says
//! why when not ready, never with a token or an upstream body.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::highlevel::{GhlClient, GhlErrorKind, Tenant, Unavailability};

/// How long one check's verdict stands.
pub const CHECK_EVERY: Duration = Duration::from_secs(15);
/// The longest one check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the subgraph cannot serve, or `None` when it can.
pub type Verdict = Option<&'static str>;

pub struct Readiness {
    client: GhlClient,
    /// The static token's tenant; `None` in forward and OAuth modes.
    tenant: Option<Tenant>,
    last: Mutex<Option<(Instant, Verdict)>>,
    /// One check at a time; other probes wait for its verdict.
    checking: tokio::sync::Mutex<()>,
}

impl Readiness {
    pub fn new(client: GhlClient, tenant: Option<Tenant>) -> Self {
        Self { client, tenant, last: Mutex::new(None), checking: tokio::sync::Mutex::new(()) }
    }

    /// The current verdict, checking GHL when the last one is stale.
    pub async fn verdict(&self) -> Verdict {
        let Some(tenant) = &self.tenant else {
            return None;
        };
        if let Some(verdict) = self.fresh() {
            return verdict;
        }
        let _one = self.checking.lock().await;
        if let Some(verdict) = self.fresh() {
            return verdict;
        }
        let tenant = tenant.clone().until(Instant::now() + CHECK_TIMEOUT);
        let verdict = match self.client.search_contacts(&tenant, None, 1, None).await {
            Ok(_) => None,
            Err(error) => match error.kind {
                GhlErrorKind::Unauthenticated => Some("GHL refuses the configured token (GHL_TOKEN): replace it"),
                GhlErrorKind::MissingScope | GhlErrorKind::Forbidden => {
                    Some("GHL refuses the configured token for this location (GHL_LOCATION_ID) or scope `contacts.readonly`")
                }
                GhlErrorKind::Unavailable { reason: Unavailability::CircuitOpen } => Some("GHL failed repeatedly: the circuit is open"),
                GhlErrorKind::Unavailable { .. } | GhlErrorKind::InvalidResponse => Some("GHL is unreachable or failing"),
                // Busy or refusing the input still means GHL answers and accepts the token.
                GhlErrorKind::RateLimited { .. }
                | GhlErrorKind::Throttled { .. }
                | GhlErrorKind::DailyBudgetExhausted { .. }
                | GhlErrorKind::Rejected { .. }
                | GhlErrorKind::NotFound
                | GhlErrorKind::InvalidId { .. } => None,
            },
        };
        *self.last.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), verdict));
        verdict
    }

    fn fresh(&self) -> Option<Verdict> {
        match *self.last.lock().unwrap_or_else(|p| p.into_inner()) {
            Some((at, verdict)) if at.elapsed() < CHECK_EVERY => Some(verdict),
            _ => None,
        }
    }
}
