//! The `sandbox` command (`ghl-subgraph sandbox …`): flags (with env fallbacks for `--listen`) map onto
//! [`SandboxConfig`]; `run_cli` starts the sandbox, prints how to use it and runs until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::time::Duration;

use crate::auth::STATIC_TOKENS;
use crate::config::{RateLimit, SandboxConfig, MAX_CONTACTS};
use crate::duplicates::DuplicateSetting;
use crate::server::Sandbox;
use crate::{API_VERSION, LOCATION_ID, OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET, OTHER_LOCATION_ID};

/// Run a seeded, in-memory simulator of the HighLevel (GHL) Contacts API.
#[derive(clap::Args, Debug, Clone)]
pub struct SandboxArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, env = "SANDBOX_LISTEN", default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Number of seeded contacts in the location `sandbox-location`, at most 1,000,000 (all are
    /// held in memory: a larger count would exhaust it instead of failing here).
    #[arg(long, default_value_t = 200, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(0..=MAX_CONTACTS as u64))]
    pub contacts: usize,
    /// Seed of the data generator: the same seed gives the same data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Latency added before answering every API call, e.g. `50ms`.
    #[arg(long, default_value = "0s", value_parser = humantime::parse_duration)]
    pub latency: Duration,
    /// Burst rate limit per token and location, as MAX/INTERVAL, e.g. `100/10s`.
    #[arg(long, default_value = "100/10s")]
    pub rate_limit: RateLimit,
    /// Requests per day per token and location.
    #[arg(long, default_value_t = 200_000)]
    pub daily_limit: u64,
    /// Lifetime (`expires_in`) of OAuth access tokens, e.g. `86399s` or `1h`.
    #[arg(long, default_value = "86399s", value_parser = humantime::parse_duration)]
    pub token_ttl: Duration,
    /// Lifetime of an agency's (Company) own access tokens; by default `--token-ttl`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub company_token_ttl: Option<Duration>,
    /// Deliver signed webhook events (like GHL's) for every write to this URL, e.g.
    /// `http://127.0.0.1:4001/webhooks/ghl`.
    #[arg(long)]
    pub webhook_url: Option<String>,
    /// How often a delivery answered with 429 is sent again.
    #[arg(long, default_value_t = 6)]
    pub webhook_retries: u32,
    /// Wait between those deliveries.
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    pub webhook_retry_interval: Duration,
    /// Every location's "Allow Duplicate Contact" setting, which `POST /contacts/` and
    /// `POST /contacts/upsert` follow: `allow`, `email-then-phone`, `phone-then-email`,
    /// `email-only` or `phone-only` (`PUT /__sandbox/locations/{id}/duplicate-setting` changes one).
    #[arg(long, default_value = "email-then-phone")]
    pub duplicate_setting: DuplicateSetting,
}

impl SandboxArgs {
    pub fn into_config(self) -> SandboxConfig {
        SandboxConfig {
            listen: self.listen,
            contacts: self.contacts,
            seed: self.seed,
            latency: self.latency,
            rate_limit: self.rate_limit,
            daily_limit: self.daily_limit,
            access_token_ttl: self.token_ttl,
            company_token_ttl: self.company_token_ttl,
            webhook_url: self.webhook_url,
            webhook_retries: self.webhook_retries,
            webhook_retry_interval: self.webhook_retry_interval,
            duplicate_setting: self.duplicate_setting,
        }
    }
}

/// Starts the sandbox, prints its URL, credentials and control endpoints, and serves until Ctrl-C
/// or SIGTERM.
pub async fn run_cli(args: SandboxArgs) -> std::io::Result<()> {
    let config = args.into_config();
    let summary = format!(
        "{} contacts, seed {}, latency {}, rate limit {}, daily limit {}, duplicates {}",
        config.contacts,
        config.seed,
        humantime::format_duration(config.latency),
        config.rate_limit,
        config.daily_limit,
        config.duplicate_setting
    );
    let sandbox = Sandbox::spawn(config).await?;
    let url = sandbox.base_url();
    println!("GHL sandbox listening on {url} ({summary})");
    println!();
    println!("  location id      {LOCATION_ID}   (second location: {OTHER_LOCATION_ID})");
    println!("  headers          Authorization: Bearer <token>, Version: {API_VERSION}");
    for (token, location, scopes) in STATIC_TOKENS {
        println!("  token            {token:<30} {location:<18} {}", scopes.join(" "));
    }
    println!("  oauth client     {OAUTH_CLIENT_ID} / {OAUTH_CLIENT_SECRET}");
    println!("  oauth consent    {url}/oauth/chooselocation?response_type=code&client_id={OAUTH_CLIENT_ID}&redirect_uri=<uri>&scope=contacts.readonly%20contacts.write");
    println!("  oauth token      POST {url}/oauth/token (form-encoded)");
    println!();
    println!(
        "  try              curl -H 'Authorization: Bearer {}' -H 'Version: {API_VERSION}' '{url}/contacts/?locationId={LOCATION_ID}&limit=2'",
        crate::READ_TOKEN
    );
    println!();
    println!("  control API (no auth)");
    println!("    GET    {url}/__sandbox/info");
    println!("    GET    {url}/__sandbox/requests     DELETE to clear");
    println!(
        "    POST   {url}/__sandbox/faults       e.g. {{\"method\":\"GET\",\"path\":\"/contacts/*/tasks\",\"kind\":\"status\",\"status\":503,\"count\":2}}"
    );
    println!("    GET    {url}/__sandbox/faults       DELETE to clear");
    println!("           kinds: status (+ rateLimitHeaders), status_after, latency (latencyMs), reset_before, reset_after, malformed, slow_body");
    println!("    PUT    {url}/__sandbox/locations/{LOCATION_ID}/duplicate-setting   e.g. {{\"setting\":\"phone-then-email\"}}");
    wait_for_signal().await;
    println!("shutting down");
    sandbox.shutdown().await;
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        sandbox: SandboxArgs,
    }

    #[test]
    fn contacts_above_the_cap_are_refused_naming_the_flag_and_range() {
        assert_eq!(Cli::try_parse_from(["sandbox", "--contacts", "1000000"]).unwrap().sandbox.contacts, MAX_CONTACTS);
        let error = Cli::try_parse_from(["sandbox", "--contacts", "100000000"]).unwrap_err().to_string();
        assert!(error.contains("--contacts") && error.contains("0..=1000000"), "{error}");
    }

    #[test]
    fn the_duplicate_setting_flag_defaults_to_email_then_phone() {
        assert_eq!(Cli::try_parse_from(["sandbox"]).unwrap().sandbox.into_config().duplicate_setting, DuplicateSetting::EmailThenPhone);
        let args = Cli::try_parse_from(["sandbox", "--duplicate-setting", "phone-then-email"]).unwrap().sandbox;
        assert_eq!(args.into_config().duplicate_setting, DuplicateSetting::PhoneThenEmail);
        let error = Cli::try_parse_from(["sandbox", "--duplicate-setting", "both"]).unwrap_err().to_string();
        assert!(error.contains("--duplicate-setting") && error.contains("email-then-phone"), "{error}");
    }
}
