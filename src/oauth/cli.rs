//! `ghl-subgraph tokens list` and `tokens revoke LOCATION`: the store as an operator sees it.
//! Output names locations, scopes, expiry and status, never a token.

use anyhow::Context as _;
use chrono::Utc;

use super::store::{FileStore, TokenStore};
use crate::config::{TokensAction, TokensArgs};

/// Runs a `tokens` command; returns what to print.
pub async fn run_tokens_command(args: TokensArgs) -> anyhow::Result<String> {
    let key = args.token_store_key.context("TOKEN_STORE_KEY is not set: the token store cannot be opened without it")?;
    let store = FileStore::open(&args.token_store, &key).with_context(|| format!("opening the token store {}", args.token_store.display()))?;
    match args.action {
        TokensAction::List => {
            let records = store.list().await.context("reading the token store")?;
            let mut out = format!("{:<28} {:<16} {:<26} {}\n", "LOCATION", "STATUS", "ACCESS TOKEN EXPIRES", "SCOPES");
            for r in &records {
                let expiry = if r.expires_at <= Utc::now() { format!("{} (expired)", r.expires_at.format("%Y-%m-%dT%H:%M:%SZ")) } else { r.expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string() };
                out.push_str(&format!("{:<28} {:<16} {:<26} {}\n", r.location_id, r.status.to_string(), expiry, r.scopes));
            }
            out.push_str(&format!("{} location(s)\n", records.len()));
            Ok(out)
        }
        TokensAction::Revoke { location } => {
            let removed = store.delete(&location).await.context("deleting from the token store")?;
            Ok(if removed {
                format!("removed the tokens of location {location}; it must install the app again (a running server forgets it at restart)\n")
            } else {
                format!("no tokens stored for location {location}\n")
            })
        }
    }
}
