//! Scale-out on Redis (`--redis-url`): what replicas behind one router must share, each behind
//! the seam the in-process default already has. Without `--redis-url` none of this runs.
//!
//! - `url`: `REDIS_URL`, a secret (it may hold a password).
//! - `connection`: the reconnecting connection, bounded commands, the health probe.
//! - `keys`: every key and channel name under `--redis-prefix`.
//! - `fanout`: applied changes over pub/sub: every replica's cache and subscribers hear of them.
//! - `dedup`: `webhookId`s claimed once across replicas.
//! - `tokens`: the token store (sealed as on disk) and the refresh lease with its fencing token.
//! - `budget`: GHL's rate budget, one shared window per location decided in Redis (Lua, `TIME`).

mod budget;
mod connection;
mod dedup;
mod fanout;
mod keys;
#[cfg(test)]
mod test_server;
mod tokens;
mod url;

pub use budget::SharedRateBudget;
pub use connection::{Redis, RedisError};
pub use dedup::SharedIds;
pub use fanout::RedisBus;
pub use tokens::RedisTokenStore;
pub use url::RedisUrl;
