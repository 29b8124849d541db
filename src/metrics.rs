//! Prometheus metrics at `/metrics`, recorded with the `metrics` crate's macros where things happen.
//!
//! Names: `ghl_upstream_calls_total{endpoint,method,status}`, `ghl_upstream_call_duration_seconds`,
//! `ghl_upstream_retries_total`, `ghl_upstream_retries_refused_total`, `ghl_upstream_shared_gets_total`,
//! `ghl_limiter_wait_seconds`, `ghl_limiter_rejections_total{reason}`, `ghl_circuit_open{location}`,
//! `ghl_circuit_rejections_total`, `graphql_operations_total{outcome}`, `graphql_operation_duration_seconds`,
//! `ghl_cache_lookups_total{kind,outcome}`, `ghl_cache_evictions_total{kind}`,
//! `ghl_webhook_events_total{type,outcome}` (applied, duplicate, ignored, deferred, unsigned,
//! bad_signature, stale, malformed), `ghl_webhook_invalidation_seconds` (delivery received to cache
//! invalidated), `ghl_webhook_delivery_lag_seconds` (the event's `timestamp` to applied),
//! and in OAuth mode `ghl_oauth_refreshes_total`, `ghl_oauth_refresh_failures_total`,
//! `ghl_oauth_locations_needing_reinstall`.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// How often histogram samples are folded into their summaries.
const UPKEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle (several apps in one test
/// process share it). `None` if another recorder was installed first.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            // Histograms keep every sample until drained: without this, a server nobody scrapes
            // grows by each recorded duration. Its own thread, so no runtime has to outlive it.
            let upkeep = handle.clone();
            let _ = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            });
            Some(handle)
        })
        .clone()
}
