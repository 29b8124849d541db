//! A seeded, in-memory simulator of the HighLevel (GHL) Contacts API v2, written from the official
//! OpenAPI specs (`spec/*.json`) so that our client is tested against GHL's envelopes, quirks, errors,
//! scopes, tokens and rate limits rather than against a loose mock.
//!
//! Module map (one request flows top to bottom):
//! - `server`: binds the listener, serves connections (and can kill one, for reset faults), owns
//!   [`RunningSandbox`], the handle tests and the CLI drive.
//! - `gateway`: middleware in front of every API route: request log, faults, latency, bearer token,
//!   `Version` header and rate limits, in that order.
//! - `routes`: one file per resource (contacts, tasks, notes, appointments, tags, search, oauth,
//!   control); each handler declares its scope with the `Scoped` extractor and answers with the
//!   spec's envelope. `app_edits` runs the same handlers as changes made in the GHL app
//!   (`/__sandbox/contacts…`: no token, not logged, not rate limited, webhooks as for API writes).
//! - `webhooks`: after each successful write, GHL's signed event to the webhook URL (`events` maps
//!   writes to events), with delivery faults ([`WebhookFault`]) and a record of every delivery.
//! - `store` and `data`: the in-memory state (contacts with their tasks, notes and appointments),
//!   the seeded generator and the wire shapes; `duplicates`: each location's "Allow Duplicate
//!   Contact" setting ([`DuplicateSetting`]), which creates and upserts follow.
//! - `installs`: where the app is installed (locations, agency installs), which OAuth and the
//!   INSTALL/UNINSTALL webhooks follow.
//! - `auth`, `oauth`, `rate_limit`, `faults`, `request_log`: the concerns the gateway composes.
//! - `config` and `cli`: typed configuration ([`SandboxConfig`]) and the `sandbox` command ([`SandboxArgs`]).
//!
//! Error shapes (all JSON, NestJS style like GHL): 401 `{"statusCode":401,"message":"Invalid JWT"}`
//! for a missing, unknown or expired token, 401 `version header was not found.` / `version header is
//! invalid`, 401 `The token is not authorized for this scope.`, 403 `The token does not have access to
//! this location.`, 400 `Contact not found` / `Task not found` / `Note not found` / `Appointment not
//! found` for unknown ids (GHL answers 400, not 404, for ids it cannot find), 422 with `message` as an
//! array of strings for a bad body, 429 `Too Many Requests`, 404 `Cannot GET /x` for unknown routes.

mod auth;
mod cli;
mod config;
mod data;
mod duplicates;
mod error;
mod faults;
mod gateway;
mod installs;
mod oauth;
mod rate_limit;
mod reply;
mod request_log;
mod routes;
mod server;
mod state;
mod store;
mod validate;
mod webhooks;

pub use cli::{run_cli, SandboxArgs};
pub use config::{ParseRateLimitError, RateLimit, SandboxConfig};
pub use duplicates::{DuplicateSetting, ParseDuplicateSettingError, UnknownLocation};
pub use faults::{Fault, FaultKind};
pub use oauth::TokenAnswer;
pub use request_log::RecordedRequest;
pub use server::{RunningSandbox, Sandbox};
pub use webhooks::{WebhookDelivery, WebhookFault, WebhookFaultKind, REORDER_HOLD};

/// The location (sub-account) that holds the seeded contacts.
pub const LOCATION_ID: &str = "sandbox-location";
/// Static token for [`LOCATION_ID`] with scope `contacts.readonly`.
pub const READ_TOKEN: &str = "sandbox-read-token";
/// Static token for [`LOCATION_ID`] with scopes `contacts.readonly contacts.write locations/tasks.readonly`.
pub const WRITE_TOKEN: &str = "sandbox-write-token";
/// Static token for [`LOCATION_ID`] with scopes `contacts.readonly contacts.write` (no tasks search).
pub const WRITE_ONLY_CONTACTS_TOKEN: &str = "sandbox-contacts-write-token";
/// A second location, with a few contacts, to exercise cross-location access.
pub const OTHER_LOCATION_ID: &str = "other-location";
/// Static token for [`OTHER_LOCATION_ID`] with scopes `contacts.readonly contacts.write locations/tasks.readonly`.
pub const OTHER_LOCATION_TOKEN: &str = "other-location-token";
/// The company (agency) both locations belong to, as reported by `POST /oauth/token`.
pub const COMPANY_ID: &str = "sandbox-company";
/// The only OAuth client the token endpoint accepts.
pub const OAUTH_CLIENT_ID: &str = "sandbox-client-id";
/// The secret of [`OAUTH_CLIENT_ID`].
pub const OAUTH_CLIENT_SECRET: &str = "sandbox-client-secret";
/// The only `Version` header value the contacts, locations and oauth services accept.
pub const API_VERSION: &str = "2021-07-28";

/// Scope strings, as GHL spells them.
pub mod scopes {
    /// Read contacts, their tasks, notes and appointments; list and search contacts.
    pub const CONTACTS_READONLY: &str = "contacts.readonly";
    /// Create, update and delete contacts, tasks, notes and tags.
    pub const CONTACTS_WRITE: &str = "contacts.write";
    /// `POST /locations/{locationId}/tasks/search`.
    pub const LOCATIONS_TASKS_READONLY: &str = "locations/tasks.readonly";
}
