//! Logging setup: structured `tracing` to stderr, filtered by `RUST_LOG`.
//!
//! Upstream calls log at `debug`; nothing here ever records a token (tenants redact themselves).

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; `RUST_LOG` overrides the default `info` for our crates.
/// Colours only on a terminal: a file, pipe or log collector gets plain text.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("ghl_subgraph=info,ghl_sandbox=info,warn"));
    let ansi = std::io::stderr().is_terminal();
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_ansi(ansi).with_writer(std::io::stderr).try_init();
}
