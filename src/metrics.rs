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

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once and returns its handle (several apps in one test
/// process share it). `None` if another recorder was installed first.
pub fn handle() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok().map(|()| handle)
        })
        .clone()
}
