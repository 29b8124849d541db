//! GHL's rate budget shared by every replica: one sliding window per budget (a location, or a
//! credential in forward mode) kept in Redis and decided by one Lua script on Redis's own clock
//! (`TIME`), so replicas' clocks do not matter and no two replicas can take the same slot.
//!
//! Why a sliding log of send times rather than GCRA's single timestamp: GHL counts calls per
//! window (100 per 10 s). GCRA with a burst as large as the limit lets up to twice the limit into
//! one of GHL's windows (a full burst, then one call per emission interval); GCRA without a burst
//! spaces every call, so a query needing 10 calls would wait a second where today it goes at once.
//! The log keeps exactly the in-process limiter's rule (a call goes when fewer than `max` were sent
//! within the interval plus a margin), at `max` entries per budget. Learned stricter limits,
//! calls GHL says others made, the background share and the daily budget live beside it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ::redis::Script;
use futures_util::future::BoxFuture;
use futures_util::FutureExt as _;

use super::Redis;
use crate::highlevel::{Observation, SharedWindow, Take, Taken, Unreachable};

/// Books one call when every limit has room (returns `{0, 0}`), else `{1, wait_ms}`; `{2, ms}`
/// while the daily budget is spent. The horizon of a limit is its interval + 2 % + the caller's
/// round trip + 5 ms, as in process.
const TAKE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local day = math.floor(tonumber(t[1]) / 86400)
local blocked = redis.call('PTTL', KEYS[5])
if blocked > 0 then return {2, blocked} end
local daily = KEYS[4] .. ':' .. day
if tonumber(redis.call('GET', daily) or '0') >= tonumber(ARGV[6]) then return {2, (day + 1) * 86400000 - now} end
local limits = {{tonumber(ARGV[1]), tonumber(ARGV[2])}}
local learned = redis.call('HMGET', KEYS[3], 'max', 'interval_ms')
if learned[1] and learned[2] then table.insert(limits, {tonumber(learned[1]), tonumber(learned[2])}) end
local rtt, background, share, ahead = tonumber(ARGV[3]), ARGV[4] == '1', tonumber(ARGV[5]), tonumber(ARGV[7])
local function wait_to_fit(key, horizon, cap)
  local from = '(' .. (now - horizon)
  local live = redis.call('ZCOUNT', key, from, '+inf')
  local position = live + ahead
  if position < cap then return 0 end
  local windows = math.floor(ahead / cap) + 1
  local earlier = position - windows * cap
  if earlier < 0 then return horizon * (windows - 1) end
  local entry = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', earlier, 1)
  return math.max(0, tonumber(entry[2]) + horizon * windows - now)
end
local wait, longest = 0, 0
for _, limit in ipairs(limits) do
  local horizon = limit[2] + math.floor(limit[2] / 50) + rtt + 5
  longest = math.max(longest, horizon)
  wait = math.max(wait, wait_to_fit(KEYS[1], horizon, math.max(limit[1], 1)))
  if background then wait = math.max(wait, wait_to_fit(KEYS[2], horizon, math.max(math.floor(limit[1] * share), 1))) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - longest)
if wait > 0 or ARGV[8] ~= '1' then return {1, wait} end
redis.call('ZADD', KEYS[1], now, ARGV[9])
redis.call('PEXPIRE', KEYS[1], longest)
if background then
  redis.call('ZADD', KEYS[2], now, ARGV[9])
  redis.call('PEXPIRE', KEYS[2], longest)
end
redis.call('INCR', daily)
redis.call('PEXPIRE', daily, 2 * 86400000)
return {0, 0}
"#;

/// Learns from one GHL answer: the limit it reports (kept when it differs from the configured
/// one, as one max+interval pair), calls it counted that we did not (booked as made now), and a
/// spent daily budget (blocked until UTC midnight).
const OBSERVE: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cmax, cint = tonumber(ARGV[1]), tonumber(ARGV[2])
local rmax, rint, remaining = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local known = redis.call('HMGET', KEYS[2], 'max', 'interval_ms')
local gmax, gint = tonumber(known[1] or cmax), tonumber(known[2] or cint)
if rmax > 0 or rint > 0 then
  if rmax > 0 then gmax = rmax end
  if rint > 0 then gint = rint end
  if gmax == cmax and gint == cint then
    redis.call('DEL', KEYS[2])
  else
    redis.call('HSET', KEYS[2], 'max', gmax, 'interval_ms', gint)
    redis.call('PEXPIRE', KEYS[2], 86400000)
  end
end
if remaining >= 0 then
  local horizon = gint + math.floor(gint / 50) + tonumber(ARGV[7]) + 5
  local counted = redis.call('ZCOUNT', KEYS[1], '(' .. (now - horizon), '+inf')
  local ours = math.max(gmax - counted, 0)
  for k = 1, ours - remaining do redis.call('ZADD', KEYS[1], now, ARGV[8] .. ':' .. k) end
  if ours > remaining then redis.call('PEXPIRE', KEYS[1], horizon) end
