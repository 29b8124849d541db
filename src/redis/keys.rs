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

    /// Sorted set of the send times of a budget's calls (every replica's, and GHL-reported others').
    pub fn sent(&self, budget: &str) -> String {
        self.rate(budget, "sent")
    }

    /// As [`sent`](Self::sent), background calls only (imports' share).
    pub fn background(&self, budget: &str) -> String {
        self.rate(budget, "background")
    }

    /// Hash `max`, `interval_ms`: the limit GHL reported for a budget, when stricter than configured.
    pub fn learned(&self, budget: &str) -> String {
        self.rate(budget, "learned")
    }

    /// Counter of a budget's calls on one UTC day (the script appends the day number).
    pub fn daily(&self, budget: &str) -> String {
        self.rate(budget, "daily")
    }

    /// Set while GHL says a budget's daily quota is spent.
    pub fn daily_blocked(&self, budget: &str) -> String {
        self.rate(budget, "daily-blocked")
    }

    /// One of a budget's keys; the `{budget}` hash tag keeps them in one Redis Cluster slot, as
    /// the script that reads them together needs.
    fn rate(&self, budget: &str, part: &str) -> String {
        format!("{}:rate:{{{budget}}}:{part}", self.prefix)
    }

    /// A `webhookId` already applied by some replica.
    pub fn webhook(&self, id: &str) -> String {
        format!("{}:webhook:{id}", self.prefix)
    }

    /// The pub/sub channel of applied changes (invalidations and events).
    pub fn changes(&self) -> String {
        format!("{}:changes", self.prefix)
    }

    /// A location's sealed token record (an agency's own under `company:<id>`).
    pub fn token(&self, key: &str) -> String {
        format!("{}:token:{key}", self.prefix)
    }

    /// The set of keys with a token record (for listing).
    pub fn token_index(&self) -> String {
        format!("{}:tokens", self.prefix)
    }

    /// A location's refresh lease: the fencing token of the replica refreshing it.
    pub fn lease(&self, key: &str) -> String {
        format!("{}:lease:{key}", self.prefix)
    }

    /// A location's fencing counter (only grows).
    pub fn fence(&self, key: &str) -> String {
        format!("{}:fence:{key}", self.prefix)
    }
}
