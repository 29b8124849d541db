//! Rate-limit headroom from the `X-RateLimit-*` headers of the test calls: the burst window
//! (`Max`, `Remaining`, `Interval-Milliseconds`) and the daily budget (`Limit-Daily`,
//! `Daily-Remaining`). Only answers to calls GHL accepted (2xx) or refused for the limit (429)
//! speak for this token's budget, as the limiter reads them.

use std::time::Duration;

use chrono::{DateTime, Days, Utc};

use super::report::Check;
use crate::highlevel::{ProbeOutcome, RateLimitHeaders};

/// Below this share of the daily budget left, a warning.
const DAILY_LOW: f64 = 0.05;

/// `rate_limit.burst` and `rate_limit.daily`. `reached`: GHL answered the first call at all.
pub(super) fn checks(outcomes: &[ProbeOutcome], reached: bool) -> Vec<Check> {
    if !reached {
        let why = "not run: GHL was not reached (see base_url)";
        return vec![Check::skipped("rate_limit.burst", why), Check::skipped("rate_limit.daily", why)];
    }
    let speaking = |o: &&ProbeOutcome| o.status.is_some_and(|s| (200..300).contains(&s) || s == 429) && o.rate_limit.any();
    let Some(last) = outcomes.iter().rev().find(speaking) else {
        let why = "GHL sent no X-RateLimit-* headers on an accepted call: the limiter paces by --rate-limit and --daily-limit alone";
        let action = "nothing to do unless GHL answers 429; then lower --rate-limit";
        return vec![Check::warning("rate_limit.burst", why, action), Check::warning("rate_limit.daily", why, action)];
    };
    let refused = last.status == Some(429);
    vec![burst(&last.rate_limit, refused), daily(&last.rate_limit, Utc::now())]
}

fn burst(headers: &RateLimitHeaders, refused: bool) -> Check {
    let name = "rate_limit.burst";
    let window = headers.interval_ms.map_or_else(|| "its window".to_owned(), |ms| format!("{} s", ms as f64 / 1000.0));
    match (headers.max, headers.remaining) {
        (Some(max), Some(remaining)) if refused && headers.daily_remaining != Some(0) => Check::warning(
            name,
            format!("GHL answered 429: the burst window is full ({remaining} of {max} calls left per {window})"),
            "other clients of this location share the budget: the limiter slows down by itself; run the check again in a few seconds",
        ),
        (Some(max), Some(0)) => Check::warning(
            name,
            format!("0 of {max} calls left in this burst window ({window}): calls now wait"),
            "other clients of this location share the budget; if this lasts, lower --rate-limit",
        ),
        (Some(max), Some(remaining)) => Check::ok(name, format!("{remaining} of {max} calls left in this burst window ({window})")),
        _ => Check::warning(name, "GHL did not report the burst window (X-RateLimit-Max / -Remaining)", "nothing to do unless GHL answers 429"),
    }
}

fn daily(headers: &RateLimitHeaders, now: DateTime<Utc>) -> Check {
    let name = "rate_limit.daily";
    match (headers.daily_limit, headers.daily_remaining) {
        (limit, Some(0)) => {
            let limit = limit.map_or_else(String::new, |l| format!(" of {l} calls"));
            Check::failed(
                name,
                format!("the daily budget{limit} is spent: GHL refuses every call until it resets, {}", reset(headers, now)),
                "wait for the reset; lower this location's traffic (GHL allows 200,000 calls a day per location to marketplace apps, 10,000 to trial tokens)",
            )
        }
        (Some(limit), Some(remaining)) if limit > 0 && (remaining as f64) < limit as f64 * DAILY_LOW => Check::warning(
            name,
            format!("only {remaining} of {limit} calls left today ({:.1} %); it resets {}", remaining as f64 * 100.0 / limit as f64, reset(headers, now)),
            "lower this location's traffic (imports, other clients) until the reset",
        ),
        (Some(limit), Some(remaining)) => Check::ok(name, format!("{remaining} of {limit} calls left today")),
        (None, Some(remaining)) => Check::ok(name, format!("{remaining} calls left today")),
        _ => Check::warning(name, "GHL did not report the daily budget (X-RateLimit-Daily-Remaining)", "nothing to do unless GHL answers 429"),
    }
}

/// When the daily budget resets: GHL's undocumented `x-ratelimit-daily-reset` when sent (epoch
/// seconds or milliseconds), else the next UTC midnight (what the limiter assumes, said so).
fn reset(headers: &RateLimitHeaders, now: DateTime<Utc>) -> String {
    let sent = headers.daily_reset.and_then(|raw| match raw {
        ms if ms >= 1_000_000_000_000 => DateTime::from_timestamp_millis(i64::try_from(ms).ok()?),
        s if s >= 1_000_000_000 => DateTime::from_timestamp(i64::try_from(s).ok()?, 0),
        _ => None,
    });
    let (at, source) = match sent {
        Some(at) => (at, "as GHL says"),
        None => ((now.date_naive() + Days::new(1)).and_hms_opt(0, 0, 0).map_or(now, |m| m.and_utc()), "assumed: GHL does not say, its budget is per day"),
    };
    let left = (at - now).to_std().unwrap_or(Duration::ZERO);
    let minutes = left.as_secs() / 60;
    format!("at {} (in {}h {:02}m; {source})", at.format("%Y-%m-%d %H:%M UTC"), minutes / 60, minutes % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spent_daily_budget_fails_and_says_when_it_resets() {
        let now = DateTime::parse_from_rfc3339("2026-06-19T21:30:00Z").unwrap().with_timezone(&Utc);
        let spent = RateLimitHeaders { daily_limit: Some(10_000), daily_remaining: Some(0), ..Default::default() };
        let check = daily(&spent, now);
        assert_eq!(check.status, super::super::Status::Failed);
        assert!(check.diagnosis.contains("at 2026-06-20 00:00 UTC (in 2h 30m; assumed"), "{}", check.diagnosis);
        let told = RateLimitHeaders { daily_reset: Some(1_781_913_600_000), ..spent };
        assert!(daily(&told, now).diagnosis.contains("as GHL says"), "{}", daily(&told, now).diagnosis);
        let low = RateLimitHeaders { daily_limit: Some(10_000), daily_remaining: Some(100), ..Default::default() };
        assert_eq!(daily(&low, now).status, super::super::Status::Warning);
    }
}
