//! OAuth app mode (`--auth oauth`): the subgraph holds a GHL marketplace app's credentials and one
//! token pair per installed location, or per agency (`--oauth-install-level agency`) whose token
//! mints its locations' tokens.
//!
//! - `flow`: `/oauth/install` → GHL consent → `/oauth/callback`, guarded by a signed, single-use `state`.
//! - `state`: signing and checking that `state`, bound to the installing browser.
//! - `browser`: the install cookie that carries that binding.
//! - `grant`: the one client of GHL's token endpoints (code exchange, refresh, `locationToken`).
//! - `store`: the `TokenStore` trait and its embedded default, encrypted files written atomically.
//! - `tokens`: per-location tenants that renew themselves, single-flight, persisted before use;
//!   under an agency install, minted from the agency's token (which recovers a lost pair).
//! - `cli`: `ghl-subgraph tokens list|revoke`.
//! - `setup`: wiring from the flags at start-up.

mod browser;
mod cli;
mod error;
mod flow;
mod grant;
mod setup;
mod state;
mod store;
mod tokens;

pub use cli::{run_tokens_command, TokensAction, TokensArgs};
pub use error::OAuthError;
pub use flow::{routes, FlowConfig, InstallLevel};
pub use grant::{AgencyGrant, GrantClient, GrantConfig, NotInstallable};
pub use setup::{OAuthApp, OAuthSettings};
pub use state::StateSigner;
pub use store::{company_key, Damaged, FileStore, Listing, Sealer, StoreError, StoreKey, TokenRecord, TokenStatus, TokenStore};
pub use tokens::{InstallError, TokenManager};
