//! `ghl-subgraph tokens list` and `tokens revoke LOCATION`: the store as an operator sees it.
//! Output names locations, scopes, expiry and status, never a token, and shows stored text only
//! through [`printable`], so a crafted record cannot drive the operator's terminal.

use std::borrow::Cow;

use anyhow::Context as _;
use chrono::Utc;
use secrecy::ExposeSecret as _;

use super::store::{FileStore, Listing, TokenStore};
use crate::highlevel::PathId;

#[derive(clap::Args, Debug, Clone)]
pub struct TokensArgs {
    #[command(subcommand)]
    pub action: TokensAction,
    /// Directory of the encrypted token store.
    #[arg(long, env = "TOKEN_STORE", default_value = "./ghl-tokens", global = true)]
    pub token_store: std::path::PathBuf,
    /// Key of the token store: 32 bytes as 64 hex digits or base64. Never logged.
    #[arg(long, env = "TOKEN_STORE_KEY", hide_env_values = true, global = true)]
    pub token_store_key: Option<super::StoreKey>,
}

#[derive(clap::Subcommand, Debug, Clone)]
pub enum TokensAction {
    /// Every stored location and agency install: scopes, access token expiry, status, an agency's
    /// approved locations, which locations are minted from one (never a token).
    List,
    /// Delete a location's stored tokens; it must install the app again.
    Revoke {
        /// The GHL location id.
        location: String,
    },
}

/// Runs a `tokens` command; returns what to print.
pub async fn run_tokens_command(args: TokensArgs) -> anyhow::Result<String> {
    let key = args.token_store_key.context("TOKEN_STORE_KEY is not set: the token store cannot be opened without it")?;
    let store = FileStore::open_existing(&args.token_store, &key)?;
    match args.action {
        TokensAction::List => Ok(listing(&store.scan().await.context("reading the token store")?)),
        TokensAction::Revoke { location } => {
            let removed = store.delete(&location).await.context("deleting from the token store")?;
            Ok(if removed {
                format!("removed the tokens of location {}; it must install the app again (a running server forgets it at restart)\n", printable(&location))
            } else {
                format!("no tokens stored for location {}\n", printable(&location))
            })
        }
    }
}

/// The `tokens list` table: readable records, then the files that do not open.
fn listing(listing: &Listing) -> String {
    let records = &listing.records;
    let mut out = format!("{:<28} {:<16} {:<26} {}\n", "LOCATION", "STATUS", "ACCESS TOKEN EXPIRES", "SCOPES");
    for r in records {
        let expires = r.expires_at.format("%Y-%m-%dT%H:%M:%SZ");
        let expiry = if r.expires_at <= Utc::now() { format!("{expires} (expired)") } else { expires.to_string() };
        let location = match (&r.agency, PathId::parse(&r.location_id, "locationId")) {
            (Some(_), _) => format!("agency {}", printable(r.company_id.as_deref().unwrap_or_default())),
            (None, Ok(id)) => id.to_string(),
            // Installs store only valid ids; anything else was put there by hand, or worse.
            (None, Err(_)) => format!("(invalid id) {}", printable(&r.location_id)),
        };
        out.push_str(&format!("{location:<28} {:<16} {expiry:<26} {}\n", r.status.to_string(), printable(&r.scopes)));
        if let Some(agency) = &r.agency {
            let approved: Vec<String> = agency.approved_locations.iter().map(|l| printable(l).into_owned()).collect();
            let future = if agency.install_to_future_locations { "; future locations too" } else { "" };
            let all = if agency.approve_all_locations { " (all)" } else { "" };
            out.push_str(&format!("  approved locations{all}: {}{future}\n", approved.join(", ")));
        } else if r.refresh_token.expose_secret().is_empty() {
            out.push_str(&format!("  minted from agency {}\n", printable(r.company_id.as_deref().unwrap_or_default())));
        }
    }
    for d in &listing.damaged {
        let location = match &d.location {
            Some(location) => printable(location).into_owned(),
            None => "(unknown)".to_owned(),
        };
        let file = d.path.file_name().map_or_else(String::new, |f| printable(&f.to_string_lossy()).into_owned());
        out.push_str(&format!("{location:<28} {:<16} cannot be opened (damaged, or another TOKEN_STORE_KEY): {file}\n", "damaged"));
    }
    let agencies = records.iter().filter(|r| r.is_company()).count();
    out.push_str(&format!("{} location(s)", records.len() - agencies));
    if agencies > 0 {
        out.push_str(&format!(", {agencies} agency install(s)"));
    }
    if !listing.damaged.is_empty() {
        out.push_str(&format!(", {} damaged", listing.damaged.len()));
    }
    out.push('\n');
    out
}

/// Printable ASCII as it is; every other character as a `\u{..}` escape (control characters,
/// escape sequences, bidi overrides), and `\` doubled so an escape cannot be faked.
fn printable(text: &str) -> Cow<'_, str> {
    if text.bytes().all(|b| (b' '..=b'~').contains(&b) && b != b'\\') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(
        text.chars()
            .map(|c| match c {
                '\\' => "\\\\".to_owned(),
                ' '..='~' => c.to_string(),
                c => format!("\\u{{{:x}}}", u32::from(c)),
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{TokenRecord, TokenStatus};
    use secrecy::SecretString;

    fn record(location: &str, scopes: &str) -> TokenRecord {
        TokenRecord {
            location_id: location.into(),
            company_id: None,
            user_id: None,
            scopes: scopes.into(),
            access_token: SecretString::from("at"),
            refresh_token: SecretString::from("rt"),
            expires_at: Utc::now(),
            status: TokenStatus::Active,
            updated_at: Utc::now(),
            generation: 1,
            agency: None,
        }
    }

    #[test]
    fn listed_ids_and_scopes_cannot_carry_terminal_escapes() {
        let out = listing(&Listing {
            records: vec![
                record("evil\u{1b}]0;owned\u{7}\u{1b}[2J\r\nloc", "contacts.readonly\u{1b}[31m \u{202e}x\\u{1b}"),
                record("loc-ok_1", "contacts.readonly"),
            ],
            damaged: vec![],
        });
        assert!(out.chars().all(|c| c == '\n' || (' '..='~').contains(&c)), "{out:?}");
        assert_eq!(out.lines().count(), 4, "one line per record: {out:?}");
        assert!(out.contains("(invalid id) evil\\u{1b}]0;owned\\u{7}\\u{1b}[2J\\u{d}\\u{a}loc"), "{out}");
        assert!(out.contains("contacts.readonly\\u{1b}[31m \\u{202e}x\\\\u{1b}"), "a literal backslash is doubled: {out}");
        assert!(out.contains("\nloc-ok_1 "), "{out}");
    }
}
