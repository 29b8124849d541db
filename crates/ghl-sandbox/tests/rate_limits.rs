//! GHL's rate limits: the `X-RateLimit-*` headers on every API response, 429 past the burst window
//! or the daily limit, per token, and the window reopening after its interval.

mod common;

use std::time::Duration;

use ghl_sandbox::{RateLimit, SandboxConfig, READ_TOKEN, WRITE_TOKEN};
use reqwest::Method;
use serde_json::json;

fn limited(max: u32, interval: Duration, daily: u64) -> SandboxConfig {
    SandboxConfig { rate_limit: RateLimit { max, interval }, daily_limit: daily, ..SandboxConfig::default() }
}

#[tokio::test]
async fn every_api_response_carries_the_rate_limit_headers() {
    let t = common::spawn_with(SandboxConfig::default()).await;
    let ok = t.get(READ_TOKEN, &format!("/contacts/{}", t.first_contact())).await;
    assert_eq!(ok.header_u64("x-ratelimit-max"), 100);
    assert_eq!(ok.header_u64("x-ratelimit-remaining"), 99);
    assert_eq!(ok.header_u64("x-ratelimit-interval-milliseconds"), 10_000);
    assert_eq!(ok.header_u64("x-ratelimit-limit-daily"), 200_000);
    assert_eq!(ok.header_u64("x-ratelimit-daily-remaining"), 199_999);
    let error = t.get(READ_TOKEN, "/contacts/unknown-id").await;
    assert_eq!(error.status, 400);
    assert_eq!(error.header_u64("x-ratelimit-remaining"), 98, "errors count and carry headers too");
    let unauthenticated = t.call(Method::GET, None, "/contacts/x", None).await;
    assert_eq!(unauthenticated.header_u64("x-ratelimit-max"), 100);
}

#[tokio::test]
async fn past_the_burst_window_requests_are_429_until_it_reopens() {
    let t = common::spawn_with(limited(3, Duration::from_millis(400), 1_000)).await;
    let path = format!("/contacts/{}", t.first_contact());
    for remaining in [2, 1, 0] {
        let answer = t.get(READ_TOKEN, &path).await;
        assert_eq!((answer.status, answer.header_u64("x-ratelimit-remaining")), (200, remaining));
    }
    let refused = t.get(READ_TOKEN, &path).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.body, json!({"statusCode": 429, "message": "Too Many Requests"}));
    assert_eq!(refused.header_u64("x-ratelimit-remaining"), 0);
    // Buckets are per token (and so per location).
    assert_eq!(t.get(WRITE_TOKEN, &path).await.status, 200);
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
}

#[tokio::test]
async fn past_the_daily_limit_requests_are_429_with_daily_remaining_zero() {
    let t = common::spawn_with(limited(100, Duration::from_secs(10), 2)).await;
    let path = format!("/contacts/{}", t.first_contact());
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.header_u64("x-ratelimit-daily-remaining"), 0);
    let refused = t.get(READ_TOKEN, &path).await;
    assert_eq!(refused.status, 429);
    assert_eq!(refused.header_u64("x-ratelimit-daily-remaining"), 0);
}

#[tokio::test]
async fn the_rate_limit_can_be_changed_at_run_time() {
    let t = common::spawn_with(limited(1, Duration::from_secs(10), 1_000)).await;
    let path = format!("/contacts/{}", t.first_contact());
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 200);
    assert_eq!(t.get(READ_TOKEN, &path).await.status, 429);
    t.sandbox.set_rate_limit(RateLimit { max: 10, interval: Duration::from_secs(10) });
    let answer = t.get(READ_TOKEN, &path).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.header_u64("x-ratelimit-max"), 10);
}

#[tokio::test]
async fn configured_latency_delays_every_answer() {
    let t = common::spawn().await;
    t.sandbox.set_latency(Duration::from_millis(150));
    let started = std::time::Instant::now();
    assert_eq!(t.get(READ_TOKEN, &format!("/contacts/{}", t.first_contact())).await.status, 200);
    assert!(started.elapsed() >= Duration::from_millis(150));
}
