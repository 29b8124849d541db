//! Configuration errors name the setting and say why, and never print a secret value
//! (clap's own "invalid value '…'" would repeat it).

use std::process::Command;

const SECRET: &str = "a-very-secret-caller-key-0123456789";

fn start_with(env: &[(&str, &str)]) -> (i32, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_ghl-subgraph"))
        .args(["--listen", "127.0.0.1:0"])
        .envs(env.iter().copied())
        .env("RUST_LOG", "off")
        .output()
        .expect("the binary runs");
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned() + &String::from_utf8_lossy(&output.stdout))
}

#[test]
fn a_short_api_key_is_refused_without_printing_any_key() {
    let (status, printed) = start_with(&[("SUBGRAPH_API_KEYS", &format!("short,{SECRET}"))]);
    assert_eq!(status, 2, "{printed}");
    assert!(printed.contains("--api-keys") && printed.contains("#1 is shorter"), "{printed}");
    assert!(!printed.contains(SECRET) && !printed.contains("short,"), "{printed}");
}

#[test]
fn a_token_store_key_one_digit_short_is_refused_without_printing_it() {
    let key = "0123456789abcdef".repeat(4);
    let (status, printed) = start_with(&[("TOKEN_STORE_KEY", &key[..63]), ("GHL_AUTH", "oauth")]);
    assert_eq!(status, 2, "{printed}");
    assert!(printed.contains("--token-store-key"), "{printed}");
    assert!(!printed.contains(&key[..20]), "{printed}");
}

#[test]
fn a_short_metrics_key_is_refused_without_printing_it() {
    let (status, printed) = start_with(&[("METRICS_API_KEY", "tiny-secret")]);
    assert_eq!(status, 2, "{printed}");
    assert!(printed.contains("METRICS_API_KEY"), "{printed}");
    assert!(!printed.contains("tiny-secret"), "{printed}");
}
