//! Every Redis key and channel name, in one place, under `--redis-prefix` (README lists them).
//! Budget keys embed the limiter's budget key (a location, or a credential fingerprint in
//! forward mode), never a token.

/// Names under one prefix.
#[derive(Clone, Debug)]
pub struct Keys {
    prefix: String,
}

impl Keys {
    pub fn new(prefix: &str) -> Self {
        Self { prefix: prefix.to_owned() }
    }

    /// A `webhookId` already applied by some replica.
    pub fn webhook(&self, id: &str) -> String {
        format!("{}:webhook:{id}", self.prefix)
    }

    /// The pub/sub channel of applied changes (invalidations and events).
    pub fn changes(&self) -> String {
        format!("{}:changes", self.prefix)
    }
}