end
if ARGV[6] == '1' then
  redis.call('SET', KEYS[3], 1, 'PX', 86400000 - (now % 86400000))
end
return 0
"#;

pub struct SharedRateBudget {
    redis: Redis,
    take: Script,
    observe: Script,
    /// Makes each booking's member unique (with the replica id).
    booked: AtomicU64,
}

impl SharedRateBudget {
    pub fn new(redis: Redis) -> Self {
        Self { redis, take: Script::new(TAKE), observe: Script::new(OBSERVE), booked: AtomicU64::new(0) }
    }

    fn member(&self) -> String {
        format!("{}:{}", self.redis.replica(), self.booked.fetch_add(1, Ordering::Relaxed))
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

impl SharedWindow for SharedRateBudget {
    fn take<'a>(&'a self, budget: &'a str, take: Take) -> BoxFuture<'a, Result<Taken, Unreachable>> {
        async move {
            let keys = self.redis.keys();
            let mut invocation = self.take.prepare_invoke();
            invocation
                .key(keys.sent(budget))
                .key(keys.background(budget))
                .key(keys.learned(budget))
                .key(keys.daily(budget))
                .key(keys.daily_blocked(budget))
                .arg(take.configured.max)
                .arg(millis(take.configured.interval))
                .arg(millis(take.round_trip))
                .arg(u8::from(take.background))
                .arg(take.background_share)
                .arg(take.daily_max)
                .arg(take.ahead)
                .arg(u8::from(take.book))
                .arg(self.member());
            let (verdict, ms): (u8, u64) = self.redis.run(invocation).await.map_err(|_| Unreachable)?;
            let wait = Duration::from_millis(ms);
            Ok(match verdict {
                0 => Taken::Granted,
                2 => Taken::DailyExhausted(wait),
                _ => Taken::Wait(wait.max(Duration::from_millis(1))),
            })
        }
        .boxed()
    }

    fn observe(&self, budget: &str, observation: Observation) {
        let (redis, script, budget, member) = (self.redis.clone(), self.observe.clone(), budget.to_owned(), self.member());
        tokio::spawn(async move {
            let keys = redis.keys();
            let mut invocation = script.prepare_invoke();
            invocation
                .key(keys.sent(&budget))
                .key(keys.learned(&budget))
                .key(keys.daily_blocked(&budget))
                .arg(observation.configured.max)
                .arg(millis(observation.configured.interval))
                .arg(observation.reported_max.unwrap_or(0))
                .arg(observation.reported_interval.map_or(0, millis))
                .arg(observation.remaining.map_or(-1, |r| i64::try_from(r).unwrap_or(i64::MAX)))
                .arg(u8::from(observation.daily_spent))
                .arg(millis(observation.round_trip))
                .arg(format!("others:{member}"));
            // Best effort: a lost observation only delays learning until the next answer.
            let _ = redis.run::<i64>(invocation).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use super::*;
    use crate::highlevel::{LimiterConfig, RateLimiter, SharedBudget};
    use crate::redis::test_server::server;

    fn config(shared: Option<SharedBudget>) -> LimiterConfig {
        LimiterConfig {
            burst_max: 1_000_000,
            burst_interval: Duration::from_secs(10),
            daily_max: 10_000_000,
            max_wait: Duration::from_secs(1),
            max_queue: 100,
            background_share: 0.5,
            shared,
        }
    }

    /// p50 and p99 of `calls` uncontended decisions (each booked) on `limiter`.
    async fn decisions(limiter: &RateLimiter, calls: usize) -> (Duration, Duration) {
        let mut took = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            limiter.acquire("loc", crate::highlevel::Priority::New, None).await.expect("room");
            took.push(started.elapsed());
        }
        took.sort();
        (took[calls / 2], took[calls * 99 / 100])
    }

    /// The bench of issue 13 (`cargo test --release --lib limiter_decision -- --nocapture` for
    /// release figures): the cost of one uncontended decision, in process vs in Redis.
    #[tokio::test]
    async fn limiter_decision_cost_in_redis_vs_in_process() {
        let (_server, redis) = server().await;
        let shared = SharedBudget { window: Arc::new(SharedRateBudget::new(redis.clone())), expected_replicas: 3 };
        let (local, in_redis) = (RateLimiter::new(config(None)), RateLimiter::new(config(Some(shared))));
        let _ = decisions(&in_redis, 100).await;
        let (local_p50, local_p99) = decisions(&local, 5_000).await;
        let (redis_p50, redis_p99) = decisions(&in_redis, 5_000).await;
        println!("limiter decision, 5,000 calls: in process p50 {local_p50:?} p99 {local_p99:?}; Redis (unix socket) p50 {redis_p50:?} p99 {redis_p99:?}");
        let booked: usize = redis.run(::redis::cmd("ZCARD").arg(redis.keys().sent("loc")).clone()).await.unwrap();
        assert_eq!(booked, 5_100, "every decision booked in the shared window");
        assert!(redis_p99 < Duration::from_millis(5), "p99 {redis_p99:?}");
    }
}
