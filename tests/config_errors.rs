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

/// `serve --auth oauth` whose token store cannot be created: it logs (no API keys) and then fails.
fn start_oauth_on_an_impossible_store(extra_env: &[(&str, &str)]) -> (i32, String) {
    let file = std::env::temp_dir().join(format!(
        "ghl-config-errors-{}-{:x}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    ));
    std::fs::write(&file, b"a file, not a directory").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_ghl-subgraph"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--auth",
            "oauth",
            "--ghl-client-id",
            "id",
            "--ghl-client-secret",
            "secret",
            "--ghl-redirect-uri",
            "https://x.example/oauth/callback",
        ])
        .env("TOKEN_STORE", file.join("store"))
        .env("TOKEN_STORE_KEY", "ab".repeat(32))
        .env_remove("SUBGRAPH_API_KEYS")
        .env("RUST_LOG", "info")
        .envs(extra_env.iter().copied())
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_file(file);
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_start_up_error_prints_one_error_line_without_a_backtrace() {
    let (status, stderr) = start_oauth_on_an_impossible_store(&[("RUST_BACKTRACE", "1")]);
    assert_eq!(status, 1, "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: opening the token store") && last.contains("store"), "{stderr}");
    assert!(!stderr.contains("backtrace") && !stderr.contains("Stack"), "{stderr}");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let (_, stderr) = start_oauth_on_an_impossible_store(&[]);
    assert!(stderr.contains("WARN"), "a warning was logged: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
}

#[test]
fn help_never_shows_a_secret_from_the_environment() {
    let secrets = [
        ("GHL_TOKEN", "pit-help-secret-token-0123"),
        ("SUBGRAPH_API_KEYS", "help-secret-caller-key-0123"),
        ("TOKEN_STORE_KEY", "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd"),
        ("CURSOR_SECRET", "help-secret-cursor-key-0123"),
        ("METRICS_API_KEY", "help-secret-metrics-key-0123"),
        ("GHL_CLIENT_SECRET", "help-secret-client-secret-0123"),
    ];
    let output = Command::new(env!("CARGO_BIN_EXE_ghl-subgraph")).arg("--help").envs(secrets).output().expect("the binary runs");
    let printed = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(printed.contains("SUBGRAPH_API_KEYS"), "{printed}");
    for (name, value) in secrets {
        assert!(!printed.contains(value), "--help shows {name}");
    }
}
